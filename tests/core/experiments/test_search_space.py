"""A search's space from the command line's text: ranges, choices, fixed values and the bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UserError
from core.experiments import search as se
from core.experiments.search_space import describe, distributions, grid_of, split_options


def test_ranges_choices_and_fixed_values_are_told_apart_by_their_text():
    space, fixed = split_options({"lr": "0.01:0.5:log", "weight_decay": "1e-5:1e-3", "epochs": "2:6",
                                  "arch": "resnet20,resnet32", "batch_size": "256", "flip": False, "milestones": [3, 4]})
    assert space == {"lr": {"low": 0.01, "high": 0.5, "log": True, "int": False},
                     "weight_decay": {"low": 1e-5, "high": 1e-3, "log": False, "int": False},
                     "epochs": {"low": 2, "high": 6, "log": False, "int": True},
                     "arch": {"choices": ["resnet20", "resnet32"]}}
    assert fixed == {"batch_size": 256, "flip": False, "milestones": [3, 4]}
    assert describe(space) == ("lr 0.01..0.5 (log), weight_decay 1e-05..0.001, epochs 2..6, arch {resnet20, resnet32}")
    dists = distributions(space)
    assert dists["lr"].log and dists["lr"].low == 0.01 and type(dists["epochs"]).__name__ == "IntDistribution"
    assert dists["arch"].choices == ("resnet20", "resnet32")


@pytest.mark.parametrize("given, says", [
    ({"lr": "0.1:0.1"}, "the range is empty"),
    ({"lr": "0.5:0.1"}, "the range is inverted"),
    ({"lr": "0:0.5:log"}, "a log range needs bounds above 0"),
    ({"lr": "0.1:0.5:cubic"}, "a range is lo:hi, lo:hi:log or lo:hi:lin"),
    ({"lr": "0.1:x"}, "'x' is not a number"),
    ({"epochs": "2:5.5"}, "'5.5' is not a whole number"),
    ({"lr": "0.1,,0.2"}, "an empty choice"),
    ({"lr": "0.1,0.1"}, "a choice is listed twice"),
    ({"val_split": "0.1,0.2"}, "--val-split cannot be searched"),
    ({"seed": "1:5"}, "--seed cannot be searched"),
])
def test_a_bad_space_is_one_line_naming_the_option(given, says):
    with pytest.raises(UserError) as e:
        split_options(given)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_the_grid_sampler_takes_lists_only_and_a_search_needs_a_validation_split():
    assert grid_of({"arch": {"choices": ["a", "b"]}}) == {"arch": ["a", "b"]}
    with pytest.raises(UserError, match="--sampler grid takes comma lists, not ranges"):
        se.make_spec("s", {"lr": {"low": 0.1, "high": 0.2, "log": False, "int": False}}, {}, sampler="grid")
    with pytest.raises(UserError, match="--val-split is 0"):
        se.make_spec("s", {"arch": {"choices": ["a", "b"]}}, {"val_split": 0.0})
    with pytest.raises(UserError, match="nothing to search"):
        se.make_spec("s", {}, {"lr": 0.1})
    spec = se.make_spec("s", {"arch": {"choices": ["a", "b"]}}, {"lr": 0.2})  # no --val-split: the stated default
    assert se.trial_config(spec, {"arch": "a"}, Path("."), "t", "cpu").val_split == se.DEFAULT_VAL_SPLIT == 0.1


def test_a_trial_validates_every_epoch_and_never_tests(tmp_path):
    spec = se.make_spec("s", {"lr": {"low": 0.01, "high": 0.1, "log": True, "int": False}}, {"epochs": 3, "eval_every": 0},
                        seed=7)
    cfg = se.trial_config(spec, {"lr": 0.05}, tmp_path, "trial-004", "cpu")
    assert (cfg.lr, cfg.epochs, cfg.seed, cfg.name, cfg.device) == (0.05, 3, 7, "trial-004", "cpu")
    assert cfg.eval_every == 1 and cfg.final_test is False and cfg.val_split == 0.1


def test_the_same_name_with_another_space_is_refused_naming_what_differs(tmp_path):
    space = {"lr": {"low": 0.01, "high": 0.5, "log": True, "int": False}}
    first = se.make_spec("s", space, {"epochs": 2})
    assert se.open_search(tmp_path / "s", first) is False
    assert se.open_search(tmp_path / "s", se.make_spec("s", space, {"epochs": 2})) is True
    other = se.make_spec("s", {"lr": {"low": 0.01, "high": 0.1, "log": True, "int": False}}, {"epochs": 3})
    with pytest.raises(UserError) as e:
        se.open_search(tmp_path / "s", other)
    said = str(e.value)
    assert "--lr 0.01..0.1 (log) (this search has 0.01..0.5 (log))" in said and "--epochs 3 (this search has 2)" in said
