"""Start a run as a detached process: `train --background`, the app's "start in background" and its
hang-up hand-off all come here.

The run's folder is chosen here (so it can be printed at once); the request goes into
``RUN/launch.json``; the child (``python -m tui.background RUN``) starts in its own session (no
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
from core.runs import LAUNCH, LOG


def launch(run_dir: Path, *, config: dict[str, Any] | None = None, resume: bool = False,
           overrides: dict[str, Any] | None = None, reason: str = "") -> int:
    """Start the detached trainer of ``run_dir``; returns its pid.

    A new run: ``config`` (a TrainConfig as a dict) trains into the (empty) folder ``run_dir``.
    ``resume``: continue the run in ``run_dir`` with ``overrides`` (e.g. more epochs). ``reason``: why, for
    the log ("the app's terminal hung up").
    """
    atomic_write_json(run_dir / LAUNCH, {
        "v": 1,
        "resume": resume,
        "config": config,
        "overrides": overrides or {},
        "time": time.time(),
        "host": socket.gethostname(),
        "by": os.getpid(),
    })
    with open(run_dir / LOG, "ab") as log:
        why = f" ({reason})" if reason else ""
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} launched on {socket.gethostname()}{why}\n".encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.background", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group: no SIGHUP, no terminal's Ctrl-C
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return child.pid
