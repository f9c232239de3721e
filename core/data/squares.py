"""A set where the class *is* one place in the image: a coloured square (red, green, blue, yellow) at a random
position on grey noise. The ground truth an explanation must find is known per image, which is what the
sanity checks of Grad-CAM (tests/core/inference/test_explain.py, bench/explain_sanity.py) stand on."""

from __future__ import annotations

import torch

COLOURS = torch.tensor([[230, 40, 40], [40, 200, 40], [50, 80, 240], [230, 220, 40]])
NAMES = ("red", "green", "blue", "yellow")


def make_squares(n: int, seed: int, size: int = 32, square: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(uint8 images N x 3 x size x size, labels, (x, y) of each square's top-left corner). Grey noise has no
    colour, so the square is the only evidence of the class."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(60, 190, (n, 1, size, size), generator=g).expand(n, 3, size, size).clone()
    labels = torch.randint(0, len(COLOURS), (n,), generator=g)
    corners = torch.randint(0, size - square + 1, (n, 2), generator=g)
    for i, (x, y) in enumerate(corners.tolist()):
        images[i, :, y : y + square, x : x + square] = COLOURS[labels[i]][:, None, None]
    return images.to(torch.uint8), labels, corners


def on_square(peaks, corners: torch.Tensor, square: int = 8, scale: tuple[float, float] = (1.0, 1.0)) -> float:
    """The share of peaks (x, y) that fall on their image's square (``scale``: the image drawn that much larger)."""
    sx, sy = scale
    inside = [sx * x <= px < sx * (x + square) and sy * y <= py < sy * (y + square)
              for (px, py), (x, y) in zip(peaks, corners.tolist())]
    return sum(inside) / max(1, len(inside))
