"""Run configs as files: a JSON or TOML file of TrainConfig fields (a run's own config.json works as
is: its "train" table is the config), read strictly so that a typo is an error and not a silent
default. Every problem is one line that names the file (and the key). No torch here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import tomllib

from core.config.train_config import RENAMED, TrainConfig
from core.errors import UserError


class ConfigFileError(UserError):
    """A config file that cannot be used; the message names the file (and the key)."""


# Settings that older runs wrote into their config.json and that are no longer part of a run's
# config: skipped, so every run's own config.json stays usable.
RETIRED = frozenset({"progress_interval"})  # a viewer's setting now: fit(progress_interval=...)

# The type each field's value must have in a file (the annotations are strings: `from __future__`).
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def _type_problem(kind: str, value: Any) -> str | None:
    """What is wrong with ``value`` for a field annotated ``kind``; None when it fits."""
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "must be a finite number"
    if kind == "str":
        return None if isinstance(value, str) else "must be a string"
    if kind == "list[int]":
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return None if ok else "must be a list of whole numbers"
    raise AssertionError(f"no file rule for the field type {kind}")  # a new field type needs a rule here


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigFileError(f"{path} is not valid TOML: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if suffix == ".json":
            raise ConfigFileError(f"{path} is not valid JSON: {e}") from None
    try:  # no telling suffix: TOML is the other format we read
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise ConfigFileError(f"{path} is neither JSON nor TOML") from None


def load_config_file(file: str | Path) -> dict[str, Any]:
    """The TrainConfig values a file sets, type-checked; the file's other settings keep their defaults.

    Ranges and the rules between fields are checked later, on the whole config (core.config.validate.validate_config),
    so a file value that an option overrides is never judged.
    """
    path = Path(file).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigFileError(f"config file {path} is a folder, not a file") from None
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path} is not a text file (not UTF-8)") from None
    if not text.strip():
        raise ConfigFileError(f"config file {path} is empty")
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path} must hold a table of settings (got a {type(data).__name__})")
    if isinstance(data.get("train"), dict):  # a run's config.json: the rest is about the run, not its settings
        data = data["train"]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in RETIRED:
            continue
        key = RENAMED.get(key, key)
        if key not in _TYPES:
            raise ConfigFileError(f"{path}: unknown setting {key!r} (settings are TrainConfig fields, e.g. epochs, lr, arch)")
        problem = _type_problem(_TYPES[key], value)
        if problem:
            raise ConfigFileError(f"{path}: {key} {problem} (got {value!r})")
        values[key] = list(value) if isinstance(value, list) else value
    return values
