"""What the runs screen lists, in which order: a filter, a sort, and a sweep's runs kept together under
their sweep's row. Pure functions over RunSummary (no widgets), so the rules are tested on their own."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.runs.catalog import RunSummary

SORTS = ("date", "accuracy", "arch", "status")  # the order `o` cycles through
STATUS_ORDER = ("running", "stalled", "starting", "paused", "interrupted", "stopped", "pruned", "failed", "completed")


@dataclass(frozen=True)
class SweepGroup:
    """A sweep folder's row above its runs."""

    name: str
    path: Path
    runs: tuple[RunSummary, ...]  # the runs shown under it (the filter may hide some)
    planned: int = 0  # runs in its grid, started or not
    done: int = 0  # of those, completed
    live: bool = False  # one of its runs is training


def planned_runs(folder: Path, started: int) -> int:
    """How many runs the sweep's grid holds (its sweep.json); the runs started when that cannot be read."""
    from core.experiments.sweep import read_spec
    from core.runs.layout import SEARCH_SPEC, read_json

    if (folder / SEARCH_SPEC).is_file():  # a search: the trials its last command asked for
        trials = (read_json(folder / SEARCH_SPEC) or {}).get("trials")
        return max(started, trials) if isinstance(trials, int) else started
    try:
        return max(started, len(read_spec(folder).get("runs") or []))
    except Exception:  # noqa: BLE001 - a damaged spec still lists what is there
        return started


def shorten(name: str, width: int) -> str:
    """Cut from the middle: run names differ at the end (their timestamp, their seed) as often as at the start."""
    if len(name) <= width:
        return name
    keep = width - 1
    return name[: keep - keep // 2] + "…" + name[-(keep // 2):]


def short_names(names: list[str], width: int) -> list[str]:
    """Names that fit ``width`` and still tell the runs apart: a sweep folder they all share is left out
    ("depth/lr0.1_seed0" -> "lr0.1_seed0"); cut from the middle; where that makes two alike, their ends."""
    folders = {n.rpartition("/")[0] for n in names}
    if len(folders) == 1 and next(iter(folders)):
        names = [n.rpartition("/")[2] for n in names]
    short = [shorten(n, width) for n in names]
    if len(set(short)) < len(short):
        short = [n if len(n) <= width else "…" + n[-(width - 1):] for n in names]
    return short


def accuracy(r: RunSummary) -> float | None:
    return r.final_test_acc if r.final_test_acc is not None else r.best_val_acc


def _arch_key(arch: str) -> tuple[Any, ...]:
    """resnet8 < resnet20 < resnet110 (by depth, not by letters), then the rest by name."""
    m = re.fullmatch(r"([a-z_]+?)(\d+)(.*)", arch)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (arch, 0, "")


def sort_key(sort: str) -> Callable[[RunSummary], tuple[Any, ...]]:
    if sort == "accuracy":  # best first; runs without an accuracy last
        return lambda r: (accuracy(r) is None, -(accuracy(r) or 0.0), -r.updated)
    if sort == "arch":
        return lambda r: (_arch_key(r.arch), -r.updated)
    if sort == "status":  # live first, finished last
        return lambda r: (STATUS_ORDER.index(r.status) if r.status in STATUS_ORDER else len(STATUS_ORDER), -r.updated)
    return lambda r: (-r.updated,)  # date: newest first


def matches(r: RunSummary, text: str) -> bool:
    """Every word of ``text`` appears in the run's name (with its sweep), architecture, dataset or status."""
    hay = f"{r.label} {r.arch} {r.dataset} {r.status}".lower()
    return all(word in hay for word in text.lower().split())


def arrange(runs: list[RunSummary], sort: str = "date", text: str = "") -> list[RunSummary | SweepGroup]:
    """The rows in order: runs on their own and sweeps placed by the sort (a sweep by its first run), each
    sweep's row followed by its runs in the same order. The filter keeps a sweep whose name matches whole."""
    key = sort_key(sort)
    units: list[tuple[tuple[Any, ...], RunSummary | SweepGroup]] = []
    sweeps: dict[str, list[RunSummary]] = {}
    for r in runs:
        if r.sweep is not None:
            sweeps.setdefault(r.sweep, []).append(r)
        elif matches(r, text):
            units.append((key(r), r))
    for name, members in sweeps.items():
        kept = members if text and all(w in name.lower() for w in text.lower().split()) else [r for r in members if matches(r, text)]
        if kept:
            kept = sorted(kept, key=key)
            folder = kept[0].path.parent
            units.append((key(kept[0]), SweepGroup(name, folder, tuple(kept), planned_runs(folder, len(members)),
                                                   sum(r.status == "completed" for r in members),
                                                   any(r.live for r in members))))
    rows: list[RunSummary | SweepGroup] = []
    for _, unit in sorted(units, key=lambda u: u[0]):
        rows.append(unit)
        if isinstance(unit, SweepGroup):
            rows.extend(unit.runs)
    return rows
