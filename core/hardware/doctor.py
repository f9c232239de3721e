"""`resnet-tui doctor`: what breaks runs on a server one does not administer, one check a row.

Each row has a status (ok, warn, fail, info), a one-line detail and a one-line fix ("" when nothing is to be
done). The GPU rows are here: torch's CUDA build against the driver, GPUs NVML sees that torch does not (and
why), each GPU's free memory and other processes on it, NCCL. The host rows (/dev/shm, the runs and cache
folders, the open-file limit, the terminal) are in host_checks.py. Everything is read through a Probe
(probe.py), so tests run the checks on a fake machine. A check that raises becomes a ``warn`` row naming the
error: doctor never ends in a traceback.
"""

from __future__ import annotations

import platform
import sys
from functools import cached_property
from pathlib import Path
from typing import Callable

from core.hardware.probe import Check, NvmlFacts, Probe, TorchFacts

# PyTorch's wheel indexes by CUDA version (download.pytorch.org/whl/<tag>): the fix names the newest the driver runs.
WHEEL_CUDA = ((11, 8), (12, 1), (12, 4), (12, 6), (12, 8), (12, 9), (13, 0))
BUSY_FREE_FRACTION = 0.2  # a GPU with less of its memory free than this is busy


def cuda_version(text: str | None) -> tuple[int, int] | None:
    """"12.4" -> (12, 4)."""
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return None


def _v(version: tuple[int, int] | None) -> str:
    return "?" if version is None else f"{version[0]}.{version[1]}"


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def install_fix(driver_cuda: tuple[int, int] | None) -> str:
    """How to get a torch this driver runs: the newest PyTorch wheel index at or below its CUDA version."""
    fits = [t for t in WHEEL_CUDA if driver_cuda is not None and t <= driver_cuda]
    if not fits:
        return f"the driver (CUDA {_v(driver_cuda)}) is older than any torch build: ask the admin to update it"
    tag = "cu{}{}".format(*max(fits))
    return (f"uv pip install --reinstall torch torchvision --index-url https://download.pytorch.org/whl/{tag}, "
            "then start with `uv run --no-sync` (plain `uv run` puts the locked build back); or ask for a newer driver")


def _driver_too_old(t: TorchFacts, n: NvmlFacts) -> bool:
    """The driver cannot run this build at all (a newer CUDA major version)."""
    build = cuda_version(t.cuda_build)
    return build is not None and n.cuda_driver is not None and build[0] > n.cuda_driver[0]


def check_torch(t: TorchFacts, n: NvmlFacts) -> Check:
    """torch's CUDA build against the CUDA version the driver supports."""
    build = cuda_version(t.cuda_build)
    label = f"{t.version} ({'CPU-only' if t.cuda_build is None else f'CUDA {t.cuda_build}'} build)"
    driver = f"driver {n.driver} supports CUDA {_v(n.cuda_driver)}"
    if n.error is not None:
        return Check("torch", "ok", f"{label}; no NVIDIA driver to check it against")
    if t.cuda_build is None:
        if n.gpus:
            return Check("torch", "fail", f"{label}, but NVML sees {_plural(len(n.gpus), 'GPU')} ({driver}): "
                         "this torch cannot use them", install_fix(n.cuda_driver))
        return Check("torch", "ok", label)
    if build is None or n.cuda_driver is None:
        return Check("torch", "warn", f"{label}; cannot compare with the driver ({n.driver}): it does not say "
                     "which CUDA it supports", "")
    if build[0] > n.cuda_driver[0]:
        return Check("torch", "fail", f"{label}, but {driver}: torch cannot use the GPUs",
                     install_fix(n.cuda_driver))
    if build > n.cuda_driver:
        return Check("torch", "warn", f"{label}, {driver}: it runs through CUDA minor-version compatibility; "
                     "kernels compiled at run time (PTX) may fail", install_fix(n.cuda_driver))
    return Check("torch", "ok", f"{label}; {driver}")


def check_visibility(t: TorchFacts, n: NvmlFacts, env, nodes: list[str], in_container: bool) -> Check:
    """GPUs the driver has that torch does not see, and why."""
    seen = t.device_count if t.cuda_available else 0
    if n.error is not None:
        if seen:
            return Check("gpus", "info", f"torch sees {_plural(seen, 'GPU')}; NVML unavailable ({n.error}): "
                         "free memory and other users not checked")
        if nodes:
            return Check("gpus", "warn", f"{nodes[0]} exists but NVML does not load ({n.error}): the driver's "
                         "libraries are missing (a container without the NVIDIA runtime?)",
                         "start the container with --gpus all (NVIDIA Container Toolkit)")
        return Check("gpus", "info", "no NVIDIA GPU (CPU training)",
                     "in a container, start it with --gpus all to use the host's GPUs" if in_container else "")
    count = len(n.gpus)
    if count == 0:
        return Check("gpus", "info", f"driver {n.driver}, but NVML sees no GPU (CPU training)")
    names = ", ".join(f"{g.index}: {g.name}" for g in n.gpus)
    if seen >= count:
        return Check("gpus", "ok", f"torch sees all {_plural(count, 'GPU')} ({names})")
    lost = f"NVML sees {_plural(count, 'GPU')} ({names}), torch {seen}"
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if t.cuda_build is None:
        return Check("gpus", "fail", f"{lost}: this torch is a CPU-only build", install_fix(n.cuda_driver))
    if _driver_too_old(t, n):
        return Check("gpus", "fail", f"{lost}: the driver is too old for torch's CUDA {t.cuda_build} build "
                     f"(it supports CUDA {_v(n.cuda_driver)})", install_fix(n.cuda_driver))
    if cvd is not None:
        return Check("gpus", "warn" if seen == 0 else "info", f"{lost}: CUDA_VISIBLE_DEVICES={cvd!r} hides "
                     f"{count - seen}", "unset CUDA_VISIBLE_DEVICES, or list the GPUs to use in it" if seen == 0 else "")
    if len(nodes) < count:
        have = "no /dev/nvidia* device nodes" if not nodes else f"only {', '.join(nodes)}"
        return Check("gpus", "fail", f"{lost}: {have} (a container started without --gpus?)",
                     "start the container with --gpus all (docker) or --nv (apptainer)")
    why = f": torch says {t.cuda_warning}" if t.cuda_warning else ""
    return Check("gpus", "fail" if seen == 0 else "warn", f"{lost}{why}", "")


