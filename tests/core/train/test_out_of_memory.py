"""Running out of device memory is a message, not a traceback: cuBLAS and cuDNN allocation failures count as
out of memory, and data that does not fit on the device is one line naming its size (torch's OOM error raised
by a patched ImageSet.to: no GPU needed)."""

from __future__ import annotations

import pytest
import torch
from helpers import run_cli

from core.data.tensors import ImageSet
from core.hardware.devices import is_out_of_memory


@pytest.mark.parametrize("message", [
    "CUDA out of memory. Tried to allocate 2.00 GiB",
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB",
])
def test_allocation_failures_in_any_words_are_out_of_memory(message):
    assert is_out_of_memory(RuntimeError(message))


def test_other_errors_are_not():
    assert not is_out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only runtime errors


def test_data_that_does_not_fit_on_the_device_is_one_line_and_writes_no_run(tmp_path, capsys, monkeypatch):
    def too_big(self, device):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 147.00 MiB")

    monkeypatch.setattr(ImageSet, "to", too_big)
    code, out, err = run_cli(capsys, "train", "--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "100",
                             "--epochs", "1", "--device", "cpu", "--run-dir", tmp_path / "runs")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines[-1].startswith("Error: the data (") and "does not fit in cpu's memory" in lines[-1], err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
