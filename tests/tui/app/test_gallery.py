"""The mistakes gallery, driven as a person would: the matrix's cell cursor, enter, e, escape (a real trained run)."""

from __future__ import annotations

import pytest

from core.inference.predictions import load_predictions
from pilot_helpers import wait_until as until
from run_fakes import make_app
from tui.app.screens.explain import ExplainScreen
from tui.app.screens.gallery import GalleryScreen, Tile
from tui.app.screens.run_detail import RunDetailScreen
from tui.app.widgets.confusion import ConfusionMatrix


pytestmark = pytest.mark.slow  # the app over a trained run, a model loaded to explain: the full suite runs these


@pytest.fixture(autouse=True)
def halfblocks(monkeypatch):
    monkeypatch.setenv("RESNET_TUI_IMAGES", "halfblock")


async def test_the_cell_cursor_opens_that_cells_images_and_e_explains_one(trained_run, app_at):
    preds = load_predictions(trained_run, "test")
    true, pred, count = preds.confused_pairs(1)[0]  # the run's most frequent mistake
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(RunDetailScreen(trained_run))
        await pilot.pause()
        await pilot.press("2")  # the confusion tab: the matrix takes the keys
        matrix = app.screen.query_one(ConfusionMatrix)
        await until(pilot, lambda: matrix.has_focus)
        for key in ["down"] * true + ["right"] * pred:
            await pilot.press(key)
        assert matrix.cursor == (true, pred)
        assert "reverse" in str(matrix.table.rows and matrix.table.columns[pred + 1]._cells[true].style)
        await pilot.press("enter")
        gallery = app.screen
        assert isinstance(gallery, GalleryScreen)
        await until(pilot, lambda: len(gallery.query(Tile)) == min(count, 48))
        head = str(gallery.query_one("#gallery-title").render())
        assert f"true {preds.classes[true]} → predicted {preds.classes[pred]}: {count} image" in head
        tiles = list(gallery.query(Tile))
        # most confident mistake first, each tile the image of the cell it claims
        confidences = [t.shown.confidence for t in tiles]
        assert confidences == sorted(confidences, reverse=True)
        assert all(int(preds.true[t.shown.index]) == true and int(preds.pred[t.shown.index]) == pred for t in tiles)
        await until(pilot, lambda: tiles[0].has_focus)
        await pilot.press("right")
        assert tiles[1].has_focus
        columns = gallery.columns
        assert len(tiles) > columns + 1  # a second row to move down to
        await pilot.press("down")  # to the tile below, not a scroll of the page
        assert tiles[1 + columns].has_focus
        await pilot.press("up")
        assert tiles[1].has_focus
        await pilot.press("e")
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        await until(pilot, lambda: bool(explain.query("#explain-heat")))
        assert "peak x=" in str(explain.query_one("#explain-top").render())
        await pilot.press("escape")
        assert app.screen is gallery
        await pilot.press("escape")
        assert isinstance(app.screen, RunDetailScreen)


async def test_a_correct_cell_shows_its_least_confident_images_first(trained_run, app_at):
    preds = load_predictions(trained_run, "test")
    c = max(range(len(preds.classes)), key=lambda k: int(((preds.true == k) & (preds.pred == k)).sum()))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(GalleryScreen(trained_run, c, c, "test"))
        await until(pilot, lambda: bool(app.screen.query(Tile)))
        confidences = [t.shown.confidence for t in app.screen.query(Tile)]
        assert confidences == sorted(confidences)
        assert "correct" in str(app.screen.query_one("#gallery-title").render())


async def test_a_run_without_kept_predictions_says_how_to_keep_them(tmp_path, app_at):
    from run_fakes import fake_run

    run = fake_run(tmp_path / "old", "resnet20", 0.1, [0.5], day=1)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(GalleryScreen(run, 1, 2))
        await pilot.pause()
        await until(pilot, lambda: "reading" not in str(app.screen.query_one("#gallery-title").render()))
        await pilot.pause()
        title = str(app.screen.query_one("#gallery-title").render())
        assert "no test predictions kept" in title and f"resnet-tui evaluate {run} --split test --keep" in title
        assert not app.screen.query(Tile)


async def test_the_training_screens_matrix_opens_the_run_it_trains(tmp_path, monkeypatch):
    """An in-app run (the pilot helpers' TINY: two epochs of 80 synthetic images): tab 3, enter, its images."""
    from pilot_helpers import drive, finish
    from pilot_helpers import make_app as make_training_app
    from tui.app.screens.training import TrainingScreen

    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "home"))
    app = make_training_app(tmp_path, name="live")
    async with drive(app) as pilot:
        await pilot.press("ctrl+s")
        await finish(pilot)
        assert isinstance(app.screen, TrainingScreen)
        await pilot.press("3")
        await until(pilot, lambda: app.screen.query_one("#cm", ConfusionMatrix).has_focus)
        await pilot.press("enter")
        gallery = app.screen
        assert isinstance(gallery, GalleryScreen) and gallery.run_dir == tmp_path / "runs" / "live"
        preds = load_predictions(gallery.run_dir, "test")
        count = len(preds.cell(0, 0))
        await until(pilot, lambda: "reading" not in str(gallery.query_one("#gallery-title").render()))
        assert len(gallery.query(Tile)) == min(count, 48)
