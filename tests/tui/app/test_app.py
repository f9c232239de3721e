"""The Textual app driven with keys through Textual's Pilot, training for real on tiny synthetic runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, Label, Select

from core.train.checkpoint import load_checkpoint
from core.config.train_config import TrainConfig
from core.runs.layout import read_metrics
from pilot_helpers import Gate, at_step
from tui.app.app import ResnetTui
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.confusion import ConfusionMatrix

DEVICES = [("cpu  (test)", "cpu")]


pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


def make_app(tmp_path: Path, **cfg) -> ResnetTui:
    base = TrainConfig(dataset="synthetic", arch="resnet20", epochs=2, batch_size=50, lr=0.05, train_subset=200)
    return ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, base_config=base.replace(**cfg), devices=DEVICES)


async def type_into(pilot, selector: str, text: str, paste: bool = False) -> None:
    """Clear the field and type ``text`` key by key; a long text (a path) is pasted, as a person would
    (Pilot waits for the app to go idle after every key: ~0.1 s a key). ``paste`` pastes any text."""
    from textual import events

    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    if len(text) <= 12 and not paste:
        await pilot.press("end", "ctrl+u", *list(text))
    else:
        await pilot.press("end", "ctrl+u")
        pilot.app.post_message(events.Paste(text))
        await pilot.pause()


async def choose(pilot, selector: str, *keys: str) -> None:
    """Open a Select with enter and pick with navigation keys (e.g. end = the last option)."""
    pilot.app.screen.query_one(selector, Select).focus()
    await pilot.press("enter", *keys, "enter")


async def wait_until(pilot, condition, steps: int = 400) -> None:
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


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
        await wait_until(pilot, lambda: app.live.status == "completed", steps=1200)
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


async def test_runs_screen_opens_and_deletes_a_run(tmp_path):
    from core.train import fit

    fit(TrainConfig(dataset="synthetic", arch="simplecnn", epochs=1, train_subset=100, batch_size=50,
                    runs_dir=str(tmp_path / "runs"), name="old", device="cpu"))
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.query_one("#runs", DataTable).row_count == 1
        await pilot.press("enter")
        await pilot.pause()
        assert "old" in str(app.screen.query_one("#detail-summary").render())
        await pilot.press("2")
        await pilot.pause()
        assert "red-stripes" in app.screen.query_one(ConfusionMatrix).plain()
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not (tmp_path / "runs" / "old").exists()
        assert app.screen.query_one("#runs", DataTable).row_count == 0


@pytest.mark.slow
async def test_finetune_screen_from_the_runs_list(tmp_path):
    from helpers import build_image_folder, tiny_bundle

    from core.train import fit
    from tui.app.screens.finetune import FinetuneScreen

    fit(TrainConfig(dataset="synthetic", arch="resnet20", epochs=1, batch_size=32, device="cpu",
                    runs_dir=str(tmp_path / "runs"), name="base"), data=tiny_bundle(train=96, test=30, size=32))
    folder = build_image_folder(tmp_path / "pets")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FinetuneScreen)
        await wait_until(pilot, lambda: screen.parent_info is not None)
        assert "resnet20, 10 classes" in str(screen.query_one("#parent-info").render())
        assert screen.query_one("#start", Button).disabled  # no data path yet
        await type_into(pilot, "#f-data", str(folder))
        await wait_until(pilot, lambda: "3 classes" in screen.data_info)
        assert "cat 6/3" in screen.data_info
        await choose(pilot, "#f-freeze", "down")  # none -> backbone
        await type_into(pilot, "#f-epochs", "1")
        await type_into(pilot, "#f-batch_size", "6")
        await type_into(pilot, "#f-name", "ft")
        await pilot.pause()
        assert not screen.query_one("#start", Button).disabled, screen.errors
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)
        await wait_until(pilot, lambda: app.live.status == "completed")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.live.classes == ("cat", "dog", "frog")
        matrix = app.screen.query_one("#cm", ConfusionMatrix).plain()
        assert "0 cat" in matrix and "2 frog" in matrix and "3 " not in matrix.split("acc")[0]
    saved = json.loads((tmp_path / "runs" / "ft" / "config.json").read_text())
    assert saved["train"]["freeze"] == "backbone" and saved["parent"].endswith("base/final.pt")


FORM_RULES = [
    ("lr", "0", "finite number > 0"),
    ("lr", "nan", "finite number > 0"),
    ("lr", "inf", "finite number > 0"),
    ("epochs", "0", "whole number from 1"),
    ("epochs", "2.5", "must be a whole number"),
    ("batch_size", "x", "must be a whole number"),
    ("batch_size", "100000", "whole number from 1 to 65536"),
    ("weight_decay", "-1", "from 0 to 1"),
    ("label_smoothing", "1", "[0, 1)"),
    ("val_split", "0.9", "at most half"),
    ("train_subset", "-5", "whole number from 0"),
    ("seed", "-1", "whole number from 0"),
    ("name", "../escape", "letters, digits"),
]


@pytest.mark.slow
async def test_the_form_applies_the_cli_s_rules(tmp_path):
    """The same rules as the CLI's bad-input matrix, typed into the setup form: a reason under the
    field, Start disabled; fixing the value enables Start again. Values are pasted: typing key by key
    is tested by the fill-the-form test, and here cost ~20 s of waiting for the app to go idle."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        start = screen.query_one("#start", Button)
        for field, bad, reason in FORM_RULES:
            good = screen.query_one(f"#f-{field}", Input).value
            await type_into(pilot, f"#f-{field}", bad, paste=True)
            await pilot.pause()
            shown = str(screen.query_one(f"#r-{field}", Label).render())
            assert start.disabled and reason in shown, (field, bad, shown)
            await type_into(pilot, f"#f-{field}", good, paste=True)
            await pilot.pause()
            assert not start.disabled, (field, screen.errors)


@pytest.mark.slow
async def test_a_nan_loss_shows_a_failed_state_not_a_frozen_screen(tmp_path, monkeypatch):
    from helpers import poison_loss

    poison_loss(monkeypatch, from_call=3)
    app = make_app(tmp_path, epochs=2, name="nan")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.live.status == "failed")
        await app.workers.wait_for_complete()
        await pilot.pause()
        from tui.app.widgets.progress import ProgressPanel

        panel = app.screen.query_one(ProgressPanel).text()
        assert "failed: the loss became nan at step 3" in panel and "lr" in panel
        await pilot.press("r")  # the app still answers keys
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert "failed" in str(app.screen.query_one("#runs", DataTable).get_row_at(0))
