"""Explaining image files and a run's own evaluation images with a trained model (core.inference.explain).

Files are decoded as `predict` decodes them (the run's evaluation fit, at its input size); the map's peak is
given back in the file's own pixels (the upright picture's, as viewers show it), through the same box the
decoder cut the model's square from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.data import Normalize
from core.inference.explain import Explanation, explain_batch
from core.inference.trained import Trained

CHUNK = 32  # images per backward pass: bounded memory at 224 px


@dataclass(frozen=True)
class Explained:
    name: str  # the file's path, or the image's place in its split
    pixels: torch.Tensor  # uint8 3 x S x S: what the model saw
    explanation: Explanation
    peak: tuple[int, int]  # (x, y) in the source image's pixels

    def top(self, classes: list[str]) -> list[tuple[str, float]]:
        return [(classes[c], p) for c, p in self.explanation.top]


def explain_pixels(trained: Trained, images: torch.Tensor, names: list[str],
                   target: torch.Tensor | None = None) -> list[Explained]:
    """Explanations of uint8 N x 3 x S x S images at the model's input size (peaks in those pixels)."""
    normalize = Normalize(trained.mean, trained.std, trained.device)
    out: list[Explained] = []
    for start in range(0, len(images), CHUNK):
        x = images[start : start + CHUNK]
        chosen = target[start : start + CHUNK] if target is not None else None
        for i, e in enumerate(explain_batch(trained.model, normalize(x.to(trained.device)), chosen)):
            out.append(Explained(names[start + i], x[i].cpu(), e, e.peak))
    return out


def explain_files(trained: Trained, paths: list[Path]) -> list[Explained]:
    """Explanations of image files; the peaks in each file's own pixels."""
    from core.data.folder import FITS, decode_image
    from core.data.own_images import split_fits

    fit = split_fits(trained.config)["test"] if trained.config.dataset == "folder" else "squash"
    size = trained.image_size
    images = torch.stack([torch.from_numpy(decode_image(Path(p), size, fit)) for p in paths])
    explained = explain_pixels(trained, images, [str(p) for p in paths])
    out = []
    for path, e in zip(paths, explained):
        left, top, right, bottom = FITS[fit](*upright_size(Path(path)))
        x, y = e.explanation.peak
        peak = (int(left + (x + 0.5) * (right - left) / size), int(top + (y + 0.5) * (bottom - top) / size))
        out.append(Explained(e.name, e.pixels, e.explanation, peak))
    return out


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of a picture as viewers show it (EXIF orientations 5-8 turn it a quarter)."""
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
        try:
            turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
        except Exception:  # noqa: BLE001 - damaged EXIF: the decoder ignores it too (core.data.folder)
            turned = False
    return (height, width) if turned else (width, height)
