"""Accuracy, per-class accuracy and the confusion matrix of a model on an ImageSet."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.data import ImageSet, Normalize, eval_batches
from core.errors import BadImage
from core.inference.predictions import Predictions, batch_top, gather
from core.runs import activity


@dataclass(frozen=True)
class EvalResult:
    loss: float
    accuracy: float  # 0..1
    per_class_accuracy: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows = true class, columns = predicted class
    count: int
    predictions: Predictions | None = None  # per image, in the set's order, when asked (keep=True)


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class EvalStopped(Exception):
    """Raised when the stop flag is set during an evaluation pass."""


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ImageSet,
    normalize: Normalize,
    num_classes: int,
    batch_size: int = 512,
    amp_dtype: torch.dtype | None = None,
    tta: bool = False,
    stop=None,
    dist=None,
    keep: bool = False,
) -> EvalResult:
    """One pass over ``data`` (resident on the model's device, or files streamed to it). ``tta`` averages the image and its flip.

    ``dist`` (a core.hardware.dist.Dist of several ranks): each rank evaluates its part of ``data`` and the confusion
    matrix and loss are summed over the ranks, so every rank returns the result of the whole set. ``stop`` is
    not looked at then: one rank leaving early would leave the others waiting in the sum.

    ``keep``: the result carries each image's true class and top-k classes and probabilities (Predictions), the
    shards gathered in rank order (each rank's part is a contiguous slice, so that is the set's order)."""
    was_training = model.training
    model.eval()
    device = normalize.scale.device
    sharded = dist is not None and dist.active
    if sharded:
        data = data.select(torch.arange(len(data)).tensor_split(dist.world)[dist.rank].to(device))
        stop = None
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    kept: list = []
    problem = ""  # sharded: an unreadable streamed image, told to every rank before the sums
    try:
        for x, y in eval_batches(data, batch_size, normalize):
            activity.mark()  # (a hung kernel blocks the next batch's host sync, so marks stop with it)
            if stop is not None and stop.is_set():
                raise EvalStopped()
            with autocast_context(device, amp_dtype):
                logits = model(x).float()
                if tta:
                    probs = (logits.softmax(1) + model(x.flip(3)).float().softmax(1)) / 2
                    log_probs = probs.clamp_min(1e-12).log()
                else:
                    log_probs = F.log_softmax(logits, 1)
            if keep:
                kept.append(batch_top(y, log_probs))
            loss_sum += F.nll_loss(log_probs, y, reduction="sum").double()
            cells = y * num_classes + log_probs.argmax(1)
            if torch.are_deterministic_algorithms_enabled() and cells.is_cuda:
                # bincount has no deterministic CUDA kernel, and a one-hot sum would build batch x classes^2
                # integers (8 GB at 1000 classes): count on the CPU (a few KB of labels per batch).
                confusion += torch.bincount(cells.cpu(), minlength=num_classes**2).to(confusion.device)
            else:
                confusion += torch.bincount(cells, minlength=num_classes**2)
    except BadImage as e:
        if not sharded:
            raise
        problem = str(e)
    finally:
        model.train(was_training)
    if sharded:
        if problem := dist.first_of(problem):
            raise BadImage(problem)
        dist.sum_(confusion)
        dist.sum_(loss_sum)
        if keep:
            kept = dist.gather([gather(kept)])
    matrix = [[int(v) for v in r] for r in confusion.view(num_classes, num_classes).tolist()]
    count = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(num_classes))
    per_class = tuple(matrix[i][i] / sum(matrix[i]) if sum(matrix[i]) else 0.0 for i in range(num_classes))
    return EvalResult(
        loss=float(loss_sum) / max(1, count),
        accuracy=correct / max(1, count),
        per_class_accuracy=per_class,
        confusion=tuple(tuple(r) for r in matrix),
        count=count,
        predictions=Predictions(*gather(kept)) if keep else None,
    )
