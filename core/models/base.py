"""What every classifier in the registry shares: init, head swap, feature/head split."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """A trunk (``forward_features``) that ends in a pooled vector, and a linear head ``fc``.

    Subclasses build ``self.fc`` and call ``self.init_weights(zero_init_residual)`` last.
    """

    fc: nn.Linear

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    @property
    def num_features(self) -> int:
        return self.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one for ``num_classes`` classes."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        old = self.fc
        self.fc = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)

    def init_weights(self, zero_init_residual: bool = False) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # Each residual branch starts as zero, so every block is the identity at step 0
            # (Goyal et al. 2017); blocks opt in through a zero_init_last() method.
            for m in self.modules():
                if hasattr(m, "zero_init_last"):
                    m.zero_init_last()

    def backbone_parameters(self):
        """Parameters of everything except the classifier head."""
        head = {id(p) for p in self.fc.parameters()}
        return [p for p in self.parameters() if id(p) not in head]
