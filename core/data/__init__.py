"""Datasets as device-ready uint8 tensors: CIFAR-10, ImageFolder trees and a synthetic set."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from core.config.train_config import TrainConfig
from core.data.augment import Augment, Normalize
from core.data.batches import eval_batches
from core.data.loader import TrainStream
from core.data.tensors import (
    CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, DataBundle, ImageSet, balanced_subset, channel_stats,
    split_validation, validation_count,
)
from core.errors import Cancelled, DataError

Report = Callable[[str], None]


def load_raw(
    dataset: str,
    data: str | Path,
    image_size: int = 32,
    download: bool = True,
    report: Report | None = None,
    stop: threading.Event | None = None,
    skip_bad_images: bool = False,
):
    """(train, test, classes) of a dataset before any split; raises DataError with a one-line reason.

    ``stop`` is checked between download blocks and decode chunks; when set, Cancelled is raised.
    """
    root = Path(data).expanduser()

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise Cancelled()

    if dataset == "synthetic":
        from core.data.synthetic import make_synthetic

        return make_synthetic(image_size=image_size)
    if dataset == "cifar10":
        from core.data.cifar10 import load_cifar10

        def bytes_progress(done: int, total: int | None) -> None:
            check_stop()
            if report:
                report(f"downloading CIFAR-10: {done / 2**20:.0f} MiB" + (f" of {total / 2**20:.0f}" if total else ""))

        train, test, classes = load_cifar10(root, allow_download=download, progress=bytes_progress)
        if image_size != 32:
            train, test = _resize(train, image_size), _resize(test, image_size)
        return train, test, classes
    if dataset == "folder":
        from core.config.train_config import TrainConfig
        from core.data.own_images import folder_splits

        cfg = TrainConfig(dataset="folder", data=str(root), image_size=image_size, skip_bad_images=skip_bad_images,
                          data_in_memory="yes")
        found = folder_splits(cfg, report=report, stop=stop)
        return found.sets["train"], found.sets["test"], found.scan.classes
    raise DataError(f"--dataset must be one of cifar10, folder, synthetic (got {dataset!r})")


def load_splits(cfg: TrainConfig, report: Report | None = None, stop: threading.Event | None = None,
                device=None, processes: int = 1, residence: tuple[bool, str] | None = None):
    """(train, val, test, classes, facts) as a run makes them, before the training subset and the statistics:
    the images a run evaluated on can be rebuilt from its config alone (core.inference.eval_images)."""
    val = None
    extra: dict = {}
    if cfg.dataset == "folder":
        from core.data.own_images import folder_splits

        found = folder_splits(cfg, device, report, stop, processes, residence)
        train, test, classes = found.sets["train"], found.sets["test"], found.scan.classes
        val = found.sets.get("val")
        extra = {"layout": found.scan.describe(), "split_digest": found.scan.split_digest(),
                 "residence": "memory" if found.in_memory else "streamed", "residence_why": found.why}
        if "val/" in found.scan.layout and cfg.val_split and report:
            report(f"{cfg.data}/val/ is the validation split; --val-split {cfg.val_split:g} is not used")
    else:
        train, test, classes = load_raw(cfg.dataset, cfg.data, cfg.image_size, cfg.download, report, stop,
                                        cfg.skip_bad_images)
    if val is None:
        n_val = validation_count(cfg.val_split, len(train))
        if n_val >= len(train):
            raise DataError(f"--val-split {cfg.val_split} holds out {n_val} of only {len(train)} training images")
        train, val = split_validation(train, n_val, len(classes), seed=cfg.seed)
    return train, val, test, classes, extra


def _resize(data: ImageSet, size: int) -> ImageSet:
    import torch
    import torch.nn.functional as F

    out = []
    for start in range(0, len(data), 2048):
        x = data.images[start : start + 2048].float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return ImageSet(torch.cat(out), data.labels)


def load_data(cfg: TrainConfig, report: Report | None = None, stop: threading.Event | None = None,
              device=None, processes: int = 1, residence: tuple[bool, str] | None = None) -> DataBundle:
    """The dataset a TrainConfig asks for, split and subset, still on the CPU (or streamed from its files).

    ``device`` (a torch.device) and ``processes`` (this machine's processes of the run) size the memory budget
    --data-in-memory auto judges an image folder by; ``residence`` is that judgement when made already."""
    train, val, test, classes, extra = load_splits(cfg, report, stop, device, processes, residence)
    if cfg.train_subset:
        train = balanced_subset(train, cfg.train_subset, len(classes))
    if cfg.dataset == "cifar10":
        mean, std = CIFAR10_MEAN, CIFAR10_STD
    elif train.resident:
        mean, std = channel_stats(train.images)
    else:
        from core.data.own_images import sample_stats

        mean, std = sample_stats(train, cfg.seed)
    source = "in memory" if cfg.dataset == "synthetic" else str(Path(cfg.data).expanduser())
    return DataBundle(cfg.dataset, classes, train, test, val, mean, std, source, **extra)


__all__ = [
    "Augment",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DataBundle",
    "ImageSet",
    "Normalize",
    "TrainStream",
    "eval_batches",
    "load_data",
    "load_raw",
]


TRAIN_SIZES = {"cifar10": 50_000, "synthetic": 5_000}  # the training sets' sizes, without reading them


def training_set_size(dataset: str, data: str, test_split: float = 0.2, split_seed: int = 0) -> int:
    """Images in a dataset's training split, counted without decoding any (an image folder is listed);
    0 when it cannot be read: loading it reports why."""
    if dataset != "folder":
        return TRAIN_SIZES.get(dataset, 0)
    from core.data.layout import scan_folder
    from core.errors import UserError

    try:
        return len(scan_folder(Path(data).expanduser(), test_split, split_seed).files["train"])
    except (UserError, OSError):
        return 0
