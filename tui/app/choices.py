"""The choices the setup form offers: architectures (with params and MFLOPs) and devices.

Model statistics take a few seconds to compute for all twelve models, so they are cached in
the app's home folder per torch version and filled in by a background worker on first use.
"""

from __future__ import annotations

import json

from tui.app.state import home


def _cache_path():
    import torch

    return home() / f"model-stats-{str(torch.__version__).replace('+', '_')}.json"


def cached_stats() -> dict[str, list[float]]:
    try:
        raw = json.loads(_cache_path().read_text())
        return raw if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        return {}


def compute_stats() -> dict[str, list[float]]:
    """Stats for every registered model, from the cache where possible; rewrites the cache."""
    from core.atomic import atomic_write_json
    from core.models import list_models, model_stats

    stats = cached_stats()
    changed = False
    for name in list_models():
        if name not in stats:
            params, mflops = model_stats(name)
            stats[name] = [params, mflops]
            changed = True
    if changed:
        try:
            home().mkdir(parents=True, exist_ok=True)
            atomic_write_json(_cache_path(), stats)
        except OSError:
            pass
    return stats


def arch_choices(stats: dict[str, list[float]] | None = None) -> list[tuple[str, str]]:
    """(label, name) in registry order, which groups the families: He et al., ResNet, baseline."""
    from core.models import get_spec, list_models

    stats = stats if stats is not None else cached_stats()
    short = {"He et al. CIFAR ResNet": "He et al.", "ResNet (CIFAR stem)": "3x3 stem", "Baseline": "baseline"}
    out = []
    for name in list_models():
        family = short.get(get_spec(name).family, get_spec(name).family)
        if name in stats:
            params, mflops = stats[name]
            label = f"{name:<10} {params / 1e6:5.2f}M {mflops:5.0f} MFLOPs  {family}"
        else:
            label = f"{name:<10} {family}"
        out.append((label, name))
    return out


ALL_GPUS = "cuda*"  # the form's choice "all N GPUs (DDP)" is ALL_GPUS + N; not a --device value


def device_choices() -> list[tuple[str, str]]:
    """(label, spec), the one the form preselects first: the GPU with the most free memory, then the others;
    with two GPUs or more, also every GPU in one job (DDP, launched in the background)."""
    from core.hardware.devices import list_devices, preferred_device

    devices = list_devices()
    best = preferred_device(devices)
    choices = [(d.label, d.spec) for d in [best] + [d for d in devices if d is not best]]
    gpus = sum(1 for d in devices if d.spec.startswith("cuda"))
    if gpus > 1:
        choices.insert(1, (f"all {gpus} GPUs (DDP, in the background)", f"{ALL_GPUS}{gpus}"))
    return choices


def job_processes(device_choice: str) -> int:
    """How many processes a device choice asks for: N for "all N GPUs", else 1."""
    if device_choice.startswith(ALL_GPUS) and device_choice[len(ALL_GPUS):].isdigit():
        return int(device_choice[len(ALL_GPUS):])
    return 1
