"""The README's promises about the app that no other test holds, driven with keys through Pilot.

Presets fill the form (and the hidden fields of the run), ctrl+f opens fine-tuning, the last config is
remembered (a broken memory is ignored), the training screen's keys (c, n, p), the "no" answer of every
confirm, leaving the training screen while it trains, resuming failed and interrupted runs (and refusing
a completed one), and the real device list. Training is real, on tiny synthetic runs.

A tiny run can finish before a key pressed "at once" arrives (a busy event loop delays Pilot by
seconds), so keys that must land mid-run are pressed while a Gate holds the training thread at a
known point; the keys themselves still do the work.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import textwrap
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import DataTable, Select

from core.config.train_config import TrainConfig
from core.runs.events import BatchProgress, CheckpointSaved
from pilot_helpers import Gate, at_step
from core.runs.catalog import list_runs
from core.runs.layout import read_metrics
from tui.app.app import ResnetTui
from tui.app.screens.confirm import Choose, Confirm
from tui.app.screens.runs import RunsScreen
from tui.app.screens.setup import SetupScreen
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.progress import ProgressPanel

ROOT = Path(__file__).resolve().parents[3]
DEVICES = [("cpu  (test)", "cpu")]
# 80 images in batches of 40: two steps an epoch, so step 1 is always mid-epoch.
TINY = dict(dataset="synthetic", arch="simplecnn", epochs=2, batch_size=40, lr=0.05, train_subset=80, device="cpu")
STEPS = 4  # TINY's steps in all


pytestmark = pytest.mark.usefixtures("app_home", "one_torch_thread")


def make_app(tmp_path: Path, **cfg) -> ResnetTui:
    return ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, base_config=TrainConfig(**(TINY | cfg)),
                     devices=DEVICES)


@asynccontextmanager
async def drive(app: ResnetTui):
    """app.run_test(), and on the way out never leave a held or paused training thread behind."""
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            yield pilot
        finally:
            for gate in getattr(app, "gates", []):
                gate.open()
            if app.is_training and app.control is not None:
                app.control.request_stop()


def record_notices(app: ResnetTui) -> list[str]:
    """Every message the app (or a screen, through the app) notifies from now on."""
    seen: list[str] = []
    real = app.notify

    def notify(message, *args, **kwargs):
        seen.append(str(message))
        return real(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return seen


async def type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await pilot.press("end", "ctrl+u", *list(text))


async def choose(pilot, selector: str, *keys: str) -> None:
    """Open a Select with enter and pick with navigation keys."""
    pilot.app.screen.query_one(selector, Select).focus()
    await pilot.press("enter", *keys, "enter")


async def wait_until(pilot, condition, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def start_held(pilot, gate: Gate) -> None:
    """ctrl+s on the setup screen; returns once the training thread waits at ``gate``."""
    await pilot.press("ctrl+s")
    await wait_until(pilot, lambda: gate.reached.is_set() or pilot.app.live.finished)
    assert gate.reached.is_set(), pilot.app.live.error
    await pilot.pause()
    assert isinstance(pilot.app.screen, TrainingScreen)


async def finish(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.live.finished and not app.is_training)
    await app.workers.wait_for_complete()
    await pilot.pause()


def epochs_in_metrics(run: Path) -> list[int]:
    return [r["epoch"] for r in read_metrics(run)]


def shown(screen, expected: dict[str, str]) -> dict[str, str]:
    """The form's values of the fields named in ``expected``."""
    values = screen.form_values()
    return {name: values[name] for name in expected}


def panel_text(app) -> str:
    return app.screen.query_one(ProgressPanel).text()


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
                    device="cpu", runs_dir=sys.argv[1], name="killed"), sink)
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
    assert app.devices is None  # catalog.device_choices() and core.hardware.devices.list_devices() run for real
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


async def test_model_stats_arriving_before_the_form_is_built_keep_the_chosen_arch(tmp_path):
    """The architecture labels (params, MFLOPs) come from a background worker; when they arrive before
    the setup form is mounted, the form keeps its architecture and still gets the labels."""
    labelled = [(f"{name} 1.00M 1 MFLOPs", name) for _, name in __import__("tui.app.catalog").app.catalog.arch_choices({})]

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
