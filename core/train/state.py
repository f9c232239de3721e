"""What a run knows about its own progress: the counters saved in ``last.pt`` and reported at the end
(TrainState), the position inside an unfinished epoch (EpochProgress, the checkpoint's "partial"), and the
epoch being trained (RunningEpoch: its sums on the device)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


class NonFiniteLoss(Exception):
    pass


def check_finite(value: torch.Tensor, where: str) -> None:
    """Raise NonFiniteLoss naming ``where`` when the loss (or a sum of losses) is NaN or infinite."""
    v = float(value.detach())
    if not math.isfinite(v):
        raise NonFiniteLoss(f"the loss became {'nan' if math.isnan(v) else 'inf'} {where}; lower --lr or check the data")


@dataclass
class EpochProgress:
    """Where a stop or a save-now left an epoch: its running sums, so that a resume continues them.

    Saved as ``last.pt``'s "partial" dict, with exactly these keys (older files must still resume).
    """

    loss_sum: float
    correct: int
    seen: int
    train_seconds: float  # training time of this epoch so far, over all sessions
    train_done: bool = False  # training of the epoch is done; only its evaluation is left

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum,
            "correct": self.correct,
            "seen": self.seen,
            "train_seconds": self.train_seconds,
            "train_done": self.train_done,
        }

    @classmethod
    def from_dict(cls, part: dict[str, Any]) -> EpochProgress:
        return cls(
            loss_sum=float(part["loss_sum"]),
            correct=int(part["correct"]),
            seen=int(part["seen"]),
            train_seconds=float(part["train_seconds"]),
            train_done=bool(part.get("train_done", False)),
        )


@dataclass
class TrainState:
    epochs_done: int = 0
    global_step: int = 0
    best_val_acc: float | None = None
    final_test_acc: float | None = None
    train_seconds: float = 0.0  # over the whole run, resumed sessions included
    session_epochs: list[tuple[int, float]] = field(default_factory=list)  # (images, seconds) per epoch of this session
    # The "partial" of the checkpoint resumed from, as saved: read (EpochProgress.from_dict) when its epoch restarts.
    partial: dict[str, Any] | None = None
    stopped_at: tuple[int, int, int] | None = None  # (epoch, batch, batches per epoch) of a mid-epoch stop
    compile_seconds: float | None = None
    last_checked_step: int = 0  # the loss is known finite up to here (CUDA checks at progress intervals)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> TrainState:
        """The counters of a ``last.pt`` being resumed."""
        return cls(
            epochs_done=int(ckpt["epoch"]),
            global_step=int(ckpt["global_step"]),
            best_val_acc=ckpt.get("best_val_acc"),
            train_seconds=float(ckpt.get("train_seconds", 0.0)),
            partial=ckpt.get("partial"),
        )

    def images_per_sec(self) -> float | None:
        """Training throughput of this session; the first epoch is left out as warm-up when 2+ ran."""
        timed = self.session_epochs[1:] if len(self.session_epochs) >= 2 else self.session_epochs
        images = sum(i for i, _ in timed)
        seconds = sum(s for _, s in timed)
        return round(images / seconds, 1) if seconds > 0 else None


class RunningEpoch:
    """The epoch being trained: its running sums (on the device, read only when needed) and its clock."""

    def __init__(self, device: torch.device, progress: EpochProgress | None) -> None:
        if progress is not None:  # resuming inside this epoch
            self.loss_sum = torch.tensor(progress.loss_sum, dtype=torch.float64, device=device)
            self.correct = torch.tensor(progress.correct, dtype=torch.int64, device=device)
            self.seen, self.train_seconds = progress.seen, progress.train_seconds
            self.train_done = progress.train_done
        else:
            self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            self.correct = torch.zeros((), dtype=torch.int64, device=device)
            self.seen, self.train_seconds = 0, 0.0
            self.train_done = False
        self.device = device
        # The sums as the ranks of a distributed job last agreed on them (core.train.decisions); each rank
        # adds its own steps after that.
        self.synced_loss, self.synced_correct, self.synced_seen = float(self.loss_sum), int(self.correct), self.seen
        self.start = 0.0  # perf_counter of this session's start of the epoch (moved on by pauses and compiling)
        self.seen_at_start = self.seen
        self.batch_at_start = 0
        self.last_emit = 0.0

    def set_totals(self, loss_sum: float, correct: int, seen: int) -> None:
        """The whole job's sums, as all ranks decided them: the new agreed base."""
        self.loss_sum = torch.tensor(loss_sum, dtype=torch.float64, device=self.device)
        self.correct = torch.tensor(correct, dtype=torch.int64, device=self.device)
        self.seen = seen
        self.synced_loss, self.synced_correct, self.synced_seen = loss_sum, correct, seen

    def progress(self, elapsed: float, done: bool = False) -> EpochProgress:
        """Where the epoch stands, ``elapsed`` seconds of training into this session's part of it."""
        return EpochProgress(
            loss_sum=float(self.loss_sum),
            correct=int(self.correct),
            seen=self.seen,
            train_seconds=self.train_seconds + elapsed,
            train_done=done,
        )
