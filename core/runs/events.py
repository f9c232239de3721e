"""What the trainer reports, as frozen dataclasses of plain data (no tensors cross this line).

The trainer calls an ``EventSink`` synchronously from its own thread. A sink must be
quick (the app's sink only posts a message); an exception inside a sink is caught and
logged so a UI bug can never kill a run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Callable, Union

log = logging.getLogger(__name__)

class RunStatus(StrEnum):
    """A run's state as run.json and RunFinished give it (a str: it compares and serialises as its value)."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"  # by a request (Ctrl-C, SIGTERM, the app's stop); resumable
    FAILED = "failed"  # an error (NaN loss, out of memory, disk full, ...); resumable from last.pt
    INTERRUPTED = "interrupted"  # run.json says running but its process is gone (never written, only read)
    PRUNED = "pruned"  # stopped by a search's pruner after an epoch (hopeless next to the other trials); resumable


RESUMABLE = (RunStatus.STOPPED, RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.PRUNED)
# Keyword-only: events and results with many fields of one type cannot take a swapped argument silently.


@dataclass(frozen=True)
class Notice:
    """A line of status before or around training: "decoding train images 2000/50000", "resuming from ..."."""

    message: str


@dataclass(frozen=True, kw_only=True)
class RunStarted:
    run_name: str
    run_dir: str
    arch: str
    config: dict[str, Any]
    classes: tuple[str, ...]
    num_params: int
    device: str
    precision: str
    epochs: int
    start_epoch: int  # epochs already finished (> 0 when resuming)
    steps_per_epoch: int
    train_size: int
    val_size: int
    test_size: int
    start_step: int = 0  # optimiser steps already taken (a resume inside an epoch starts past start_epoch's end)
    processes: int = 1  # the distributed job's world size (device is rank 0's)


@dataclass(frozen=True, kw_only=True)
class EpochStarted:
    epoch: int  # 1-based
    epochs: int
    lr: float


@dataclass(frozen=True, kw_only=True)
class BatchProgress:
    """Sent at most every ``progress_interval`` seconds; each one carries the full picture, so dropping some loses nothing."""

    epoch: int
    epochs: int
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    global_step: int
    total_steps: int
    loss: float  # loss of the latest batch
    epoch_loss: float  # mean training loss of this epoch so far
    epoch_acc: float  # training accuracy of this epoch so far (0..1, on augmented images)
    lr: float
    images_per_sec: float  # over this epoch so far
    elapsed: float  # seconds of training in this session
    eta: float  # seconds to the end of the run, from the current rate (evaluation not included)
    peak_memory: int | None = None  # bytes: the GPU allocator's peak in this epoch so far (None off CUDA)


@dataclass(frozen=True, kw_only=True)
class EvalEnded:
    epoch: int
    split: str  # "val" or "test"
    loss: float
    accuracy: float  # 0..1
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows = true class, columns = predicted
    classes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EpochEnded:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    test_loss: float | None
    test_acc: float | None
    lr: float
    seconds: float  # wall time of the epoch, evaluation included
    train_seconds: float  # the training part only
    images_per_sec: float  # training throughput of this epoch
    peak_memory: int | None = None  # bytes: the GPU allocator's peak while training this epoch (None off CUDA)


@dataclass(frozen=True, kw_only=True)
class CheckpointSaved:
    path: str
    epoch: int  # finished epochs it holds
    kind: str  # "last" (resumable state) or "final" (weights for evaluate/predict)
    mid_epoch: bool = False  # True when saved by a stop inside an epoch


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    status: RunStatus
    run_dir: str
    epochs_completed: int
    final_test_acc: float | None
    best_val_acc: float | None
    train_seconds: float
    images_per_sec: float | None
    error: str | None = None
    stopped_at: tuple[int, int, int] | None = None  # (epoch, batch, batches) of a stop inside an epoch


@dataclass(frozen=True, kw_only=True)
class Paused:
    """The loop stopped between batches on a pause request (from the app or the control file)."""

    epoch: int
    batch: int
    batches: int


@dataclass(frozen=True, kw_only=True)
class Resumed:
    epoch: int
    batch: int
    batches: int


@dataclass(frozen=True, kw_only=True)
class ControlAck:
    """The owner's answer to a request from the run's control file (core.runs.control_file), matched by ``id``."""

    id: str
    seq: int
    request: str  # pause | continue | stop | checkpoint
    outcome: str  # what happened, as a sentence: "paused at epoch 2, batch 14/390", "already paused", ...


@dataclass(frozen=True)
class Heartbeat:
    """Written to the event stream when nothing else was for a while: the owner is alive (paused, evaluating, ...).

    ``worked``: when the owner last made progress (a batch trained or evaluated, images decoded; core.runs.activity),
    so a viewer can tell a hung process whose heartbeat thread still runs from a busy one (core.runs.stall)."""

    worked: float | None = None


Event = Union[Notice, RunStarted, EpochStarted, BatchProgress, EvalEnded, EpochEnded, CheckpointSaved, RunFinished,
              Paused, Resumed, ControlAck, Heartbeat]
EventSink = Callable[[Event], None]
EVENT_TYPES = {
    cls.__name__: cls
    for cls in (Notice, RunStarted, EpochStarted, BatchProgress, EvalEnded, EpochEnded, CheckpointSaved, RunFinished,
                Paused, Resumed, ControlAck, Heartbeat)
}


def null_sink(event: Event) -> None:
    pass


def fanout(*sinks: EventSink) -> EventSink:
    def sink(event: Event) -> None:
        for s in sinks:
            s(event)

    return sink


def safe_sink(sink: EventSink) -> EventSink:
    """Wrap a sink so that its exceptions are logged, not raised into the training loop."""

    def guarded(event: Event) -> None:
        try:
            sink(event)
        except Exception:  # noqa: BLE001 - a display bug must not stop training
            log.exception("event sink failed on %s", type(event).__name__)

    return guarded


def to_dict(event: Event) -> dict[str, Any]:
    """Events are flat (numbers, strings and tuples of them), so a shallow copy does: ``asdict``'s deep copy took
    a second for one 1000-class confusion matrix."""
    return {"event": type(event).__name__, **{f.name: getattr(event, f.name) for f in fields(event)}}


def from_dict(raw: dict[str, Any]) -> Event:
    """The event a to_dict() made; KeyError for an unknown event name (a newer writer), TypeError/ValueError for a damaged one."""
    cls = EVENT_TYPES[raw["event"]]
    values = {}
    for f in fields(cls):
        v = raw.get(f.name)
        if isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        values[f.name] = v
    if cls is RunFinished:
        values["status"] = RunStatus(values["status"])
    return cls(**values)


def to_json(event: Event) -> str:
    return json.dumps(to_dict(event))


def from_json(line: str) -> Event:
    return from_dict(json.loads(line))
