"""The architectures' names, without importing torch: what `train --background` checks a request against
before it returns (core.models.registry verifies at import that it registers exactly these, in this order)."""

MODEL_NAMES = (
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet9", "simplecnn", "tv-resnet18", "tv-resnet50",
)
