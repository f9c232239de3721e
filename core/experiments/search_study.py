"""The Optuna side of a search: its storage, study, sampler and pruner, and how a worker gets its next trial.

The storage is shared by every worker process and machine of the search. RDB storages (SQLite, PostgreSQL,
MySQL) carry Optuna's heartbeat: a trial whose worker stops beating for GRACE seconds is failed and retried
with the same params (RetryFailedTrialCallback). On this machine a dead worker is seen at once (its pid is
gone), with any storage. A retried trial continues its original's run folder from its checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

from core.errors import UserError
from core.runs.catalog import process_alive

HEARTBEAT, GRACE = 10, 60  # seconds: a worker's beat, and the silence after which another worker fails its trial
MAX_RETRY = 3  # a trial whose worker died is tried again this many times (its folder resumed), then stays failed
JOURNAL = "journal:"


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Optuna's heartbeat is written for Study.optimize; the workers ask and tell, and beat themselves (search_trial)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


@contextlib.contextmanager
def _no_experimental_warning() -> Iterator[None]:
    """Optuna marks its retry helpers experimental (since 2.8): said once per call, to nobody's use."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def retry_callback(unlimited: bool = False):
    """Queue a failed trial again with its params. A dead worker's trial is retried MAX_RETRY times (a trial
    that kills its worker each time must end); one handed back by a stopped worker (Ctrl-C) always is."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with _no_experimental_warning():
        return RetryHeartbeatStaleTrialCallback(max_retry=None if unlimited else MAX_RETRY)


def open_storage(url: str):
    """Optuna storage for ``url``: an RDB URL (sqlite:///..., postgresql://...), or journal:PATH (a journal file,
    for a shared filesystem where SQLite's locks are not to be trusted). One-line UserError if it cannot open."""
    _quiet()
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        if url.startswith(JOURNAL):
            path = Path(url[len(JOURNAL):].removeprefix("//")).expanduser()
            if not path.parent.is_dir():
                raise UserError(f"--storage {url}: the folder {path.parent} does not exist")
            return JournalStorage(JournalFileBackend(str(path)))
        if "://" not in url:
            raise UserError(f"--storage {url!r} is not a storage URL: give sqlite:///PATH, postgresql://..., "
                            f"mysql://... or journal:PATH")
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        for attempt in range(6):
            try:
                return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT, grace_period=GRACE,
                                  heartbeat_stale_trial_callback=retry_callback())
            except Exception as e:  # noqa: BLE001
                # Two processes creating a new storage's tables at once: one wins, the other sees its rows.
                if attempt == 5 or not any(w in str(e) for w in ("UNIQUE constraint", "already exists", "locked")):
                    raise
                time.sleep(0.2 * (attempt + 1))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds; one line says which
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"--storage {url}: cannot open it ({first[:200]})") from None


def make_sampler(spec: dict[str, Any], drawn: int = 0):
    """The spec's sampler, seeded from --seed and the number of trials drawn before: made afresh for each trial
    (under the ask lock), so that two workers, or a search continued in a new process, never replay one
    random sequence and draw the same params twice, and a one-worker search is repeatable."""
    import optuna

    seed = (int(spec["seed"]) + 7919 * drawn) % 2**32
    if spec["sampler"] == "grid":
        from core.experiments.search_space import grid_of

        # One seed for every instance: it shuffles the grid, and a trial's grid_id indexes that shuffled list.
        return optuna.samplers.GridSampler(grid_of(spec["space"]), seed=int(spec["seed"]))
    if spec["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(spec: dict[str, Any], epochs: int):
    import optuna

    if spec["pruner"] == "none":
        return optuna.pruners.NopPruner()
    if spec["pruner"] == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    # Judged from a quarter of its epochs on (epoch 2 at the earliest): first epochs are too noisy to rank by.
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=max(2, round(epochs / 4)))


