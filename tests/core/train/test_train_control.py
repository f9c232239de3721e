"""fit() under control: pause, resume, save now, stop while paused, and a hard interrupt recorded as stopped."""

from __future__ import annotations

import json
import threading

import pytest
from helpers import Recorder, fit_config, tiny_bundle

from core.runs.events import BatchProgress, CheckpointSaved, EpochEnded, EpochStarted
from core.train import fit
from core.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("every_batch_reported")  # tests count steps


config = fit_config


def test_pause_resume_and_save_now(tmp_path):
    import time

    from core.runs.control import TrainControl
    from core.runs.events import Paused, Resumed

    control = TrainControl()
    rec = Recorder()
    stamps = []

    def sink(event):
        rec(event)
        stamps.append((time.perf_counter(), event))
        if isinstance(event, BatchProgress) and event.global_step == 3:
            control.save_now.set()
            control.toggle_pause()
            threading.Timer(0.4, control.toggle_pause).start()

    result = fit(config(tmp_path, epochs=1), sink, control=control, data=tiny_bundle())
    assert result.status == "completed"
    assert rec.of(Paused) == [Paused(epoch=1, batch=3, batches=8)]
    assert rec.of(Resumed) == [Resumed(epoch=1, batch=3, batches=8)]
    saves = rec.of(CheckpointSaved)
    assert saves[0].mid_epoch and saves[0].epoch == 0  # the save-now checkpoint, inside epoch 1
    # the pause really held the training: batch 4 came only after it, and its time is not training time
    paused_at = next(t for t, e in stamps if isinstance(e, Paused))
    batch4_at = next(t for t, e in stamps if isinstance(e, BatchProgress) and e.global_step == 4)
    assert batch4_at - paused_at >= 0.35
    started = next(t for t, e in stamps if isinstance(e, EpochStarted))
    last_batch = next(t for t, e in stamps if isinstance(e, BatchProgress) and e.global_step == 8)
    assert rec.of(EpochEnded)[0].train_seconds <= (last_batch - started) - 0.35


def test_stop_while_paused_is_immediate(tmp_path):
    import time

    from core.runs.control import TrainControl

    control = TrainControl()
    asked = {}

    def stop_now():
        asked["at"] = time.perf_counter()
        control.request_stop()

    def sink(event):
        if isinstance(event, BatchProgress) and event.global_step == 2:
            control.toggle_pause()
            threading.Timer(0.2, stop_now).start()

    done = {}
    worker = threading.Thread(
        target=lambda: done.update(result=fit(config(tmp_path, epochs=1), sink, control=control, data=tiny_bundle()),
                                   at=time.perf_counter()),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "a stop while paused never ended the run"
    assert done["result"].status == "stopped"
    assert done["at"] - asked["at"] < 3.0  # no waiting for an un-pause: only the checkpoint save
    assert load_checkpoint(done["result"].run_dir / "last.pt")["partial"]["seen"] == 64


def test_a_hard_interrupt_is_recorded_as_stopped(tmp_path):
    def sink(event):
        if isinstance(event, BatchProgress) and event.global_step == 10:
            raise KeyboardInterrupt

    from core.runs.events import safe_sink  # noqa: F401 - KeyboardInterrupt is not an Exception: it goes through

    with pytest.raises(KeyboardInterrupt):
        fit(config(tmp_path, epochs=2), sink, data=tiny_bundle())
    status = json.loads((tmp_path / "runs" / "t" / "run.json").read_text())
    assert status["status"] == "stopped" and "second Ctrl-C" in status["error"]
    assert load_checkpoint(tmp_path / "runs" / "t" / "last.pt")["epoch"] == 1
