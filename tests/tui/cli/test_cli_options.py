"""Every option of `train` and `finetune` reaches the run's config: one run with every option set to a
value other than its default, then config.json is read back. The tables are checked against the real
commands, so an option added without a row (or a row whose option is gone) fails here.
(What each config value then does inside fit() is tested in tests/core/train/test_train_wiring.py.)"""

from __future__ import annotations

import json

import pytest
import typer
from helpers import run_cli

from core.config.train_config import TrainConfig
from tui.cli.main import app  # importing tui.cli.main registers every command (cli_common alone has none)

# option -> (the arguments that set it, the TrainConfig field, the value expected in config.json)
TRAIN = {
    "arch": (["--arch", "simplecnn"], "arch", "simplecnn"),
    "epochs": (["--epochs", "2"], "epochs", 2),
    "lr": (["--lr", "0.03"], "lr", 0.03),
    "batch_size": (["--batch-size", "20"], "batch_size", 20),
    "optimizer": (["--optimizer", "adam"], "optimizer", "adam"),
    "momentum": (["--momentum", "0.8"], "momentum", 0.8),
    "nesterov": (["--no-nesterov"], "nesterov", False),
    "schedule": (["--schedule", "multistep"], "schedule", "multistep"),
    "warmup_epochs": (["--warmup-epochs", "0.5"], "warmup_epochs", 0.5),
    "milestones": (["--milestones", "1"], "milestones", [1]),
    "gamma": (["--gamma", "0.5"], "gamma", 0.5),
    "grad_clip": (["--grad-clip", "2.5"], "grad_clip", 2.5),
    "weight_decay": (["--weight-decay", "0.001"], "weight_decay", 0.001),
    "label_smoothing": (["--label-smoothing", "0.05"], "label_smoothing", 0.05),
    "zero_init_residual": (["--zero-init-residual"], "zero_init_residual", True),
    "num_classes": (["--num-classes", "10"], "num_classes", 10),
    "freeze": (["--freeze", "backbone"], "freeze", "backbone"),
    "backbone_lr_mult": (["--backbone-lr-mult", "0.5"], "backbone_lr_mult", 0.5),
    "dataset": (["--dataset", "synthetic"], "dataset", "synthetic"),
    "data": (["--data", "@tmp/elsewhere"], "data", "@tmp/elsewhere"),
    "download": (["--no-download"], "download", False),
    "skip_bad_images": (["--skip-bad-images"], "skip_bad_images", True),
    "test_split": (["--test-split", "0.1"], "test_split", 0.1),
    "split_seed": (["--split-seed", "5"], "split_seed", 5),
    "data_in_memory": (["--data-in-memory", "yes"], "data_in_memory", "yes"),
    "workers": (["--workers", "1"], "workers", 1),
    "cache_dir": (["--cache-dir", "@tmp/cache"], "cache_dir", "@tmp/cache"),
    "augment": (["--augment", "rrc"], "augment", "rrc"),
    "val_split": (["--val-split", "20"], "val_split", 20.0),
    "train_subset": (["--train-subset", "100"], "train_subset", 100),
    "image_size": (["--image-size", "16"], "image_size", 16),
    "crop_padding": (["--crop-padding", "2"], "crop_padding", 2),
    "flip": (["--no-flip"], "flip", False),
    "rotate": (["--rotate", "5"], "rotate", 5.0),
    "cutout": (["--cutout", "4"], "cutout", 4),
    "device": (["--device", "cpu"], "device", "cpu"),
    "precision": (["--precision", "fp32"], "precision", "fp32"),
    "channels_last": (["--channels-last", "off"], "channels_last", "off"),
    "tta": (["--tta"], "eval_tta", True),
    "eval_every": (["--eval-every", "2"], "eval_every", 2),
    "final_test": (["--no-final-test"], "final_test", False),
    "keep_last": (["--keep-last", "1"], "keep_last", 1),
    "stall_after": (["--stall-after", "300"], "stall_after", 300.0),
    "deterministic": (["--deterministic"], "deterministic", True),
    "auto_batch_size": (["--auto-batch-size"], "auto_batch_size", True),
    "sync_bn": (["--sync-bn"], "sync_bn", True),  # one process: allowed, with a notice
    "seed": (["--seed", "3"], "seed", 3),
    "tensorboard": (["--no-tensorboard"], "tensorboard", False),
    "run_dir": (["--run-dir", "@tmp/runs"], "runs_dir", "@tmp/runs"),
    "name": (["--name", "opts"], "name", "opts"),
}
# options this run cannot carry, and the test that holds each
ELSEWHERE = {
    "compile": "tests/tui/cli/test_cli_promises.py::test_compile_runs_and_reports_its_warm_up_apart",
    "compile_mode": "tests/tui/cli/test_cli_promises.py::test_compile_mode_reaches_torch_compile",
    "pretrained": "test_pretrained_and_weights_default_to_imagenet_s_input_size (below)",
    "weights": "test_pretrained_and_weights_default_to_imagenet_s_input_size (below)",
    "preset": "tests/tui/cli/test_cli.py::test_preset_then_overrides",
    "resume": "tests/tui/cli/test_cli.py::test_train_json_resume_evaluate_predict",
    "as_json": "every --json test",
    "background": "tests/tui/cli/test_background_runs.py",
    "nproc_per_node": "tests/tui/cli/test_jobs.py",
    "nnodes": "tests/tui/cli/test_jobs.py::test_two_launchers_form_one_job_over_two_nodes",
    "node_rank": "tests/tui/cli/test_jobs.py::test_two_launchers_form_one_job_over_two_nodes",
    "master_addr": "tests/tui/cli/test_jobs.py::test_two_launchers_form_one_job_over_two_nodes",
    "master_port": "tests/tui/cli/test_jobs.py::test_two_launchers_form_one_job_over_two_nodes",
    "config": "tests/tui/cli/test_cli_config_file.py",
    "print_config": "tests/tui/cli/test_cli_config_file.py",
    "log": "tests/tui/cli/test_trackers_cli.py::test_train_and_finetune_log_from_the_command_line",
}
FINETUNE_ONLY = {"run_or_ckpt"}  # the parent: checked through config.json's "parent"
FINETUNE_ELSEWHERE = {"as_json", "compile", "compile_mode", "background", "log"}  # compile: one compiled run (train's) is enough for the suite


