"""Stalled runs worked out from the stream's tail (core.runs.stall) and shown by the catalog; launches whose child
died read failed at once. Streams are written here line by line, with the times each scenario needs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import activity
from core.runs.catalog import summarize
from core.runs.event_log import EVENTS, EventLog, encode, read_events
from core.runs.events import BatchProgress, ControlAck, Heartbeat, Paused, RunStarted
from core.runs.layout import CONFIG, LAUNCH, LOG, STATUS
from core.runs.lock import RunLock
from core.runs.stall import MIN_STALL, median_step_seconds, progress

NOW = 1_800_000_000.0


def step(t_step: int, elapsed: float) -> BatchProgress:
    return BatchProgress(epoch=1, epochs=9, batch=t_step, batches=1000, global_step=t_step, total_steps=9000, loss=1.0,
                         epoch_loss=1.0, epoch_acc=0.5, lr=0.1, images_per_sec=100.0, elapsed=elapsed, eta=10.0)


def stream(run_dir: Path, *records: tuple[float, object]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / EVENTS, "wb") as fh:
        for t, event in records:
            fh.write(encode(event, t))
    return run_dir


def beats(start: float, end: float, worked: float | None) -> list[tuple[float, Heartbeat]]:
    return [(t, Heartbeat(worked=worked)) for t in range(int(start), int(end), 2)]


def test_heartbeats_alone_do_not_count_as_work_but_their_worked_time_does(tmp_path):
    # A loop hung after its last step at NOW-100 while the heartbeat thread kept beating: stalled past 30 s.
    hung = stream(tmp_path / "hung", (NOW - 100, step(50, 10.0)), *beats(NOW - 98, NOW, worked=NOW - 100))
    p = progress(hung, stall_after=30)
    assert p.last_work == NOW - 100 and p.stalled(NOW) and not p.stalled(NOW - 80)
    assert not progress(hung, stall_after=200).stalled(NOW)
    # Evaluating: no progress lines, but the heartbeats say work goes on.
    busy = stream(tmp_path / "busy", (NOW - 100, step(50, 10.0)), *beats(NOW - 98, NOW, worked=None),
                  (NOW - 1, Heartbeat(worked=NOW - 1)))
    assert not progress(busy, stall_after=30).stalled(NOW)
    # A request answered by the control poller is not work either.
    acked = stream(tmp_path / "acked", (NOW - 100, step(50, 10.0)),
                   (NOW - 1, ControlAck(id="x", seq=1, request="continue", outcome="not paused")))
    assert progress(acked, stall_after=30).stalled(NOW)


def test_a_paused_run_is_never_stalled_and_a_new_session_starts_its_clock(tmp_path):
    paused = stream(tmp_path / "paused", (NOW - 900, step(50, 10.0)), (NOW - 899, Paused(epoch=1, batch=50, batches=1000)),
                    *beats(NOW - 890, NOW, worked=NOW - 899))
    assert progress(paused, stall_after=30).paused and not progress(paused, stall_after=30).stalled(NOW)
    # Resumed a day later: its owner took the run a second ago and has not beaten yet.
    old = stream(tmp_path / "old", (NOW - 86400, step(50, 10.0)))
    assert progress(old, stall_after=30).stalled(NOW)
    assert not progress(old, stall_after=30, since=NOW - 1).stalled(NOW)


def test_the_default_threshold_is_ten_median_steps_but_at_least_two_minutes(tmp_path):
    fast = stream(tmp_path / "fast", *[(NOW - 100 + i, step(10 * i, 2.0 * i)) for i in range(1, 6)])
    assert median_step_seconds(read_events(fast)) == pytest.approx(0.2)
    assert progress(fast).threshold == MIN_STALL
    slow = stream(tmp_path / "slow", *[(NOW - 1000 + 30 * i, step(i, 30.0 * i)) for i in range(1, 6)])
    assert progress(slow).threshold == pytest.approx(300.0)
    assert progress(slow, stall_after=45).threshold == 45


def test_the_event_log_heartbeat_carries_the_last_work_time(tmp_path, monkeypatch):
    monkeypatch.setattr(activity, "_last", 1234.5)
    log = EventLog(tmp_path, heartbeat_every=0.05)
    try:
        deadline = time.monotonic() + 5
        while not any(isinstance(r.event, Heartbeat) for r in read_events(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        log.close()
    worked = [r.event.worked for r in read_events(tmp_path) if isinstance(r.event, Heartbeat)]
    assert worked and set(worked) == {1234.5}
    activity.mark()
    assert time.time() - activity.last() < 1


def _running_run(run_dir: Path, stall_after: float, *records) -> RunLock:
    stream(run_dir, *records)
    (run_dir / CONFIG).write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": 9,
                                                       "stall_after": stall_after}}))
    (run_dir / STATUS).write_text(json.dumps({"status": "running", "epochs_completed": 0, "updated": time.time()}))
    return RunLock.acquire(run_dir)


def test_the_catalog_shows_a_live_run_without_progress_as_stalled_and_why(tmp_path):
    now = time.time()
    lock = _running_run(tmp_path / "r", 5, (now - 60, RunStarted(
        run_name="r", run_dir=str(tmp_path / "r"), arch="resnet20", config={}, classes=("a",), num_params=1, device="cpu",
        precision="fp32", epochs=9, start_epoch=0, steps_per_epoch=10, train_size=10, val_size=0, test_size=0)),
        (now - 30, step(5, 3.0)))
    try:
        # The lock was taken just now: a session that only started has done no work yet.
        assert summarize(tmp_path / "r").status == "running"
        with open(tmp_path / "r" / "run.lock", "r+") as fh:  # as if taken 40 s ago
            owner = json.loads(fh.read())
            fh.seek(0), fh.truncate(), fh.write(json.dumps({**owner, "since": now - 40}))
        s = summarize(tmp_path / "r")
        assert s.status == "stalled" and s.live and "no training progress for 30s" in s.note, s
        assert summarize(tmp_path / "r", stall=False).status == "running"
        with open(tmp_path / "r" / EVENTS, "ab") as fh:
            fh.write(encode(step(6, 3.5), time.time()))
        assert summarize(tmp_path / "r").status == "running"
    finally:
        lock.release()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_launch_whose_child_died_reads_failed_at_once_with_its_last_log_line(tmp_path):
    run = tmp_path / "bg"
    run.mkdir()
    launch = {"v": 1, "resume": False, "config": {"arch": "resnet20", "dataset": "synthetic", "epochs": 3},
              "time": time.time(), "host": socket.gethostname(), "pid": os.getpid()}
    (run / LAUNCH).write_text(json.dumps(launch))
    (run / LOG).write_text("--- launched\nTraceback (most recent call last):\nImportError: boom\n\n")
    assert summarize(run).status == "starting"  # its child (this process) lives
    (run / LAUNCH).write_text(json.dumps({**launch, "pid": _dead_pid()}))
    s = summarize(run)
    assert s.status == "failed" and s.note == "failed to start: ImportError: boom"
    # A resume launched after the run's last status, whose child died before taking the lock.
    (run / CONFIG).write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": 3}}))
    (run / STATUS).write_text(json.dumps({"status": "stopped", "epochs_completed": 1, "updated": time.time() - 60}))
    (run / LAUNCH).write_text(json.dumps({**launch, "resume": True, "pid": _dead_pid()}))
    s = summarize(run)
    assert s.status == "failed" and s.note == "its resume failed to start: ImportError: boom"
    (run / LAUNCH).write_text(json.dumps({**launch, "resume": True}))
    assert summarize(run).status == "starting"
