"""--auto-batch-size: the largest batch whose training step fits in the device's memory with room to spare."""

from __future__ import annotations

import torch
from torch import nn

from core.config.train_config import TrainConfig
from core.errors import UserError
from core.hardware.devices import is_out_of_memory, memory_capacity, peak_memory, reset_peak_memory, total_memory
from core.inference.evaluate import autocast_context
from core.train.optim import build_optimizer

PROBE_HEADROOM = 0.10  # --auto-batch-size keeps this part of the GPU's memory free


def fits_with_headroom(peak: int, capacity: int, total: int, headroom: float = PROBE_HEADROOM) -> bool:
    """A step whose peak leaves ``headroom`` of the device's memory unused: evaluation batches, the allocator's
    fragmentation over a long run and other processes' growth need room the probe does not show."""
    return peak <= capacity - headroom * total


def largest_fitting_batch(model: nn.Module, criterion: nn.Module, device: torch.device, amp_dtype: torch.dtype | None,
                           channels_last: bool, cfg: TrainConfig, image_size: int) -> int:
    """Halve the batch size until a training step fits in memory with headroom; the model is left as it was.

    Each size takes two steps: on the first cuDNN tries its algorithms (with workspaces the steady state never
    needs), the second's peak is what a training step needs. On CUDA that peak must leave PROBE_HEADROOM of
    the device free; elsewhere only an out-of-memory error says no."""
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    classes = model.num_classes
    size = cfg.batch_size
    # The optimiser's state (momentum, Adam's moments) needs memory too: a probe step with lr 0 allocates it.
    probe = build_optimizer(model, cfg, device)
    for group in probe.param_groups:
        group["lr"] = 0.0
    capacity, total = memory_capacity(device), total_memory(device)
    try:
        while True:
            try:
                x = torch.randn(size, 3, image_size, image_size, device=device).contiguous(memory_format=fmt)
                y = torch.randint(0, classes, (size,), device=device)
                for _ in range(2):
                    reset_peak_memory(device)
                    with autocast_context(device, amp_dtype):
                        loss = criterion(model(x).float(), y)
                    loss.backward()
                    probe.step()
                    probe.zero_grad(set_to_none=False)  # the gradients stay allocated, as in training
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                peak = peak_memory(device)
                if peak is None or capacity is None or total is None or fits_with_headroom(peak, capacity, total):
                    return size
            except Exception as e:  # noqa: BLE001 - only out-of-memory errors are handled here
                if not is_out_of_memory(e):
                    raise
            # Out of the except block: its traceback, which holds the failed step's tensors, is gone, so
            # empty_cache() can hand their memory back (inside the block it could not).
            x = y = loss = None  # noqa: F841 - dropping the references is the point
            model.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if size == 1:
                raise UserError(f"--auto-batch-size: not even one image of {cfg.arch} fits in {device}'s memory "
                                f"with {PROBE_HEADROOM:.0%} of it to spare")
            size //= 2
    finally:
        probe.state.clear()
        model.zero_grad(set_to_none=True)
        model.load_state_dict(snapshot)  # the probe's forward passes moved the BN statistics
