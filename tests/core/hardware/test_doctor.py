"""doctor's GPU rows on fake machines (a Probe of fakes: no NVML, no CUDA needed), and the checks as a whole:
every check answers, one that raises is a warn row, the app's notice names failures only."""

from __future__ import annotations

import os

from core.hardware.doctor import check_gpu_use, check_nccl, check_torch, check_visibility, install_fix, problem_line, run_checks
from core.hardware.probe import Check, GpuFacts, GpuProcess, NvmlFacts, Probe, TorchFacts

GIB = 2**30
H200 = GpuFacts(0, "NVIDIA H200", free=140 * GIB, total=141 * GIB)
TWO_GPUS = NvmlFacts(driver="550.54.15", cuda_driver=(12, 4), gpus=(H200, GpuFacts(1, "NVIDIA H200", 140 * GIB, 141 * GIB)))
NO_NVML = NvmlFacts(error="NVML Shared Library Not Found")
CU130 = TorchFacts("2.9.0+cu130", "13.0", cuda_available=False, device_count=0, nccl_available=True)
CU124_SEES_2 = TorchFacts("2.6.0+cu124", "12.4", cuda_available=True, device_count=2, nccl_available=True,
                          nccl_version="2.21.5")
CPU_ONLY = TorchFacts("2.9.0+cpu", None)


def fake_probe(nvml=TWO_GPUS, torch=CU124_SEES_2, env=None, nodes=("/dev/nvidia0", "/dev/nvidia1"), **more) -> Probe:
    return Probe(nvml=lambda: nvml, torch=lambda: torch, env=env or {"TERM": "xterm-256color"},
                 device_nodes=lambda: list(nodes), in_container=lambda: False, **more)


def test_a_torch_built_for_a_newer_cuda_than_the_driver_fails_with_the_build_to_install():
    row = check_torch(CU130, TWO_GPUS)
    assert row.status == "fail"
    assert "CUDA 13.0 build" in row.detail and "supports CUDA 12.4" in row.detail
    assert "download.pytorch.org/whl/cu124" in row.fix and row.fix.startswith("uv pip install")


def test_a_matching_or_older_build_is_ok_and_a_newer_minor_version_only_warns():
    assert check_torch(CU124_SEES_2, TWO_GPUS).status == "ok"
    older = TorchFacts("2.6.0+cu118", "11.8", True, 2)
    assert check_torch(older, TWO_GPUS).status == "ok"
    minor = TorchFacts("2.7.0+cu126", "12.6", True, 2)
    row = check_torch(minor, TWO_GPUS)
    assert row.status == "warn" and "minor-version compatibility" in row.detail and "whl/cu124" in row.fix


def test_the_fix_names_the_newest_wheel_index_the_driver_runs():
    assert "whl/cu124" in install_fix((12, 5))
    assert "whl/cu130" in install_fix((13, 2))
    assert "whl/cu118" in install_fix((11, 8))
    assert "ask the admin" in install_fix((11, 2)) and "uv pip" not in install_fix((11, 2))


def test_a_cpu_only_torch_where_nvml_sees_gpus_fails_in_both_rows():
    row = check_torch(CPU_ONLY, TWO_GPUS)
    assert row.status == "fail" and "CPU-only" in row.detail and "2 GPUs" in row.detail and "whl/cu124" in row.fix
    gpus = check_visibility(CPU_ONLY, TWO_GPUS, {}, ["/dev/nvidia0"], False)
    assert gpus.status == "fail" and "torch 0" in gpus.detail and "CPU-only" in gpus.detail


def test_no_nvml_and_no_gpu_is_cpu_training():
    assert check_torch(CPU_ONLY, NO_NVML).status == "ok"
    row = check_visibility(CPU_ONLY, NO_NVML, {}, [], False)
    assert (row.status, row.detail, row.fix) == ("info", "no NVIDIA GPU (CPU training)", "")
    assert "--gpus all" in check_visibility(CPU_ONLY, NO_NVML, {}, [], True).fix  # in a container: the hint


def test_gpus_torch_does_not_see_are_explained():
    hidden = TorchFacts("2.6.0+cu124", "12.4", cuda_available=False, device_count=0)
    row = check_visibility(hidden, TWO_GPUS, {"CUDA_VISIBLE_DEVICES": ""}, ["/dev/nvidia0", "/dev/nvidia1"], False)
    assert row.status == "warn" and "NVML sees 2 GPUs" in row.detail and "CUDA_VISIBLE_DEVICES='' hides 2" in row.detail
    assert "unset CUDA_VISIBLE_DEVICES" in row.fix
    one = TorchFacts("2.6.0+cu124", "12.4", cuda_available=True, device_count=1)
    row = check_visibility(one, TWO_GPUS, {"CUDA_VISIBLE_DEVICES": "1"}, ["/dev/nvidia0", "/dev/nvidia1"], False)
    assert row.status == "info" and "CUDA_VISIBLE_DEVICES='1' hides 1" in row.detail  # a choice, not a fault
    row = check_visibility(hidden, TWO_GPUS, {}, [], False)
    assert row.status == "fail" and "no /dev/nvidia* device nodes" in row.detail and "--gpus" in row.fix
    row = check_visibility(CU130, TWO_GPUS, {}, ["/dev/nvidia0", "/dev/nvidia1"], False)
    assert row.status == "fail" and "driver is too old" in row.detail and "whl/cu124" in row.fix
    assert check_visibility(CU124_SEES_2, TWO_GPUS, {}, [], False).status == "ok"


