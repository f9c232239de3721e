"""What `doctor` looks at (and the Check row it answers with), read through one object so that tests can put a fake machine in its place.

``Probe`` holds the readers: NVML (the driver: its version, the CUDA version it supports, each GPU's free
memory and the processes on it), torch (its build and what it sees), and the host (environment, device
nodes, /dev/shm, the open-file limit, the terminal). The real readers import torch and pynvml only when
called, never create a CUDA context (torch.cuda.is_available and device_count do not) and take well under a
second once torch is imported.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

STATUSES = ("ok", "warn", "fail", "info")


@dataclass(frozen=True)
class Check:
    """One row of doctor's answer."""

    name: str
    status: str  # one of STATUSES
    detail: str
    fix: str = ""  # one line; "" when nothing is to be done

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    memory: int | None  # bytes it holds on the GPU; None where NVML does not say
    user: str | None = None  # its owner, where this process may see it


@dataclass(frozen=True)
class GpuFacts:
    index: int  # NVML's index (every GPU of the machine, in PCI order)
    name: str
    free: int | None = None  # bytes
    total: int | None = None
    others: tuple[GpuProcess, ...] = ()  # compute processes that are not this one
    error: str | None = None  # why a reading is missing


@dataclass(frozen=True)
class NvmlFacts:
    error: str | None = None  # why NVML is unavailable (then nothing else is known)
    driver: str | None = None  # e.g. "550.54.15"
    cuda_driver: tuple[int, int] | None = None  # the newest CUDA the driver supports, e.g. (12, 4)
    gpus: tuple[GpuFacts, ...] = ()


@dataclass(frozen=True)
class TorchFacts:
    version: str
    cuda_build: str | None  # torch.version.cuda: "13.0"; None for a CPU-only build
    cuda_available: bool = False
    device_count: int = 0
    nccl_available: bool = False
    nccl_version: str | None = None
    cuda_warning: str | None = None  # what torch warned while looking for GPUs ("driver too old" ...)
    torchvision: str | None = None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _owner(pid: int) -> str | None:
    try:
        import psutil

        return psutil.Process(pid).username()
    except Exception:  # noqa: BLE001 - another container's pid, gone, or not ours to see
        return None


def _gpu(nvml, index: int) -> GpuFacts:
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = _text(nvml.nvmlDeviceGetName(handle))
    except Exception as e:  # noqa: BLE001
        return GpuFacts(index, f"GPU {index}", error=f"{type(e).__name__}: {e}")
    try:
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        free, total = int(memory.free), int(memory.total)
    except Exception as e:  # noqa: BLE001
        return GpuFacts(index, name, error=f"no memory reading ({type(e).__name__}: {e})")
    try:
        procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception as e:  # noqa: BLE001
        return GpuFacts(index, name, free, total, error=f"no process list ({type(e).__name__}: {e})")
    me = os.getpid()
    others = tuple(GpuProcess(int(p.pid), p.usedGpuMemory if isinstance(p.usedGpuMemory, int) else None,
                              _owner(int(p.pid)))
                   for p in procs if int(p.pid) != me)
    return GpuFacts(index, name, free, total, others)


def read_nvml() -> NvmlFacts:
    """The driver and every GPU it has, through NVML (no CUDA context); ``error`` when NVML is unavailable."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as e:  # noqa: BLE001 - no nvidia-ml-py, no libnvidia-ml.so, no driver
        return NvmlFacts(error=f"{e}" or type(e).__name__)
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            v = int(pynvml.nvmlSystemGetCudaDriverVersion())  # 12040 = CUDA 12.4
            cuda = (v // 1000, (v % 1000) // 10)
        except Exception:  # noqa: BLE001 - a driver too old to say
            cuda = None
        gpus = tuple(_gpu(pynvml, i) for i in range(int(pynvml.nvmlDeviceGetCount())))
        return NvmlFacts(None, driver, cuda, gpus)
    except Exception as e:  # noqa: BLE001
        return NvmlFacts(error=f"{type(e).__name__}: {e}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def read_torch() -> TorchFacts:
    import warnings
    from importlib import metadata

    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = bool(torch.cuda.is_available())
        count = int(torch.cuda.device_count()) if available else 0
    warning = next((str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()), None)
    try:
        import torch.distributed as dist

        nccl = bool(dist.is_available() and dist.is_nccl_available())
    except Exception:  # noqa: BLE001
        nccl = False
    nccl_version = None
    if available and nccl:
        try:
            v = torch.cuda.nccl.version()
            nccl_version = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except Exception:  # noqa: BLE001 - built with NCCL, the library does not load
            nccl = False
    try:
        vision = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        vision = None
    return TorchFacts(str(torch.__version__), torch.version.cuda, available, count, nccl, nccl_version, warning,
                      vision)


def _nofile() -> tuple[int, int]:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _terminal_size() -> os.terminal_size | None:
    """The size of the terminal stdout writes to; None when stdout is not a terminal (a pipe, a file)."""
    import sys

    try:
        return os.get_terminal_size(sys.stdout.fileno()) if sys.stdout.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


def _encoding() -> str:
    import locale

    return locale.getpreferredencoding(False)


def _device_nodes() -> list[str]:
    import glob

    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def _in_container() -> bool:
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


@dataclass
class Probe:
    """The readers the checks use; each field can be replaced by a fake."""

    nvml: Callable[[], NvmlFacts] = read_nvml
    torch: Callable[[], TorchFacts] = read_torch
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    device_nodes: Callable[[], list[str]] = _device_nodes
    in_container: Callable[[], bool] = _in_container
    statvfs: Callable[[str], os.statvfs_result] = os.statvfs
    nofile: Callable[[], tuple[int, int]] = _nofile
    terminal_size: Callable[[], os.terminal_size | None] = _terminal_size
    encoding: Callable[[], str] = _encoding
