"""Batches from a device-resident ImageSet: a shuffled, augmented training stream and a plain eval pass.

The training stream's whole state (the epoch's permutation, the position in it and the
generator) is a small dict, so a run stopped mid-epoch resumes at the very next batch
with the same augmentations it would have had.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

from .augment import Augment, Normalize, augment_batch
from .tensors import ImageSet


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


class TrainStream:
    """Shuffled training batches. The last partial batch of an epoch is dropped (unless it is the only one)."""

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        augment: Augment,
        normalize: Normalize,
        seed: int,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.augment = augment
        self.normalize = normalize
        self.device = data.images.device
        self.generator = make_generator(self.device, seed)
        self.perm: torch.Tensor | None = None
        self.batch_in_epoch = 0  # batches of the current epoch already handed out

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.data) // self.batch_size)

    def start_epoch(self) -> None:
        self.perm = torch.randperm(len(self.data), generator=self.generator, device=self.device)
        self.batch_in_epoch = 0

    def epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining batches of the current epoch (all of them after ``start_epoch``)."""
        if self.perm is None:
            self.start_epoch()
        assert self.perm is not None
        steps = self.steps_per_epoch
        while self.batch_in_epoch < steps:
            start = self.batch_in_epoch * self.batch_size
            idx = self.perm[start : start + self.batch_size]  # a dataset smaller than a batch is one batch
            self.batch_in_epoch += 1
            x = self.data.images[idx]
            y = self.data.labels[idx]
            if self.augment.active:
                x = augment_batch(x, self.augment, self.generator, self.normalize)
            else:
                x = self.normalize(x)
            yield x, y
        self.perm = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "perm": None if self.perm is None else self.perm.cpu(),
            "batch": self.batch_in_epoch,
        }

    def load_state_dict(self, state: dict[str, Any], reseed: int | None = None) -> bool:
        """Restore the stream; returns False when the generator state came from another kind of device
        (CPU and CUDA generators differ) and ``reseed`` was used instead, so the resume is not exact."""
        exact = True
        try:
            self.generator.set_state(state["generator"])
        except (RuntimeError, ValueError):
            if reseed is None:
                raise
            self.generator.manual_seed(reseed)
            exact = False
        perm = state.get("perm")
        self.perm = None if perm is None else perm.to(self.device)
        self.batch_in_epoch = int(state.get("batch", 0))
        return exact


def eval_batches(
    data: ImageSet, batch_size: int, normalize: Normalize
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(data), batch_size):
        yield normalize(data.images[start : start + batch_size]), data.labels[start : start + batch_size]
