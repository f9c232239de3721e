"""Before a search starts: every trial's settings checked at the edges of the space, and its workers placed.

Workers: --devices names them, --gpus all takes every visible GPU, --workers N alone takes N GPUs if the search
trains on CUDA, else N CPU workers that share the cores (each gets cores // N threads). More workers than
devices (or than cores) is refused: two trials on one device would each run at half speed and time each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from core.errors import UserError


def _edges(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Params that reach every choice and both bounds of every range, the other params at their first value."""
    first = {k: (d["choices"][0] if "choices" in d else d["low"]) for k, d in space.items()}
    out = [first]
    for key, d in space.items():
        for value in (d["choices"][1:] if "choices" in d else [d["high"]]):
            out.append({**first, key: value})
    return out


def check_trials(spec: dict[str, Any], folder: Path) -> None:
    """The rules `train` checks, for the space's edges; the files (data, weights) once."""
    from core.config.validate import check_paths
    from core.experiments.search import trial_config
    from tui.cli.common import CliError
    from tui.cli.train import _check

    for params in _edges(spec["space"]):
        cfg = trial_config(spec, params, folder, "trial-000", "auto")
        try:
            _check(cfg)
        except CliError as e:
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            raise UserError(f"{e} (a trial of this space: {shown})") from None
    errors = check_paths(trial_config(spec, _edges(spec["space"])[0], folder, "", "auto"))
    if errors:
        raise UserError(str(errors[0]))


def plan_workers(workers: Optional[int], devices: Optional[str], gpus: Optional[str],
                 spec: dict[str, Any]) -> list[tuple[str, int]]:
    """[(device, threads)] one per worker."""
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be 1 or more (got {workers})")
    if devices is not None and gpus is not None:
        raise UserError("give --devices or --gpus, not both")
    if gpus is not None and gpus != "all":
        raise UserError(f"--gpus takes 'all' (got {gpus!r}); name devices with --devices cuda:0,cuda:1")
    import torch

    from core.hardware.devices import resolve_device

    if gpus == "all":
        count = torch.cuda.device_count()
        if count == 0:
            raise UserError("--gpus all: no CUDA GPU is visible here")
        names = [f"cuda:{i}" for i in range(count)]
    elif devices is not None:
        names = [d.strip() for d in devices.split(",")]
        if any(not d for d in names) or len(set(names)) != len(names):
            raise UserError(f"--devices {devices!r}: give distinct devices separated by commas, e.g. cuda:0,cuda:1")
        for d in names:
            resolve_device(d)
    else:
        wanted = str(spec["fixed"].get("device", "auto"))
        kind = resolve_device(wanted).type
        if kind == "cuda":
            names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if wanted in ("auto", "cuda") else [wanted]
        elif kind == "cpu":
            cores = os.cpu_count() or 1
            n = workers or 1
            if n > cores:
                raise UserError(f"--workers {n}: more workers than CPU cores ({cores}); each worker needs a core")
            return [("cpu", max(1, cores // n))] * n
        else:
            names = [kind]
        if workers is None:
            names = names[:1]
    if workers is not None:
        if workers > len(names):
            raise UserError(f"--workers {workers}: more workers than devices ({len(names)}: {', '.join(names)})")
        names = names[:workers]
    cores = os.cpu_count() or 1
    return [(d, max(1, cores // len(names))) for d in names]
