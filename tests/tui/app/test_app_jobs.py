"""The app and several GPUs: with two GPUs or more the device list offers "all N GPUs (DDP)"; starting it
launches a job of that many processes in the background and attaches to its run. No GPU here: the device
list comes from a patched core.hardware.devices.list_devices, and the launch is recorded at the process boundary (the
job itself, with real processes, is tested in test_jobs.py)."""

from __future__ import annotations

import pytest
from pilot_helpers import wait_until
from textual.widgets import Select

from core.config.train_config import TrainConfig
from core.hardware.devices import DeviceInfo
from tui.app import choices
from tui.app.app import ResnetTui
from tui.cli.torchrun import Job

pytestmark = pytest.mark.usefixtures("app_home")


def fake_devices(gpus: int):
    return lambda: [DeviceInfo(f"cuda:{i}", f"cuda:{i}  Fake GPU  (80.0 GiB free)", 80 * 2**30) for i in range(gpus)] + [
        DeviceInfo("cpu", "cpu  (2 cores)")]


@pytest.mark.parametrize("gpus,offered", [(0, False), (1, False), (2, True), (8, True)])
def test_the_device_list_offers_every_gpu_in_one_job_from_two_gpus_on(monkeypatch, gpus, offered):
    import core.hardware.devices

    monkeypatch.setattr(core.hardware.devices, "list_devices", fake_devices(gpus))
    listed = choices.device_choices()
    ddp = [(label, spec) for label, spec in listed if spec.startswith(choices.ALL_GPUS)]
    assert bool(ddp) == offered
    if offered:
        assert ddp == [(f"all {gpus} GPUs (DDP, in the background)", f"cuda*{gpus}")]
        assert choices.job_processes(ddp[0][1]) == gpus
    assert choices.job_processes("cuda:0") == choices.job_processes("cpu") == 1


async def test_starting_all_gpus_launches_a_job_in_the_background_and_attaches(tmp_path, monkeypatch):
    import tui.cli.launch
    import tui.cli.torchrun

    launched = []
    planned = []

    def plan(nproc, nnodes, node_rank, addr, port, device, batch_size):
        planned.append((nproc, device, batch_size))
        return Job(int(nproc), master_port=29999)

    def launch(run_dir, **request):
        launched.append((run_dir, request))
        tui.cli.launch.write_request(run_dir, **request)  # as the real one does: the run reads as starting
        return 4242

    monkeypatch.setattr(tui.cli.torchrun, "plan_job", plan)
    monkeypatch.setattr(tui.cli.launch, "launch", launch)
    devices = [("cuda:0  Fake GPU", "cuda:0"), ("all 2 GPUs (DDP, in the background)", "cuda*2"), ("cpu", "cpu")]
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, devices=devices,
                    base_config=TrainConfig(dataset="synthetic", arch="resnet20", epochs=1, batch_size=64, name="j"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#f-device", Select).value = "cuda*2"
        await wait_until(pilot, lambda: "2 GPUs (DDP)" in str(app.screen.query_one("#summary").render()), 10)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: launched and app.attached is not None, 10)
        assert planned == [("2", "cuda", 64)]
        assert len(launched) == 1
        run_dir, request = launched[0]
        assert request["job"]["nproc"] == 2 and request["config"]["device"] == "cuda"
        assert run_dir.name == "j" and app.attached == run_dir
        assert not app.is_training  # nothing trains in the app's own process


async def test_the_training_screen_and_the_console_name_the_job_s_size(tmp_path):
    import dataclasses

    from core.runs.events import RunStarted
    from tui.app.screens.training import TrainingScreen
    from tui.cli.console import started_line

    started = RunStarted(run_name="r", run_dir="/runs/r", arch="resnet20", config={}, classes=("a", "b"),
                         num_params=270000, device="cuda:0", precision="bf16", epochs=2, start_epoch=0,
                         steps_per_epoch=10, train_size=1000, val_size=0, test_size=200, processes=4)
    assert "on cuda:0 (bf16) x 4 processes," in started_line(started)
    assert " x " not in started_line(dataclasses.replace(started, processes=1))
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False, devices=[("cpu", "cpu")])
    async with app.run_test(size=(100, 30)) as pilot:
        app.live.apply(started)
        app._show_training_screen()
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        screen.show_event(started)
        assert "4 processes (DDP)" in screen.sub_title
