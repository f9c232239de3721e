"""The runs screen: every run under the run folder; open one, resume an unfinished one, delete one; mark
runs (space) and compare them (c); sort (o) and filter (/) the list; a sweep's runs sit under its row."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from core.runs.catalog import RunSummary, list_runs
from core.runs.events import RESUMABLE
from tui.app.runs_view import SORTS, SweepGroup, arrange, shorten
from tui.app.screens.confirm import Confirm
from tui.app.screens.run_detail import (
    RunDetailScreen,  # noqa: F401 - its home was here; tests and callers import it from here
)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _when(timestamp: float) -> str:
    """Time of day for today's runs, the date for older ones (fits an 80-column table)."""
    t = time.localtime(timestamp)
    return time.strftime("%H:%M" if t[:3] == time.localtime()[:3] else "%m-%d", t)


class RunsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("o", "sort", "Sort", show=False),  # the footer keeps to what fits in 80 columns; ? lists all
        Binding("slash", "filter", "Filter", show=False),
        Binding("r", "resume", "Resume"),
        Binding("f", "finetune", "Fine-tune"),
        Binding("d", "delete", "Delete"),
        Binding("n", "app.new_run", "New"),
        Binding("t", "app.show_training", "Training", show=False),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    AUTO_FOCUS = "#runs"  # the list, not the (hidden) filter box

    def __init__(self, runs_dir: str) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.all_runs: list[RunSummary] = []
        self.runs: list[RunSummary | SweepGroup] = []  # the table's rows, in order
        self.marked: set[Path] = set()
        self.sort = "date"
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-where")
        yield Input(placeholder="filter: words in the name, arch, dataset or status (enter: keep, esc: clear)", id="runs-filter")
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_columns(" ", "name", "arch", "epochs", "val", "test", "status", "date")
        yield table
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = "runs"
        self.action_refresh()
        self.set_interval(2.0, self._refresh_if_changed)  # runs start and end in other processes too

    def _refresh_if_changed(self) -> None:
        fresh = list_runs(self.runs_dir)
        if [(r.path, r.status, r.epochs_done) for r in fresh] != [(r.path, r.status, r.epochs_done) for r in self.all_runs]:
            self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.all_runs = list_runs(self.runs_dir)
        self.marked &= {r.path for r in self.all_runs}
        self._fill()

    def _fill(self) -> None:
        """The table from self.all_runs, filtered and sorted; the cursor stays on the same row."""
        table = self.query_one("#runs", DataTable)
        chosen = self._row_path()
        table.clear()
        self.runs = arrange(self.all_runs, self.sort, self.filter_text)
        width = max(22, min(48, self.app.size.width - 72))  # the name column takes what the others leave
        for r in self.runs:
            if isinstance(r, SweepGroup):
                mark = "✓" if r.runs and all(m.path in self.marked for m in r.runs) else " "
                done = f"{'● ' if r.live else ''}{r.done}/{r.planned} done"
                kind = "search" if (r.path / "search.json").is_file() else "sweep"
                table.add_row(mark, shorten(f"▾ {r.name}", width), kind, f"{r.planned} run{'s' if r.planned != 1 else ''}",
                              "", "", done, _when(max(m.updated for m in r.runs)), key=f"sweep:{r.path}")
                continue
            status = f"● {r.status}" if r.live else r.status
            name = f"  {r.name}" if r.sweep else r.name
            table.add_row(
                "✓" if r.path in self.marked else " ", shorten(name, width), r.arch, f"{r.epochs_done}/{r.epochs}",
                _pct(r.best_val_acc), _pct(r.final_test_acc), status, _when(r.updated), key=str(r.path),
            )
        paths = [self._path_of(r) for r in self.runs]
        if chosen is not None and chosen in paths:  # keep the cursor on the same run across refreshes
            table.move_cursor(row=paths.index(chosen))
        self._describe()

    def _describe(self) -> None:
        where = self.query_one("#runs-where", Static)
        runs = [r for r in self.runs if not isinstance(r, SweepGroup)]
        live = sum(r.live for r in runs)
        if runs:
            attach = f", {live} live (enter: watch and steer)" if live else ""
            shown = f"{len(runs)} of {len(self.all_runs)}" if self.filter_text else f"{len(runs)}"
            marked = f", {len(self.marked)} marked (c: compare)" if self.marked else " (space: mark, c: compare)"
            where.update(f"{shown} run{'s' if len(runs) != 1 else ''} in {self.runs_dir}{attach}, by {self.sort} (o){marked}")
        elif self.all_runs:
            where.update(f"No run matches {self.filter_text!r} (/ to change the filter).")
        else:
            where.update(f"No runs in {self.runs_dir} yet: press n to set one up.")

    @staticmethod
    def _path_of(row: RunSummary | SweepGroup) -> Path:
        return row.path

    def _row_path(self) -> Path | None:
        row = self._cursor_row()
        return None if row is None else row.path

    def _cursor_row(self) -> RunSummary | SweepGroup | None:
        table = self.query_one("#runs", DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def selected(self) -> RunSummary | None:
        row = self._cursor_row()
        return None if isinstance(row, SweepGroup) else row

    # ------------------------------------------------------------------ mark, compare, sort, filter
    def action_mark(self) -> None:
        row = self._cursor_row()
        if row is None:
            return
        paths = {m.path for m in row.runs} if isinstance(row, SweepGroup) else {row.path}
        if paths <= self.marked:
            self.marked -= paths
        else:
            self.marked |= paths
        table = self.query_one("#runs", DataTable)
        cursor = table.cursor_row
        self._fill()
        if cursor + 1 < len(self.runs):
            table.move_cursor(row=cursor + 1)  # on to the next row, as file managers do

    def action_compare(self) -> None:
        from tui.app.screens.compare import CompareScreen

        row = self._cursor_row()
        chosen = [r.path for r in self.all_runs if r.path in self.marked]
        if len(chosen) < 2 and isinstance(row, SweepGroup) and len(row.runs) >= 2:
            chosen = [m.path for m in row.runs]
        if len(chosen) < 2:
            self.notify("mark two or more runs with space (or put the cursor on a sweep), then press c", severity="warning")
            return
        self.app.push_screen(CompareScreen(chosen))

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._fill()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#runs", DataTable).focus()
        event.input.display = bool(event.value.strip())

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.has_focus or box.value:  # esc with a filter: clear it and go back to the whole list
            box.value = ""
            box.display = False
            self.query_one("#runs", DataTable).focus()
            return
        self.app.action_back()  # type: ignore[attr-defined]

    def action_open(self) -> None:
        row = self._cursor_row()
        if isinstance(row, SweepGroup):
            from core.runs.layout import SEARCH_SPEC

            if (row.path / SEARCH_SPEC).is_file():
                from tui.app.screens.search import SearchScreen

                self.app.push_screen(SearchScreen(row.path))
                return
            from tui.app.screens.sweep import SweepScreen

            self.app.push_screen(SweepScreen(row.path))
            return
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
        from core.train.checkpoint import run_weights

        row = self._cursor_row()
        if isinstance(row, SweepGroup):  # the sweep's best run with weights
            ranked = sorted(row.runs, key=lambda r: -(r.final_test_acc if r.final_test_acc is not None else -1.0))
            row = next((r for r in ranked if run_weights(r.path) is not None), None)
            if row is None:
                self.notify("none of this sweep's runs has weights yet", severity="warning")
                return
            self.notify(f"fine-tuning from the sweep's best run: {row.label}")
        weights = run_weights(row.path) if row is not None else None
        self.app.action_finetune(str(weights) if weights is not None else None)

    def action_delete(self) -> None:
        """The run (or the whole sweep) under the cursor, after a yes, once nothing trains in it."""
        from core.runs.lock import lock_holder

        row = self._cursor_row()
        if row is None:
            return
        if isinstance(row, SweepGroup):
            busy = row.live or lock_holder(row.path) is not None  # its runner, or one of its runs
            what, question = f"the sweep {row.name}", f"Delete the sweep {row.name}: its folder and all {len(row.runs)} runs in it?"
        else:
            busy = row.live or (self.app.is_training and Path(self.app.live.run_dir) == row.path)  # type: ignore[attr-defined]
            what, question = row.name, f"Delete run {row.name} and all its checkpoints?"
        if busy:
            self.notify(f"{what} is training now; stop it first", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                shutil.rmtree(row.path, ignore_errors=True)
                self.notify(f"deleted {what}")
                self.action_refresh()

        self.app.push_screen(Confirm(question, yes="Delete"), done)
