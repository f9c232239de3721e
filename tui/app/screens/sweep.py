"""A sweep: its summary (each config's final test accuracy as mean ± std over its seeds) and its runs."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.errors import UserError


class SweepScreen(Screen):
    BINDINGS = [
        Binding("c", "compare", "Compare its runs"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    DEFAULT_CSS = """
    SweepScreen #sweep-summary { height: auto; max-height: 1fr; }
    SweepScreen #sweep-spec { padding: 0 1; color: $text-muted; }
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.run_paths: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sweep-spec")
        yield DataTable(id="sweep-summary", cursor_type="row", zebra_stripes=True)
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = f"sweep {self.path.name}"
        self.action_refresh()
        self.set_interval(5.0, self.action_refresh)  # its runs may be training now

    def action_refresh(self) -> None:
        from core.experiments import sweep as sw

        table = self.query_one("#sweep-summary", DataTable)
        table.clear(columns=True)
        table.add_columns("config", "final test acc (mean ± std)", "done", "time", "img/s")
        try:
            spec, rows = sw.read_spec(self.path), sw.summary(self.path)
        except UserError as e:
            self.query_one("#sweep-spec", Static).update(str(e))
            return
        fixed = " ".join(f"{k}={v}" for k, v in spec.get("fixed", {}).items())
        self.query_one("#sweep-spec", Static).update(
            f"{self.path}: {len(rows)} config{'s' if len(rows) != 1 else ''} x {spec['seeds']} seed{'s' if spec['seeds'] != 1 else ''}"
            + (f" (preset {spec['preset']})" if spec.get("preset") else "") + (f"; every run: {fixed}" if fixed else "")
            + "\nc: compare its runs (curves, results, settings)"
            + ("\n* a run set up differently from the sweep (resumed or changed outside it)" if any(r["changed"] for r in rows) else ""))
        for r in rows:
            done = f"{r['completed']}/{len(r['runs'])}" + (f" ({r['failed']} failed)" if r["failed"] else "")
            secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f} s"
            ips = "-" if r["images_per_sec"] is None else f"{r['images_per_sec']:,.0f}"
            table.add_row(r["label"] + (" *" if r["changed"] else ""), sw.mean_std_text(r), done, secs, ips)
        self.run_paths = [self.path / name for r in rows for name in r["runs"] if (self.path / name / "config.json").is_file()]

    def action_compare(self) -> None:
        from tui.app.screens.compare import CompareScreen

        if len(self.run_paths) < 2:
            self.notify("fewer than two of its runs have started yet", severity="warning")
            return
        self.app.push_screen(CompareScreen(self.run_paths))
