"""fit() and a run's lifecycle: prepare (nothing written), open the run folder, train, and map every way a run
can end (completed, stopped, failed, a second Ctrl-C) to its status, its RunFinished event and its RunResult."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config.train_config import TrainConfig
from core.data import DataBundle
from core.errors import BadImage, Cancelled
from core.hardware.devices import is_out_of_memory
from core.hardware.dist import SINGLE, Dist
from core.runs import layout
from core.runs.control import TrainControl
from core.runs.events import Event, EventSink, Notice, RunFinished, RunStarted, RunStatus, null_sink, safe_sink
from core.train import loop
from core.train.checkpoint import require_safe_torch
from core.train.failures import bad_image_message, lost_a_peer, lost_peer_message, out_of_memory_message, write_error_message
from core.train.global_flags import Determinism
from core.train.resume import resume_config
from core.train.setup import Setup, build_setup
from core.train.state import NonFiniteLoss, TrainState
from core.train.store import NullStore, RunStore


@dataclass(kw_only=True)
class RunResult:
    status: RunStatus  # completed | stopped | failed
    run_dir: Path | None
    epochs_completed: int
    epochs: int
    final_test_acc: float | None
    best_val_acc: float | None
    train_seconds: float
    images_per_sec: float | None
    error: str | None = None
    stopped_at: tuple[int, int, int] | None = None  # (epoch, batch, batches per epoch) of a mid-epoch stop


class _Run:
    def __init__(
        self,
        cfg: TrainConfig,
        sink: EventSink,
        control: TrainControl,
        data: DataBundle | None,
        resume: str | Path | None,
        resume_overrides: dict[str, Any] | None,
        progress_interval: float,
        into: Path | None = None,
        requests_since: float | None = None,
    ) -> None:
        self.into = into
        self.requests_since = requests_since
        self.cfg = cfg
        self.sink = sink
        self.control = control
        self.data = data
        self.resume = resume
        self.resume_overrides = resume_overrides
        self.progress_interval = progress_interval
        self.determinism = Determinism()
        self.store: RunStore | None = None  # once the run folder is known (and, on resume, owned)
        self.dist: Dist = SINGLE  # this process's place in a torchrun job (found in prepare)

    def emit(self, event: Event) -> None:
        (self.store.emit if self.store is not None else self.sink)(event)

    def _notify(self, message: str) -> None:
        self.emit(Notice(message))

    # ---------------------------------------------------------------- preparation (no writes)
    def prepare(self) -> tuple[RunStore, Setup, TrainState, bool]:
        """The run's objects and state, its folder (created for a new run) owned; True when resuming."""
        require_safe_torch()
        ckpt = None
        point = resume_config(self.resume, self.resume_overrides) if self.resume is not None else None
        self._join_job(point.cfg.device if point is not None else self.cfg.device)
        # Rank 0 is the run's one writer; the other ranks of a job keep a store that writes nothing.
        Store = RunStore if self.dist.main else NullStore
        if point is not None:
            # Before anything else: one process trains a run at a time (a second one is refused here).
            store = Store(point.run_dir, self.sink, resumed_from=point.source)
            store.acquire_lock(self.control, self.requests_since)
            self.store = store
            self.cfg, ckpt = point.cfg, point.ckpt
            if point.warning:
                self._notify(point.warning)
        elif self.into is not None:
            # A launched run (tui.cli.launch): own its existing folder before the (long) data loading: steerable at once.
            store = Store(layout.launch_folder(self.into) if self.dist.main else self.into, self.sink)
            store.acquire_lock(self.control, self.requests_since)
            self.store = store
        name = self.cfg.name
        if self.into is not None:
            self.cfg = self.cfg.replace(name="")  # its folder exists already (the launcher made it): not a clash
        setup = build_setup(
            self.cfg,
            ckpt=ckpt,
            run_dir=self.store.run_dir if self.store is not None else None,
            data=self.data,
            determinism=self.determinism,
            notify=self._notify,
            stop=self.control.stop,
            dist=self.dist,
        )
        if self.into is not None:
            setup.cfg = setup.cfg.replace(name=name)
        self.cfg = setup.cfg
        if ckpt is not None:
            assert self.store is not None
            return self.store, setup, TrainState.from_checkpoint(ckpt), True
        if self.store is None:
            if self.dist.main:
                self.store = RunStore.create(setup.cfg, self.sink)
                self.store.acquire_lock(self.control, self.requests_since)
            # Rank 0 named the folder (its name has a time in it): the others learn it from rank 0.
            run_dir = self.dist.share(self.store.run_dir if self.store is not None else None)
            if self.store is None:
                self.store = NullStore(Path(run_dir), self.sink)
        return self.store, setup, TrainState(), False

    def _join_job(self, device: str) -> None:
        """Under torchrun (or srun): join the job's process group. The other ranks take rank 0's settings
        (rank 0 writes the run) and keep quiet: rank 0 speaks for the job."""
        from core.errors import UserError

        self.dist = Dist.from_env(device)
        if not self.dist.active:
            return
        if not self.dist.main:
            self.sink = null_sink
        if self.resume is None:
            mine = self.cfg.to_dict()
            theirs = self.dist.share(mine)
            if theirs != mine and not self.dist.main:
                self.cfg = TrainConfig.from_dict(theirs)
        if self.data is not None:
            raise UserError("a distributed job loads its data in every process: fit(data=...) is for one process")

    # ---------------------------------------------------------------- the run
    def execute(self) -> RunResult:
        try:
            store, setup, state, resuming = self.prepare()
        except Cancelled:  # stopped while the data was loading: nothing was written
            self.determinism.restore()
            self.emit(RunFinished(status=RunStatus.STOPPED, run_dir="", epochs_completed=0, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None, error=None))
            return RunResult(status=RunStatus.STOPPED, run_dir=None, epochs_completed=0, epochs=self.cfg.epochs, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None)
        except Exception as e:
            self.determinism.restore()
            run_dir = self.store.run_dir if self.store is not None else ""
            self.emit(RunFinished(status=RunStatus.FAILED, run_dir=str(run_dir), epochs_completed=0, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None, error=str(e)))
            raise
        cfg, data = setup.cfg, setup.data
        status, error = RunStatus.FAILED, None
        try:
            store.clean_temps()
            if not resuming:
                store.write_config(setup)
                # The starting state, so that a run killed in its first epoch can still be resumed.
                store.save_last(setup, state, None, announce=False)
            else:
                store.truncate_metrics(state.epochs_done)
                steps = setup.stream.steps_per_epoch
                where = (f"at epoch {state.epochs_done + 1}, batch {state.global_step - state.epochs_done * steps}/{steps}"
                         if state.partial is not None else f"after epoch {state.epochs_done}")
                store.emit(Notice(f"resuming {store.run_dir.name} {where} (step {state.global_step})"))
            store.open_tensorboard(setup, state.epochs_done)
            store.write_status(RunStatus.RUNNING, state, cfg.epochs)
            store.emit(
                RunStarted(
                    run_name=store.run_dir.name,
                    run_dir=str(store.run_dir),
                    arch=cfg.arch,
                    config=cfg.to_dict(),
                    classes=tuple(data.classes),
                    num_params=sum(p.numel() for p in setup.model.parameters()),
                    device=str(setup.device),
                    precision=setup.precision,
                    epochs=cfg.epochs,
                    start_epoch=state.epochs_done,
                    start_step=state.global_step,
                    processes=setup.dist.world,
                    steps_per_epoch=setup.stream.steps_per_epoch,
                    train_size=len(data.train),
                    val_size=len(data.val) if data.val is not None else 0,
                    test_size=len(data.test),
                )
            )
            status = loop.TrainLoop(setup, state, store, self.control, self.progress_interval).run()
            status = RunStatus.PRUNED if status == RunStatus.STOPPED and self.control.pruned else status  # a search's pruner
        except (NonFiniteLoss, BadImage) as e:  # one line each; after a bad image last.pt is at its batch
            error = bad_image_message(e, store.run_dir) if isinstance(e, BadImage) else str(e)
        except OSError as e:
            error = write_error_message(e, store.run_dir)
        except KeyboardInterrupt:
            # A second Ctrl-C aborts at once: last.pt still holds the last finished epoch.
            status, error = RunStatus.STOPPED, "aborted (a second Ctrl-C); last.pt holds the last finished epoch"
            raise
        except Exception as e:  # noqa: BLE001 - reported, logged with its traceback, never swallowed silently
            if is_out_of_memory(e):
                error = out_of_memory_message(setup.device, cfg)
            elif self.dist.active and lost_a_peer(e):
                error = lost_peer_message(e, self.dist.world, store.run_dir)
            else:
                error = f"{type(e).__name__}: {e}"
                try:
                    error += f" (traceback in {store.write_error_log(traceback.format_exc())})"
                except OSError:
                    pass
        finally:
            self.determinism.restore()
            try:
                # A second Ctrl-C can land between a temp file's creation and the code that would remove it:
                # the run's owner sweeps its own leftovers as it ends (nobody else writes here).
                store.clean_temps()
                store.write_status(status, state, cfg.epochs, error)
            except OSError:
                pass
            for request in self.control.take_all():  # asked for but overtaken by the end of the run
                store.ack(request, f"the run {status} before it could {request.request}")
            result = RunResult(
                status=status,
                run_dir=store.run_dir,
                epochs_completed=state.epochs_done,
                epochs=cfg.epochs,
                final_test_acc=state.final_test_acc,
                best_val_acc=state.best_val_acc,
                train_seconds=state.train_seconds,
                images_per_sec=state.images_per_sec(),
                error=error,
                stopped_at=state.stopped_at if status == RunStatus.STOPPED else None,
            )
            store.emit(
                RunFinished(
                    status=status,  # type: ignore[arg-type]
                    run_dir=str(store.run_dir),
                    epochs_completed=state.epochs_done,
                    final_test_acc=state.final_test_acc,
                    best_val_acc=state.best_val_acc,
                    train_seconds=state.train_seconds,
                    images_per_sec=result.images_per_sec,
                    error=error,
                    stopped_at=result.stopped_at,
                )
            )
        return result


