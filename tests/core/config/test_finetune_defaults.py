"""Fine-tune defaults and naming live once in core (core.config.finetune_defaults, core.runs.layout.default_run_name):
the CLI's `finetune` and the app's fine-tune screen get the same config for the same parent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config.finetune_defaults import FINETUNE_DEFAULTS, finetune_base, from_parent
from core.config.train_config import TrainConfig
from core.runs.layout import checkpoint_owner, default_run_name


@dataclass
class FakeParent:
    path: Path
    arch: str = "resnet56"
    image_size: int = 48


def test_the_defaults_sit_over_train_s_and_under_what_is_given():
    cfg = finetune_base()
    assert (cfg.dataset, cfg.epochs, cfg.lr, cfg.schedule) == ("folder", 5, 0.01, "cosine")
    assert cfg.batch_size == TrainConfig().batch_size and cfg.name == ""  # the rest are train's
    assert finetune_base(epochs=2, lr=0.5).epochs == 2 and finetune_base(lr=0.5).lr == 0.5
    assert set(FINETUNE_DEFAULTS) <= set(TrainConfig().to_dict())


def test_the_parent_fixes_arch_weights_and_input_size(tmp_path):
    parent = FakeParent(tmp_path / "base" / "final.pt")
    cfg = from_parent(finetune_base(arch="resnet20"), parent)
    assert (cfg.arch, cfg.init_from, cfg.image_size, cfg.crop_padding) == ("resnet56", str(parent.path), 48, 6)
    given = from_parent(finetune_base(image_size=64), parent, given={"image_size"})
    assert (given.image_size, given.crop_padding) == (64, 8)  # padding follows the size asked for
    padded = from_parent(finetune_base(crop_padding=0), parent, given={"crop_padding"})
    assert (padded.image_size, padded.crop_padding) == (48, 0)


@pytest.mark.parametrize("path,owner", [
    ("runs/base/final.pt", "base"), ("runs/base/last.pt", "base"), ("runs/base/epoch_0003.pt", "base"),
    ("weights/pets-v2.pt", "pets-v2"), ("exported.safetensors", "exported"),
])
def test_a_checkpoint_is_named_after_its_run(path, owner):
    assert checkpoint_owner(path) == owner


def test_generated_names(monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20261129-120000")
    assert default_run_name(TrainConfig(arch="resnet20", dataset="cifar10")) == "resnet20-cifar10-20261129-120000"
    tuned = TrainConfig(arch="resnet20", dataset="folder", init_from="runs/base/final.pt")
    assert default_run_name(tuned) == "base-ft-folder-20261129-120000"



@pytest.mark.parametrize("found, given, batch, epochs", [
    (700, (), 32, 15),  # 21 whole batches per epoch, 315 steps in all (the measured CIFAR 5-class case)
    (400, (), 16, 12),  # 25 steps per epoch
    (90, (), 16, 30),  # the batch stops at 16; the epochs at 30
    (2560, (), 128, 5),  # 20 default batches: the defaults stand (large data is not touched)
    (50_000, (), 128, 5),
    (700, ("batch_size",), 128, 30),  # the user's batch stands; the epochs still make up the steps
    (700, ("batch_size", "epochs"), 128, 5),  # both given: nothing chosen
])
def test_small_data_gets_a_smaller_batch_and_more_epochs(found, given, batch, epochs):
    from core.config.finetune_defaults import sized_to_data

    cfg, note = sized_to_data(finetune_base(), found, given)
    assert (cfg.batch_size, cfg.epochs) == (batch, epochs)
    assert cfg.chosen == note and bool(note) == ((batch, epochs) != (128, 5))
    if found == 700 and not given:
        assert note == ("chosen for 700 training images: batch size 32 and 15 epochs (21 steps per epoch, 315 in all; "
                        "the defaults would take 25); --batch-size and --epochs override it")


def test_the_training_images_are_counted_after_subset_and_validation_split():
    from core.config.finetune_defaults import sized_to_data, training_images

    assert training_images(finetune_base(train_subset=500), 5000) == 500
    assert training_images(finetune_base(val_split=0.1), 1000) == 900
    assert training_images(finetune_base(val_split=100), 1000) == 900
    assert sized_to_data(finetune_base(train_subset=400), 50_000)[0].batch_size == 16
