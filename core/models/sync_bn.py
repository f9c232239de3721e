"""Batch norm over the whole distributed batch (--sync-bn): torch's SyncBatchNorm on GPUs; on CPUs, where
torch's refuses to run, GatheredBatchNorm2d, which sums the statistics over the ranks with differentiable
all-reduces, so its gradients are those of one batch norm over the global batch."""

from __future__ import annotations

import torch
from torch import nn


class SumOverRanks(torch.autograd.Function):
    """y = the sum of x over the ranks. Every rank's loss depends on y, so the gradient of the job's loss with
    respect to this rank's x is the sum over the ranks of their gradients with respect to y."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ARG004 - autograd's signature
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        import torch.distributed as dist

        g = grad.clone()
        dist.all_reduce(g)
        return g


class GatheredBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d whose training statistics cover every rank's part of the batch (any device, any backend).

    Two all-reduces per layer and step: (sum, count), then the sum of squared deviations from the global mean
    (two passes, as batch norm itself computes the variance, not E[x^2] - mean^2). Outside training, or in a
    single process, it is a plain BatchNorm2d. The state dict is a BatchNorm2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        shape = (1, c, 1, 1)
        x32 = x if x.dtype in (torch.float32, torch.float64) else x.float()  # 16-bit autocast: statistics in fp32
        local = torch.cat([x32.sum(dim=(0, 2, 3)), x32.new_tensor([x32.numel() // c])])
        total = SumOverRanks.apply(local)
        count = total[c]
        mean = total[:c] / count
        centered = x32 - mean.view(shape)
        var = SumOverRanks.apply((centered * centered).sum(dim=(0, 2, 3))) / count
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(count)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(1.0, n - 1)), alpha=m)
        return out.to(x.dtype)


def convert_sync_bn(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d of ``model`` synchronised over the ranks (in place where possible; use the result)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _gathered(model)


def _gathered(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        bn = GatheredBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats)
        like = next(module.parameters(), None)
        if like is None:
            like = next(module.buffers(), None)
        if like is not None:
            bn.to(device=like.device, dtype=like.dtype if like.is_floating_point() else None)
        bn.load_state_dict(module.state_dict())
        bn.train(module.training)
        for p_new, p_old in zip(bn.parameters(), module.parameters()):
            p_new.requires_grad_(p_old.requires_grad)
        return bn
    for name, child in module.named_children():
        module.add_module(name, _gathered(child))
    return module
