"""What a screen shows about one run, built from engine events (live) or from a run directory (after).

Pure Python, no Textual: the app feeds events in, screens read the fields, tests check both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.runs.events import (
    BatchProgress, CheckpointSaved, EpochEnded, EpochStarted, EvalEnded, Event, Notice, Paused, Resumed, RunFinished,
    RunStarted, RunStatus,
)

LOSS_POINTS = 400  # per-batch losses kept for the sparkline


@dataclass
class LiveRun:
    name: str = ""
    run_dir: str = ""
    arch: str = ""
    device: str = ""
    precision: str = ""
    classes: tuple[str, ...] = ()
    epochs: int = 0
    steps_per_epoch: int = 0
    status: str = "starting"  # starting | paused (the view's own) or a RunStatus: running | completed | stopped | failed | interrupted
    epoch: int = 0  # the epoch in progress (1-based)
    batch: int = 0
    global_step: int = 0
    total_steps: int = 0
    loss: float | None = None
    epoch_loss: float | None = None
    epoch_acc: float | None = None
    lr: float | None = None
    images_per_sec: float | None = None
    elapsed: float = 0.0
    eta: float | None = None
    processes: int = 1  # the world size of a distributed run
    peak_memory: int | None = None  # bytes, the GPU allocator's peak this epoch (CUDA runs only)
    losses: deque = field(default_factory=lambda: deque(maxlen=LOSS_POINTS))
    rows: list[EpochEnded] = field(default_factory=list)  # one per finished epoch
    confusion: tuple[tuple[int, ...], ...] | None = None
    per_class: tuple[float, ...] | None = None
    confusion_title: str = ""
    confusion_split: str = ""  # the split the matrix is of: its images are that split's kept predictions
    notices: list[str] = field(default_factory=list)
    last_checkpoint: str = ""
    error: str | None = None
    final_test_acc: float | None = None
    best_val_acc: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.FAILED)

    def apply(self, event: Event) -> None:
        if isinstance(event, Notice):
            self.notices.append(event.message)
        elif isinstance(event, Paused):
            self.status = "paused"
            self.notices.append(f"paused at epoch {event.epoch}, batch {event.batch}/{event.batches}")
        elif isinstance(event, Resumed):
            self.status = RunStatus.RUNNING
            self.notices.append("resumed")
        elif isinstance(event, RunStarted):
            # A resumed session: epochs past its checkpoint (a crashed session's) are not part of the run.
            self.rows = [r for r in self.rows if r.epoch <= event.start_epoch]
            self.error = None
            self.name, self.run_dir, self.arch = event.run_name, event.run_dir, event.arch
            self.device, self.precision, self.classes = event.device, event.precision, tuple(event.classes)
            self.processes = event.processes
            self.epochs, self.steps_per_epoch = event.epochs, event.steps_per_epoch
            self.total_steps = event.epochs * event.steps_per_epoch
            self.global_step = max(event.start_step, event.start_epoch * event.steps_per_epoch)
            self.epoch = event.start_epoch
            self.config = dict(event.config)
            self.status = RunStatus.RUNNING
        elif isinstance(event, EpochStarted):
            self.epoch, self.batch = event.epoch, 0
            self.lr = event.lr
        elif isinstance(event, BatchProgress):
            self.epoch, self.batch, self.global_step = event.epoch, event.batch, event.global_step
            self.total_steps = event.total_steps
            self.loss, self.epoch_loss, self.epoch_acc = event.loss, event.epoch_loss, event.epoch_acc
            self.lr, self.images_per_sec = event.lr, event.images_per_sec
            self.elapsed, self.eta = event.elapsed, event.eta
            self.peak_memory = event.peak_memory
            self.losses.append(event.loss)
        elif isinstance(event, EvalEnded):
            self.confusion, self.per_class = event.confusion, event.per_class_accuracy
            self.classes, self.confusion_split = tuple(event.classes), event.split
            self.confusion_title = f"{event.split} set after epoch {event.epoch}: {100 * event.accuracy:.2f}%"
        elif isinstance(event, EpochEnded):
            self.rows.append(event)
            if event.val_acc is not None:
                self.best_val_acc = max(self.best_val_acc or 0.0, event.val_acc)
        elif isinstance(event, CheckpointSaved):
            self.last_checkpoint = event.path
        elif isinstance(event, RunFinished):
            self.status = event.status
            self.error = event.error
            self.final_test_acc = event.final_test_acc
            self.best_val_acc = event.best_val_acc
            if event.run_dir:
                self.run_dir = event.run_dir

    @classmethod
    def from_run_dir(cls, path: str | Path) -> "LiveRun":
        """A finished (or interrupted) run as the runs screen shows it: curves and its last confusion matrix."""
        from core.runs import layout

        path = Path(path)
        cfg = layout.read_json(path / layout.CONFIG) or {}
        status = layout.read_json(path / layout.STATUS) or {}
        train = cfg.get("train", {})
        live = cls(
            name=path.name,
            run_dir=str(path),
            arch=str(train.get("arch", "?")),
            device=str(cfg.get("device", "")),
            precision=str(cfg.get("precision", "")),
            classes=tuple(cfg.get("classes", ())),
            epochs=int(status.get("epochs", train.get("epochs", 0)) or 0),
            status=str(status.get("status", "unknown")),
            error=status.get("error"),
            final_test_acc=status.get("final_test_acc"),
            best_val_acc=status.get("best_val_acc"),
            config=train,
        )
        for row in layout.read_metrics(path):
            try:
                train_seconds = float(row.get("train_seconds", 0.0))
                live.rows.append(
                    EpochEnded(
                        epoch=int(row["epoch"]), epochs=live.epochs, train_loss=float(row["train_loss"]), train_acc=float(row["train_acc"]),
                        val_loss=row.get("val_loss"), val_acc=row.get("val_acc"), test_loss=row.get("test_loss"), test_acc=row.get("test_acc"),
                        lr=float(row.get("lr", 0.0)), seconds=train_seconds + float(row.get("eval_seconds", 0.0)),
                        train_seconds=train_seconds, images_per_sec=float(row.get("images_per_sec") or 0.0),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
            if row.get("confusion"):
                live.confusion = tuple(tuple(int(v) for v in r) for r in row["confusion"])
                live.per_class = tuple(float(v) for v in row.get("per_class_acc", ()))
                live.confusion_split = str(row.get("eval_split", "test"))
                acc = row.get("test_acc") if row.get("eval_split") == "test" else row.get("val_acc")
                live.confusion_title = f"{row.get('eval_split', '?')} set after epoch {row['epoch']}" + (
                    f": {100 * acc:.2f}%" if isinstance(acc, (int, float)) else ""
                )
        live.epoch = live.rows[-1].epoch if live.rows else 0
        return live
