"""Grad-CAM's sanity checks (Adebayo et al., 2018) on a set where the class *is* a coloured square at a random
place on grey noise: a trained model's map must peak on the square, and randomising the weights must change
the maps. Explaining another class than the predicted one puts the peak off the square (the check fails)."""

from __future__ import annotations

import statistics

import pytest
import torch
import torch.nn.functional as F

from core.data.squares import COLOURS, make_squares, on_square
from core.inference.explain import _stage_outputs, explain_batch, rank_correlation
from core.models import create_model
from core.models.cifar_resnet import CifarResNet

pytestmark = pytest.mark.slow  # a model trained for the module (~3 s): the full suite runs these
SIDE, SQUARE = 32, 8


def squares(n: int, seed: int):
    return make_squares(n, seed, SIDE, SQUARE)


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - 0.5) / 0.25


@pytest.fixture(scope="module")
def trained():
    """A CIFAR ResNet-8 (the He et al. family at n = 1) trained on 1,024 squares: ~2 s on two cores."""
    torch.manual_seed(0)
    images, labels, _ = squares(1024, seed=1)
    x = normalise(images)
    model = CifarResNet(8, num_classes=len(COLOURS))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    for _ in range(2):
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), labels[idx]).backward()
            opt.step()
    model.eval()
    test_images, test_labels, corners = squares(200, seed=2)
    with torch.no_grad():
        assert (model(normalise(test_images)).argmax(1) == test_labels).float().mean() > 0.95
    return model, test_images, test_labels, corners


def test_the_map_peaks_on_the_square_the_class_is(trained):
    model, images, _, corners = trained
    explained = explain_batch(model, normalise(images))
    assert on_square([e.peak for e in explained], corners) >= 0.9  # measured 1.0 (bench/explain_sanity.py: 0.993)


def test_the_map_of_another_class_than_the_predicted_one_does_not(trained):
    """What the first test guards against: the gradient of the wrong class puts the peak off the square."""
    model, images, labels, corners = trained
    explained = explain_batch(model, normalise(images), target=(labels + 1) % len(COLOURS))
    assert on_square([e.peak for e in explained], corners) < 0.5  # measured 0.0


def test_randomised_weights_change_the_maps(trained):
    model, images, _, _ = trained
    x = normalise(images)
    maps = [e.heat for e in explain_batch(model, x)]
    torch.manual_seed(100)
    random = CifarResNet(8, num_classes=len(COLOURS)).eval()
    random_maps = [e.heat for e in explain_batch(random, x)]
    same = statistics.median(rank_correlation(a, a) for a in maps[:5])
    changed = statistics.median(rank_correlation(a, b) for a, b in zip(maps, random_maps))
    assert same == pytest.approx(1.0)
    assert changed < 0.5  # measured 0.10-0.37 over initialisation seeds


def test_maps_are_in_zero_one_the_input_size_and_leave_the_weights_without_gradients(trained):
    model, images, _, _ = trained
    model.zero_grad(set_to_none=True)
    explained = explain_batch(model, normalise(images[:4]))
    for e in explained:
        assert e.heat.shape == (SIDE, SIDE) and float(e.heat.min()) >= 0 and float(e.heat.max()) == pytest.approx(1.0)
        assert len(e.top) == 3 and e.top[0][0] == e.target
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("arch,size,channels", [("resnet20", 32, 64), ("resnet18", 32, 512), ("resnet9", 32, 512),
                                                ("tv-resnet18", 64, 512), ("tv-resnet50", 64, 2048),
                                                ("tv-resnet18", 32, 256)])  # its layer4 is 1x1 at 32 px: layer3
def test_every_resnet_here_is_explained_from_its_last_convolutional_stage(arch, size, channels):
    model = create_model(arch, num_classes=10, image_size=size).eval()
    _, stage = _stage_outputs(model, torch.randn(1, 3, size, size, requires_grad=True))
    assert stage.shape[1] == channels and min(stage.shape[-2:]) > 1


def test_a_files_peak_is_given_in_the_files_own_pixels(trained, tmp_path):
    """The square drawn 3x wider and 2x taller in a 96x64 file: the peak lands on it in the file's pixels."""
    from PIL import Image

    from core.config.train_config import TrainConfig
    from core.inference.explain_files import explain_files
    from core.inference.trained import Trained

    model, images, _, corners = trained
    paths = []
    for i in range(20):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(images[i].permute(1, 2, 0).numpy()).resize((96, 64), Image.NEAREST).save(paths[-1])
    t = Trained(model, tmp_path, "resnet8", ["r", "g", "b", "y"], (0.5,) * 3, (0.25,) * 3, SIDE,
                TrainConfig(dataset="synthetic"), torch.device("cpu"), {})
    explained = explain_files(t, paths)
    assert on_square([e.peak for e in explained], corners[:20], SQUARE, scale=(3, 2)) >= 0.85, [e.peak for e in explained]
