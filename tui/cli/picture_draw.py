"""Pictures of what a model sees, drawn with matplotlib's Agg canvas: an explanation (the image, its Grad-CAM
map over it and the top-3 classes) and a gallery of the most confused class pairs."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from core.inference.explain_files import Explained
from core.inference.mistakes import Cell


def hwc(pixels) -> np.ndarray:
    """uint8 3 x H x W (a tensor) as H x W x 3 for imshow."""
    return pixels.permute(1, 2, 0).numpy()


def explain_figure(e: Explained, classes: list[str]) -> Figure:
    fig = Figure(figsize=(10.5, 3.6), layout="constrained")
    ax_img, ax_map, ax_top = fig.subplots(1, 3, width_ratios=[1, 1, 1.15])
    image = hwc(e.pixels)
    ax_img.imshow(image, interpolation="nearest" if image.shape[0] < 96 else "antialiased")
    ax_img.set_title("image (as the model saw it)", fontsize=10)
    ax_map.imshow(image, interpolation="nearest" if image.shape[0] < 96 else "antialiased")
    ax_map.imshow(e.explanation.heat.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    x, y = e.explanation.peak
    ax_map.plot([x], [y], marker="+", color="white", ms=14, mew=2.5)
    ax_map.set_title(f"Grad-CAM for {classes[e.explanation.target]}", fontsize=10)
    for ax in (ax_img, ax_map):
        ax.set_xticks([]), ax.set_yticks([])
    top = e.top(classes)
    names = [c for c, _ in top][::-1]
    probs = [100 * p for _, p in top][::-1]
    bars = ax_top.barh(names, probs, color=["#9bb"] * (len(top) - 1) + ["#2f7ed8"])
    ax_top.bar_label(bars, labels=[f"{p:.1f}%" for p in probs], padding=3, fontsize=9)
    ax_top.set_xlim(0, 118)
    ax_top.set_xlabel("probability (%)")
    ax_top.set_title("top-3 classes", fontsize=10)
    fig.suptitle(e.name, fontsize=10)
    return fig


def mistakes_figure(cells: list[Cell], classes: tuple[str, ...], title: str, per_pair: int) -> Figure:
    """One row per confused pair: its label, then its images with their confidence."""
    if not cells:
        fig = Figure(figsize=(8, 1.6))
        fig.text(0.5, 0.5, f"{title}\nNo mistakes: every image was classified correctly.", ha="center", va="center")
        return fig
    columns = max(per_pair, 1)
    fig = Figure(figsize=(1.6 * columns + 1.8, 1.75 * len(cells) + 0.6), layout="constrained")
    grid = fig.subplots(len(cells), columns + 1, squeeze=False, width_ratios=[1.1] + [1] * columns)
    for row, cell in zip(grid, cells):
        label = row[0]
        label.axis("off")
        label.text(0.0, 0.5, f"{classes[cell.true]}\n→ {classes[cell.pred]}\n{cell.count} image{'s' * (cell.count != 1)}",
                   va="center", ha="left", fontsize=10, transform=label.transAxes)
        for ax, shown in zip(row[1:], cell.shown + [None] * columns):
            ax.axis("off")
            if shown is None:
                continue
            ax.imshow(hwc(shown.pixels), interpolation="nearest" if shown.pixels.shape[-1] < 96 else "antialiased")
            ax.set_title(f"{100 * shown.confidence:.0f}%", fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig


def stack_pngs(top: bytes, bottom: bytes) -> bytes:
    """Two PNGs one above the other on white, centred (the run report's page, then its mistakes)."""
    import io

    from PIL import Image

    a, b = Image.open(io.BytesIO(top)).convert("RGB"), Image.open(io.BytesIO(bottom)).convert("RGB")
    page = Image.new("RGB", (max(a.width, b.width), a.height + b.height), "white")
    page.paste(a, ((page.width - a.width) // 2, 0))
    page.paste(b, ((page.width - b.width) // 2, a.height))
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()
