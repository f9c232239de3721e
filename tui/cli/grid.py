"""The options of `sweep`: every `train` option, where a comma list of values makes a grid axis.

``--arch resnet20,resnet56 --lr 0.05,0.1`` is a 2 x 2 grid; an option with one value is fixed for every
point. Switches (``--amp/--no-amp``) and ``--milestones`` (itself a comma list) take one value; the seed
is swept with ``--seeds K`` and ``--name`` / ``--run-dir`` belong to the sweep.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Annotated, Any, Callable, Optional

import typer

from core.config.options import BY_FIELD, GROUPS, Option
from core.config.train_config import TrainConfig
from tui.cli.common import CliError
from tui.cli.options import _milestones, command_options, help_text

_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
NOT_GRIDDED = ("name", "runs_dir")  # the sweep's own --name and --run-dir
SINGLE = ("milestones", "seed", "log")  # one value: milestones and log are lists themselves; seeds come from --seeds
_NUMBER = {"int": (int, "a whole number"), "float": (float, "a number")}


def grid_fields() -> list[Option]:
    return [o for o in command_options("train") if o.field not in NOT_GRIDDED]


def grid_fields_without_workers() -> list[Option]:
    """--workers is a sweep's and a search's own (runs at once); the loader's worker count comes from a config file."""
    return [o for o in grid_fields() if o.field != "workers"]


def _parameter(option: Option, searched: str = " A comma list sweeps it.") -> inspect.Parameter:
    kind = _TYPES[option.field]
    flag = option.option
    if kind == "bool":
        decls, python, extra = [f"{flag}/--no-{flag[2:]}"], bool, ""
    else:
        decls, python = [flag], str
        extra = "" if option.field in SINGLE else searched
    info = typer.Option(*decls, help=help_text(option, "train") + extra, rich_help_panel=GROUPS[option.group], metavar="")
    return inspect.Parameter(option.cli_name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[python], info])


def parse_values(option: Option, text: str) -> list[Any]:
    """``"0.05,0.1"`` -> [0.05, 0.1] in the option's type; an empty item or list is an error."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise CliError(f"{option.option}: empty value in the grid {text!r}; give values separated by commas, e.g. 0.05,0.1")
    convert, says = _NUMBER.get(_TYPES[option.field], (str, ""))
    values = []
    for item in items:
        try:
            values.append(convert(item))
        except ValueError:
            raise CliError(f"{option.option}: {item!r} is not {says} (in {text!r})") from None
    return values


def _with_train_options(fn: Callable[..., Any], drop: tuple[str, ...], searched: Callable[[Option], str],
                        call: Callable[[dict[str, Any], dict[str, Any]], Any]) -> Callable[..., Any]:
    """``fn`` with the train options added after its own (less ``drop``); the options given reach
    ``call(given, fn's own kwargs)`` as {field: value} (milestones as their list)."""
    options = grid_fields_without_workers()
    signature = inspect.signature(fn, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name not in drop]
    params = own + [_parameter(o, searched(o)) for o in options]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        given: dict[str, Any] = {}
        for o in options:
            value = kwargs.pop(o.cli_name)
            if value is not None:
                given[o.field] = _milestones(value) if o.field == "milestones" and not isinstance(value, bool) else value
        return call(given, kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def grid_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the train options after ``fn``'s own and pass ``grid`` ({field: [values]}, given order) and
    ``fixed`` ({field: value}) instead."""

    def call(given: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        grid: dict[str, list[Any]] = {}
        fixed: dict[str, Any] = {}
        for field, value in given.items():
            o = BY_FIELD[field]
            if isinstance(value, bool) or field == "milestones":
                fixed[field] = value
                continue
            values = parse_values(o, value)
            if field in SINGLE and len(values) > 1:
                raise CliError(f"{o.option} takes one value in a sweep; sweep seeds with --seeds K")
            if len(values) > 1:
                grid[field] = values
            else:
                fixed[field] = values[0]
        return fn(grid=grid, fixed=fixed, **kwargs)

    return _with_train_options(fn, ("grid", "fixed"), lambda o: " A comma list sweeps it.", call)


SEARCHED_HELP = {"int": " A range lo:hi[:log] or a comma list searches it.", "float": " A range lo:hi[:log|:lin] or a comma list searches it."}


def space_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the train options after ``fn``'s own and pass ``given`` ({field: text, or bool for a switch, or the
    milestones' list}) for core.experiments.search_space to split into the searched and the fixed."""
    return _with_train_options(fn, ("given",), lambda o: SEARCHED_HELP.get(_TYPES[o.field], " A comma list searches it."),
                               lambda given, kwargs: fn(given=given, **kwargs))
