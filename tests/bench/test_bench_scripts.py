"""The bench scripts gpu_check.sh does not run, run tiny on the CPU so they do not rot: each prints
JSON lines that describe the machine and give measured figures whose ratio is the one it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def records(script: str, *args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def check_machine(rows: list[dict]) -> None:
    machine = rows[0]["machine"]
    import torch

    assert machine["torch"] == str(torch.__version__) and machine["cpu_count"] >= 1 and "cuda" in machine


@pytest.mark.slow
def test_loop_overhead_measures_the_loop_against_a_bare_step(tmp_path):
    rows = records("loop_overhead.py", "--arch", "simplecnn", "--device", "cpu", "--batch-size", "32",
                   "--train-subset", "256", "--epochs", "2", "--steps", "5", "--warmup", "1")
    check_machine(rows)
    bare = next(r for r in rows if r.get("bench") == "bare_step")["images_per_sec"]
    loop = next(r for r in rows if r.get("bench") == "train_loop")["images_per_sec"]
    ratio = next(r for r in rows if "loop_over_bare" in r)["loop_over_bare"]
    assert bare > 0 and loop > 0 and ratio == pytest.approx(loop / bare, abs=1e-3)


@pytest.mark.slow
def test_app_vs_headless_runs_both_and_compares_them(tmp_path):
    rows = records("app_vs_headless.py", "--arch", "simplecnn", "--device", "cpu", "--batch-size", "32",
                   "--train-subset", "256", "--epochs", "2", "--repeats", "1")
    check_machine(rows)
    runs = {r["run"]: r["images_per_sec"] for r in rows if "run" in r}
    assert set(runs) == {"headless", "app"} and all(v > 0 for v in runs.values())
    summary = rows[-1]
    assert summary["app_over_headless"] == pytest.approx(runs["app"] / runs["headless"], abs=1e-3)


@pytest.mark.slow
def test_background_start_times_the_return_and_the_start():
    rows = records("background_start.py", "--trials", "1")
    summary = rows[-1]
    assert rows[0]["returned_s"] == summary["returned_max_s"] and summary["trials"] == 1
    assert summary["bound_2s_holds"] == (summary["returned_max_s"] < 2.0)
    assert rows[0]["running_s"] >= rows[0]["returned_s"] > 0


@pytest.mark.slow
def test_ddp_scaling_measures_one_and_two_processes_and_prints_the_allreduce_table(tmp_path):
    rows = records("ddp_scaling.py", "--smoke")
    check_machine(rows)
    runs = {r["processes"]: r["images_per_sec"] for r in rows if r.get("bench") == "ddp_scaling" and "images_per_sec" in r}
    assert set(runs) == {1, 2} and all(v > 0 for v in runs.values())
    speedup = next(r["speedup"] for r in rows if "speedup" in r)
    assert speedup == pytest.approx(runs[2] / runs[1], abs=1e-3)
    paper = [r for r in rows if r.get("paper") == "allreduce_per_step"]
    r50 = {r["link"][:6]: r["ms_per_step"] for r in paper if r["arch"] == "resnet50"}
    # 23.5M fp32 gradients, ring all-reduce over 8: 2*7/8*94 MB at 400 GB/s and at 12.5 GB/s
    assert r50["NVLink"] == pytest.approx(0.412, abs=0.01) and r50["100 Gb"] == pytest.approx(13.17, abs=0.05)


@pytest.mark.slow
def test_data_pipeline_measures_both_loaders_and_a_process_tree(tmp_path):
    """bench/data_pipeline.py's parts, tiny: both pipelines give a rate over the same images, the linked sets
    have the images asked for, and the memory reading of this very process is plausible."""
    import os
    from importlib import util

    spec = util.spec_from_file_location("data_pipeline", ROOT / "bench" / "data_pipeline.py")
    bench = util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    drawn = bench.draw_images(tmp_path / "drawn", 20, classes=2, side=48)
    linked = bench.linked_set(bench.image_files(drawn), 30, tmp_path / "linked", classes=2)
    assert len(bench.image_files(linked)) == 30
    rates = bench.pipeline_rates(linked, workers=0, batch=4, batches=2)
    assert rates["ours"] > 0 and rates["torchvision"] > 0 and rates["images"] == 30
    assert 20 * 2**20 < bench.tree_pss(os.getpid()) < 64 * 2**30
