"""The mistakes gallery: one confusion-matrix cell's images, true class -> predicted class with the model's
confidence; a mistake's most confident first, a correct cell's least confident first. ``e`` (or ``enter``)
explains the image under the cursor (tui/app/screens/explain.py).

The run's predictions and the images behind them (core.inference.mistakes) are read in a thread: rebuilding
CIFAR-10's test split takes a moment, and an image folder's files are decoded only for the tiles shown.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.app.widgets.picture import image_widget, to_pil

SHOWN = 48  # tiles drawn at most (a cell can hold thousands of images)
TILE_W, TILE_H = 16, 8  # cells of a thumbnail: square pixels in half-blocks (a cell is two pixels tall)


class Tile(Vertical, can_focus=True):
    DEFAULT_CSS = f"""
    Tile {{ width: {TILE_W + 2}; height: {TILE_H + 3}; border: round $panel; padding: 0; }}
    Tile:focus {{ border: round $accent; background: $boost; }}
    Tile > .picture {{ width: {TILE_W}; height: {TILE_H}; }}
    Tile > Static {{ width: {TILE_W}; height: 1; }}
    """

    def __init__(self, shown, caption: str) -> None:
        super().__init__()
        self.shown, self.caption = shown, caption

    def compose(self) -> ComposeResult:
        yield image_widget(image=to_pil(self.shown.pixels), classes="picture")
        yield Static(self.caption, markup=False)  # a file's name, as it is


def caption(shown) -> str:
    """An image's file name (an image folder's), else its place in the split."""
    return Path(shown.name).name if "/" in shown.name or "\\" in shown.name else f"#{shown.index}"


class GalleryScreen(Screen):
    DEFAULT_CSS = """
    GalleryScreen #gallery-title { height: auto; padding: 0 1; }
    GalleryScreen Grid { grid-size: 4; grid-gutter: 0 0; height: auto; }
    """
    BINDINGS = [
        Binding("e", "explain", "Explain"),
        Binding("enter", "explain", "Explain", show=False),
        # priority: the tiles' scroll container would take up/down to scroll instead of moving the cursor
        Binding("left", "move(-1)", show=False, priority=True),
        Binding("right", "move(1)", show=False, priority=True),
        Binding("up", "move(-99)", show=False, priority=True),
        Binding("down", "move(99)", show=False, priority=True),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run_dir: str | Path, true: int, pred: int, split: str | None = None) -> None:
        super().__init__()
        self.run_dir, self.true, self.pred, self.split = Path(run_dir), true, pred, split
        self.found = None  # core.inference.mistakes.RunMistakes once read

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the run's predictions and images...", id="gallery-title")
        with VerticalScroll():
            yield Grid(id="tiles")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = f"{self.run_dir.name}: mistakes"
        self.load()

    def on_resize(self) -> None:
        self.query_one(Grid).styles.grid_size_columns = self.columns

    @property
    def columns(self) -> int:
        return max(1, (self.size.width - 2) // (TILE_W + 2))

    @work(thread=True, exclusive=True, group="gallery", exit_on_error=False)
    def load(self) -> None:
        from core.errors import UserError
        from core.inference.mistakes import open_mistakes

        try:
            found = open_mistakes(self.run_dir, self.split)
            if not (0 <= self.true < len(found.classes) and 0 <= self.pred < len(found.classes)):
                raise UserError(f"the kept predictions have {len(found.classes)} classes, not the matrix's")
            cell = found.cell(self.true, self.pred, SHOWN)
        except (UserError, OSError) as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self._show, found, cell)

    def _failed(self, message: str) -> None:
        from textual.markup import escape

        if not self.is_attached:  # left before the worker was done
            return
        self.query_one("#gallery-title", Static).update(f"[red]{escape(message)}[/]")

    def _show(self, found, cell) -> None:
        from textual.markup import escape

        if not self.is_attached:
            return
        self.found = found
        names = tuple(escape(c) for c in found.classes)
        true, pred = names[self.true], names[self.pred]
        order = "most confident first" if self.true != self.pred else "least confident first"
        what = f"true [b]{true}[/] → predicted [b]{pred}[/]" if self.true != self.pred else f"[b]{true}[/], correct"
        more = f", the first {len(cell.shown)} shown" if cell.count > len(cell.shown) else ""
        head = f"{what}: {cell.count} image{'s' * (cell.count != 1)} of the {found.preds.split} split{more}, {order}."
        if not cell.count:
            head += "\nNo image of this cell: choose another with the arrows on the matrix."
        self.query_one("#gallery-title", Static).update(head + "  [dim]arrows move · e explains[/]")
        grid = self.query_one(Grid)
        grid.styles.grid_size_columns = self.columns
        grid.mount_all(Tile(s, f"{100 * s.confidence:4.1f}% {caption(s)}"[:TILE_W]) for s in cell.shown)
        if cell.shown:
            self.call_after_refresh(lambda: self.query(Tile).first().focus())

    def action_move(self, step: int) -> None:
        tiles = list(self.query(Tile))
        if not tiles:
            return
        if abs(step) == 99:
            step = self.columns if step > 0 else -self.columns
        current = next((i for i, t in enumerate(tiles) if t.has_focus), 0)
        tiles[max(0, min(len(tiles) - 1, current + step))].focus()

    def action_explain(self) -> None:
        tile = self.focused if isinstance(self.focused, Tile) else None
        if tile is None or self.found is None:
            self.notify("no image under the cursor", severity="warning")
            return
        from tui.app.screens.explain import ExplainScreen

        self.app.push_screen(ExplainScreen(self.run_dir, tile.shown, self.found.classes))
