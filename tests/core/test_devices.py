"""Device strings are checked against the machine before any work."""

from __future__ import annotations

import pytest
import torch

from core.devices import list_devices, resolve_device
from core.errors import DeviceError


def test_cpu_and_auto_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        assert resolve_device("auto") == torch.device("cpu")


def test_cuda_without_gpu_suggests_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA GPU.*--device cpu"):
        resolve_device("cuda")


def test_missing_gpu_index_lists_the_ones_there(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="cuda:7 does not exist: this machine has cuda:0, cuda:1"):
        resolve_device("cuda:7")


@pytest.mark.parametrize("spec", ["gpu", "cuda:-1", "CUDA", "", "cpu0"])
def test_bad_syntax(spec):
    with pytest.raises(DeviceError, match="--device must be"):
        resolve_device(spec)


def test_list_devices_ends_with_cpu():
    devices = list_devices()
    assert devices[-1].spec == "cpu"
