"""A job of two processes (torchrun, gloo on the CPU) streaming an image folder: each process decodes only its
share of every batch and the job trains bit for bit as one holding the images; an unreadable image met by one
process stops every process at that batch with one line, instead of leaving the others waiting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import build_class_folders

ROOT = Path(__file__).resolve().parents[3]


def cli(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def common(pets: Path, runs: Path) -> list:
    return ["--dataset", "folder", "--data", pets, "--arch", "resnet20", "--image-size", "16", "--device", "cpu",
            "--crop-padding", "0", "--no-flip", "--batch-size", "18", "--epochs", "1", "--lr", "0.05",
            "--run-dir", runs, "--nproc-per-node", "2"]


@pytest.mark.slow
def test_two_processes_streaming_a_folder_train_as_two_holding_it_and_stop_together_at_a_bad_image(tmp_path):
    pets = build_class_folders(tmp_path / "pets", per_class=22, size=24)  # 54 train / 12 test images
    args = common(pets, tmp_path)
    held = cli("train", *args, "--name", "held", "--data-in-memory", "yes")
    streamed = cli("train", *args, "--name", "streamed", "--data-in-memory", "no", "--workers", "1")
    assert held.returncode == 0 and streamed.returncode == 0, held.stderr[-2000:] + streamed.stderr[-2000:]
    assert "streamed from the files by 1 worker process" in streamed.stdout + streamed.stderr
    a, b = (torch.load(tmp_path / n / "final.pt", weights_only=True)["model"] for n in ("held", "streamed"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # each process was given the very same images

    from core.data.layout import scan_folder
    from core.data.seeds import derived_seed

    # An image of the second process's share of the first batch (the order is seeded by seed + 1 = 1, epoch 1):
    # the first process, which speaks for the job, hears of it from the other, not from a lost connection.
    first_batch = torch.randperm(54, generator=torch.Generator().manual_seed(derived_seed(1, 1)))[:18]
    bad = scan_folder(pets).files["train"][int(first_batch.tensor_split(2)[1][0])][0]
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    broken = cli("train", *args, "--name", "broken", "--data-in-memory", "no", "--workers", "1", timeout=120)
    assert broken.returncode == 1, broken.stderr[-2000:]
    errors = [line for line in broken.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and f"cannot read image {bad}" in errors[0], errors  # learnt from the other process
    assert "last.pt holds the run up to there" in errors[0] and "lost its connection" not in broken.stderr
    assert "Traceback" not in broken.stderr
