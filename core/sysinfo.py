"""Memory figures for the training screen: the GPU's for CUDA runs, the process's otherwise."""

from __future__ import annotations

import os


def process_rss_bytes() -> int | None:
    """Resident memory of this process (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def memory_line(device: str) -> str:
    """e.g. "GPU 3.1 GiB allocated / 4.0 GiB reserved of 139.8 GiB" or "RAM 1.42 GiB (process)"."""
    gib = 2**30
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            index = torch.device(device).index or 0
            total = torch.cuda.get_device_properties(index).total_memory
            return (
                f"GPU {torch.cuda.memory_allocated(index) / gib:.2f} GiB allocated / "
                f"{torch.cuda.memory_reserved(index) / gib:.2f} GiB reserved of {total / gib:.1f} GiB"
            )
    rss = process_rss_bytes()
    return f"RAM {rss / gib:.2f} GiB (process)" if rss is not None else "RAM ?"
