"""Per-epoch loss and accuracy curves (textual-plotext), for a live run or a finished one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

from core.runs.events import EpochEnded


def whole_epochs(epochs: list[int], *plots: PlotextPlot) -> None:
    """Whole epochs on the x axis (at most about 8 ticks), not plotext's fractional ones."""
    last = max(epochs, default=1)
    step = max(1, -(-last // 8))
    lo, hi = (0.5, 1.5) if last == 1 else (min(epochs, default=1), last)  # one epoch still needs a span
    for plot in plots:
        plot.plt.xlim(lo, hi)
        plot.plt.xticks(list(range(1, last + 1, step)))


MAX_POINTS = 400  # epochs drawn at most (evenly thinned, the last always kept)


class Curves(Horizontal):
    DEFAULT_CSS = """
    Curves { height: 1fr; }
    Curves PlotextPlot { width: 1fr; height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="loss-plot")
        yield PlotextPlot(id="acc-plot")

    def on_mount(self) -> None:
        self.show([])

    def show(self, rows: list[EpochEnded]) -> None:
        if len(rows) > MAX_POINTS:  # a week of short epochs: a point per column is all a terminal can draw
            step = -(-len(rows) // MAX_POINTS)
            rows = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
        loss = self.query_one("#loss-plot", PlotextPlot)
        acc = self.query_one("#acc-plot", PlotextPlot)
        for plot, title in ((loss, "loss"), (acc, "accuracy %")):
            plot.plt.clear_data()
            plot.plt.clear_figure()
            plot.plt.title(title)
            plot.plt.xlabel("epoch")
        epochs = [r.epoch for r in rows]
        if rows:
            loss.plt.plot(epochs, [r.train_loss for r in rows], label="train", marker="braille")
            acc.plt.plot(epochs, [100 * r.train_acc for r in rows], label="train", marker="braille")
            for attr, label in (("val", "val"), ("test", "test")):
                points = [(r.epoch, getattr(r, f"{attr}_loss"), getattr(r, f"{attr}_acc")) for r in rows]
                points = [p for p in points if p[1] is not None]
                if points:
                    xs = [p[0] for p in points]
                    loss.plt.plot(xs, [p[1] for p in points], label=label, marker="braille")
                    acc.plt.plot(xs, [100 * p[2] for p in points], label=label, marker="braille")
            whole_epochs(epochs, loss, acc)
        loss.refresh()
        acc.refresh()
