"""A deterministic, learnable 10-class image dataset made in memory (no files, no network).

Class k is a colour (k mod 5) and a texture (k div 5: stripes or a checkerboard); each
image gets a random phase, stripe orientation (horizontal or vertical), frequency jitter,
contrast, colour jitter and pixel noise. Every texture is unchanged by a horizontal flip,
so flip augmentation never turns one class into another. A small net learns it in a few
epochs but not instantly, so tests can assert that training really learns.
"""

from __future__ import annotations

import functools
import math

import torch

from core.data.tensors import ImageSet

CLASSES = [f"{c}-{t}" for t in ("stripes", "checks") for c in ("red", "green", "blue", "yellow", "purple")]
_COLOURS = torch.tensor(
    [[1.0, 0.25, 0.2], [0.2, 1.0, 0.3], [0.25, 0.35, 1.0], [1.0, 0.9, 0.2], [0.75, 0.25, 1.0]]
)
DATA_SEED = 20240229  # fixed: the dataset is the same for every run, whatever the training seed


def _make(n: int, size: int, g: torch.Generator, noise: float) -> ImageSet:
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    colour = labels % 5
    texture = labels // 5
    coords = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    freq = (3.0 + 2.0 * torch.rand(n, generator=g)).view(n, 1, 1) * 2 * math.pi
    phase = (torch.rand(n, 2, generator=g) * 2 * math.pi).view(n, 2, 1, 1)
    vertical = (torch.rand(n, generator=g) < 0.5).view(n, 1, 1)
    along = torch.where(vertical, xx, yy)
    stripes = torch.sin(freq * along + phase[:, 0])
    checks = torch.sin(freq * xx + phase[:, 0]) * torch.sin(freq * yy + phase[:, 1])
    checks = checks.sign() * checks.abs().sqrt()  # squarer cells, same range
    pattern = torch.where((texture == 0).view(n, 1, 1), stripes, checks)
    rgb = _COLOURS[colour] + 0.25 * torch.randn(n, 3, generator=g)
    contrast = (0.15 + 0.2 * torch.rand(n, generator=g)).view(n, 1, 1, 1)
    images = 0.5 + contrast * pattern.unsqueeze(1) * rgb.view(n, 3, 1, 1)
    images = images + (rgb.view(n, 3, 1, 1) - 0.6) * 0.15
    images = images + noise * torch.randn(n, 3, size, size, generator=g)
    return ImageSet((images.clamp(0, 1) * 255).round().to(torch.uint8), labels)


def make_synthetic(
    train_size: int = 5000, test_size: int = 1000, image_size: int = 32, noise: float = 0.2, seed: int = DATA_SEED
) -> tuple[ImageSet, ImageSet, list[str]]:
    """The dataset for these sizes; each call gets its own copy, so a caller may change it freely."""
    train, test = _made(train_size, test_size, image_size, noise, seed)
    copy = lambda s: ImageSet(s.images.clone(), s.labels.clone())
    return copy(train), copy(test), list(CLASSES)


@functools.lru_cache(maxsize=4)
def _made(train_size: int, test_size: int, image_size: int, noise: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Making the default 6,000 images takes half a second on a CPU core and copying them takes milliseconds, so
    the app's repeated runs (and the tests' many small ones) make them once per process (18 MB at 32 px)."""
    g = torch.Generator().manual_seed(seed)
    return _make(train_size, image_size, g, noise), _make(test_size, image_size, g, noise)
