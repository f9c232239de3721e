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


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or None


def hardware_facts(device: object) -> dict:
    """What config.json records about where a run trained (reports and comparisons show it)."""
    import platform

    import torch

    facts = {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
             "python": platform.python_version()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        index = torch.device(str(device)).index or 0
        props = torch.cuda.get_device_properties(index)
        facts |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                  "cuda": torch.version.cuda, "gpu_count": torch.cuda.device_count()}
    return {"torch_version": str(torch.__version__), "hardware": facts}
