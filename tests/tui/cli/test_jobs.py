"""`train --nproc-per-node N`: a job of real processes through torchrun (gloo on this machine's CPU).

Two processes with --sync-bn train like one process with the same global batch; a SIGTERM to the launcher
stops every process at the same batch (exit 143) and the resume is exact; a killed process ends the job
within a minute and the run resumes; a background job is live and steerable with `runs`; two launchers
(--nnodes 2) form one job that writes one run folder and resumes. (Bad requests: test_job_requests.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.inference.predictions import load_predictions
from helpers import kill_leftovers, ranks_of, run_here

ROOT = Path(__file__).resolve().parents[3]
# No augmentation: each rank draws its own (seed, epoch, step, rank) crops, so only without them are one
# process and two processes given the very same images.
SMALL = ["--dataset", "synthetic", "--arch", "resnet20", "--image-size", "16", "--device", "cpu", "--eval-every", "0"]
PLAIN = [*SMALL, "--crop-padding", "0", "--no-flip"]


def cli(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def weights(run: Path, name: str = "final.pt") -> dict:
    return torch.load(run / name, weights_only=True)["model"]


def events(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def epoch_ended(run: Path, epoch: int) -> bool:
    return any(e["event"] == "EpochEnded" and e["epoch"] >= epoch for e in events(run))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_leftover_processes(tmp_path):
    """A failed test must not leave a job behind (torchrun and its processes run in sessions of their own)."""
    yield
    kill_leftovers(tmp_path)


# ----------------------------------------------------------------------------- equivalence
@pytest.mark.slow
def test_two_processes_with_sync_bn_train_like_one_process_with_the_same_global_batch(tmp_path, capsys):
    common = [*PLAIN, "--train-subset", "128", "--batch-size", "64", "--epochs", "1", "--schedule", "constant",
              "--lr", "0.05", "--seed", "3", "--run-dir", tmp_path]
    one = run_here(capsys, "train", *common, "--name", "one")  # the one-process run, in this process
    two = cli("train", *common, "--name", "two", "--nproc-per-node", "2", "--sync-bn")
    apart = cli("train", *common, "--name", "apart", "--nproc-per-node", "2")  # each its own BN statistics
    for done in (one, two, apart):
        assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apart", "one", "two"]  # one folder per job
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2
    started = [e for e in events(tmp_path / "two") if e["event"] == "RunStarted"]
    assert len(started) == 1 and started[0]["processes"] == 2  # one writer: rank 0
    a, b, c = weights(tmp_path / "one"), weights(tmp_path / "two"), weights(tmp_path / "apart")
    params = [k for k in a if a[k].is_floating_point() and "running" not in k]

    def worst(x, y):
        return max((x[k] - y[k]).abs().max().item() for k in params)

    # Two steps at lr 0.05: float rounding alone moves these weights by ~3e-4 here (one process with
    # another memory layout or thread count); without --sync-bn they differ by ~8e-3.
    assert worst(a, b) < 2e-3
    assert worst(a, c) > 2e-3


# ----------------------------------------------------------------------------- signals and failures
@pytest.mark.slow
def test_sigterm_stops_every_process_at_one_batch_exit_143_and_the_resume_is_exact(tmp_path):
    common = [*SMALL, "--train-subset", "1024", "--batch-size", "32", "--epochs", "2", "--seed", "1",
              "--run-dir", tmp_path, "--nproc-per-node", "2"]
    straight = cli("train", *common, "--name", "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    job = start("train", *common, "--name", "stopped")
    run = tmp_path / "stopped"
    wait_for(lambda: epoch_ended(run, 1), 120, "the first epoch")
    os.kill(job.pid, signal.SIGTERM)
    out, err = job.communicate(timeout=90)
    assert job.returncode == 143, err
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert "stopped at epoch 2, batch" in err and f"--resume {run} --nproc-per-node 2" in err, err
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["partial"] is not None and last["stream"]["in_epoch"]  # inside epoch 2, where all stopped
    resumed = cli("train", "--resume", run, "--nproc-per-node", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = weights(tmp_path / "straight"), weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same world size: bit for bit
    kept = [load_predictions(tmp_path / "straight", "test"), load_predictions(run, "test")]  # gathered over ranks
    assert len(kept[0]) == 1000 and torch.equal(kept[0].top_class, kept[1].top_class)
    assert torch.equal(kept[0].top_prob, kept[1].top_prob) and kept[0].epoch == kept[1].epoch == 2


@pytest.mark.slow
def test_a_killed_process_ends_the_job_within_a_minute_and_one_process_resumes_the_run(tmp_path, capsys):
    run = tmp_path / "k"
    job = start("train", *SMALL, "--train-subset", "1024", "--batch-size", "32", "--epochs", "2",
                "--run-dir", tmp_path, "--name", "k", "--nproc-per-node", "2")
    wait_for(lambda: epoch_ended(run, 1), 120, "the first epoch")
    ranks = ranks_of(run)
    assert sorted(ranks) == [0, 1], ranks
    os.kill(ranks[1], signal.SIGKILL)
    killed = time.monotonic()
    out, err = job.communicate(timeout=90)
    assert time.monotonic() - killed < 60
    assert job.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "died or lost its connection" in lines[0], err
    assert "Traceback" not in err
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    # Resumed by one process: the data order goes on exactly (it is global); the run says what changed.
    resumed = run_here(capsys, "train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "processes 2 -> 1" in resumed.stdout + resumed.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


# ----------------------------------------------------------------------------- viewers and remote control
@pytest.mark.slow
def test_a_two_process_background_run_is_live_and_steerable(tmp_path):
    started = cli("train", *SMALL, "--train-subset", "4096", "--batch-size", "64", "--epochs", "20",
                  "--run-dir", tmp_path, "--name", "b", "--nproc-per-node", "2", "--background", "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["processes"] == 2
    run = tmp_path / "b"
    wait_for(lambda: any(e["event"] == "BatchProgress" for e in events(run)), 120, "training to start")
    listed = json.loads(cli("runs", "list", "--run-dir", tmp_path, "--json").stdout)
    assert [(r["name"], r["live"]) for r in listed] == [("b", True)]
    for request, said in (("pause", "paused at epoch"), ("continue", "continued at epoch"),
                          ("checkpoint", "saved last.pt at epoch")):
        done = cli("runs", request, "b", "--run-dir", tmp_path)
        assert done.returncode == 0 and said in done.stdout, done.stdout + done.stderr
    stopped = cli("runs", "stop", "b", "--run-dir", tmp_path)
    assert stopped.returncode == 0 and "stopped at epoch" in stopped.stdout, stopped.stdout + stopped.stderr
    assert f"resume with: resnet-tui train --resume {run} --nproc-per-node 2" in stopped.stdout
    watched = cli("runs", "watch", "b", "--run-dir", tmp_path)
    assert watched.returncode == 3  # stopped
    wait_for(lambda: not ranks_of(run), 60, "the job's processes to end")
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"


# ----------------------------------------------------------------------------- two machines, simulated
@pytest.mark.slow
def test_two_launchers_form_one_job_over_two_nodes(tmp_path):
    def node(rank: int, port: int, *args) -> subprocess.Popen:
        return start("train", *args, "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", rank,
                     "--master-addr", "127.0.0.1", "--master-port", port)

    new = [*SMALL, "--train-subset", "512", "--batch-size", "64", "--epochs", "1", "--run-dir", tmp_path, "--name", "mn"]
    for args in (new, ["--resume", tmp_path / "mn", "--epochs", "2"]):
        port = free_port()
        # Either machine may come first: to start, node 0 (whose run folder then exists when node 1 checks the
        # request); to resume, node 1 (which waits for node 0).
        if args is new:
            first = node(0, port, *args)
            wait_for(lambda: (tmp_path / "mn").is_dir(), 60, "node 0's run folder")
            second = node(1, port, *args)
        else:
            second = node(1, port, *args)
            first = node(0, port, *args)
        out0, err0 = first.communicate(timeout=180)
        out1, err1 = second.communicate(timeout=60)
        assert first.returncode == 0 and second.returncode == 0, err0[-2000:] + err1[-2000:]
        assert "x 2 processes" in out0
    assert [p.name for p in tmp_path.iterdir()] == ["mn"]  # one run folder, written by rank 0
    metrics = [json.loads(line) for line in (tmp_path / "mn" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]


# ----------------------------------------------------------------------------- started by someone else
@pytest.mark.slow
def test_train_started_by_torchrun_or_by_a_scheduler_s_variables_is_one_job(tmp_path):
    """torchrun itself, and two plain processes given RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* (what an `srun`
    wrapper sets): each forms one job whose rank 0 writes the one run folder."""
    args = ["train", *SMALL, "--train-subset", "256", "--batch-size", "64", "--epochs", "1", "--run-dir", tmp_path,
            "--auto-batch-size"]  # (every rank probes; they agree on the smallest share that fits)
    by_torchrun = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                                  f"--master-port={free_port()}", "-m", "tui.cli", *map(str, args), "--name", "t"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert by_torchrun.returncode == 0, by_torchrun.stderr[-2000:]
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, "-m", "tui.cli", *map(str, args), "--name", "s", "--json"],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert json.loads(outs[0][0])["status"] == "completed" and outs[1][0] == ""  # rank 1 keeps quiet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "t"]
    for name in ("s", "t"):
        assert json.loads((tmp_path / name / "config.json").read_text())["processes"] == 2


@pytest.mark.slow
def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    """Rank 1's loss turns NaN; the summed loss of the next decision is NaN on every rank, so all stop there:
    the job ends promptly with the reason, and last.pt keeps the last good state."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                           f"--master-port={free_port()}", str(Path(__file__).with_name("poisoned_rank.py")),
                           "train", *SMALL, "--train-subset", "512", "--batch-size", "64", "--epochs", "2",
                           "--run-dir", str(tmp_path), "--name", "nan"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60
    assert done.returncode != 0
    status = json.loads((tmp_path / "nan" / "run.json").read_text())
    assert status["status"] == "failed" and "the loss became nan by step 5" in status["error"], status
    last = torch.load(tmp_path / "nan" / "last.pt", weights_only=True)
    assert last["global_step"] == 0  # the state saved before training: no bad step was written
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


@pytest.mark.slow
def test_out_of_memory_on_one_rank_ends_the_job_with_the_reason_in_the_log(tmp_path):
    """Not a collective decision: the rank that ran out cannot join the gradient all-reduce the others wait in.
    Its process ends with the message, torchrun ends the job, rank 0 records the lost peer; resumable."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                           f"--master-port={free_port()}", str(Path(__file__).with_name("poisoned_rank.py")),
                           "train", *SMALL, "--train-subset", "512", "--batch-size", "64", "--epochs", "2",
                           "--run-dir", str(tmp_path), "--name", "oom"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ, POISON="oom"))
    assert time.monotonic() - started < 60
    assert done.returncode != 0
    assert "training failed: out of memory on cpu at batch size 64" in done.stderr
    status = json.loads((tmp_path / "oom" / "run.json").read_text())
    assert status["status"] == "failed" and "another process of this 2-process job died" in status["error"], status
    assert (tmp_path / "oom" / "last.pt").exists()
