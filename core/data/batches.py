"""Evaluation batches of a split, whether it is held in memory or streamed from its files."""

from __future__ import annotations

from typing import Iterator

import torch

from core.data.augment import Normalize
from core.data.loader import resident_batches


def eval_batches(data, batch_size: int, normalize: Normalize) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised (images, labels) in order; ``data`` an ImageSet or a FileSet (decoded by loader workers)."""
    if data.resident:
        return resident_batches(data, batch_size, normalize)
    from core.data.stream import file_batches

    return file_batches(data, batch_size, normalize)
