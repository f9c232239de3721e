"""`predict` on a terminal: each image as a small picture in coloured half-blocks beside its top-k bars.

Half-blocks, not Sixel or Kitty: they sit inside a Rich table in every terminal, in tmux and over plain SSH,
and they scroll with the text like any other line (a Sixel image does not wrap or scroll with its table)."""

from __future__ import annotations

from pathlib import Path

THUMB = 16  # cells wide: 16 x 8 cells show 16 x 16 pixels of a square picture


def thumbnail(path: str | Path):
    """The picture as viewers show it (EXIF turned), small, as a Rich renderable."""
    from PIL import Image, ImageOps
    from textual_image.renderable import HalfcellImage

    with Image.open(path) as im:
        picture = ImageOps.exif_transpose(im).convert("RGB")
    picture.thumbnail((THUMB * 4, THUMB * 4))
    return HalfcellImage(picture, width=THUMB, height="auto")


def bars(prediction) -> str:
    from rich.markup import escape

    lines = [f"[b]{escape(prediction.path)}[/]"]
    width = max(len(c) for c, _ in prediction.top)
    for c, p in prediction.top:
        lines.append(f"{escape(c):<{width}} [cyan]{'█' * max(1, round(24 * p))}[/] {100 * p:.1f}%")
    return "\n".join(lines)


def print_predictions(predictions) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(width=THUMB, no_wrap=True)
    table.add_column()
    for p in predictions:
        table.add_row(thumbnail(p.path), bars(p))
        table.add_row("", "")
    Console().print(table)
