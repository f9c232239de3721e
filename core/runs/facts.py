"""Everything recorded about one run, gathered from its folder for comparing and reporting (torch-free).

The compare view, `report`, `runs list --csv` and the sweep summary read runs through here, so they agree
on what "final test accuracy", "time" or "parameters" mean. A run's files may be missing or torn (a
background run still starting, an old run); every field then is None, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.runs import catalog, layout, lock


@dataclass(frozen=True)
class RunFacts:
    path: Path
    name: str  # SWEEP/RUN inside a sweep folder, else the folder's name
    status: str
    config: dict[str, Any]  # the TrainConfig as recorded ({} when none yet)
    classes: list[str]
    metrics: list[dict[str, Any]]  # metrics.jsonl, one row per finished epoch
    final_test_acc: float | None
    best_val_acc: float | None
    epochs_done: int
    epochs: int
    train_seconds: float | None
    images_per_sec: float | None
    params: int | None
    hardware: dict[str, Any] = field(default_factory=dict)  # device, precision, processes, torch, host, gpu

    @property
    def arch(self) -> str:
        return str(self.config.get("arch", "?"))

    def curve(self, key: str) -> tuple[list[int], list[float]]:
        """(epochs, values) of a metrics column, skipping epochs without it (e.g. no val split)."""
        xs, ys = [], []
        for row in self.metrics:
            value = row.get(key)
            if isinstance(row.get("epoch"), int) and isinstance(value, (int, float)):
                xs.append(row["epoch"])
                ys.append(float(value))
        return xs, ys

    @property
    def last_confusion(self) -> tuple[list[list[int]], str] | None:
        """The newest epoch's confusion matrix and its split ("test" or "val")."""
        for row in reversed(self.metrics):
            if isinstance(row.get("confusion"), list):
                return row["confusion"], str(row.get("eval_split", "test"))
        return None


def _params_from_events(run_dir: Path) -> int | None:
    """Older runs' config.json lacks the parameter count; their event stream's start has it."""
    from core.runs.event_log import read_events

    try:
        for record in read_events(run_dir):
            n = getattr(record.event, "num_params", None)
            if isinstance(n, int):
                return n
    except (OSError, ValueError):
        return None
    return None


def run_facts(run_dir: str | Path, name: str | None = None) -> RunFacts:
    path = Path(run_dir)
    cfg = layout.read_json(path / layout.CONFIG) or {}
    st = layout.read_json(path / layout.STATUS) or {}
    summary = catalog.summarize(path)
    train = cfg.get("train", {}) if isinstance(cfg.get("train"), dict) else {}
    params = cfg.get("params") if isinstance(cfg.get("params"), int) else _params_from_events(path)
    last = lock.last_owner(path) or {}
    hardware = {"device": cfg.get("device"), "precision": cfg.get("precision"), "processes": cfg.get("processes", 1),
                "torch": cfg.get("torch_version"), "host": last.get("host"), **(cfg.get("hardware") or {})}

    def number(key: str) -> float | None:
        value = st.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return RunFacts(
        path=path, name=name or (f"{path.parent.name}/{path.name}" if (path.parent / layout.SWEEP_SPEC).is_file() else path.name),
        status=summary.status if summary else "unknown", config=train,
        classes=[str(c) for c in cfg.get("classes", [])], metrics=layout.read_metrics(path),
        final_test_acc=number("final_test_acc"), best_val_acc=number("best_val_acc"),
        epochs_done=int(st.get("epochs_completed", 0) or 0), epochs=int(st.get("epochs", train.get("epochs", 0)) or 0),
        train_seconds=number("train_seconds"), images_per_sec=number("images_per_sec"), params=params,
        hardware={k: v for k, v in hardware.items() if v is not None},
    )


def config_diff(facts: list[RunFacts]) -> list[tuple[str, list[Any]]]:
    """The config keys whose values are not the same in every run: [(key, [value per run])], sorted by key.
    A key a run lacks (an older run) shows as None there."""
    keys = sorted({k for f in facts for k in f.config})
    out = []
    for key in keys:
        if key == "data" and all(f.config.get("dataset") == "synthetic" for f in facts):
            continue  # synthetic data reads no folder: where each run was started from says nothing
        values = [f.config.get(key) for f in facts]
        if any(v != values[0] for v in values[1:]):
            out.append((key, values))
    return out
