"""Named starting points for a run: a preset is a set of TrainConfig values; explicit options override it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import TrainConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    values: dict[str, Any]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "quick-look",
            "Quick look",
            "synthetic data, resnet20, 2 epochs: about half a minute on a laptop CPU, no download",
            {"dataset": "synthetic", "arch": "resnet20", "epochs": 2, "lr": 0.05, "batch_size": 128,
             "optimizer": "sgd", "schedule": "onecycle", "val_split": 0.0, "train_subset": 0},
        ),
        Preset(
            "paper",
            "He et al. CIFAR recipe",
            "He et al. 2016 sec. 4.2 for resnet20-110: SGD lr 0.1, momentum 0.9, wd 1e-4, batch 128, "
            "lr /10 at epochs 91 and 136 of 182, 45k/5k train/val split",
            {"dataset": "cifar10", "arch": "resnet20", "epochs": 182, "lr": 0.1, "batch_size": 128,
             "optimizer": "sgd", "momentum": 0.9, "nesterov": False, "weight_decay": 1e-4,
             "schedule": "multistep", "milestones": [91, 136], "gamma": 0.1, "warmup_epochs": 0.0,
             "label_smoothing": 0.0, "val_split": 5000.0, "crop_padding": 4, "flip": True},
        ),
    )
}


def apply_preset(name: str, cfg: TrainConfig | None = None) -> TrainConfig:
    """``cfg`` (default: the defaults) with the preset's values."""
    if name not in PRESETS:
        raise KeyError(name)
    return (cfg or TrainConfig()).replace(**PRESETS[name].values)
