"""The typer options of `train` and `finetune`, made from the declarations in core.config.options.

A command decorated with ``@declared_options("train")`` gets one option per declared TrainConfig
field (grouped into help panels) and receives what the user gave as ``given``: {field: value}
for the options given, so a preset, a config file, a parent run or a resumed run supplies the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Annotated, Any, Callable, Optional

import typer

from core.config.finetune_defaults import FINETUNE_DEFAULTS
from core.config.options import GROUPS, OPTIONS, Option
from core.config.train_config import TrainConfig
from tui.cli.common import CliError

_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
_PYTHON = {"int": int, "float": float, "str": str, "bool": bool, "list[int]": str}  # milestones: "91,136"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if value in ("", []):
        return "none"
    return str(value)


def help_text(option: Option, command: str) -> str:
    """The option's help with the default the command starts from."""
    if command == "finetune" and option.finetune_default_text:
        default = option.finetune_default_text
    elif option.default_text:
        default = option.default_text
    elif command == "finetune" and option.field in FINETUNE_DEFAULTS:
        default = _shown(FINETUNE_DEFAULTS[option.field])
    else:
        default = _shown(getattr(TrainConfig(), option.field))
    return f"{option.help} (default: {default})"


def _parameter(option: Option, command: str) -> inspect.Parameter:
    kind = _TYPES[option.field]
    flag = option.option
    decls = [f"{flag}/--no-{flag[2:]}"] if kind == "bool" else [flag]
    # No type column ("<float>", "<bool>"): the help says what is expected, and at 80 columns that
    # column's width is what the longest --no- spellings need to show whole.
    info = typer.Option(*decls, help=help_text(option, command), rich_help_panel=GROUPS[option.group],
                        metavar="")
    annotation = Annotated[Optional[_PYTHON[kind]], info]
    return inspect.Parameter(option.cli_name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _milestones(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--milestones must be comma-separated whole epochs, e.g. 91,136 (got {text!r})") from None


def command_options(command: str) -> list[Option]:
    return [o for o in OPTIONS if command in o.commands]


def declared_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the declared options of ``command`` after the function's own parameters."""
    options = command_options(command)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "given"]
        params = own + [_parameter(o, command) for o in options]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            given = {}
            for o in options:
                value = kwargs.pop(o.cli_name)
                if value is not None:
                    given[o.field] = _milestones(value) if o.field == "milestones" else value
            return fn(given=given, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
