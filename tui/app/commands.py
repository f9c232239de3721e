"""The app's help key and its entries in the command palette (ctrl+p): the main actions by name."""

from __future__ import annotations

from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen


class AppCommands(App):
    # A focused text field takes "?" as text (Textual drops printable keys from the bindings there): f1 works
    # everywhere.
    BINDINGS = [Binding("question_mark", "help", "Help"), Binding("f1", "help", "Help", show=False)]

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
