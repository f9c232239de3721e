"""An explanation as a picture, drawn with matplotlib's Agg canvas: the image, its Grad-CAM map over it (the
peak marked) and the top-3 classes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from core.inference.explain_files import Explained


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
    fig.suptitle(e.name, fontsize=10, parse_math=False)  # a file named a$b$c.jpg is not TeX
    return fig