def options_of(command: str) -> set[str]:
    return {p.name for p in typer.main.get_command(app).commands[command].params}


def resolve(value, tmp):
    return str(tmp / value.removeprefix("@tmp/")) if isinstance(value, str) and value.startswith("@tmp/") else value


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


def test_the_train_table_covers_every_option():
    assert set(TRAIN) | set(ELSEWHERE) == options_of("train")
    defaults = TrainConfig().to_dict()
    assert all(expected != defaults[field] for _, field, expected in TRAIN.values() if not str(expected).startswith("@"))


def test_every_train_option_reaches_the_config(capsys, tmp_path):
    args = [resolve(a, tmp_path) for given, _, _ in TRAIN.values() for a in given]
    code, out, err = run(capsys, "train", *args, "--json")
    assert code == 0, err
    saved = json.loads((tmp_path / "runs" / "opts" / "config.json").read_text())["train"]
    wrong = {field: (saved[field], resolve(expected, tmp_path)) for _, field, expected in TRAIN.values()
             if saved[field] != resolve(expected, tmp_path)}
    assert wrong == {}, "option did not reach the config: {field: (saved, expected)}"


def test_every_finetune_option_reaches_the_config(capsys, tmp_path, trained_run):
    options = options_of("finetune")
    assert options - FINETUNE_ONLY - FINETUNE_ELSEWHERE <= set(TRAIN), "a finetune option with no row"
    rows = {k: v for k, v in TRAIN.items() if k in options}
    rows["arch"] = (["--arch", "resnet20"], "arch", "resnet20")  # fine-tuning keeps the parent's architecture
    args = [resolve(a, tmp_path) for given, _, _ in rows.values() for a in given]
    code, out, err = run(capsys, "finetune", trained_run, *args, "--json")
    assert code == 0, err
    config = json.loads((tmp_path / "runs" / "opts" / "config.json").read_text())
    saved = config["train"]
    wrong = {field: (saved[field], resolve(expected, tmp_path)) for _, field, expected in rows.values()
             if saved[field] != resolve(expected, tmp_path)}
    assert wrong == {}
    assert config["parent"] == str(trained_run / "final.pt") and saved["init_from"] == config["parent"]


@pytest.mark.slow
def test_pretrained_and_weights_default_to_imagenet_s_input_size(capsys, tmp_path):
    """ImageNet weights come with their input size: 224 (crop padding 28) unless --image-size says otherwise."""
    import torch
    import torchvision
    from helpers import build_image_folder

    weights = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    folder = build_image_folder(tmp_path / "pets", train_per_class=2, test_per_class=1)
    code, out, err = run(capsys, "train", "--arch", "tv-resnet18", "--weights", weights, "--freeze", "backbone",
                         "--dataset", "folder", "--data", folder, "--epochs", "1", "--batch-size", "6", "--device", "cpu",
                         "--run-dir", tmp_path / "runs", "--name", "tv", "--json")
    assert code == 0, err
    saved = json.loads((tmp_path / "runs" / "tv" / "config.json").read_text())["train"]
    assert (saved["image_size"], saved["crop_padding"], saved["weights"]) == (224, 28, str(weights))
    code, out, err = run(capsys, "train", "--arch", "tv-resnet18", "--weights", weights, "--freeze", "backbone",
                         "--dataset", "folder", "--data", folder, "--image-size", "64", "--epochs", "1", "--batch-size",
                         "6", "--device", "cpu", "--run-dir", tmp_path / "runs", "--name", "tv64", "--json")
    assert code == 0, err
    saved = json.loads((tmp_path / "runs" / "tv64" / "config.json").read_text())["train"]
    assert (saved["image_size"], saved["crop_padding"]) == (64, 8)
