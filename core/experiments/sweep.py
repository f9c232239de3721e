"""A sweep: a grid of training options times K seeds, every point a run in the sweep's own folder.

    RUNS/<name>/sweep.json     the spec: grid (option -> values, in the order given), the options fixed for
                               every point, the preset and config-file values, seeds; plus the points' run names
    RUNS/<name>/summary.json   per config: final test accuracy as mean and std over its seeds with n, time, img/s
    RUNS/<name>/<point>/       one ordinary run folder per (config, seed)
    RUNS/<name>/run.lock       held by the process that runs the sweep (one at a time)

The spec is the sweep's identity: the same command run again continues the folder (finished runs are kept,
interrupted ones resume); another spec under the same name is refused. Torch-free (listing reads this).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json
from core.config.presets import PRESETS
from core.config.train_config import TrainConfig
from core.errors import UserError
from core.runs import catalog, layout
from core.runs.events import RunStatus
from core.runs.layout import SWEEP_SPEC, SWEEP_SUMMARY

SPEC_KEYS = ("grid", "fixed", "preset", "from_file", "seeds", "first_seed")  # what makes two sweeps the same


@dataclass(frozen=True)
class Point:
    values: dict[str, Any]  # this config's grid values (the seed apart)
    seed: int

    @property
    def label(self) -> str:
        return config_label(self.values)

    @property
    def run(self) -> str:
        """The run folder's name: the grid values (the architecture bare), then the seed."""
        parts = [str(v) if k == "arch" else f"{k}{_short(v)}" for k, v in self.values.items()] + [f"seed{self.seed}"]
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", "_".join(parts))


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_label(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in values.items()) or "(one config)"


def expand(grid: dict[str, list[Any]], seeds: int, first_seed: int = 0) -> list[Point]:
    """Every combination of the grid's values (the first option varies slowest), each with ``seeds`` seeds."""
    combos: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combos = [{**c, key: v} for c in combos for v in values]
    return [Point(c, first_seed + i) for c in combos for i in range(seeds)]


def make_spec(name: str, grid: dict[str, list[Any]], fixed: dict[str, Any], seeds: int, first_seed: int = 0,
              preset: str | None = None, from_file: dict[str, Any] | None = None) -> dict[str, Any]:
    if seeds < 1:
        raise UserError(f"--seeds must be 1 or more (got {seeds})")
    from core.config.train_config import MAX_SEED

    if 0 <= first_seed <= MAX_SEED < first_seed + seeds - 1:
        raise UserError(f"--seed {first_seed} with --seeds {seeds} goes past the largest seed, {MAX_SEED}; "
                        f"start at --seed {MAX_SEED - seeds + 1} or lower")
    for key, values in grid.items():
        if not values:
            raise UserError(f"--{key.replace('_', '-')}: the grid needs at least one value")
        if len(set(map(repr, values))) != len(values):
            raise UserError(f"--{key.replace('_', '-')}: a value is listed twice ({', '.join(map(_short, values))})")
    if not any(len(v) > 1 for v in grid.values()) and seeds < 2:
        raise UserError("nothing to sweep: give an option as a comma list (e.g. --lr 0.05,0.1) or --seeds 2 or more")
    spec = {"v": 1, "name": name, "grid": grid, "fixed": fixed, "preset": preset, "from_file": from_file or {},
            "seeds": seeds, "first_seed": first_seed}
    spec["runs"] = [p.run for p in expand(grid, seeds, first_seed)]
    return spec


def points(spec: dict[str, Any]) -> list[Point]:
    return expand(spec["grid"], int(spec["seeds"]), int(spec.get("first_seed", 0)))


def point_config(spec: dict[str, Any], point: Point, folder: Path) -> TrainConfig:
    """The run's settings: defaults, the preset, the config file's values, the fixed options, then the point."""
    base = TrainConfig(**PRESETS[spec["preset"]].values) if spec.get("preset") else TrainConfig()
    return base.replace(**spec.get("from_file", {})).replace(**spec["fixed"]).replace(
        **point.values, seed=point.seed, name=point.run, runs_dir=str(folder))


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_SPEC).is_file()


def read_spec(folder: str | Path) -> dict[str, Any]:
    spec = layout.read_json(Path(folder) / SWEEP_SPEC)
    if spec is None or not isinstance(spec.get("grid"), dict):
        raise UserError(f"{folder} is not a sweep folder (no readable {SWEEP_SPEC})")
    return spec


def _canonical(spec: dict[str, Any]) -> dict[str, Any]:
    """What makes two specs the same sweep: the grid as sets of values (the order given does not matter; the
    folder keeps the first command's order), then the other SPEC_KEYS as they are."""
    grid = spec.get("grid") or {}
    return {**{k: spec.get(k) for k in SPEC_KEYS}, "grid": {k: sorted(map(repr, v)) for k, v in grid.items()}}


def _values(values: Any) -> str:
    return ",".join(map(_short, values)) if isinstance(values, list) else _short(values)


