"""The training screen's tabs, fed canned engine events through the app's real message path (no training).

Tab `2` holds the loss and accuracy curves per epoch: each finished epoch's train, validation and test
figures must reach the two plots (their plotext series, and the legend of what is drawn).
"""

from __future__ import annotations

import pytest
from textual.widgets import ContentSwitcher, TabbedContent
from textual_plotext import PlotextPlot

from core.config.train_config import TrainConfig
from core.runs.events import EpochEnded, EpochStarted, RunStarted
from tui.app.app import ResnetTui
from tui.app.messages import TrainerEvent
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.curves import Curves

pytestmark = pytest.mark.usefixtures("app_home")

DEVICES = [("cpu  (test)", "cpu")]
BASE = TrainConfig(dataset="synthetic", arch="resnet20", epochs=5, batch_size=50, lr=0.05, device="cpu")
CLASSES = tuple(f"c{i}" for i in range(10))
# epoch, train loss, train acc, val loss, val acc, test loss, test acc: all different, so a mix-up shows
EPOCHS = [
    (1, 2.10, 0.21, 1.90, 0.30, 1.95, 0.28),
    (2, 1.60, 0.42, 1.50, 0.46, 1.55, 0.44),
    (3, 1.20, 0.58, 1.30, 0.55, 1.35, 0.53),
]


def events():
    yield RunStarted(run_name="demo", run_dir="runs/demo", arch="resnet20", config=BASE.to_dict(), classes=CLASSES, num_params=272474, device="cpu", precision="fp32", epochs=5, start_epoch=0, steps_per_epoch=4, train_size=200, val_size=50, test_size=100)
    for epoch, tl, ta, vl, va, sl, sa in EPOCHS:
        yield EpochStarted(epoch=epoch, epochs=5, lr=0.05)
        yield EpochEnded(epoch=epoch, epochs=5, train_loss=tl, train_acc=ta, val_loss=vl, val_acc=va, test_loss=sl, test_acc=sa, lr=0.05, seconds=1.5, train_seconds=1.2, images_per_sec=160.0)


def make_app() -> ResnetTui:
    app = ResnetTui(runs_dir="runs", poll_memory=False, base_config=BASE, devices=DEVICES)
    app.animation_level = "none"  # as TEXTUAL_ANIMATIONS=none: a tab switch need not wait ~0.4 s for its underline
    return app


def series(plot: PlotextPlot) -> dict[str, tuple[list, list]]:
    """label -> (xs, ys) of what the plot will draw."""
    monitor = plot.plt.monitor
    return {label: (list(x), list(y)) for label, x, y in zip(monitor.label, monitor.x, monitor.y)}


async def test_curves_tab_shows_each_epochs_loss_and_accuracy():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.push_screen(TrainingScreen())
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "progress"
        loss = screen.query_one("#loss-plot", PlotextPlot)
        acc = screen.query_one("#acc-plot", PlotextPlot)
        assert series(loss) == {} and series(acc) == {}  # nothing finished yet

        for event in events():
            app.post_message(TrainerEvent(event))  # as the training worker sends them
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert tabs.active == "curves" and screen.query_one(ContentSwitcher).current == "curves"
        assert screen.query_one(Curves).region.area > 0  # the curves are on screen

        epochs = [e[0] for e in EPOCHS]
        got_loss, got_acc = series(loss), series(acc)
        assert list(got_loss) == ["train", "val", "test"] and list(got_acc) == ["train", "val", "test"]
        for label, loss_col, acc_col in (("train", 1, 2), ("val", 3, 4), ("test", 5, 6)):
            assert got_loss[label][0] == epochs
            assert got_loss[label][1] == pytest.approx([e[loss_col] for e in EPOCHS])
            assert got_acc[label][0] == epochs
            assert got_acc[label][1] == pytest.approx([100 * e[acc_col] for e in EPOCHS])  # shown in percent
        for plot, title in ((loss, "loss"), (acc, "accuracy %")):
            drawn = plot.render().plain
            assert title in drawn and all(name in drawn for name in ("train", "val", "test"))

        await pilot.press("3")
        await pilot.pause()
        assert tabs.active == "confusion" and screen.query_one(ContentSwitcher).current == "confusion"
        await pilot.press("1")
        await pilot.pause()
        assert tabs.active == "progress" and screen.query_one(ContentSwitcher).current == "progress"


@pytest.mark.slow
async def test_curves_follow_a_run_without_validation():
    """A run without a validation split draws train and test only (no empty val series)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.push_screen(TrainingScreen())
        await pilot.pause()
        for event in events():
            if isinstance(event, EpochEnded):
                event = EpochEnded(epoch=event.epoch, epochs=event.epochs, train_loss=event.train_loss, train_acc=event.train_acc, val_loss=None, val_acc=None,
                                   test_loss=event.test_loss, test_acc=event.test_acc, lr=event.lr, seconds=event.seconds, train_seconds=event.train_seconds,
                                   images_per_sec=event.images_per_sec)
            app.post_message(TrainerEvent(event))
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        got = series(app.screen.query_one("#acc-plot", PlotextPlot))
        assert list(got) == ["train", "test"]
        assert got["test"] == ([1, 2, 3], pytest.approx([100 * e[6] for e in EPOCHS]))


def test_an_event_before_the_screen_is_composed_is_left_to_its_rebuild():
    """A followed run can report (e.g. 'interrupted') before the training screen has its widgets: nothing to
    draw yet, and no crash (found by CI: NoMatches from the follow tick)."""
    from tui.app.screens.training import TrainingScreen

    screen = TrainingScreen()
    assert screen.show_event(None) is None  # returns quietly (before the guard: NoMatches raised here)
    assert not screen.is_mounted


async def test_an_epoch_without_a_measured_speed_shows_a_dash_not_0():
    """A session that resumed at an epoch's last batch trained no image of it: its speed is unknown, not 0."""
    from textual.widgets import DataTable

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.push_screen(TrainingScreen())
        await pilot.pause()
        first, *_ = events()
        app.post_message(TrainerEvent(first))
        for ips in (160.0, 0.0):
            app.post_message(TrainerEvent(EpochEnded(epoch=1, epochs=5, train_loss=1.0, train_acc=0.5, val_loss=None,
                                                     val_acc=None, test_loss=1.0, test_acc=0.5, lr=0.05, seconds=1.0,
                                                     train_seconds=1.0, images_per_sec=ips)))
        await pilot.pause()
        table = app.screen.query_one("#epochs", DataTable)
        speeds = [str(table.get_row_at(i)[6]) for i in range(table.row_count)]
        assert speeds == ["160", "-"]
