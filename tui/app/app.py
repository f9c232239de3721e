"""The Textual app. It owns the one training worker and the LiveRun it feeds; screens only display.

The worker runs core.train.fit() in a thread. Engine events reach the UI as TrainerEvent
messages (post_message is thread-safe and never blocks the trainer); the engine sends batch
progress at most every 0.1 s and a queued one is replaced by a newer one, so a slow terminal
never floods. Stop, pause and save-now are threading.Events the engine checks every batch,
so quitting waits at most one batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.binding import Binding

from core.config.train_config import TrainConfig
from core.runs.control import TrainControl
from core.runs.events import RunFinished, RunStatus
from tui.app.commands import AppCommands
from tui.app.handles import RunHandles, exit_after_hand_over
from tui.app.live import LiveRun
from tui.app.messages import TrainerEvent
from tui.app.screens.confirm import Choose, Confirm
from tui.app.screens.runs import RunsScreen
from tui.app.screens.setup import SetupScreen
from tui.app.screens.training import TrainingScreen

FitFn = Callable[..., Any]


class ResnetTui(RunHandles, AppCommands):
    CSS_PATH = "app.tcss"
    TITLE = "resnet-tui"
    progress_interval = 0.1  # seconds between batch progress messages: about 10 screen updates a second
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        runs_dir: str = "checkpoints",
        fit_fn: FitFn | None = None,
        poll_memory: bool = True,
        base_config: TrainConfig | None = None,
        devices: list[tuple[str, str]] | None = None,
    ) -> None:
        """``fit_fn``, ``poll_memory``, ``base_config`` and ``devices`` exist for tests and benchmarks."""
        super().__init__()
        self.devices = devices
        self.runs_dir = runs_dir  # the folder that holds the runs (each run has its own folder in it)
        self.fit_fn = fit_fn
        self.poll_memory = poll_memory
        self.base_config = base_config
        self.live = LiveRun()
        self.control: TrainControl | None = None
        self.is_training = False
        self.memory = ""
        self._quit_when_stopped = False
        self._exit_when_handed_over = False
        self._init_handles()

    # ------------------------------------------------------------------ start-up
    def on_mount(self) -> None:
        from tui.app import choices, state

        if self.base_config is not None:
            base = self.base_config
        else:  # the remembered config, minus its name (a name is taken once it has run)
            base = (state.load_last_config() or TrainConfig()).replace(name="")
        devices = self.devices or choices.device_choices()
        if base.device not in [spec for _, spec in devices]:
            base = base.replace(device=devices[0][1])
        base = base.replace(runs_dir=self.runs_dir)
        self.setup_screen = SetupScreen(base, choices.arch_choices(), devices)
        self.push_screen(self.setup_screen)
        self._load_model_stats()
        self.check_machine()
        if self.poll_memory:
            self.set_interval(2.0, self._poll_memory)

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def _load_model_stats(self) -> None:
        from tui.app import choices

        if len(choices.cached_stats()) < len(choices.arch_choices({})):
            stats = choices.compute_stats()
            self.call_from_thread(self._update_arch_labels, choices.arch_choices(stats))

    def _update_arch_labels(self, choices: list[tuple[str, str]], tries: int = 100) -> None:
        from textual.css.query import NoMatches

        try:
            select = self.setup_screen.query_one("#f-arch")
        except NoMatches:
            select = None
        if select is None or not select.is_mounted:
            # The stats came before the form was built: a Select given options before it is mounted
            # falls back to its first option, so the chosen architecture would be lost. Try again later.
            if tries > 0:
                self.call_after_refresh(self._update_arch_labels, choices, tries - 1)
            return
        self.setup_screen.set_choices("arch", choices)

    def _poll_memory(self) -> None:
        from core.hardware.readings import memory_line

        self.memory = "" if self.attached else memory_line(self.live.device or "cpu")  # not another process's RAM

    # ------------------------------------------------------------------ runs
    def start_run(self, cfg: TrainConfig, resume: str | Path | None = None) -> None:
        if self.is_training:
            self.notify("a run is already training; stop it first", severity="warning")
            return
        self.detach()
        from tui.app import state

        if resume is None:
            state.save_last_config(cfg)
        if resume is not None:  # the epochs already run stay in the log and the curves
            self.live = LiveRun.from_run_dir(resume)
            self.live.status = "starting"
        else:
            self.live = LiveRun(name=cfg.name or "starting", arch=cfg.arch, epochs=cfg.epochs)
        self.control = TrainControl()
        self.is_training = True
        self._show_training_screen()
        self._train(cfg, resume, self.control)

    def resume_run(self, path: str | Path) -> None:
        self.start_run(TrainConfig(), resume=path)

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train(self, cfg: TrainConfig, resume: str | Path | None, control: TrainControl) -> None:
        from core.errors import UserError

        fit = self.fit_fn
        if fit is None:
            from core.train import fit
        try:
            result = fit(cfg, self._sink, control=control, resume=resume, progress_interval=self.progress_interval)
            if self._handoff:
                handed = result.run_dir if result.status == RunStatus.STOPPED else None
                pid = self.hand_over(handed)
                if not self.hung_up:
                    self.call_from_thread(self._handed_over, str(handed or result.run_dir or ""), pid)
        except UserError:
            pass  # already reported through a RunFinished("failed") event
        except Exception as e:  # noqa: BLE001 - never let the worker die silently
            failed = RunFinished(status=RunStatus.FAILED, run_dir="", epochs_completed=0, final_test_acc=None,
                                 best_val_acc=None, train_seconds=0.0, images_per_sec=None,
                                 error=f"{type(e).__name__}: {e}")
            self.post_message(TrainerEvent(failed))
        finally:
            if self.hung_up:
                exit_after_hand_over()  # nobody is looking: the detached process has the run (or last.pt does)

    def _sink(self, event) -> None:
        self.post_message(TrainerEvent(event))

    def on_trainer_event(self, message: TrainerEvent) -> None:
        event = message.event
        if isinstance(event, RunFinished):
            self.is_training = False
        self.show_event(event)
        if isinstance(event, RunFinished) and self._quit_when_stopped:
            self.exit()

    def show_event(self, event) -> None:
        """An event of the run on show (trained here or followed): into the LiveRun and onto the screens.
        None only redraws."""
        if event is not None:
            self.live.apply(event)
            self.on_control_ack(event)
            if isinstance(event, RunFinished) and self._handoff and event.status == RunStatus.STOPPED:
                self.live.status = "moving to the background"  # saved here, not stopped: a new process continues
        if isinstance(event, RunFinished) and not self._handoff:
            if event.status == RunStatus.FAILED:
                self.notify(event.error or "training failed", title="run failed", severity="error", timeout=10)
            elif event.status == RunStatus.STOPPED:
                self.notify(f"stopped; resume it from the runs screen (r) or with resnet-tui train --resume {event.run_dir}")
        for screen in self.screen_stack:
            if isinstance(screen, TrainingScreen):
                screen.show_event(event)

    # ------------------------------------------------------------------ navigation
    def _show_training_screen(self) -> None:
        existing = [s for s in self.screen_stack if isinstance(s, TrainingScreen)]
        if existing and self.screen is existing[-1]:
            existing[-1].rebuild()
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, SetupScreen):
            self.pop_screen()
        self.push_screen(TrainingScreen())

    def action_show_training(self) -> None:
        if self.live.run_dir or self.is_training or self.attached:
            self._show_training_screen()

    def action_finetune(self, parent: str | None = None) -> None:
        """Open the fine-tune screen, optionally with a run's weights chosen."""
        from tui.app import choices
        from tui.app.screens.finetune import FinetuneScreen

        if self.is_training:
            self.notify("a run is training; stop it (s) before starting another", severity="warning")
            return
        self.push_screen(FinetuneScreen(self.runs_dir, self.devices or choices.device_choices(), parent))

    def action_show_runs(self) -> None:
        if isinstance(self.screen, RunsScreen):
            return
        self.push_screen(RunsScreen(self.runs_dir))

    def action_new_run(self) -> None:
        if self.is_training:
            self.notify("a run is training; stop it (s) before setting up another", severity="warning")
            return
        while not isinstance(self.screen, SetupScreen) and len(self.screen_stack) > 2:
            self.pop_screen()

    def action_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    # ------------------------------------------------------------------ run control
    def _nothing_to_steer(self) -> bool:
        if self.attached is None and not self.is_training:
            self.notify(f"the run is {self.live.status}: nothing to pause, save or stop" if self.live.run_dir else "no run is training")
            return True
        return False

    def action_toggle_pause(self) -> None:
        if self._nothing_to_steer():
            return
        if self.attached is not None:
            self.send_request("continue" if self.live.status == "paused" else "pause")
        elif self.is_training and self.control is not None:
            paused = self.control.toggle_pause()
            self.notify("paused" if paused else "resumed")

    def action_checkpoint_now(self) -> None:
        if self._nothing_to_steer():
            return
        if self.attached is not None:
            self.send_request("checkpoint")
        elif self.is_training and self.control is not None:
            self.control.request_save()
            self.notify("saving a checkpoint after this batch")

    def action_move_to_background(self) -> None:
        self.move_to_background()

    def action_stop_run(self) -> None:
        if self.attached is None and (not self.is_training or self.control is None):
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            if self.attached is not None:
                self.send_request("stop")
            elif self.control is not None:
                self.control.request_stop()
                self.notify("stopping after this batch; a checkpoint is saved")

        self.push_screen(Confirm("Stop training? A checkpoint is saved; you can resume later."), answer)

    async def action_quit(self) -> None:
        if not self.is_training or self.control is None:
            self.exit()  # a followed run is never touched by quitting
            return

        def answer(choice: str | None) -> None:
            if choice == "background":
                self._quit_when_stopped = False
                self.move_to_background()
                self.notify("the run goes on in the background; quitting once it is handed over")
                self._exit_when_handed_over = True
            elif choice == "stop" and self.control is not None:
                self._quit_when_stopped = True
                self.control.request_stop()
                self.notify("stopping after this batch and saving, then quitting")

        self.push_screen(Choose("Training is running in this app. Quit and...", [
            ("stop", "stop it (a checkpoint is saved)", "s"),
            ("background", "move it to the background", "b"),
            ("cancel", "cancel", "c"),
        ]), answer)

    def _handed_over(self, run_dir: str, pid: int | None) -> None:
        super()._handed_over(run_dir, pid)
        if self._exit_when_handed_over:
            self.exit()


def run_app(runs_dir: str = "checkpoints") -> None:
    from tui.app.handles import run_surviving_hang_up

    run_surviving_hang_up(ResnetTui(runs_dir=runs_dir))
