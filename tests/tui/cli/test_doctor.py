"""`resnet-tui doctor` for real on this machine (in this process: the real probe, no fakes): every check has a
row, the exit code agrees with the rows, --json is one object, the plain output one line a check."""

from __future__ import annotations

import json

from helpers import run_cli

from core.hardware.probe import STATUSES

ALWAYS = ["python", "torch", "torchvision", "gpus", "nccl", "shm", "runs", "cache", "open-files", "terminal",
          "colour", "encoding", "tmux"]  # plus gpu0, gpu1 ... where NVML sees GPUs


def test_json_has_every_check_and_the_exit_code_agrees(capsys, tmp_path):
    code, out, err = run_cli(capsys, "doctor", "--json", "--run-dir", tmp_path / "runs", "--cache-dir", tmp_path / "c")
    checks = json.loads(out)["checks"]
    names = [c["name"] for c in checks]
    assert [n for n in names if not n.startswith("gpu") or n == "gpus"] == ALWAYS, names
    assert all(set(c) == {"name", "status", "detail", "fix"} and c["status"] in STATUSES for c in checks)
    assert all("\n" not in c["detail"] + c["fix"] for c in checks)
    assert code == (1 if any(c["status"] == "fail" for c in checks) else 0), (checks, err)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "c").exists()  # checked, not made


def test_plain_output_is_a_line_a_check_and_a_failed_folder_exits_1(capsys, tmp_path):
    (tmp_path / "file").write_text("x")  # a folder under a regular file cannot be made, even by root
    code, out, _ = run_cli(capsys, "doctor", "--run-dir", tmp_path / "file" / "runs", "--cache-dir", tmp_path)
    assert code == 1
    lines = out.splitlines()
    rows = [line for line in lines if not line.lstrip().startswith("fix: ")]
    assert len(rows) >= len(ALWAYS) and all(line.split()[0] in STATUSES for line in rows)
    runs = next(i for i, line in enumerate(lines) if line.split()[:2] == ["fail", "runs"])
    assert "is not a folder" in lines[runs] and "--run-dir" in lines[runs + 1] and lines[runs + 1].startswith(" ")
    assert lines[0].split()[:2] == ["info", "python"]


def test_the_root_run_dir_option_is_the_folder_checked(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, _ = run_cli(capsys, "--run-dir", tmp_path / "file", "doctor", "--json", "--cache-dir", tmp_path)
    runs = next(c for c in json.loads(out)["checks"] if c["name"] == "runs")
    assert code == 1 and runs["status"] == "fail" and str(tmp_path / "file") in runs["detail"]
