"""Drawing a report with matplotlib's headless Agg canvas (no pyplot: no global figure state, no display).

Imported only by `resnet-tui report` when it runs (matplotlib takes a second to import). Each part draws on
axes it is given, so the PNG (one tall figure) and the HTML page (one image per plot, tables as HTML) share it.
The axes carry labels ("loss", "accuracy", "confusion", "per-class", "table:...") that the tests look up.
"""

from __future__ import annotations

import io
import math

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from core.experiments.report_data import (
    BAND, RUN_COLUMNS, ReportData, RunFacts, Series, acc_key, class_names, config_pairs, hardware_pairs, headline,
    last_per_class, overlay_series, run_series, runs_table, sweep_line, sweep_table,
)

DPI = 100
WIDTH = 12.0  # inches: 1200 pixels at DPI
PNG_COLUMNS = 12  # the most config-diff columns a PNG table shows (the HTML shows them all)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _colour(i: int, n: int):
    from matplotlib import colormaps

    return colormaps["tab10" if n <= 10 else "tab20"](i % 20)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color="grey", transform=ax.transAxes)


def curves(ax, series: list[Series], title: str, ylabel: str, percent: bool, legend: bool = True) -> None:
    """Lines per epoch (whole epochs on x); a series with a band gets it shaded. Losses that span more than
    a factor 20 (a wild first epoch) go on a log scale so the rest stays readable."""
    scale = 100.0 if percent else 1.0
    drawn = [s for s in series if s.epochs]
    for i, s in enumerate(series):
        if not s.epochs:
            continue
        c = _colour(i, len(series))
        ax.plot(s.epochs, [scale * v for v in s.values], marker="o", ms=3, lw=1.6, color=c, label=s.label)
        if s.lo is not None and s.hi is not None:
            ax.fill_between(s.epochs, [scale * v for v in s.lo], [scale * v for v in s.hi], color=c, alpha=0.15, lw=0)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    last = max((max(s.epochs) for s in drawn), default=1)
    if last <= 12:  # every epoch a tick (one epoch too: no 0.945 ... 1.050 axis)
        ax.set_xticks(range(1, last + 1))
        ax.set_xlim(0.5, last + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    values = [v for s in drawn for v in (s.values + (s.hi or [])) if math.isfinite(v)]
    if not percent and values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
    if not drawn:
        _no_data(ax, "no finished epoch recorded")
    elif legend:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)


def confusion(ax, facts: RunFacts) -> None:
    """Rows: true class; columns: predicted class; the counts written in the cells up to 10 classes."""
    ax.set_label("confusion")
    last = facts.last_confusion
    if last is None or not last[0]:
        ax.axis("off")
        _no_data(ax, "no confusion matrix recorded")
        return
    matrix, split = last
    n = len(matrix)
    names = class_names(facts, n)
    im = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    size = 8 if n <= 20 else max(3.0, 160 / n)
    ax.set_xticks(range(n), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=size)
    ax.set_yticks(range(n), names, fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    epoch = next((r.get("epoch") for r in reversed(facts.metrics) if r.get("confusion") is matrix), None)
    ax.set_title(f"confusion matrix ({split} split" + (f", epoch {epoch})" if epoch else ")"), fontsize=11)
    if n <= 10:
        top = max((v for row in matrix for v in row), default=0) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > top / 2 else "black")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="images")


def per_class(ax, facts: RunFacts) -> None:
    """Horizontal bars, the first class on top, the accuracy written after each bar."""
    ax.set_label("per-class")
    last = last_per_class(facts)
    if last is None or not last[0]:
        ax.axis("off")
        _no_data(ax, "no per-class accuracy recorded")
        return
    accs, split, epoch = last
    names = class_names(facts, len(accs))
    ax.barh(range(len(accs)), [100 * a for a in accs], color="#4c72b0")
    ax.set_yticks(range(len(accs)), names, fontsize=8 if len(accs) <= 20 else max(3.0, 160 / len(accs)))
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xlabel("accuracy (%)")
    ax.set_title(f"per-class accuracy ({split} split, epoch {epoch})", fontsize=11)
    ax.grid(True, axis="x", alpha=0.3)
    if len(accs) <= 20:
        for i, a in enumerate(accs):
            ax.text(100 * a + 1, i, f"{100 * a:.1f}", va="center", fontsize=7)


def text_block(ax, title: str, pairs: list[tuple[str, str]], columns: int = 1, width: int = 34) -> None:
    """key: value lines in monospace, in columns; long values cut with an ellipsis (the HTML has them whole)."""
    ax.axis("off")
    ax.set_label(f"text:{title}")
    ax.set_title(title, fontsize=11, loc="left")
    per = max(1, math.ceil(len(pairs) / columns))
    keyw = max((len(k) for k, _ in pairs), default=0)
    for c in range(columns):
        lines = []
        for k, v in pairs[c * per:(c + 1) * per]:
            v = v if len(v) <= width - keyw else v[:width - keyw - 1] + "…"
            lines.append(f"{k:<{keyw}}  {v}")
        ax.text(c / columns, 1.0, "\n".join(lines), family="monospace", fontsize=8, va="top", transform=ax.transAxes)


