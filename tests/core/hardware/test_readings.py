"""The hardware readings of the training screen's panel: GPUs through a fake NVML module, the CPU for real."""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

from core.hardware.readings import HardwareMonitor, cuda_indices, reading_lines


class NVMLError(Exception):
    pass


def fake_nvml(fail_init: bool = False, no_power: bool = False) -> types.ModuleType:
    """What core.hardware.readings uses of pynvml, for two GPUs with fixed figures."""
    m = types.ModuleType("pynvml")
    m.NVML_TEMPERATURE_GPU = 0
    m.calls = []
    m.shut = False

    def init():
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def shutdown():
        m.shut = True

    def handle(i):
        m.calls.append(i)
        return i

    def power(h):
        if no_power:
            raise NVMLError("Not Supported")
        return 412_000 + 1000 * h

    m.nvmlInit, m.nvmlShutdown, m.nvmlDeviceGetHandleByIndex = init, shutdown, handle
    m.nvmlDeviceGetName = lambda h: f"NVIDIA H200 #{h}".encode()
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=97 - h, memory=40)
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(41 + h) * 2**30, total=140 * 2**30, free=0)
    m.nvmlDeviceGetTemperature = lambda h, sensor: 71 + h
    m.nvmlDeviceGetPowerUsage = power
    return m


def test_gpu_readings_through_nvml(monkeypatch):
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monitor = HardwareMonitor(cuda_indices("cuda", processes=2))
    r = monitor.read()
    assert r.problem is None and [g.index for g in r.gpus] == [0, 1]
    g = r.gpus[1]
    assert (g.name, g.utilisation, g.memory_used, g.temperature, g.power) == ("NVIDIA H200 #1", 96, 42 * 2**30, 72, 413.0)
    assert reading_lines(r)[0] == "GPU0 NVIDIA H200 #0  util 97%  mem 41.0/140.0 GiB  71°C  412 W"
    monitor.close()
    assert nvml.shut


def test_nvml_counts_every_gpu_cuda_only_the_visible_ones(monkeypatch):
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    HardwareMonitor(cuda_indices("cuda:1")).read()
    assert nvml.calls == [5]


def test_no_nvml_or_an_unsupported_reading_is_said_and_nothing_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_init=True))
    r = HardwareMonitor([0]).read()
    assert r.gpus == () and "NVML unavailable (NVML Shared Library Not Found)" in r.problem
    assert reading_lines(r) == [f"{r.problem}; the run goes on"]
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(no_power=True))
    r = HardwareMonitor([0]).read()
    assert r.problem is None and r.gpus[0].power is None and reading_lines(r)[0].endswith("71°C  -")
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: import fails
    assert "NVML unavailable" in HardwareMonitor([0]).read().problem


def test_cpu_readings_of_a_real_busy_process():
    assert cuda_indices("cpu") == [] and cuda_indices("mps") == []
    monitor = HardwareMonitor([], pid=os.getpid())
    first = monitor.read()
    assert first.problem is None and first.host.process_cpu is None  # the first reading starts the measurement
    end = time.process_time() + 0.3
    while time.process_time() < end:  # keep one core busy
        pass
    r = monitor.read()
    assert r.host.process_cpu is not None and r.host.process_cpu > 30
    assert r.host.process_memory > 10 * 2**20 and r.host.cores == os.cpu_count()
    assert len(r.host.load) == 3
    line = reading_lines(r)[0]
    assert line.startswith("CPU  trainer ") and "RSS" in line and "load" in line


def test_a_process_that_is_gone_is_a_problem_not_a_crash():
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    r = HardwareMonitor([], pid=child.pid).read()
    assert r.host is None and "no CPU readings" in r.problem


@pytest.mark.parametrize("device, processes, expected", [("cuda:3", 1, [3]), ("cuda", 4, [0, 1, 2, 3]), ("cuda", 1, [0])])
def test_cuda_indices(device, processes, expected):
    assert cuda_indices(device, processes) == expected
