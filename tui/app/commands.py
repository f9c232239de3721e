"""The app's help key, its entries in the command palette (ctrl+p): the main actions by name, and the start-up
notice of `resnet-tui doctor`'s failed checks."""

from __future__ import annotations

from typing import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen


class AppCommands(App):
    # A focused text field takes "?" as text (Textual drops printable keys from the bindings there): f1 works
    # everywhere.
    BINDINGS = [Binding("question_mark", "help", "Help"), Binding("f1", "help", "Help", show=False)]

    def check_machine(self) -> None:
        """One notice when a doctor check fails (a torch the driver cannot run, a runs folder that cannot be
        written, ...); nothing on a healthy machine. RESNET_TUI_NO_DOCTOR=1 turns it off (the tests set it)."""
        import os

        if not os.environ.get("RESNET_TUI_NO_DOCTOR"):
            self._check_machine()

    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False)
    def _check_machine(self) -> None:
        from core.hardware.doctor import problem_line, run_checks

        line = problem_line(run_checks(run_dir=self.runs_dir, quick=True))  # type: ignore[attr-defined]
        if line:
            self.call_from_thread(self.notify, line, severity="warning", timeout=20)

    def action_help(self) -> None:
        from tui.app.screens.help import HelpScreen, key_rows

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        self.push_screen(HelpScreen(key_rows(screen), screen.sub_title or type(screen).__name__))

    def action_compare_runs(self) -> None:
        """Compare the runs marked on the runs screen (opening it first when it is not showing)."""
        from tui.app.screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self.action_show_runs()  # type: ignore[attr-defined]
            self.notify("mark runs with space, then press c")
            return
        self.screen.action_compare()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New run", "Set up a new training run", self.action_new_run)  # type: ignore[attr-defined]
        yield SystemCommand("Runs", "Every run: open, resume, compare, delete", self.action_show_runs)  # type: ignore[attr-defined]
        yield SystemCommand("Fine-tune", "Fine-tune a trained run on a new dataset", self.action_finetune)  # type: ignore[attr-defined]
        yield SystemCommand("Compare runs", "Compare the runs marked on the runs screen", self.action_compare_runs)
        yield SystemCommand("Help", "Every key of this screen", self.action_help)
        yield from super().get_system_commands(screen)
