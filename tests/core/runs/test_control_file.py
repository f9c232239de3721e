"""The control file: senders take turns and keep each other's requests; the owner acts on each new
request once, in order, ignores a previous session's, and survives a damaged file with a notice."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from core.runs.control import TrainControl
from core.runs.control_file import CONTROL, ControlPoller, read_requests, send_request


def test_requests_get_increasing_seq_and_unique_ids(tmp_path):
    a = send_request(tmp_path, "pause")
    b = send_request(tmp_path, "checkpoint")
    assert (a.seq, b.seq) == (1, 2) and a.id != b.id
    assert [r.request for r in read_requests(tmp_path)] == ["pause", "checkpoint"]
    with pytest.raises(ValueError):
        send_request(tmp_path, "explode")


def _send_many(run_dir: str, n: int) -> None:
    for _ in range(n):
        send_request(run_dir, "checkpoint")


def test_concurrent_senders_never_lose_a_sequence_number(tmp_path):
    procs = [multiprocessing.get_context("spawn").Process(target=_send_many, args=(str(tmp_path), 6)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    seqs = [r.seq for r in read_requests(tmp_path)]
    assert seqs == list(range(12 - len(seqs) + 1, 13))  # the last KEEP of 12, contiguous: no lost update


def test_poller_handles_each_new_request_once_and_ignores_old_ones(tmp_path):
    old = send_request(tmp_path, "stop")  # a previous session's request
    time.sleep(0.01)
    since = time.time()  # the owner takes the run
    early = send_request(tmp_path, "checkpoint")  # sent before the poller started: still for this owner
    seen, notices = [], []
    poller = ControlPoller(tmp_path, seen.append, notices.append, since=since, every=0.02)
    try:
        p = send_request(tmp_path, "pause")
        c = send_request(tmp_path, "continue")
        deadline = time.time() + 3
        while len(seen) < 3 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert [r.id for r in seen] == [early.id, p.id, c.id]
        assert old.id not in [r.id for r in seen]
    finally:
        poller.close()
    assert notices == []


def test_a_damaged_control_file_gets_one_notice_and_the_next_good_request_works(tmp_path):
    seen, notices = [], []
    poller = ControlPoller(tmp_path, seen.append, notices.append, since=0.0, every=0.02)
    try:
        for garbage in ('{"v": 1, "requests": [{"id": 5}]}', "\x00\x01garbage", '{"v":1,"requests":[{"id":"x","seq":1,"request":"pau'):
            # Whole files at once, as a writer that replaces them: write_text truncates first, and a poll between
            # the truncation and the write saw a fourth (empty) damaged file.
            (tmp_path / "incoming").write_text(garbage)
            os.replace(tmp_path / "incoming", tmp_path / CONTROL)
            time.sleep(0.15)
        assert len(notices) == 3 and all("damaged control file" in n for n in notices)
        assert seen == []
        r = send_request(tmp_path, "checkpoint")  # replaces the damaged file
        deadline = time.time() + 3
        while not seen and time.time() < deadline:
            time.sleep(0.02)
        assert [x.id for x in seen] == [r.id]
    finally:
        poller.close()


def test_train_control_acks_what_needs_no_waiting_and_holds_the_rest_for_the_loop(tmp_path):
    control, acks = TrainControl(), []
    ack = lambda r, outcome: acks.append((r.request, outcome))  # noqa: E731
    send = lambda what: send_request(tmp_path, what)  # noqa: E731
    control.apply(send("continue"), ack)
    assert acks == [("continue", "not paused")]
    p = send("pause")
    control.apply(p, ack)
    assert control.pause.is_set() and control.take("pause") == [p]
    control.apply(send("pause"), ack)
    assert acks[-1] == ("pause", "already paused")
    k = send("checkpoint")
    control.apply(k, ack)
    assert control.save_now.is_set() and control.take_all() == [k]
    control.apply(send("stop"), ack)
    assert control.stop.is_set() and not control.pause.is_set() and acks[-1][0] == "stop"
    control.apply(send("pause"), ack)
    assert acks[-1] == ("pause", "the run is already stopping")


def test_wait_while_paused_returns_for_a_save_request():
    control = TrainControl()
    control.pause.set()
    import threading

    threading.Timer(0.2, control.request_save).start()
    t = time.perf_counter()
    control.wait_while_paused(poll=0.01)
    assert 0.15 < time.perf_counter() - t < 2 and control.pause.is_set()
