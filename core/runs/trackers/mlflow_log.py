"""A run in MLflow: its params once, each epoch's metrics.jsonl figures at step = epoch, and at the end the
confusion matrix image and the final weights (safetensors). MLflow is imported only here, when a run logs to it.

The store: ``mlflow:URI`` if given, else MLFLOW_TRACKING_URI, else MLflow's own SQLite default placed in the runs
folder (``sqlite:///RUNS/mlflow.db``, artifacts in RUNS/mlartifacts/): no server needed, and
``mlflow ui --backend-store-uri sqlite:///RUNS/mlflow.db`` shows it. A run of a sweep or a search goes into one
experiment named after it (one experiment per sweep: MLflow compares runs within an experiment, and a
parent run would need one process to own it while the sweep's workers come and go); a run of its own goes into
the experiment "resnet-tui".
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from core.runs.trackers import TrackerSpec

DEFAULT_EXPERIMENT = "resnet-tui"
MAX_PARAM = 6000  # MLflow's limit on a param's value


def default_uri(runs_folder: Path) -> str:
    return f"sqlite:///{runs_folder.resolve() / 'mlflow.db'}"


def metric_values(row: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics.jsonl row, by their names there (the confusion matrix and lists left out)."""
    return {k: float(v) for k, v in row.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class MlflowTracker:
    kind = "mlflow"

    def __init__(self, spec: TrackerSpec, runs_folder: Path, saved: dict[str, Any]) -> None:
        import logging

        from mlflow.tracking import MlflowClient

        # A server that is down must not hold the run for MLflow's default 7 retries x 2 s backoff x 120 s timeouts:
        # a few seconds, then the tracker is dropped with a notice (the user's own settings win).
        for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "10"),
                            ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")):
            os.environ.setdefault(name, value)
        for noisy in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." is not the run's news
            logging.getLogger(noisy).setLevel(logging.WARNING)

        self.local = not (saved.get("uri") or spec.uri or os.environ.get("MLFLOW_TRACKING_URI"))
        self.uri = saved.get("uri") or spec.uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(runs_folder)
        self.runs_folder = runs_folder
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id: str | None = saved.get("run_id")

    def start(self, *, name: str, params: dict[str, Any], tags: dict[str, str], experiment: str,
              run_dir: Path) -> dict[str, Any]:
        """Create the MLflow run (params logged once) or continue the saved one; what to save to continue it."""
        if self.run_id is not None:
            self.client.update_run(self.run_id, status="RUNNING")
            return {"uri": self.uri, "run_id": self.run_id}
        from mlflow.entities import Param

        experiment = experiment or DEFAULT_EXPERIMENT
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            where = (self.runs_folder.resolve() / "mlartifacts" / experiment).as_uri() if self.local else None
            experiment_id = self.client.create_experiment(experiment, artifact_location=where)
        run = self.client.create_run(experiment_id, tags=tags, run_name=name)
        self.run_id = run.info.run_id
        items = [Param(k, str(v)[:MAX_PARAM]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100], synchronous=True)
        return {"uri": self.uri, "run_id": self.run_id}

    def epoch(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        stamp, step = int(time.time() * 1000), int(row["epoch"])
        metrics = [Metric(k, v, stamp, step) for k, v in metric_values(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics, synchronous=True)

    def finish(self, status: str, confusion, weights: Path | None) -> None:
        """``confusion``: an RGB (H, W, 3) uint8 array or None; ``weights``: a safetensors file or None."""
        if confusion is not None:
            self.client.log_image(self.run_id, confusion, artifact_file="confusion_matrix.png")
        if weights is not None:
            self.client.log_artifact(self.run_id, str(weights), artifact_path="model")
        state = {"completed": "FINISHED", "failed": "FAILED"}.get(status, "KILLED")
        self.client.set_terminated(self.run_id, status=state)
