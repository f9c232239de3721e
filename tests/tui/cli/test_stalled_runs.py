"""Stalled runs with real processes: a SIGSTOPped trainer (nothing writes) and a gloo rank that stops taking part
(rank 0 waits in the gradient sum while its heartbeat thread beats on) read `stalled` in `runs list` and `runs
watch`, `running` again once they move; `runs stop` then says how to end it and `runs kill` does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import kill_leftovers, ranks_of

from core.runs.catalog import summarize

ROOT = Path(__file__).resolve().parents[3]
SMALL = ["--dataset", "synthetic", "--arch", "resnet20", "--image-size", "16", "--device", "cpu", "--eval-every", "0",
         "--train-subset", "4096", "--batch-size", "32", "--epochs", "30", "--stall-after", "2"]


def cli(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def wait_for(predicate, timeout: float, what: str) -> float:
    start = deadline = time.monotonic()
    deadline += timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - start


def listed(runs: Path) -> dict:
    return {r["name"]: r for r in json.loads(cli("runs", "list", "--run-dir", runs, "--json").stdout)}


def status(run: Path) -> str:
    """What `runs list` would say, read in this process (waiting on a CLI call per look costs seconds)."""
    return summarize(run).status


def training(run: Path) -> bool:
    path = run / "events.jsonl"
    return path.exists() and b'"BatchProgress"' in path.read_bytes()


@pytest.fixture(autouse=True)
def no_leftover_processes(tmp_path):
    yield
    kill_leftovers(tmp_path)


@pytest.mark.slow
def test_a_sigstopped_trainer_reads_stalled_then_running_again_and_runs_kill_ends_it(tmp_path):
    runs = tmp_path / "runs"
    started = cli("train", *SMALL, "--run-dir", runs, "--name", "s", "--background", "--json")
    assert started.returncode == 0, started.stderr
    run = runs / "s"
    wait_for(lambda: training(run), 90, "training to start")
    pid = summarize(run).pid
    watcher = subprocess.Popen([sys.executable, "-m", "tui.cli", "runs", "watch", "s", "--run-dir", runs], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    threading.Thread(target=lambda: said.extend(watcher.stderr), daemon=True).start()
    try:
        os.kill(pid, signal.SIGSTOP)
        took = wait_for(lambda: status(run) == "stalled", 30, "the run to read stalled")
        assert took < 10
        row = listed(runs)["s"]
        assert row["live"] and "no training progress for" in row["note"] and "(its threshold: 2s)" in row["note"]
        assert "s: no training progress for" in cli("runs", "list", "--run-dir", runs).stdout
        wait_for(lambda: any("s: stalled, no training progress" in line for line in said), 15, "runs watch to say stalled")
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: status(run) == "running", 15, "running again")
        wait_for(lambda: any("s: running again" in line for line in said), 15, "runs watch to say running again")
        refused = cli("runs", "kill", "s", "--run-dir", runs)
        assert refused.returncode == 2 and "making progress" in refused.stderr, refused.stderr
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: status(run) == "stalled", 30, "stalled again")
        killed = cli("runs", "kill", "s", "--run-dir", runs)  # stalled: no --force needed
        assert killed.returncode == 0, killed.stderr
    finally:
        watcher.kill()
    assert summarize(run).status == "interrupted"
    assert f"resume from its last checkpoint with: resnet-tui train --resume {run}" in killed.stdout


@pytest.mark.slow
def test_a_gloo_rank_that_stops_taking_part_stalls_the_job_and_runs_stop_says_how_to_end_it(tmp_path):
    runs = tmp_path / "runs"
    started = cli("train", *SMALL, "--run-dir", runs, "--name", "j", "--nproc-per-node", "2", "--background", "--json")
    assert started.returncode == 0, started.stderr
    run = runs / "j"
    wait_for(lambda: training(run) and len(ranks_of(run)) == 2, 120, "both ranks to train")
    os.kill(ranks_of(run)[1], signal.SIGSTOP)  # rank 0 now waits in the gradient sum; its heartbeats go on
    wait_for(lambda: status(run) == "stalled", 30, "the job to read stalled")
    last = lambda: [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()[-3:]]  # noqa: E731
    wait_for(lambda: all(b["event"] == "Heartbeat" for b in last()), 15, "rank 0's heartbeats")
    assert len({b["worked"] for b in last()}) == 1  # they beat, but carry the same last-work time
    os.kill(ranks_of(run)[1], signal.SIGCONT)
    wait_for(lambda: status(run) == "running", 30, "the job to move again")
    os.kill(ranks_of(run)[1], signal.SIGSTOP)
    wait_for(lambda: status(run) == "stalled", 30, "stalled again")
    assert listed(runs)["j"]["status"] == "stalled"
    stop = cli("runs", "stop", "j", "--run-dir", runs, "--timeout", "2")
    assert stop.returncode == 1
    assert "it is stalled (no training progress for" in stop.stderr and "resnet-tui runs kill j" in stop.stderr, stop.stderr
    killed = cli("runs", "kill", "j", "--run-dir", runs)
    assert killed.returncode == 0 and "killed pid" in killed.stdout, killed.stderr
    for pid in ranks_of(run).values():
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not ranks_of(run), 60, "the job's processes to end")
    assert summarize(run).status == "interrupted"


@pytest.mark.slow
def test_a_background_child_that_dies_before_its_lock_reads_failed_within_seconds_with_its_last_words(tmp_path):
    from tui.cli.launch import launch

    run = tmp_path / "runs" / "dead"
    run.mkdir(parents=True)
    t = time.monotonic()
    # No network here: the child dies fetching CIFAR-10, before it takes the run's lock.
    launch(run, config={"arch": "resnet20", "dataset": "cifar10", "data": str(tmp_path / "nothing")})
    took = wait_for(lambda: status(run) == "failed", 30, "the dead launch to read failed")
    s = summarize(run)
    assert took < 15 and s.note.startswith("failed to start: Error: CIFAR-10 could not be downloaded"), s.note
    listed_row = listed(tmp_path / "runs")["dead"]
    assert listed_row["status"] == "failed" and listed_row["note"] == s.note
    watched = cli("runs", "watch", run)
    assert watched.returncode == 1 and "could not be downloaded" in watched.stdout + watched.stderr
    assert time.monotonic() - t < 60
