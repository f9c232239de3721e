"""Device strings are checked against the machine before any work."""

from __future__ import annotations

import pytest
import torch

from core.errors import DeviceError
from core.hardware.devices import list_devices, resolve_device


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
    """(torch.cuda patched: a machine with two GPUs.) cuda:1 also becomes the current device, so that what
    looks at "the current device" (context creation, capability checks) looks at GPU 1, not GPU 0."""
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert chosen == [1]
    with pytest.raises(DeviceError, match="cuda:7 does not exist: this machine has cuda:0, cuda:1"):
        resolve_device("cuda:7")


@pytest.mark.parametrize("spec", ["gpu", "cuda:-1", "CUDA", "", "cpu0"])
def test_bad_syntax(spec):
    with pytest.raises(DeviceError, match="--device must be"):
        resolve_device(spec)


def test_list_devices_ends_with_cpu():
    devices = list_devices()
    assert devices[-1].spec == "cpu"


# ------------------------------------------------------------------ the device list the setup screen offers
GIB = 2**30
FAKE_GPUS = [("NVIDIA H200", int(139.3 * GIB), 143 * GIB), ("NVIDIA A100-SXM4-80GB", int(12.5 * GIB), 80 * GIB)]


def _fake_index(device=None) -> int:
    """torch.cuda's reading of a device argument: None (the current device), an int, 'cuda:N' or a torch.device."""
    if device is None:
        return 0
    if isinstance(device, str):
        device = torch.device(device)
    if isinstance(device, torch.device):
        if device.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {device}")
        device = 0 if device.index is None else device.index
    if not 0 <= device < len(FAKE_GPUS):
        raise AssertionError("Invalid device id")  # what torch.cuda raises for an index out of range
    return device


PCI_BUS = [0x41, 0x01]  # CUDA's order is not PCI order: NVML must be matched by address, not by index


class FakeNvml:
    """pynvml as seen on the same machine: it knows the GPUs by PCI address."""

    def __init__(self, free: list[int], unreadable: set[int] = frozenset()) -> None:
        self.free, self.unreadable, self.calls = free, unreadable, []

    def nvmlInit(self) -> None:
        self.calls.append("init")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByPciBusId(self, bus: str) -> int:
        index = [f"00000000:{b:02x}:00.0" for b in PCI_BUS].index(bus)
        if index in self.unreadable:
            raise RuntimeError("NVML_ERROR_NO_PERMISSION")
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int):
        from types import SimpleNamespace

        return SimpleNamespace(free=self.free[handle], total=FAKE_GPUS[handle][2])


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """torch.cuda as seen on a machine with two GPUs (same signatures as torch's own functions), and NVML.
    mem_get_info fails the test: it would create a CUDA context (~0.5 GiB) on every GPU just to list them."""
    import sys
    from types import SimpleNamespace

    def props(device=None):
        i = _fake_index(device)
        return SimpleNamespace(name=FAKE_GPUS[i][0], total_memory=FAKE_GPUS[i][2], pci_bus_id=PCI_BUS[i],
                               pci_device_id=0, pci_domain_id=0)

    def no_context(device=None):
        raise AssertionError("mem_get_info creates a CUDA context on the GPU it asks about")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(FAKE_GPUS))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: FAKE_GPUS[_fake_index(device)][0])
    monkeypatch.setattr(torch.cuda, "get_device_properties", props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", no_context)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: _fake_index(device))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    nvml = FakeNvml([g[1] for g in FAKE_GPUS])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return FAKE_GPUS


@pytest.mark.parametrize("capability, auto", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_is_bf16_only_where_the_gpu_has_it_natively(monkeypatch, capability, auto):
    """(torch.cuda patched.) V100 (7.0) and T4 (7.5) only emulate bf16 (torch.cuda.is_bf16_supported() says yes
    there): auto picks fp16 + GradScaler; asking for bf16 is refused naming the capability."""
    from core.errors import UserError
    from core.hardware.devices import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what torch says on a V100
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    device = torch.device("cuda", 1)
    assert resolve_precision("auto", device)[0] == auto
    if auto == "fp16":
        with pytest.raises(UserError, match=r"bf16 is only emulated on Tesla V100 \(compute capability 7\.\d"):
            resolve_precision("bf16", device)
    else:
        assert resolve_precision("bf16", device) == ("bf16", torch.bfloat16)


def test_list_devices_offers_each_gpu_with_its_name_and_free_memory_then_cpu(two_fake_gpus):
    devices = list_devices()
    assert [d.spec for d in devices] == ["cuda:0", "cuda:1", "cpu"]  # best first: the GPUs, in order
    h200, a100, cpu = devices
    assert h200.label.startswith("cuda:0") and "NVIDIA H200" in h200.label and "139.3 GiB free" in h200.label
    assert a100.label.startswith("cuda:1") and "NVIDIA A100-SXM4-80GB" in a100.label and "12.5 GiB free" in a100.label
    assert "H200" not in a100.label and "A100" not in h200.label
    assert (h200.free_bytes, a100.free_bytes) == (two_fake_gpus[0][1], two_fake_gpus[1][1])
    assert cpu.label.startswith("cpu") and "cores" in cpu.label


def test_a_gpu_whose_free_memory_cannot_be_read_is_still_offered(two_fake_gpus, monkeypatch):
    import sys

    sys.modules["pynvml"].unreadable = {1}  # e.g. NVML refuses one GPU
    devices = list_devices()
    assert [d.spec for d in devices] == ["cuda:0", "cuda:1", "cpu"]
    assert "NVIDIA A100-SXM4-80GB" in devices[1].label and "GiB" not in devices[1].label
    assert devices[1].free_bytes is None


def test_no_nvml_lists_the_gpus_without_free_memory(two_fake_gpus, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as when nvidia-ml-py is missing
    devices = list_devices()
    assert [d.spec for d in devices] == ["cuda:0", "cuda:1", "cpu"] and all(d.free_bytes is None for d in devices)


def test_the_freest_gpu_is_offered_first(two_fake_gpus, monkeypatch):
    import sys

    from tui.app import choices

    sys.modules["pynvml"].free = [2 * GIB, 70 * GIB]  # someone else is using cuda:0
    # (second: both GPUs in one DDP job)
    assert [spec for _, spec in choices.device_choices()] == ["cuda:1", "cuda*2", "cuda:0", "cpu"]
    sys.modules["pynvml"].free = [100 * GIB, 70 * GIB]
    assert [spec for _, spec in choices.device_choices()] == ["cuda:0", "cuda*2", "cuda:1", "cpu"]


async def test_the_setup_screen_offers_the_gpus_and_preselects_the_first(two_fake_gpus, tmp_path, monkeypatch):
    """The app's own device list (devices=None -> tui.app.choices.device_choices -> list_devices) with --device auto.
    Nothing is started: the fake GPUs are never trained on."""
    from textual.widgets import Select
    from textual.widgets._select import SelectCurrent

    from core.config.train_config import TrainConfig
    from tui.app.app import ResnetTui

    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "home"))
    base = TrainConfig(dataset="synthetic", arch="resnet20", epochs=1, device="auto")
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, base_config=base, devices=None)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.choices["device"] == ["cuda:0", "cuda*2", "cuda:1", "cpu"]
        select = screen.query_one("#f-device", Select)
        assert select.value == "cuda:0"
        assert "NVIDIA H200" in str(select.query_one(SelectCurrent).label)
        assert screen.config.device == "cuda:0"
        assert not app.is_training
