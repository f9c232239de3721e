"""``python -m tui.cli.background RUN``: the detached process that trains a run launched by tui.cli.launch.

It reads ``RUN/launch.json`` and trains exactly as `resnet-tui train` would (same console lines, into
``RUN/log.txt``); SIGTERM stops it at the batch with a checkpoint, a hang-up is ignored.

A request for several processes (launch.json's "job", tui.cli.torchrun) makes it the job's launcher: it runs torchrun,
which starts this module again once per process; those (RANK is set) train as the job's ranks.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tui.cli.background RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the hang-up of a terminal it never had
    from core.config.train_config import TrainConfig
    from core.runs.layout import LAUNCH, read_json
    from tui.cli.common import CliError, err
    from tui.cli.train import run_training

    launch = read_json(run_dir / LAUNCH)
    if launch is None:
        err(f"{run_dir / LAUNCH}: missing or damaged; nothing to start")
        return 2
    launched = launch.get("time") if isinstance(launch.get("time"), (int, float)) else None
    if launch.get("job") and "RANK" not in os.environ:
        from tui.cli.job import run_job_here
        from tui.cli.torchrun import Job

        return run_job_here(Job.from_dict(launch["job"]), run_dir, follow=False)
    try:
        if launch.get("resume"):
            run = launch.get("run") or str(run_dir)
            return run_training(TrainConfig(), run, launch.get("overrides") or {}, as_json=False, launched=launched)
        return run_training(TrainConfig.from_dict(launch["config"]), None, {}, as_json=False, into=run_dir, launched=launched)
    except CliError as e:
        err(str(e))
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
