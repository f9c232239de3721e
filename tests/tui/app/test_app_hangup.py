"""The app in a real terminal (a pty) hangs up while it trains: the run is saved at its batch, handed to a
detached process, and finishes there with weights bit-identical to an uninterrupted run; the next app
shows it live. Real processes throughout: the terminal's master side is closed as an SSH session dies."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
import torch
from helpers import run_here

from core.runs.catalog import list_runs, summarize
from core.runs.event_log import read_events
from core.runs.events import BatchProgress, CheckpointSaved, RunFinished, RunStarted

ROOT = Path(__file__).resolve().parents[3]
# resnet20 on 16-px synthetic images, 40 batches an epoch: a few seconds an epoch on 2 CPU cores.
CONFIG = dict(dataset="synthetic", arch="resnet20", train_subset=1600, batch_size=40, image_size=16, device="cpu",
              eval_every=0, seed=7, epochs=2)


def prepare_home(home: Path, runs: Path) -> None:
    """The app's memory, as a person's would hold it after setting up this run once (and model stats cached)."""
    from core.config.train_config import TrainConfig
    from core.models import list_models

    home.mkdir(parents=True)
    (home / "last-config.json").write_text(json.dumps(TrainConfig(**CONFIG, runs_dir=str(runs)).to_dict()))
    stats = {name: [1.0, 1.0] for name in list_models()}
    (home / f"model-stats-{str(torch.__version__).replace('+', '_')}.json").write_text(json.dumps(stats))


class Terminal:
    """`resnet-tui` in a pty of 100x30, its screen output drained in a thread (as a terminal would)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "tui.cli", *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.output = bytearray()
        self._closed = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.output += os.read(self.fd, 65536)
            except OSError:
                return

    def wait_for(self, text: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} never appeared on the screen"
            time.sleep(0.05)

    def press(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def hang_up(self) -> None:
        """What sshd does when the connection dies: the terminal's master side goes away (SIGHUP to the app)."""
        self._closed = True
        os.close(self.fd)

    def wait(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        raise AssertionError("the app did not end after the hang-up")


def wait_for(predicate, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_hang_up_hands_the_run_to_a_detached_process_that_finishes_it_bit_for_bit(tmp_path, capsys):
    runs, home = tmp_path / "runs", tmp_path / "home"
    prepare_home(home, runs)
    env = {**os.environ, "RESNET_TUI_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}

    straight = run_here(capsys, "train", *[f"--{k.replace('_', '-')}={v}" for k, v in CONFIG.items()],
                        "--run-dir", tmp_path / "straight", "--name", "s")  # the reference run, in this process
    assert straight.returncode == 0, straight.stderr

    app = Terminal(["--run-dir", str(runs)], env)
    app.wait_for(b"Start")
    time.sleep(1.0)  # the form takes focus
    app.press(b"\x13")  # ctrl+s: start the remembered run
    wait_for(lambda: any(runs.glob("*/events.jsonl")), 120, "the run to start")
    run = next(runs.glob("*/events.jsonl")).parent
    wait_for(lambda: any(isinstance(r.event, BatchProgress) and r.event.global_step >= 5 for r in read_events(run)),
             120, "some training")
    app.hang_up()
    assert app.wait() == 0  # the app ended quietly once the run was handed over

    wait_for(lambda: summarize(run).live or summarize(run).status == "completed", 30, "the detached process")
    t0 = time.monotonic()
    listed = {s.name: s for s in list_runs(runs)}  # what the next `resnet-tui` shows at once
    assert listed[run.name].live or listed[run.name].status == "completed"
    seconds_to_show = time.monotonic() - t0

    wait_for(lambda: summarize(run).status == "completed", 600, "the background run to finish")
    events = [r.event for r in read_events(run)]
    second = [i for i, e in enumerate(events) if isinstance(e, RunStarted)][1]  # the detached session
    [stop] = [e for e in events[:second] if isinstance(e, RunFinished)]
    assert stop.status == "stopped"
    # Nothing lost: the detached session starts at the very step the app stopped at (inside an epoch, at
    # its batch; or at an epoch's end, when the hang-up came between epochs).
    steps = events[second].steps_per_epoch
    stopped_step = ((stop.stopped_at[0] - 1) * steps + stop.stopped_at[1]) if stop.stopped_at else stop.epochs_completed * steps
    assert events[second].start_step == stopped_step > 0
    if stop.stopped_at:
        assert [e for e in events[:second] if isinstance(e, CheckpointSaved)][-1].mid_epoch
    handed = torch.load(run / "final.pt", weights_only=True)["model"]
    reference = torch.load(tmp_path / "straight" / "s" / "final.pt", weights_only=True)["model"]
    assert handed.keys() == reference.keys()
    assert all(torch.equal(handed[k], reference[k]) for k in handed)  # bit for bit
    assert seconds_to_show < 2
    assert "resuming" in (run / "log.txt").read_text()
