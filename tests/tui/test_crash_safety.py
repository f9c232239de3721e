"""SIGKILL a real training process at random moments (no chance to clean up), resume each time,
and check that nothing was lost: the run always loads, resumes after its last finished epoch,
ends with exactly one metrics row per epoch and no temp files, and matches an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.checkpoint import epoch_checkpoints, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "600", "--batch-size", "100", "--epochs", "8",
        "--device", "cpu", "--keep-last", "2"]


def spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    rng = random.Random(20261129)  # random moments, but the same ones on every run of the test
    runs = tmp_path / "runs"
    run = runs / "k"
    kills, attempts, log = 0, 0, []
    while kills < 5:
        attempts += 1
        assert attempts < 40, log
        if (run / "last.pt").exists():
            proc = spawn(["train", "--resume", str(run)])
        else:
            shutil.rmtree(run, ignore_errors=True)  # killed before it saved anything: start again
            proc = spawn(["train", *ARGS, "--run-dir", str(runs), "--name", "k"])
        delay = rng.uniform(4.0, 9.0)  # start-up takes a few seconds; most kills land in training or saving
        try:
            proc.wait(timeout=delay)
            if proc.returncode == 0:  # it finished before the kill: train more epochs next time
                break
            raise AssertionError(proc.stderr.read())
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        state = load_checkpoint(run / "last.pt") if (run / "last.pt").exists() else None
        kills += state is not None  # only kills of a run that had started count
        log.append((round(delay, 2), None if state is None else (state["epoch"], state["partial"] is not None)))
        if state is not None:
            assert state["partial"] is None  # a kill never leaves a half-written epoch behind
            assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert kills >= 5, log

    proc = spawn(["train", "--resume", str(run)])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9)), log
    assert not [p for p in os.listdir(run) if ".tmp" in p]
    assert len(epoch_checkpoints(run)) <= 3  # keep-last 2, plus at most the one a resume came from

    straight = spawn(["train", *ARGS, "--run-dir", str(runs), "--name", "straight"])
    _, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    a = load_checkpoint(run / "final.pt")["model"]
    b = load_checkpoint(runs / "straight" / "final.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), f"interrupted run differs from a straight one; kills: {log}"
    assert [r["train_loss"] for r in rows] == [
        json.loads(line)["train_loss"] for line in (runs / "straight" / "metrics.jsonl").read_text().splitlines()
    ]
    print("kills (delay s, last.pt epoch):", log)
