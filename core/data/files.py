"""A split kept as files and decoded per batch (the streaming path): the same interface as a resident ImageSet
where the engine asks (length, labels, class counts, select, to, image_size), and the settings its loader needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch


@dataclass
class FileSet:
    # Paths as one numpy bytes array, not a list of str: forked loader workers read it without touching a
    # reference count per file, so their memory stays shared with the parent's (a list is copied page by page).
    paths: np.ndarray
    labels: torch.Tensor  # int64, one per path
    image_size: int
    fit: str = "squash"  # how an image becomes the square when it is not augmented: "squash" | "centre"
    workers: int = 0  # loader worker processes (0 = decode in the training process)
    skip_bad: bool = False  # leave an unreadable image out of its batch (counted) instead of stopping

    @classmethod
    def of(cls, entries: list[tuple[Path, int]], image_size: int, **settings) -> "FileSet":
        paths = np.array([os.fsencode(p) for p, _ in entries], dtype=np.bytes_)
        labels = torch.tensor([c for _, c in entries], dtype=torch.int64)
        return cls(paths, labels, image_size, **settings)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> Path:
        return Path(os.fsdecode(self.paths[i]))

    def select(self, index: torch.Tensor) -> "FileSet":
        idx = index.cpu().numpy()
        return replace(self, paths=self.paths[idx], labels=self.labels[index.cpu()])

    def to(self, device) -> "FileSet":  # decoded batches go to the device as they are made
        return self

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()

    @property
    def resident(self) -> bool:
        return False
