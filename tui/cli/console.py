"""Headless progress for `resnet-tui train`: a rich bar on a terminal, one plain line per epoch otherwise.

Both are event sinks over the same engine events the app uses.
"""

from __future__ import annotations

import sys
from typing import IO

from core.runs.events import (
    BatchProgress, CheckpointSaved, ControlAck, EpochEnded, EpochStarted, Event, Notice, Paused, Resumed,
    RunFinished, RunStarted,
)


def control_line(event: Event) -> str | None:
    """Pause, continue and answers to remote requests, as one line each (None for other events)."""
    if isinstance(event, Paused):
        return f"paused at epoch {event.epoch}, batch {event.batch}/{event.batches}"
    if isinstance(event, Resumed):
        return f"continued at epoch {event.epoch}, batch {event.batch}/{event.batches}"
    if isinstance(event, ControlAck):
        return f"request {event.seq} ({event.request}): {event.outcome}"
    return None


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _loss(v: float | None) -> str:
    """A loss; None is how the event stream carries a NaN or infinite one (JSON has neither)."""
    return "nan" if v is None else f"{v:.4f}"


def epoch_line(e: EpochEnded) -> str:
    parts = [
        f"epoch {e.epoch}/{e.epochs}",
        f"train_loss {_loss(e.train_loss)}",
        f"train_acc {_pct(e.train_acc)}",
    ]
    if e.val_acc is not None:
        parts += [f"val_loss {_loss(e.val_loss)}", f"val_acc {_pct(e.val_acc)}"]
    if e.test_acc is not None:
        parts += [f"test_loss {_loss(e.test_loss)}", f"test_acc {_pct(e.test_acc)}"]
    speed = f"{e.images_per_sec:.0f} img/s" if e.images_per_sec else "- img/s"
    parts += [f"lr {e.lr:.4g}", speed, f"{e.seconds:.1f}s"]
    if e.peak_memory is not None:
        parts.append(f"peak {e.peak_memory / 2**30:.2f} GiB")
    return "  ".join(parts)


def started_line(e: RunStarted) -> str:
    done = e.start_epoch * e.steps_per_epoch
    if e.start_step > done:
        verb = f"resuming at epoch {e.start_epoch + 1}, batch {e.start_step - done}/{e.steps_per_epoch}"
    else:
        verb = f"resuming after epoch {e.start_epoch}" if e.start_epoch else "training"
    split = f"{e.train_size} train / {e.val_size} val / {e.test_size} test"
    return (
        f"{verb}: {e.arch} ({e.num_params / 1e6:.2f}M params) on {e.device} ({e.precision})"
        f"{f' x {e.processes} processes' if e.processes > 1 else ''}, "
        f"{_n(e.epochs, 'epoch')} of {_n(e.steps_per_epoch, 'step')}, {split} -> {e.run_dir}"
    )


class PlainSink:
    """For nohup, CI and pipes: a line at the start, one per epoch, one at the end."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.started = False

    def __call__(self, event: Event) -> None:
        line = control_line(event)
        if isinstance(event, Notice):
            line = event.message
        elif isinstance(event, RunStarted):
            self.started = True
            line = started_line(event)
        elif isinstance(event, EpochEnded):
            line = epoch_line(event)
        elif isinstance(event, RunFinished) and self.started:
            line = f"run {event.status}: {_n(event.epochs_completed, 'epoch')}, final test acc {_pct(event.final_test_acc)}"
        if line:
            print(line, file=self.out, flush=True)


class RichSink:
    """A live progress bar (epoch, loss, images/s, ETA) with epoch summaries printed above it."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[speed]} img/s"),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = None
        self.total = 0

    def __call__(self, event: Event) -> None:
        p = self.progress
        line = control_line(event)
        if line is not None:
            self.console.print(line, highlight=False)
        elif isinstance(event, Notice):
            self.console.print(event.message, highlight=False)
        elif isinstance(event, RunStarted):
            self.console.print(started_line(event), highlight=False)
            self.total = event.epochs * event.steps_per_epoch
            p.start()
            self.task = p.add_task(
                f"epoch {event.start_epoch + 1}/{event.epochs}",
                total=self.total,
                completed=max(event.start_step, event.start_epoch * event.steps_per_epoch),
                loss="-",
                acc="-",
                speed="-",
            )
        elif self.task is None:
            return
        elif isinstance(event, EpochStarted):
            p.update(self.task, description=f"epoch {event.epoch}/{event.epochs}")
        elif isinstance(event, BatchProgress):
            p.update(
                self.task,
                completed=event.global_step,
                loss=f"{event.epoch_loss:.3f}",
                acc=f"{100 * event.epoch_acc:.1f}%",
                speed=f"{event.images_per_sec:.0f}",
            )
        elif isinstance(event, EpochEnded):
            p.console.print(epoch_line(event), highlight=False)
        elif isinstance(event, CheckpointSaved) and event.mid_epoch:
            p.console.print(f"saved {event.path}", highlight=False)
        elif isinstance(event, RunFinished):
            p.stop()
