"""Learning-rate schedules and optimiser parameter groups."""

from __future__ import annotations

import pytest
import torch

from core.config.train_config import TrainConfig
from core.models import create_model
from core.train.optim import LRSchedule, build_optimizer, build_schedule, param_groups


def factors(kind, total=100, warmup=0, milestones=(), gamma=0.1):
    s = LRSchedule(kind, total, warmup, list(milestones), gamma)
    return [s(i) for i in range(total + 1)]


def test_onecycle_rises_to_peak_then_falls_to_zero():
    f = factors("onecycle", 100)
    assert f[0] == pytest.approx(0.04)
    assert max(f) == pytest.approx(1.0) and f.index(max(f)) == 25
    assert f[100] == 0.0
    assert all(a <= b for a, b in zip(f[:25], f[1:26])) and all(a >= b for a, b in zip(f[25:], f[26:]))


def test_cosine_with_warmup():
    f = factors("cosine", 100, warmup=10)
    assert f[0] < f[5] < f[10] == pytest.approx(1.0)
    assert f[55] == pytest.approx(0.5, abs=0.01) and f[100] == pytest.approx(0.0, abs=1e-9)


def test_multistep_and_constant():
    f = factors("multistep", 100, milestones=(50, 75))
    assert f[49] == 1.0 and f[50] == pytest.approx(0.1) and f[75] == pytest.approx(0.01)
    assert set(factors("constant", 10)) == {1.0}


def test_build_schedule_uses_epochs_and_default_milestones():
    s = build_schedule(TrainConfig(epochs=8, schedule="multistep"), steps_per_epoch=10)
    assert s.total_steps == 80 and s.milestones == [40, 60]


def test_no_weight_decay_on_bn_and_bias_and_a_backbone_lr_multiplier():
    model = create_model("resnet20")
    groups = param_groups(model, 5e-4, lr=0.1, backbone_lr_mult=0.1)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    for g in groups:
        assert (g["weight_decay"] == 5e-4) == all(p.ndim > 1 for p in g["params"])
    head = {id(p) for p in model.fc.parameters()}
    for g in groups:
        is_head = all(id(p) in head for p in g["params"])
        assert g["lr"] == pytest.approx(0.1 if is_head else 0.01)


def test_frozen_parameters_are_left_out():
    model = create_model("resnet20")
    for p in model.layer1.parameters():
        p.requires_grad_(False)
    groups = param_groups(model, 5e-4)
    frozen = {id(p) for p in model.layer1.parameters()}
    assert not any(id(p) in frozen for g in groups for p in g["params"])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers(name):
    opt = build_optimizer(create_model("simplecnn"), TrainConfig(optimizer=name, lr=0.01), torch.device("cpu"))
    assert opt.param_groups[0]["lr"] == 0.01
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("kind", ["onecycle", "cosine", "multistep", "constant"])
@pytest.mark.parametrize("total", [1, 2, 3])
def test_tiny_runs_have_finite_positive_first_steps(kind, total):
    s = LRSchedule(kind, total, warmup_steps=total, milestones=[1], gamma=0.1)
    values = [s(i) for i in range(total)]
    assert all(0 < v <= 1 for v in values)
