"""A run in Weights & Biases: the same content as MLflow gets (config, per-epoch metrics at step = epoch, the
confusion matrix image, the final weights as a model artifact, tags). wandb is imported only here.

Offline by itself where it could not reach W&B: without an API key (WANDB_API_KEY or `wandb login`'s netrc) or
without a network path to the W&B host, it logs into RUN/wandb/offline-run-*/, and `wandb sync RUN/wandb/offline-run-*`
uploads it later. WANDB_MODE, WANDB_PROJECT (default "resnet-tui") and WANDB_ENTITY are honoured as W&B
documents them. A resumed run continues the same W&B run (its id is kept in RUN/trackers.json)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.runs.trackers import TrackerSpec
from core.runs.trackers.mlflow_log import metric_values

DEFAULT_PROJECT = "resnet-tui"


def has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    import netrc

    try:
        host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def reachable(timeout: float = 1.5) -> bool:
    """Whether the W&B host answers a TCP connection within ``timeout`` (no request is sent)."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    try:
        with socket.create_connection((url.hostname or "api.wandb.ai", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def choose_mode() -> str:
    """WANDB_MODE when set; else online with a key and a network path, offline otherwise."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if has_key() and reachable() else "offline"


class WandbTracker:
    kind = "wandb"

    def __init__(self, spec: TrackerSpec, runs_folder: Path, saved: dict[str, Any]) -> None:
        self.saved, self.run, self.last_step = saved, None, 0
        self.mode = saved.get("mode") or choose_mode()

    def start(self, *, name: str, params: dict[str, Any], tags: dict[str, str], experiment: str,
              run_dir: Path) -> dict[str, Any]:
        import wandb

        run_id = self.saved.get("run_id") or secrets.token_hex(4)  # W&B ids: [a-z0-9]
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT), dir=str(run_dir), id=run_id, resume="allow",
            mode=self.mode, name=name, group=experiment or None, config=params, job_type="train",
            tags=[f"{k}:{v}" for k, v in tags.items() if k != "resnet_tui.run_dir"],
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )
        return {"run_id": run_id, "mode": self.mode, "dir": str(Path(self.run.dir).parent)}

    def epoch(self, row: dict[str, Any]) -> None:
        self.last_step = int(row["epoch"])
        self.run.log(metric_values(row), step=self.last_step)

    def finish(self, status: str, confusion, weights: Path | None) -> None:
        import wandb

        if confusion is not None:
            self.run.log({"confusion_matrix": wandb.Image(confusion)}, step=self.last_step)
        if weights is not None:
            artifact = wandb.Artifact(f"{self.run.name}-model", type="model")
            artifact.add_file(str(weights), name="model.safetensors")
            self.run.log_artifact(artifact)
        self.run.finish(exit_code=0 if status == "completed" else 1)
        self.run = None

    def close(self) -> None:
        if self.run is not None:  # a session that ended without a finish (an interrupted process)
            self.run.finish(exit_code=1)
            self.run = None
