"""A parallel sweep's worker: train the sweep's points that no other worker holds, on one device, until none is left.

    python -m tui.cli.sweep_worker SWEEP_FOLDER --device cuda:1 --threads 8 --worker 1

Started by `resnet-tui sweep --workers/--devices/--gpus`, one per device. A worker claims a point by holding a
lock on SWEEP/.claims/<run>.lock while it trains it (released when the worker ends, however it ends), so no
point is trained twice at once; points done before are kept, stopped ones resumed, as in a serial sweep.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
from pathlib import Path

from tui.cli.search_worker import _die_with_parent


def _claim(folder: Path, run: str) -> int | None:
    claims = folder / ".claims"
    claims.mkdir(exist_ok=True)
    fd = os.open(claims / f"{run}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tui.cli.sweep_worker")
    p.add_argument("folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--worker", type=int, default=0)
    args = p.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the sweep command speaks for its workers; SIGINT/SIGTERM stop them
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from core.experiments import sweep as sw
    from tui.cli.common import EXIT_FAILED, CliError
    from tui.cli.sweep import STOP_CODES, run_point

    folder = Path(args.folder)
    spec = sw.read_spec(folder)
    todo = sw.points(spec)
    code = 0
    for i, point in enumerate(todo, 1):
        if sw.point_state(folder / point.run) in ("completed", "failed"):
            code = EXIT_FAILED if sw.point_state(folder / point.run) == "failed" else code
            continue  # done before, or by another worker: the summary tells
        fd = _claim(folder, point.run)
        if fd is None:
            continue  # another worker trains it
        try:
            result = run_point(folder, spec, point, f"{i}/{len(todo)}", sys.stdout, False, args.device)
        except CliError as e:
            print(f"Error: {e}", flush=True)
            return 2
        finally:
            os.close(fd)
        if result in STOP_CODES:
            return result
        if result not in (0, None):
            code = EXIT_FAILED
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
