"""The prepared GPU check runs end to end in its --smoke form on the CPU, so it does not rot
between the (rare) sessions that are lent a GPU. It checks that every step runs and prints
JSON, not the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_step(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    proc = subprocess.run(["bash", "bench/gpu_check.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "gpu_check.jsonl").read_text().splitlines() if line.strip()]
    variants = {r.get("variant") for r in records if "variant" in r}
    assert variants == {"seed", "bare", "train"}
    assert any("train_over_seed" in r for r in records)
    assert any(r.get("preset") == "speed94" and "seconds_to_target_mean" in r for r in records)
    assert any(r.get("status") == "completed" for r in records)
    assert records[-1] == {"gpu_check": "done (smoke)"}
