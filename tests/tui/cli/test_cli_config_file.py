"""`train --config FILE` (JSON or TOML; a run's own config.json works as is) and `--print-config`:
a run replayed from its config.json repeats it, options override the file, which overrides a preset,
and every bad file is one line naming the file (and the key), exit 2, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_cli

TINY = ["--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "200", "--batch-size", "50",
        "--image-size", "16", "--device", "cpu", "--lr", "0.02", "--seed", "3"]


run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["train_loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_replayed_from_its_config_json_repeats_it(capsys, tmp_path):
    runs = tmp_path / "runs"
    code, _, err = run(capsys, "train", *TINY, "--epochs", "2", "--run-dir", runs, "--name", "first")
    assert code == 0, err
    code, _, err = run(capsys, "train", "--config", runs / "first" / "config.json", "--name", "again")
    assert code == 0, err
    first, again = (json.loads((runs / n / "config.json").read_text())["train"] for n in ("first", "again"))
    assert {k: v for k, v in again.items() if k != "name"} == {k: v for k, v in first.items() if k != "name"}
    assert len(losses(runs / "again")) == 2 and losses(runs / "again") == losses(runs / "first")


def test_print_config_prints_what_would_run_and_reads_back(capsys, tmp_path):
    code, out, err = run(capsys, "train", *TINY, "--epochs", "3", "--run-dir", tmp_path / "runs", "--print-config")
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["arch"], printed["epochs"], printed["lr"], printed["seed"]) == ("simplecnn", 3, 0.02, 3)
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written
    (tmp_path / "printed.json").write_text(out)
    code, out, err = run(capsys, "train", "--config", tmp_path / "printed.json", "--print-config")
    assert code == 0 and json.loads(out) == printed, err


def test_options_override_the_file_which_overrides_the_preset(capsys, tmp_path):
    file = tmp_path / "run.toml"
    file.write_text('arch = "simplecnn"\nepochs = 3\nlr = 0.05\nmilestones = [1, 2]\nflip = false\n')
    code, out, err = run(capsys, "train", "--preset", "quick-look", "--config", file, "--epochs", "4",
                         "--print-config")
    assert code == 0, err
    cfg = json.loads(out)
    assert cfg["epochs"] == 4  # the option
    assert (cfg["arch"], cfg["lr"], cfg["milestones"], cfg["flip"]) == ("simplecnn", 0.05, [1, 2], False)  # the file
    assert cfg["dataset"] == "synthetic"  # the preset (quick-look), which the file does not set
    # an option also rescues a bad value in the file: it is never judged
    file.write_text("epochs = 0\n")
    code, out, err = run(capsys, "train", "--config", file, "--epochs", "2", "--print-config")
    assert code == 0 and json.loads(out)["epochs"] == 2, err


def _unreadable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root reads any plain file; this one the kernel refuses to read even to root
        path = Path("/proc/sys/vm/drop_caches")
        try:
            path.read_bytes()
        except PermissionError:
            return path
        pytest.skip("no unreadable file for root here")
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    return path


BAD_FILES = {
    "unknown key": ("c.json", '{"epochs": 2, "epoch": 3}', "c.json: unknown setting 'epoch'"),
    "wrong type": ("c.json", '{"epochs": "10"}', "c.json: epochs must be a whole number (got '10')"),
    "bool as text": ("c.toml", 'flip = "no"\n', "c.toml: flip must be true or false (got 'no')"),
    "out of range": ("c.toml", "epochs = 0\n", "c.toml: epochs must be a whole number from 1 to 100000 (got 0)"),
    "rule between fields": ("c.json", '{"epochs": 2, "warmup_epochs": 5}', "c.json: warmup_epochs must not exceed"),
    "no such arch": ("c.json", '{"arch": "resnet7"}', "c.json: arch must be one of resnet20"),
    "bad json": ("c.json", '{"epochs": 2,', "c.json is not valid JSON"),
    "bad toml": ("c.toml", "epochs = = 2\n", "c.toml is not valid TOML"),
    "neither": ("c.cfg", "epochs: [2\n", "c.cfg is neither JSON nor TOML"),
    "empty": ("c.json", "  \n", "config file {dir}/c.json is empty"),
    "not a table": ("c.json", "[1, 2]", "c.json must hold a table of settings (got a list)"),
    "not text": ("c.json", b"\xff\xfe\x00", "c.json is not a text file"),
    "a folder": ("c.json", None, "config file {dir}/c.json is a folder, not a file"),
    "missing": ("nope.json", "", "config file {dir}/nope.json does not exist"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_config_file_is_one_line_and_writes_nothing(capsys, tmp_path, case):
    name, content, expected = BAD_FILES[case]
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif case != "missing":
        path.write_text(content)
    code, out, err = run(capsys, "train", "--config", path, "--run-dir", tmp_path / "runs", "--device", "cpu")
    assert code == 2 and out == "", err
    assert expected.format(dir=tmp_path) in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_an_unreadable_config_file(capsys, tmp_path):
    path = _unreadable(tmp_path)
    code, _, err = run(capsys, "train", "--config", path, "--run-dir", tmp_path / "runs")
    assert code == 2 and f"cannot read config file {path}: Permission denied" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag", [["--config", "x.json"], ["--print-config"], ["--preset", "paper"]])
def test_resume_takes_the_run_s_own_config(capsys, tmp_path, flag):
    code, _, err = run(capsys, "train", "--resume", tmp_path, *flag)
    assert code == 2 and f"{flag[0]} cannot be combined with --resume" in err


def test_an_older_run_s_config_json_still_reads(capsys, tmp_path):
    """Older runs wrote progress_interval (now fit()'s) and run_dir (now runs_dir) into config.json."""
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"train": {"arch": "simplecnn", "epochs": 3, "progress_interval": 0.1,
                                          "run_dir": str(tmp_path / "old-runs")},
                                "classes": ["a", "b"], "created": "2026-11-01T10:00:00+0000"}))
    code, out, err = run(capsys, "train", "--config", file, "--print-config")
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["arch"], printed["epochs"]) == ("simplecnn", 3) and "progress_interval" not in printed
    assert printed["runs_dir"] == str(tmp_path / "old-runs") and "run_dir" not in printed  # the field's new name
