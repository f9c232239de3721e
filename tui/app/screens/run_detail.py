"""One finished (or stopped) run: its summary, curves and confusion matrix; resume it from here."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from core.runs.events import RESUMABLE
from tui.app.live import LiveRun
from tui.app.widgets.confusion import ConfusionMatrix, open_gallery
from tui.app.widgets.curves import Curves


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


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
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "detail-matrix":  # the matrix takes the keys: arrows move its cell cursor, enter opens images
            self.query_one(ConfusionMatrix).focus()

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

    def on_confusion_matrix_cell_chosen(self, event: ConfusionMatrix.CellChosen) -> None:
        open_gallery(self, self.run, event)
