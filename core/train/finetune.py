"""Starting a run from other weights: a resnet-tui checkpoint (fine-tuning) or torchvision's
ImageNet weights (transfer learning), with an explicit head swap and a freeze policy.

The old head is dropped by name before loading, and the load must then report exactly the
new head as missing and nothing unexpected: a shape mismatch anywhere else is an error,
never hidden behind ``strict=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.errors import CheckpointError, UserError
from core.train.checkpoint import load_checkpoint, resolve_checkpoint, strip_compile_prefix

HEAD_KEYS = ("fc.weight", "fc.bias")


@dataclass(frozen=True)
class Parent:
    path: Path  # the checkpoint file the weights came from
    arch: str
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int


def read_parent(run_or_ckpt: str | Path) -> tuple[Parent, dict[str, torch.Tensor]]:
    """The parent checkpoint's description and its weights (final weights of a run, else its last state)."""
    path = resolve_checkpoint(run_or_ckpt)
    ckpt = load_checkpoint(path)
    try:
        parent = Parent(
            path=path,
            arch=str(ckpt["arch"]),
            classes=[str(c) for c in ckpt["classes"]],
            mean=tuple(float(v) for v in ckpt["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in ckpt["std"]),  # type: ignore[arg-type]
            image_size=int(ckpt["image_size"]),
        )
        state = strip_compile_prefix(ckpt["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} lacks what a resnet-tui model checkpoint holds ({e})") from None
    return parent, state


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load everything but the head from ``state`` into ``model`` (whose head is new)."""
    backbone = {k: v for k, v in state.items() if k not in HEAD_KEYS}
    try:
        result = model.load_state_dict(backbone, strict=False)
    except RuntimeError as e:  # shape mismatches raise even with strict=False
        raise CheckpointError(f"{source} does not fit this model: {str(e).splitlines()[-1].strip()}") from None
    missing, unexpected = sorted(result.missing_keys), sorted(result.unexpected_keys)
    if missing != sorted(HEAD_KEYS) or unexpected:
        raise CheckpointError(
            f"{source} does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def frozen_modules(model: nn.Module, policy: str) -> list[nn.Module]:
    """Freeze what ``policy`` says; returns the frozen modules (kept in eval mode so their BN statistics stay put).

    none: train everything. backbone: train only the head (a linear probe). stages:K: train the
    last K stages and the head; the stem and the earlier stages stay frozen.
    """
    if policy == "none":
        return []
    stages = list(getattr(model, "stages", []))
    if policy == "backbone":
        keep: list[nn.Module] = [model.fc]
    else:
        k = int(policy.split(":", 1)[1])
        if k > len(stages):
            raise UserError(f"--freeze {policy}: this model has only {len(stages)} stages")
        keep = stages[len(stages) - k :] + [model.fc]
    keep_ids = {id(p) for m in keep for p in m.parameters()}
    frozen = []
    for child in model.children():
        if any(child is m for m in keep):
            continue
        if any(id(p) in keep_ids for p in child.parameters()):  # a container holding kept stages
            continue
        frozen.append(child)
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    return frozen
