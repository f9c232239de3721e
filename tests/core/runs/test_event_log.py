"""The event stream: versioned lines, throttled progress, heartbeats in silence, torn and damaged lines
skipped by readers, and a failing disk that turns the stream off without raising into the run."""

from __future__ import annotations

import json
import os
import time

import pytest

from core.runs.event_log import EVENTS, EventLog, StreamReader, encode, last_write_time, read_events
from core.runs.events import (
    BatchProgress, CheckpointSaved, ControlAck, EpochEnded, Heartbeat, Notice, RunFinished, RunStatus,
)


def progress(batch: int, batches: int = 100) -> BatchProgress:
    return BatchProgress(epoch=1, epochs=2, batch=batch, batches=batches, global_step=batch, total_steps=200,
                         loss=2.302585092994, epoch_loss=2.31, epoch_acc=0.1, lr=0.1, images_per_sec=812.3456789,
                         elapsed=1.0, eta=float("nan"))


def test_lines_are_versioned_and_round_trip(tmp_path):
    log = EventLog(tmp_path)
    log.record(Notice("hello"))
    log.record(CheckpointSaved(path="x/last.pt", epoch=1, kind="last", mid_epoch=True))
    log.record(ControlAck(id="ab12", seq=3, request="pause", outcome="paused at epoch 1, batch 2/9"))
    log.record(RunFinished(status=RunStatus.STOPPED, run_dir="x", epochs_completed=1, final_test_acc=None,
                           best_val_acc=0.5, train_seconds=1.5, images_per_sec=None))
    log.close()
    lines = (tmp_path / EVENTS).read_text().splitlines()
    assert all(json.loads(line)["v"] == 1 and "t" in json.loads(line) for line in lines)
    events = [r.event for r in read_events(tmp_path)]
    assert events[0] == Notice("hello")
    assert events[1] == CheckpointSaved(path="x/last.pt", epoch=1, kind="last", mid_epoch=True)
    assert events[2].outcome == "paused at epoch 1, batch 2/9"
    assert events[3].status is RunStatus.STOPPED and events[3].best_val_acc == 0.5


def test_progress_is_throttled_but_an_epochs_last_batch_always_lands(tmp_path):
    log = EventLog(tmp_path, progress_every=1000.0, heartbeat_every=1000.0)
    for b in range(1, 101):
        log.record(progress(b))
    log.close()
    batches = [r.event.batch for r in read_events(tmp_path)]
    assert batches == [1, 100]  # the first, then nothing until the epoch's end
    assert read_events(tmp_path)[0].event.images_per_sec == 812.346  # 6 significant digits


def test_heartbeats_fill_silence_only(tmp_path):
    log = EventLog(tmp_path, progress_every=0.0, heartbeat_every=0.2)
    time.sleep(0.7)
    beats_while_silent = sum(isinstance(r.event, Heartbeat) for r in read_events(tmp_path))
    end = time.time() + 0.7
    while time.time() < end:  # busy: a line every 20 ms, so no heartbeat is needed
        log.record(Notice("busy"))
        time.sleep(0.02)
    log.close()
    records = read_events(tmp_path)
    beats_while_busy = sum(isinstance(r.event, Heartbeat) for r in records) - beats_while_silent
    assert beats_while_silent >= 2
    assert beats_while_busy <= 1
    assert last_write_time(tmp_path) == records[-1].t


def test_reader_waits_for_a_torn_last_line_and_skips_damaged_ones(tmp_path):
    path = tmp_path / EVENTS
    whole = encode(Notice("one"), 1.0) + b"{not json}\n" + encode(Notice("two"), 2.0) + b'{"v":99,"t":3,"event":"Future"}\n'
    torn = encode(Notice("three"), 3.0)
    path.write_bytes(whole + torn[:10])
    reader = StreamReader(tmp_path)
    assert [r.event.message for r in reader.poll()] == ["one", "two"]
    assert reader.skipped == 2
    assert reader.poll() == []  # the torn line is not read as garbage
    with open(path, "ab") as fh:
        fh.write(torn[10:])
    assert [r.event.message for r in reader.poll()] == ["three"]
    assert last_write_time(tmp_path) == 3.0


def test_last_write_time_ignores_a_torn_tail(tmp_path):
    (tmp_path / EVENTS).write_bytes(encode(Notice("a"), 5.0) + b'{"v":1,"t":9')
    assert last_write_time(tmp_path) == 5.0
    assert last_write_time(tmp_path / "nothing") is None


def test_a_failing_write_turns_the_stream_off_without_raising(tmp_path):
    log = EventLog(tmp_path)
    os.close(log._fd)  # the descriptor goes bad as on a vanished mount: writes fail with EBADF
    log.record(Notice("lost"))
    assert log.error is not None and "event stream" in log.error
    log.record(Notice("also lost, quietly"))
    log.close()


def _epoch_events(epoch: int, batches: int = 10):
    from core.runs.events import EpochStarted, EvalEnded

    yield EpochStarted(epoch=epoch, epochs=10**6, lr=0.1)
    for b in range(1, batches + 1):
        yield progress(b, batches)
    yield EvalEnded(epoch=epoch, split="test", loss=1.0, accuracy=0.5, per_class_accuracy=tuple([0.5] * 10),
                    confusion=tuple(tuple([50] * 10) for _ in range(10)), classes=tuple("abcdefghij"))
    yield EpochEnded(epoch=epoch, epochs=10**6, train_loss=1.0, train_acc=0.5, val_loss=None, val_acc=None,
                     test_loss=1.0, test_acc=0.5, lr=0.1, seconds=1.0, train_seconds=0.9, images_per_sec=50000.0)
    yield CheckpointSaved(path="r/last.pt", epoch=epoch, kind="last")


@pytest.mark.parametrize("epoch_seconds", [0.6, 2.0, 30.0])
def test_an_hour_of_any_epoch_length_stays_within_the_daily_budget(tmp_path, epoch_seconds):
    """A fake clock runs an hour of training (progress offered every 0.1 s): the stream keeps within its
    budget's rate (+ the burst), and every EpochEnded (the story) is written, however short the epochs."""
    from core.runs.event_log import BUDGET_PER_DAY, BURST

    clock = [0.0]
    log = EventLog(tmp_path, heartbeat_every=10**9, clock=lambda: clock[0])
    epochs = int(3600 / epoch_seconds)
    for epoch in range(1, epochs + 1):
        events = list(_epoch_events(epoch))
        for e in events:
            clock[0] += epoch_seconds / len(events)
            log.record(e)
    log.close()
    size = (tmp_path / EVENTS).stat().st_size
    assert size <= BUDGET_PER_DAY / 24 + BURST + 300 * 2  # an hour's share of 45 MB/day, plus the burst
    assert BUDGET_PER_DAY + BURST <= 50e6  # so a day stays under 50 MB
    written = read_events(tmp_path)
    assert sum(isinstance(r.event, EpochEnded) for r in written) == epochs
    if epoch_seconds >= 30:
        assert log.thinned == 0  # ordinary epochs lose nothing
    elif epoch_seconds < 1:
        assert log.thinned > 0  # 6000 epochs an hour: more than the budget, so progress and matrices thin out
