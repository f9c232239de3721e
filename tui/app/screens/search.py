"""A search: its trials by validation accuracy (running ones live: enter attaches), the best-so-far curve and
the params' importances as bars. Read from the study in a thread every few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

ORDER = {"running": 0, "complete": 1, "pruned": 2, "waiting": 3}  # then failed and retried


def sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Running trials first, then by validation accuracy (best first), then the rest by number."""
    return sorted(rows, key=lambda r: (ORDER.get(r["state"], 4), -(r["val_acc"] or (r["val_acc_per_epoch"] or [0])[-1]),
                                       r["number"]))


def bars(found: dict[str, float], width: int = 24) -> str:
    if not found:
        return "importances: after 3 completed trials"
    name = max(len(k) for k in found)
    lines = ["importance (fANOVA)"]
    for key, share in sorted(found.items(), key=lambda kv: -kv[1]):
        lines.append(f"{key:<{name}} {'█' * max(1, round(width * share))} {share:.2f}")
    return "\n".join(lines)


class SearchScreen(Screen):
    BINDINGS = [
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    DEFAULT_CSS = """
    SearchScreen #search-head { padding: 0 1; color: $text-muted; height: auto; }
    SearchScreen #search-trials { height: 1fr; }
    SearchScreen #search-lower { height: 12; }
    SearchScreen #search-best { width: 2fr; }
    SearchScreen #search-importance { width: 1fr; padding: 0 1; }
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the study...", id="search-head")
        yield DataTable(id="search-trials", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="search-lower"):
            yield PlotextPlot(id="search-best")
            yield Static("", id="search-importance")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = f"search {self.path.name}"
        self.action_refresh()
        self.set_interval(5.0, self.action_refresh)

    def action_refresh(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="search-read")
    def _read(self) -> None:
        from core.experiments.search_results import snapshot

        try:
            found: dict[str, Any] | str = snapshot(self.path)
        except Exception as e:  # noqa: BLE001 - a damaged or missing study is a line on the screen
            found = str(e).splitlines()[0] if str(e) else type(e).__name__
        self.app.call_from_thread(self.show, found)

    def show(self, found: dict[str, Any] | str) -> None:
        head = self.query_one("#search-head", Static)
        if isinstance(found, str):
            head.update(f"{self.path}: {found}")
            return
        from core.experiments.search_space import describe

        spec, best = found["spec"], found["best"]
        said = f"{self.path}: {describe(spec['space'])}; {spec['sampler']} sampler, {spec['pruner']} pruner; objective: validation accuracy"
        if best:
            test = "not tested yet" if best.get("test_acc") is None else f"test {100 * best['test_acc']:.2f}% (after the trials)"
            said += f"\nbest: trial {best['trial']} val {100 * best['val_acc']:.2f}%, {test}"
        head.update(said + "\nenter: watch a running trial or open a finished one")
        self.rows = sorted_rows(found["rows"])
        keys = list(spec["space"])
        table = self.query_one("#search-trials", DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        table.add_columns("trial", "state", *keys, "val acc %", "epochs", "run")
        for r in self.rows:
            last = r["val_acc"] if r["val_acc"] is not None else (r["val_acc_per_epoch"] or [None])[-1]
            table.add_row(str(r["number"]), r["state"],
                          *(f"{v:.4g}" if isinstance(v := r["params"].get(k, "-"), float) else str(v) for k in keys),
                          "-" if last is None else f"{100 * last:.2f}", str(len(r["val_acc_per_epoch"])), r["run"])
        if self.rows:
            table.move_cursor(row=min(keep, len(self.rows) - 1))
        plot = self.query_one("#search-best", PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        plot.plt.title("best validation accuracy so far %")
        plot.plt.xlabel("trial")
        points = found["best_so_far"]
        if points:
            plot.plt.plot([n for n, _ in points], [100 * v for _, v in points], marker="braille")
        plot.refresh()
        box = self.query_one("#search-importance", Static)
        name = max((len(k) for k in found["importances"]), default=0)
        box.update(bars(found["importances"], width=max(4, box.size.width - name - 8)))  # name, bar, share on one line

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if not 0 <= event.cursor_row < len(self.rows):
            return
        run = self.path / self.rows[event.cursor_row]["run"]
        from core.runs.catalog import summarize

        summary = summarize(run) if run.is_dir() else None
        if summary is None:
            self.notify(f"{run.name} has no run folder yet", severity="warning")
        elif summary.live:
            self.app.attach(run)  # type: ignore[attr-defined]
        else:
            from tui.app.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(run))
