"""One registry of model names -> builders; the CLI, the app and checkpoints all use it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from torch import nn

from core.models.blocks import BasicBlock, Bottleneck
from core.models.cifar_resnet import CifarResNet
from core.models.resnet import ResNet
from core.models.resnet9 import ResNet9
from core.models.simple_cnn import SimpleCNN

HE_CIFAR = "He et al. CIFAR ResNet"
RESNET = "ResNet (CIFAR stem)"
BASELINE = "Baseline"
TORCHVISION = "torchvision ImageNet ResNet"
FAST = "Fast ResNet (DAWNBench)"
FAMILIES = (HE_CIFAR, RESNET, FAST, BASELINE, TORCHVISION)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    description: str
    builder: Callable[..., nn.Module]
    input_size: int = 32  # the image size the model was designed for (224 for ImageNet models)
    num_stages: int = 4  # residual stages (what --freeze stages:K counts)

    def build(self, num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> nn.Module:
        return self.builder(num_classes=num_classes, zero_init_residual=zero_init_residual, image_size=image_size)


class UnknownModelError(ValueError):
    pass


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def _cifar(depth: int) -> Callable[..., nn.Module]:
    def build(num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> nn.Module:
        return CifarResNet(depth, num_classes=num_classes, zero_init_residual=zero_init_residual)

    return build


def _resnet(block, layers) -> Callable[..., nn.Module]:
    def build(num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> nn.Module:
        return ResNet(block, layers, num_classes=num_classes, zero_init_residual=zero_init_residual)

    return build


for _depth in (20, 32, 44, 56, 110, 1202):
    register(ModelSpec(f"resnet{_depth}", HE_CIFAR, f"{_depth} layers, 16/32/64 channels, option-A shortcuts", _cifar(_depth), num_stages=3))
for _depth, _block, _layers in (
    (18, BasicBlock, (2, 2, 2, 2)),
    (34, BasicBlock, (3, 4, 6, 3)),
    (50, Bottleneck, (3, 4, 6, 3)),
    (101, Bottleneck, (3, 4, 23, 3)),
    (152, Bottleneck, (3, 8, 36, 3)),
):
    kind = "basic" if _block is BasicBlock else "bottleneck"
    register(ModelSpec(f"resnet{_depth}", RESNET, f"{kind} blocks {list(_layers)}, 3x3 stem", _resnet(_block, _layers)))
register(ModelSpec("resnet9", FAST, "Page's DAWNBench ResNet-9: 8 convs + head, max-pools, 2 residual blocks", ResNet9, num_stages=3))
register(ModelSpec("simplecnn", BASELINE, "the seed tutorial's one-conv baseline", SimpleCNN, num_stages=1))


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 224) -> nn.Module:
        from core.models.torchvision_resnet import TorchvisionResNet

        return TorchvisionResNet(name, num_classes=num_classes, zero_init_residual=zero_init_residual)

    return build


for _name, _desc in (("tv-resnet18", "torchvision resnet18, ImageNet stem; --pretrained for ImageNet weights"),
                     ("tv-resnet50", "torchvision resnet50, ImageNet stem; --pretrained for ImageNet weights")):
    register(ModelSpec(_name, TORCHVISION, _desc, _torchvision(_name), input_size=224))


from core.config.model_names import MODEL_NAMES  # noqa: E402 - checked against what was registered above

if tuple(_REGISTRY) != MODEL_NAMES:
    raise RuntimeError(f"core/config/model_names.py lists {MODEL_NAMES}, the registry has {tuple(_REGISTRY)}: make them agree")


def list_models() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {name!r}; choose one of: {', '.join(_REGISTRY)}") from None


def create_model(name: str, num_classes: int = 10, zero_init_residual: bool = False, image_size: int = 32) -> nn.Module:
    """Build a registered model. ``image_size`` matters only to models with a size-dependent head (simplecnn)."""
    return get_spec(name).build(num_classes=num_classes, zero_init_residual=zero_init_residual, image_size=image_size)


@lru_cache(maxsize=None)
def model_stats(name: str, num_classes: int = 10, image_size: int = 32) -> tuple[int, float]:
    """(parameter count, forward MFLOPs for one image), measured by one forward pass on the CPU.

    FLOPs count 2 per multiply-accumulate in convolutions and linear layers, as
    ``torch.utils.flop_counter`` does (BN, ReLU and pooling are ignored); hooks are used
    instead of FlopCounterMode because importing the latter costs seconds.
    """
    import torch

    flops = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal flops
        kh, kw = module.kernel_size
        flops += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal flops
        flops += 2 * output.numel() * module.in_features

    # A real (CPU) forward of one image is faster than the meta device for deep nets
    # like resnet1202, whose thousands of small meta ops each pay a dispatch cost.
    model = create_model(name, num_classes=num_classes, image_size=image_size).eval()
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    return params, flops / 1e6
