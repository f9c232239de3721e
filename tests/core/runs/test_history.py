"""Opening a run reads its story (story.jsonl) and the stream's tail, not the whole stream (core.runs.history)."""

from __future__ import annotations

import json
import os

from core.runs.event_log import EVENTS, STORY, EventLog, read_events
from core.runs.events import BatchProgress, EpochEnded, Heartbeat, Notice, RunFinished, RunStatus
from core.runs.follow import RunFollower
from core.runs.history import read_history


def progress(step: int) -> BatchProgress:
    return BatchProgress(epoch=1, epochs=9, batch=step, batches=10**6, global_step=step, total_steps=10**6, loss=1.0,
                         epoch_loss=1.0, epoch_acc=0.5, lr=0.1, images_per_sec=10.0, elapsed=float(step), eta=1.0)


def write(run_dir, steps: range, every: int = 100) -> None:
    clock = [1.8e9 + steps.start]
    log = EventLog(run_dir, heartbeat_every=1e9, clock=lambda: clock[0])
    for s in steps:
        clock[0] += 1
        log.record(progress(s))
        if s % every == 0:
            log.record(Notice(message=f"at {s}"))
    log.close()


def story_of(records) -> list:
    return [r for r in records if not isinstance(r.event, (BatchProgress, Heartbeat))]


def test_the_history_is_the_whole_story_and_the_latest_progress_without_reading_the_old_stream(tmp_path):
    write(tmp_path, range(1, 3001))
    full = read_events(tmp_path)
    history, end = read_history(tmp_path, tail=30_000)
    assert end == os.path.getsize(tmp_path / EVENTS)
    assert story_of(history) == story_of(full) and len(story_of(full)) == 30
    shown = [r for r in history if isinstance(r.event, BatchProgress)]
    assert shown == [r for r in full if isinstance(r.event, BatchProgress)][-len(shown):] and 50 < len(shown) < 200
    # Damage the stream's first half: opening the run does not read it, so the story is whole all the same.
    with open(tmp_path / EVENTS, "r+b") as fh:
        fh.write(b"x" * (os.path.getsize(tmp_path / EVENTS) // 2))
    assert story_of(read_history(tmp_path, tail=30_000)[0]) == story_of(full)
    assert len(story_of(read_events(tmp_path))) < 30  # (a whole read loses what the damage hid)


def test_a_run_without_a_story_or_with_one_begun_by_a_resume_is_read_whole(tmp_path):
    old, resumed = tmp_path / "old", tmp_path / "resumed"
    old.mkdir(), resumed.mkdir()
    write(old, range(1, 1001))
    (old / STORY).unlink()  # a run written before story.jsonl existed
    assert read_history(old, tail=5000)[0] == read_events(old)
    write(resumed, range(1, 1001))
    (resumed / STORY).unlink()
    write(resumed, range(1001, 2001))  # its resume writes a story from here on
    assert json.loads((resumed / STORY).read_text().splitlines()[0])["story_from"] > 0
    assert story_of(read_history(resumed, tail=5000)[0]) == story_of(read_events(resumed))
    assert len(story_of(read_events(resumed))) == 20


def test_a_follower_goes_on_from_the_history(tmp_path):
    write(tmp_path, range(1, 501))
    follower = RunFollower(tmp_path)
    assert story_of(follower.history())
    clock = 1.9e9
    log = EventLog(tmp_path, heartbeat_every=1e9, clock=lambda: clock)
    log.record(EpochEnded(epoch=1, epochs=9, train_loss=1.0, train_acc=0.5, val_loss=None, val_acc=None, test_loss=None,
                          test_acc=None, lr=0.1, seconds=1.0, train_seconds=1.0, images_per_sec=1.0))
    log.record(RunFinished(status=RunStatus.COMPLETED, run_dir=str(tmp_path), epochs_completed=1, final_test_acc=None,
                           best_val_acc=None, train_seconds=1.0, images_per_sec=1.0))
    log.close()
    poll = follower.poll()
    assert [type(r.event).__name__ for r in poll.records] == ["EpochEnded", "RunFinished"] and poll.end == "finished"
