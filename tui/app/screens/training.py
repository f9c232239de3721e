"""The training screen: live progress, loss sparkline, epoch log, curves and the confusion matrix.

It only displays: the App owns the training worker and the LiveRun it feeds, so leaving this
screen (or coming back to it) never touches the run.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane

from core.runs.events import BatchProgress, EpochEnded, EvalEnded, Event
from tui.app.live import LiveRun
from tui.app.widgets.confusion import ConfusionMatrix, open_gallery
from tui.app.widgets.curves import Curves
from tui.app.widgets.hardware import HardwarePanel
from tui.app.widgets.progress import ProgressPanel, clock

EPOCH_COLUMNS = ("epoch", "train loss", "train acc", "val acc", "test acc", "lr", "img/s", "time")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


EPOCH_ROWS = 50  # epoch rows the log is drawn with when the screen is (re)built (each costs the UI thread)


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("p", "app.toggle_pause", "Pause"),  # short labels: the footer fits 80 columns
        Binding("s", "app.stop_run", "Stop"),
        Binding("c", "app.checkpoint_now", "Checkpoint"),
        Binding("b", "app.move_to_background", "Background"),
        Binding("r", "app.show_runs", "Runs"),
        Binding("n", "app.new_run", "New"),
        Binding("1", "tab('progress')", "Progress", show=False),
        Binding("2", "tab('curves')", "Curves", show=False),
        Binding("3", "tab('confusion')", "Confusion", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="progress"):
            with TabPane("1 Progress", id="progress"):
                yield ProgressPanel()
                yield HardwarePanel(id="hardware")
                table = DataTable(id="epochs", cursor_type="none", zebra_stripes=True)
                table.add_columns(*EPOCH_COLUMNS)
                yield table
                yield ConfusionMatrix(id="cm-side")
            with TabPane("2 Curves", id="curves"):
                yield Curves()
            with TabPane("3 Confusion", id="confusion"):
                with VerticalScroll():
                    yield ConfusionMatrix(id="cm")
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.rebuild()

    def on_resize(self) -> None:
        # Tall terminals also show the matrix under the epoch log; short ones keep it on its own tab.
        self.set_class(self.size.height >= 38, "tall")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "confusion":  # the matrix takes the keys: arrows move its cell cursor, enter opens images
            self.query_one("#cm", ConfusionMatrix).focus()

    @property
    def live(self) -> LiveRun:
        return self.app.live  # type: ignore[attr-defined]

    def rebuild(self) -> None:
        """Redraw everything from the LiveRun (on mount, and when the screen is shown again)."""
        live = self.live
        table = self.query_one("#epochs", DataTable)
        table.clear()
        for row in live.rows[-EPOCH_ROWS:]:  # a week-long run's thousands of epochs: the recent ones (all in Curves)
            self._add_epoch_row(row)
        self.query_one(Curves).show(live.rows)
        self._show_matrix()
        self._show_progress()

    def _add_epoch_row(self, r) -> None:
        self.query_one("#epochs", DataTable).add_row(
            str(r.epoch), f"{r.train_loss:.4f}", _pct(r.train_acc), _pct(r.val_acc), _pct(r.test_acc),
            f"{r.lr:.4g}", f"{r.images_per_sec:.0f}" if r.images_per_sec else "-", clock(r.seconds),
        )

    def _show_matrix(self) -> None:
        live = self.live
        for cm in self.query(ConfusionMatrix):
            cm.show(live.classes, live.confusion, live.per_class, live.confusion_title)

    def _show_progress(self) -> None:
        title, sub = self.live.name or "starting", str(self.live.status)
        if self.live.processes > 1:
            sub += f" · {self.live.processes} processes (DDP)"
        if (self.title, self.sub_title) != (title, sub):  # a header change costs a repaint: only when it changes
            self.title, self.sub_title = title, sub
        self.query_one(ProgressPanel).show(self.live, self.app.memory)  # type: ignore[attr-defined]

    def show_event(self, event: Event) -> None:  # called by the App after LiveRun.apply(event)
        if not self.is_mounted or not self.query(ProgressPanel):
            return  # not composed yet (a followed run can report before the screen is): rebuild() draws it all
        if isinstance(event, BatchProgress):
            self._show_progress()
            return
        if isinstance(event, EpochEnded):
            self._add_epoch_row(self.live.rows[-1])
            self.query_one(Curves).show(self.live.rows)
        elif isinstance(event, EvalEnded):
            self._show_matrix()
        self._show_progress()

    def on_confusion_matrix_cell_chosen(self, event: ConfusionMatrix.CellChosen) -> None:
        open_gallery(self, self.live, event)
