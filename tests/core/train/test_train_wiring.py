"""Each training option reaches what it controls inside fit(): the optimiser's settings, the loss, the
model's initial weights, the memory format, the augmentations and the data subset. (What the CLI
passes on is checked in tests/tui/cli/test_cli_options.py.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import fit_config, tiny_bundle

from core.config.train_config import TrainConfig
from core.data import TrainStream
from core.models.base import Classifier
from core.runs.events import BatchProgress
from core.train import fit
from core.train import setup as train_setup

pytestmark = pytest.mark.usefixtures("every_batch_reported")  # tests count steps


def config(tmp_path, **kw) -> TrainConfig:
    return fit_config(tmp_path, **({'epochs': 1, 'name': 'w'} | kw))


@pytest.fixture
def spy_optimizer(monkeypatch):
    built = []
    real = train_setup.build_optimizer
    monkeypatch.setattr(train_setup, "build_optimizer", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    return built


def test_momentum_nesterov_and_weight_decay_reach_the_optimiser(tmp_path, spy_optimizer):
    fit(config(tmp_path, momentum=0.8, nesterov=False, weight_decay=1e-3), data=tiny_bundle())
    (opt,) = spy_optimizer
    assert {(g["momentum"], g["nesterov"]) for g in opt.param_groups} == {(0.8, False)}
    # weight decay on the weights (conv, linear), none on BatchNorm parameters and biases
    assert sorted({g["weight_decay"] for g in opt.param_groups}) == [0.0, 1e-3]
    assert all((g["weight_decay"] == 1e-3) == all(p.ndim > 1 for p in g["params"]) for g in opt.param_groups)
    assert opt.defaults["foreach"] is True  # the batched update on the CPU (fused needs CUDA)


def test_gamma_and_milestones_set_the_multistep_drops(tmp_path):
    lrs = {}

    def sink(e):
        if isinstance(e, BatchProgress):
            lrs[e.global_step] = e.lr

    # 256 images / 32 = 8 steps an epoch; milestones at epochs 1 and 2 of 3
    fit(config(tmp_path, epochs=3, schedule="multistep", milestones=[1, 2], gamma=0.5, lr=0.08), sink, data=tiny_bundle())
    assert [lrs[s] for s in (7, 8, 15, 16, 24)] == pytest.approx([0.08, 0.04, 0.04, 0.02, 0.02])


def test_label_smoothing_is_the_loss_the_model_trains_on(tmp_path, monkeypatch):
    seen = []
    real = Classifier.forward

    def forward(self, x):
        out = real(self, x)
        if torch.is_grad_enabled():
            seen.append(out.detach().clone())
        return out

    monkeypatch.setattr(Classifier, "forward", forward)
    labels = []
    real_epoch = TrainStream.epoch_batches

    def epoch_batches(self):
        for x, y in real_epoch(self):
            labels.append(y.clone())
            yield x, y

    monkeypatch.setattr(TrainStream, "epoch_batches", epoch_batches)
    losses = []
    fit(config(tmp_path, label_smoothing=0.3, epochs=3), lambda e: losses.append(e.loss) if isinstance(e, BatchProgress) else None,
        data=tiny_bundle())
    assert len(losses) == len(seen) == len(labels) == 24
    smoothed = [F.cross_entropy(z.float(), y, label_smoothing=0.3).item() for z, y in zip(seen, labels)]
    plain = [F.cross_entropy(z.float(), y).item() for z, y in zip(seen, labels)]
    assert losses == pytest.approx(smoothed, rel=1e-5)
    assert max(abs(a - b) for a, b in zip(smoothed, plain)) > 0.05  # the two losses are told apart


def test_zero_init_residual_reaches_the_model(tmp_path, monkeypatch):
    starts = []
    real = train_setup.create_model

    def create(*args, **kwargs):  # the last BN of every residual branch, as fit() built the model
        model = real(*args, **kwargs)
        starts.append([b.last_bn.weight.detach().clone() for b in model.modules() if hasattr(b, "zero_init_last")])
        return model

    monkeypatch.setattr(train_setup, "create_model", create)
    data = tiny_bundle(train=64, test=20)
    fit(config(tmp_path, arch="resnet20", zero_init_residual=True, name="zero"), data=data)
    fit(config(tmp_path, arch="resnet20", zero_init_residual=False, name="plain"), data=tiny_bundle(train=64, test=20))
    zeroed, plain = starts
    assert len(zeroed) == 9 and all(torch.count_nonzero(w) == 0 for w in zeroed)
    assert all(torch.count_nonzero(w) == w.numel() for w in plain)


@pytest.mark.parametrize("setting,expected", [("on", True), ("auto", True), ("off", False)])
def test_channels_last_reaches_the_model_and_its_inputs(tmp_path, monkeypatch, setting, expected):
    seen = set()
    real = Classifier.forward

    def forward(self, x):
        if torch.is_grad_enabled():
            conv = next(m for m in self.modules() if isinstance(m, torch.nn.Conv2d))
            cl = torch.channels_last
            seen.add((x.is_contiguous(memory_format=cl), conv.weight.is_contiguous(memory_format=cl)))
        return real(self, x)

    monkeypatch.setattr(Classifier, "forward", forward)
    fit(config(tmp_path, channels_last=setting), data=tiny_bundle(train=64, test=20))
    assert seen == {(expected, expected)}  # auto = on, on the CPU as on CUDA


def record_batches(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(training batch, the same images without augmentation, normalised) for every batch fit() draws."""
    out = []
    real = TrainStream.epoch_batches

    def epoch_batches(self):
        for x, y in real(self):
            b = self.batch_in_epoch - 1
            idx = self.perm[b * self.batch_size : (b + 1) * self.batch_size]
            out.append((x.clone(), self.normalize(self.data.images[idx]), self.data.images[idx], self.normalize))
            yield x, y

    monkeypatch.setattr(TrainStream, "epoch_batches", epoch_batches)
    return out


