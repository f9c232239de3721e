"""evaluate(): accuracy, per-class accuracy, confusion matrix, flip TTA."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.data import ImageSet, Normalize
from core.inference.evaluate import evaluate


class ByBrightness(nn.Module):
    """Predicts class 0 for dark images, 1 for bright ones, and class 2 when the left half is brighter."""

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))
        left = x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3))
        right = x[..., x.shape[-1] // 2 :].mean(dim=(1, 2, 3))
        logits = torch.stack([-mean, mean, 4 * (left - right)], dim=1)
        return logits


def test_confusion_matrix_and_per_class_accuracy():
    dark = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    bright = torch.full((2, 3, 4, 4), 250, dtype=torch.uint8)
    images = torch.cat([dark, bright])
    labels = torch.tensor([0, 0, 1, 1, 1])  # one dark image mislabelled 1
    norm = Normalize((0.5,) * 3, (0.5,) * 3, torch.device("cpu"))
    result = evaluate(ByBrightness(), ImageSet(images, labels), norm, num_classes=3, batch_size=2)
    assert result.confusion == ((2, 0, 0), (1, 2, 0), (0, 0, 0))
    assert result.accuracy == pytest.approx(4 / 5)
    assert result.per_class_accuracy == pytest.approx((1.0, 2 / 3, 0.0))
    assert result.count == 5


def test_flip_tta_averages_the_probabilities_of_image_and_mirror():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    images = torch.randint(0, 256, (40, 3, 4, 4), dtype=torch.uint8)
    labels = torch.randint(0, 5, (40,))
    norm = Normalize((0.5,) * 3, (0.5,) * 3, torch.device("cpu"))
    x = norm(images)
    with torch.no_grad():
        probs = (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2
    expected_acc = (probs.argmax(1) == labels).float().mean().item()
    expected_loss = torch.nn.functional.nll_loss(probs.log(), labels).item()
    result = evaluate(model, ImageSet(images, labels), norm, 5, batch_size=16, tta=True)
    assert result.accuracy == pytest.approx(expected_acc)
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    plain = evaluate(model, ImageSet(images, labels), norm, 5, batch_size=16)
    assert plain.loss != pytest.approx(result.loss)
