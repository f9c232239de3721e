"""How a UI steers a running fit(): stop, pause/resume and "save a checkpoint now".

Plain threading.Events, so any thread can set them; the trainer looks at them after every
batch. A paused trainer waits on the stop flag too, so stopping a paused run is immediate.

Requests from the run's control file (core.runs.control_file) arrive through ``apply``; those that take effect
in the loop (pause, continue, checkpoint) are acknowledged by the loop when they have (``take``),
so an ack always tells what really happened ("paused at epoch 2, batch 14/390").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from core.runs.control_file import Request

Ack = Callable[[Request, str], None]


@dataclass
class TrainControl:
    stop: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)  # set = paused
    save_now: threading.Event = field(default_factory=threading.Event)
    pruned: bool = False  # the stop came from a search's pruner: the run ends "pruned", not "stopped"
    _pending: dict[str, list[Request]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_stop(self) -> None:
        self.stop.set()
        self.pause.clear()

    def request_prune(self) -> None:
        """Stop as a pruned trial (asked between epochs, so the run ends at that epoch's checkpoint)."""
        self.pruned = True
        self.request_stop()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns True when now paused."""
        if self.pause.is_set():
            self.pause.clear()
            return False
        self.pause.set()
        return True

    def request_save(self) -> None:
        self.save_now.set()

    def wait_while_paused(self, poll: float = 0.05) -> float:
        """Block while paused; returns early on stop or a save request. Returns the seconds spent waiting."""
        if not self.pause.is_set():
            return 0.0
        start = time.perf_counter()
        while self.pause.is_set() and not self.stop.is_set() and not self.save_now.is_set():
            self.stop.wait(poll)
        return time.perf_counter() - start

    # ------------------------------------------------------------------ requests from the control file
    def apply(self, r: Request, ack: Ack) -> None:
        """Act on a remote request; answers at once when there is nothing to wait for."""
        if self.stop.is_set():
            ack(r, "the run is already stopping")
        elif r.request == "stop":
            self.request_stop()
            ack(r, "stopping: the run saves at the current batch and ends")
        elif r.request == "pause":
            if self.pause.is_set():
                ack(r, "already paused")
            else:
                self._expect(r)
                self.pause.set()
        elif r.request == "continue":
            if not self.pause.is_set():
                ack(r, "not paused")
            else:
                self._expect(r)
                self.pause.clear()
        elif r.request == "checkpoint":
            self._expect(r)
            self.request_save()

    def _expect(self, r: Request) -> None:
        with self._lock:
            self._pending.setdefault(r.request, []).append(r)

    def take(self, request: str) -> list[Request]:
        """The requests of this kind waiting for their ack (the loop just did what they asked)."""
        with self._lock:
            return self._pending.pop(request, [])

    def take_all(self) -> list[Request]:
        with self._lock:
            waiting = [r for rs in self._pending.values() for r in rs]
            self._pending.clear()
        return waiting
