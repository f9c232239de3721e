"""The app as a viewer and remote control of runs trained by other processes: the runs screen marks live
runs, enter attaches, p / c / s act through the run's control file (and the acks come back as
notifications), two apps attached to one run both work, quitting a watched run never touches it, and
"move to background" hands an in-app run to a detached process. Runs are real background processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import run_here

from core.config.train_config import TrainConfig
from core.runs.catalog import summarize
from core.runs.event_log import read_events
from core.runs.events import ControlAck, RunStarted
from tui.app.app import ResnetTui
from tui.app.screens.runs import RunsScreen
from tui.app.screens.training import TrainingScreen

ROOT = Path(__file__).resolve().parents[3]
DEVICES = [("cpu  (test)", "cpu")]
CONFIG = dict(dataset="synthetic", arch="resnet20", train_subset=1600, batch_size=40, image_size=16, device="cpu",
              eval_every=0, seed=7)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app_home")]


def cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def options(**cfg) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in (CONFIG | cfg).items()]


def background(tmp_path: Path, epochs: int) -> Path:
    done = cli("train", *options(epochs=epochs), "--run-dir", tmp_path / "runs", "--background", "--json")
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["run_dir"])


def make_app(tmp_path: Path) -> ResnetTui:
    return ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False,
                     base_config=TrainConfig(**CONFIG, epochs=2), devices=DEVICES)


async def until(pilot, predicate, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_attach_from_the_runs_screen_then_pause_checkpoint_continue_stop_from_two_apps(tmp_path):
    run = background(tmp_path, epochs=40)
    first, second = make_app(tmp_path), make_app(tmp_path)
    async with first.run_test(size=(100, 30)) as p1, second.run_test(size=(100, 30)) as p2:
        await p1.press("ctrl+r")
        await until(p1, lambda: isinstance(first.screen, RunsScreen) and any(r.live for r in first.screen.runs), 60, "a live run listed")
        await p1.pause(0.2)
        await p1.press("enter")
        await until(p1, lambda: isinstance(first.screen, TrainingScreen) and first.attached == run.resolve(), 30, "attached")
        await until(p1, lambda: first.live.global_step > 0, 120, "progress from the stream")
        second.attach(run)
        await until(p2, lambda: second.live.global_step > 0, 60, "the second app following")

        await p1.press("p")
        await until(p1, lambda: first.live.status == "paused", 60, "paused (seen through the stream)")
        await until(p2, lambda: second.live.status == "paused", 30, "the second app seeing the pause")
        await until(p1, lambda: any(m.startswith("paused at epoch") for m in notes(first)), 10, "the ack")
        step = first.live.global_step

        await p2.press("c")  # the other app asks for a checkpoint of the paused run
        await until(p2, lambda: any(m.startswith("saved last.pt at") for m in notes(second)), 60, "the save ack")
        assert not any(m.startswith("saved last.pt") for m in notes(first))  # acks go to who asked

        await p2.press("p")  # ... and continues it
        await until(p1, lambda: first.live.status == "running" and first.live.global_step > step, 60, "running again")

        await p1.press("s")
        await p1.pause(0.3)
        await p1.press("y")
        await until(p1, lambda: first.live.status == "stopped", 60, "stopped")
        await until(p2, lambda: second.live.status == "stopped", 30, "the second app seeing the stop")
    assert summarize(run).status == "stopped" and not summarize(run).live
    acks = [e.request for e in (r.event for r in read_events(run)) if isinstance(e, ControlAck)]
    assert acks == ["pause", "checkpoint", "continue", "stop"]


async def test_quitting_an_app_that_watches_leaves_the_run_alone(tmp_path):
    run = background(tmp_path, epochs=3)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.attach(run)
        await until(pilot, lambda: app.live.global_step > 0, 120, "progress")
        await pilot.press("q")  # no question: the app only watches
        await until(pilot, lambda: not app.is_running, 10, "the app to quit")
    watched = cli("runs", "watch", run)
    assert watched.returncode == 0, watched.stderr  # the run went on to complete
    assert [r.event for r in read_events(run) if isinstance(r.event, ControlAck)] == []


async def test_move_to_background_hands_the_run_over_and_the_weights_match_a_straight_run(tmp_path, capsys):
    straight = run_here(capsys, "train", *options(epochs=2), "--run-dir", tmp_path / "straight", "--name", "s")
    assert straight.returncode == 0, straight.stderr
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(TrainConfig(**CONFIG, epochs=2, runs_dir=str(tmp_path / "runs"), name="moved"))
        await until(pilot, lambda: app.live.global_step >= 3, 120, "in-app training")
        await pilot.press("b")
        await until(pilot, lambda: app.attached is not None, 60, "attached to the detached process")
        assert not app.is_training
        assert any(m.startswith("moved to the background") for m in notes(app))
        await until(pilot, lambda: app.live.status == "completed", 600, "the detached process to finish")
    run = tmp_path / "runs" / "moved"
    sessions = [r.event for r in read_events(run) if isinstance(r.event, RunStarted)]
    assert len(sessions) == 2
    moved = torch.load(run / "final.pt", weights_only=True)["model"]
    reference = torch.load(tmp_path / "straight" / "s" / "final.pt", weights_only=True)["model"]
    assert all(torch.equal(moved[k], reference[k]) for k in reference)


async def test_q_then_b_moves_the_run_to_the_background_and_quits(tmp_path):
    from tui.app.screens.confirm import Choose

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(TrainConfig(**CONFIG, epochs=3, runs_dir=str(tmp_path / "runs"), name="left"))
        await until(pilot, lambda: app.live.global_step >= 2, 120, "in-app training")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, Choose), 10, "the question")
        await pilot.press("b")
        await until(pilot, lambda: not app.is_running, 60, "the app to quit once the run is handed over")
    run = tmp_path / "runs" / "left"
    watched = cli("runs", "watch", run)
    assert watched.returncode == 0, watched.stderr
    assert len([r for r in read_events(run) if isinstance(r.event, RunStarted)]) == 2


async def test_ctrl_b_on_the_setup_screen_starts_a_background_run_and_follows_it(tmp_path):
    app = ResnetTui(runs_dir=str(tmp_path / "runs"), poll_memory=False,
                    base_config=TrainConfig(**CONFIG, epochs=1, name="bg"), devices=DEVICES)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        await pilot.press("ctrl+b")
        await until(pilot, lambda: app.attached is not None, 30, "attached to the started run")
        assert not app.is_training  # nothing trains in the app's own process
        await until(pilot, lambda: app.live.status == "completed", 600, "the background run to finish")
    run = tmp_path / "runs" / "bg"
    assert summarize(run).status == "completed" and (run / "log.txt").is_file()


async def test_a_paused_run_moved_to_the_background_stays_paused(tmp_path):
    from core.runs.events import BatchProgress, Paused

    def second_session() -> list:
        events = [r.event for r in read_events(run)]
        starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
        return events[starts[1]:] if len(starts) > 1 else []

    app = make_app(tmp_path)
    run = tmp_path / "runs" / "held"
    seen: list[str] = []
    show = app.show_event

    def recording(event) -> None:
        show(event)
        seen.append(str(app.live.status))

    app.show_event = recording
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(TrainConfig(**CONFIG, epochs=3, runs_dir=str(tmp_path / "runs"), name="held"))
        await until(pilot, lambda: app.live.global_step >= 2, 120, "in-app training")
        app.action_toggle_pause()
        await until(pilot, lambda: app.control.pause.is_set(), 10, "the pause")
        app.action_move_to_background()
        await until(pilot, lambda: app.attached is not None, 60, "the hand-over")
        await until(pilot, lambda: any(isinstance(e, ControlAck) and e.outcome.startswith("paused at")
                                       for e in second_session()), 60, "the detached process to take the pause")
        await pilot.pause(1.5)
        started, *rest = second_session()
        handed_at = started.start_step % started.steps_per_epoch  # the batch the app saved at
        # The new process pauses where it starts (reporting that batch) and trains no batch after it.
        assert [(e.epoch, e.batch) for e in rest if isinstance(e, Paused)] == [(1, handed_at)]
        assert {e.batch for e in rest if isinstance(e, BatchProgress)} <= {handed_at}
        assert "moving to the background" in seen and "stopped" not in seen  # the header never said stopped
    stopped = cli("runs", "stop", run)
    assert stopped.returncode == 0, stopped.stderr
