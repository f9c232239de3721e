"""One trial of a search, trained in this process: its run folder, its per-epoch validation accuracy reported to
the study, the pruner asked after each epoch, and the outcome told to the study.

A trial's outcome in the study: COMPLETE with the last epoch's validation accuracy; PRUNED (its run reads
"pruned"); FAIL with the run's error; or, when this worker is stopped (Ctrl-C, SIGTERM), FAIL and retried at
once with the same params, so the search run again continues the trial's folder from its checkpoint.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.experiments.search import trial_config
from core.experiments.search_study import HEARTBEAT, retried_from, retry_callback
from core.runs import layout
from core.runs.control import TrainControl
from core.runs.events import EpochEnded, RunStatus

Say = Callable[[str], None]


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    run: str
    state: str  # complete | pruned | failed | stopped
    value: float | None
    epochs: int


def run_name(study, trial) -> str:
    """trial-NNN, or for a retry the folder of the trial it retries (followed back to the first)."""
    number = trial.number
    seen = {t.number: t for t in study.get_trials(deepcopy=False)}
    frozen = seen.get(number)
    while frozen is not None and (back := retried_from(frozen)) is not None:
        number, frozen = back, seen.get(back)
    return f"trial-{number:03d}"


def _tell(study, trial, **kwargs: Any) -> None:
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as e:  # the grid sampler calls study.stop() after the grid's last point: outside optimize()
        if "Study.stop" not in str(e):
            raise
    except ValueError as e:  # already finished: another worker failed it as stale meanwhile (its retry carries on)
        if "Cannot tell" not in str(e):
            raise


@contextlib.contextmanager
def _alongside(work: Callable[[threading.Event], None], name: str):
    """``work(done)`` in a daemon thread while the block runs; ``done`` is set when it ends."""
    done = threading.Event()
    thread = threading.Thread(target=work, args=(done,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def _beating(study, trial):
    """Optuna's heartbeat for this trial while it trains (RDB storages), so other machines see it alive."""
    storage = study._storage
    if not hasattr(storage, "record_heartbeat") or storage.get_heartbeat_interval() is None:
        return contextlib.nullcontext()

    def beat(done: threading.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial._trial_id)
            done.wait(HEARTBEAT)

    return _alongside(beat, "search-heartbeat")


def _passing_on(stop: threading.Event, control: TrainControl):
    """The worker's stop (a signal) stops this trial; the trial's own stop (its pruner) is its alone."""

    def watch(done: threading.Event) -> None:
        while not done.is_set():
            if stop.wait(0.2):
                control.request_stop()
                return

    return _alongside(watch, "search-stop")


def _folder_for(run_dir: Path, params: dict[str, Any], folder: Path, number: int) -> str:
    """What to do with the trial's folder: "new" (none, or one without a checkpoint or of other params: set aside),
    "resume" (its checkpoint), or "done" (it completed: a worker died between the run's end and telling the study)."""
    if not run_dir.exists():
        return "new"
    train = (layout.read_json(run_dir / layout.CONFIG) or {}).get("train") or {}
    if layout.is_run_dir(run_dir) and all(train.get(k) == v for k, v in params.items()):
        status = (layout.read_json(run_dir / layout.STATUS) or {}).get("status")
        return "done" if status == RunStatus.COMPLETED else "resume"
    aside = folder / ".abandoned" / f"{run_dir.name}-t{number}"  # another study's trial, or nothing to continue
    aside.parent.mkdir(exist_ok=True)
    run_dir.rename(aside)
    return "new"


def run_trial(study, trial, spec: dict[str, Any], folder: Path, device: str, stop: threading.Event,
              say: Say = lambda line: None) -> TrialOutcome:
    from core.train import fit

    run = run_name(study, trial)
    run_dir = folder / run
    trial.set_user_attr("run", run)
    trial.set_user_attr("device", device)
    params = dict(trial.params)
    cfg = trial_config(spec, params, folder, run, device)
    found = _folder_for(run_dir, params, folder, trial.number)
    rows = layout.read_metrics(run_dir) if found != "new" else []
    for row in rows:  # the epochs it already has, for the pruner
        if isinstance(row.get("val_acc"), (int, float)):
            trial.report(float(row["val_acc"]), int(row["epoch"]))
    if found == "done" and rows and isinstance(rows[-1].get("val_acc"), (int, float)):
        _tell(study, trial, values=float(rows[-1]["val_acc"]))
        return TrialOutcome(trial.number, run, "complete", float(rows[-1]["val_acc"]), len(rows))
    control = TrainControl()  # its own stop: a pruned trial must not stop the worker's later trials
    last = {"val": None, "lost": False}

    def sink(event) -> None:
        if isinstance(event, EpochEnded) and event.val_acc is not None:
            last["val"] = event.val_acc
            say(f"trial {trial.number} ({run}) epoch {event.epoch}/{event.epochs}: val {100 * event.val_acc:.2f}%")
            try:
                trial.report(float(event.val_acc), event.epoch)
                prune = event.epoch < event.epochs and trial.should_prune()
            except Exception:  # noqa: BLE001 - the study finished this trial under us (failed as stale): let it go
                last["lost"] = True
                control.request_stop()
                return
            if prune:
                control.request_prune()

    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    say(f"trial {trial.number} ({run}) on {device}: {shown}" + (" - continuing its folder" if found == "resume" else ""))
    with _beating(study, trial), _passing_on(stop, control):
        try:
            result = fit(cfg, sink, control=control, resume=run_dir if found == "resume" else None,
                         resume_overrides={"device": device} if found == "resume" else None, progress_interval=30.0)
        except Exception as e:  # noqa: BLE001 - any setup error fails this trial in one line, never the worker
            trial.set_user_attr("error", (str(e).splitlines() or [type(e).__name__])[0][:300])
            _tell(study, trial, state=_state("FAIL"))
            return TrialOutcome(trial.number, run, "failed", None, 0)
    if last["lost"]:
        return TrialOutcome(trial.number, run, "lost", last["val"], result.epochs_completed)
    if result.status == RunStatus.COMPLETED and last["val"] is not None:
        _tell(study, trial, values=float(last["val"]))
        return TrialOutcome(trial.number, run, "complete", float(last["val"]), result.epochs_completed)
    if result.status == RunStatus.PRUNED:
        _tell(study, trial, state=_state("PRUNED"))
        return TrialOutcome(trial.number, run, "pruned", last["val"], result.epochs_completed)
    if stop.is_set():  # the worker was stopped (Ctrl-C, SIGTERM): hand the trial back, to continue next time
        _tell(study, trial, state=_state("FAIL"))
        retry_callback(unlimited=True)(study, study._storage.get_trial(trial._trial_id))
        return TrialOutcome(trial.number, run, "stopped", last["val"], result.epochs_completed)
    if result.status == RunStatus.STOPPED:  # this trial alone was stopped (runs stop, the app): the user ended it
        trial.set_user_attr("error", "stopped by a request (runs stop or the app); not retried")
        trial.set_user_attr("stopped", True)
    else:
        trial.set_user_attr("error", result.error or f"the run ended {result.status}")
    _tell(study, trial, state=_state("FAIL"))
    return TrialOutcome(trial.number, run, "stopped" if result.status == RunStatus.STOPPED else "failed", last["val"],
                        result.epochs_completed)


def _state(name: str):
    from optuna.trial import TrialState

    return TrialState[name]
