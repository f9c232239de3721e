"""`?`: every key of the screen you came from (shown in the footer or not), and the app's own keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label

# Keys every Textual input handles the same way: not worth a row each.
_SKIP_ACTIONS = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous"}


def key_rows(screen: Screen) -> list[tuple[str, str]]:
    """(key, what it does) for the keys active on ``screen``: its own, its focused widget's and the app's."""
    rows: dict[str, str] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if binding.action in _SKIP_ACTIONS or not (binding.description or binding.action):
            continue
        what = binding.description or binding.action.replace("_", " ")
        if not active.enabled:
            what += " (not now)"
        rows.setdefault(screen.app.get_key_display(binding), what)
    return sorted(rows.items(), key=lambda kv: (len(kv[0]) > 1, kv[0]))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 90%; border: thick $accent; background: $surface; padding: 0 1; }
    HelpScreen DataTable { height: auto; max-height: 24; }
    HelpScreen Label { width: 1fr; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,question_mark,q,f1", "app.pop_screen", "Close")]

    def __init__(self, rows: list[tuple[str, str]], title: str) -> None:
        super().__init__()
        self.rows, self.title_text = rows, title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Keys: {self.title_text}[/]")
            table = DataTable(id="help-keys", cursor_type="row", zebra_stripes=True, show_header=False)
            table.add_columns("key", "does")
            for key, what in self.rows:
                table.add_row(key, what)
            yield table
            yield Label("f1 also opens this (in a text field ? is text). ctrl+p: the command palette (new run, runs, "
                        "fine-tune, compare, help). esc closes.")
