"""Device strings -> torch.device, checked against what this machine has before any work."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config.train_config import DEVICE_PATTERN
from core.errors import DeviceError, UserError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is absent is an error.

    A CUDA device also becomes the process's current one (torch.cuda.set_device): otherwise, with
    ``cuda:1``, checks that look at "the current device" and the lazily created context land on GPU 0.
    """
    if not isinstance(spec, str) or not DEVICE_PATTERN.match(spec):
        raise DeviceError(f"--device must be auto, cpu, mps, cuda or cuda:N (got {spec!r})")
    if spec == "auto":
        if torch.cuda.is_available():
            index = torch.cuda.current_device()
            torch.cuda.set_device(index)
            return torch.device("cuda", index)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("--device mps is not available on this machine; use --device cpu")
        return torch.device("mps")
    # cuda or cuda:N
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec} is not available: no CUDA GPU was found; use --device cpu")
    count = torch.cuda.device_count()
    index = int(spec.split(":")[1]) if ":" in spec else torch.cuda.current_device()
    if index >= count:
        have = ", ".join(f"cuda:{i}" for i in range(count))
        raise DeviceError(f"--device {spec} does not exist: this machine has {have}")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 on this GPU: compute capability 8.0 or later (Ampere, Hopper, ...). Not
    torch.cuda.is_bf16_supported(), which looks at the current device and also says yes where bf16 is only
    emulated (V100, T4: slower than fp16 with a GradScaler)."""
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


@dataclass(frozen=True)
class DeviceInfo:
    spec: str  # what --device takes
    label: str  # e.g. "cuda:0  NVIDIA H200  (138.2 GiB free)"
    free_bytes: int | None = None


def _nvml_free_bytes(props: list) -> list[int | None]:
    """Free memory of each GPU from NVML, matched by PCI address (NVML counts GPUs in PCI order, CUDA in its own
    order and only those CUDA_VISIBLE_DEVICES shows). No CUDA context is created (torch.cuda.mem_get_info would
    make one per GPU: ~0.5 GiB each on a shared server). None where NVML is missing or does not know the GPU."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML library or driver: no figure, never an error
        return [None] * len(props)
    free: list[int | None] = []
    try:
        for p in props:
            try:
                bus = f"{getattr(p, 'pci_domain_id', 0):08x}:{p.pci_bus_id:02x}:{p.pci_device_id:02x}.0"
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
                free.append(int(pynvml.nvmlDeviceGetMemoryInfo(handle).free))
            except Exception:  # noqa: BLE001 - one GPU NVML cannot read: no figure for it
                free.append(None)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return free


def list_devices() -> list[DeviceInfo]:
    """The devices this machine offers: GPUs in CUDA's order, then MPS, then the CPU."""
    found: list[DeviceInfo] = []
    if torch.cuda.is_available():
        props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
        for i, (p, free) in enumerate(zip(props, _nvml_free_bytes(props))):
            label = f"cuda:{i}  {p.name}" + (f"  ({free / 2**30:.1f} GiB free)" if free is not None else "")
            found.append(DeviceInfo(f"cuda:{i}", label, free))
    if _mps_available():
        found.append(DeviceInfo("mps", "mps  Apple GPU"))
    import os

    found.append(DeviceInfo("cpu", f"cpu  ({os.cpu_count()} cores)"))
    return found


def preferred_device(devices: list[DeviceInfo]) -> DeviceInfo:
    """What the setup form preselects: the GPU with the most free memory (on a shared server the first one
    is often busy), else the first device offered."""
    gpus = [d for d in devices if d.spec.startswith("cuda") and d.free_bytes is not None]
    return max(gpus, key=lambda d: d.free_bytes or 0) if gpus else devices[0]


def resolve_precision(precision: str, device: torch.device) -> tuple[str, torch.dtype | None]:
    """The autocast dtype (None = plain fp32) for a --precision value on a device."""
    if precision == "auto":
        if device.type == "cuda":
            return ("bf16", torch.bfloat16) if bf16_supported(device) else ("fp16", torch.float16)
        return "fp32", None
    if precision == "fp32":
        return "fp32", None
    if precision == "fp16" and device.type != "cuda":
        raise UserError(f"--precision fp16 needs a CUDA device (got {device}); use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not bf16_supported(device):
        major, minor = torch.cuda.get_device_capability(device)
        raise UserError(f"--precision bf16 is only emulated on {torch.cuda.get_device_name(device)} (compute capability "
                        f"{major}.{minor}; bf16 needs 8.0+); use fp16")
    return precision, (torch.bfloat16 if precision == "bf16" else torch.float16)


def use_channels_last(setting: str, device: torch.device) -> bool:
    """auto = on for CUDA and CPU: NHWC convolutions measured 18-33% faster on this project's 2-core CPU
    (resnet20/56/18) and are the fast layout for cuDNN with bf16; MPS keeps NCHW."""
    return setting == "on" or (setting == "auto" and device.type in ("cuda", "cpu"))


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window (the loop opens one per epoch); nothing off CUDA."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """Bytes the caching allocator handed out at most since the window opened (a host-side counter: no sync);
    None off CUDA, where torch keeps no such figure."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(device))


def total_memory(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    return int(torch.cuda.get_device_properties(device).total_memory)


def memory_capacity(device: torch.device) -> int | None:
    """Bytes this process can hold at most right now: what the device has free (other processes' use is not)
    plus what this process's caching allocator already reserved. None off CUDA."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free) + int(torch.cuda.memory_reserved(device))


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeErrors other backends raise when an allocation fails."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    text = str(error)
    # cuBLAS and cuDNN report a failed allocation in their own words (a handle or workspace that did not fit).
    markers = ("out of memory", "can't allocate memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED",
               "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE")
    return isinstance(error, RuntimeError) and any(m in text for m in markers)
