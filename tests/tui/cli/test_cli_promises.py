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
from helpers import build_image_folder, poison_loss, run_cli


ROOT = Path(__file__).resolve().parents[3]
QUICK = ["--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "200", "--batch-size", "50", "--device", "cpu"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def config_of(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text())


def status_of(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


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


# ----------------------------------------------------------------------------- 6. the speed presets
# The README's "Speed" table, as numbers.
SPEED94 = {"arch": "resnet9", "batch_size": 512, "schedule": "onecycle", "lr": 0.4, "warmup_epochs": 5.0, "epochs": 24,
           "label_smoothing": 0.2, "cutout": 8, "eval_tta": True, "flip": True}
CPU10 = {"arch": "resnet20", "precision": "bf16", "channels_last": "on", "batch_size": 256, "epochs": 17,
         "schedule": "onecycle", "lr": 0.4, "label_smoothing": 0.1, "eval_tta": True, "flip": True}


def test_speed_presets_hold_the_readme_table():
    from core.config.presets import apply_preset

    for name, table in (("speed94", SPEED94), ("cpu10", CPU10)):
        cfg = apply_preset(name).to_dict()
        assert {k: cfg[k] for k in table} == table, name
    readme = (ROOT / "README.md").read_text()
    speed94 = next(line for line in readme.splitlines() if line.startswith("| `speed94`"))
    cpu10 = next(line for line in readme.splitlines() if line.startswith("| `cpu10`"))
    for phrase in ("resnet9", "batch 512", "one-cycle to 0.4 at epoch 5 of 24", "label smoothing 0.2", "cutout 8", "flip TTA"):
        assert phrase in speed94, phrase
    for phrase in ("resnet20", "bf16", "channels-last", "batch 256", "17 epochs one-cycle to 0.4", "label smoothing 0.1",
                   "flip TTA"):
        assert phrase in cpu10, phrase


@pytest.mark.slow
@pytest.mark.parametrize("preset,table,epochs", [("speed94", SPEED94, 5), ("cpu10", CPU10, 2)])
def test_train_preset_keeps_its_settings_under_overrides(capsys, tmp_path, preset, table, epochs):
    # Only the data and the epoch count are overridden: 20 synthetic 8x8 images (one short batch per epoch), and
    # speed94 runs 5 epochs (the length of its warm-up, which may not exceed the run). Every other training
    # setting, the batch size included, must come from the preset.
    code, out, err = run(capsys, "train", "--preset", preset, "--dataset", "synthetic", "--train-subset", "20",
                         "--image-size", "8", "--epochs", epochs, "--device", "cpu", "--run-dir", tmp_path,
                         "--name", preset, "--json")
    assert code == 0, err
    cfg = config_of(tmp_path / preset)
    saved = cfg["train"]
    assert {k: saved[k] for k in table} == table | {"epochs": epochs}
    assert (saved["dataset"], saved["train_subset"], saved["image_size"]) == ("synthetic", 20, 8)
    assert saved["eval_every"] == 0 and saved["nesterov"] is True
    assert [r["test_acc"] is not None for r in rows_of(tmp_path / preset)] == [False] * (epochs - 1) + [True]
    assert cfg["precision"] == ("bf16" if preset == "cpu10" else "fp32")


# ----------------------------------------------------------------------------- 7. fine-tune defaults
@pytest.mark.slow
def test_finetune_defaults_and_the_parents_input_size(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "100",
                       "--batch-size", "50", "--epochs", "1", "--image-size", "16", "--device", "cpu",
                       "--run-dir", tmp_path / "parents", "--name", "small")
    assert code == 0, err
    folder = build_image_folder(tmp_path / "pets")  # 40x40 images
    code, out, err = run(capsys, "finetune", tmp_path / "parents" / "small", "--data", folder, "--batch-size", "6",
                         "--epochs", "2", "--device", "cpu", "--run-dir", tmp_path / "runs", "--json")
    assert code == 0, err
    result = json.loads(out)
    run_dir = Path(result["run_dir"])
    assert re.fullmatch(r"small-ft-folder-\d{8}-\d{6}(-\d+)?", run_dir.name), run_dir.name
    saved = config_of(run_dir)["train"]
    # lr and schedule are finetune's defaults; batch size and epochs are given, so nothing is chosen from the
    # data (that choice: tests/tui/test_cli_finetune.py and tests/core/test_finetune_config.py)
    assert (saved["epochs"], saved["lr"], saved["schedule"], saved["chosen"]) == (2, 0.01, "cosine", "")
    assert result["epochs"] == 2 and len(rows_of(run_dir)) == 2
    assert (saved["image_size"], saved["crop_padding"]) == (16, 2)  # the parent's size, padding = size / 8
    from core.train.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "final.pt")["image_size"] == 16
    code, out, err = run(capsys, "evaluate", run_dir, "--json", "--device", "cpu")
    assert code == 0 and json.loads(out)["count"] == 9, err


# ----------------------------------------------------------------------------- 8. tv-resnet50 from a local file
@pytest.mark.slow
def test_tv_resnet50_trains_from_a_local_weights_file(capsys, tmp_path):
    import torchvision

    from core.train.checkpoint import load_checkpoint

    reference = torchvision.models.resnet50(weights=None).state_dict()
    weights = tmp_path / "resnet50-local.pth"
    torch.save(reference, weights)
    folder = build_image_folder(tmp_path / "pets")
    code, out, err = run(capsys, "train", "--arch", "tv-resnet50", "--weights", weights, "--freeze", "backbone",
                         "--dataset", "folder", "--data", folder, "--image-size", "32", "--epochs", "1",
                         "--batch-size", "6", "--device", "cpu", "--run-dir", tmp_path / "runs", "--name", "tv",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "completed" and result["arch"] == "tv-resnet50"
    final = load_checkpoint(tmp_path / "runs" / "tv" / "final.pt")
    assert final["image_size"] == 32 and final["classes"] == ["cat", "dog", "frog"]
    model = final["model"]
    assert model["fc.weight"].shape == (3, 2048)
    # The frozen backbone is the file's, weights and BatchNorm statistics alike.
    for key in ("conv1.weight", "layer4.2.conv3.weight", "bn1.running_mean", "layer1.0.bn1.running_var"):
        assert torch.equal(model[key], reference[key]), key


# ----------------------------------------------------------------------------- 9. final.pt
@pytest.mark.slow
def test_final_pt_holds_the_last_epochs_weights(capsys, tmp_path):
    from core.train.checkpoint import load_checkpoint

    code, out, err = run(capsys, "train", *QUICK, "--lr", "0.02", "--epochs", "2", "--run-dir", tmp_path,
                         "--name", "f", "--json")
    assert code == 0, err
    result = json.loads(out)
    final = load_checkpoint(tmp_path / "f" / "final.pt")
    last = load_checkpoint(tmp_path / "f" / "last.pt")
    assert final["epoch"] == last["epoch"] == 2 and last["partial"] is None
    assert final["model"].keys() == last["model"].keys()
    assert all(torch.equal(final["model"][k], last["model"][k]) for k in last["model"])
    assert final["final_test_acc"] == result["final_test_acc"]
    code, out, err = run(capsys, "evaluate", tmp_path / "f", "--json", "--device", "cpu")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["checkpoint"].endswith("final.pt")
    assert ev["accuracy"] == pytest.approx(result["final_test_acc"], abs=0.002)
    assert ev["loss"] == pytest.approx(rows_of(tmp_path / "f")[-1]["test_loss"], rel=1e-4)


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
