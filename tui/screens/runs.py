"""The runs screen: every run under the run folder; open one, resume an unfinished one, delete one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from core.events import RESUMABLE
from core.runs import RunSummary, list_runs

from ..live import LiveRun
from ..widgets.confusion import ConfusionMatrix
from ..widgets.curves import Curves
from .confirm import Confirm



def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _shorten(name: str, width: int) -> str:
    """Cut from the middle: run names differ at the end (their timestamp) as often as at the start."""
    if len(name) <= width:
        return name
    keep = width - 1
    return name[: keep - keep // 2] + "…" + name[-(keep // 2) :]


def _when(timestamp: float) -> str:
    """Time of day for today's runs, the date for older ones (fits an 80-column table)."""
    t = time.localtime(timestamp)
    return time.strftime("%H:%M" if t[:3] == time.localtime()[:3] else "%m-%d", t)


class RunsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("r", "resume", "Resume"),
        Binding("f", "finetune", "Fine-tune"),
        Binding("d", "delete", "Delete"),
        Binding("n", "app.new_run", "New run"),
        Binding("t", "app.show_training", "Training"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.back", "Back"),
    ]

    def __init__(self, runs_dir: str) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-where")
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_columns("name", "arch", "epochs", "val", "test", "status", "date")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = "runs"
        self.action_refresh()
        self.set_interval(2.0, self._refresh_if_changed)  # runs start and end in other processes too

    def _refresh_if_changed(self) -> None:
        fresh = list_runs(self.runs_dir)
        if [(r.path, r.status, r.epochs_done) for r in fresh] != [(r.path, r.status, r.epochs_done) for r in self.runs]:
            self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        table = self.query_one("#runs", DataTable)
        chosen = self.selected()
        table.clear()
        self.runs = list_runs(self.runs_dir)
        for r in self.runs:
            status = f"● {r.status}" if r.live else r.status
            table.add_row(
                _shorten(r.name, 20), r.arch, f"{r.epochs_done}/{r.epochs}", _pct(r.best_val_acc),
                _pct(r.final_test_acc), status, _when(r.updated), key=str(r.path),
            )
        if chosen is not None:  # keep the cursor on the same run across refreshes
            rows = [r.path for r in self.runs]
            if chosen.path in rows:
                table.move_cursor(row=rows.index(chosen.path))
        where = self.query_one("#runs-where", Static)
        live = sum(r.live for r in self.runs)
        if self.runs:
            attach = f", {live} live (enter on one: watch and steer)" if live else ""
            count = f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}"
            where.update(f"{count} in {self.runs_dir}{attach}  (enter: open, r: resume, f: fine-tune)")
        else:
            where.update(f"No runs in {self.runs_dir} yet: press n to set one up.")

    def selected(self) -> RunSummary | None:
        table = self.query_one("#runs", DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def action_open(self) -> None:
        run = self.selected()
        if run is None:
            return
        if run.live:
            self.app.attach(run.path)  # type: ignore[attr-defined]
        else:
            self.app.push_screen(RunDetailScreen(run.path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_resume(self) -> None:
        run = self.selected()
        if run is None:
            return
        if run.live:
            self.notify(f"{run.name} is training (pid {run.pid} on {run.host}); press enter to watch and steer it", severity="warning")
            return
        if run.status not in RESUMABLE:
            self.notify(f"{run.name} is {run.status}; only stopped, failed or interrupted runs resume", severity="warning")
            return
        self.app.resume_run(run.path)

    def action_finetune(self) -> None:
        run = self.selected()
        from core.checkpoint import run_weights

        weights = run_weights(run.path) if run is not None else None
        self.app.action_finetune(str(weights) if weights is not None else None)

    def action_delete(self) -> None:
        run = self.selected()
        if run is None:
            return
        if run.live or (self.app.is_training and Path(self.app.live.run_dir) == run.path):  # type: ignore[attr-defined]
            self.notify("that run is training now; stop it first", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                shutil.rmtree(run.path, ignore_errors=True)
                self.notify(f"deleted {run.name}")
                self.action_refresh()

        self.app.push_screen(Confirm(f"Delete run {run.name} and all its checkpoints?", yes="Delete"), done)


class RunDetailScreen(Screen):
    BINDINGS = [
        Binding("r", "resume", "Resume"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "tab('detail-curves')", "Curves", show=False),
        Binding("2", "tab('detail-matrix')", "Confusion", show=False),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.run = LiveRun.from_run_dir(self.path)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._summary(), id="detail-summary")
        with TabbedContent(initial="detail-curves"):
            with TabPane("1 Curves", id="detail-curves"):
                yield Curves()
            with TabPane("2 Confusion", id="detail-matrix"):
                with VerticalScroll():
                    yield ConfusionMatrix()
        yield Footer()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def _summary(self) -> str:
        r, c = self.run, self.run.config
        parts = [
            f"[b]{r.name}[/]  {r.arch}  {r.status}  epochs {len(r.rows)}/{r.epochs}",
            f"final test {_pct(r.final_test_acc)}  best val {_pct(r.best_val_acc)}",
            f"lr {c.get('lr')}  batch {c.get('batch_size')}  {c.get('optimizer')}/{c.get('schedule')}  data {c.get('dataset')}",
        ]
        if r.error:
            from textual.markup import escape

            parts.append(f"[red]error: {escape(r.error)}[/]")
        return "\n".join(parts)

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = f"run {self.run.name}"
        self.query_one(Curves).show(self.run.rows)
        self.query_one(ConfusionMatrix).show(self.run.classes, self.run.confusion, self.run.per_class, self.run.confusion_title)

    def action_resume(self) -> None:
        if self.run.status not in RESUMABLE:
            self.notify(f"this run is {self.run.status}; only stopped, failed or interrupted runs resume", severity="warning")
            return
        self.app.resume_run(self.path)
