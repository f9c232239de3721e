"""The README's speed presets as numbers (and kept under overrides), fine-tune defaults with the parent's input size,
tv-resnet50 from a local weights file, and final.pt holding the last epoch's weights: through the CLI, in this process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from helpers import build_image_folder, config_of, rows_of, run_cli

ROOT = Path(__file__).resolve().parents[3]
QUICK = ["--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "200", "--batch-size", "50", "--image-size", "16",
         "--device", "cpu"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


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
    # data (that choice: tests/tui/cli/test_cli_finetune.py and tests/core/config/test_finetune_defaults.py)
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
