"""Every dialog fits 80x24 (and 100x30) whole: each answer's full label on screen, none cut or hidden."""

from __future__ import annotations

import html
import re

import pytest
from textual.widgets import Button

from run_fakes import make_app
from tui.app.screens.confirm import Choose, Confirm

QUIT = [("stop", "stop it (a checkpoint is saved)", "s"), ("background", "move it to the background", "b"),
        ("cancel", "cancel", "c")]


def screen_text(app) -> str:
    """What the terminal shows, as text (the screenshot's characters, styles dropped)."""
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


@pytest.mark.parametrize("size", [(80, 24), pytest.param((100, 30), marks=pytest.mark.slow)])
@pytest.mark.parametrize("dialog", [lambda: Choose("Training is running in this app. Quit and...", QUIT),
                                    lambda: Confirm("Stop training? A checkpoint is saved; you can resume later.")])
async def test_a_dialog_shows_every_answer_whole(size, dialog, app_at):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        app.push_screen(dialog())
        await pilot.pause()
        buttons = list(app.screen.query(Button))
        shown = screen_text(app)
        assert len(buttons) >= 2
        for b in buttons:
            assert app.screen.region.contains_region(b.region), (b.label, b.region)
            assert str(b.label) in shown, (str(b.label), shown)
