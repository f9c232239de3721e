"""A folder of the user's images as a run's splits: its layout and test split (core.data.layout), held in
memory as decoded tensors (core.data.folder, cached) or streamed from the files (core.data.files), whichever
--data-in-memory and the free memory say (core.data.budget)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from core.config.train_config import TrainConfig, augment_recipe
from core.data.budget import choose_residence, default_workers
from core.data.files import FileSet
from core.data.layout import FolderScan, scan_folder
from core.data.tensors import ImageSet, channel_stats
from core.errors import Cancelled

STATS_SAMPLE = 512  # training images decoded to estimate a streamed folder's channel statistics


@dataclass
class FolderSplits:
    scan: FolderScan
    sets: dict[str, ImageSet | FileSet]  # train, test, and val when the folder has one
    in_memory: bool
    why: str  # why in memory or streamed


def split_fits(cfg: TrainConfig) -> dict[str, str]:
    """How each split's images become squares: evaluation centre-crops after random-resized-crop training."""
    held = "centre" if augment_recipe(cfg) == "rrc" else "squash"
    return {"train": "squash", "val": held, "test": held}


def planned_residence(cfg: TrainConfig, device=None, processes: int = 1) -> tuple[bool, str]:
    """Held or streamed, and why, judged from the listing alone (before anything is decoded)."""
    scan = scan_folder(Path(cfg.data).expanduser(), cfg.test_split, cfg.split_seed)
    return choose_residence(cfg.data_in_memory, scan.decoded_bytes(cfg.image_size), device, processes)


def resumed_residence(ckpt: dict | None, cfg: TrainConfig) -> tuple[bool, str] | None:
    """How a resumed run reads its folder: as it did (the two paths draw different augmentations, so a
    switch would not continue the run exactly); None when it is not a resumed folder run that recorded it."""
    saved = (ckpt or {}).get("data", {}).get("residence") if cfg.dataset == "folder" else None
    if saved not in ("memory", "streamed"):
        return None
    how = "held in memory" if saved == "memory" else "streamed from the files"
    return saved == "memory", f"{how}, as when the run started"


def folder_splits(cfg: TrainConfig, device=None, report: Callable[[str], None] | None = None,
                  stop: threading.Event | None = None, processes: int = 1,
                  residence: tuple[bool, str] | None = None) -> FolderSplits:
    root = Path(cfg.data).expanduser()
    scan = scan_folder(root, cfg.test_split, cfg.split_seed)
    if "val" not in scan.files and cfg.val_split > 0:
        # Held out of the listed files, not of decoded images: validation images are then prepared as test
        # images are (centre-cropped after rrc training). The same choice as split_validation would make.
        _hold_validation(scan, cfg)
    for split, count in scan.skipped.items():
        if count and report:
            report(f"skipped {count} non-image file{'s' if count != 1 else ''} in the {split} split")
    in_memory, why = residence or choose_residence(cfg.data_in_memory, scan.decoded_bytes(cfg.image_size), device,
                                                   processes)
    fits = split_fits(cfg)
    if in_memory:
        from core.data.folder import load_folder

        def progress(split: str, done: int, total: int) -> None:
            if stop is not None and stop.is_set():
                raise Cancelled()
            if report:
                report(f"decoding {split} images: {done}/{total}")

        sets: dict = load_folder(scan, cfg.image_size, fits, cfg.cache_dir, progress, cfg.skip_bad_images, report)
    else:
        workers = default_workers(processes, device) if cfg.workers < 0 else cfg.workers
        sets = {split: FileSet.of(entries, cfg.image_size, fit=fits[split], workers=workers,
                                  skip_bad=cfg.skip_bad_images) for split, entries in scan.files.items()}
        why += f" by {workers} worker process{'es' if workers != 1 else ''}" if workers else " in this process"
    return FolderSplits(scan, sets, in_memory, why)


def _hold_validation(scan: FolderScan, cfg: TrainConfig) -> None:
    from core.data.tensors import validation_count, validation_indices
    from core.errors import DataError

    train = scan.files["train"]
    count = validation_count(cfg.val_split, len(train))
    if count >= len(train):
        raise DataError(f"--val-split {cfg.val_split} holds out {count} of only {len(train)} training images")
    labels = torch.tensor([c for _, c in train], dtype=torch.int64)
    kept, held = validation_indices(labels, count, len(scan.classes), cfg.seed)
    scan.files["train"], scan.files["val"] = [train[i] for i in kept.tolist()], [train[i] for i in held.tolist()]


def sample_stats(files: FileSet, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel statistics of a streamed training set, from a seeded sample of its images."""
    from core.data.folder import decode_all

    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(files), generator=g)[:STATS_SAMPLE].sort().values
    sample = files.select(pick)
    entries = [(sample.path(i), int(sample.labels[i])) for i in range(len(sample))]
    images, _ = decode_all(entries, files.image_size, None, skip_bad=True)
    if len(images) == 0:
        from core.errors import DataError

        raise DataError(f"none of {len(entries)} training images sampled for the colour statistics could be read, "
                        f"the first: {sample.path(0)}")
    return channel_stats(images.images)
