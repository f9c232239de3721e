"""The Textual app driven with keys through Textual's Pilot, training for real on tiny synthetic runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pilot_helpers import Gate, at_step, choose, type_into, wait_until
from pilot_helpers import make_resnet_app as make_app
from textual.widgets import Button, DataTable, Label, Select

from core.runs.layout import read_metrics
from core.train.checkpoint import load_checkpoint
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.confusion import ConfusionMatrix

pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


async def test_invalid_values_keep_start_disabled_and_say_why(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        start = app.screen.query_one("#start", Button)
        assert not start.disabled
        await type_into(pilot, "#f-lr", "abc")
        await pilot.pause()
        assert start.disabled
        assert "must be a number" in str(app.screen.query_one("#r-lr", Label).render())
        await type_into(pilot, "#f-lr", "0")
        await pilot.pause()
        assert start.disabled and "finite number > 0" in str(app.screen.query_one("#r-lr", Label).render())
        await type_into(pilot, "#f-epochs", "0")
        await pilot.press("ctrl+s")  # Start refuses while invalid: no run, no training screen
        await pilot.pause()
        assert not isinstance(app.screen, TrainingScreen) and not (tmp_path / "runs").exists()
        await type_into(pilot, "#f-lr", "0.05")
        await type_into(pilot, "#f-epochs", "1")
        await pilot.pause()
        assert not start.disabled


@pytest.mark.slow
async def test_folder_dataset_path_is_checked_in_the_form(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await choose(pilot, "#f-dataset", "up")  # synthetic -> folder
        assert app.screen.query_one("#f-dataset", Select).value == "folder"
        await type_into(pilot, "#f-data", str(tmp_path / "missing"))
        await pilot.pause()
        assert app.screen.query_one("#start", Button).disabled
        assert "is not a folder" in str(app.screen.query_one("#r-data", Label).render())


@pytest.mark.slow
async def test_fill_the_form_with_keys_train_and_watch(tmp_path):
    app = make_app(tmp_path, arch="resnet20", dataset="cifar10")
    async with app.run_test(size=(80, 24)) as pilot:
        await choose(pilot, "#f-arch", "end", "up", "up")  # simplecnn comes before the two torchvision models
        await choose(pilot, "#f-dataset", "end")  # synthetic
        await type_into(pilot, "#f-epochs", "2")
        await type_into(pilot, "#f-train_subset", "200")
        await type_into(pilot, "#f-batch_size", "50")
        await type_into(pilot, "#f-name", "keys")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await wait_until(pilot, lambda: app.live.status == "completed")
        await app.workers.wait_for_complete()
        await pilot.pause()
        live = app.live
        assert (live.arch, live.epochs, live.global_step) == ("simplecnn", 2, 8)
        screen = app.screen
        from tui.app.widgets.progress import ProgressPanel

        panel = screen.query_one(ProgressPanel).text()
        assert "Epoch 2/2  batch 4/4" in panel and "completed  final test acc" in panel
        assert screen.query_one("#epochs", DataTable).row_count == 2
        matrix = screen.query_one("#cm", ConfusionMatrix).plain()
        assert "red-stripes" in matrix and "purple-checks" in matrix
        run = tmp_path / "runs" / "keys"
        assert (run / "final.pt").is_file() and [r["epoch"] for r in read_metrics(run)] == [1, 2]
        # the last config is remembered for the next session
        remembered = json.loads((tmp_path / "home" / "last-config.json").read_text())
        assert remembered["arch"] == "simplecnn" and remembered["epochs"] == 2


@pytest.mark.slow
async def test_pause_stop_then_resume_from_the_runs_screen(tmp_path):
    app = make_app(tmp_path, epochs=3, train_subset=600, batch_size=60, name="sr")
    gate = Gate(app, at_step(2))  # holds the trainer inside step 2 while the key is pressed
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, gate.reached.is_set)
        await pilot.press("p")
        gate.open()
        await wait_until(pilot, lambda: app.live.status == "paused")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: app.live.status == "stopped")
        await app.workers.wait_for_complete()
        run = tmp_path / "runs" / "sr"
        assert json.loads((run / "run.json").read_text())["status"] == "stopped"
        # last.pt holds the very batch the run was paused (and then stopped) at, not the starting state
        (paused,) = [n for n in app.live.notices if n.startswith("paused at")]
        epoch, batch = (int(v) for v in re.match(r"paused at epoch (\d+), batch (\d+)/10", paused).groups())
        assert_stopped_mid_epoch(run, epoch, batch)

        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 1
        await pilot.press("r")  # resume the selected run
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await wait_until(pilot, lambda: app.live.status == "completed", seconds=60)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]
        # the log shows the epochs from before the stop too
        assert app.screen.query_one("#epochs", DataTable).row_count == 3


@pytest.mark.slow
async def test_quit_while_training_stops_cleanly_and_saves(tmp_path):
    app = make_app(tmp_path, epochs=5, train_subset=600, batch_size=60, name="q")
    gate = Gate(app, at_step(3))  # holds the trainer inside step 3 while q and y are pressed
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, gate.reached.is_set)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("s")  # of stop / move to background / cancel
        gate.open()
        await wait_until(pilot, lambda: not app.is_running or app.live.status == "stopped")
    run = tmp_path / "runs" / "q"
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert_stopped_mid_epoch(run, epoch=1, batch=3)  # the batch it was in when the answer came


def assert_stopped_mid_epoch(run: Path, epoch: int | None = None, batch: int | None = None) -> None:
    """last.pt holds a stop inside an epoch (600 images, batch 60: 10 batches an epoch), not the starting state."""
    last = load_checkpoint(run / "last.pt")
    part = last["partial"]
    assert last["global_step"] > 0 and part is not None and part["seen"] > 0, (last["global_step"], part)
    done_in_epoch = last["global_step"] - 10 * last["epoch"]
    assert part["seen"] == 60 * done_in_epoch and 0 < done_in_epoch <= 10
    if epoch is not None:
        assert (last["epoch"] + 1, done_in_epoch) == (epoch, batch)
