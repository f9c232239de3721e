"""The README's promises about the app's runs, driven with keys through Pilot: resuming failed and interrupted
runs from the runs screen (and refusing a completed one), the real device list, the process memory on the training
screen. Training is real, on tiny synthetic runs. (The setup screen's promises: test_app_setup_promises.py; the
training screen's keys: test_app_training_keys.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pilot_helpers import DEVICES, TINY, drive, epochs_in_metrics, finish, make_app, record_notices, wait_until
from textual.widgets import DataTable, Select

from core.config.train_config import TrainConfig
from core.runs.catalog import list_runs
from tui.app.app import ResnetTui
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.progress import ProgressPanel

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


# ---------------------------------------------------------------------------------------- resuming
@pytest.mark.slow
async def test_a_failed_run_resumes_from_the_runs_screen_and_a_completed_one_refuses(tmp_path, monkeypatch):
    from helpers import poison_loss

    from core.train import fit

    with monkeypatch.context() as m:  # a diverging run: the loss is NaN from its 3rd step (epoch 2)
        poison_loss(m, from_call=3)
        result = fit(TrainConfig(**(TINY | dict(runs_dir=str(tmp_path / "runs"), name="bad"))))
    assert result.status == "failed"
    run = tmp_path / "runs" / "bad"
    assert epochs_in_metrics(run) == [1]
    app = make_app(tmp_path)
    async with drive(app) as pilot:
        notices = record_notices(app)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "failed" in str(app.screen.query_one("#runs", DataTable).get_row_at(0))
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await finish(pilot)
        assert app.live.status == "completed", app.live.error
        assert epochs_in_metrics(run) == [1, 2]

        await pilot.press("r")  # back on the runs screen the run is completed now: r refuses
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert "completed" in str(app.screen.query_one("#runs", DataTable).get_row_at(0))
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and not app.is_training
        assert any("only stopped, failed or interrupted runs resume" in m for m in notices), notices
    assert epochs_in_metrics(run) == [1, 2]


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from core.config.train_config import TrainConfig
    from core.runs.events import EpochStarted
    from core.train import fit

    def sink(event):
        if isinstance(event, EpochStarted) and event.epoch == 2:  # epoch 1 is saved; die without a word
            os.kill(os.getpid(), signal.SIGKILL)

    fit(TrainConfig(dataset="synthetic", arch="simplecnn", epochs=2, batch_size=40, lr=0.05, train_subset=80,
                    image_size=16, device="cpu", runs_dir=sys.argv[1], name="killed"), sink)
    """
)


@pytest.mark.slow
async def test_an_interrupted_run_resumes_from_the_runs_screen(tmp_path):
    """A real training process killed with SIGKILL mid-run: run.json still says running, its owner is gone."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path / "runs")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    run = tmp_path / "runs" / "killed"
    assert [r.status for r in list_runs(tmp_path / "runs")] == ["interrupted"]
    assert epochs_in_metrics(run) == [1]
    app = make_app(tmp_path)
    async with drive(app) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "interrupted" in str(app.screen.query_one("#runs", DataTable).get_row_at(0))
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await finish(pilot)
        assert app.live.status == "completed", app.live.error
        assert app.screen.query_one("#epochs", DataTable).row_count == 2  # epoch 1 from before the kill too
    assert epochs_in_metrics(run) == [1, 2]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


# ---------------------------------------------------------------------------------------- real devices
@pytest.mark.slow
async def test_the_real_device_list_offers_cpu_and_a_run_on_it_completes(tmp_path):
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False,
                    base_config=TrainConfig(**(TINY | dict(epochs=1, device="auto", name="dev"))))
    assert app.devices is None  # choices.device_choices() and core.hardware.devices.list_devices() run for real
    async with drive(app) as pilot:
        select = app.screen.query_one("#f-device", Select)
        assert "cpu" in app.screen.choices["device"]
        assert select.value in app.screen.choices["device"]
        if select.value != "cpu":  # a machine with a GPU preselects it; this test trains on the CPU
            app.screen.set_values(app.screen.config.replace(device="cpu"))
        assert select.value == "cpu"
        await pilot.press("ctrl+s")
        await finish(pilot)
        assert app.live.status == "completed" and app.live.device == "cpu"
    assert epochs_in_metrics(tmp_path / "runs" / "dev") == [1]


@pytest.mark.slow
async def test_the_training_screen_shows_the_process_memory(tmp_path):
    """README: the training screen shows process (or GPU) memory, polled every 2 s while the app runs."""
    long_run = TrainConfig(**(TINY | {"train_subset": 4000, "epochs": 3}))  # long enough for a few polls
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=True, base_config=long_run, devices=DEVICES)
    async with drive(app) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "RAM" in app.screen.query_one(ProgressPanel).text() or app.live.finished,
                         seconds=30)
        shown = re.search(r"RAM (\d+\.\d\d) GiB \(process\)", app.screen.query_one(ProgressPanel).text())
        assert shown and 0.05 < float(shown[1]) < 64, app.screen.query_one(ProgressPanel).text()
        app.control.request_stop()
        await finish(pilot)
