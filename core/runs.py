"""The run directory: ``<run_dir>/<name>/`` with config.json, metrics.jsonl, run.json, last.pt, final.pt.

- ``config.json``: the TrainConfig and what the data turned out to be (written once, atomically).
- ``metrics.jsonl``: one row per finished epoch, appended and fsynced.
- ``run.json``: a status summary (status, epochs done, accuracies, times), rewritten atomically.
- ``last.pt``: everything an exact resume needs; ``final.pt``: the trained weights.
- ``events.jsonl``: the event stream viewers follow (core.event_log); ``control.json``: requests to the owner
  (core.remote); ``run.lock``: held by the owner (core.run_lock); ``launch.json`` + ``log.txt``: a background run's
  request and console output.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import append_line, atomic_write_bytes, atomic_write_json, remove_stale_temps
from .run_files import CONFIG, ERROR_LOG, FINAL, LAST, LAUNCH, LOG, METRICS, STATUS, SWEEP_SPEC  # noqa: F401 - re-exported
from .errors import UserError
from .events import RunStatus
from .event_log import STALE_AFTER, last_write_time
from .run_lock import last_owner, lock_holder

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


def checkpoint_owner(path: str | Path) -> str:
    """The run a checkpoint belongs to: its folder's name for a run's own files (final.pt, last.pt,
    epoch_NNNN.pt), else the file's stem; a run folder names itself."""
    p = Path(path)
    if p.name in (FINAL, LAST) or (p.name.startswith("epoch_") and p.suffix == ".pt"):
        return p.parent.name
    return p.name if p.is_dir() else p.stem


def default_run_name(cfg: Any) -> str:
    """<arch>-<dataset>-<time>; a run started from another run's weights: <parent>-ft-<dataset>-<time>."""
    stem = f"{checkpoint_owner(cfg.init_from)}-ft" if cfg.init_from else cfg.arch
    return f"{stem}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(parent: str | Path, name: str, explicit: bool) -> Path:
    """Make a fresh run directory. An explicit name that exists is an error; a generated one gets a suffix."""
    base = Path(parent).expanduser()
    path = base / name
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if explicit:
            raise UserError(f"--name {name}: {path} already exists; continue it with --resume {path} or pick another name")
        i = 2
        while (base / f"{name}-{i}").exists():
            i += 1
        path = base / f"{name}-{i}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"--run-dir {base}: cannot write a run directory there ({e.strerror or e})") from None
    return path


def is_run_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG).is_file() and ((p / LAST).is_file() or (p / FINAL).is_file())


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    atomic_write_json(run_dir / CONFIG, config)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    append_line(run_dir / METRICS, json.dumps(row, sort_keys=True))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl; a torn last line (a crash mid-append) is ignored."""
    path = Path(run_dir) / METRICS
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def truncate_metrics(run_dir: Path, epochs_done: int) -> list[dict[str, Any]]:
    """Keep exactly one row per finished epoch 1..epochs_done (drops rows a crash left past the checkpoint)."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in read_metrics(run_dir):
        e = row.get("epoch")
        if isinstance(e, int) and 1 <= e <= epochs_done:
            by_epoch[e] = row
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    atomic_write_bytes(run_dir / METRICS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())
    return rows


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    atomic_write_json(run_dir / STATUS, status)


def clean_temps(run_dir: Path) -> None:
    remove_stale_temps(run_dir)


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
    sweep: str | None = None  # the sweep folder it belongs to (core.sweep), None for a run on its own

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
