"""Datasets as tensors: uint8 N x 3 x H x W images and int64 labels, plus the splits made from them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# The true per-channel statistics of the 50,000 CIFAR-10 training images (not the widely
# copied std 0.2023/0.1994/0.2010, which is a typo from one popular repository).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N x 3 x H x W
    labels: torch.Tensor  # int64, N

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 N x 3 x H x W, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must have one entry per image")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def select(self, index: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> "ImageSet":
        return ImageSet(self.images.to(device), self.labels.to(device))

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels.cpu(), minlength=num_classes).tolist()

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def resident(self) -> bool:
        return True


@dataclass
class DataBundle:
    name: str  # "cifar10", "folder", "synthetic"
    classes: list[str]
    train: ImageSet  # or a core.data.files.FileSet (streamed): the same interface
    test: ImageSet
    val: ImageSet | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str = ""  # where it came from (a path), for logs
    layout: str = ""  # an image folder's layout and split (core.data.layout.FolderScan.describe)
    split_digest: str = ""  # which images the test split holds (an image folder's), recorded by the run
    residence: str = "memory"  # "memory" (decoded tensors) or "streamed" (decoded per batch)
    residence_why: str = ""  # why, in a sentence

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return int(self.train.image_size)


def channel_stats(images: torch.Tensor, chunk_bytes: int = 64 * 2**20) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images in [0, 1] units, a bounded chunk at a time.

    The chunk is counted in bytes, not images: a float copy of 4,096 images was 4.9 GB at 224 px (twice over,
    for the squares), which made a 2,000-image folder peak at 5.7 GB. Sums are exact integers."""
    per_image = max(1, images[0].numel() if len(images) else 1)
    chunk = max(1, chunk_bytes // (8 * per_image))
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.int64)
        total += x.sum(dim=(0, 2, 3)).double()
        total_sq += (x * x).sum(dim=(0, 2, 3)).double()
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count / 255.0
    std = (total_sq / count / 255.0**2 - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(max(v, 1e-3), 4) for v in std.tolist())


def validation_count(val_split: float, train_size: int) -> int:
    """``val_split`` < 1 is a fraction of the training set, >= 1 a number of images."""
    if val_split <= 0:
        return 0
    return int(round(val_split * train_size)) if val_split < 1 else int(val_split)


def validation_indices(labels: torch.Tensor, count: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held out) indices: ``count`` of them held out, stratified by class, chosen by a seeded generator."""
    n = len(labels)
    if count >= n:
        raise ValueError(f"the validation split ({count}) must be smaller than the training set ({n})")
    g = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    per_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]
    # Each class gives its share of `count`, rounded; the rounding remainder comes from the largest classes.
    quotas = [int(len(idx) * count / n) for idx in per_class]
    order = sorted(range(num_classes), key=lambda c: -len(per_class[c]))
    for c in order[: count - sum(quotas)]:
        quotas[c] += 1
    val_parts = []
    for idx, q in zip(per_class, quotas):
        val_parts.append(idx[torch.randperm(len(idx), generator=g)[:q]])
    val_idx = torch.cat(val_parts).sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[val_idx] = False
    return torch.nonzero(keep).flatten(), val_idx


def split_validation(train: ImageSet, count: int, num_classes: int, seed: int) -> tuple[ImageSet, ImageSet | None]:
    """Hold out ``count`` images, stratified by class, chosen by a seeded generator."""
    if count <= 0:
        return train, None
    kept, held = validation_indices(train.labels, count, num_classes, seed)
    return train.select(kept), train.select(held)


def balanced_subset(data: ImageSet, count: int, num_classes: int) -> ImageSet:
    """The first ``count`` images in order, taking an equal share from each class.

    Classes with fewer images than their share give what they have; the total may then be below ``count``.
    """
    if count <= 0 or count >= len(data):
        return data
    base, extra = divmod(count, num_classes)
    quota = torch.tensor([base + (1 if c < extra else 0) for c in range(num_classes)])
    labels = data.labels.cpu()
    # rank of each image within its class, in dataset order
    one_hot = torch.nn.functional.one_hot(labels, num_classes)
    rank = (one_hot.cumsum(0) * one_hot).sum(1) - 1
    keep = rank < quota[labels]
    return data.select(torch.nonzero(keep).flatten())