def augmented(tmp_path, monkeypatch, **aug):
    batches = record_batches(monkeypatch)
    fit(config(tmp_path, **({"crop_padding": 0, "flip": False, "rotate": 0.0, "cutout": 0} | aug)),
        data=tiny_bundle(train=64, test=20))
    return batches


def test_no_augmentation_feeds_the_images_as_they_are(tmp_path, monkeypatch):
    assert all(torch.equal(x, plain) for x, plain, _, _ in augmented(tmp_path, monkeypatch))


def test_flip_alone_mirrors_about_half_the_images(tmp_path, monkeypatch):
    kinds = []
    for x, plain, _, _ in augmented(tmp_path, monkeypatch, flip=True):
        for a, b in zip(x, plain):
            same, mirrored = torch.equal(a, b), torch.equal(a, b.flip(2))
            assert same or mirrored
            kinds.append(mirrored and not same)
    assert 0.25 < sum(kinds) / len(kinds) < 0.75


def test_crop_padding_shifts_each_image_by_at_most_the_padding(tmp_path, monkeypatch):
    shifted = 0
    for x, _, raw, normalize in augmented(tmp_path, monkeypatch, crop_padding=2):
        padded = F.pad(raw, (2, 2, 2, 2))
        h, w = raw.shape[-2:]
        for i in range(len(x)):
            windows = [normalize(padded[i : i + 1, :, dy : dy + h, dx : dx + w])[0] for dy in range(5) for dx in range(5)]
            match = [k for k, win in enumerate(windows) if torch.equal(x[i], win)]
            assert match, "not a crop of the padded image"
            shifted += 12 not in match  # window 12 is the unshifted one
    assert shifted > 0


def test_rotation_reaches_the_training_batches(tmp_path, monkeypatch):
    changed = [not torch.equal(a, b) for x, plain, _, _ in augmented(tmp_path, monkeypatch, rotate=10.0) for a, b in zip(x, plain)]
    assert sum(changed) > 0.9 * len(changed)


def test_train_subset_takes_the_first_images_of_each_class():
    from core.data import load_data

    full = load_data(TrainConfig(dataset="synthetic"))
    sub = load_data(TrainConfig(dataset="synthetic", train_subset=100))
    assert sub.train.class_counts(10) == [10] * 10
    for c in range(10):
        first = full.train.images[full.train.labels == c][:10]
        assert torch.equal(sub.train.images[sub.train.labels == c], first)


@pytest.mark.parametrize("clip", [0.0, 0.2])
def test_grad_clip_bounds_the_gradient_the_optimiser_steps_with(tmp_path, monkeypatch, clip):
    norms = []
    real_step = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    fit(config(tmp_path, grad_clip=clip, lr=0.2), data=tiny_bundle())
    assert len(norms) == 8
    if clip:
        assert max(norms) <= clip * (1 + 1e-4)
    else:  # the control: unclipped, these gradients are larger than the clip above
        assert max(norms) > 0.2
