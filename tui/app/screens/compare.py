"""Compare runs side by side: their curves overlaid (one colour per run), their results in a table, and
the settings that differ between them. Opened from the runs screen with the runs marked (space, then c)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from core.runs.facts import RunFacts, config_diff, run_facts
from tui.app.runs_view import short_names
from tui.app.widgets.curves import whole_epochs

# Named ANSI colours: the same run has the same colour in the plots and the tables, in 16 colours too.
COLOURS = ("red", "green", "blue", "magenta", "cyan", "yellow", "white", "bright_red")
_PLOTEXT = {"bright_red": "red+"}
HIDDEN_KEYS = ("name", "runs_dir")  # differ between any two runs; the column headers name the runs


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _seconds(s: float | None) -> str:
    if s is None:
        return "-"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def result_rows(facts: list[RunFacts]) -> list[tuple[str, list[str]]]:
    """The side-by-side table: one row per figure, one column per run."""
    return [
        ("final test acc", [_pct(f.final_test_acc) for f in facts]),
        ("best val acc", [_pct(f.best_val_acc) for f in facts]),
        ("epochs", [f"{f.epochs_done}/{f.epochs}" for f in facts]),
        ("time", [_seconds(f.train_seconds) for f in facts]),
        ("images/s", ["-" if f.images_per_sec is None else f"{f.images_per_sec:,.0f}" for f in facts]),
        ("parameters", ["-" if f.params is None else f"{f.params / 1e6:.2f}M" for f in facts]),
        ("status", [f.status for f in facts]),
    ]


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("f5", "refresh", "Refresh")]
    DEFAULT_CSS = """
    CompareScreen #compare-plots { height: 1fr; min-height: 8; }
    CompareScreen #compare-plots PlotextPlot { width: 1fr; height: 1fr; }
    CompareScreen #compare-table { height: auto; max-height: 55%; }
    """

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.facts: list[RunFacts] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="compare-what")
        with Horizontal(id="compare-plots"):
            yield PlotextPlot(id="compare-acc")
            yield PlotextPlot(id="compare-loss")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = f"compare {len(self.paths)} runs"
        self.action_refresh()

    def action_refresh(self) -> None:
        self.facts = [run_facts(p) for p in self.paths]
        self.labels = short_names([f.name for f in self.facts], 16)
        self.plot_labels = short_names([f.name for f in self.facts], 14)
        names = [Text(label, style=f"bold {COLOURS[i % len(COLOURS)]}") for i, label in enumerate(self.labels)]
        self.query_one("#compare-what", Static).update(
            Text("  ").join(Text("■ ", style=COLOURS[i % len(COLOURS)]) + Text(f.name) for i, f in enumerate(self.facts)))
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_columns("", *names)
        for label, values in result_rows(self.facts):
            table.add_row(label, *values)
        # One table, results first, then only the settings that differ (the rest is the same in every run).
        differing = [(k, v) for k, v in config_diff(self.facts) if k not in HIDDEN_KEYS]
        table.add_row(Text("settings that differ" if differing else "settings: all the same", style="bold italic"),
                      *[""] * len(self.facts))
        for key, values in differing:
            table.add_row(f"  {key}", *map(_shown, values))
        self._plot()

    def _plot(self) -> None:
        acc = self.query_one("#compare-acc", PlotextPlot)
        loss = self.query_one("#compare-loss", PlotextPlot)
        last = 1
        for plot, title in ((acc, "test accuracy %"), (loss, "train loss")):
            plot.plt.clear_data()
            plot.plt.clear_figure()
            plot.plt.title(title)
            plot.plt.xlabel("epoch")
        for i, f in enumerate(self.facts):
            colour = COLOURS[i % len(COLOURS)]
            colour = _PLOTEXT.get(colour, colour)
            xs, ys = f.curve("test_acc")
            if not xs:
                xs, ys = f.curve("val_acc")
            if xs:
                acc.plt.plot(xs, [100 * y for y in ys], label=self.plot_labels[i], color=colour, marker="braille")
            lx, ly = f.curve("train_loss")
            if lx:
                loss.plt.plot(lx, ly, label=self.plot_labels[i], color=colour, marker="braille")
            last = max([last, *xs, *lx])
        whole_epochs(list(range(1, last + 1)), acc, loss)
        acc.refresh()
        loss.refresh()
