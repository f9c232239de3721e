"""The training screen's hardware panel: the GPUs the run uses (NVML) or, on a CPU, the trainer process and
its machine (psutil), read about once a second in a worker thread (core.hardware.readings) so the UI never waits."""

from __future__ import annotations

import os
import socket

from textual import work
from textual.widgets import Static

from core.hardware.readings import HardwareMonitor, cuda_indices, reading_lines

REFRESH = 1.0  # seconds between readings


class HardwarePanel(Static):
    DEFAULT_CSS = "HardwarePanel { height: auto; color: $text-muted; margin-top: 1; display: none; }"

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.monitor: HardwareMonitor | None = None
        self._target: tuple[str, int, int] | None = None

    def on_mount(self) -> None:
        if getattr(self.app, "poll_memory", True):  # off in snapshot tests: readings change from run to run
            self.set_interval(REFRESH, self._tick)
            self._tick()

    def on_unmount(self) -> None:
        if self.monitor is not None:
            self.monitor.close()

    def _trainer_pid(self) -> int:
        """This process, or the process training an attached run on this machine."""
        live = self.app.live  # type: ignore[attr-defined]
        if getattr(self.app, "attached", False) and live.run_dir:
            from core.runs.catalog import owner

            who = owner(live.run_dir) or {}
            if who.get("host") == socket.gethostname() and isinstance(who.get("pid"), int):
                return who["pid"]
        return os.getpid()

    @work(thread=True, exclusive=True, group="hardware")
    def _tick(self) -> None:
        live = self.app.live  # type: ignore[attr-defined]
        target = (live.device or "cpu", live.processes, self._trainer_pid())
        if target != self._target:
            if self.monitor is not None:
                self.monitor.close()
            self.monitor = HardwareMonitor(cuda_indices(target[0], target[1]), pid=target[2])
            self._target = target
        text = "\n".join(reading_lines(self.monitor.read()))
        self.app.call_from_thread(self._show, text)

    def _show(self, text: str) -> None:
        self.update(text)
        self.display = bool(text)  # hidden until the first reading
