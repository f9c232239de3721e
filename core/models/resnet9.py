"""ResNet-9, the DAWNBench-winning CIFAR-10 net of David Page ("How to train your ResNet", 2018).

prep conv 64 -> [conv 128, max-pool, residual(2 convs)] -> [conv 256, max-pool] ->
[conv 512, max-pool, residual(2 convs)] -> global max-pool -> linear, output scaled by 1/8.
Every conv is 3x3 + BatchNorm + ReLU. 6.57M parameters, 758 forward MFLOPs at 32x32: far fewer
layers than ResNet-18 for a similar accuracy, so each epoch is cheap on a GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import Classifier


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.branch[1][1]

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.last_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResNet9(Classifier):
    HEAD_SCALE = 0.125  # Page's final multiplier: keeps the logits small early in training

    def __init__(self, num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> None:
        super().__init__()
        self.stem = conv_bn(3, 64)
        self.layer1 = nn.Sequential(conv_bn(64, 128), nn.MaxPool2d(2), Residual(128))
        self.layer2 = nn.Sequential(conv_bn(128, 256), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(conv_bn(256, 512), nn.MaxPool2d(2), Residual(512))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(512, num_classes, bias=False)
        self.init_weights(zero_init_residual)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return torch.flatten(self.pool(x), 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features) * self.HEAD_SCALE

    def reset_classifier(self, num_classes: int) -> None:
        old = self.fc
        self.fc = nn.Linear(old.in_features, num_classes, bias=False, device=old.weight.device, dtype=old.weight.dtype)
