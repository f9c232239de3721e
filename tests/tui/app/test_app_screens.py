"""The app's other screens and its form's rules, driven with keys through Pilot: the runs screen opens and deletes a
run, the fine-tune screen starts from the runs list, the form applies the CLI's rules, and a NaN loss shows a failed
state."""

from __future__ import annotations

import json

import pytest
from pilot_helpers import choose, type_into, wait_until
from pilot_helpers import make_resnet_app as make_app
from textual.widgets import Button, DataTable, Input, Label

from core.config.train_config import TrainConfig
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.confusion import ConfusionMatrix

pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


async def test_runs_screen_opens_and_deletes_a_run(tmp_path):
    from core.train import fit

    fit(TrainConfig(dataset="synthetic", arch="simplecnn", epochs=1, train_subset=100, batch_size=50, image_size=16,
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
    from helpers import build_class_folders, tiny_bundle

    from core.train import fit
    from tui.app.screens.finetune import FinetuneScreen

    fit(TrainConfig(dataset="synthetic", arch="resnet20", epochs=1, batch_size=32, device="cpu",
                    runs_dir=str(tmp_path / "runs"), name="base"), data=tiny_bundle(train=96, test=30, size=32))
    folder = build_class_folders(tmp_path / "pets", per_class=8)  # class folders alone: the test split is held out
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
        assert "class folders: 3 classes, 18 train, 6 test" in screen.data_info
        assert "6 images held out (0.2 of each class" in screen.data_info and "cat 6/2" in screen.data_info
        assert "held in memory" in screen.data_info
        await type_into(pilot, "#f-test_split", "3")  # a count or a fraction; the summary follows it
        await wait_until(pilot, lambda: "cat 7/1" in screen.data_info and "(3 images, --split-seed 0)" in screen.data_info)
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
