"""A run's TensorBoard event files (RUN/tensorboard/), so that `tensorboard --logdir checkpoints` shows every run.

Why a module of its own: metrics.jsonl stays the run's record (the app and `runs` read it); this is a copy of
the same figures in the format TensorBoard reads, written by the RunStore while it owns the run and never
allowed to hurt the run. Hence:

- lazy: nothing of TensorBoard is imported until the first epoch is written (the CLI's --help, and runs with
  --no-tensorboard, never load it), and the folder is created then;
- cheap: per epoch a dozen scalars and one confusion-matrix PNG drawn with numpy (no matplotlib in the
  training process), flushed at once so a viewer sees the epoch live; all of it after the epoch's timing;
- harmless: any failure (TensorBoard missing, disk full, a file where the folder should be) becomes one
  Notice and the rest of the run writes no event files; the run itself goes on;
- resumable: each session's file starts with a purge mark (what SummaryWriter's ``purge_step`` writes) at
  the first epoch it trains, so the epochs a crashed session wrote past its checkpoint are discarded by
  TensorBoard's reader (they are trained again);
- synchronous: each session appends to one event file of its own, in the caller's thread, through
  TensorBoard's record writer, with summaries made by torch.utils.tensorboard.summary. Not SummaryWriter:
  its writer thread meets a write error (a full disk) in that thread, which prints a traceback on stderr (into
  the app's screen too) and reports it only at a later call.

The global step is the epoch number. At the run's end (completed, stopped or failed) the hyperparameters go
in through the hparams plugin (torch.utils.tensorboard.summary.hparams) into this same folder, not
add_hparams' timestamped subfolder, with the final metrics as scalars beside them (final/test_acc,
final/best_val_acc). Only the session start and end summaries are written, not the "experiment" summary:
TensorBoard takes the first experiment summary it finds as the whole logdir's, so with one per run a
--logdir of many runs would show only one run's columns; without it TensorBoard builds the table from every
run's hyperparameters and scalars. TensorBoard keeps the first metadata of a tag, so a resume with a larger
--epochs still shows the first session's `epochs` in the hparams table (the scalars are all current).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TENSORBOARD = "tensorboard"  # the run's folder of event files
# (tag, metrics.jsonl key) of each epoch's scalars; a key whose value is None that epoch is skipped
SCALARS = (
    ("loss/train", "train_loss"), ("loss/val", "val_loss"), ("loss/test", "test_loss"),
    ("accuracy/train", "train_acc"), ("accuracy/val", "val_acc"), ("accuracy/test", "test_acc"),
    ("lr", "lr"), ("images_per_sec", "images_per_sec"), ("peak_memory_mb", "peak_memory_mb"),
    ("seconds/train", "train_seconds"), ("seconds/eval", "eval_seconds"),
)
FINAL_METRICS = ("final/test_acc", "final/best_val_acc")
NOT_HPARAMS = frozenset({"runs_dir", "name", "tensorboard"})  # config fields that say nothing about the training
CELL_PX, MAX_SIDE = 16, 512  # a confusion cell is CELL_PX square, fewer pixels when classes * CELL_PX > MAX_SIDE
# viridis, sampled at 9 points and interpolated: dark purple (0) to yellow (1)
_VIRIDIS = ((68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129),
            (92, 200, 99), (170, 220, 50), (253, 231, 37))


_FILES = itertools.count()  # this process's event files, numbered as SummaryWriter numbers its own


class EventFile:
    """A session's event file (the folder made if needed), written synchronously; it starts with the purge mark."""

    def __init__(self, logdir: Path, purge_step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.summary.writer.record_writer import RecordWriter

        self.Event = Event
        # Not parents=True: a run folder deleted under a live run must stay deleted (a viewer reports it gone).
        logdir.mkdir(exist_ok=True)
        # The reader takes the files in name order, and the purge mark only drops what it has read before it:
        # this session's file must sort after every earlier one, even one started within the same second.
        stamp = int(time.time())
        for earlier in logdir.glob("events.out.tfevents.*"):
            part = earlier.name.split(".")[3]
            stamp = max(stamp, int(part) + 1 if part.isdigit() else stamp)
        name = f"events.out.tfevents.{stamp:010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILES)}"
        self.records = RecordWriter(open(logdir / name, "wb"))
        self.add(Event(step=purge_step, file_version="brain.Event:2"))
        # "Restarted here": the reader drops whatever earlier files hold at steps >= purge_step.
        self.add(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def add(self, event: Any) -> None:
        event.wall_time = time.time()
        self.records.write(event.SerializeToString())

    def summary(self, summary: Any, step: int) -> None:
        self.add(self.Event(summary=summary, step=step))

    def flush(self) -> None:
        self.records.flush()

    def close(self) -> None:
        self.records.close()


def _open_writer(logdir: Path, purge_step: int) -> EventFile:
    """The session's writer (tests replace this to make it fail)."""
    return EventFile(logdir, purge_step)


def hparams_of(config: dict[str, Any], **ran: Any) -> dict[str, Any]:
    """The run's hyperparameters: the config's scalar fields (str, int, float, bool; TensorBoard shows a bool
    as 0/1), then ``ran``: what the auto settings resolved to (device, precision, channels_last) and processes."""
    hp = {k: v for k, v in config.items() if k not in NOT_HPARAMS and isinstance(v, (str, int, float, bool))}
    hp.update(ran)
    return hp


def confusion_image(matrix: Sequence[Sequence[int]]):
    """An RGB uint8 (H, W, 3) picture of the row-normalised confusion matrix: row = true class, column =
    predicted, dark = none of the row's images, yellow = all of them."""
    import numpy as np

    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=1, keepdims=True)
    share = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
    lut = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_VIRIDIS)), channel)
                    for channel in zip(*_VIRIDIS)], axis=1).round().astype(np.uint8)
    rgb = lut[np.rint(share * 255).astype(np.intp)]
    cell = max(1, min(CELL_PX, MAX_SIDE // max(1, len(m))))
    return np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)


class TensorBoardLog:
    """The event files of one session of a run; every method swallows its failures (see the module's doc)."""

    def __init__(self, logdir: Path, notify: Callable[[str], None], *, hparams: dict[str, Any],
                 classes: Sequence[str], epochs_done: int = 0) -> None:
        """``notify``: says a failure once (a Notice); ``epochs_done``: where this session starts (resume)."""
        self.logdir = Path(logdir)
        self.notify = notify
        self.hparams = hparams
        self.classes = tuple(classes)
        self.purge_step = epochs_done + 1  # this session's first epoch: anything from there on is stale
        self.writer: EventFile | None = None  # opened by the first write
        self.failed = False
        self.wrote_epoch = False  # an epoch of this session is in the files
        self.finished = False

    @classmethod
    def of_run(cls, run_dir: Path, setup: Any, epochs_done: int, notify: Callable[[str], None]) -> TensorBoardLog:
        """The log of a run's session, from its core.train.Setup."""
        hp = hparams_of(setup.cfg.to_dict(), device=str(setup.device), precision=setup.precision,
                        channels_last="on" if setup.channels_last else "off", processes=setup.dist.world)
        return cls(Path(run_dir) / TENSORBOARD, notify, hparams=hp, classes=setup.data.classes, epochs_done=epochs_done)

    def _fail(self, e: BaseException) -> None:
        self.failed = True
        writer, self.writer = self.writer, None
        reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        self.notify(f"tensorboard: cannot write event files in {self.logdir} ({reason}); training goes on without them")
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already reported
                pass

    def _writer(self) -> tuple[EventFile, Any]:
        """The open event file, and torch.utils.tensorboard.summary (which makes the summaries)."""
        from torch.utils.tensorboard import summary

        if self.writer is None:
            self.writer = _open_writer(self.logdir, self.purge_step)
        return self.writer, summary

    def epoch(self, row: dict[str, Any]) -> None:
        """A finished epoch's metrics.jsonl row: its scalars and confusion matrix, flushed."""
        if self.failed:
            return
        try:
            w, make = self._writer()
            step = int(row["epoch"])
            if not self.wrote_epoch and self.classes:
                w.summary(make.text("confusion/classes", "Rows: true class; columns: predicted; row-normalised "
                                    "(dark 0, yellow 1). Classes: "
                                    + ", ".join(f"{i} {c}" for i, c in enumerate(self.classes))), step)
            for tag, key in SCALARS:
                value = row.get(key)
                if value is not None:
                    w.summary(make.scalar(tag, float(value)), step)
            if row.get("confusion"):
                image = confusion_image(row["confusion"])
                w.summary(make.image(f"confusion/{row.get('eval_split', 'test')}", image, dataformats="HWC"), step)
            w.flush()
            self.wrote_epoch = True
        except Exception as e:  # noqa: BLE001 - never fails the run
            self._fail(e)

    def finish(self, epochs_done: int, *, final_test_acc: float | None, best_val_acc: float | None) -> None:
        """The run's end: its hyperparameters (hparams plugin) and final metrics, once per session."""
        if self.failed or self.finished:
            return
        self.finished = True
        try:
            w, make = self._writer()
            metrics = dict(zip(FINAL_METRICS, (final_test_acc, best_val_acc)))
            _, start, end = make.hparams(self.hparams, {k: v for k, v in metrics.items() if v is not None})
            w.summary(start, epochs_done)
            w.summary(end, epochs_done)
            if self.wrote_epoch:  # (else the previous session wrote these, at this step)
                for tag, value in metrics.items():
                    if value is not None:
                        w.summary(make.scalar(tag, float(value)), epochs_done)
            w.flush()
        except Exception as e:  # noqa: BLE001 - never fails the run
            self._fail(e)

    def close(self) -> None:
        """Flush and close the files (the RunStore lets go of the run)."""
        writer, self.writer = self.writer, None
        if writer is not None and not self.failed:
            try:
                writer.close()
            except Exception as e:  # noqa: BLE001 - never fails the run
                self._fail(e)
