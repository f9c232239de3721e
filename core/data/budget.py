"""Whether a dataset's decoded images are held in memory or streamed from their files (--data-in-memory).

auto holds them when they fit a share of what is free where they would live: half of the available RAM on the
CPU (split among the processes of this machine: each holds its own copy), half of the free memory of the GPU
on CUDA (the tensors live there; the host copy is dropped once they are moved). The rest of the memory is the
model's, its activations' and the system's. The answer comes with its reason, which the run prints.
"""

from __future__ import annotations

import os

RAM_SHARE = 0.5
GPU_SHARE = 0.5


def available_ram() -> int | None:
    """Bytes of RAM available without swapping (Linux's MemAvailable), else free pages; None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_gpu_memory(device) -> int | None:
    import torch

    try:
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    except Exception:  # noqa: BLE001 - no CUDA, or a device that cannot be asked: fall back to RAM alone
        return None


def _mib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB" if n >= 2**24 else f"{n / 2**20:.2f} MiB"


def choose_residence(setting: str, need: int, device=None, processes: int = 1) -> tuple[bool, str]:
    """(hold in memory?, why) for ``need`` bytes of decoded images; ``device`` a torch.device or None (CPU)."""
    if setting == "yes":
        return True, f"--data-in-memory yes: {_mib(need)} of decoded images held in memory"
    if setting == "no":
        return False, f"--data-in-memory no: {_mib(need)} of decoded images streamed from the files"
    ram = available_ram()
    places = [("RAM" + (f" shared by {processes} processes" if processes > 1 else ""), RAM_SHARE, ram,
               None if ram is None else int(RAM_SHARE * ram / max(1, processes)))]
    if device is not None and getattr(device, "type", "") == "cuda":
        # The images are decoded in RAM (each process of the machine its copy) before they move to the GPU.
        gpu = free_gpu_memory(device)
        places.insert(0, (str(device), GPU_SHARE, gpu, None if gpu is None else int(GPU_SHARE * gpu)))
    known = [p for p in places if p[3] is not None]
    if not known:
        return True, f"{_mib(need)} of decoded images held in memory (free memory unknown)"
    where, share, free, budget = min(known, key=lambda p: p[3])
    said = f"{int(share * 100)}% of the {_mib(free)} free in {where}"
    if need <= budget:
        return True, f"{_mib(need)} of decoded images fit {said}: held in memory"
    return False, f"{_mib(need)} of decoded images exceed {said}: streamed from the files per batch"


def default_workers(processes: int = 1, device=None) -> int:
    """Loader processes per training process: one per core, at most 8, shared among this machine's processes.

    Training on the CPU itself gets one: the model needs the cores far more than decoding does (tv-resnet18 at
    224 px on 2 cores: ~1.6 s a batch of 16 against ~0.1 s to decode it), and two workers on two cores slowed
    the first steps by a third while they filled their prefetch queues."""
    if device is None or getattr(device, "type", "cpu") == "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores // max(1, processes)))
