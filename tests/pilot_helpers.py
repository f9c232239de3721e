"""Helpers for Pilot tests of the app that trains in a worker thread: a tiny run, driving the app, holding its
training thread at a known step (Gate), typing into the form, waiting for a condition."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path

from textual.widgets import Select

from core.config.train_config import TrainConfig
from core.runs.events import BatchProgress
from core.runs.layout import read_metrics
from tui.app.app import ResnetTui
from tui.app.screens.training import TrainingScreen
from tui.app.widgets.progress import ProgressPanel

DEVICES = [("cpu  (test)", "cpu")]
# 80 images in batches of 40: two steps an epoch, so step 1 is always mid-epoch.
TINY = dict(dataset="synthetic", arch="simplecnn", epochs=2, batch_size=40, lr=0.05, train_subset=80, device="cpu",
            image_size=16)
STEPS = 4  # TINY's steps in all
# resnet20 on 200 synthetic images of 16 px, batches of 50: four steps an epoch.
RESNET = dict(dataset="synthetic", arch="resnet20", epochs=2, batch_size=50, lr=0.05, train_subset=200,
              image_size=16)


class Gate:
    """Holds the training thread inside the engine's event callback the first time ``when(event)`` is
    true, until opened. Install before the run starts: it asks for progress after every batch (the app's
    0.1 s would skip the reports of steps that take less, and with them the step a test waits for)."""

    def __init__(self, app: ResnetTui, when) -> None:
        self.reached, self._open = threading.Event(), threading.Event()
        app.progress_interval = 0.0
        inner = app._sink

        def sink(event) -> None:
            inner(event)
            if not self.reached.is_set() and when(event):
                self.reached.set()
                self._open.wait(120)

        app._sink = sink  # type: ignore[method-assign]
        app.gates = [*getattr(app, "gates", []), self]  # type: ignore[attr-defined]

    def open(self) -> None:
        self._open.set()


def at_step(step: int):
    return lambda event: isinstance(event, BatchProgress) and event.global_step == step


def make_app(tmp_path: Path, base: dict | None = None, **cfg) -> ResnetTui:
    """The app on tmp_path/runs with a fake CPU device list; its form starts from ``base`` (TINY) updated by ``cfg``."""
    return ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False,
                     base_config=TrainConfig(**((TINY if base is None else base) | cfg)), devices=DEVICES)


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


async def type_into(pilot, selector: str, text: str, paste: bool = False) -> None:
    """Clear the field and type ``text`` key by key; a long text (a path) is pasted, as a person would
    (Pilot waits for the app to go idle after every key: ~0.1 s a key). ``paste`` pastes any text."""
    from textual import events
    from textual.widgets import Input

    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    if len(text) <= 12 and not paste:
        await pilot.press("end", "ctrl+u", *list(text))
    else:
        await pilot.press("end", "ctrl+u")
        pilot.app.post_message(events.Paste(text))
        await pilot.pause()


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


def make_resnet_app(tmp_path: Path, **cfg) -> ResnetTui:
    """make_app with RESNET's form (its device stays auto, the app's own choice)."""
    return make_app(tmp_path, base=RESNET, **cfg)
