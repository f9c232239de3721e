"""Which runs a folder holds and how each stands: its owner (from the lock), its status and progress,
summarised for `runs list`, the app's runs screen and the watchers. Torch-free."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.runs.event_log import STALE_AFTER, last_write_time
from core.runs.events import RunStatus
from core.runs.layout import CONFIG, LAUNCH, STATUS, SWEEP_SPEC, read_json
from core.runs.lock import last_owner, lock_holder

STARTING = "starting"  # a background run launched but not yet past its data loading (never written, only read)
LAUNCH_GRACE = 120.0  # seconds a launched run may take to take its lock before it counts as failed to start


def owner(run_dir: str | Path) -> dict[str, Any] | None:
    """The live owner of a run (pid, host, since), or None when nobody trains it.

    The lock decides. Only for an owner on another host (a shared filesystem that may not carry
    locks between machines) does a fresh event stream count as life.
    """
    holder = lock_holder(run_dir)
    if holder is not None:
        return holder
    last = last_owner(run_dir)
    if last and last.get("host") != socket.gethostname():
        t = last_write_time(run_dir)
        if t is not None and time.time() - t < STALE_AFTER:
            return last
    return None


@dataclass(frozen=True)
class RunSummary:
    path: Path
    name: str
    arch: str
    dataset: str
    status: str
    epochs_done: int
    epochs: int
    best_val_acc: float | None
    final_test_acc: float | None
    updated: float  # unix time
    host: str | None = None  # where its owner runs (live runs) or last ran
    pid: int | None = None
    sweep: str | None = None  # the sweep folder it belongs to (core.experiments.sweep), None for a run on its own

    @property
    def label(self) -> str:
        """How lists name it: sweep/run inside a sweep (also a path relative to the runs folder)."""
        return f"{self.sweep}/{self.name}" if self.sweep else self.name

    @property
    def live(self) -> bool:
        return self.status in (RunStatus.RUNNING, STARTING)


def _launched(run_dir: Path, who: dict[str, Any] | None) -> RunSummary | None:
    """A background run between its launch and its config.json: starting, or failed to start."""
    launch = read_json(run_dir / LAUNCH)
    if launch is None:
        return None
    train_cfg = launch.get("config") or {}
    fresh = time.time() - float(launch.get("time", 0)) < LAUNCH_GRACE
    return RunSummary(
        path=run_dir, name=run_dir.name, arch=str(train_cfg.get("arch", "?")), dataset=str(train_cfg.get("dataset", "?")),
        status=STARTING if who is not None or fresh else RunStatus.FAILED, epochs_done=0,
        epochs=int(train_cfg.get("epochs", 0) or 0), best_val_acc=None, final_test_acc=None,
        updated=float(launch.get("time", 0)), host=(who or {}).get("host") or launch.get("host"),
        pid=(who or {}).get("pid") or launch.get("pid"),
    )


def _relaunched(run_dir: Path, status: dict[str, Any]) -> bool:
    """A background resume launched after the run's last status and recently enough to be still starting."""
    launch = read_json(run_dir / LAUNCH)
    if not launch or not launch.get("resume"):
        return False
    t = float(launch.get("time", 0) or 0)
    return t > float(status.get("updated", 0) or 0) and time.time() - t < LAUNCH_GRACE


def summarize(run_dir: Path) -> RunSummary | None:
    cfg = read_json(run_dir / CONFIG)
    who = owner(run_dir)
    if cfg is None:
        return _launched(run_dir, who)
    st = read_json(run_dir / STATUS) or {}
    train_cfg = cfg.get("train", cfg)
    status = str(st.get("status", "unknown"))
    if who is None and _relaunched(run_dir, st):
        status = STARTING  # resumed in the background a moment ago; its process is still starting
    elif status == RunStatus.RUNNING and who is None:
        status = RunStatus.INTERRUPTED  # its process died (killed, crashed, power loss) without a word
    elif who is not None and status != RunStatus.RUNNING:
        status = RunStatus.RUNNING  # resumed, its new session still loading: run.json tells the last session's end
    last = who or last_owner(run_dir) or {}
    return RunSummary(
        path=run_dir,
        name=run_dir.name,
        arch=str(train_cfg.get("arch", "?")),
        dataset=str(train_cfg.get("dataset", "?")),
        status=status,
        epochs_done=int(st.get("epochs_completed", 0) or 0),
        epochs=int(st.get("epochs", train_cfg.get("epochs", 0)) or 0),
        best_val_acc=st.get("best_val_acc"),
        final_test_acc=st.get("final_test_acc"),
        updated=float(st.get("updated", (run_dir / CONFIG).stat().st_mtime)),
        host=last.get("host"),
        pid=last.get("pid") if who is not None else None,
    )


def list_runs(parent: str | Path) -> list[RunSummary]:
    """Runs under ``parent``, newest first; the runs of a sweep folder (one with sweep.json) are listed too,
    with ``sweep`` set."""
    import dataclasses

    base = Path(parent).expanduser()
    if not base.is_dir():
        return []
    found: list[RunSummary] = []
    for d in base.iterdir():
        if not d.is_dir():
            continue
        if (d / SWEEP_SPEC).is_file():
            found += [dataclasses.replace(s, sweep=d.name) for c in d.iterdir() if c.is_dir() and (s := summarize(c))]
        elif (s := summarize(d)) is not None:
            found.append(s)
    return sorted(found, key=lambda s: s.updated, reverse=True)
