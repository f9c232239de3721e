"""Peak GPU memory is reported: the allocator's peak (max_memory_allocated), its window reset at every epoch's
start, in the progress, the epoch's event and metrics row, and the out-of-memory message. No GPU here: the
helpers are tested against a patched torch.cuda, the loop with the helpers patched to a fake allocator."""

from __future__ import annotations

import importlib

import pytest
import torch
from helpers import fit_config, tiny_bundle

import core.train.loop as train_loop
from core.hardware import devices
from core.runs.events import BatchProgress, EpochEnded, EpochStarted
from core.runs.layout import read_metrics
from core.train import fit

train_fit = importlib.import_module("core.train.failures")

pytestmark = pytest.mark.usefixtures("every_batch_reported")


config = fit_config


def test_helpers_read_the_cuda_allocator_of_the_given_device(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: seen.append(("reset", d)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: seen.append(("peak", d)) or 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: (10, 40))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: 5)
    gpu = torch.device("cuda", 1)
    devices.reset_peak_memory(gpu)
    assert devices.peak_memory(gpu) == 3 * 2**30
    assert devices.memory_capacity(gpu) == 15  # free + what this process's allocator holds
    assert seen == [("reset", gpu), ("peak", gpu)]
    cpu = torch.device("cpu")
    devices.reset_peak_memory(cpu)
    assert devices.peak_memory(cpu) is None and devices.total_memory(cpu) is None and devices.memory_capacity(cpu) is None
    assert len(seen) == 2  # nothing asked of torch.cuda for the CPU


class FakeAllocator:
    """Peaks grow within an epoch and start again at each reset."""

    def __init__(self) -> None:
        self.resets = 0
        self.reads = 0

    def reset(self, device) -> None:
        self.resets += 1
        self.reads = 0

    def peak(self, device) -> int:
        self.reads += 1
        return (self.resets * 100 + self.reads) * 2**20


def test_progress_epoch_event_and_metrics_carry_the_peak_reset_per_epoch(tmp_path, monkeypatch):
    fake = FakeAllocator()
    monkeypatch.setattr(train_loop, "reset_peak_memory", fake.reset)
    monkeypatch.setattr(train_loop, "peak_memory", fake.peak)
    events = []
    result = fit(config(tmp_path), events.append, data=tiny_bundle())
    assert result.status == "completed"
    assert fake.resets == 2 == len([e for e in events if isinstance(e, EpochStarted)])
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress and all(e.peak_memory is not None for e in progress)
    first_epoch = [e.peak_memory for e in progress if e.epoch == 1]
    assert first_epoch == sorted(first_epoch) and first_epoch[0] == 101 * 2**20  # read after the epoch's reset
    ended = [e for e in events if isinstance(e, EpochEnded)]
    rows = read_metrics(result.run_dir)
    for e, row in zip(ended, rows, strict=True):
        assert e.peak_memory is not None and e.peak_memory // 2**20 // 100 == e.epoch  # this epoch's window
        assert row["peak_memory_mb"] == round(e.peak_memory / 2**20, 1)


def test_off_cuda_there_is_no_peak_figure(tmp_path):
    events = []
    result = fit(config(tmp_path, epochs=1), events.append, data=tiny_bundle())
    assert all(e.peak_memory is None for e in events if isinstance(e, (BatchProgress, EpochEnded)))
    assert read_metrics(result.run_dir)[0]["peak_memory_mb"] is None


def test_out_of_memory_while_training_names_the_peak_and_the_device_size(tmp_path, monkeypatch):
    real = torch.nn.CrossEntropyLoss.forward
    calls = {"n": 0}

    def fails_on_the_fifth(self, logits, target):
        calls["n"] += 1
        if calls["n"] == 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, logits, target)

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", fails_on_the_fifth)
    monkeypatch.setattr(train_fit, "peak_memory", lambda d: int(78.5 * 2**30))
    monkeypatch.setattr(train_fit, "total_memory", lambda d: 80 * 2**30)
    result = fit(config(tmp_path), data=tiny_bundle())
    assert result.status == "failed"
    assert result.error == ("out of memory on cpu at batch size 32 (simplecnn; peak 78.50 GiB allocated of 80.00 GiB); "
                            "try --batch-size 16 or --auto-batch-size")
    assert (result.run_dir / "last.pt").exists()


def test_the_batch_probe_keeps_headroom_measured_on_its_second_step(tmp_path, monkeypatch):
    """A size whose steady-state peak would leave under 10% of the GPU free is halved, like one that runs out."""
    import core.train.batch_probe as setup_module
    from core.runs.events import Notice

    gib = 2**30
    peaks = iter([95 * gib, 80 * gib])  # read once per size, after its second step: 32, then 16
    seen, resets = [], []
    monkeypatch.setattr(setup_module, "reset_peak_memory", lambda d: resets.append(len(seen)))
    monkeypatch.setattr(setup_module, "peak_memory", lambda d: seen.append(next(peaks)) or seen[-1])
    monkeypatch.setattr(setup_module, "memory_capacity", lambda d: 100 * gib)
    monkeypatch.setattr(setup_module, "total_memory", lambda d: 100 * gib)
    notices = []
    result = fit(config(tmp_path, epochs=1, auto_batch_size=True), lambda e: notices.append(e) if isinstance(e, Notice) else None,
                 data=tiny_bundle())
    assert result.status == "completed"
    # 32: its second step peaked at 95 of 100 GiB (under 10 free) -> 16: 80 GiB, 20 free -> kept
    assert seen == [95 * gib, 80 * gib]
    assert resets == [0, 0, 1, 1]  # two steps per size, the window reset before each: the second step's peak
    assert any("batch size 32 does not fit in memory; using 16" in n.message for n in notices)
    assert setup_module.fits_with_headroom(90 * gib, 100 * gib, 100 * gib)
    assert not setup_module.fits_with_headroom(91 * gib, 100 * gib, 100 * gib)