def spec_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How ``new`` differs from ``old``, option by option: ['--lr 0.05,0.1 (this sweep has 0.01,0.1)', ...]."""
    said: list[str] = []
    a, b = _canonical(old), _canonical(new)
    for part, what in (("grid", "values"), ("fixed", "value"), ("from_file", "config-file value")):
        before, now = old.get(part) or {}, new.get(part) or {}
        for key in sorted(set(before) | set(now), key=str):
            if (a[part] or {}).get(key) == (b[part] or {}).get(key):
                continue
            flag = f"--{str(key).replace('_', '-')}"
            has = f"this sweep has {_values(before[key])}" if key in before else f"this sweep has no {what} for it"
            said.append(f"{flag} {_values(now[key])} ({has})" if key in now else f"{flag} not given ({has})")
    for key, flag in (("preset", "--preset"), ("seeds", "--seeds"), ("first_seed", "--seed")):
        if old.get(key) != new.get(key):
            said.append(f"{flag} {new.get(key)} (this sweep has {old.get(key)})")
    return said


def open_sweep(folder: Path, spec: dict[str, Any]) -> bool:
    """Create the sweep's folder with its spec, or check that the one there is this spec. True: it existed.

    A sweep folder whose spec differs but where no run was ever started (its first point failed to start:
    a device or data problem) takes the new spec: nothing of it would be lost."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} exists and is not a folder")
    if is_sweep_dir(folder):
        old = read_spec(folder)
        if _canonical(old) == _canonical(spec):
            return True
        from core.runs.lock import lock_holder

        if any((folder / r).exists() for r in old.get("runs", [])) or lock_holder(folder) is not None:
            said = spec_differences(old, spec) or ["its spec"]
            raise UserError(f"{folder} holds a sweep made by another command: {'; '.join(said[:3])}"
                            f"{'; ...' if len(said) > 3 else ''}. Run its own command again to continue it, "
                            f"or pick another --name")
    elif folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"{folder} already exists and is not a sweep; pick another --name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / SWEEP_SPEC, {**spec, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    except OSError as e:
        raise UserError(f"cannot write the sweep folder {folder}: {e.strerror or e}") from None
    return False


# Settings that may differ from the sweep's without changing what a run measures: where and how it ran.
NOT_COMPARED = frozenset({"name", "runs_dir", "device", "compile", "compile_mode", "keep_last", "chosen", "tensorboard"})
PATHS = ("data", "init_from", "weights")


def point_drift(run_dir: Path, cfg: TrainConfig) -> list[str]:
    """How the run in ``run_dir`` was set up differently from its point's ``cfg`` (it was resumed or made outside
    the sweep, e.g. `train --resume RUN --epochs 13`): ["epochs 13 (the sweep's 15)", ...]; [] when it matches
    or has no readable config."""
    import os

    train = (layout.read_json(run_dir / "config.json") or {}).get("train")
    if not isinstance(train, dict):
        return []
    want = cfg.to_dict()
    said = []
    for key, value in want.items():
        if key in NOT_COMPARED or key not in train or (key == "data" and want.get("dataset") == "synthetic"):
            continue
        if key == "batch_size" and want.get("auto_batch_size"):
            continue  # the run records the batch it found
        have = train[key]
        if key in PATHS and value and have:
            value, have = os.path.abspath(os.path.expanduser(value)), os.path.abspath(os.path.expanduser(have))
        if have != value and not (isinstance(have, list) and tuple(have) == tuple(value or ())):
            said.append(f"{key} {_values(have)} (the sweep's {_values(value)})")
    return said


def point_state(run_dir: Path) -> str:
    """What running the sweep does with a point: start it, resume it, keep it (completed / failed), or wait
    for it (live: something else trains it)."""
    s = catalog.summarize(run_dir) if run_dir.is_dir() else None
    if s is None:
        return "start"
    if s.live:
        return "live"
    if s.status == RunStatus.COMPLETED:
        return "completed"
    if s.status == RunStatus.FAILED and layout.is_run_dir(run_dir):
        return "failed"
    return "resume" if layout.is_run_dir(run_dir) else "restart"  # no checkpoint yet: nothing to resume from


def summary(folder: str | Path) -> list[dict[str, Any]]:
    """One row per config, in the grid's order: its seeds' final test accuracy (mean, sample std, n), mean
    training time and img/s over the completed runs, and how many runs are completed / failed / pending."""
    folder = Path(folder)
    spec = read_spec(folder)
    rows: dict[str, dict[str, Any]] = {}
    for p in points(spec):
        row = rows.setdefault(p.label, {"label": p.label, "config": p.values, "runs": [], "accs": [], "secs": [],
                                        "ips": [], "completed": 0, "failed": 0, "pending": 0, "changed": []})
        row["runs"].append(p.run)
        if point_drift(folder / p.run, point_config(spec, p, folder)):
            row["changed"].append(p.run)
        status = layout.read_json(folder / p.run / layout.STATUS) or {}
        if status.get("status") == RunStatus.COMPLETED:
            row["completed"] += 1
            if isinstance(status.get("final_test_acc"), (int, float)):
                row["accs"].append(float(status["final_test_acc"]))
            for key, out in (("train_seconds", "secs"), ("images_per_sec", "ips")):
                if isinstance(status.get(key), (int, float)):
                    row[out].append(float(status[key]))
        elif status.get("status") == RunStatus.FAILED:
            row["failed"] += 1
        else:
            row["pending"] += 1
    out = []
    for row in rows.values():
        accs = row.pop("accs")
        secs, ips = row.pop("secs"), row.pop("ips")
        out.append({**row, "n": len(accs), "mean": statistics.fmean(accs) if accs else None,
                    "std": statistics.stdev(accs) if len(accs) > 1 else None,
                    "train_seconds": statistics.fmean(secs) if secs else None,
                    "images_per_sec": statistics.fmean(ips) if ips else None})
    return out


def write_summary(folder: str | Path) -> list[dict[str, Any]]:
    rows = summary(folder)
    atomic_write_json(Path(folder) / SWEEP_SUMMARY, {"rows": rows, "updated": time.time()})
    return rows


def mean_std_text(row: dict[str, Any]) -> str:
    """'91.23 ± 0.41 % (n=3)'; one seed has no spread: '91.23 % (n=1)'; none finished: '-'."""
    if row.get("mean") is None:
        return "-"
    std = row.get("std")
    spread = f" ± {100 * std:.2f}" if std is not None and math.isfinite(std) else ""
    return f"{100 * row['mean']:.2f}{spread} % (n={row['n']})"
