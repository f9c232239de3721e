"""SIGKILL a real training process (no chance to clean up) while it trains and while it writes a
checkpoint, resume each time, and check that nothing was lost: the run always loads, resumes after
its last finished epoch, ends with exactly one metrics row per epoch and no temp files, and matches
an uninterrupted run. Kills are timed by what the process is doing, not by the clock, so a slow
start-up cannot turn them all into kills during imports."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import run_cli

from core.train.checkpoint import epoch_checkpoints, load_checkpoint

ROOT = Path(__file__).resolve().parents[3]
ARGS = ["--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "600", "--batch-size", "100", "--epochs", "6",
        "--image-size", "16", "--device", "cpu", "--keep-last", "2", "--eval-every", "0"]  # evaluation only at the end: the drill is about saves


def spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def temp_files(run: Path, prefix: str = "") -> list[str]:
    try:
        return [p for p in os.listdir(run) if ".tmp-" in p and p.startswith(prefix)]
    except FileNotFoundError:
        return []


def epochs_on_disk(run: Path) -> int:
    try:
        return len((run / "metrics.jsonl").read_text().splitlines())
    except OSError:
        return 0


def owner_pid(run: Path) -> int | None:
    try:
        return json.loads((run / "run.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None


def kill_while_training(proc: subprocess.Popen, run: Path, rng: random.Random) -> bool:
    """Once this process has finished an epoch of its own (start-up long done), kill it at a random
    moment of the next one. True if the kill landed while it was training."""
    deadline = time.time() + 180
    start = None  # the finished epochs on disk once this process owns the run (a resume truncates them first)
    while start is None or epochs_on_disk(run) <= start:
        if proc.poll() is not None or time.time() > deadline:
            return False
        if start is None and owner_pid(run) == proc.pid:
            start = epochs_on_disk(run)
        time.sleep(0.01)
    time.sleep(rng.uniform(0.2, 0.6))  # an epoch is 6 batches of about 0.1 s (one thread)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def kill_while_saving(proc: subprocess.Popen, run: Path) -> bool:
    """Kill the moment last.pt's temp file appears. True if the kill landed mid-save: the temp file is
    still there afterwards (the save neither finished nor cleaned up)."""
    deadline = time.time() + 180
    while not temp_files(run, ".last.pt"):
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return bool(temp_files(run, ".last.pt"))


@pytest.mark.slow
def test_sigkill_while_training_and_while_saving_loses_nothing(tmp_path, capsys):
    rng = random.Random(20261129)  # random moments, but the same ones on every run of the test
    runs = tmp_path / "runs"
    run = runs / "k"
    landed = {"training": 0, "saving": 0}
    attempts, log = 0, []
    while min(landed.values()) < 2:
        attempts += 1
        assert attempts <= 16, (landed, log)
        if (run / "last.pt").exists():
            proc = spawn(["train", "--resume", str(run)])
        else:
            shutil.rmtree(run, ignore_errors=True)  # killed before its first save: start again
            proc = spawn(["train", *ARGS, "--run-dir", str(runs), "--name", "k"])
        mode = "saving" if attempts % 2 == 0 else "training"
        hit = kill_while_saving(proc, run) if mode == "saving" else kill_while_training(proc, run, rng)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.returncode == 0:  # it finished before a kill: the drill cannot go on
            raise AssertionError(f"the run finished before enough kills landed: {landed} {log}")
        strays = temp_files(run)
        landed[mode] += hit
        state = load_checkpoint(run / "last.pt") if (run / "last.pt").exists() else None
        log.append((mode, hit, strays, None if state is None else state["epoch"]))
        if state is not None:
            assert state["partial"] is None  # a kill never leaves a half-written epoch behind
            assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())

    code, _, err = run_cli(capsys, "train", "--resume", run)  # the last resume and the straight run: in this process
    assert code == 0, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 7)), log
    assert not temp_files(run)  # the stray temp files of the killed saves were cleaned up
    assert 2 <= len(epoch_checkpoints(run)) <= 3  # keep-last 2, plus at most the one a resume came from

    code, _, err = run_cli(capsys, "train", *ARGS, "--run-dir", runs, "--name", "straight")
    assert code == 0, err
    a = load_checkpoint(run / "final.pt")["model"]
    b = load_checkpoint(runs / "straight" / "final.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), f"interrupted run differs from a straight one; kills: {log}"
    assert [r["train_loss"] for r in rows] == [
        json.loads(line)["train_loss"] for line in (runs / "straight" / "metrics.jsonl").read_text().splitlines()
    ]
    print("kills (mode, landed, temp files left, last.pt epoch):", log)
