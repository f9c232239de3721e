"""What a fine-tune run is before and after its parent is read: the defaults and what the parent
decides. One place for the CLI's `finetune` and the app's fine-tune screen. No torch here.

The run name is not decided here: a run started from another run's weights gets a generated
<parent>-ft-<dataset>-<time> name (core.runs.layout.default_run_name), which, unlike a name the user
gave, takes a -2 suffix instead of failing when two fine-tunes start in the same second.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Protocol

from core.config.train_config import TrainConfig

# A fresh optimiser, schedule and epoch count: short and gentle, since the weights are already trained.
FINETUNE_DEFAULTS: dict[str, Any] = {"dataset": "folder", "epochs": 5, "lr": 0.01, "schedule": "cosine"}


# Small datasets: with the default batch a few hundred images are a handful of steps per epoch, and five
# epochs barely move the weights (measured: 700 images, 6 steps/epoch). Below MIN_STEPS_PER_EPOCH default
# batches the batch is halved (not below MIN_BATCH) until an epoch has that many steps, and the epochs are
# raised until the run takes MIN_TOTAL_STEPS steps (at most MAX_EPOCHS). Larger data keeps the defaults.
MIN_STEPS_PER_EPOCH = 20
MIN_BATCH = 16
MIN_TOTAL_STEPS = 300
MAX_EPOCHS = 30


def training_images(cfg: Any, found: int) -> int:
    """How many images a run trains on, of the ``found`` in its training set (--train-subset, --val-split)."""
    n = min(found, cfg.train_subset) if cfg.train_subset > 0 else found
    held = int(cfg.val_split) if cfg.val_split >= 1 else int(round(n * cfg.val_split))
    return max(0, n - held)


def _steps(images: int, batch: int) -> int:
    """Steps in an epoch as training takes them: whole batches (the last partial one is dropped)."""
    return max(1, images // batch)


def sized_to_data(cfg: Any, found: int, given: Collection[str] = ()) -> tuple[Any, str]:
    """The fine-tune defaults for a training set of ``found`` images: a smaller batch and more epochs on small
    data, unless ``given`` names them; and a sentence saying what was chosen and why ("" when nothing)."""
    n = training_images(cfg, found)
    batch, epochs = cfg.batch_size, cfg.epochs
    if n <= 0 or _steps(n, batch) >= MIN_STEPS_PER_EPOCH:
        return cfg, ""
    if "batch_size" not in given:
        while batch // 2 >= MIN_BATCH and _steps(n, batch) < MIN_STEPS_PER_EPOCH:
            batch //= 2
    steps = _steps(n, batch)
    if "epochs" not in given:
        epochs = min(MAX_EPOCHS, max(epochs, math.ceil(MIN_TOTAL_STEPS / steps)))
    if (batch, epochs) == (cfg.batch_size, cfg.epochs):
        return cfg, ""
    chosen = [f"batch size {batch}" if batch != cfg.batch_size else "", f"{epochs} epochs" if epochs != cfg.epochs else ""]
    note = (f"chosen for {n} training images: {' and '.join(c for c in chosen if c)} ({steps} step{'s' if steps != 1 else ''} per epoch, "
            f"{steps * epochs} in all; the defaults would take {_steps(n, cfg.batch_size) * cfg.epochs}); "
            f"--batch-size and --epochs override it")
    return cfg.replace(batch_size=batch, epochs=epochs, chosen=note), note


class ParentLike(Protocol):  # core.train.finetune.Parent (which imports torch)
    path: Any
    arch: str
    image_size: int


def finetune_base(**values: Any) -> TrainConfig:
    """TrainConfig's defaults, the fine-tune defaults over them, then ``values``."""
    return TrainConfig().replace(**FINETUNE_DEFAULTS).replace(**values)


def from_parent(cfg: TrainConfig, parent: ParentLike, given: Collection[str] = ()) -> TrainConfig:
    """What the parent fixes: its architecture and weights, and its input size (with crop padding of
    an eighth of it) unless ``given`` names them."""
    changes: dict[str, Any] = {"arch": parent.arch, "init_from": str(parent.path)}
    if "image_size" not in given:
        changes["image_size"] = parent.image_size
    if "crop_padding" not in given:
        size = changes.get("image_size", cfg.image_size)
        changes["crop_padding"] = max(1, size // 8)
    return cfg.replace(**changes)
