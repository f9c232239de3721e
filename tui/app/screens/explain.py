"""One image explained: the image as the model saw it, its Grad-CAM map laid over it, and the likeliest
classes. The run's model is loaded on the CPU in a thread (a training run may hold the GPU) and kept for the
next image of the same run."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.app.widgets.picture import heat_overlay, image_widget, to_pil

_MODELS: dict[Path, tuple[float, object]] = {}  # run folder -> (checkpoint mtime, Trained): one model kept
_LOCK = threading.Lock()  # one explanation at a time: they share the model (and its hooks)


def trained_for(run_dir: Path):
    from core.inference.trained import load_trained
    from core.train.checkpoint import resolve_checkpoint

    path = resolve_checkpoint(run_dir)
    stamp = path.stat().st_mtime
    kept = _MODELS.get(run_dir)
    if kept is None or kept[0] != stamp:
        _MODELS.clear()
        _MODELS[run_dir] = (stamp, load_trained(path, "cpu"))
    return _MODELS[run_dir][1]


class ExplainScreen(Screen):
    DEFAULT_CSS = """
    ExplainScreen #explain-title { height: auto; padding: 0 1; }
    ExplainScreen Horizontal { height: auto; }
    ExplainScreen .picture { width: 30; height: 15; }
    ExplainScreen #explain-image, ExplainScreen #explain-map { width: 31; height: 16; }
    ExplainScreen #explain-top { width: 1fr; min-width: 16; height: auto; }
    """
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, run_dir: Path, shown, classes: tuple[str, ...]) -> None:
        super().__init__()
        self.run_dir, self.shown, self.names = Path(run_dir), shown, classes

    def compose(self) -> ComposeResult:
        from textual.markup import escape

        s, names = self.shown, tuple(escape(c) for c in self.names)
        yield Header()
        yield Static(f"{escape(s.name)}: true [b]{names[s.true]}[/], predicted [b]{names[s.pred]}[/] "
                     f"({100 * s.confidence:.1f}%)", id="explain-title")
        with Horizontal():
            yield image_widget(image=to_pil(s.pixels), classes="picture", id="explain-image")
            with Vertical(id="explain-map"):
                yield Static("computing the Grad-CAM map...", id="explain-wait")
            yield Static(self._bars(), id="explain-top")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.title, self.sub_title = "resnet-tui", f"{self.run_dir.name}: explain"
        self.compute()

    def _bars(self, peak: tuple[int, int] | None = None) -> str:
        from textual.markup import escape

        lines = ["[b]likeliest classes[/]"]
        for c, p in self.shown.top[:3]:
            bar = "█" * max(1, round(12 * p))
            lines.append(f"{escape(self.names[c][:14])}\n[cyan]{bar}[/] {100 * p:.1f}%")
        if peak is not None:
            lines.append(f"\nmap: evidence for\n{escape(self.names[self.shown.pred][:16])}\npeak x={peak[0]} y={peak[1]}")
        return "\n".join(lines)

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False)
    def compute(self) -> None:
        from core.errors import UserError
        from core.inference.explain_files import explain_pixels

        import torch

        try:
            with _LOCK:
                trained = trained_for(self.run_dir)
                # the kept prediction's class: the checkpoint may be newer than the evaluation (a run in progress)
                (e,) = explain_pixels(trained, self.shown.pixels[None], [self.shown.name], torch.tensor([self.shown.pred]))
        except (UserError, OSError, ValueError, RuntimeError, KeyError) as err:
            self.app.call_from_thread(self._failed, str(err))
            return
        self.app.call_from_thread(self._show, e)

    def _failed(self, message: str) -> None:
        from textual.markup import escape

        if not self.is_attached:
            return
        self.query_one("#explain-wait", Static).update(f"[red]cannot explain: {escape(message)}[/]")

    def _show(self, e) -> None:
        if not self.is_attached:
            return
        self.query_one("#explain-wait").remove()
        picture = heat_overlay(self.shown.pixels, e.explanation.heat.numpy())
        self.query_one("#explain-map").mount(image_widget(image=picture, classes="picture", id="explain-heat"))
        self.query_one("#explain-top", Static).update(self._bars(e.peak))
