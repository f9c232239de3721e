"""The app's side of runs it does not train in its own thread: attach to one (follow its event stream,
steer it through its control file), start one in the background, and hand an in-app run over to a
detached process (a key, or the terminal hanging up).

A mixin of ResnetTui, kept apart so app.py stays about the in-app worker and navigation.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from core.config.train_config import TrainConfig
from core.runs.events import ControlAck, Event
from tui.app.live import LiveRun

FOLLOW_EVERY = 0.25  # seconds between looks at an attached run's event stream


class RunHandles:
    attached: Path | None
    live: LiveRun
    is_training: bool

    def _init_handles(self) -> None:
        self.attached = None  # the run folder followed (not trained here), while its owner lives
        self._attaching: Path | None = None  # the run whose history is being read for an attach
        self._follower: Any = None
        self._follow_timer: Any = None
        self._sent: set[str] = set()  # ids of the requests this app sent (their acks are shown)
        self._handoff = False  # the in-app run is being moved to a detached process
        self._handoff_paused = False  # ... and it was paused: its new process starts paused
        self.hung_up = False  # the terminal went away (SIGHUP) while training here

    # ------------------------------------------------------------------ attach
    def attach(self, path: str | Path) -> None:
        """Show a run trained by another process (background, `train`, another app) live, and steer it."""
        path = Path(path).resolve()
        if self.is_training:
            if self.live.run_dir and Path(self.live.run_dir).resolve() == path:
                self._show_training_screen()  # type: ignore[attr-defined]
            else:
                self.notify("a run is training in this app; stop it or move it to the background (b) first", severity="warning")  # type: ignore[attr-defined]
            return
        self.detach()
        self._attaching = path
        # Replaying a long history allocates tens of thousands of objects; the full collections that triggers walked
        # every object of the app (torch included) while holding the GIL: a 135 ms freeze of the UI. What is alive
        # now stays alive: move it out of the collector's sight.
        gc.freeze()
        # The history is read and replayed off the UI thread: a week-long run's takes a while, and the screen must
        # keep answering meanwhile (its story is read, not its whole stream: core.runs.history).
        self.run_worker(lambda: self._load_history(path), thread=True, group="attach", exit_on_error=False)  # type: ignore[attr-defined]

    def _load_history(self, path: Path) -> None:
        """In a worker thread: a fresh LiveRun brought up to date with the run's history, handed to the UI thread."""
        from core.runs.follow import RunFollower

        follower = RunFollower(path)
        live = LiveRun(name=path.name, run_dir=str(path))
        for record in follower.history():  # the story so far, then the news as it comes
            live.apply(record.event)
        if live.status == "starting" and not live.run_dir:
            live.run_dir = str(path)
        if live.finished and live.status == "stopped":
            from core.runs.catalog import summarize

            if (s := summarize(path)) is not None and s.live:
                live.status = "starting"  # its last session stopped and a new one is starting (a hand-over)
        self.call_from_thread(self._attached, path, follower, live)  # type: ignore[attr-defined]

    def _attached(self, path: Path, follower: Any, live: LiveRun) -> None:
        if self._attaching != path or self.is_training:
            return  # another attach (or a run started here) came since
        self.live, self.attached, self._follower = live, path, follower
        gc.freeze()  # the history just read, too: the screen built next allocates enough to trigger a collection
        self._follow_timer = self.set_interval(FOLLOW_EVERY, self._follow_tick)  # type: ignore[attr-defined]
        self._show_training_screen()  # type: ignore[attr-defined]

    def detach(self) -> None:
        """Stop following (the run itself is never touched)."""
        if self._follow_timer is not None:
            self._follow_timer.stop()
        self._follow_timer = self._follower = self.attached = None

    def _follow_tick(self) -> None:
        if self._follower is None:
            return
        poll = self._follower.poll()
        for record in poll.records:
            self.show_event(record.event)  # type: ignore[attr-defined]
        self._show_stall(poll.stalled)
        if poll.end is None:
            return
        name = self.live.name or Path(str(self.attached)).name
        if poll.end == "interrupted":
            self.live.status = "interrupted"
            self.show_event(None)  # type: ignore[attr-defined]
            self.notify(f"{name}: its process ended without finishing; resume it from the runs screen (r)", severity="warning", timeout=10)  # type: ignore[attr-defined]
        elif poll.end == "vanished":
            self.notify(f"{name}: its folder was deleted", severity="error")  # type: ignore[attr-defined]
        self.detach()

    def _show_stall(self, why: str | None) -> None:
        """A stalled run reads so in the status line (with why), once noticed; then "running" when it moves."""
        live = self.live
        if why and live.status in ("running", "stalled"):
            if live.status != "stalled":
                self.notify(f"{live.name}: stalled, {why}; stop it with s, or `resnet-tui runs kill {live.name}` if it "  # type: ignore[attr-defined]
                            f"cannot answer", severity="warning", timeout=15)
            live.status, live.error = "stalled", why
            self.show_event(None)  # type: ignore[attr-defined]
        elif not why and live.status == "stalled":
            live.status, live.error = "running", None
            self.show_event(None)  # type: ignore[attr-defined]

    def on_control_ack(self, event: Event) -> None:
        if isinstance(event, ControlAck) and event.id in self._sent:
            self._sent.discard(event.id)
            self.notify(event.outcome)  # type: ignore[attr-defined]

    def send_request(self, request: str) -> None:
        from core.errors import UserError
        from core.runs.control_file import send_request

        if self.attached is None:
            return
        try:
            sent = send_request(self.attached, request)
        except UserError as e:
            self.notify(str(e), severity="error")  # type: ignore[attr-defined]
            return
        self._sent.add(sent.id)

    # ------------------------------------------------------------------ background
    def start_background(self, cfg: TrainConfig, processes: int = 1) -> None:
        """Check the config, start it as a detached run (``processes`` > 1: a DDP job of that many GPUs) and
        attach to it."""
        from core.config.validate import check_config
        from core.errors import UserError
        from core.runs import layout
        from tui.app import state
        from tui.cli.launch import launch

        try:
            check_config(cfg)
            job = None
            if processes > 1:
                from tui.cli.torchrun import plan_job

                job = plan_job(str(processes), 1, 0, None, None, cfg.device, cfg.batch_size).to_dict()
            run_dir = layout.create_run_dir(cfg.runs_dir, cfg.name or layout.default_run_name(cfg), explicit=bool(cfg.name)).resolve()
            pid = launch(run_dir, config=cfg.to_dict(), job=job)
        except (UserError, OSError) as e:
            self.notify(str(e), title="not started", severity="error", timeout=10)  # type: ignore[attr-defined]
            return
        state.save_last_config(cfg)
        self.notify(f"started {run_dir.name} in the background (pid {pid}); it goes on if you quit")  # type: ignore[attr-defined]
        self.attach(run_dir)

    def move_to_background(self) -> None:
        """Save the in-app run at its batch and let a detached process continue it (then attach to that)."""
        control = getattr(self, "control", None)
        if self.attached is not None:
            self.notify("this run already trains in a process of its own")  # type: ignore[attr-defined]
            return
        if not self.is_training or control is None or self._handoff:
            return
        self._handoff = True
        self._handoff_paused = control.pause.is_set()  # a paused run stays paused in its new process
        control.request_stop()
        self.notify("moving to the background: saving at this batch, then a detached process continues")  # type: ignore[attr-defined]

    def hang_up(self) -> None:
        """SIGHUP while training here: the same hand-off, and the app ends once the run is handed over."""
        self.hung_up = True
        self.move_to_background()

    def hand_over(self, run_dir: str | Path | None) -> int | None:
        """In the worker thread, after fit() returned stopped for a hand-off: start the detached resume."""
        from tui.cli.launch import launch

        if not run_dir:
            return None
        try:
            why = "the app's terminal hung up" if self.hung_up else "moved to the background from the app"
            pid = launch(Path(run_dir), resume=True, reason=why)
        except OSError:
            return None
        if self._handoff_paused:
            from core.errors import UserError
            from core.runs.control_file import send_request

            try:  # sent after the launch: the new owner takes it as it starts (tui.cli.launch's requests_since)
                send_request(run_dir, "pause")
            except UserError:
                pass  # it trains on; the attached screen shows it, and p pauses it
        return pid

    def _handed_over(self, run_dir: str, pid: int | None) -> None:
        self._handoff = False
        if pid is None:
            self.notify(f"could not start the background process; resume {run_dir} from the runs screen (r)", severity="error")  # type: ignore[attr-defined]
            return
        self.notify(f"moved to the background (pid {pid}); quitting the app no longer touches it")  # type: ignore[attr-defined]
        self.attach(run_dir)


def exit_after_hand_over() -> None:
    """The terminal is gone: end the process without touching it (the run lives on in its own process)."""
    os._exit(0)


def run_surviving_hang_up(app) -> None:
    """Run the app with a hang-up (SSH gone) handing an in-app run over to a detached process instead of
    killing it; with nothing training, a hang-up ends the app as it always did."""
    import signal
    import threading
    import time

    def on_hang_up(signum, _frame) -> None:
        if app.is_training and app.control is not None:
            app.hang_up()
        else:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGHUP)

    signal.signal(signal.SIGHUP, on_hang_up)
    app.run()
    if app.hung_up:
        # The screen may end first (its terminal is gone): the worker still has to save and hand the run
        # over; it ends the process when it has (exit_after_hand_over). Wait for it, not forever.
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline and any(t.name != "MainThread" and not t.daemon for t in threading.enumerate()):
            time.sleep(0.5)
