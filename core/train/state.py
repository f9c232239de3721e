"""What a run knows about its own progress: the counters saved in ``last.pt`` and reported at the end
(TrainState), and the position inside an unfinished epoch (EpochProgress, the checkpoint's "partial")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class NonFiniteLoss(Exception):
    pass


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
