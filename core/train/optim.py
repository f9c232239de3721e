"""Optimisers and learning-rate schedules built from a TrainConfig.

Schedules are a per-step factor of the peak ``lr`` (a small picklable object whose
``__dict__`` holds only numbers, so LambdaLR's state dict loads weights-only).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.config.train_config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float, lr: float = 0.1, backbone_lr_mult: float = 1.0) -> list[dict]:
    """Trainable parameters in groups: no weight decay on BatchNorm parameters and biases (1-D tensors),
    as is standard; the backbone (all but the head ``fc``) at ``lr * backbone_lr_mult``. Frozen ones are left out."""
    head = {id(p) for p in getattr(model, "fc", nn.Identity()).parameters()}
    buckets: dict[tuple[bool, bool], list] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        buckets.setdefault((id(p) in head, p.ndim > 1), []).append(p)
    groups = []
    for (is_head, decays), params in sorted(buckets.items(), key=lambda kv: (kv[0][0], not kv[0][1])):
        groups.append({
            "params": params,
            "weight_decay": weight_decay if decays else 0.0,
            "lr": lr if is_head else lr * backbone_lr_mult,
        })
    return groups


def device_flags(device: torch.device) -> dict[str, bool | None]:
    """How the update runs on this device: fused kernels on CUDA, foreach (batched) elsewhere."""
    return {"fused": True, "foreach": None} if device.type == "cuda" else {"fused": None, "foreach": True}


def match_device(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """After loading a state saved on another kind of device: load_state_dict restores whole param groups,
    ``fused``/``foreach`` flags included (a CPU run resumed on CUDA would run foreach, and fp16's GradScaler
    would hand ``grad_scale`` to a kernel that refuses it). Set the flags for this device, and give each
    state tensor its parameter's layout (a contiguous momentum buffer next to a channels-last weight makes
    every update convert)."""
    flags = device_flags(device)
    for group in optimizer.param_groups:
        group.update(flags)
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and not value.is_contiguous(
                        memory_format=_format_of(p)):
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _format_of(t: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous() else torch.contiguous_format


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, cfg.lr, cfg.backbone_lr_mult)
    # foreach kernels batch the update over all parameters; fused needs CUDA.
    fast = {k: v for k, v in device_flags(device).items() if v is not None}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0, **fast
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, **fast)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, **fast)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


class LRSchedule:
    """lr(step) / peak lr. ``kind`` is one of onecycle, cosine, multistep, constant."""

    def __init__(self, kind: str, total_steps: int, warmup_steps: int, milestones: list[int], gamma: float) -> None:
        self.kind = kind
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = int(warmup_steps)
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)

    def __call__(self, step: int) -> float:
        if self.kind == "onecycle":
            # Linear up from 1/25 of the peak to the peak, then linear down to 0.
            if self.total_steps < 2:
                return 1.0  # a single step: no room for a cycle
            peak = self.warmup_steps if self.warmup_steps > 0 else int(0.25 * self.total_steps)
            peak = max(1, min(peak, self.total_steps - 1))
            if step < peak:
                return 0.04 + 0.96 * step / peak
            return max(0.0, (self.total_steps - step) / (self.total_steps - peak))
        warm = 1.0 if step >= self.warmup_steps else (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return warm
        if self.kind == "cosine":
            t = min(1.0, max(0, step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            return warm * 0.5 * (1 + math.cos(math.pi * t))
        if self.kind == "multistep":
            return warm * self.gamma ** sum(step >= m for m in self.milestones)
        raise ValueError(f"unknown schedule {self.kind!r}")


def build_schedule(cfg: TrainConfig, steps_per_epoch: int) -> LRSchedule:
    total = cfg.epochs * steps_per_epoch
    milestones = cfg.milestones or [int(cfg.epochs * 0.5), int(cfg.epochs * 0.75)]
    return LRSchedule(
        cfg.schedule,
        total,
        int(round(cfg.warmup_epochs * steps_per_epoch)),
        [m * steps_per_epoch for m in milestones if m > 0],
        cfg.gamma,
    )


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: LRSchedule) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
