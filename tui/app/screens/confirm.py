"""A yes/no dialog (y/enter confirm, n/escape cancel) and a question with several answers.

Every dialog fits 80x24 whole: at most 64 columns wide (never wider than the screen), and a question's
answers are stacked one per line, so a long answer is never cut and the last one (cancel) is never pushed
out of sight."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 60; max-width: 100%; height: auto; max-height: 100%; border: thick $warning;
                         background: $surface; padding: 1 2; }
    Confirm Label { width: 1fr; }
    Confirm Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    Confirm Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no", compact=True)
                yield Button(f"{self.yes} (y)", id="yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class Choose(ModalScreen[str]):
    """A question with several answers, each on a key; escape answers "cancel"."""

    DEFAULT_CSS = """
    Choose { align: center middle; }
    Choose > Vertical { width: 64; max-width: 100%; height: auto; max-height: 100%; border: thick $warning;
                        background: $surface; padding: 1 2; }
    Choose Label { width: 1fr; }
    Choose #answers { height: auto; margin-top: 1; }
    Choose Button { width: 1fr; margin: 0; }
    """

    def __init__(self, question: str, answers: list[tuple[str, str, str]]) -> None:
        """``answers``: (value, label, key) in the order shown; the last one is focused (the safe one)."""
        super().__init__()
        self.question, self.answers = question, answers

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Vertical(id="answers"):
                for value, label, key in self.answers:
                    yield Button(f"{label} ({key})", id=f"answer-{value}", compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#answer-{self.answers[-1][0]}", Button).focus()

    def on_key(self, event) -> None:
        keys = {key: value for value, _, key in self.answers} | {"escape": "cancel"}
        if event.key in keys:
            event.stop()
            self.dismiss(keys[event.key])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id).removeprefix("answer-"))

    def action_answer(self, value: str) -> None:
        self.dismiss(value)
