"""The seed tutorial's SimpleCNN baseline (one conv, one linear layer), with BatchNorm added."""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import Classifier


class SimpleCNN(Classifier):
    def __init__(self, num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(32 * image_size * image_size, num_classes)
        # No residual branch: zero_init_residual has nothing to act on.
        self.init_weights(False)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.stem]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.stem(x), 1)
