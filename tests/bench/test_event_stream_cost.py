"""bench/event_stream_cost.py, run tiny on the CPU so it does not rot: both conditions really differ (the
stream's file and threads only in ON trials), the figures it prints are consistent with each other, and the
stream it sizes is the one the ON trial wrote."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_event_stream_cost_compares_stream_on_and_off_and_sizes_the_stream():
    proc = subprocess.run(
        [sys.executable, "bench/event_stream_cost.py", "--arch", "simplecnn", "--train-size", "256", "--test-size", "64",
         "--batch-size", "32", "--pairs", "1", "--threads", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert text.startswith("machine: ") and "ON/OFF = " in text and "MB per 24 h" in text
    result = json.loads(text.splitlines()[-1])

    import torch

    machine = result["machine"]
    assert machine["torch"] == str(torch.__version__) and machine["torch_threads"] == 1 and machine["cpu_count"] >= 1

    trials = result["trials"]
    assert [t["stream"] for t in trials] == ["on", "off"]  # warm-up discarded; pair 1 is ON then OFF
    assert all(t["images_per_sec"] > 0 and t["train_seconds"] > 0 for t in trials)
    assert trials[0]["threads"] == ["control-poller", "events-heartbeat"] and trials[1]["threads"] == []
    on, off = result["median_on"], result["median_off"]
    assert on == statistics.median([trials[0]["images_per_sec"]]) and off == trials[1]["images_per_sec"]
    assert result["on_over_off"] == pytest.approx(on / off, abs=1e-3)
    assert result["pair_ratio_median"] == pytest.approx(on / off, abs=1e-3)  # one pair
    assert result["pair_ratio_2se"] is None and result["noisy"]  # one pair cannot say how noisy it is
    assert result["cpu_on_over_off"] > 0 and all(t["cpu_seconds"] > 0 for t in trials)
    assert result["ratio_holds"] == (on / off >= 0.98)

    per_call = result["per_call"]
    assert per_call["line_us"] > 0 and per_call["poll_us"] > 0 and per_call["direct_us_per_training_second"] > 0

    size = result["size"]
    events = size["events"]
    assert size["epochs"] == 1 and events["RunStarted"] == 1 and events["RunFinished"] == 1
    assert events["EpochStarted"] == 1 and events["EpochEnded"] == 1 and events["BatchProgress"] >= 1
    assert size["lines"] == sum(events.values()) and size["bytes"] == sum(size["bytes_by_event"].values())
    assert size["bytes_per_epoch"] + size["one_off_bytes"] == pytest.approx(size["bytes"])
    assert size["bytes_per_24h"] == pytest.approx(size["bytes_per_hour"] * 24 + size["one_off_bytes"], rel=1e-6, abs=2)
    assert size["within_bound"] == (size["bytes_per_24h"] <= 50e6)
    model = size["model_24h_by_epoch_seconds"]
    assert list(model.values()) == sorted(model.values(), reverse=True)  # longer epochs, fewer per-epoch lines
    assert size["progress_only_24h"] < model["300"] < model["1"]
    shortest = size["shortest_epoch_within_bound_s"]
    assert shortest is None or shortest > 0