def test_other_processes_on_a_gpu_warn_with_their_count_and_memory():
    busy = GpuFacts(1, "NVIDIA H200", free=100 * GIB, total=141 * GIB,
                    others=(GpuProcess(4242, 30 * GIB, "alice"), GpuProcess(4343, 10 * GIB)))
    rows = check_gpu_use(NvmlFacts(driver="550", cuda_driver=(12, 4), gpus=(H200, busy)))
    assert [(r.name, r.status) for r in rows] == [("gpu0", "ok"), ("gpu1", "warn")]
    assert "2 other processes hold 40.0 GiB" in rows[1].detail and "4242 (alice)" in rows[1].detail
    assert "--device cuda:N" in rows[1].fix and rows[0].fix == ""
    full = GpuFacts(0, "NVIDIA H200", free=10 * GIB, total=141 * GIB)  # others unseen (another container)
    assert check_gpu_use(NvmlFacts(gpus=(full,)))[0].status == "warn"


def test_nccl_fails_only_where_cuda_gpus_are():
    assert check_nccl(CU124_SEES_2).status == "ok" and "2.21.5" in check_nccl(CU124_SEES_2).detail
    no_nccl = TorchFacts("2.6.0+cu124", "12.4", cuda_available=True, device_count=2, nccl_available=False)
    assert check_nccl(no_nccl).status == "fail"
    assert check_nccl(CPU_ONLY).status == "info" and "gloo" in check_nccl(CPU_ONLY).detail


def _statvfs(total: int, free: int):
    return lambda path: os.statvfs_result((4096, 4096, total // 4096, free // 4096, free // 4096, 0, 0, 0, 0, 255))


def test_every_check_answers_on_a_fake_machine(tmp_path):
    probe = fake_probe(statvfs=_statvfs(64 * GIB, 60 * GIB), nofile=lambda: (65536, 65536),
                       terminal_size=lambda: os.terminal_size((120, 40)), encoding=lambda: "UTF-8")
    rows = run_checks(probe, run_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")
    names = [r.name for r in rows]
    assert names == ["python", "torch", "torchvision", "gpus", "gpu0", "gpu1", "nccl", "shm", "runs", "cache",
                     "open-files", "terminal", "colour", "encoding", "tmux"]
    assert all(r.status in ("ok", "info") for r in rows), [r for r in rows if r.status not in ("ok", "info")]
    assert not (tmp_path / "runs").exists()  # checked through its parent, not made


def test_a_reader_or_check_that_raises_becomes_a_warn_row_not_a_traceback(tmp_path):
    def broken():
        raise RuntimeError("NVML went away")

    probe = Probe(nvml=broken, torch=lambda: CU124_SEES_2, env={}, statvfs=_statvfs(64 * GIB, 60 * GIB))
    rows = {r.name: r for r in run_checks(probe, run_dir=tmp_path, cache_dir=tmp_path)}
    for name in ("torch", "gpus", "gpu"):
        assert rows[name].status == "warn" and "RuntimeError: NVML went away" in rows[name].detail
    assert rows["nccl"].status == "ok"  # the others still answer


def test_the_apps_start_checks_only_what_is_quick_and_its_notice_names_failures_only(tmp_path):
    probe = fake_probe(torch=CU130, statvfs=_statvfs(64 * GIB, 60 * GIB))
    rows = run_checks(probe, run_dir=tmp_path, quick=True)
    assert {"terminal", "cache", "tmux"}.isdisjoint(r.name for r in rows)
    line = problem_line(rows)
    assert line.startswith("doctor: 2 problems: torch: 2.9.0+cu130 (CUDA 13.0 build)") and "resnet-tui doctor" in line
    assert problem_line([Check("gpu0", "warn", "busy"), Check("tmux", "info", "not inside")]) == ""


def test_the_real_nvml_reader_on_a_fake_pynvml(monkeypatch):
    """read_nvml's calls and unit conversions, with a stand-in pynvml (no driver needed): CUDA 12040 is 12.4,
    this process is not one of the others, a GPU that fails to answer is an error on its row only."""
    import sys
    from types import SimpleNamespace as NS

    from core.hardware.probe import read_nvml

    def handle(i):
        if i == 1:
            raise RuntimeError("GPU is lost")
        return i

    fake = NS(nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlSystemGetDriverVersion=lambda: b"550.54.15",
              nvmlSystemGetCudaDriverVersion=lambda: 12040, nvmlDeviceGetCount=lambda: 2,
              nvmlDeviceGetHandleByIndex=handle, nvmlDeviceGetName=lambda h: "NVIDIA H200",
              nvmlDeviceGetMemoryInfo=lambda h: NS(free=100 * GIB, total=141 * GIB),
              nvmlDeviceGetComputeRunningProcesses=lambda h: [NS(pid=os.getpid(), usedGpuMemory=GIB),
                                                              NS(pid=999_999_999, usedGpuMemory=None)])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    facts = read_nvml()
    assert (facts.error, facts.driver, facts.cuda_driver) == (None, "550.54.15", (12, 4))
    first, lost = facts.gpus
    assert (first.name, first.free, first.others) == ("NVIDIA H200", 100 * GIB, (GpuProcess(999_999_999, None, None),))
    assert lost.error == "RuntimeError: GPU is lost"
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert read_nvml().error
