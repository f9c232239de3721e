"""The setup form's fields, and the conversion form text <-> TrainConfig with core's validation rules.

No Textual here: the setup screen renders FIELDS and calls ``form_to_config`` on every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import DATASETS, OPTIMIZERS, SCHEDULES, TrainConfig, check_paths, validate_config


@dataclass(frozen=True)
class Field:
    name: str  # the TrainConfig field
    label: str
    kind: str  # int | float | text | choice
    choices: tuple[str, ...] = ()
    help: str = ""


FIELDS: tuple[Field, ...] = (
    Field("arch", "Architecture", "choice"),
    Field("dataset", "Dataset", "choice", DATASETS),
    Field("data", "Data path", "text", help="cifar10: where the archive goes; folder: has train/ and test/"),
    Field("epochs", "Epochs", "int"),
    Field("lr", "Learning rate", "float"),
    Field("batch_size", "Batch size", "int"),
    Field("optimizer", "Optimiser", "choice", OPTIMIZERS),
    Field("schedule", "LR schedule", "choice", SCHEDULES),
    Field("weight_decay", "Weight decay", "float"),
    Field("label_smoothing", "Label smoothing", "float"),
    Field("val_split", "Validation split", "float", help="fraction (<1) or number of images; 0 = none"),
    Field("train_subset", "Train subset", "int", help="first N images, class-balanced; 0 = all"),
    Field("seed", "Seed", "int"),
    Field("name", "Run name", "text", help="empty = <arch>-<dataset>-<time>"),
    Field("device", "Device", "choice"),
)
BY_NAME = {f.name: f for f in FIELDS}

# The fine-tune screen's fields (the checkpoint comes from a list or a path).
FINETUNE_FIELDS: tuple[Field, ...] = (
    Field("init_from", "Checkpoint path", "text", help="a run folder or a .pt file"),
    Field("dataset", "Dataset", "choice", DATASETS),
    Field("data", "Data path", "text", help="a folder with train/<class>/ and test/<class>/"),
    Field("freeze", "Freeze", "choice"),
    Field("backbone_lr_mult", "Backbone LR x", "float", help="the backbone learns at lr times this"),
    Field("epochs", "Epochs", "int"),
    Field("lr", "Learning rate", "float"),
    Field("batch_size", "Batch size", "int"),
    Field("name", "Run name", "text", help="empty = <parent>-ft-<dataset>-<time>"),
    Field("device", "Device", "choice"),
)


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
