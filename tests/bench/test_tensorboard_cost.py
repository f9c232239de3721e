"""bench/tensorboard_cost.py, run tiny on the CPU so it does not rot: both conditions really differ (the event
files only in ON trials, checked by the script itself), and the figures it prints agree with each other."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tensorboard_cost_compares_on_and_off_and_times_the_writer():
    proc = subprocess.run([sys.executable, "bench/tensorboard_cost.py", "--smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    import torch

    assert rows[0]["machine"]["torch"] == str(torch.__version__)
    trials = [r for r in rows if r.get("trial", "").startswith("pair")]
    assert [t["tensorboard"] for t in trials] == ["on", "off"]  # warm-up apart; pair 1 is ON then OFF
    on, off = trials
    assert len(on["write_ms"]["epoch"]) == 2 and len(on["write_ms"]["finish"]) == 1 and off["write_ms"] is None
    summary = next(r["summary"] for r in rows if "summary" in r)
    assert summary["images_per_sec_diff_pct"] == pytest.approx(100 * (on["images_per_sec"] / off["images_per_sec"] - 1),
                                                               abs=0.01)
    assert summary["epoch_write_ms_median"] == pytest.approx(statistics.median(on["write_ms"]["epoch"]), abs=0.01)
    direct = next(r["direct"] for r in rows if "direct" in r)
    assert direct["epoch_ms_10_classes"] > 0 and direct["epoch_ms_100_classes"] > 0 and direct["import_ms"] > 0
    assert "img/s (the run's own, training time)" in proc.stdout and "writer, direct loop" in proc.stdout
