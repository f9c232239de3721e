"""The setup form's fields, and the conversion form text <-> TrainConfig with core's validation rules.

No Textual here: the setup screen renders FIELDS and calls ``form_to_config`` on every change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.config.options import BY_FIELD
from core.config.train_config import TrainConfig
from core.config.validate import check_paths, validate_config


@dataclass(frozen=True)
class Field:
    name: str  # the TrainConfig field
    label: str
    kind: str  # int | float | text | choice
    choices: tuple[str, ...] = ()
    help: str = ""


# Which options each form shows, with their labels and hints, is declared in core.config.options; the order
# on screen is a layout matter and lives here (a test checks both name the same fields).
SETUP_ORDER = ("arch", "dataset", "data", "epochs", "lr", "batch_size", "optimizer", "schedule", "weight_decay",
               "label_smoothing", "val_split", "train_subset", "seed", "name", "device")
FINETUNE_ORDER = ("init_from", "dataset", "data", "test_split", "freeze", "backbone_lr_mult", "epochs", "lr", "batch_size", "name",
                  "device")
PICKED = ("arch", "device", "freeze")  # choices the screen makes at run time (models, devices, the parent's stages)


def _field(name: str, finetune: bool) -> Field:
    option = BY_FIELD[name]
    kind = _KINDS[_TYPES[name]]
    if option.choices or name in PICKED:
        kind = "choice"
    label = option.finetune_form if finetune else option.form
    hint = option.finetune_form_help if finetune else option.form_help
    return Field(name, label, kind, option.choices, hint)


_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
_KINDS = {"int": "int", "float": "float", "str": "text"}
FIELDS: tuple[Field, ...] = tuple(_field(name, finetune=False) for name in SETUP_ORDER)
BY_NAME = {f.name: f for f in FIELDS}
# The fine-tune screen's fields (the checkpoint comes from a list or a path).
FINETUNE_FIELDS: tuple[Field, ...] = tuple(_field(name, finetune=True) for name in FINETUNE_ORDER)


def _format(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:g}"
        return text
    return str(value)


def config_to_form(cfg: TrainConfig, fields: tuple[Field, ...] = FIELDS) -> dict[str, str]:
    return {f.name: _format(getattr(cfg, f.name)) for f in fields}


def form_to_config(
    values: dict[str, str], base: TrainConfig, models: list[str], fields: tuple[Field, ...] = FIELDS
) -> tuple[TrainConfig, dict[str, str]]:
    """Parse the form over ``base``; returns the config and {field: reason} for every invalid field."""
    by_name = {f.name: f for f in fields}
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        spec = by_name.get(name)
        if spec is None:
            continue
        text = raw.strip() if isinstance(raw, str) else raw
        if spec.kind == "int":
            try:
                parsed[name] = int(text)
            except (TypeError, ValueError):
                errors[name] = "must be a whole number"
        elif spec.kind == "float":
            try:
                parsed[name] = float(text)
            except (TypeError, ValueError):
                errors[name] = "must be a number"
        else:
            parsed[name] = text if text is not None else ""
    cfg = base.replace(**parsed)
    for error in validate_config(cfg, models):
        if error.field in by_name:
            errors.setdefault(error.field, error.message)
        else:  # a rule on a field the form does not show (e.g. warm-up vs epochs): report it on the nearest one
            errors.setdefault("epochs", f"{error.option} {error.message}")
    if not errors:
        for error in check_paths(cfg):
            errors.setdefault(error.field if error.field in by_name else "data", error.message)
    return cfg, errors