def open_study(spec: dict[str, Any], storage, epochs: int):
    """Create or load the study named after the search; a study of that name with another spec is refused."""
    import optuna

    from core.experiments.search import same_search, spec_differences

    study = optuna.create_study(study_name=spec["name"], storage=storage, direction="maximize", load_if_exists=True,
                                sampler=make_sampler(spec), pruner=make_pruner(spec, epochs))
    mine = {k: spec.get(k) for k in ("space", "fixed", "preset", "from_file", "sampler", "pruner", "seed")}
    theirs = study.user_attrs.get("spec")
    if theirs is None:
        study.set_user_attr("spec", mine)
    elif not same_search(theirs, mine):
        said = spec_differences(theirs, mine) or ["its spec"]
        raise UserError(f"the storage holds a study {spec['name']!r} with another space: {'; '.join(said[:3])}; "
                        f"pick another --name")
    return study


@contextlib.contextmanager
def asking(folder: Path) -> Iterator[None]:
    """One worker at a time counts the trials and asks for the next (on every machine that shares the folder)."""
    fd = os.open(folder / "ask.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def fail_dead_trials(study) -> list[int]:
    """Fail (and retry) the running trials whose worker is gone: on this machine by pid, elsewhere by heartbeat."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") != host or not isinstance(attrs.get("pid"), int) or process_alive(attrs["pid"]):
            continue
        try:
            if study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                failed.append(t.number)
                retry_callback()(study, study._storage.get_trial(t._trial_id))
        except Exception:  # noqa: BLE001 - another worker finished it first
            continue
    failed += _fail_stale_elsewhere(study, host)
    return failed


def _fail_stale_elsewhere(study, host: str) -> list[int]:
    """Optuna's heartbeat check (what fail_stale_trials does), for trials of other machines only: a trial of this
    machine whose worker lives is not failed for a late beat (a suspended laptop, a stopped job), and its
    worker's own death is seen by pid above."""
    storage = study._storage
    stale_ids = getattr(storage, "_get_stale_trial_ids", None)
    if stale_ids is None or storage.get_heartbeat_interval() is None:
        return []  # no heartbeat in this storage (journal)
    from optuna.trial import TrialState

    failed = []
    for trial_id in stale_ids(study._study_id):
        t = storage.get_trial(trial_id)
        if t.user_attrs.get("host") == host:
            continue
        try:
            if storage.set_trial_state_values(trial_id, TrialState.FAIL):
                failed.append(t.number)
                retry_callback()(study, storage.get_trial(trial_id))
        except Exception:  # noqa: BLE001 - finished meanwhile
            continue
    return failed


def retried_from(trial) -> int | None:
    """The first trial of the retries this one continues (None for a first try)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with _no_experimental_warning():
        return RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


def retried(trials) -> dict[int, int]:
    """{number of a trial that was retried: the number of its retry}."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    out: dict[int, int] = {}
    for t in sorted(trials, key=lambda t: t.number):
        with _no_experimental_warning():
            history = RetryHeartbeatStaleTrialCallback.retry_history(t)
        if history:
            out[history[-1]] = t.number  # the chain's newest before this one
    return out


def counted(trials) -> int:
    """Trials that use up the budget: finished, running, waiting, or failed by their own error. A trial failed
    because its worker died does not count once it has been retried: its retry does."""
    from optuna.trial import TrialState

    again = retried(trials)
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in again))


def budget_left(study, folder: Path, budget: int) -> bool:
    """Whether a worker would find a trial to run (after failing the dead ones): the budget not used up, or a
    retry waiting."""
    with asking(folder):
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        return counted(trials) < budget or any(t.state.name == "WAITING" for t in trials)


def next_trial(study, spec: dict[str, Any], folder: Path, budget: int):
    """The next trial to run (a waiting retry first), with its params drawn, or None when the budget is used."""
    from core.experiments.search_space import distributions

    with asking(folder):
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state.name == "WAITING" for t in trials)
        if counted(trials) >= budget and not waiting:
            return None
        study.sampler = make_sampler(spec, drawn=len(trials))
        trial = study.ask(fixed_distributions=distributions(spec["space"]))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        return trial
