"""`runs export`: a finished (or stopped) run's folder logged to a tracker after the fact, as a live session
would have logged it: its params, every metrics.jsonl row at step = epoch, its last confusion matrix and final
weights, ended with its status. The tracker run's id is kept in RUN/trackers.json, so exporting twice is refused
and a later resume of the run continues the exported tracker run."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.errors import UserError
from core.runs import layout
from core.runs.trackers import STATE_FILE, TrackerSpec
from core.runs.trackers.session import Trackers


def export_run(run_dir: Path, spec: TrackerSpec, notify: Callable[[str], None]) -> str:
    """Log ``run_dir`` to the tracker of ``spec``; the tracker run's id. UserError when it cannot."""
    run_dir = Path(run_dir)
    recorded = layout.read_json(run_dir / layout.CONFIG)
    if not recorded or not isinstance(recorded.get("train"), dict):
        raise UserError(f"{run_dir}: not a run folder (no readable {layout.CONFIG})")
    done = (layout.read_json(run_dir / STATE_FILE) or {}).get(spec.kind)
    if done:
        raise UserError(f"{run_dir.name} is already in {spec.kind} (run {done.get('run_id')}); nothing exported twice")
    status = (layout.read_json(run_dir / layout.STATUS) or {}).get("status", "unknown")
    if status == "running":
        raise UserError(f"{run_dir.name} is still training: export it when it has ended (or train with --log)")
    ran = {k: recorded.get(k) for k in ("device", "precision", "processes") if recorded.get(k) is not None}
    failures: list[str] = []
    trackers = Trackers.of_config(run_dir, recorded["train"], ran, [spec], failures.append,
                                  host=str(recorded.get("hardware", {}).get("host") or "") or None)
    if not trackers.open:
        raise UserError(failures[0] if failures else f"{spec.kind}: could not start")
    for row in layout.read_metrics(run_dir):
        trackers.epoch(row)
    trackers.finish(str(status))
    for message in failures:
        notify(message)
    if failures:
        raise UserError(failures[-1])
    return str((layout.read_json(run_dir / STATE_FILE) or {}).get(spec.kind, {}).get("run_id", ""))
