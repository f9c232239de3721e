"""Snapshots of the main screens at 80x24 and (slow) 120x40 (pytest-textual-snapshot).

Everything shown comes from fixed inputs: a fixed config and device list, canned engine
events for the training screen, run folders written with fixed dates for the runs screen;
no clocks, no memory polling, no animations. Update with `uv run pytest --snapshot-update`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from helpers import built_once

from core.config.train_config import TrainConfig
from core.runs.events import BatchProgress, EpochEnded, EpochStarted, EvalEnded, RunStarted
from tui.app.app import ResnetTui
from tui.app.messages import TrainerEvent
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen

SMALL = pytest.mark.parametrize("size", [(80, 24)], ids=["80x24"])
DEVICES = [("cuda:0  NVIDIA H200  (139.2 GiB free)", "cuda:0"), ("cpu  (16 cores)", "cpu")]
BASE = TrainConfig(dataset="cifar10", arch="resnet20", epochs=30, lr=0.1, batch_size=128, device="cuda:0")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(scope="session")
def stats_home(tmp_path_factory) -> Path:
    """An app home with the model statistics already cached, so the shown arch label is complete at once
    (computed once for all xdist workers)."""
    return built_once(tmp_path_factory, "stats-home", _home_with_stats)


def _home_with_stats(home: Path) -> Path:
    """The cache as the app's background worker writes it, for the models whose labels a snapshot can show
    (only the chosen architecture's label is on screen): the heavy ones (resnet1202, the torchvision models:
    4 of the 5 s) are left out."""
    import os

    old = os.environ.get("RESNET_TUI_HOME")
    os.environ["RESNET_TUI_HOME"] = str(home)
    try:
        from tui.app.choices import compute_stats

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("core.models.list_models", lambda: ["resnet20", "resnet32", "resnet56", "simplecnn"])
            compute_stats()
    finally:
        if old is None:
            os.environ.pop("RESNET_TUI_HOME")
        else:
            os.environ["RESNET_TUI_HOME"] = old
    return home


@pytest.fixture
def app_env(tmp_path, monkeypatch, stats_home):
    home = tmp_path / "home"
    shutil.copytree(stats_home, home)
    monkeypatch.setenv("RESNET_TUI_HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    from core.data import budget

    monkeypatch.setattr(budget, "available_ram", lambda: 16 * 2**30)  # the data summary says how much is free
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


def make_app() -> ResnetTui:
    return ResnetTui(runs_dir="checkpoints", poll_memory=False, base_config=BASE, devices=DEVICES)


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def canned_events():
    yield RunStarted(run_name="resnet20-cifar10-demo", run_dir="checkpoints/resnet20-cifar10-demo", arch="resnet20", config=BASE.to_dict(), classes=CLASSES,
                     num_params=269722, device="cuda:0", precision="bf16", epochs=30, start_epoch=0, steps_per_epoch=390, train_size=50000, val_size=0, test_size=10000)
    yield EpochStarted(epoch=1, epochs=30, lr=0.004)
    losses = [2.31, 2.2, 2.05, 1.93, 1.85, 1.74, 1.69, 1.6, 1.52, 1.49, 1.41, 1.38]
    for i, loss in enumerate(losses, 1):
        yield BatchProgress(epoch=1, epochs=30, batch=i * 32, batches=390, global_step=i * 32, total_steps=11700, loss=loss, epoch_loss=loss + 0.2, epoch_acc=0.3 + 0.02 * i, lr=0.004 * i,
                            images_per_sec=21000.0, elapsed=0.8 * i, eta=90.0)
    confusion = []
    for t in range(10):
        row = [4 + ((t * 7 + p * 3) % 9) for p in range(10)]
        row[t] = 0
        row[t] = 1000 - sum(row) - 200 + 37 * (t % 4)
        row[(t + 3) % 10] += 200 - 37 * (t % 4)
        confusion.append(tuple(row))
    per_class = tuple(confusion[i][i] / 1000 for i in range(10))
    acc = sum(per_class) / 10
    yield EvalEnded(epoch=1, split="test", loss=1.12, accuracy=acc, per_class_accuracy=per_class, confusion=tuple(confusion), classes=CLASSES)
    yield EpochEnded(epoch=1, epochs=30, train_loss=1.55, train_acc=0.43, val_loss=None, val_acc=None, test_loss=1.12, test_acc=acc, lr=0.0494, seconds=2.6, train_seconds=2.3, images_per_sec=21500.0)
    yield EpochStarted(epoch=2, epochs=30, lr=0.0494)
    yield BatchProgress(epoch=2, epochs=30, batch=117, batches=390, global_step=507, total_steps=11700, loss=1.02, epoch_loss=1.08, epoch_acc=0.61, lr=0.056, images_per_sec=22300.0, elapsed=3.4, eta=84.0)


@SMALL
def test_setup_screen(snap_compare, app_env, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


def training_screen_with_canned_events(*keys: str):
    async def run_before(pilot):
        await settle(pilot)
        app = pilot.app
        await app.push_screen(TrainingScreen())
        await pilot.pause()
        for event in canned_events():
            app.on_trainer_event(TrainerEvent(event))
        if keys:
            await pilot.press(*keys)
        await pilot.pause()

    return run_before


@SMALL
def test_training_screen_fed_canned_events(snap_compare, app_env, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=training_screen_with_canned_events())


@SMALL
@pytest.mark.slow  # the fast loop draws three screens; the full suite all six
def test_training_confusion_tab(snap_compare, app_env, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=training_screen_with_canned_events("3"))


def write_run(root: Path, name: str, status: str, epochs_done: int, epochs: int, test_acc, val_acc, day: int) -> None:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"train": {"arch": name.split("-")[0], "dataset": "cifar10", "epochs": epochs}}))
    (run / "run.json").write_text(json.dumps({
        "status": status, "epochs_completed": epochs_done, "epochs": epochs, "final_test_acc": test_acc,
        "best_val_acc": val_acc, "pid": None, "updated": 1767225600 + day * 86400 + 3600,
    }))
    (run / "last.pt").write_bytes(b"")


@SMALL
def test_runs_screen(snap_compare, app_env, size):
    root = app_env / "checkpoints"
    write_run(root, "resnet20-cifar10-paper", "completed", 182, 182, 0.9164, 0.9208, 1)
    write_run(root, "resnet56-cifar10-20260103-101500", "stopped", 41, 182, None, 0.8851, 2)
    write_run(root, "resnet18-cifar10-long", "running", 3, 200, None, 0.7012, 3)  # no live pid: interrupted
    write_run(root, "simplecnn-synthetic-quick", "failed", 0, 2, None, None, 4)

    async def run_before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@SMALL
@pytest.mark.slow  # the fast loop draws three screens; the full suite all six
def test_run_detail_screen(snap_compare, app_env, size):
    from tui.app.screens.runs import RunDetailScreen

    root = app_env / "checkpoints"
    write_run(root, "resnet20-cifar10-paper", "completed", 3, 3, 0.8123, None, 1)
    rows = []
    for epoch, (loss, acc, test) in enumerate([(1.6, 0.41, 0.52), (1.1, 0.61, 0.68), (0.8, 0.72, 0.8123)], 1):
        confusion = [[80 if i == j else (20 if j == (i + 1) % 10 else 0) for j in range(10)] for i in range(10)]
        rows.append({"epoch": epoch, "train_loss": loss, "train_acc": acc, "test_loss": loss - 0.1, "test_acc": test,
                     "val_loss": None, "val_acc": None, "lr": 0.1 / epoch, "train_seconds": 20.0, "eval_seconds": 2.0,
                     "images_per_sec": 2500.0, "eval_split": "test", "confusion": confusion, "per_class_acc": [0.8] * 10})
    (root / "resnet20-cifar10-paper" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"train": BASE.to_dict() | {"epochs": 3}, "classes": list(CLASSES)}
    (root / "resnet20-cifar10-paper" / "config.json").write_text(json.dumps(cfg))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(RunDetailScreen(root / "resnet20-cifar10-paper"))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@SMALL
@pytest.mark.slow  # the fast loop draws three screens; the full suite all six
def test_finetune_screen(snap_compare, app_env, size):
    from helpers import build_image_folder

    from core.models import create_model
    from core.train.checkpoint import save_checkpoint
    from tui.app.screens.finetune import FinetuneScreen

    root = app_env / "checkpoints"
    write_run(root, "resnet20-cifar10-paper", "completed", 182, 182, 0.9164, 0.9208, 1)
    (root / "resnet20-cifar10-paper" / "last.pt").unlink()
    torch.manual_seed(0)
    save_checkpoint(root / "resnet20-cifar10-paper" / "final.pt", {
        "kind": "weights", "arch": "resnet20", "classes": list(CLASSES), "mean": [0.4914, 0.4822, 0.4465],
        "std": [0.247, 0.2435, 0.2616], "image_size": 32, "model": create_model("resnet20").state_dict(),
    })
    build_image_folder(app_env / "pets", classes=("cat", "dog", "frog"), train_per_class=4, test_per_class=2)

    async def run_before(pilot):
        await settle(pilot)
        app = pilot.app
        await app.push_screen(FinetuneScreen("checkpoints", DEVICES))
        await pilot.pause()
        screen = app.screen
        screen.query_one("#f-data").value = "pets"
        for _ in range(100):
            await pilot.pause(0.05)
            if screen.parent_info is not None and "3 classes" in screen.data_info:
                break
        screen.query_one("#parent-run").focus()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def _ansi(focus: str):
    """Draw in the terminal's own 16 colours (the ansi-dark theme), with the focus on ``focus``: the focused
    row must stand out by its marker and text style, not by a shade of grey that 16 colours do not have."""

    async def run_before(pilot):
        await settle(pilot)
        pilot.app.theme = "ansi-dark"
        pilot.app.screen.query_one(focus).focus()
        await pilot.pause()

    return run_before


@SMALL
def test_setup_screen_in_16_colours(snap_compare, app_env, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=_ansi("#f-lr"))


@SMALL
@pytest.mark.slow
def test_finetune_screen_in_16_colours(snap_compare, app_env, size):
    from tui.app.screens.finetune import FinetuneScreen

    async def run_before(pilot):
        await settle(pilot)
        await pilot.app.push_screen(FinetuneScreen("checkpoints", DEVICES))
        await _ansi("#f-epochs")(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def _at_120x40(test):
    """The same snapshot at 120x40, slow. A twin under its own name rather than a second parameter:
    syrupy matches snapshots to tests by name without parameters, so a deselected 120x40 parameter
    would count as an unused snapshot (and fail) in the fast loop, `pytest -m "not slow"`."""

    @pytest.mark.slow
    def twin(snap_compare, app_env):
        test(snap_compare, app_env, (120, 40))

    twin.__name__ = twin.__qualname__ = f"{test.__name__}_120x40"
    return twin


for _test in (test_setup_screen, test_training_screen_fed_canned_events, test_training_confusion_tab,
              test_runs_screen, test_run_detail_screen, test_finetune_screen):
    globals()[f"{_test.__name__}_120x40"] = _at_120x40(_test)
del _test