def fit(
    cfg: TrainConfig,
    sink: EventSink = null_sink,
    stop: threading.Event | None = None,
    *,
    control: TrainControl | None = None,
    data: DataBundle | None = None,
    resume: str | Path | None = None,
    resume_overrides: dict[str, Any] | None = None,
    progress_interval: float | None = None,
    into: str | Path | None = None,
    requests_since: float | None = None,
) -> RunResult:
    """Train as ``cfg`` says (or continue the run at ``resume``), in the calling thread.

    ``stop`` (or ``control.stop``) ends the run after the current batch, saving ``last.pt``;
    ``control`` also offers pause and save-now. Raises UserError (after a RunFinished("failed")
    event) when the request is invalid, before anything is written. Failures during training
    are returned as status "failed". ``progress_interval``: seconds between BatchProgress events
    (default PROGRESS_INTERVAL); how often a viewer wants news is the viewer's business, not the run's.
    ``into``: train a new run in this existing folder (a launched background run's; see tui.cli.launch)
    instead of creating one under ``cfg.runs_dir``. ``requests_since``: control-file requests sent from
    this time on are for this run (a launched run's launch time: a request may come before its process
    has started); by default only those sent once it owns the run.

    Every event also goes to the run's event stream (RUN/events.jsonl), and requests in RUN/control.json
    (pause, continue, stop, checkpoint from `runs ...` or an attached app) reach ``control``.
    """
    if control is None:
        control = TrainControl(stop=stop or threading.Event())
    elif stop is not None:
        raise ValueError("pass either stop or control, not both")
    # Read at call time from its one home, core.train.loop (tests set it there).
    interval = loop.PROGRESS_INTERVAL if progress_interval is None else progress_interval
    if not interval >= 0:
        raise ValueError(f"progress_interval must be >= 0 seconds (got {interval!r})")
    if into is not None and resume is not None:
        raise ValueError("pass either into or resume, not both")
    run = _Run(cfg, safe_sink(sink), control, data, resume, resume_overrides, interval,
               Path(into) if into is not None else None, requests_since)
    result = None
    try:
        return (result := run.execute())
    finally:
        if run.store is not None:
            run.store.release()
        run.dist.close(together=result is not None and result.status == RunStatus.COMPLETED)
