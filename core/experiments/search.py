"""A search: Optuna trials over a space of training options, every trial an ordinary run in the search's folder.

    RUNS/<name>/search.json    the spec: the space, the fixed options, preset and config-file values, sampler,
                               pruner, seed, storage URL (what makes the search this search)
    RUNS/<name>/study.db       the Optuna study (SQLite) unless --storage names another storage
    RUNS/<name>/best.json      the best trial by validation accuracy, with its test accuracy (tested once)
    RUNS/<name>/trial-NNN/     one run folder per trial (a retried trial continues its original's folder)
    RUNS/<name>/ask.lock       taken for the moment a worker asks the study for a trial (the budget is exact)

The objective is the validation accuracy after the last epoch; the test set is never evaluated during the
search (trials run with final_test off) and only the best trial is tested, after the trials are done. The
same command run again continues the search; another space under the same name is refused. This module is
torch- and Optuna-free (listing reads it); core.experiments.search_study holds the Optuna side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json
from core.config.presets import PRESETS
from core.config.train_config import TrainConfig
from core.errors import UserError
from core.runs import layout
from core.runs.layout import SEARCH_SPEC

BEST = "best.json"
SAMPLERS, PRUNERS = ("tpe", "random", "grid"), ("median", "hyperband", "none")
SPEC_KEYS = ("space", "fixed", "preset", "from_file", "sampler", "pruner", "seed")  # what makes two searches the same
DEFAULT_VAL_SPLIT = 0.1  # held out of the training images when --val-split is not given


def make_spec(name: str, space: dict[str, Any], fixed: dict[str, Any], *, sampler: str = "tpe", pruner: str = "median",
              seed: int = 0, preset: str | None = None, from_file: dict[str, Any] | None = None,
              storage: str = "") -> dict[str, Any]:
    if sampler not in SAMPLERS:
        raise UserError(f"--sampler must be one of {', '.join(SAMPLERS)} (got {sampler!r})")
    if pruner not in PRUNERS:
        raise UserError(f"--pruner must be one of {', '.join(PRUNERS)} (got {pruner!r})")
    if not space:
        raise UserError("nothing to search: give an option as a range (--lr 0.01:0.5:log) or a comma list (--arch resnet20,resnet32)")
    if sampler == "grid":
        from core.experiments.search_space import grid_of

        grid_of(space)  # refuses ranges
    base = base_config(preset, from_file or {}).replace(**fixed)
    if base.val_split <= 0:
        raise UserError("a search is judged on a validation split and --val-split is 0; give --val-split 0.1 "
                        "(a fraction) or 5000 (a count): the test set never chooses")
    return {"v": 1, "name": name, "space": space, "fixed": fixed, "preset": preset, "from_file": from_file or {},
            "sampler": sampler, "pruner": pruner, "seed": seed, "storage": storage, "objective": "val_acc"}


def base_config(preset: str | None, from_file: dict[str, Any]) -> TrainConfig:
    """Defaults, the preset, the config file; a search's default --val-split where none of them set one."""
    cfg = (TrainConfig(**PRESETS[preset].values) if preset else TrainConfig()).replace(**from_file)
    return cfg if cfg.val_split > 0 or "val_split" in from_file else cfg.replace(val_split=DEFAULT_VAL_SPLIT)


def trial_config(spec: dict[str, Any], params: dict[str, Any], folder: Path, run: str, device: str) -> TrainConfig:
    """A trial's settings: the base, the fixed options, its params; validation every epoch (the pruner reads
    it), no test evaluation (the search tests its best trial only)."""
    fixed = {k: v for k, v in spec["fixed"].items() if k != "device"}
    cfg = base_config(spec.get("preset"), spec.get("from_file") or {}).replace(**fixed).replace(**params)
    return cfg.replace(seed=int(spec["seed"]), name=run, runs_dir=str(folder), device=device, eval_every=1, final_test=False)


def default_storage(folder: Path) -> str:
    return f"sqlite:///{folder.resolve() / 'study.db'}"


def is_search_dir(path: str | Path) -> bool:
    return (Path(path) / SEARCH_SPEC).is_file()


def read_spec(folder: str | Path) -> dict[str, Any]:
    spec = layout.read_json(Path(folder) / SEARCH_SPEC)
    if spec is None or not isinstance(spec.get("space"), dict):
        raise UserError(f"{folder} is not a search folder (no readable {SEARCH_SPEC})")
    return spec


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        from core.experiments.search_space import describe

        return describe({"x": value})[2:]
    return f"{value:g}" if isinstance(value, float) else str(value)


def spec_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How ``new`` differs from ``old``: ['--lr 0.01..0.1 (log) (this search has 0.01..0.5 (log))', ...]."""
    said: list[str] = []
    for part in ("space", "fixed", "from_file"):
        before, now = old.get(part) or {}, new.get(part) or {}
        for key in sorted(set(before) | set(now)):
            if before.get(key) == now.get(key):
                continue
            flag = "--" + key.replace("_", "-")
            has = f"this search has {_shown(before[key])}" if key in before else "this search does not set it"
            said.append(f"{flag} {_shown(now[key])} ({has})" if key in now else f"{flag} not given ({has})")
    for key in ("preset", "sampler", "pruner", "seed"):
        if old.get(key) != new.get(key):
            said.append(f"--{key} {new.get(key)} (this search has {old.get(key)})")
    return said


def same_search(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all(old.get(k) == new.get(k) for k in SPEC_KEYS)


def open_search(folder: Path, spec: dict[str, Any]) -> bool:
    """Create the search's folder with its spec, or check that the one there is this spec. True: it existed."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} exists and is not a folder")
    if is_search_dir(folder):
        old = read_spec(folder)
        if not same_search(old, spec):
            said = spec_differences(old, spec) or ["its spec"]
            raise UserError(f"the search {folder.name} exists with another space: {'; '.join(said[:3])}"
                            f"{'; ...' if len(said) > 3 else ''}. Run its own command again to continue it, or pick another --name")
        if spec.get("storage") and old.get("storage") and spec["storage"] != old["storage"]:
            raise UserError(f"the search {folder.name} keeps its study in {old['storage']}, not {spec['storage']}; "
                            f"give that --storage (or none) to continue it")
        return True
    if folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"{folder} already exists and is not a search; pick another --name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        storage = spec.get("storage") or default_storage(folder)
        atomic_write_json(folder / SEARCH_SPEC, {**spec, "storage": storage, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    except OSError as e:
        raise UserError(f"cannot write the search folder {folder}: {e.strerror or e}") from None
    return False


def record_budget(folder: Path, trials: int) -> None:
    """The trials the latest command asked for, kept in the spec for viewers (not part of what the search is)."""
    spec = read_spec(folder)
    if spec.get("trials") != trials:
        atomic_write_json(folder / SEARCH_SPEC, {**spec, "trials": trials})


def read_best(folder: str | Path) -> dict[str, Any] | None:
    return layout.read_json(Path(folder) / BEST)
