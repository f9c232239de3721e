"""Helpers for Pilot tests of the app that trains in a worker thread."""

from __future__ import annotations

import threading

from core.runs.events import BatchProgress


class Gate:
    """Holds the training thread inside the engine's event callback the first time ``when(event)`` is
    true, until opened. Install before the run starts."""

    def __init__(self, app: ResnetTui, when) -> None:
        self.reached, self._open = threading.Event(), threading.Event()
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
