"""What the machine is and how busy it is, read on CPUs and GPUs alike.

- Live readings for the training screen's panel: each GPU's utilisation, memory, temperature and power through
  NVML (nvidia-ml-py), or on a CPU the trainer process's CPU use and memory and the machine's load (psutil).
  NVML never creates a CUDA context and works for a run trained by another process (an attached run).
  Every failure (no driver, no library, a call a GPU does not support) becomes ``problem`` text: the panel
  says so and the run is not touched. Reading takes a few milliseconds: call it off the UI thread.
- The one-line memory figure of the status line (``memory_line``) and the facts config.json records about
  where a run trained (``hardware_facts``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuReading:
    index: int  # the CUDA index the run uses (cuda:N)
    name: str
    utilisation: int | None  # percent of the last sample period a kernel ran
    memory_used: int | None  # bytes
    memory_total: int | None
    temperature: int | None  # degrees C
    power: float | None  # watts


@dataclass(frozen=True)
class HostReading:
    process_cpu: float | None  # percent of one core (200% = two cores busy)
    process_memory: int | None  # resident bytes of the trainer process
    load: tuple[float, float, float] | None  # 1, 5 and 15 minute load averages
    cores: int


@dataclass(frozen=True)
class HardwareReading:
    gpus: tuple[GpuReading, ...] = ()
    host: HostReading | None = None
    problem: str | None = None  # why some reading is missing


def cuda_indices(device: str, processes: int = 1) -> list[int]:
    """The CUDA indices a run uses: cuda:N -> [N]; cuda with a job of P processes -> 0..P-1; else none."""
    if not device.startswith("cuda"):
        return []
    if ":" in device:
        return [int(device.split(":", 1)[1])]
    return list(range(max(1, processes)))


def _nvml_index(cuda_index: int) -> int:
    """NVML counts every GPU of the machine; CUDA only the visible ones, in CUDA_VISIBLE_DEVICES's order."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible) and cuda_index < len(visible):
        return int(visible[cuda_index])
    return cuda_index


class HardwareMonitor:
    """Reads the GPUs ``gpus`` (CUDA indices) or, without GPUs, the process ``pid`` and its machine."""

    def __init__(self, gpus: list[int], pid: int | None = None) -> None:
        self.gpus = gpus
        self.pid = pid or os.getpid()
        self._nvml = None
        self._nvml_error: str | None = None
        self._process = None

    def _open_nvml(self):
        if self._nvml is None and self._nvml_error is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception as e:  # noqa: BLE001 - ImportError, NVMLError (no driver), OSError (no library)
                self._nvml_error = f"no GPU readings: NVML unavailable ({e or type(e).__name__})"
        return self._nvml

    def _gpu(self, nvml, index: int) -> GpuReading:
        handle = nvml.nvmlDeviceGetHandleByIndex(_nvml_index(index))

        def ask(fn, *args):
            try:
                return fn(handle, *args)
            except Exception:  # noqa: BLE001 - a GPU may not support one reading (power on some boards)
                return None

        name = ask(nvml.nvmlDeviceGetName)
        util = ask(nvml.nvmlDeviceGetUtilizationRates)
        memory = ask(nvml.nvmlDeviceGetMemoryInfo)
        power = ask(nvml.nvmlDeviceGetPowerUsage)  # milliwatts
        return GpuReading(
            index=index, name=name.decode() if isinstance(name, bytes) else str(name or f"GPU {index}"),
            utilisation=getattr(util, "gpu", None), memory_used=getattr(memory, "used", None),
            memory_total=getattr(memory, "total", None),
            temperature=ask(nvml.nvmlDeviceGetTemperature, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
            power=power / 1000 if isinstance(power, (int, float)) else None)

    def _host(self) -> tuple[HostReading | None, str | None]:
        try:
            import psutil

            if self._process is None or self._process.pid != self.pid:
                self._process = psutil.Process(self.pid)
                self._process.cpu_percent(None)  # the first call only starts the measurement
                cpu = None
            else:
                cpu = self._process.cpu_percent(None)
            rss = self._process.memory_info().rss
            load = os.getloadavg() if hasattr(os, "getloadavg") else None
            return HostReading(cpu, rss, load, os.cpu_count() or 1), None
        except Exception as e:  # noqa: BLE001 - psutil missing, the process gone, no permission
            return None, f"no CPU readings ({type(e).__name__}: {e})"

    def read(self) -> HardwareReading:
        if not self.gpus:
            host, problem = self._host()
            return HardwareReading(host=host, problem=problem)
        nvml = self._open_nvml()
        if nvml is None:
            return HardwareReading(problem=self._nvml_error)
        try:
            return HardwareReading(gpus=tuple(self._gpu(nvml, i) for i in self.gpus))
        except Exception as e:  # noqa: BLE001 - a GPU gone, a driver reset
            return HardwareReading(problem=f"no GPU readings ({type(e).__name__}: {e})")

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
            self._nvml = None


def reading_lines(r: HardwareReading) -> list[str]:
    """The panel's text: one line per GPU, or one for the process and machine, then any problem."""
    gib = 2**30
    lines = []
    for g in r.gpus:
        parts = [f"GPU{g.index} {g.name}"]
        parts.append("util -" if g.utilisation is None else f"util {g.utilisation}%")
        if g.memory_used is not None and g.memory_total:
            parts.append(f"mem {g.memory_used / gib:.1f}/{g.memory_total / gib:.1f} GiB")
        parts.append("-" if g.temperature is None else f"{g.temperature}°C")
        parts.append("-" if g.power is None else f"{g.power:.0f} W")
        lines.append("  ".join(parts))
    if r.host is not None:
        h = r.host
        cpu = "…" if h.process_cpu is None else f"{h.process_cpu:.0f}%"
        load = "" if h.load is None else "  load " + " ".join(f"{v:.2f}" for v in h.load)
        mem = "" if h.process_memory is None else f"  RSS {h.process_memory / gib:.2f} GiB"
        lines.append(f"CPU  trainer {cpu} of {h.cores} cores{mem}{load}")
    if r.problem:
        lines.append(f"{r.problem}; the run goes on")
    return lines


# ----------------------------------------------------------------------------- memory and machine facts
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
