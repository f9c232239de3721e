"""RunFollower's ends that need no live process (the live ones are in tests/tui/cli/test_background_runs.py)."""

from __future__ import annotations

import shutil

from core.runs.event_log import EVENTS, encode
from core.runs.events import Notice
from core.runs.follow import RunFollower


def test_a_deleted_run_folder_is_vanished(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    follower = RunFollower(run)
    shutil.rmtree(run)
    assert follower.poll().end == "vanished"


def test_a_run_folder_deleted_and_made_again_is_vanished_not_interrupted(tmp_path):
    """Something (an old writer, a user) makes the path again: it is another folder, not the run followed.
    (The new folder may even get the old inode number back, so the stream read so far is what tells.)"""
    run = tmp_path / "run"
    run.mkdir()
    (run / EVENTS).write_bytes(encode(Notice("hello"), 1.0))
    follower = RunFollower(run)
    assert [r.event.message for r in follower.poll(max_bytes=None).records] == ["hello"]
    shutil.rmtree(run)
    (run / "tensorboard").mkdir(parents=True)
    assert follower.poll().end == "vanished"
