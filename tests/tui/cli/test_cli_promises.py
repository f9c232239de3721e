"""The README's command-line promises, one test each, driven through the real entry point.

Each test is written so that it fails when the promised behaviour breaks (each was checked by
breaking the feature on purpose). Nothing here touches the network or ../shared.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import config_of, poison_loss, rows_of, run_cli, status_of

ROOT = Path(__file__).resolve().parents[3]
QUICK = ["--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "200", "--batch-size", "50", "--image-size", "16",
         "--device", "cpu"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


# ----------------------------------------------------------------------------- 1. terminal vs pipe
def _child_env() -> dict[str, str]:
    drop = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "TERM")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _read_pty_until_exit(master: int, proc: subprocess.Popen, timeout: float) -> bytes:
    """Everything the child writes to the terminal, read as it comes (a full pty would block it)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side (it exited)
                break
            if not data:
                break
            chunks.append(data)
    else:
        proc.kill()
        pytest.fail("train on a pseudo-terminal did not finish in time")
    return b"".join(chunks)


@pytest.mark.slow
def test_train_shows_a_live_bar_on_a_terminal_and_one_line_per_epoch_in_a_pipe(tmp_path):
    args = [sys.executable, "-m", "tui.cli", "train", *QUICK, "--epochs", "2", "--run-dir", str(tmp_path)]
    # In a pipe (as under nohup or in CI); started first, it runs while the terminal one does.
    piped = subprocess.Popen([*args, "--name", "piped"], cwd=ROOT, env=_child_env(), text=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    master, slave = pty.openpty()
    on_tty = None
    try:
        tty_env = _child_env() | {"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
        on_tty = subprocess.Popen([*args, "--name", "tty"], cwd=ROOT, env=tty_env, stdin=subprocess.DEVNULL,
                                  stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        raw = _read_pty_until_exit(master, on_tty, timeout=240).decode("utf-8", "replace")
        assert on_tty.wait(timeout=60) == 0, raw[-2000:]
        out, err = piped.communicate(timeout=240)
        assert piped.returncode == 0, err
    finally:
        os.close(master)
        for proc in (piped, on_tty):
            if proc is not None and proc.poll() is None:
                proc.kill()

    # The terminal: a rich bar redrawn in place (erase-line codes), with epoch, steps, loss, images/s and ETA.
    assert raw.count("\x1b[2K") >= 3, raw[-2000:]  # the bar was drawn, then redrawn
    assert "━" in raw
    text = ANSI.sub("", raw)
    bars = re.findall(r"epoch ([12])/2 [━╺╸ ]+ (\d)/8 loss \S+ acc \S+ \S+ img/s eta \S+", text)
    assert bars and {step for _, step in bars} >= {"8"}, text[-2000:]  # the bar reached the end of the run
    assert re.search(r"epoch 2/2 [━╺╸ ]+ [5-8]/8 loss \d", text)  # the second epoch showed its own progress

    # The pipe: a start line, exactly one plain line per epoch, an end line; no bar, no terminal codes.
    lines = out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"], out
    assert all(" img/s " in line and "train_loss" in line for line in epoch_lines)
    assert lines[0] == "loading synthetic data" and lines[1].startswith("training: simplecnn")
    assert lines[2:4] == epoch_lines and len(lines) == 5 and lines[4].startswith("run completed: 2 epochs")
    for stream in (out, err):
        assert "\x1b" not in stream and "\r" not in stream and "━" not in stream and not re.search(r"\beta\b", stream)


# ----------------------------------------------------------------------------- 2. --json images_per_sec
def _expected_rate(rows: list[dict]) -> float:
    """images / seconds over the given epochs, as core.train's TrainState.images_per_sec() does (rounded to 0.1)."""
    images = sum(round(r["images_per_sec"] * r["train_seconds"]) for r in rows)
    seconds = sum(r["train_seconds"] for r in rows)
    return round(images / seconds, 1)


@pytest.mark.slow
def test_json_images_per_sec_leaves_out_the_warm_up_epoch(capsys, tmp_path, monkeypatch):
    from core.runs.events import BatchProgress
    from tui.cli.console import PlainSink

    # A warm-up that costs something measurable: the first progress report of epoch 1 takes 0.5 s longer
    # (it happens inside the epoch's timing, as a slow first step would).
    real_call = PlainSink.__call__
    slowed: list[int] = []

    def slow_warm_up(self, event):
        if isinstance(event, BatchProgress) and event.epoch == 1 and not slowed:
            slowed.append(1)
            time.sleep(0.5)
        real_call(self, event)

    monkeypatch.setattr(PlainSink, "__call__", slow_warm_up)
    code, out, err = run(capsys, "train", *QUICK, "--train-subset", "100", "--epochs", "3", "--eval-every", "0",
                         "--run-dir", tmp_path, "--name", "three", "--json")
    assert code == 0, err
    reported = json.loads(out)["images_per_sec"]
    rows = rows_of(tmp_path / "three")
    assert slowed and [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(round(r["images_per_sec"] * r["train_seconds"]) == 100 for r in rows)
    warm = _expected_rate(rows[1:])
    every_epoch = _expected_rate(rows)
    assert abs(every_epoch - warm) > 1.0  # the two readings are far apart, so the check below tells them apart
    assert reported == pytest.approx(warm, abs=0.051)
    assert status_of(tmp_path / "three")["images_per_sec"] == reported

    # One epoch: there is nothing to leave out, it is that epoch's rate.
    code, out, err = run(capsys, "train", *QUICK, "--epochs", "1", "--train-subset", "100", "--run-dir", tmp_path,
                         "--name", "one", "--json")
    assert code == 0, err
    (row,) = rows_of(tmp_path / "one")
    assert json.loads(out)["images_per_sec"] == pytest.approx(_expected_rate([row]), abs=0.051)


# ----------------------------------------------------------------------------- 3. a NaN loss
def test_nan_loss_exits_1_with_one_error_line(capsys, tmp_path, monkeypatch):
    poison_loss(monkeypatch, from_call=3)
    code, out, err = run(capsys, "train", *QUICK, "--epochs", "2", "--run-dir", tmp_path, "--name", "nan")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: training failed: the loss became nan"), err
    assert "at step 3" in lines[0] and "lr" in lines[0]
    assert status_of(tmp_path / "nan")["status"] == "failed"
    from core.train.checkpoint import load_checkpoint

    last = load_checkpoint(tmp_path / "nan" / "last.pt")  # the starting state: nothing non-finite was saved
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


# ----------------------------------------------------------------------------- 4. --tta, --cutout, --compile
@pytest.mark.slow
def test_tta_is_used_by_train_and_evaluate(capsys, tmp_path):
    code, out, err = run(capsys, "train", *QUICK, "--lr", "0.02", "--epochs", "1", "--tta", "--run-dir", tmp_path,
                         "--name", "tta", "--json")
    assert code == 0, err
    run_dir = tmp_path / "tta"
    assert config_of(run_dir)["train"]["eval_tta"] is True
    (row,) = rows_of(run_dir)
    code, out, err = run(capsys, "evaluate", run_dir, "--tta", "--json", "--device", "cpu")
    assert code == 0, err
    with_tta = json.loads(out)
    code, out, err = run(capsys, "evaluate", run_dir, "--json", "--device", "cpu")
    assert code == 0, err
    plain = json.loads(out)
    assert abs(with_tta["loss"] - plain["loss"]) > 1e-3 * plain["loss"]  # flip TTA changes the predictions
    # The run's own test evaluation was the TTA one.
    assert row["test_loss"] == pytest.approx(with_tta["loss"], rel=1e-4)
    assert row["test_acc"] == pytest.approx(with_tta["accuracy"], abs=0.002)


def test_cutout_reaches_the_training_batches(capsys, tmp_path, monkeypatch):
    from core.data.loader import TrainStream

    batches: list[torch.Tensor] = []
    real = TrainStream.epoch_batches

    def recording(self):
        for x, y in real(self):
            batches.append(x.detach().clone())
            yield x, y

    monkeypatch.setattr(TrainStream, "epoch_batches", recording)
    code, out, err = run(capsys, "train", *QUICK, "--epochs", "1", "--cutout", "8", "--run-dir", tmp_path,
                         "--name", "cut", "--json")
    assert code == 0, err
    assert config_of(tmp_path / "cut")["train"]["cutout"] == 8
    assert batches
    x = torch.cat(batches).float()
    # After normalisation an exact zero in all three channels does not happen by chance: it is the hole.
    holes = (x == 0).all(dim=1)  # B x H x W
    sizes = holes.flatten(1).sum(1)
    assert (sizes > 0).all() and (sizes <= 64).all(), sizes
    assert (sizes == 64).any()  # a hole fully inside the image is 8 x 8
    for hole in holes[:20]:
        ys, xs = hole.nonzero(as_tuple=True)
        box = hole[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        assert box.all() and box.shape[0] <= 8 and box.shape[1] <= 8  # one square (cut by the border)


@pytest.mark.slow
def test_compile_runs_and_reports_its_warm_up_apart(capsys, tmp_path, monkeypatch):
    """torch.compile (inductor on the CPU needs a C compiler; gcc is installed here)."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    try:
        code, out, err = run(capsys, "train", *QUICK, "--epochs", "1", "--train-subset", "100", "--compile",
                             "--run-dir", tmp_path, "--name", "c", "--json")
    finally:
        torch._dynamo.reset()
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert config_of(tmp_path / "c")["train"]["compile"] is True
    status = status_of(tmp_path / "c")
    assert status["compile_seconds"] is not None and status["compile_seconds"] > 0
    notice = re.search(r"torch\.compile warm-up took (\d+\.\d)s \(not counted as training time\)", err)
    assert notice, err
    assert float(notice.group(1)) == pytest.approx(status["compile_seconds"], abs=0.06)
    # Timed apart: the training time is the second step's alone, far below the compile warm-up it would include.
    assert status["train_seconds"] < status["compile_seconds"]


def test_compile_mode_reaches_torch_compile(capsys, tmp_path, monkeypatch):
    """--compile-mode goes to torch.compile as its mode (torch.compile is patched: the compile itself is the
    slow test above) and is recorded in the run's config."""
    modes = []

    def recording_compile(model, mode=None, **kw):
        modes.append(mode)
        return model

    monkeypatch.setattr(torch, "compile", recording_compile)
    code, out, err = run(capsys, "train", *QUICK, "--epochs", "1", "--train-subset", "100", "--compile",
                         "--compile-mode", "reduce-overhead", "--run-dir", tmp_path, "--name", "c", "--json")
    assert code == 0, err
    assert modes == ["reduce-overhead"]
    assert config_of(tmp_path / "c")["train"]["compile_mode"] == "reduce-overhead"


# ----------------------------------------------------------------------------- 5. --precision auto on a CPU
def test_precision_auto_is_plain_fp32_on_cpu(capsys, tmp_path, monkeypatch):
    import core.train.setup

    seen: list[tuple[torch.dtype, bool]] = []
    real_create = core.train.setup.create_model

    def create_and_watch(*args, **kwargs):
        model = real_create(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                seen.append((output.dtype, torch.is_autocast_enabled("cpu")))

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(core.train.setup, "create_model", create_and_watch)
    code, out, err = run(capsys, "train", *QUICK, "--epochs", "1", "--precision", "auto", "--run-dir", tmp_path,
                         "--name", "p", "--json")
    assert code == 0, err
    cfg = config_of(tmp_path / "p")
    assert cfg["precision"] == "fp32" and cfg["train"]["precision"] == "auto" and cfg["device"] == "cpu"
    assert len(seen) == 4  # every training step
    assert all(dtype == torch.float32 and not autocast for dtype, autocast in seen), seen


# ----------------------------------------------------------------------------- 10. data download offline
def test_data_download_offline_names_the_archive_and_the_folder(capsys, tmp_path, monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # a local proxy would be allowed through the network guard
    data = tmp_path / "new" / "data"
    code, out, err = run(capsys, "data", "download", "--data", data)
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "could not be downloaded" in lines[0]
    assert "cifar-10-python.tar.gz" in lines[0] and f"into {data}/" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the folders
