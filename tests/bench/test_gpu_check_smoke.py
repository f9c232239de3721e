"""The prepared GPU check runs end to end in its --smoke form on the CPU, so it does not rot between the (rare)
sessions that are lent a GPU: every step runs, prints its JSON and lands in the PASS/FAIL table (the steps that
need CUDA say SKIP). It checks that the steps run, not the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["env", "precisions", "resume", "compile", "oom", "devices", "artifacts", "ddp", "stream", "search", "speed"]


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_step(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    proc = subprocess.run(["bash", "bench/gpu_check.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "gpu_check.jsonl").read_text().splitlines() if line.strip()]
    results = {r["step"]: r for r in records if "step" in r and "status" in r}
    assert list(results) == STEPS
    assert {s for s, r in results.items() if r["status"] == "SKIP"} == {"compile", "oom"}  # they need CUDA
    assert all(r["status"] == "PASS" for s, r in results.items() if s not in ("compile", "oom"))
    assert results["resume"]["bit_exact"] is True
    assert results["ddp"]["processes"] == 2
    assert results["stream"]["loss_gap"] == 0.0  # the streamed and the resident run of one seed
    assert {r.get("variant") for r in records if "variant" in r} == {"seed", "bare", "train"}
    assert any(r.get("preset") == "speed94" and "seconds_to_target_mean" in r for r in records)
    table = (tmp_path / "gpu_check_summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in table] == STEPS and "PASS" in table[0]


def test_a_failing_step_is_a_fail_row_and_exit_1(tmp_path):
    """The speed step without the CIFAR-10 copy, outside smoke mode: FAIL with the reason, never synthetic data."""
    from importlib import util

    spec = util.spec_from_file_location("steps", ROOT / "bench" / "gpu_check_steps.py")
    steps = util.module_from_spec(spec)
    spec.loader.exec_module(steps)
    steps.DATA = tmp_path / "missing.tar.gz"
    with pytest.raises(AssertionError, match="no silent synthetic fallback"):
        steps.step_speed(False, tmp_path)


def load_steps():
    from importlib import util

    spec = util.spec_from_file_location("steps", ROOT / "bench" / "gpu_check_steps.py")
    steps = util.module_from_spec(spec)
    spec.loader.exec_module(steps)
    return steps


def test_a_sync_from_the_per_batch_path_is_unexpected_and_others_are_not():
    """The GPU check's sync audit (CUDA's sync debug mode only warns on a GPU, so the sorting is tested here on
    stacks as traceback.extract_stack gives them)."""
    steps = load_steps()
    top = [("/x/core/train/fit.py", "execute"), ("/x/core/train/loop.py", "run"), ("/x/core/train/loop.py", "_run_epoch")]
    in_step = top + [("/x/core/train/loop.py", "_step"), ("/v/torch/amp/grad_scaler.py", "step")]
    in_augment = top + [("/x/core/data/loader.py", "epoch_batches"), ("/x/core/data/augment.py", "random_crop")]
    in_report = top + [("/x/core/train/loop.py", "_report"), ("/x/core/train/loop.py", "_check_finite")]
    in_eval = top + [("/x/core/train/loop.py", "_evaluate"), ("/x/core/data/loader.py", "eval_batches")]
    assert steps.per_step_frame(in_step) == "core/train/loop.py:_step"
    assert steps.per_step_frame(in_augment) == "core/data/loader.py:epoch_batches"
    assert steps.per_step_frame(in_report) is None and steps.per_step_frame(in_eval) is None


def test_the_sync_audit_sees_warnings_with_their_stack(monkeypatch):
    """syncs_while's hook gets each sync warning while its caller's frames are live (the debug mode itself is a
    no-op here: no GPU)."""
    import warnings

    import torch

    steps = load_steps()
    modes = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def run():
        warnings.warn("called a synchronizing CUDA operation")
        warnings.warn("called a synchronizing CUDA operation")
        warnings.warn("something else")
        return "done"

    result, figures = steps.syncs_while(run)
    assert result == "done" and modes == ["warn", 0]
    assert figures == {"expected_syncs": 2, "per_step_syncs": {}}
