"""Daily use of the app and the CLI: the focused field is marked, `?` lists the keys, the palette offers the
main actions, the sparkline shows its range, the hardware panel reads the CPU, and piped output never wraps."""

from __future__ import annotations

import time

import pytest

from core.config.train_config import TrainConfig


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_app(poll: bool = False):
    from tui.app.app import ResnetTui

    return ResnetTui(runs_dir="checkpoints", poll_memory=poll, base_config=TrainConfig(dataset="synthetic"),
                     devices=[("cpu  (2 cores)", "cpu")])


def _labels(screen) -> dict[str, str]:
    from textual.widgets import Label

    return {str(label.name): str(label.render()) for label in screen.query(".field-label").results(Label)}


async def test_the_focused_field_is_marked_whatever_the_colours(home):
    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#f-epochs").focus()
        await pilot.pause()
        labels = _labels(screen)
        assert labels["Epochs"] == "▸ Epochs"  # a marker, not a shade of grey
        assert sum(text.startswith("▸") for text in labels.values()) == 1
        await pilot.press("tab")
        await pilot.pause()
        labels = _labels(screen)
        assert labels["Epochs"] == "  Epochs" and labels["Learning rate"] == "▸ Learning rate"
        assert screen.query_one("#f-lr").parent.has_class("focused")


async def test_help_lists_the_screens_keys_and_the_palette_has_the_main_actions(home):
    from textual.widgets import DataTable

    from tui.app.screens.help import HelpScreen

    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")  # the runs screen
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        table = pilot.app.screen.query_one("#help-keys", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert rows["space"] == "Mark" and rows["c"] == "Compare" and rows["o"] == "Sort" and rows["/"] == "Filter"
        assert rows["?"] == "Help" and "q" in rows
        await pilot.press("escape")
        await pilot.pause()
        titles = [c.title for c in pilot.app.get_system_commands(pilot.app.screen)]
        assert titles[:5] == ["New run", "Runs", "Fine-tune", "Compare runs", "Help"]


def test_the_sparkline_says_its_range():
    from tui.app.widgets.progress import spark_range

    assert spark_range([2.31, 1.02, 1.5]) == "loss max 2.310\n     min 1.020"
    assert spark_range([float("nan"), 0.5]) == "loss max 0.500\n     min 0.500"
    assert spark_range([]) == "batch loss"


@pytest.mark.slow  # a fresh process (or real CPU readings a second apart): 2-5 s
async def test_the_hardware_panel_reads_this_cpu_off_the_ui_thread(home):
    from tui.app.screens.training import TrainingScreen

    async with make_app(poll=True).run_test(size=(100, 30)) as pilot:
        await pilot.app.push_screen(TrainingScreen())
        deadline = time.monotonic() + 10
        panel = pilot.app.screen.query_one("#hardware")
        while "%" not in str(panel.render()) and time.monotonic() < deadline:
            await pilot.pause(0.2)
        text = str(panel.render())
        assert text.startswith("CPU  trainer ") and "% of" in text and "RSS" in text and "load" in text


def test_piped_output_never_wraps(capsys, tmp_path, monkeypatch):
    """`evaluate | cat` used to wrap the accuracy line at 80 columns; tables keep their natural width too.
    (pytest's captured stdout is not a terminal, as a pipe is not.)"""
    from helpers import run_cli

    long = "a-run-with-a-name-long-enough-to-push-the-accuracy-line-well-past-eighty-columns"
    code, _, err = run_cli(capsys, "train", "--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "100",
                           "--batch-size", "50", "--epochs", "1", "--device", "cpu", "--run-dir", tmp_path, "--name", long)
    assert code == 0, err
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    for args, needle in ((["evaluate", tmp_path / long], "accuracy"), (["runs", "list", "--run-dir", tmp_path], long)):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        line = next(line for line in out.splitlines() if needle in line)
        assert len(line) > 80, out
        if args[0] == "evaluate":
            assert "(loss" in line and "images" in line  # all on one line
        else:
            assert "completed" in line


async def test_the_finetune_screen_shows_what_small_data_gets_before_start(home):
    from helpers import build_image_folder
    from textual.widgets import Input

    from tui.app.screens.finetune import FinetuneScreen

    folder = build_image_folder(home / "pets", train_per_class=100, test_per_class=2)  # 300 training images
    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.app.push_screen(FinetuneScreen("checkpoints", [("cpu", "cpu")]))
        screen = pilot.app.screen
        screen.query_one("#f-data", Input).value = str(folder)
        deadline = time.monotonic() + 20
        while "300 training images" not in screen.data_info and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert "chosen for 300 training images: batch size 16 and 17 epochs (18 steps per epoch" in screen.data_info
        assert (screen.query_one("#f-batch_size", Input).value, screen.query_one("#f-epochs", Input).value) == ("16", "17")
        screen.query_one("#f-batch_size", Input).value = "64"  # the user's value stands, and the note goes
        await pilot.pause()
        assert screen.chosen == "" and "chosen for" not in screen.data_info
        assert screen.query_one("#f-batch_size", Input).value == "64"


async def test_the_setup_form_says_what_an_image_folder_holds_and_how_it_would_be_read(home):
    from helpers import build_class_folders
    from textual.widgets import Input, Select, Static

    folder = build_class_folders(home / "pets", per_class=5)
    async with make_app().run_test(size=(100, 30)) as pilot:
        screen = pilot.app.screen
        info = screen.query_one("#data-info", Static)
        assert not info.display  # nothing to say about CIFAR-10's path
        screen.query_one("#f-dataset", Select).value = "folder"
        screen.query_one("#f-data", Input).value = str(folder)
        deadline = time.monotonic() + 20
        while "class folders" not in str(info.render()) and time.monotonic() < deadline:
            await pilot.pause(0.1)
        text = str(info.render())
        assert info.display and "class folders: 3 classes, 12 train, 3 test; test = 3 images held out" in text
        assert "cat 4/1" in text and "held in memory" in text
        screen.query_one("#f-data", Input).value = str(home / "nowhere")
        deadline = time.monotonic() + 20
        while "is not a folder" not in str(info.render()) and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert "is not a folder" in str(info.render())


async def test_f1_opens_help_even_from_a_text_field(home):
    from textual.widgets import Input

    from tui.app.screens.help import HelpScreen

    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pilot.app.screen.query_one("#f-epochs", Input).focus()
        await pilot.pause()
        await pilot.press("f1")  # "?" is text there
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert "?" not in pilot.app.screen.query_one("#f-epochs", Input).value


async def test_back_on_the_form_a_name_taken_since_is_cleared_and_the_status_is_fresh(home):
    """n after a run named tui1 must not offer tui1 again under a stale "ready"."""
    from textual.widgets import Input, Static

    from tui.app.screens.runs import RunsScreen

    async with make_app().run_test(size=(100, 30)) as pilot:
        setup = pilot.app.screen
        setup.query_one("#f-name", Input).value = "tui1"
        await pilot.pause()
        assert str(setup.query_one("#summary", Static).render()).startswith("ready")
        (home / "checkpoints" / "tui1").mkdir(parents=True)  # the run was started (here: its folder made)
        (home / "checkpoints" / "tui1" / "config.json").write_text("{}")
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()
        pilot.app.action_new_run()
        await pilot.pause()
        assert pilot.app.screen is setup and setup.query_one("#f-name", Input).value == ""
        assert str(setup.query_one("#summary", Static).render()).startswith("ready")
