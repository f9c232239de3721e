"""Batched augmentation on whole uint8 batches, on whatever device the data lives on.

One gather does the random crops of a batch and one ``torch.where`` its flips, all from
a seeded generator, so there is no per-sample Python or PIL work in the training loop
and the same seed gives the same augmentations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 4  # zero-pad, then crop back to the original size at a random offset
    flip: bool = True  # horizontal flip with probability 1/2
    rotate: float = 0.0  # uniform random rotation in [-rotate, +rotate] degrees
    cutout: int = 0  # zero a random square of this side in each image (DeVries & Taylor 2017); 0 = off
    resized_crop: bool = False  # a random resized crop instead of the padded crop (the transfer recipe)

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip or self.rotate > 0 or self.cutout > 0 or self.resized_crop


def random_crop(x: torch.Tensor, padding: int, g: torch.Generator, flip: bool = False) -> torch.Tensor:
    """Per-sample random crop of ``x`` (B x C x H x W) after zero-padding each side by ``padding``.

    With ``flip`` each image is also mirrored with probability 1/2, in the same gather (reading its
    columns right to left), which saves a pass over the batch.
    """
    padded = F.pad(x, (padding, padding, padding, padding))
    return crop_windows(padded, x.shape[-2], x.shape[-1], padding, g, flip)


def crop_windows(padded: torch.Tensor, h: int, w: int, padding: int, g: torch.Generator, flip: bool = False) -> torch.Tensor:
    """One random ``h`` x ``w`` window per image of a batch padded by ``padding`` on each side (however it was
    padded), mirrored with probability 1/2 with ``flip``: one gather for the whole batch."""
    b, c = padded.shape[:2]
    device = padded.device
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=g, device=device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=g, device=device)
    ar_h, ar_w = torch.arange(h, device=device), torch.arange(w, device=device)
    rows = (dy[:, None] + ar_h).view(b, 1, h, 1)
    cols = dx[:, None] + ar_w
    if flip:
        mirrored = torch.rand(b, generator=g, device=device) < 0.5
        cols = torch.where(mirrored[:, None], dx[:, None] + (w - 1 - ar_w), cols)
    bi = torch.arange(b, device=device).view(b, 1, 1, 1)
    ci = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[bi, ci, rows, cols.view(b, 1, 1, w)]


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=g, device=x.device) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def random_cutout(x: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image, at a random centre (the square may leave the image)."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), generator=g, device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=g, device=x.device)
    top, left = cy - size // 2, cx - size // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def random_rotate(x: torch.Tensor, degrees: float, g: torch.Generator) -> torch.Tensor:
    """Rotate each float image by its own random angle (bilinear, zeros outside)."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=g, device=x.device) * 2 - 1) * math.radians(degrees)
    cos, sin = angle.cos(), angle.sin()
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    turned = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return turned.contiguous(memory_format=torch.channels_last)  # grid_sample answers channels-first
    return turned


class Normalize:
    """uint8 -> float, scaled to [0, 1] then standardised per channel, in the memory format asked for."""

    def __init__(self, mean, std, device: torch.device, channels_last: bool = False) -> None:
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, 3, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, 3, 1, 1)
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.to(dtype=torch.float32, memory_format=fmt).mul_(self.scale).sub_(self.shift)


def random_resized_crop(x: torch.Tensor, g: torch.Generator, flip: bool) -> torch.Tensor:
    """Each float image replaced by a random part of itself (8-100% of its area, aspect 3/4-4/3) stretched back
    to full size, bilinear, and mirrored half of the time (with ``flip``): RandomResizedCrop on a batch.

    From an image already held at the model's size (the resident path), so a small part is upsampled; the
    streaming path crops the source file instead (core.data.recipe). Unlike torchvision no box is re-drawn:
    a box too wide for the image is clamped to it."""
    b = x.shape[0]
    area = torch.empty(b, device=x.device).uniform_(0.08, 1.0, generator=g)
    log_ratio = torch.empty(b, device=x.device).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)
    ratio = log_ratio.exp()
    w = (area * ratio).sqrt().clamp(max=1.0)  # as fractions of the side
    h = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(b, generator=g, device=x.device) * (1 - w) + w / 2) * 2 - 1
    cy = (torch.rand(b, generator=g, device=x.device) * (1 - h) + h / 2) * 2 - 1
    sx = w
    if flip:
        sx = torch.where(torch.rand(b, generator=g, device=x.device) < 0.5, -w, w)
    zero = torch.zeros_like(w)
    theta = torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return out.contiguous(memory_format=torch.channels_last)
    return out


def augment_batch(x: torch.Tensor, aug: Augment, g: torch.Generator, normalize: Normalize) -> torch.Tensor:
    """uint8 batch in, normalised float batch out."""
    if aug.resized_crop:
        out = random_resized_crop(normalize(x), g, aug.flip)
    else:
        if aug.crop_padding > 0:
            x = random_crop(x, aug.crop_padding, g, flip=aug.flip)
        elif aug.flip:
            x = random_flip(x, g)
        out = normalize(x)
    if aug.cutout > 0:
        # After normalisation a zero is the mean colour, as in the reference implementations.
        out = random_cutout(out, aug.cutout, g)
    if aug.rotate > 0:
        # Rotating after normalisation fills the corners with 0 = the mean colour, not black.
        out = random_rotate(out, aug.rotate, g)
    return out
