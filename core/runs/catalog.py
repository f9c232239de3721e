"""Which runs a folder holds and how each stands: its owner (from the lock), its status and progress,
summarised for `runs list`, the app's runs screen and the watchers. Torch-free."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.runs.event_log import STALE_AFTER, last_write_time
from core.runs.events import RunStatus
from core.runs.layout import CONFIG, LAUNCH, LOG, SEARCH_SPEC, STATUS, SWEEP_SPEC, read_json
from core.runs.lock import last_owner, lock_holder

STARTING = "starting"  # a background run launched but not yet past its data loading (never written, only read)
STALLED = "stalled"  # a live run (its lock held) that has made no training progress for a while (core.runs.stall)
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
    note: str | None = None  # why it is stalled, or the last line of a launch that failed to start

    @property
    def label(self) -> str:
        """How lists name it: sweep/run inside a sweep (also a path relative to the runs folder)."""
        return f"{self.sweep}/{self.name}" if self.sweep else self.name

    @property
    def live(self) -> bool:
        return self.status in (RunStatus.RUNNING, STARTING, STALLED)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists and is not a zombie (a launcher that has not reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _launch_died(launch: dict[str, Any]) -> bool:
    """The launched child (its pid recorded by tui.cli.launch) is gone: it can no longer take the lock."""
    pid = launch.get("pid")
    return isinstance(pid, int) and launch.get("host") == socket.gethostname() and not process_alive(pid)


def _last_log_line(run_dir: Path) -> str | None:
    """The last non-empty line of the run's log.txt: what a child that died at start said last."""
    try:
        with open(run_dir / LOG, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 4096))
            lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def _launched(run_dir: Path, who: dict[str, Any] | None) -> RunSummary | None:
    """A background run between its launch and its config.json: starting, or failed to start (its child died, or
    it took longer than LAUNCH_GRACE to take the lock)."""
    launch = read_json(run_dir / LAUNCH)
    if launch is None:
        return None
    train_cfg = launch.get("config") or {}
    fresh = time.time() - float(launch.get("time", 0)) < LAUNCH_GRACE and not _launch_died(launch)
    starting = who is not None or fresh
    return RunSummary(
        path=run_dir, name=run_dir.name, arch=str(train_cfg.get("arch", "?")), dataset=str(train_cfg.get("dataset", "?")),
        status=STARTING if starting else RunStatus.FAILED, epochs_done=0,
        epochs=int(train_cfg.get("epochs", 0) or 0), best_val_acc=None, final_test_acc=None,
        updated=float(launch.get("time", 0)), host=(who or {}).get("host") or launch.get("host"),
        pid=(who or {}).get("pid") or launch.get("pid"), note=None if starting else f"failed to start: {_last_log_line(run_dir) or 'its log.txt is empty'}",
    )


def _relaunch(run_dir: Path, status: dict[str, Any]) -> str | None:
    """A background resume launched after the run's last status: STARTING while it may still take the lock,
    FAILED when its child died first; None when there is none."""
    launch = read_json(run_dir / LAUNCH)
    if not launch or not launch.get("resume"):
        return None
    t = float(launch.get("time", 0) or 0)
    if t <= float(status.get("updated", 0) or 0):
        return None
    if _launch_died(launch):
        return RunStatus.FAILED
    return STARTING if time.time() - t < LAUNCH_GRACE else None


def summarize(run_dir: Path, stall: bool = True) -> RunSummary | None:
    """How ``run_dir`` stands; ``stall=False`` leaves out the stall check (it reads the stream's tail), for a
    follower that polls several times a second and checks it less often."""
    cfg = read_json(run_dir / CONFIG)
    who = owner(run_dir)
    if cfg is None:
        return _launched(run_dir, who)
    st = read_json(run_dir / STATUS) or {}
    train_cfg = cfg.get("train", cfg)
    status = str(st.get("status", "unknown"))
    relaunch = _relaunch(run_dir, st) if who is None else None
    note = None
    if relaunch == STARTING:
        status = STARTING  # resumed in the background a moment ago; its process is still starting
    elif relaunch == RunStatus.FAILED:
        status, note = RunStatus.FAILED, f"its resume failed to start: {_last_log_line(run_dir) or 'its log.txt is empty'}"
    elif status == RunStatus.RUNNING and who is None:
        status = RunStatus.INTERRUPTED  # its process died (killed, crashed, power loss) without a word
    elif who is not None and status != RunStatus.RUNNING:
        status = RunStatus.RUNNING  # resumed, its new session still loading: run.json tells the last session's end
    if stall and status == RunStatus.RUNNING and who is not None:
        from core.runs.stall import describe_stall, progress

        p = progress(run_dir, float(train_cfg.get("stall_after", 0) or 0), who.get("since"))
        if p.stalled():
            status, note = STALLED, describe_stall(p)
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
        note=note,
    )


def list_runs(parent: str | Path) -> list[RunSummary]:
    """Runs under ``parent``, newest first; the runs of a sweep or search folder (one with sweep.json or
    search.json) are listed too, with ``sweep`` set to the folder's name."""
    import dataclasses

    base = Path(parent).expanduser()
    if not base.is_dir():
        return []
    found: list[RunSummary] = []
    for d in base.iterdir():
        if not d.is_dir():
            continue
        if (d / SWEEP_SPEC).is_file() or (d / SEARCH_SPEC).is_file():
            found += [dataclasses.replace(s, sweep=d.name) for c in d.iterdir() if c.is_dir() and (s := summarize(c))]
        elif (s := summarize(d)) is not None:
            found.append(s)
    return sorted(found, key=lambda s: s.updated, reverse=True)
