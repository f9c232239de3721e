"""What a fine-tune run is before and after its parent is read: the defaults and what the parent
decides. One place for the CLI's `finetune` and the app's fine-tune screen. No torch here.

The run name is not decided here: a run started from another run's weights gets a generated
<parent>-ft-<dataset>-<time> name (core.runs.default_run_name), which, unlike a name the user
gave, takes a -2 suffix instead of failing when two fine-tunes start in the same second.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from .config import TrainConfig

# A fresh optimiser, schedule and epoch count: short and gentle, since the weights are already trained.
FINETUNE_DEFAULTS: dict[str, Any] = {"dataset": "folder", "epochs": 5, "lr": 0.01, "schedule": "cosine"}


class ParentLike(Protocol):  # core.finetune.Parent (which imports torch)
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
