"""The per-class confusion matrix as a heatmap: rows are true classes, columns predicted ones.

Each cell is coloured by its share of its row (so the diagonal is each class's recall), the
diagonal is bold, and the last column is the per-class accuracy. Columns are numbered so ten
classes fit in 80 columns; the rows carry the class names.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

LOW = Color.parse("#16213a")  # an empty cell
HIGH = Color.parse("#2f9ee8")  # a cell holding its whole row


def cell_style(share: float) -> str:
    bg = LOW.blend(HIGH, max(0.0, min(1.0, share)))
    fg = "black" if bg.brightness > 0.5 else "white"
    return f"{fg} on {bg.hex}"


def render_matrix(
    classes: tuple[str, ...], confusion: tuple[tuple[int, ...], ...], per_class: tuple[float, ...], title: str = ""
) -> Table:
    n = len(classes)
    width = max(3, len(str(max((max(r) for r in confusion), default=0))))
    table = Table(title=title or None, box=None, padding=(0, 1), show_edge=False, header_style="bold", title_justify="left")
    table.add_column("true \\ pred", no_wrap=True)
    for j in range(n):
        table.add_column(str(j), justify="right", min_width=width, no_wrap=True)
    table.add_column("acc", justify="right", no_wrap=True)
    for i, (name, row) in enumerate(zip(classes, confusion)):
        total = sum(row)
        cells = []
        for j, v in enumerate(row):
            style = cell_style(v / total if total else 0.0)
            cells.append(Text(str(v), style=style + (" bold" if i == j else "")))
        acc = per_class[i] if i < len(per_class) else 0.0
        table.add_row(Text(f"{i} {name[:14]}"), *cells, Text(f" {100 * acc:5.1f}%"))
    return table


class ConfusionMatrix(Static):
    """Call ``show`` after each evaluation; until then it says what it is waiting for."""

    DEFAULT_CSS = """
    ConfusionMatrix { height: auto; width: auto; }
    """

    def on_mount(self) -> None:
        if not self.content:
            self.update("No evaluation yet: the matrix appears after the first epoch.")

    table: Table | None = None

    def show(self, classes, confusion, per_class, title: str = "") -> None:
        if confusion is None:
            self.table = None
            self.update("No evaluation yet: the matrix appears after the first epoch.")
            return
        self.table = render_matrix(tuple(classes), tuple(confusion), tuple(per_class or ()), title)
        self.update(self.table)

    def plain(self) -> str:
        """The matrix as plain text (what a reader of the screen sees, without colours)."""
        if self.table is None:
            return str(self.render())
        from rich.console import Console

        console = Console(width=200, color_system=None)
        with console.capture() as capture:
            console.print(self.table)
        return capture.get()