def check_gpu_use(n: NvmlFacts) -> list[Check]:
    """Each GPU's free memory and the other processes on it (another user's job, or a run of one's own)."""
    rows = []
    for g in n.gpus:
        name = f"gpu{g.index}"
        if g.error:
            rows.append(Check(name, "warn", f"{g.name}: {g.error}"))
            continue
        detail = f"{g.name}: {_gib(g.free)} of {_gib(g.total)} free"
        busy = g.free is not None and g.total and g.free < BUSY_FREE_FRACTION * g.total
        if g.others:
            known = [p.memory for p in g.others if p.memory is not None]
            held = _gib(sum(known)) if known else "? GiB"
            who = ", ".join(f"{p.pid}" + (f" ({p.user})" if p.user else "") for p in g.others[:3])
            more = ", ..." if len(g.others) > 3 else ""
            n = len(g.others)
            detail += f"; {n} other process{'es hold' if n > 1 else ' holds'} {held} (pid {who}{more})"
        status = "warn" if g.others or busy else "ok"
        fix = "another GPU may be free: pick it with --device cuda:N; `nvidia-smi` shows who holds this one" \
            if status == "warn" else ""
        rows.append(Check(name, status, detail, fix))
    return rows


def check_nccl(t: TorchFacts) -> Check:
    if t.cuda_available and t.device_count:
        if t.nccl_available:
            return Check("nccl", "ok", f"NCCL {t.nccl_version or '(version unknown)'}: multi-GPU runs can start")
        return Check("nccl", "fail", "CUDA GPUs, but this torch has no working NCCL: --nproc-per-node on GPUs "
                     "cannot start", "install an official Linux CUDA build of torch (it bundles NCCL)")
    return Check("nccl", "info", "no CUDA GPU: multi-process runs use gloo on the CPU")


class _Facts:
    """Each reading once, on first use; a reader that raises raises again for every check that needs it."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    @cached_property
    def torch(self) -> TorchFacts:
        return self.probe.torch()

    @cached_property
    def nvml(self) -> NvmlFacts:
        return self.probe.nvml()


def run_checks(probe: Probe | None = None, run_dir: str | Path = "checkpoints", cache_dir: str | Path = "",
               quick: bool = False) -> list[Check]:
    """Every check, in order. ``quick`` (the app's start) leaves out the terminal, the cache folder and the
    versions that need no action."""
    from core.hardware import host_checks as host

    probe = probe or Probe()
    f = _Facts(probe)
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("python", lambda: Check("python", "info", f"{platform.python_version()} ({sys.executable})")),
        ("torch", lambda: check_torch(f.torch, f.nvml)),
        ("torchvision", lambda: Check("torchvision", "info", f.torch.torchvision or "not installed")),
        ("gpus", lambda: check_visibility(f.torch, f.nvml, probe.env, probe.device_nodes(), probe.in_container())),
        ("gpu", lambda: check_gpu_use(f.nvml)),
        ("nccl", lambda: check_nccl(f.torch)),
        ("shm", lambda: host.check_shm(probe.statvfs)),
        ("runs", lambda: host.check_folder("runs", Path(run_dir))),
        ("cache", lambda: host.check_folder("cache", host.cache_folder(cache_dir))),
        ("open-files", lambda: host.check_nofile(probe.nofile())),
        ("terminal", lambda: host.check_terminal(probe.terminal_size())),
        ("colour", lambda: host.check_colour(probe.env)),
        ("encoding", lambda: host.check_encoding(probe.encoding(), probe.env)),
        ("tmux", lambda: host.check_session(probe.env)),
    ]
    if quick:
        skip = {"python", "torchvision", "cache", "terminal", "colour", "encoding", "tmux"}
        steps = [s for s in steps if s[0] not in skip]
    rows: list[Check] = []
    for name, step in steps:
        try:
            out = step()
        except Exception as e:  # noqa: BLE001 - a check that breaks is reported, never a traceback
            out = Check(name, "warn", f"the check itself failed: {type(e).__name__}: {e}")
        rows += out if isinstance(out, list) else [out]
    return rows


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def problem_line(checks: list[Check]) -> str:
    """The app's start-up notice: the failed checks in one line, or "" when none failed."""
    bad = [c for c in checks if c.status == "fail"]
    if not bad:
        return ""
    first = f"{bad[0].name}: {bad[0].detail}"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"doctor: {_plural(len(bad), 'problem')}: {first}{more}; run `resnet-tui doctor` for the fix"
