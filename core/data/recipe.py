"""One training image as the streaming path makes it, from its file: decoded, cropped and flipped by a
generator seeded from (seed, epoch, index), so an image's augmentation is the same whichever worker, batch
or rank draws it, and a resumed run draws what the uninterrupted one would have.

Two recipes (``--augment``):

* ``padcrop`` (CIFAR): the whole image resized to the square, zero-padded by ``--crop-padding`` and cropped
  back at a random offset, flipped half of the time;
* ``rrc`` (the ImageNet transfer recipe): a random resized crop of the source image (8-100% of its area,
  aspect ratio 3/4-4/3, as torchvision's RandomResizedCrop) resized to the square, flipped half of the
  time. Evaluation then resizes and centre-crops (core.data.folder.centre_box).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from core.data.augment import Augment
from core.data.folder import Box, decode_image
from core.data.seeds import derived_seed

RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)


def rrc_box(width: int, height: int, rng: random.Random) -> Box:
    """A random box of the picture: torchvision's RandomResizedCrop sampling (ten tries, then a centre crop)."""
    area = width * height
    log_ratio = (math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*RRC_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return (float(left), float(top), float(left + w), float(top + h))
    ratio = width / height
    if ratio < RRC_RATIO[0]:
        w, h = width, int(round(width / RRC_RATIO[0]))
    elif ratio > RRC_RATIO[1]:
        w, h = int(round(height * RRC_RATIO[1])), height
    else:
        w, h = width, height
    left, top = (width - w) / 2, (height - h) / 2
    return (left, top, left + w, top + h)


def training_image(path: Path, size: int, recipe: str, augment: Augment, seed: int, epoch: int, index: int) -> np.ndarray:
    """The ``index``-th training image as epoch ``epoch`` of a run seeded ``seed`` sees it: uint8 3 x size x size."""
    if not augment.active and recipe != "rrc":
        return decode_image(path, size, "squash")
    rng = random.Random(derived_seed(seed, epoch, index))
    if recipe == "rrc":
        image = decode_image(path, size, lambda w, h: rrc_box(w, h, rng))
    else:
        image = decode_image(path, size, "squash")
        pad = augment.crop_padding
        if pad > 0:
            padded = np.zeros((3, size + 2 * pad, size + 2 * pad), dtype=np.uint8)
            padded[:, pad : pad + size, pad : pad + size] = image
            dy, dx = rng.randint(0, 2 * pad), rng.randint(0, 2 * pad)
            image = padded[:, dy : dy + size, dx : dx + size]
    if augment.flip and rng.random() < 0.5:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)
