"""torchvision's ImageNet ResNet-18/50, for transfer learning with their pretrained weights.

The modules keep torchvision's names (conv1, bn1, layer1..4, fc), so torchvision's state
dicts load key for key. Weights are read from torchvision's hub cache (or a file you give)
with ``torch.load(weights_only=True)``: torch.hub's own loader defaults to unsafe unpickling.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from core.errors import CheckpointError
from core.models.base import Classifier

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS = {"tv-resnet18": "ResNet18_Weights", "tv-resnet50": "ResNet50_Weights"}


class TorchvisionResNet(Classifier):
    def __init__(self, name: str, num_classes: int = 10, zero_init_residual: bool = False) -> None:
        super().__init__()
        import torchvision.models as tvm

        builder = {"tv-resnet18": tvm.resnet18, "tv-resnet50": tvm.resnet50}[name]
        tv = builder(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual)
        self.conv1, self.bn1, self.relu, self.maxpool = tv.conv1, tv.bn1, tv.relu, tv.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
        self.avgpool, self.fc = tv.avgpool, tv.fc

    @property
    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def weights_file(name: str) -> tuple[str, Path]:
    """(download URL, the path torchvision's cache keeps it at) of the ImageNet weights for a tv-* model."""
    import torchvision.models as tvm

    enum = getattr(tvm, WEIGHTS[name]).IMAGENET1K_V1
    url = enum.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_imagenet_weights(name: str, path: str | Path | None = None, download: bool = True) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of a tv-* model, weights-only; fetched into torchvision's cache if missing."""
    url, cached = weights_file(name)
    target = Path(path).expanduser() if path else cached
    if not target.is_file() and path is None and download:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except (OSError, RuntimeError, ValueError):
            target.unlink(missing_ok=True)
    if not target.is_file():
        raise CheckpointError(
            f"no ImageNet weights for {name}: torchvision expects {cached.name} in {cached.parent} "
            f"(download {url} there, or pass --weights PATH)"
        )
    from core.train.checkpoint import weights_only_load

    try:
        state = weights_only_load(target)  # an unsafe file is refused as such, a damaged one called corrupt
    except CheckpointError as e:
        raise CheckpointError(f"{e} (given as {name} weights)") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a resnet-tui checkpoint of a tv-* model
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{target} is not a state dict of tensors")
    return state
