"""The README's promises about the setup screen, driven with keys through Pilot: presets fill the form (and the
hidden fields of the run), ctrl+f opens fine-tuning, the last config is remembered (a broken memory is ignored), and
model stats that arrive early keep the chosen architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pilot_helpers import (
    DEVICES, TINY, Gate, at_step, choose, drive, finish, make_app, shown, start_held, type_into, wait_until,
)
from textual.widgets import Select

from core.config.train_config import TrainConfig
from tui.app.app import ResnetTui
from tui.app.screens.confirm import Confirm
from tui.app.screens.setup import SetupScreen

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


# ---------------------------------------------------------------------------------------- setup screen
async def test_presets_fill_the_form(tmp_path):
    app = make_app(tmp_path, epochs=3, lr=0.01, batch_size=32, train_subset=200)
    async with drive(app) as pilot:
        screen = app.screen
        assert screen.query_one("#preset", Select).value == "custom"
        await choose(pilot, "#preset", "down")  # custom -> Quick look
        await pilot.pause()
        assert screen.query_one("#preset", Select).value == "quick-look"
        quick = {"dataset": "synthetic", "arch": "resnet20", "epochs": "2", "lr": "0.05", "batch_size": "128",
                 "schedule": "onecycle", "train_subset": "0"}
        assert shown(screen, quick) == quick
        assert "2 epochs" in str(screen.query_one("#preset-help").render())

        await choose(pilot, "#preset", "down")  # Quick look -> He et al. CIFAR recipe
        await pilot.pause()
        assert screen.query_one("#preset", Select).value == "paper"
        paper = {"dataset": "cifar10", "epochs": "182", "lr": "0.1", "schedule": "multistep", "weight_decay": "0.0001",
                 "val_split": "5000", "optimizer": "sgd"}
        assert shown(screen, paper) == paper


@pytest.mark.slow
async def test_a_run_started_from_a_preset_gets_the_values_the_form_does_not_show(tmp_path):
    app = make_app(tmp_path)
    gate = Gate(app, at_step(1))
    async with drive(app) as pilot:
        await choose(pilot, "#preset", "down", "down")  # custom -> He et al. CIFAR recipe
        await pilot.pause()
        assert app.screen.query_one("#preset", Select).value == "paper"
        # keep the recipe (182 epochs, lr /10 at 91 and 136), only make it small and offline
        await choose(pilot, "#f-arch", "end", "up", "up")  # simplecnn
        await choose(pilot, "#f-dataset", "end")  # synthetic
        await type_into(pilot, "#f-train_subset", "80")
        await type_into(pilot, "#f-batch_size", "40")
        await type_into(pilot, "#f-val_split", "0")
        await type_into(pilot, "#f-name", "paper")
        await pilot.pause()
        assert app.screen.config is not None, app.screen.errors
        await start_held(pilot, gate)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        gate.open()
        await finish(pilot)
        assert app.live.status == "stopped"
    saved = json.loads((tmp_path / "runs" / "paper" / "config.json").read_text())["train"]
    assert saved["arch"] == "simplecnn" and saved["epochs"] == 182 and saved["schedule"] == "multistep"
    # not on the form: they come from the preset
    assert saved["milestones"] == [91, 136] and saved["nesterov"] is False and saved["gamma"] == 0.1


async def test_ctrl_f_on_the_setup_screen_opens_fine_tuning(tmp_path):
    from tui.app.screens.finetune import FinetuneScreen

    app = make_app(tmp_path)
    async with drive(app) as pilot:
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, FinetuneScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)


# ---------------------------------------------------------------------------------------- memory
@pytest.mark.slow
async def test_the_last_started_config_is_restored_on_the_next_start(tmp_path):
    first = make_app(tmp_path, epochs=1, lr=0.02, batch_size=20, train_subset=60, seed=7, weight_decay=0.001,
                     name="remembered")
    async with drive(first) as pilot:
        await pilot.press("ctrl+s")
        await finish(pilot)
        assert first.live.status == "completed"

    again = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, devices=DEVICES)  # no base_config
    async with drive(again) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, SetupScreen)
        remembered = {"arch": "simplecnn", "dataset": "synthetic", "epochs": "1", "lr": "0.02", "batch_size": "20",
                      "train_subset": "60", "seed": "7", "weight_decay": "0.001", "name": ""}  # a name is used once
        assert shown(again.screen, remembered) == remembered


@pytest.mark.parametrize(
    "content",
    [b"{not json", pytest.param(b"\xff\xfe\x00garbage", marks=pytest.mark.slow),
     pytest.param(b"[1, 2, 3]", marks=pytest.mark.slow), pytest.param(b'{"milestones": 5}', marks=pytest.mark.slow)],
    ids=["not-json", "not-utf8", "not-a-dict", "bad-value"],
)
async def test_a_broken_remembered_config_is_ignored(tmp_path, content):
    from tui.app.form import config_to_form

    home = tmp_path / "home"
    home.mkdir()
    (home / "last-config.json").write_bytes(content)
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, devices=DEVICES)
    async with drive(app) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert app.screen.form_values() == config_to_form(TrainConfig(device="cpu"))  # the defaults


async def test_model_stats_arriving_before_the_form_is_built_keep_the_chosen_arch(tmp_path):
    """The architecture labels (params, MFLOPs) come from a background worker; when they arrive before
    the setup form is mounted, the form keeps its architecture and still gets the labels."""
    labelled = [(f"{name} 1.00M 1 MFLOPs", name) for _, name in __import__("tui.app.choices").app.choices.arch_choices({})]

    class Early(ResnetTui):
        CSS_PATH = str(Path(__import__("tui.app.app").app.app.__file__).with_name("app.tcss"))

        def on_mount(self) -> None:
            super().on_mount()
            self._update_arch_labels(labelled)  # before the pushed setup screen has mounted its widgets

        def _load_model_stats(self) -> None:  # (the stand-in above is the only delivery of labels)
            pass

    app = Early(runs_dir=str(tmp_path / "runs"), poll_memory=False, base_config=TrainConfig(**TINY), devices=DEVICES)
    async with drive(app) as pilot:
        select = app.screen.query_one("#f-arch", Select)
        label = select.query_one("SelectCurrent #label")
        await wait_until(pilot, lambda: "MFLOPs" in str(label.render()), seconds=5)  # the shown label has the stats
        assert select.value == "simplecnn"
