"""A search's space from the command line: which options are searched, over what, and which are fixed.

    --lr 0.01:0.5:log        a range: log-uniform between the bounds (``:lin`` or nothing: uniform)
    --epochs 2:6             a range of whole numbers for an integer option
    --arch resnet20,resnet32 a categorical choice
    --batch-size 256         fixed for every trial

The space is plain JSON ({field: {"low", "high", "log", "int"} | {"choices": [...]}}), kept in the search's
spec; ``distributions`` turns it into Optuna's (imported only there). Torch-free and Optuna-free otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from core.config.train_config import TrainConfig
from core.errors import UserError

_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
NUMBERS = {"int": int, "float": float}
# Searching these would change what the objective measures, or they belong to the search itself.
NOT_SEARCHED = {"val_split": "the validation split is what every trial is judged on",
                "dataset": "every trial must be judged on the same data", "data": "every trial must be judged on the same data",
                "seed": "--seed is the search's own (its sampler's and every trial's)", "device": "the search places trials on devices",
                "name": "trials are named by the search", "runs_dir": "trials live in the search's folder"}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _number(key: str, text: str, kind: str) -> float | int:
    convert = NUMBERS[kind]
    try:
        value = convert(text)
    except ValueError:
        says = "a whole number" if kind == "int" else "a number"
        raise UserError(f"{_flag(key)}: {text!r} is not {says}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{_flag(key)}: {text!r} is not a finite number")
    return value


def parse_range(key: str, text: str) -> dict[str, Any]:
    """``"0.01:0.5:log"`` -> {"low": 0.01, "high": 0.5, "log": True, "int": False}; errors in one line."""
    kind = _TYPES.get(key)
    if kind not in NUMBERS:
        raise UserError(f"{_flag(key)} {text!r}: a range lo:hi is for number options; give a comma list of choices")
    parts = [p.strip() for p in text.split(":")]
    scale = "lin"
    if len(parts) == 3:
        scale = parts.pop()
    if len(parts) != 2 or scale not in ("lin", "log") or not all(parts):
        raise UserError(f"{_flag(key)} {text!r}: a range is lo:hi, lo:hi:log or lo:hi:lin (e.g. 0.01:0.5:log)")
    low, high = (_number(key, p, kind) for p in parts)
    if low >= high:
        what = "empty" if low == high else "inverted"
        raise UserError(f"{_flag(key)} {text!r}: the range is {what}; the low bound must be below the high one")
    if scale == "log" and low <= 0:
        raise UserError(f"{_flag(key)} {text!r}: a log range needs bounds above 0")
    return {"low": low, "high": high, "log": scale == "log", "int": kind == "int"}


def parse_choices(key: str, text: str) -> list[Any]:
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise UserError(f"{_flag(key)} {text!r}: an empty choice; give values separated by commas")
    kind = _TYPES.get(key)
    values = [_number(key, t, kind) for t in items] if kind in NUMBERS else items
    if len(set(map(repr, values))) != len(values):
        raise UserError(f"{_flag(key)} {text!r}: a choice is listed twice")
    return values


def split_options(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``given`` ({field: text or value}) -> (space, fixed). A text with ':' on a number option is a range,
    one with ',' a choice; anything else is fixed (converted to the option's type)."""
    space: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    for key, value in given.items():
        searched = isinstance(value, str) and (("," in value and key != "milestones") or (":" in value and _TYPES.get(key) in NUMBERS))
        if searched and key in NOT_SEARCHED:
            raise UserError(f"{_flag(key)} cannot be searched: {NOT_SEARCHED[key]}")
        if not searched:
            fixed[key] = _number(key, value, _TYPES[key]) if isinstance(value, str) and _TYPES.get(key) in NUMBERS else value
        elif ":" in value and _TYPES.get(key) in NUMBERS:
            space[key] = parse_range(key, value)
        else:
            space[key] = {"choices": parse_choices(key, value)}  # two or more: the text has a comma, no empty item
    return space, fixed


def grid_of(space: dict[str, Any]) -> dict[str, list[Any]]:
    """The grid sampler's space: every searched option must be a list of choices."""
    ranges = [k for k, d in space.items() if "choices" not in d]
    if ranges:
        raise UserError(f"--sampler grid takes comma lists, not ranges ({', '.join(_flag(k) for k in ranges)}); "
                        f"list the values, e.g. {_flag(ranges[0])} 0.01,0.1")
    return {k: list(d["choices"]) for k, d in space.items()}


def grid_size(space: dict[str, Any]) -> int:
    return math.prod(len(v) for v in grid_of(space).values())


def describe(space: dict[str, Any]) -> str:
    """'lr 0.01..0.5 (log), arch {resnet20, resnet32}'."""
    parts = []
    for key, d in space.items():
        if "choices" in d:
            parts.append(f"{key} {{{', '.join(map(str, d['choices']))}}}")
        else:
            parts.append(f"{key} {d['low']:g}..{d['high']:g}{' (log)' if d['log'] else ''}")
    return ", ".join(parts)


def distributions(space: dict[str, Any]) -> dict[str, Any]:
    """Optuna's distribution for each searched option."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for key, d in space.items():
        if "choices" in d:
            out[key] = CategoricalDistribution(list(d["choices"]))
        elif d["int"]:
            out[key] = IntDistribution(int(d["low"]), int(d["high"]), log=bool(d["log"]))
        else:
            out[key] = FloatDistribution(float(d["low"]), float(d["high"]), log=bool(d["log"]))
    return out
