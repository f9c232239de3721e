"""Images in the terminal, through textual-image: Sixel (xterm, foot, WezTerm, Windows Terminal, tmux >= 3.4 built
with it), the Kitty graphics protocol (kitty), or coloured half-blocks, which work in every terminal and tmux.

textual-image was chosen over writing the protocols: it is maintained, renders each as a Textual widget and a
Rich renderable, and detects what the terminal speaks. It must ask the terminal *before* Textual takes the
screen over, so ``prepare()`` is called by run_app before the app starts (and by `predict` before printing).

``RESNET_TUI_IMAGES`` = auto (default) | sixel | kitty | halfblock picks the way; auto off a terminal (tests,
pipes) is half-blocks, which are deterministic: the snapshot tests see exactly what a person over plain SSH sees.
"""

from __future__ import annotations

import os
import sys

import numpy as np

MODES = ("auto", "sixel", "kitty", "halfblock")


def mode() -> str:
    chosen = os.environ.get("RESNET_TUI_IMAGES", "auto").strip().lower() or "auto"
    return chosen if chosen in MODES else "auto"


def prepare() -> str:
    """Ask the terminal what it shows (once, before Textual starts); the mode that will be used."""
    chosen = mode()
    if sys.__stdout__ is not None and sys.__stdout__.isatty():
        import textual_image.widget  # noqa: F401 - measures the cell size in pixels (Sixel, Kitty scale by it)
    if chosen == "auto" and sys.__stdout__ is not None and sys.__stdout__.isatty():
        import textual_image.renderable as found

        name = found.Image.__module__.rsplit(".", 1)[-1]
        return {"sixel": "sixel", "tgp": "kitty"}.get(name, "halfblock")
    return "halfblock" if chosen == "auto" else chosen


def image_widget(**kwargs):
    """A Textual widget drawing a PIL image in the mode chosen (scaled to the widget's size)."""
    import textual_image.widget as w

    cls = {"sixel": w.SixelImage, "kitty": w.TGPImage, "halfblock": w.HalfcellImage}[prepare()]
    return cls(**kwargs)


def image_renderable(picture, width: int):
    """A Rich renderable of a PIL image ``width`` cells wide (half-blocks unless the terminal shows pixels)."""
    import textual_image.renderable as r

    cls = {"sixel": r.SixelImage, "kitty": r.TGPImage, "halfblock": r.HalfcellImage}[prepare()]
    return cls(picture, width=width, height="auto")


def to_pil(pixels):
    """uint8 3 x H x W (a tensor or array) as a PIL RGB image."""
    from PIL import Image

    array = pixels.numpy() if hasattr(pixels, "numpy") else np.asarray(pixels)
    return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), "RGB")


def heat_overlay(pixels, heat, alpha: float = 0.45):
    """The image with a Grad-CAM map (H x W in [0, 1]) laid over it in a blue-green-yellow-red ramp."""
    from PIL import Image

    base = np.asarray(to_pil(pixels), dtype=np.float32)
    h = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    # a "jet"-like ramp without matplotlib (a second to import): blue 0 -> cyan -> yellow -> red 1
    r = np.clip(1.5 - np.abs(4 * h - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * h - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * h - 1), 0, 1)
    colour = np.stack([r, g, b], -1) * 255
    mixed = (1 - alpha) * base + alpha * colour
    return Image.fromarray(mixed.round().clip(0, 255).astype(np.uint8), "RGB")
