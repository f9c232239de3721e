"""RunStore: the run's folder, and every write into it while the run trains.

Creating the folder and holding its lock (RUN/run.lock: one trainer per run), config.json, run.json's
status, metrics rows, ``last.pt`` / ``final.pt`` / kept epoch copies, error.log. The loop and fit()
go through a RunStore; nothing else in the trainer writes into the run folder. Events of the run
pass through ``emit``: into the run's event stream (RUN/events.jsonl, core.runs.event_log) and to the sink.
While it owns the run it polls the run's control file (core.runs.control_file) for requests from viewers, and writes
its TensorBoard event files (RUN/tensorboard/, core.runs.tensorboard_log) unless --no-tensorboard."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from core.config.train_config import TrainConfig
from core.hardware.readings import hardware_facts
from core.inference.predictions import Predictions, save_predictions
from core.runs import layout
from core.runs.control import TrainControl
from core.runs.control_file import ControlPoller, Request
from core.runs.event_log import EventLog
from core.runs.events import CheckpointSaved, ControlAck, Event, EventSink, Notice, RunStatus
from core.runs.lock import RunLock
from core.runs.tensorboard_log import TensorBoardLog
from core.runs.trackers.session import Trackers
from core.train.checkpoint import FINAL, LAST, keep_epoch_copy, save_checkpoint
from core.train.resume import rng_state
from core.train.setup import Setup
from core.train.state import EpochProgress, NonFiniteLoss, TrainState


class RunStore:
    def __init__(self, run_dir: Path, sink: EventSink, resumed_from: Path | None = None) -> None:
        """The store of the run at ``run_dir`` (its lock not yet taken). ``sink`` receives the run's events;
        ``resumed_from``: the checkpoint a resume started from, never deleted while this session runs."""
        self.run_dir = run_dir
        self.sink = sink
        self.resumed_from = resumed_from
        self.lock: RunLock | None = None  # held while this trainer owns the run folder
        self.log: EventLog | None = None  # the event stream, open while the run is owned
        self.poller: ControlPoller | None = None
        self.tb: TensorBoardLog | None = None  # the run's TensorBoard event files, once the session starts
        self.trackers: Trackers | None = None  # MLflow, W&B (--log), once the session starts

    @classmethod
    def create(cls, cfg: TrainConfig, sink: EventSink) -> RunStore:
        """A new run folder under ``cfg.runs_dir`` (named by ``cfg.name`` or after the run); lock not yet taken."""
        run_dir = layout.create_run_dir(cfg.runs_dir, cfg.name or layout.default_run_name(cfg), explicit=bool(cfg.name))
        return cls(run_dir, sink)

    # ---------------------------------------------------------------- ownership
    def acquire_lock(self, control: TrainControl, requests_since: float | None = None) -> None:
        """Own the run folder, open its event stream and start taking requests from its control file
        (those sent since ``requests_since``, else since now); raises RunBusyError (naming the owner) when
        another process trains it."""
        self.lock = RunLock.acquire(self.run_dir)
        since = self.lock.since if requests_since is None else min(requests_since, self.lock.since)
        try:
            self.log = EventLog(self.run_dir)
        except OSError as e:  # the run can go on without viewers; the lock and checkpoints still work
            self.sink(Notice(f"no event stream for this run ({e.strerror or e}): runs watch and the app cannot follow it"))
        self.poller = ControlPoller(self.run_dir, lambda r: control.apply(r, self.ack),
                                    lambda message: self.emit(Notice(message)), since=since)

    def ack(self, request: Request, outcome: str) -> None:
        """Answer a control-file request (the sender waits for this event in the stream)."""
        self.emit(ControlAck(id=request.id, seq=request.seq, request=request.request, outcome=outcome))

    def release(self) -> None:
        """Stop taking requests, close the stream, then let go of the run (in that order: a viewer that sees
        the lock free finds the run's last words already written)."""
        if self.poller is not None:
            self.poller.close()
            self.poller = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.trackers is not None:
            self.trackers.close()
            self.trackers = None
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # ---------------------------------------------------------------- events
    def emit(self, event: Event) -> None:
        """Every event of the run goes through here: into the event stream, then to the sink."""
        log = self.log
        if log is not None:
            log.record(event)
            if log.error is not None:
                self.log = None
                self.sink(Notice(log.error + "; training goes on"))
        self.sink(event)

    # ---------------------------------------------------------------- files
    def clean_temps(self) -> None:
        layout.clean_temps(self.run_dir)

    def write_config(self, setup: Setup) -> None:
        meta = _meta(setup)
        layout.write_config(
            self.run_dir,
            {
                "train": setup.cfg.to_dict(),
                "classes": meta["classes"],
                "data": {**meta["data"], "mean": meta["mean"], "std": meta["std"], "source": setup.data.source},
                "device": str(setup.device),
                "precision": setup.precision,
                "processes": setup.dist.world,
                "processes_per_node": setup.dist.local_world,
                "params": sum(p.numel() for p in setup.model.parameters()),
                **hardware_facts(setup.device),  # torch_version, hardware (GPU or CPU model, counts, platform)
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "parent": str(setup.parent.path) if setup.parent is not None else None,
            },
        )

    def open_tensorboard(self, setup: Setup, epochs_done: int) -> None:
        """This session's side logs: TensorBoard event files (written from its first epoch on) unless
        --no-tensorboard, and the trackers --log names (core.runs.trackers)."""
        if setup.cfg.tensorboard:
            self.tb = TensorBoardLog.of_run(self.run_dir, setup, epochs_done, lambda m: self.emit(Notice(m)))
        if setup.cfg.log:
            self.trackers = Trackers.of_run(self.run_dir, setup, lambda m: self.emit(Notice(m)))

    def write_status(self, status: RunStatus, state: TrainState, epochs: int, error: str | None = None) -> None:
        if self.tb is not None and status != RunStatus.RUNNING:  # the run's end: its hyperparameters
            self.tb.finish(state.epochs_done, final_test_acc=state.final_test_acc, best_val_acc=state.best_val_acc)
        if self.trackers is not None and status != RunStatus.RUNNING:
            self.trackers.finish(status)
        layout.write_status(
            self.run_dir,
            {
                "status": status,
                "epochs_completed": state.epochs_done,
                "epochs": epochs,
                "best_val_acc": state.best_val_acc,
                "final_test_acc": state.final_test_acc,
                "train_seconds": round(state.train_seconds, 3),
                "images_per_sec": state.images_per_sec(),
                "compile_seconds": state.compile_seconds,
                "error": error,
                "pid": os.getpid(),
                "updated": time.time(),
            },
        )

    def append_metrics(self, row: dict[str, Any]) -> None:
        layout.append_metrics(self.run_dir, row)
        if self.tb is not None:
            self.tb.epoch(row)
        if self.trackers is not None:
            self.trackers.epoch(row)

    def truncate_metrics(self, epochs_done: int) -> None:
        layout.truncate_metrics(self.run_dir, epochs_done)

    def save_predictions(self, preds: Predictions | None, split: str, epoch: int, classes) -> None:
        """An evaluation's per-image predictions (core.inference.predictions), before its EvalEnded (a viewer finds them)."""
        if preds is not None:
            preds.split, preds.epoch, preds.classes = split, epoch, tuple(classes)
            try:
                save_predictions(self.run_dir, preds)
            except OSError as e:  # a side file: the run goes on without it
                self.sink(Notice(f"could not keep the {split} predictions ({e.strerror or e}); training goes on"))

    def save_last(self, setup: Setup, state: TrainState, progress: EpochProgress | None, announce: bool = True) -> None:
        """The full training state (``progress``: where an unfinished epoch stands, None at an epoch's end)."""
        if progress is not None and not math.isfinite(progress.loss_sum):
            # On CUDA a bad step may not have been seen yet: never overwrite good weights with broken ones.
            raise NonFiniteLoss("the loss became non-finite in this epoch; last.pt keeps the last good state")
        payload = {
            "kind": "last",
            **_meta(setup),
            "model": setup.model.state_dict(),
            "optimizer": setup.optimizer.state_dict(),
            "scheduler": setup.scheduler.state_dict(),
            "scaler": setup.scaler.state_dict() if setup.scaler is not None else None,
            "epoch": state.epochs_done,
            "global_step": state.global_step,
            "stream": setup.stream.state_dict(),
            "partial": progress.to_dict() if progress is not None else None,
            "rng": rng_state(setup.device),
            "best_val_acc": state.best_val_acc,
            "train_seconds": state.train_seconds,
            # What --precision auto and --channels-last auto resolved to here: a resume elsewhere says what changes.
            "trained_on": {"device": str(setup.device), "precision": setup.precision, "channels_last": setup.channels_last,
                           "processes": setup.dist.world},
        }
        save_checkpoint(self.run_dir / LAST, payload)
        if announce:
            self.emit(CheckpointSaved(path=str(self.run_dir / LAST), epoch=state.epochs_done, kind="last", mid_epoch=progress is not None))

    def save_final(self, setup: Setup, state: TrainState) -> None:
        payload = {
            "kind": "weights",
            **_meta(setup),
            "model": setup.model.state_dict(),
            "epoch": state.epochs_done,
            "final_test_acc": state.final_test_acc,
        }
        save_checkpoint(self.run_dir / FINAL, payload)
        self.emit(CheckpointSaved(path=str(self.run_dir / FINAL), epoch=state.epochs_done, kind="final"))

    def keep_epoch_copy(self, epoch: int, keep: int) -> None:
        """Copy last.pt to the epoch's file and drop the oldest copies beyond ``keep`` (never the one resumed from)."""
        keep_epoch_copy(self.run_dir, epoch, keep, {self.resumed_from} if self.resumed_from else None)

    def write_error_log(self, text: str) -> Path:
        path = self.run_dir / layout.ERROR_LOG
        path.write_text(text)
        return path


class NullStore(RunStore):
    """The store of a rank other than 0 in a distributed job: it knows the run's folder and writes nothing
    (rank 0 is the run's one writer: its lock, stream, checkpoints, status and metrics)."""

    def acquire_lock(self, control: TrainControl, requests_since: float | None = None) -> None:
        pass

    def emit(self, event: Event) -> None:
        pass

    def clean_temps(self) -> None:
        pass

    def write_config(self, setup: Setup) -> None:
        pass

    def open_tensorboard(self, setup: Setup, epochs_done: int) -> None:
        pass

    def write_status(self, status: RunStatus, state: TrainState, epochs: int, error: str | None = None) -> None:
        pass

    def append_metrics(self, row: dict[str, Any]) -> None:
        pass

    def truncate_metrics(self, epochs_done: int) -> None:
        pass

    def save_predictions(self, preds: Predictions | None, split: str, epoch: int, classes) -> None:
        pass

    def save_last(self, setup: Setup, state: TrainState, progress: EpochProgress | None, announce: bool = True) -> None:
        pass

    def save_final(self, setup: Setup, state: TrainState) -> None:
        pass

    def keep_epoch_copy(self, epoch: int, keep: int) -> None:
        pass

    def write_error_log(self, text: str) -> Path:
        return self.run_dir / layout.ERROR_LOG


def _meta(setup: Setup) -> dict[str, Any]:
    """What every checkpoint says about the model and its data."""
    data = setup.data
    return {
        "arch": setup.cfg.arch,
        "num_classes": data.num_classes,
        "classes": list(data.classes),
        "mean": list(data.mean),
        "std": list(data.std),
        "image_size": data.image_size,
        "config": setup.cfg.to_dict(),
        "data": {"train_size": len(data.train), "val_size": len(data.val) if data.val is not None else 0,
                 "test_size": len(data.test), "num_classes": data.num_classes, "layout": data.layout,
                 "split_digest": data.split_digest, "residence": data.residence},
        "torch_version": str(torch.__version__),
    }
