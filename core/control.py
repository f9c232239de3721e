"""How a UI steers a running fit(): stop, pause/resume and "save a checkpoint now".

Plain threading.Events, so any thread can set them; the trainer looks at them after every
batch. A paused trainer waits on the stop flag too, so stopping a paused run is immediate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class TrainControl:
    stop: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)  # set = paused
    save_now: threading.Event = field(default_factory=threading.Event)

    def request_stop(self) -> None:
        self.stop.set()
        self.pause.clear()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns True when now paused."""
        if self.pause.is_set():
            self.pause.clear()
            return False
        self.pause.set()
        return True

    def wait_while_paused(self, poll: float = 0.05) -> float:
        """Block while paused (returns early on stop); returns the seconds spent waiting."""
        import time

        if not self.pause.is_set():
            return 0.0
        start = time.perf_counter()
        while self.pause.is_set() and not self.stop.is_set():
            self.stop.wait(poll)
        return time.perf_counter() - start