def table(ax, title: str, headers: list[str], rows: list[list[str]], note: str = "", inches: float = 3.0) -> None:
    """A table from the axes' top left, 0.22 inch a row, each column as wide as its longest text
    (``inches``: the axes' height, which the caller sized for the rows)."""
    ax.axis("off")
    ax.set_label(f"table:{title}")
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10, loc="left")
    if not rows:
        _no_data(ax, "nothing to show")
        return
    chars = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    widths = [(0.075 * c + 0.16) / (WIDTH - 0.3) for c in chars]  # ~0.075 inch a character at 8 points
    scale = min(1.0, 1.0 / sum(widths))
    height = min(1.0, 0.22 * (len(rows) + 1) / max(inches - 0.5, 0.3))
    t = ax.table(cellText=rows, colLabels=headers, cellLoc="left", colLoc="left",
                 colWidths=[w * scale for w in widths], bbox=[0, 1 - height, sum(widths) * scale, height])
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    for (r, _), cell in t.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_text_props(weight="bold")


def _table_inches(rows: int, note: bool = False) -> float:
    return 0.6 + 0.22 * (rows + 1) + (0.18 if note else 0)


def _header(fig: Figure, gs, title: str, line: str, date: str) -> None:
    ax = fig.add_subplot(gs)
    ax.axis("off")
    ax.text(0, 0.95, title, fontsize=14, weight="bold", va="top", transform=ax.transAxes)
    ax.text(0, 0.45, line, fontsize=10, va="top", transform=ax.transAxes)
    ax.text(1, 0.95, date, fontsize=9, ha="right", va="top", color="grey", transform=ax.transAxes)


# ----------------------------------------------------------------------------- one run
def run_curves(ax_loss, ax_acc, f: RunFacts) -> None:
    ax_loss.set_label("loss")
    ax_acc.set_label("accuracy")
    curves(ax_loss, [run_series(f, f"{s}_loss", s) for s in ("train", "val", "test")], "loss per epoch", "loss", False)
    curves(ax_acc, [run_series(f, f"{s}_acc", s) for s in ("train", "val", "test")], "accuracy per epoch",
           "accuracy (%)", True)


def run_figure(f: RunFacts, date: str, with_text: bool = True) -> Figure:
    """The one-run report: header, curves, confusion matrix and per-class accuracy, then config and hardware."""
    config, hardware = config_pairs(f), hardware_pairs(f)
    heights = [0.8, 3.6, 5.4] + ([0.5 + 0.15 * math.ceil(len(config) / 3), 0.5 + 0.15 * len(hardware)] if with_text else [])
    fig = Figure(figsize=(WIDTH, sum(heights)), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)  # the colour bar's label apart from the class names next to it
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[1.15, 1])
    _header(fig, gs[0, :], f.name, "   ".join(f"{k}: {v}" for k, v in headline(f)), date)
    run_curves(fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1]), f)
    confusion(fig.add_subplot(gs[2, 0]), f)
    per_class(fig.add_subplot(gs[2, 1]), f)
    if with_text:
        text_block(fig.add_subplot(gs[3, :]), "config", config, columns=3, width=36)
        text_block(fig.add_subplot(gs[4, :]), "hardware", hardware, width=80)
    return fig


def run_plots(f: RunFacts) -> list[Figure]:
    """The one-run plots apart, for the HTML page: curves, then the confusion matrix and per-class accuracy."""
    top = Figure(figsize=(WIDTH, 3.8), layout="constrained")
    ax1, ax2 = top.subplots(1, 2)
    run_curves(ax1, ax2, f)
    bottom = Figure(figsize=(WIDTH, 5.6), layout="constrained")
    bottom.get_layout_engine().set(wspace=0.06)
    gs = bottom.add_gridspec(1, 2, width_ratios=[1.15, 1])
    confusion(bottom.add_subplot(gs[0, 0]), f)
    per_class(bottom.add_subplot(gs[0, 1]), f)
    return [top, bottom]


# ----------------------------------------------------------------------------- several runs, sweeps
def overlay_curves(ax_acc, ax_loss, data: ReportData) -> None:
    key = acc_key(data.all_runs)
    note = f" ({BAND})" if data.sweeps else ""
    ax_acc.set_label("accuracy")
    ax_loss.set_label("loss")
    curves(ax_acc, overlay_series(data, key), f"{key.split('_')[0]} accuracy per epoch{note}", "accuracy (%)", True)
    curves(ax_loss, overlay_series(data, "train_loss"), f"train loss per epoch{note}", "loss", False, legend=False)


def _png_runs_table(data: ReportData) -> tuple[list[str], list[list[str]], str]:
    headers, rows = runs_table(data.all_runs)
    keep = len(RUN_COLUMNS) + PNG_COLUMNS
    extra = headers[keep:]
    if extra:
        return headers[:keep], [r[:keep] for r in rows], f"also differing (see the HTML report): {', '.join(extra)}"
    return headers, rows, ""


def compare_figure(data: ReportData, date: str, with_tables: bool = True) -> Figure:
    """Several runs and/or sweeps: overlaid curves, each sweep's summary, the runs with their differing config."""
    runs_headers, runs_rows, runs_note = _png_runs_table(data)
    heights = [0.8, 4.2]
    if with_tables:
        heights += [_table_inches(len(s.rows), True) for s in data.sweeps]
        heights.append(_table_inches(len(runs_rows), bool(runs_note)))
    fig = Figure(figsize=(WIDTH, sum(heights)), layout="constrained")
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    line = data.counts()
    _header(fig, gs[0, :], data.title(), line, date)
    overlay_curves(fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1]), data)
    if with_tables:
        for i, s in enumerate(data.sweeps):
            table(fig.add_subplot(gs[2 + i, :]), f"sweep {s.name}: final test accuracy per config", *sweep_table(s),
                  note=sweep_line(s), inches=heights[2 + i])
        table(fig.add_subplot(gs[-1, :]), "runs (and the config keys that differ)", runs_headers, runs_rows, runs_note,
              inches=heights[-1])
    return fig
