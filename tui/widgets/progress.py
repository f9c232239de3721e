"""The training screen's top panel: epoch and run progress, loss, accuracy, speed, ETA, memory."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.markup import escape
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Sparkline, Static

from ..live import LiveRun


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressPanel(Vertical):
    DEFAULT_CSS = """
    ProgressPanel { height: auto; }
    ProgressPanel Horizontal { height: 1; }
    ProgressPanel .what { width: 26; }
    ProgressPanel ProgressBar { width: 1fr; }
    ProgressPanel #stats, ProgressPanel #status { height: 1; }
    ProgressPanel #spark-row { height: 2; margin-top: 1; }
    ProgressPanel #spark-label { width: 11; }
    ProgressPanel Sparkline { width: 1fr; height: 2; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("Epoch -", id="epoch-label", classes="what")
            yield ProgressBar(total=1, show_eta=False, id="epoch-bar")
        with Horizontal():
            yield Label("Run -", id="run-label", classes="what")
            yield ProgressBar(total=1, show_eta=False, id="run-bar")
        yield Static("", id="stats")
        yield Static("", id="status")
        with Horizontal(id="spark-row"):
            yield Label("batch loss", id="spark-label")
            yield Sparkline([], id="loss-spark")

    def show(self, live: LiveRun, memory: str = "") -> None:
        steps = max(1, live.steps_per_epoch)
        self.query_one("#epoch-label", Label).update(f"Epoch {live.epoch}/{live.epochs}  batch {live.batch}/{steps}")
        self.query_one("#epoch-bar", ProgressBar).update(total=steps, progress=min(live.batch, steps))
        total = max(1, live.total_steps)
        self.query_one("#run-label", Label).update(f"Run   step {live.global_step}/{total}")
        self.query_one("#run-bar", ProgressBar).update(total=total, progress=min(live.global_step, total))
        loss = "-" if live.epoch_loss is None else f"{live.epoch_loss:.4f}"
        acc = "-" if live.epoch_acc is None else f"{100 * live.epoch_acc:.1f}%"
        lr = "-" if live.lr is None else f"{live.lr:.4g}"
        speed = "-" if live.images_per_sec is None else f"{live.images_per_sec:.0f}"
        self.query_one("#stats", Static).update(
            f"loss {loss}  acc {acc}  lr {lr}  {speed} img/s  elapsed {clock(live.elapsed)}  ETA {clock(live.eta)}"
        )
        status = live.status
        if live.status == "failed" and live.error:
            status = f"[b red]failed:[/] {escape(live.error)}"
        elif live.status in ("completed", "stopped"):
            status = f"[b]{live.status}[/]" + (
                f"  final test acc {100 * live.final_test_acc:.2f}%" if live.final_test_acc is not None else ""
            )
        self.query_one("#status", Static).update(f"{status}   {memory}".rstrip())
        if live.losses:
            self.query_one("#loss-spark", Sparkline).data = list(live.losses)
