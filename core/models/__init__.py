"""Model zoo: He et al. CIFAR ResNets, ResNet-18..152 with a CIFAR stem, and the seed's SimpleCNN."""

from .base import Classifier
from .blocks import BasicBlock, Bottleneck
from .registry import (
    FAMILIES,
    ModelSpec,
    UnknownModelError,
    create_model,
    get_spec,
    list_models,
    model_stats,
)

__all__ = [
    "FAMILIES",
    "BasicBlock",
    "Bottleneck",
    "Classifier",
    "ModelSpec",
    "UnknownModelError",
    "create_model",
    "get_spec",
    "list_models",
    "model_stats",
]
