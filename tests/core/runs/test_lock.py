"""One process trains a run at a time: an exclusive lock on RUN/run.lock (core.runs.lock), and a run is
live exactly when someone holds it, tested with real processes (a pid alone proves nothing)."""

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

from core.runs.catalog import summarize
from core.runs.lock import RunBusyError, RunLock, lock_holder

ROOT = Path(__file__).resolve().parents[3]


def fake_run(tmp_path: Path, status: str = "running", pid: int | None = None) -> Path:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": 3}}))
    (run / "run.json").write_text(json.dumps({"status": status, "epochs_completed": 1, "epochs": 3, "pid": pid}))
    return run


def test_a_second_owner_is_refused_with_the_first_one_named(tmp_path):
    run = fake_run(tmp_path)
    lock = RunLock.acquire(run)
    try:
        with pytest.raises(RunBusyError, match=rf"is being trained by pid {os.getpid()} on {socket.gethostname()}"):
            RunLock.acquire(run)
        assert lock_holder(run)["pid"] == os.getpid()
        assert summarize(run).status == "running"
    finally:
        lock.release()
    assert lock_holder(run) is None and summarize(run).status == "interrupted"
    RunLock.acquire(run).release()  # free again


def test_a_killed_owner_leaves_the_run_interrupted_even_if_its_pid_lives_on(tmp_path):
    """A process holds the lock; SIGKILL it: the kernel drops the lock and the run reads as interrupted,
    although run.json names a pid that is alive (this test's own: pids get reused)."""
    run = fake_run(tmp_path, pid=os.getpid())
    code = "import sys, time; from core.runs.lock import RunLock; RunLock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    owner = subprocess.Popen([sys.executable, "-c", code, str(run)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "held"
        assert lock_holder(run)["pid"] == owner.pid and summarize(run).status == "running"
        with pytest.raises(RunBusyError, match=f"pid {owner.pid}"):
            RunLock.acquire(run)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert lock_holder(run) is None and summarize(run).status == "interrupted"


@pytest.mark.slow
def test_resuming_a_run_another_process_trains_is_one_line_and_harms_nothing(tmp_path, capsys):
    from tui.cli.main import main

    runs = tmp_path / "runs"
    args = ["train", "--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "2000", "--batch-size", "100",
            "--epochs", "1", "--image-size", "16", "--device", "cpu", "--run-dir", str(runs), "--name", "busy", "--json"]
    owner = subprocess.Popen([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (runs / "busy" / "run.json").exists():
        assert owner.poll() is None and time.time() < deadline, owner.stderr.read() if owner.poll() is not None else ""
        time.sleep(0.05)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--resume", str(runs / "busy"), "--epochs", "2"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert exit_info.value.code == 2 and len(errors) == 1, err
    assert f"is being trained by pid {owner.pid} on {socket.gethostname()}" in errors[0]
    out, owner_err = owner.communicate(timeout=300)
    assert owner.returncode == 0, owner_err  # the owner never noticed
    assert json.loads(out)["status"] == "completed" and json.loads(out)["epochs"] == 1
    assert lock_holder(runs / "busy") is None


def test_an_owner_on_another_host_is_live_while_its_stream_is_fresh(tmp_path):
    """A shared folder whose locks do not cross machines: the owner record names another host, and only
    a fresh event stream (heartbeats) keeps the run live; a stale one reads as interrupted."""
    from core.runs.event_log import EVENTS, STALE_AFTER, encode
    from core.runs.events import Heartbeat

    run = fake_run(tmp_path)
    (run / "run.lock").write_text(json.dumps({"pid": 77, "host": "gpu-box-elsewhere", "since": time.time() - 60}))
    (run / EVENTS).write_bytes(encode(Heartbeat(), time.time() - 1))
    s = summarize(run)
    assert s.status == "running" and s.live and s.host == "gpu-box-elsewhere"
    (run / EVENTS).write_bytes(encode(Heartbeat(), time.time() - STALE_AFTER - 5))
    assert summarize(run).status == "interrupted"
    (run / "run.lock").write_text(json.dumps({"pid": 77, "host": socket.gethostname(), "since": 0}))
    (run / EVENTS).write_bytes(encode(Heartbeat(), time.time()))  # our own host: only the lock counts
    assert summarize(run).status == "interrupted"
