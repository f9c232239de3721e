"""A search's worker process: ask the shared study for trials and train them on one device until the budget is used.

    python -m tui.cli.search_worker SEARCH_FOLDER --device cuda:1 --threads 8 --trials 16 --worker 1

Started by `resnet-tui search`, one per device. Ctrl-C or SIGTERM stops the trial at the current batch with
a checkpoint and hands it back to the study (failed, retried with the same params: the search run again
continues it). When the process that started it dies, the worker gets SIGTERM (Linux), so killing a search
kills its workers cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def _die_with_parent() -> None:
    """Linux: SIGTERM when the parent (the command that started this worker) dies, even by SIGKILL; and if it
    died before this was set, the same signal now."""
    import os

    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent or parent == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tui.cli.search_worker")
    p.add_argument("folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--worker", type=int, default=0)
    args = p.parse_args(argv)
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum, _frame) -> None:
        signals.append(signum)
        stop.set()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) is not signal.SIG_IGN:  # under nohup a hang-up stays ignored, as in `train`
            signal.signal(s, on_signal)
    _die_with_parent()

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from core.errors import UserError
    from core.experiments import search as se
    from core.experiments.search_study import next_trial, open_storage, open_study
    from core.experiments.search_trial import run_trial
    from tui.cli.search import epochs_of

    folder = Path(args.folder)
    tag = f"[w{args.worker} {args.device}]"

    def say(line: str) -> None:
        try:
            print(f"{tag} {line}", flush=True)
        except (BrokenPipeError, OSError):  # the search command is gone (its SIGTERM is on the way): keep training
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

    try:
        spec = se.read_spec(folder)
        study = open_study(spec, open_storage(spec["storage"]), epochs_of(spec))
        while not stop.is_set():
            trial = next_trial(study, spec, folder, args.trials)
            if trial is None:
                break
            outcome = run_trial(study, trial, spec, folder, args.device, stop, say)
            value = f"val {100 * outcome.value:.2f}%" if outcome.value is not None else "no validation accuracy"
            say(f"trial {outcome.number} ({outcome.run}) {outcome.state} after {outcome.epochs} epoch"
                f"{'s' if outcome.epochs != 1 else ''}: {value}")
    except UserError as e:
        print(f"Error: {e}", file=sys.stderr, flush=True)
        return 2
    except Exception as e:  # noqa: BLE001 - the storage went away (a database error, a full disk): one line, its trial retried
        print(f"Error: worker {args.worker}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}", file=sys.stderr,
              flush=True)
        return 1
    if signals:
        return {signal.SIGTERM: 143, signal.SIGHUP: 129}.get(signals[0], 130)
    return 0  # failed trials are the study's news (the table shows them), not this process's failure


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
