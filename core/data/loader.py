"""Batches from a device-resident ImageSet: a shuffled, augmented training stream and a plain eval pass.

The training stream draws nothing it has to remember: an epoch's order is a permutation seeded by
(seed, epoch), made on the CPU so every device and every rank gets the same one, and a batch's augmentations
are seeded by (seed, epoch, step, rank). Its state is where it stands (epoch, batch), so a run stopped
mid-epoch resumes at the very next batch with the augmentations it would have had, and the ranks of a
distributed job share nothing but the seed.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

from core.data.augment import Augment, Normalize, augment_batch
from core.data.seeds import derived_seed
from core.data.tensors import ImageSet

__all__ = ["TrainStream", "derived_seed", "make_generator", "resident_batches"]

SCHEME = 2  # stream state format: 2 = derived seeds (1, unnamed: a saved generator and permutation)


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


class TrainStream:
    """Shuffled training batches. The last partial batch of an epoch is dropped (unless it is the only one).

    ``batch_size`` is the global batch: with ``world`` ranks each takes its share of every global batch (rank
    r the r-th of ``world`` equal parts), so across the job every image is seen once per epoch.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        augment: Augment,
        normalize: Normalize,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.augment = augment
        self.normalize = normalize
        self.seed = seed
        self.rank, self.world = rank, world
        self.device = normalize.scale.device  # where the batches go (resident data is already there)
        self.generator = torch.Generator(device=self.device)  # reseeded for every batch
        self.epoch = 0  # the epoch being drawn (1-based; 0 before the first)
        self.perm: torch.Tensor | None = None
        self.batch_in_epoch = 0  # global batches of the current epoch already handed out

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.data) // self.batch_size)

    def start_epoch(self, epoch: int | None = None) -> None:
        """Draw ``epoch``'s order (default: the next epoch)."""
        self.epoch = self.epoch + 1 if epoch is None else epoch
        order = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        self.perm = torch.randperm(len(self.data), generator=order).to(self.device)
        self.batch_in_epoch = 0

    def epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining batches of the current epoch (all of them after ``start_epoch``): this rank's share."""
        if self.perm is None:
            self.start_epoch()
        assert self.perm is not None
        steps = self.steps_per_epoch
        while self.batch_in_epoch < steps:
            step = self.batch_in_epoch
            start = step * self.batch_size
            idx = self.perm[start : start + self.batch_size]  # a dataset smaller than a batch is one batch
            if self.world > 1:
                idx = idx.tensor_split(self.world)[self.rank]
            self.batch_in_epoch += 1
            x = self.data.images[idx]
            y = self.data.labels[idx]
            if self.augment.active:
                self.generator.manual_seed(derived_seed(self.seed, self.epoch, step, self.rank))
                x = augment_batch(x, self.augment, self.generator, self.normalize)
            else:
                x = self.normalize(x)
            yield x, y
        self.perm = None

    def skipped_notice(self, epoch: int) -> str:
        """What the epoch left out (a streamed set's unreadable files): resident data has been read already."""
        return ""

    def state_dict(self) -> dict[str, Any]:
        return {"scheme": SCHEME, "seed": self.seed, "epoch": self.epoch, "batch": self.batch_in_epoch,
                "in_epoch": self.perm is not None}

    def load_state_dict(self, state: dict[str, Any], epoch: int | None = None) -> bool:
        """Continue where ``state`` stood. True when the rest of the run draws exactly what it would have;
        False for a state saved by an older version (its saved order is kept, its augmentations are new).
        ``epoch``: the epoch in progress, for an older state (which did not record it)."""
        if state.get("scheme") == SCHEME:
            self.seed = int(state["seed"])
            self.epoch = int(state["epoch"])
            if state.get("in_epoch"):
                self.start_epoch(self.epoch)
            else:
                self.perm = None
            self.batch_in_epoch = int(state.get("batch", 0))
            return True
        # scheme 1: a generator state and the epoch's permutation
        perm = state.get("perm")
        self.perm = None if perm is None else perm.to(self.device)
        self.batch_in_epoch = int(state.get("batch", 0))
        if epoch is not None:
            self.epoch = epoch if self.perm is not None else epoch - 1
        return False


def resident_batches(
    data: ImageSet, batch_size: int, normalize: Normalize
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(data), batch_size):
        yield normalize(data.images[start : start + batch_size]), data.labels[start : start + batch_size]
