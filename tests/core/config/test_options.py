"""The option declarations (core.config.options): one row per TrainConfig field, and the rules they state."""

from __future__ import annotations

import dataclasses

import pytest

from core.config.options import BY_FIELD, GROUPS, OPTIONS
from core.config.train_config import TrainConfig
from core.config.validate import validate_config


def test_one_row_per_field_in_a_known_group():
    assert sorted(o.field for o in OPTIONS) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert set(BY_FIELD) == {f.name for f in dataclasses.fields(TrainConfig)} and len(BY_FIELD) == len(OPTIONS)
    assert {o.group for o in OPTIONS} <= set(GROUPS)
    assert len({o.option for o in OPTIONS}) == len(OPTIONS)  # no two options share a spelling


def test_the_declared_defaults_are_allowed():
    for o in OPTIONS:
        value = getattr(TrainConfig(), o.field)
        assert not o.choices or value in o.choices, o.field
        assert o.int_range is None or o.int_range[0] <= value <= o.int_range[1], o.field
    assert validate_config(TrainConfig()) == []


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.int_range], ids=lambda o: o.field)
def test_a_declared_range_is_a_rule(option):
    lo, hi = option.int_range
    for bad in (lo - 1, hi + 1, 2.5, True):
        errors = [e for e in validate_config(TrainConfig().replace(**{option.field: bad})) if e.field == option.field]
        assert errors and errors[0].message == f"must be a whole number from {lo} to {hi} (got {bad!r})", (option.field, bad)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.choices], ids=lambda o: o.field)
def test_declared_choices_are_a_rule(option):
    errors = [e for e in validate_config(TrainConfig().replace(**{option.field: "nope"})) if e.field == option.field]
    assert errors and errors[0].message == f"must be one of {', '.join(option.choices)} (got 'nope')"


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.interval], ids=lambda o: o.field)
def test_a_declared_interval_is_a_rule_with_its_bounds(option):
    iv = option.interval
    bad = [iv.lo - 1, float("nan"), float("inf"), "x", True] + ([iv.lo] if iv.lo_open else [])
    bad += [] if iv.hi is None else [iv.hi + 1] + ([iv.hi] if iv.hi_open else [])
    for value in bad:
        errors = [e for e in validate_config(TrainConfig().replace(**{option.field: value})) if e.field == option.field]
        assert errors and errors[0].message == f"must be {iv.says} (got {value!r})", (option.field, value)
    good = [] if iv.lo_open else [iv.lo]
    good += [] if iv.hi is None or iv.hi_open else [iv.hi]
    for value in good + [(iv.lo + (iv.hi if iv.hi is not None else iv.lo + 2)) / 2]:
        cfg = TrainConfig().replace(**{option.field: value})
        assert not [e for e in validate_config(cfg) if e.field == option.field], (option.field, value)
