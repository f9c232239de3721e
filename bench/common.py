"""Helpers shared by the bench scripts: the machine's description and JSON-line output."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path


def hardware() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    """The 1/5/15-minute load averages: benchmarks print them next to figures a busy machine would skew."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def time_calls(cls, names, times: dict[str, list[float]]) -> None:
    """Wrap each method ``names`` of ``cls`` so every call's seconds go into ``times[name]`` (this process, from now on)."""
    import time

    for name in names:
        real = getattr(cls, name)

        def wrapper(self, *a, _real=real, _name=name, **k):
            begin = time.perf_counter()
            try:
                return _real(self, *a, **k)
            finally:
                times[_name].append(time.perf_counter() - begin)

        setattr(cls, name, wrapper)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)
    sys.stdout.flush()


def forward_records(cmd: list[str], cwd: Path) -> list[dict]:
    """Run a benchmark script, passing its JSON lines on as they come (a time limit that cuts it short keeps what it
    measured) and its stderr to ours; its records, or AssertionError naming the script and its exit code."""
    import subprocess

    rows = []
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("{"):
                rows.append(json.loads(line))
                emit(rows[-1])
    assert child.returncode == 0, f"{Path(cmd[1]).name} exited {child.returncode} (its stderr is in speed.err)"
    return rows
