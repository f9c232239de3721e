"""bench/tracker_cost.py, run tiny on the CPU so it does not rot: its three conditions really differ (checked by
the script itself: trackers.json only where a tracker logs), and its summary agrees with its trials."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tracker_cost_runs_off_mlflow_and_wandb_and_sums_up(tmp_path):
    proc = subprocess.run([sys.executable, "bench/tracker_cost.py", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    trials = [r for r in rows if r.get("trial", "").startswith("round")]
    assert [t["log"] for t in trials] == ["off", "mlflow", "wandb"]
    off, mlflow, wandb = trials
    assert off["tracker_ms"] == {"start": 0.0, "epoch": 0.0, "finish": 0.0}
    assert mlflow["tracker_ms"]["epoch"] > 0 and wandb["tracker_ms"]["start"] > 0
    summary = next(r["summary"] for r in rows if "summary" in r)
    assert summary["mlflow"]["wall_diff_pct"] == pytest.approx(100 * (mlflow["wall_seconds"] / off["wall_seconds"] - 1), abs=0.01)
    # the summary rounds the median to 0.1 ms: a trial's 2.3 ms over 2 epochs is 1.15, which rounds either way
    assert summary["wandb"]["epoch_ms"] == round(statistics.median([wandb["tracker_ms"]["epoch"] / 2]), 1)
    assert "% of the wall time" in proc.stdout
