"""Named starting points for a run: a preset is a set of TrainConfig values; explicit options override it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config.train_config import TrainConfig


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
        Preset(
            "speed94",
            "Speed: 94% on a GPU",
            "Page's DAWNBench recipe: resnet9, batch 512, one-cycle to lr 0.4 at epoch 5 of 24, Nesterov, "
            "label smoothing 0.2, crop+flip+cutout 8, flip TTA, bf16 on CUDA; evaluation only at the end",
            {"dataset": "cifar10", "arch": "resnet9", "epochs": 24, "batch_size": 512, "lr": 0.4,
             "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
             "schedule": "onecycle", "warmup_epochs": 5.0, "label_smoothing": 0.2, "crop_padding": 4,
             "flip": True, "cutout": 8, "eval_tta": True, "eval_every": 0, "val_split": 0.0},
        ),
        Preset(
            "cpu10",
            "CPU: best in 10 minutes",
            "resnet20 for a 10-minute budget on a 2-core CPU: bf16 autocast (AVX-512 BF16), channels-last, "
            "batch 256, 17 epochs one-cycle to lr 0.4, Nesterov, label smoothing 0.1, flip TTA, evaluation at the end",
            {"dataset": "cifar10", "arch": "resnet20", "epochs": 17, "batch_size": 256, "lr": 0.4,
             "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
             "schedule": "onecycle", "warmup_epochs": 0.0, "label_smoothing": 0.1, "crop_padding": 4,
             "flip": True, "eval_tta": True, "eval_every": 0, "precision": "bf16", "channels_last": "on",
             "val_split": 0.0},
        ),
    )
}


def apply_preset(name: str, cfg: TrainConfig | None = None) -> TrainConfig:
    """``cfg`` (default: the defaults) with the preset's values."""
    if name not in PRESETS:
        raise KeyError(name)
    return (cfg or TrainConfig()).replace(**PRESETS[name].values)
