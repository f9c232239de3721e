"""``poisoned_rank.py ARGS...``: `resnet-tui ARGS` as one rank of a torchrun job, whose training loss becomes NaN
on rank 1 alone from its 5th step (tests/tui/test_jobs.py: the other rank must stop at the same step, not
wait for it in the next all-reduce)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

if os.environ.get("RANK") == "1":
    real = torch.nn.CrossEntropyLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target):
        calls["n"] += 1
        loss = real(self, logits, target)
        return loss * float("nan") if calls["n"] >= 5 and torch.is_grad_enabled() else loss

    torch.nn.CrossEntropyLoss.forward = poisoned

from tui.cli import main  # noqa: E402

main(sys.argv[1:])
