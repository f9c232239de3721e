"""One training session's trackers: opened when the session starts, fed each finished epoch's metrics.jsonl row,
finished when the run ends. Every call is guarded: a tracker that raises is one notice and is dropped, and the
run goes on (the run is never lost for a logger)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Callable

from core.atomic import atomic_write_json
from core.runs import layout
from core.runs.trackers import STATE_FILE, TrackerSpec, parse_log

NOT_PARAMS = frozenset({"runs_dir", "name", "tensorboard", "log"})  # config fields that say nothing about training


def group_of(run_dir: Path) -> tuple[str, Path]:
    """(the sweep's or search's name, or "", the runs folder): a run inside a sweep or search folder belongs to it."""
    parent = run_dir.parent
    if (parent / layout.SWEEP_SPEC).is_file() or (parent / layout.SEARCH_SPEC).is_file():
        return parent.name, parent.parent
    return "", parent


def open_tracker(spec: TrackerSpec, runs_folder: Path, saved: dict[str, Any]):
    if spec.kind == "mlflow":
        from core.runs.trackers.mlflow_log import MlflowTracker

        return MlflowTracker(spec, runs_folder, saved)
    from core.runs.trackers.wandb_log import WandbTracker

    return WandbTracker(spec, runs_folder, saved)


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class Trackers:
    def __init__(self, run_dir: Path, notify: Callable[[str], None]) -> None:
        self.run_dir, self.notify = Path(run_dir), notify
        self.open: list[Any] = []

    @classmethod
    def of_run(cls, run_dir: Path, setup: Any, notify: Callable[[str], None]) -> "Trackers":
        """Start (or continue, on a resume) the trackers ``--log`` names, from a core.train.Setup."""
        ran = {"device": str(setup.device), "precision": setup.precision, "processes": setup.dist.world}
        return cls.of_config(run_dir, setup.cfg.to_dict(), ran, parse_log(setup.cfg.log), notify)

    @classmethod
    def of_config(cls, run_dir: Path, config: dict[str, Any], ran: dict[str, Any], specs: list[TrackerSpec],
                  notify: Callable[[str], None], host: str | None = None) -> "Trackers":
        """Trackers started for a run from its recorded config (a TrainConfig's dict) and what its settings
        resolved to (device, precision, processes): a live session's, or an exported run's."""
        params = {k: v for k, v in config.items() if k not in NOT_PARAMS} | ran
        group, runs_folder = group_of(Path(run_dir))
        tags = {"arch": str(config.get("arch")), "dataset": str(config.get("dataset")),
                "host": host or socket.gethostname(), "resnet_tui.run_dir": str(Path(run_dir).resolve())}
        if group:
            tags["group"] = group
        self = cls(run_dir, notify)
        self.start(specs, runs_folder, name=Path(run_dir).name, params=params, tags=tags, experiment=group)
        return self

    def start(self, specs: list[TrackerSpec], runs_folder: Path, *, name: str, params: dict[str, Any],
              tags: dict[str, str], experiment: str) -> None:
        state_path = self.run_dir / STATE_FILE
        saved = layout.read_json(state_path) or {}
        for spec in specs:
            try:
                tracker = open_tracker(spec, runs_folder, dict(saved.get(spec.kind) or {}))
                saved[spec.kind] = tracker.start(name=name, params=params, tags=tags, experiment=experiment,
                                                 run_dir=self.run_dir)
                self.open.append(tracker)
            except Exception as e:  # noqa: BLE001 - any failure of a logger: a notice, never the run
                self.notify(f"{spec.kind}: not logging this run ({one_line(e)}); training goes on")
        if self.open:
            try:
                atomic_write_json(state_path, saved)
            except OSError as e:
                self.notify(f"{STATE_FILE}: not written ({e.strerror or e}); a resume will start new tracker runs")

    def _each(self, what: str, call: Callable[[Any], None]) -> None:
        for tracker in list(self.open):
            try:
                call(tracker)
            except Exception as e:  # noqa: BLE001
                self.open.remove(tracker)
                self.notify(f"{tracker.kind}: stopped logging at {what} ({one_line(e)}); training goes on")

    def epoch(self, row: dict[str, Any]) -> None:
        self._each(f"epoch {row.get('epoch')}", lambda t: t.epoch(row))

    def finish(self, status: str) -> None:
        """The run's end: the last confusion matrix and, when it has them, the final weights as safetensors."""
        if not self.open:
            return
        confusion = last_confusion_image(self.run_dir)
        weights = final_safetensors(self.run_dir) if status == "completed" else None
        self._each("the end", lambda t: t.finish(str(status), confusion, weights))
        self.open = []

    def close(self) -> None:
        self._each("closing", lambda t: getattr(t, "close", lambda: None)())
        self.open = []


def last_confusion_image(run_dir: Path):
    from core.runs.tensorboard_log import confusion_image

    rows = [r for r in layout.read_metrics(run_dir) if r.get("confusion")]
    return confusion_image(rows[-1]["confusion"]) if rows else None


def final_safetensors(run_dir: Path) -> Path | None:
    """RUN/model.safetensors from final.pt (the weights only, nothing executable), or None without final.pt."""
    if not (run_dir / layout.FINAL).is_file():
        return None
    from core.inference.export import export_safetensors

    return export_safetensors(run_dir / layout.FINAL, str(run_dir / "model.safetensors"))


def saved_state(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / STATE_FILE).read_text())
