"""Bad requests for a job of several processes (`train --nproc-per-node N`, the multi-node options, a busy port) are
one line, exit 2, and start nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[3]
# No augmentation: each rank draws its own (seed, epoch, step, rank) crops, so only without them are one
# process and two processes given the very same images.
SMALL = ["--dataset", "synthetic", "--arch", "resnet20", "--image-size", "16", "--device", "cpu", "--eval-every", "0"]
PLAIN = [*SMALL, "--crop-padding", "0", "--no-flip"]


# ----------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize("args,expected", [
    (["--nproc-per-node", "0"], "--nproc-per-node must be 1 or more"),
    (["--nproc-per-node", "two"], "--nproc-per-node must be a whole number or gpu"),
    (["--nproc-per-node", "gpu"], "this machine has no CUDA GPU"),
    (["--nproc-per-node", str((os.cpu_count() or 1) + 1)], "more processes than this machine's"),
    (["--nproc-per-node", "2", "--batch-size", "65"], "--batch-size 65 is the global batch and does not divide among 2"),
    (["--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "2", "--master-addr", "127.0.0.1"], "--node-rank must be from 0 to 1"),
    (["--nproc-per-node", "1", "--nnodes", "2"], "--nnodes > 1 needs --master-addr"),
    (["--nproc-per-node", "2", "--device", "cuda"], "no CUDA GPU"),
    (["--nproc-per-node", "2", "--device", "cuda:1"], "--device cuda:1"),
])
def test_bad_job_requests_are_one_line_and_start_nothing(capsys, tmp_path, args, expected):
    code, out, err = run_cli(capsys, "train", "--dataset", "synthetic", "--run-dir", tmp_path / "runs", *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and expected in lines[0], err
    assert not (tmp_path / "runs").exists()


def test_a_busy_port_is_one_line(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out, err = run_cli(capsys, "train", "--dataset", "synthetic", "--run-dir", tmp_path / "runs",
                                 "--nproc-per-node", "2", "--master-port", str(port))
    assert code == 2 and err.strip() == f"Error: --master-port {port} is busy on this machine; choose another", err
    assert not (tmp_path / "runs").exists()
