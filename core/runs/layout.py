"""The run folder's layout: ``<run_dir>/<name>/`` with config.json, metrics.jsonl, run.json, last.pt, final.pt.

- ``config.json``: the TrainConfig and what the data turned out to be (written once, atomically).
- ``metrics.jsonl``: one row per finished epoch, appended and fsynced.
- ``run.json``: a status summary (status, epochs done, accuracies, times), rewritten atomically.
- ``last.pt``: everything an exact resume needs; ``final.pt``: the trained weights.
- ``events.jsonl``: the event stream viewers follow (core.runs.event_log); ``control.json``: requests to the owner
  (core.runs.control_file); ``run.lock``: held by the owner (core.runs.lock); ``launch.json`` + ``log.txt``: a background run's
  request and console output.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.atomic import append_line, atomic_write_bytes, atomic_write_json, remove_stale_temps
from core.errors import UserError

# The names of the files in a run folder, in one torch-free place (listing runs must not import torch).
CONFIG, METRICS, STATUS, ERROR_LOG = "config.json", "metrics.jsonl", "run.json", "error.log"
LAST, FINAL = "last.pt", "final.pt"
EPOCH_FILE = "epoch_{:04d}.pt"  # kept copies of last.pt at epoch ends (--keep-last K)
LAUNCH, LOG = "launch.json", "log.txt"  # a background run's request and console output
SWEEP_SPEC, SWEEP_SUMMARY = "sweep.json", "summary.json"  # a sweep folder's spec and summary (core.experiments.sweep)
SEARCH_SPEC = "search.json"  # a search folder's spec (core.experiments.search); its trials are runs in it, like a sweep's


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


def launch_folder(path: Path) -> Path:
    """The folder a launched run trains in: it must exist and not hold a run yet."""
    if not path.is_dir():
        raise UserError(f"{path}: no such folder to train in")
    if (path / CONFIG).exists():
        raise UserError(f"{path} already holds a run; continue it with --resume {path}")
    return path.resolve()
