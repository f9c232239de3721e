"""The README's promises about the training screen's keys, driven through Pilot on real tiny runs: c saves a
mid-epoch checkpoint, p pauses and resumes, n waits for the run, every confirm's "no" keeps what it asked about, and
leaving the training screen does not touch the run. Keys that must land mid-run are pressed while a Gate holds the
training thread at a known step (a busy event loop can delay Pilot by seconds); the keys still do the work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pilot_helpers import (
    STEPS, TINY, Gate, at_step, drive, epochs_in_metrics, finish, make_app, panel_text, record_notices, start_held,
    wait_until,
)
from textual.widgets import DataTable

from core.config.train_config import TrainConfig
from core.runs.events import CheckpointSaved
from tui.app.screens.confirm import Choose, Confirm
from tui.app.screens.runs import RunsScreen
from tui.app.screens.setup import SetupScreen
from tui.app.screens.training import TrainingScreen

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


# ---------------------------------------------------------------------------------------- training keys
@pytest.mark.slow
async def test_c_saves_a_mid_epoch_checkpoint_and_the_run_goes_on(tmp_path):
    from core.train.checkpoint import load_checkpoint

    app = make_app(tmp_path, name="c")
    first_step = Gate(app, at_step(1))
    saved = Gate(app, lambda e: isinstance(e, CheckpointSaved))  # hold it so last.pt can be read as written
    async with drive(app) as pilot:
        await start_held(pilot, first_step)
        await pilot.press("c")
        first_step.open()
        await wait_until(pilot, saved.reached.is_set)
        state = load_checkpoint(tmp_path / "runs" / "c" / "last.pt")
        assert state["partial"] is not None and state["partial"]["seen"] == 40
        assert state["global_step"] == 1 and state["epoch"] == 0
        saved.open()
        await finish(pilot)
        assert app.live.status == "completed" and app.live.global_step == STEPS
    assert epochs_in_metrics(tmp_path / "runs" / "c") == [1, 2]


@pytest.mark.slow
async def test_p_twice_pauses_then_resumes_and_the_run_completes(tmp_path):
    app = make_app(tmp_path, name="p")
    gate = Gate(app, at_step(1))
    async with drive(app) as pilot:
        await start_held(pilot, gate)
        await pilot.press("p")
        gate.open()
        await wait_until(pilot, lambda: app.live.status == "paused" or app.live.finished)
        assert app.live.status == "paused" and "paused" in panel_text(app)
        await pilot.pause(0.3)
        assert app.live.global_step == 1 and app.is_training and app.live.status == "paused"
        await pilot.press("p")
        await wait_until(pilot, lambda: app.live.status != "paused")
        assert app.live.status in ("running", "completed")
        await finish(pilot)
        assert app.live.status == "completed" and app.live.global_step == STEPS
    assert epochs_in_metrics(tmp_path / "runs" / "p") == [1, 2]


@pytest.mark.slow
async def test_n_refuses_while_training_and_opens_the_setup_screen_after(tmp_path):
    app = make_app(tmp_path, name="n")
    gate = Gate(app, at_step(1))
    async with drive(app) as pilot:
        notices = record_notices(app)
        await start_held(pilot, gate)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen) and app.is_training
        assert any("stop it (s) before setting up another" in m for m in notices), notices
        gate.open()
        await finish(pilot)
        assert app.live.status == "completed"
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)


# ---------------------------------------------------------------------------------------- "no" to a confirm
@pytest.mark.slow
async def test_answering_no_to_stop_or_quit_keeps_the_run_training(tmp_path):
    app = make_app(tmp_path, name="keep")
    gate = Gate(app, at_step(1))
    async with drive(app) as pilot:
        await start_held(pilot, gate)
        for key, answer in (("s", "n"), ("s", "escape"), ("q", "escape"), ("q", "c")):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, Confirm if key == "s" else Choose))
            await pilot.press(answer)
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen), (key, answer)
            assert app.is_running and app.is_training and not app.control.stop.is_set(), (key, answer)
        gate.open()
        await finish(pilot)
        assert app.is_running and app.live.status == "completed"
    run = tmp_path / "runs" / "keep"
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert epochs_in_metrics(run) == [1, 2] and (run / "final.pt").is_file()


@pytest.mark.slow
async def test_answering_no_to_delete_keeps_the_run(tmp_path):
    from core.train import fit

    fit(TrainConfig(**(TINY | dict(epochs=1, runs_dir=str(tmp_path / "runs"), name="kept"))))
    app = make_app(tmp_path)
    async with drive(app) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("f5")  # re-read the folder: the table shows what is on disk
        await pilot.pause()
        assert (tmp_path / "runs" / "kept" / "final.pt").is_file()
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 1 and "kept" in str(table.get_row_at(0))


# ---------------------------------------------------------------------------------------- leaving the screen
@pytest.mark.slow
async def test_leaving_the_training_screen_does_not_touch_the_run(tmp_path):
    app = make_app(tmp_path, name="away")
    gate = Gate(app, at_step(1))
    async with drive(app) as pilot:
        await start_held(pilot, gate)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.is_training
        assert "running" in str(app.screen.query_one("#runs", DataTable).get_row_at(0))
        await pilot.press("n")  # refused while training: stays here
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        gate.open()
        await finish(pilot)  # the rest of the run happens while the runs screen is shown
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        assert app.screen.query_one("#epochs", DataTable).row_count == 2
        assert "Epoch 2/2" in panel_text(app) and "completed" in panel_text(app)
        await pilot.press("n")  # nothing trains now: the setup screen, and ctrl+t comes back
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        assert app.screen.query_one("#epochs", DataTable).row_count == 2 and "completed" in panel_text(app)
    run = tmp_path / "runs" / "away"
    assert app.live.status == "completed" and epochs_in_metrics(run) == [1, 2]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
