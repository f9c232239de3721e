"""The per-class confusion matrix as a heatmap: rows are true classes, columns predicted ones.

Each cell is coloured by its share of its row (so the diagonal is each class's recall), the
diagonal is bold, and the last column is the per-class accuracy. Columns are numbered so ten
classes fit in 80 columns; the rows carry the class names.

Focused, a cell cursor moves with the arrows and ``enter`` asks for the cell's images (CellChosen): the
screen showing the matrix opens the mistakes gallery for it.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.color import Color
from textual.message import Message
from textual.widgets import Static

LOW = Color.parse("#16213a")  # an empty cell
HIGH = Color.parse("#2f9ee8")  # a cell holding its whole row


def cell_style(share: float) -> str:
    bg = LOW.blend(HIGH, max(0.0, min(1.0, share)))
    fg = "black" if bg.brightness > 0.5 else "white"
    return f"{fg} on {bg.hex}"


def render_matrix(
    classes: tuple[str, ...], confusion: tuple[tuple[int, ...], ...], per_class: tuple[float, ...], title: str = "",
    cursor: tuple[int, int] | None = None,
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
            mark = " reverse underline" if cursor == (i, j) else ""
            cells.append(Text(str(v), style=style + (" bold" if i == j else "") + mark))
        acc = per_class[i] if i < len(per_class) else 0.0
        table.add_row(Text(f"{i} {name[:14]}"), *cells, Text(f" {100 * acc:5.1f}%"))
    return table


class ConfusionMatrix(Static, can_focus=True):
    """Call ``show`` after each evaluation; until then it says what it is waiting for."""

    DEFAULT_CSS = """
    ConfusionMatrix { height: auto; width: auto; }
    ConfusionMatrix:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("enter", "choose", "Images", show=False),  # the title says so: the footer keeps its 80 columns
    ]

    class CellChosen(Message):
        """``enter`` on a cell: its true class (row) and predicted class (column)."""

        def __init__(self, matrix: "ConfusionMatrix", true: int, pred: int) -> None:
            super().__init__()
            self.matrix, self.true, self.pred = matrix, true, pred

    table: Table | None = None
    cursor: tuple[int, int] = (0, 0)
    _shown: tuple | None = None

    def on_mount(self) -> None:
        if not self.content:
            self.update("No evaluation yet: the matrix appears after the first epoch.")

    def show(self, classes, confusion, per_class, title: str = "") -> None:
        if confusion is None:
            self.table, self._shown = None, None
            self.update("No evaluation yet: the matrix appears after the first epoch.")
            return
        self._shown = (tuple(classes), tuple(confusion), tuple(per_class or ()), title)
        self._draw()

    def _draw(self) -> None:
        assert self._shown is not None
        classes, confusion, per_class, title = self._shown
        if self.has_focus:
            title = f"{title}  · arrows + enter: a cell's images" if title else "arrows + enter: a cell's images"
        self.table = render_matrix(classes, confusion, per_class, title, cursor=self.cursor if self.has_focus else None)
        self.update(self.table)

    def watch_has_focus(self, _focused: bool) -> None:  # the cursor and the hint show while it takes the keys
        if self._shown is not None:
            self._draw()

    def action_move(self, rows: int, columns: int) -> None:
        if self._shown is None:
            return
        n = len(self._shown[1])
        self.cursor = (max(0, min(n - 1, self.cursor[0] + rows)), max(0, min(n - 1, self.cursor[1] + columns)))
        self._draw()

    def action_choose(self) -> None:
        if self._shown is None:
            self.notify("no evaluation yet: the matrix and its images come after the first epoch", severity="warning")
            return
        self.post_message(self.CellChosen(self, *self.cursor))

    def plain(self) -> str:
        """The matrix as plain text (what a reader of the screen sees, without colours)."""
        if self.table is None:
            return str(self.render())
        from rich.console import Console

        console = Console(width=200, color_system=None)
        with console.capture() as capture:
            console.print(self.table)
        return capture.get()


def open_gallery(screen, live, event: ConfusionMatrix.CellChosen) -> None:
    """The mistakes gallery of the chosen cell, for the run a screen shows (a tui.app.live.LiveRun)."""
    if not live.run_dir:
        screen.notify("the run has no folder yet", severity="warning")
        return
    from tui.app.screens.gallery import GalleryScreen

    screen.app.push_screen(GalleryScreen(live.run_dir, event.true, event.pred, live.confusion_split or None))
