"""Model zoo: He et al. CIFAR ResNets, ResNet-18..152 with a CIFAR stem, and the seed's SimpleCNN."""

from core.models.base import Classifier
from core.models.blocks import BasicBlock, Bottleneck
from core.models.registry import (
    FAMILIES, ModelSpec, UnknownModelError, create_model, get_spec, list_models, model_stats,
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
