"""Grad-CAM (Selvaraju et al., 2017): where in the image the evidence for a class lies, from the last
convolutional stage.

The stage is found, not named: the last top-level child of the model whose output is still a feature map
(4-D, more than one pixel a side). That is ``layer3`` of a CIFAR ResNet-20..110 and of ResNet-9, ``layer4`` of
ResNet-18..152 (ours with the 3x3 stem and torchvision's), so one method serves every model here. (torchvision's
ResNets on 32 px images shrink layer4 to 1x1, which has no "where": their maps come from layer3, 2x2.)

The map is ReLU(sum_k a_k A_k), where A_k are the stage's channels and a_k the mean over the map of the
class score's gradient (the logit, before the softmax) with respect to A_k. It is upsampled bilinearly to the
input and scaled to [0, 1] per image; a map that is zero everywhere (no positive evidence) stays zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Explanation:
    heat: torch.Tensor  # H x W in [0, 1], the model's input size
    target: int  # the class explained (the prediction unless asked)
    top: tuple[tuple[int, float], ...]  # the three likeliest (class, probability)
    peak: tuple[int, int]  # (x, y) of the map's maximum, in the model input's pixels


def _stage_outputs(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, the last feature-map stage's output), from one forward pass."""
    seen: list[torch.Tensor] = []
    hooks = [child.register_forward_hook(lambda _m, _i, out: seen.append(out)) for child in model.children()]
    try:
        logits = model(inputs)
    finally:
        for h in hooks:
            h.remove()
    maps = [t for t in seen if isinstance(t, torch.Tensor) and t.dim() == 4 and min(t.shape[-2:]) > 1 and t.requires_grad]
    if not maps:
        raise ValueError(f"{type(model).__name__} has no convolutional stage among its top-level parts to explain")
    return logits, maps[-1]


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(maps N x H x W in [0, 1], probabilities N x classes) for normalised ``inputs`` N x 3 x H x W.

    ``target``: the class to explain per image (default: the predicted one). The model is put in eval mode
    and its weights get no gradients."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = inputs.detach().requires_grad_(True)  # the stage needs a graph even when the weights are frozen
            logits, stage = _stage_outputs(model, x)
            logits = logits.float()
            chosen = logits.argmax(1) if target is None else target.to(logits.device)
            score = logits.gather(1, chosen[:, None]).sum()
            (grads,) = torch.autograd.grad(score, stage)
        weights = grads.float().mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * stage.detach().float()).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        top = cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        cam = torch.where(cam.flatten(1).amax(1)[:, None, None] > 0, cam / top, torch.zeros_like(cam))
        return cam.detach(), logits.softmax(1).detach()
    finally:
        model.train(was_training)


def peak_of(heat: torch.Tensor) -> tuple[int, int]:
    """(x, y) of a map's maximum (the first, in reading order, when several are equal)."""
    flat = int(heat.flatten().argmax())
    return flat % heat.shape[-1], flat // heat.shape[-1]


def explain_batch(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | None = None) -> list[Explanation]:
    maps, probs = grad_cam(model, inputs, target)
    chosen = probs.argmax(1) if target is None else target
    k = min(3, probs.shape[1])
    values, indices = probs.topk(k, dim=1)
    return [
        Explanation(maps[i].cpu(), int(chosen[i]), tuple(zip(indices[i].tolist(), values[i].tolist())), peak_of(maps[i]))
        for i in range(len(maps))
    ]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (ties get distinct ranks by position: fine for a sanity check)."""
    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))
