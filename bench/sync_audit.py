"""The GPU check's audit of host syncs: CUDA's sync debug mode warns at every sync, and each warning's Python stack
says whether it came from the per-batch path (a sync every step drains the GPU's queue) or from an expected place."""

from __future__ import annotations

import warnings
from pathlib import Path

# Functions of the per-batch path: a host sync from inside one of these happens every step and drains the
# GPU's queue. Syncs elsewhere (progress reports at most every 0.5 s, evaluation, saves, set-up) are expected.
# (Augmentation runs inside epoch_batches, so its syncs are caught there.)
PER_STEP = {("core/train/loop.py", "_step"), ("core/data/loader.py", "epoch_batches")}


def per_step_frame(stack: list[tuple[str, str]]) -> str | None:
    """The per-batch function a sync came from ("core/train/loop.py:_step"), or None for an expected one.
    ``stack`` is (file, function) pairs, outermost first, as traceback.extract_stack gives them."""
    for filename, function in reversed(stack):
        rel = Path(filename).as_posix()
        for where, name in PER_STEP:
            if rel.endswith(where) and name == function:
                return f"{where}:{function}"
    return None


def syncs_while(run) -> tuple[object, dict]:
    """Run ``run()`` with CUDA's sync debug mode on "warn"; every sync warning's Python stack sorts it into
    expected or per-step (unexpected), with the places the unexpected ones came from."""
    import collections
    import traceback

    import torch

    expected, unexpected = 0, collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None) -> None:
        nonlocal expected
        if "synchroniz" not in str(message):
            return
        where = per_step_frame([(f.filename, f.name) for f in traceback.extract_stack()])
        if where is None:
            expected += 1
        else:
            unexpected[where] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = run()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return result, {"expected_syncs": expected, "per_step_syncs": dict(unexpected)}
