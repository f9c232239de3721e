"""``poisoned_rank.py ARGS...``: `resnet-tui ARGS` as one rank of a torchrun job, where rank 1 alone goes wrong
from its 5th step: its training loss becomes NaN (POISON=nan, the default: the other rank must stop at the same
step, not wait for it in the next all-reduce) or it runs out of memory (POISON=oom: its process ends, and the
job with it)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

if os.environ.get("RANK") == "1":
    real = torch.nn.CrossEntropyLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target):
        calls["n"] += 1
        loss = real(self, logits, target)
        if calls["n"] >= 5 and torch.is_grad_enabled():
            if os.environ.get("POISON") == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
            return loss * float("nan")
        return loss

    torch.nn.CrossEntropyLoss.forward = poisoned

from tui.cli.main import main  # noqa: E402

main(sys.argv[1:])
