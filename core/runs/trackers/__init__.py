"""Experiment trackers a run also logs to: MLflow and Weights & Biases (``--log mlflow[:URI],wandb``).

metrics.jsonl stays the run's record; a tracker gets a copy, written by the RunStore while it owns the run, and
is never allowed to hurt it: a tracker that fails (no server, a bad URI, no key, a full disk) is one notice,
and the run goes on without it. The packages are an optional extra (``uv sync --extra tracking``): the spec is
parsed and the packages looked for without importing them (config validation stays torch- and mlflow-free).

Each tracker keeps what it needs to continue (MLflow's run id and store, W&B's run id) in RUN/trackers.json,
so a resumed run continues the same tracker run instead of starting a new one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

KINDS = ("mlflow", "wandb")
PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}
HOW_TO_ADD = "add it with `uv sync --extra tracking` (or `pip install 'resnet-tui[tracking]'`)"
STATE_FILE = "trackers.json"


@dataclass(frozen=True)
class TrackerSpec:
    kind: str  # "mlflow" | "wandb"
    uri: str = ""  # mlflow: the tracking URI ("" = MLFLOW_TRACKING_URI, else a store in the runs folder)


def parse_log(text: str) -> list[TrackerSpec]:
    """``"mlflow,wandb"``, ``"mlflow:http://host:5000"`` -> specs; ValueError says what is allowed."""
    specs: list[TrackerSpec] = []
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        kind, _, uri = item.partition(":")
        if kind not in KINDS:
            raise ValueError(f"must be mlflow, mlflow:URI or wandb, comma-separated (got {item!r})")
        if kind == "wandb" and uri:
            raise ValueError(f"wandb takes no URI: its project and mode come from WANDB_* settings (got {item!r})")
        if any(s.kind == kind for s in specs):
            raise ValueError(f"{kind} is given twice")
        specs.append(TrackerSpec(kind, uri))
    return specs


def missing(specs: list[TrackerSpec]) -> list[str]:
    """The trackers whose package is not installed (found without importing it)."""
    return [s.kind for s in specs if importlib.util.find_spec(PACKAGES[s.kind]) is None]


def log_errors(text: str) -> list[str]:
    """What is wrong with a --log value, in words (for core.config.validate); [] when it can be used."""
    try:
        specs = parse_log(text)
    except ValueError as e:
        return [str(e)]
    absent = missing(specs)
    if absent:
        return [f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed: {HOW_TO_ADD}"]
    return []
