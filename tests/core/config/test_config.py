"""The validation rules shared by the CLI and the app."""

from __future__ import annotations

import math

import pytest

from core.config.options import BY_FIELD
from core.config.train_config import TrainConfig
from core.config.validate import validate_config

MODELS = ["resnet20", "resnet18", "simplecnn"]

BAD = [
    ("lr", 0), ("lr", -1.0), ("lr", math.nan), ("lr", math.inf), ("lr", 11.0),
    ("epochs", 0), ("epochs", -3), ("epochs", 1.5),
    ("batch_size", 0), ("batch_size", 100_000),
    ("arch", "resnet7"), ("dataset", "imagenet"), ("optimizer", "rmsprop"), ("schedule", "step"),
    ("momentum", 1.0), ("weight_decay", -1e-4), ("weight_decay", math.nan), ("label_smoothing", 1.0),
    ("val_split", -0.1), ("val_split", 0.75), ("val_split", 10.5), ("train_subset", -1),
    ("device", "gpu"), ("device", "cuda:-1"), ("device", "cuda:x"), ("precision", "fp8"), ("channels_last", "yes"),
    ("seed", -1), ("seed", 2**32), ("image_size", 4), ("crop_padding", 17), ("rotate", 200.0),
    ("name", "../evil"), ("name", "a/b"), ("name", ".hidden"), ("warmup_epochs", 11.0), ("milestones", [5, 3]),
    ("milestones", [10]), ("gamma", 0.0), ("data", ""), ("runs_dir", " ")
]


def test_defaults_are_valid():
    assert validate_config(TrainConfig(), MODELS) == []


# what each message must say is allowed
ALLOWED = {
    "lr": "> 0 and <= 10", "epochs": "from 1 to 100000", "batch_size": "from 1 to 65536",
    "arch": "one of resnet20, resnet18, simplecnn", "dataset": "one of cifar10, folder, synthetic",
    "optimizer": "one of sgd, adam, adamw", "schedule": "one of onecycle, cosine, multistep, constant",
    "momentum": "in [0, 1)", "weight_decay": "from 0 to 1", "label_smoothing": "in [0, 1)",
    "val_split": ("a fraction below 1 or a whole number of images", "at most half of the training set"),
    "train_subset": "from 0 to", "device": "auto, cpu, mps, cuda or cuda:N", "precision": "one of auto, fp32, bf16, fp16",
    "channels_last": "one of auto, on, off", "seed": "from 0 to 4294967295", "image_size": "from 8 to 1024",
    "crop_padding": "from 0 to 16", "rotate": "from 0 to 180", "name": "letters, digits, '.', '_' or '-'",
    "warmup_epochs": "not exceed --epochs", "milestones": "increasing epochs between 1 and epochs-1",
    "gamma": "in (0, 1]", "data": "a path", "runs_dir": "a path"
}


@pytest.mark.parametrize("field,value", BAD)
def test_bad_values_are_named_with_what_is_allowed(field, value):
    errors = validate_config(TrainConfig(**{field: value}), MODELS)
    assert errors, f"{field}={value!r} was accepted"
    assert errors[0].field == field
    text = str(errors[0])
    assert text.startswith(BY_FIELD[field].option + " must ")  # the CLI's spelling (runs_dir: --run-dir)
    allowed = ALLOWED[field] if isinstance(ALLOWED[field], tuple) else (ALLOWED[field],)
    assert any(a in text for a in allowed), text
    if field not in ("data", "runs_dir"):
        assert text.endswith(f"(got {value!r})"), text  # and what was given
    assert "\n" not in text


@pytest.mark.parametrize(
    "field,value",
    [("lr", 1e-4), ("val_split", 0.1), ("val_split", 5000.0), ("device", "cuda:3"), ("device", "mps"),
     ("milestones", [3, 6]), ("name", "my-run_1.2"), ("seed", 2**32 - 1), ("train_subset", 10000)],
)
def test_good_values_pass(field, value):
    assert validate_config(TrainConfig(**{field: value}), MODELS) == []


def test_round_trip_through_dict_ignores_unknown_keys():
    cfg = TrainConfig(arch="resnet18", lr=0.05, milestones=[3, 6])
    raw = cfg.to_dict() | {"from_the_future": 1}
    assert TrainConfig.from_dict(raw) == cfg


def test_presets_are_valid_configs():
    from core.config.presets import PRESETS, apply_preset
    from core.models import list_models

    for name in PRESETS:
        assert validate_config(apply_preset(name), list_models()) == [], name
    paper = apply_preset("paper")
    assert (paper.lr, paper.weight_decay, paper.milestones, paper.epochs, paper.nesterov) == (0.1, 1e-4, [91, 136], 182, False)


def test_check_paths(tmp_path):
    from core.config.validate import check_paths

    assert check_paths(TrainConfig(dataset="synthetic", runs_dir=str(tmp_path))) == []
    errors = check_paths(TrainConfig(dataset="folder", data=str(tmp_path / "nope")))
    assert errors[0].field == "data" and "is not a folder" in errors[0].message
    (tmp_path / "d" / "test").mkdir(parents=True)
    assert "has test/ but no train/" in check_paths(TrainConfig(dataset="folder", data=str(tmp_path / "d")))[0].message
    (tmp_path / "d" / "train").mkdir()
    assert check_paths(TrainConfig(dataset="folder", data=str(tmp_path / "d"), runs_dir=str(tmp_path))) == []
    assert check_paths(TrainConfig(dataset="cifar10", data=str(tmp_path), download=False))[0].field == "data"
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "config.json").write_text("{}")
    err = check_paths(TrainConfig(dataset="synthetic", runs_dir=str(tmp_path / "runs"), name="taken"))
    assert err[0].field == "name"


def test_an_older_run_s_run_dir_is_read_as_runs_dir():
    """run_dir meant the folder of runs in the config and the run's own folder elsewhere; the config's is
    runs_dir now, and older config.json files and checkpoints are read with the new name."""
    assert TrainConfig.from_dict({"run_dir": "/old/runs", "epochs": 3}).runs_dir == "/old/runs"
    assert "run_dir" not in TrainConfig().to_dict()

