"""He et al. (2016, sec. 4.2) CIFAR ResNets: 6n+2 layers in three stages of 16/32/64 channels.

A 3x3 stem, stages of n BasicBlocks at 32x32, 16x16 and 8x8, global average pooling and
a linear head. Shortcuts are the paper's parameter-free option A, which is what gives
the paper's parameter counts (0.27M for ResNet-20 ... 19.4M for ResNet-1202).
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import Classifier
from core.models.blocks import BasicBlock, conv3x3


class CifarResNet(Classifier):
    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        zero_init_residual: bool = False,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.stem = nn.Sequential(conv3x3(3, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        stages, in_planes = [], 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride, shortcut=shortcut))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        self.init_weights(zero_init_residual)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.pool(x), 1)
