"""The app shows a stalled run: attached, its status line says stalled and why (and a notification says how to end
it), then running again when progress comes; the runs screen's status column says stalled. The run here is a
folder whose lock this test process holds, with a stream written line by line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.config.train_config import TrainConfig
from core.runs.event_log import EVENTS, encode
from core.runs.events import BatchProgress, RunStarted
from core.runs.layout import CONFIG, STATUS
from core.runs.lock import RunLock
from tui.app.app import ResnetTui
from tui.app.screens.runs import RunsScreen

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app_home")]


def progress_line(step: int) -> BatchProgress:
    return BatchProgress(epoch=1, epochs=5, batch=step, batches=100, global_step=step, total_steps=500, loss=1.0,
                         epoch_loss=1.0, epoch_acc=0.5, lr=0.1, images_per_sec=100.0, elapsed=float(step), eta=10.0)


def stalled_run(tmp_path: Path) -> tuple[Path, RunLock]:
    run = tmp_path / "runs" / "hung"
    run.mkdir(parents=True)
    now = time.time()
    started = RunStarted(run_name="hung", run_dir=str(run), arch="resnet20", config={}, classes=tuple("abcdefghij"),
                         num_params=1, device="cpu", precision="fp32", epochs=5, start_epoch=0, steps_per_epoch=100,
                         train_size=100, val_size=0, test_size=0)
    (run / EVENTS).write_bytes(encode(started, now - 60) + encode(progress_line(3), now - 30))
    (run / CONFIG).write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": 5,
                                                    "stall_after": 5}}))
    (run / STATUS).write_text(json.dumps({"status": "running", "epochs_completed": 0, "epochs": 5, "updated": now}))
    lock = RunLock.acquire(run)
    with open(run / "run.lock", "r+") as fh:  # its owner took it 40 s ago
        owner = json.loads(fh.read())
        fh.seek(0), fh.truncate(), fh.write(json.dumps({**owner, "since": now - 40}))
    return run, lock


async def until(pilot, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def test_an_attached_stalled_run_reads_stalled_then_running_and_the_runs_screen_says_so(tmp_path):
    run, lock = stalled_run(tmp_path)
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, base_config=TrainConfig(dataset="synthetic"),
                    devices=[("cpu  (test)", "cpu")])
    try:
        async with app.run_test(size=(110, 30)) as pilot:
            app.push_screen(RunsScreen(str(tmp_path / "runs")))
            await pilot.pause(0.3)
            table = app.screen.query_one("DataTable")
            assert "● stalled" in [str(c) for c in table.get_row(str(run))]
            app.attach(run)
            await until(pilot, lambda: app.live.status == "stalled", 10, "the attached view to say stalled")
            assert "no training progress for" in app.live.error
            assert any("stalled" in n.message and "runs kill hung" in n.message for n in app._notifications), [n.message for n in app._notifications]
            with open(run / EVENTS, "ab") as fh:
                fh.write(encode(progress_line(4), time.time()))
            await until(pilot, lambda: app.live.status == "running", 10, "running again")
    finally:
        lock.release()
