"""The training screen's top panel: epoch and run progress, loss, accuracy, speed, ETA, memory.

It is one widget that paints four lines of text (bars included) and a sparkline: a
progress message then costs one repaint and no layout pass, which matters because the
UI shares the CPU with the trainer on small machines.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from core.runs.events import RunStatus
from tui.app.live import LiveRun

SPARK_EVERY = 3  # redraw the sparkline on every 3rd progress update (about 3 times a second)


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar(done: int, total: int, width: int) -> Text:
    """A text progress bar with a percentage: '━━━━━━╺━━━━━  42%'."""
    width = max(4, width)
    frac = 0.0 if total <= 0 else max(0.0, min(1.0, done / total))
    filled = int(frac * width)
    text = Text()
    text.append("━" * filled, style="#2f9ee8")
    if filled < width:
        text.append("╺" + "━" * (width - filled - 1), style="#4a4a4a")
    text.append(f" {100 * frac:3.0f}%")
    return text


class ProgressText(Widget):
    DEFAULT_CSS = "ProgressText { height: 4; width: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.live = LiveRun()
        self.memory = ""

    def show(self, live: LiveRun, memory: str) -> None:
        self.live, self.memory = live, memory
        self.refresh()

    def lines(self, width: int) -> list[Text]:
        live = self.live
        steps = max(1, live.steps_per_epoch)
        total = max(1, live.total_steps)
        head = 26
        bar_width = max(4, width - head - 5)
        epoch = Text(f"Epoch {live.epoch}/{live.epochs}  batch {live.batch}/{steps}".ljust(head)[:head])
        epoch.append_text(bar(min(live.batch, steps), steps, bar_width))
        run = Text(f"Run   step {live.global_step}/{total}".ljust(head)[:head])
        run.append_text(bar(min(live.global_step, total), total, bar_width))
        loss = "-" if live.epoch_loss is None else f"{live.epoch_loss:.4f}"
        acc = "-" if live.epoch_acc is None else f"{100 * live.epoch_acc:.1f}%"
        lr = "-" if live.lr is None else f"{live.lr:.4g}"
        speed = "-" if live.images_per_sec is None else f"{live.images_per_sec:.0f}"
        stats = Text(f"loss {loss}  acc {acc}  lr {lr}  {speed} img/s  elapsed {clock(live.elapsed)}  ETA {clock(live.eta)}")
        if live.status in (RunStatus.FAILED, "stalled"):
            status = Text(f"{live.status}: ", style="bold red")
            status.append(live.error or "")
        elif live.status in (RunStatus.COMPLETED, RunStatus.STOPPED):
            status = Text(live.status, style="bold")
            if live.final_test_acc is not None:
                status.append(f"  final test acc {100 * live.final_test_acc:.2f}%")
        else:
            status = Text(live.status)
        if self.memory:
            status.append(f"   {self.memory}")
        if live.peak_memory is not None:
            status.append(f"   peak {live.peak_memory / 2**30:.2f} GiB this epoch")
        return [epoch, run, stats, status]

    def render(self) -> Text:
        lines = self.lines(self.size.width or 80)
        for line in lines:
            line.truncate(self.size.width or 80)
        return Text("\n").join(lines)


def spark_range(losses: list[float]) -> str:
    """The sparkline's scale, so a flat line reads as flat and not as noise: its top and bottom values."""
    finite = [v for v in losses if math.isfinite(v)]
    if not finite:
        return "batch loss"
    return f"loss max {_short(max(finite))}\n     min {_short(min(finite))}"


def _short(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.3g}"


class ProgressPanel(Vertical):
    DEFAULT_CSS = """
    ProgressPanel { height: auto; }
    ProgressPanel #spark-row { height: 2; margin-top: 1; }
    ProgressPanel #spark-label { width: 15; }
    ProgressPanel Sparkline { width: 1fr; height: 2; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressText(id="progress-text")
        with Horizontal(id="spark-row"):
            yield Label("batch loss", id="spark-label")  # then its range: the line's top and bottom
            yield Sparkline([], id="loss-spark")

    def on_mount(self) -> None:
        self._updates = 0

    def show(self, live: LiveRun, memory: str = "") -> None:
        self.query_one(ProgressText).show(live, memory)
        self._updates += 1
        if live.losses and (self._updates % SPARK_EVERY == 1 or live.finished):
            losses = list(live.losses)
            self.query_one("#loss-spark", Sparkline).data = losses
            self.query_one("#spark-label", Label).update(spark_range(losses))

    def text(self) -> str:
        """The panel's lines as plain text (for tests and screen readers of logs)."""
        widget = self.query_one(ProgressText)
        return "\n".join(line.plain for line in widget.lines(widget.size.width or 80))
