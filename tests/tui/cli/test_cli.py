"""The headless CLI, driven through its real entry point (`main`), in-process and as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import run_cli, write_image

ROOT = Path(__file__).resolve().parents[3]
QUICK = ["--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "200", "--batch-size", "50", "--image-size", "16",
         "--device", "cpu"]


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


def test_help_lists_the_commands_and_no_command_opens_the_app(capsys, monkeypatch):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("train", "finetune", "evaluate", "predict", "export", "models", "data"):
        assert f"│ {command} " in out, command
    opened = []
    monkeypatch.setattr("tui.app.app.run_app", lambda runs_dir: opened.append(runs_dir))
    assert run(capsys)[0] == 0 and opened == ["checkpoints"]
    assert run(capsys, "--run-dir", "elsewhere")[0] == 0 and opened[-1] == "elsewhere"


def test_train_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one line per option, so the text can be matched whole
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "(default: resnet20)" in out and "(default: 0.1)" in out


@pytest.mark.slow
def test_train_json_resume_evaluate_predict(capsys, tmp_path):
    runs = tmp_path / "runs"
    quick = [*QUICK, "--train-subset", "2000", "--lr", "0.02"]  # (simplecnn diverges at the default lr 0.1)
    code, out, err = run(capsys, "train", *quick, "--epochs", "2", "--run-dir", runs, "--name", "r", "--json")
    assert code == 0, err
    result = json.loads(out)
    for key in ("run_dir", "arch", "epochs", "final_test_acc", "best_val_acc", "train_seconds", "images_per_sec", "status"):
        assert key in result
    assert result["status"] == "completed" and result["arch"] == "simplecnn" and result["epochs"] == 2
    rows = [json.loads(line) for line in (runs / "r" / "metrics.jsonl").read_text().splitlines()]
    # the figures are the run's own: the last epoch's test accuracy (above chance, 0.1: measured 0.32),
    # the training time of both epochs, the throughput of epoch 2 (epoch 1 is warm-up)
    assert result["final_test_acc"] == rows[-1]["test_acc"] > 0.2
    assert result["train_seconds"] == pytest.approx(sum(r["train_seconds"] for r in rows), abs=2e-3)
    assert result["images_per_sec"] == round(rows[1]["images_per_sec"], 1)
    assert "epoch 2/2" in err  # progress goes to stderr with --json, so stdout is pure JSON

    code, out, err = run(capsys, "train", "--resume", runs / "r", "--epochs", "3", "--json")
    assert code == 0, err
    resumed = json.loads(out)
    assert resumed["epochs_completed"] == 3 and resumed["status"] == "completed"
    rows = [json.loads(line) for line in (runs / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and resumed["final_test_acc"] == rows[-1]["test_acc"]
    assert resumed["images_per_sec"] == round(rows[2]["images_per_sec"], 1)  # this session trained epoch 3 only

    code, out, err = run(capsys, "evaluate", runs / "r", "--json", "--device", "cpu")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["accuracy"] == pytest.approx(resumed["final_test_acc"])
    assert len(ev["confusion"]) == 10 and sum(map(sum, ev["confusion"])) == ev["count"] == 1000

    code, out, _ = run(capsys, "evaluate", runs / "r")
    assert code == 0 and "confusion matrix" in out and "red-stripes" in out

    img = tmp_path / "x.png"
    write_image(img, (200, 30, 30), size=32)
    code, out, err = run(capsys, "predict", runs / "r", img, "--top-k", "2", "--json")
    assert code == 0, err
    (pred,) = json.loads(out)
    assert len(pred["top"]) == 2 and pred["top"][0]["class"] in ev["classes"]
    assert pred["top"][0]["prob"] >= pred["top"][1]["prob"]

    code, _, err = run(capsys, "predict", runs / "r", tmp_path / "nope.png")
    assert code == 2 and "is not a file" in err


def test_evaluate_predict_and_resume_refuse_malicious_checkpoints(capsys, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "final.pt"
    torch.save({"format": "resnet-tui/1", "model": Evil()}, bad)
    run_dir = tmp_path / "run"  # looks like a run (config.json + last.pt), so resume really loads last.pt
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"train": {"arch": "simplecnn"}}))
    torch.save({"format": "resnet-tui/1", "kind": "last", "model": Evil()}, run_dir / "last.pt")
    img = tmp_path / "x.png"
    write_image(img, (1, 2, 3))
    for args in (("evaluate", bad), ("predict", bad, img), ("train", "--resume", run_dir)):
        code, _, err = run(capsys, *args)
        assert code == 2 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
        assert "refusing to load" in err and "posix.system" in err, err
    assert not marker.exists()
    torch.load(run_dir / "last.pt", weights_only=False)  # the control: an unsafe load runs the payload
    assert marker.exists()


def test_preset_then_overrides(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--preset", "quick-look", "--arch", "simplecnn", "--epochs", "1",
                         "--train-subset", "100", "--run-dir", tmp_path, "--name", "p", "--json")
    assert code == 0, err
    saved = json.loads((tmp_path / "p" / "config.json").read_text())["train"]
    assert (saved["dataset"], saved["arch"], saved["epochs"], saved["lr"]) == ("synthetic", "simplecnn", 1, 0.05)


@pytest.mark.slow
def test_models_lists_params_and_flops(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["resnet20"]["params"] == 269722 and rows["resnet20"]["mflops"] == pytest.approx(81.1)
    code, out, _ = run(capsys, "models")
    assert "resnet1202" in out and "MFLOPs" in out


@pytest.mark.parametrize("size", ["-3", "0", "4000"])
def test_data_info_checks_the_image_size(capsys, image_folder, size):
    code, _, err = run(capsys, "data", "info", "--dataset", "folder", "--data", image_folder, "--image-size", size)
    assert code == 2 and err.startswith("Error: --image-size") and len(err.strip().splitlines()) == 1


def test_data_info_for_a_folder_and_synthetic(capsys, image_folder):
    (image_folder / "train" / "cat" / "readme.txt").write_text("x")
    code, out, _ = run(capsys, "data", "info", "--dataset", "folder", "--data", image_folder, "--json")
    info = json.loads(out)
    assert code == 0 and info["classes"] == ["cat", "dog", "frog"] and info["train"]["dog"] == 6
    assert info["skipped_non_images"]["train"] == 1
    code, out, _ = run(capsys, "data", "info", "--dataset", "synthetic")
    assert code == 0 and "10 classes" in out


def test_data_download_then_train_on_it(capsys, tmp_path, fake_cifar, monkeypatch):
    from core.data import cifar10

    monkeypatch.setattr(cifar10, "URL", fake_cifar["archive"].as_uri())
    data = tmp_path / "data"
    code, out, err = run(capsys, "data", "download", "--data", data)
    assert code == 0, err
    assert f"CIFAR-10 ready in {data}: 100 train, 20 test images" in out
    code, out, err = run(capsys, "train", "--dataset", "cifar10", "--data", data, "--no-download", "--arch", "simplecnn",
                         "--epochs", "1", "--batch-size", "20", "--device", "cpu", "--run-dir", tmp_path / "runs", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"


def test_folder_dataset_trains_with_its_own_classes(capsys, tmp_path, image_folder):
    code, out, err = run(capsys, "train", "--dataset", "folder", "--data", image_folder, "--arch", "resnet20",
                         "--epochs", "1", "--batch-size", "6", "--device", "cpu", "--run-dir", tmp_path / "runs",
                         "--name", "f", "--json")
    assert code == 0, err
    code, out, _ = run(capsys, "evaluate", tmp_path / "runs" / "f", "--json")
    assert json.loads(out)["classes"] == ["cat", "dog", "frog"]


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


SIGNAL_RUN = ["train", "--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "2000", "--epochs", "1",
              "--batch-size", "100", "--image-size", "16", "--device", "cpu", "--name", "s"]  # 20 batches of ~0.1 s an epoch


def _start_and_wait_for_training(runs: Path) -> subprocess.Popen:
    """Start a run and return once it trains: run.json is written just before the first batch."""
    proc = _spawn([*SIGNAL_RUN, "--run-dir", str(runs)], ROOT)
    deadline = time.time() + 180
    while not (runs / "s" / "run.json").exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else "no start"
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the first epoch
    return proc


def _resume_to_the_end(capsys, runs: Path) -> None:
    """Resumed in this process: the stop was the other process's, the resume is an ordinary one."""
    code, out, err = run_cli(capsys, "train", "--resume", runs / "s", "--json")
    assert code == 0, err
    assert json.loads(out)["epochs_completed"] == 1
    rows = [json.loads(line) for line in (runs / "s" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_after_the_batch_saves_and_resumes(capsys, tmp_path, sig, code):
    from core.train.checkpoint import load_checkpoint

    runs = tmp_path / "runs"
    proc = _start_and_wait_for_training(runs)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    # the message names the batch it stopped at, and last.pt holds exactly that batch
    match = re.search(r"stopped at epoch (\d+), batch (\d+)/20; state saved in (\S+)/last.pt", err)
    assert match, err
    epoch, batch = int(match[1]), int(match[2])
    assert f"resume with: resnet-tui train --resume {runs / 's'}" in err
    last = load_checkpoint(runs / "s" / "last.pt")
    assert last["epoch"] == epoch - 1 and last["global_step"] == 20 * (epoch - 1) + batch
    assert last["partial"] is not None and last["partial"]["seen"] == 100 * batch and 0 < batch < 20
    assert json.loads((runs / "s" / "run.json").read_text())["status"] == "stopped"
    _resume_to_the_end(capsys, runs)


@pytest.mark.slow
def test_a_second_ctrl_c_aborts_at_once_and_keeps_the_last_good_state(capsys, tmp_path):
    from core.train.checkpoint import load_checkpoint

    runs = tmp_path / "runs"
    proc = _start_and_wait_for_training(runs)
    proc.send_signal(signal.SIGINT)
    # The second Ctrl-C once the first was handled (two signals sent at once merge into one), still
    # inside the same batch, so the first one's save never starts.
    for line in proc.stderr:
        if line.startswith("stopping after this batch"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "aborted; last.pt (if any) holds the last finished epoch" in err and "Traceback" not in err
    assert "stopped at epoch" not in err  # the first Ctrl-C's mid-epoch save never happened
    status = json.loads((runs / "s" / "run.json").read_text())
    assert status["status"] == "stopped" and "second Ctrl-C" in status["error"]
    last = load_checkpoint(runs / "s" / "last.pt")
    assert last["partial"] is None and last["global_step"] == 20 * last["epoch"]  # an epoch boundary, whole
    assert not [p for p in os.listdir(runs / "s") if ".tmp-" in p]
    _resume_to_the_end(capsys, runs)


def test_val_split_holds_out_a_stratified_validation_set(capsys, tmp_path):
    code, out, err = run(capsys, "train", *QUICK, "--lr", "0.02", "--val-split", "0.1", "--epochs", "2",
                         "--run-dir", tmp_path, "--name", "v", "--json")
    assert code == 0, err
    result = json.loads(out)
    rows = [json.loads(line) for line in (tmp_path / "v" / "metrics.jsonl").read_text().splitlines()]
    # epoch 1 shows the validation matrix: 10% of the 5000 synthetic training images, 50 of each class
    assert rows[0]["eval_split"] == "val" and [sum(r) for r in rows[0]["confusion"]] == [50] * 10
    assert result["best_val_acc"] == max(r["val_acc"] for r in rows) and rows[-1]["test_acc"] is not None
    saved = json.loads((tmp_path / "v" / "config.json").read_text())["data"]
    assert (saved["train_size"], saved["val_size"]) == (200, 500)  # held out before the 200-image subset
