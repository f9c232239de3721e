"""Start a run as a detached process: `train --background`, the app's "start in background" and its
hang-up hand-off all come here.

The run's folder is chosen here (so it can be printed at once); the request goes into
``RUN/launch.json``; the child (``python -m tui.cli.background RUN``) starts in its own session (no
controlling terminal: a closed SSH connection cannot reach it), with stdin from /dev/null and its
console output in ``RUN/log.txt``. It takes the run's lock as its first act.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json
from core.runs.layout import LAUNCH, LOG


def write_request(folder: Path, *, config: dict[str, Any] | None = None, resume: bool = False,
                  overrides: dict[str, Any] | None = None, job: dict[str, Any] | None = None,
                  run: Path | None = None) -> None:
    """``folder``/launch.json: what the trainer started for it is to do (see launch()). ``job``: a distributed
    job's shape (tui.cli.torchrun.Job); ``run``: the run to resume when ``folder`` is not the run's own (the launch
    folder of a node other than 0)."""
    atomic_write_json(folder / LAUNCH, {
        "v": 1,
        "resume": resume,
        "config": config,
        "overrides": overrides or {},
        "job": job,
        "run": str(run) if run is not None else None,
        "time": time.time(),
        "host": socket.gethostname(),
        "by": os.getpid(),
    })


def launch(run_dir: Path, *, config: dict[str, Any] | None = None, resume: bool = False,
           overrides: dict[str, Any] | None = None, reason: str = "", job: dict[str, Any] | None = None,
           run: Path | None = None) -> int:
    """Start the detached trainer of ``run_dir``; returns its pid.

    A new run: ``config`` (a TrainConfig as a dict) trains into the (empty) folder ``run_dir``.
    ``resume``: continue the run in ``run_dir`` with ``overrides`` (e.g. more epochs). ``reason``: why, for
    the log ("the app's terminal hung up"). ``job``: several processes through torchrun (tui.cli.torchrun): the
    detached process is then the job's launcher.
    """
    write_request(run_dir, config=config, resume=resume, overrides=overrides, job=job, run=run)
    with open(run_dir / LOG, "ab") as log:
        why = f" ({reason})" if reason else ""
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} launched on {socket.gethostname()}{why}\n".encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.cli.background", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group: no SIGHUP, no terminal's Ctrl-C
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    # Its pid, for viewers: a child that dies before it takes the run's lock reads "failed" at once, not after
    # LAUNCH_GRACE (core.runs.catalog).
    from core.runs.layout import read_json

    request = read_json(run_dir / LAUNCH) or {}
    atomic_write_json(run_dir / LAUNCH, {**request, "pid": child.pid})
    return child.pid
