"""`resnet-tui sweep`: the grid, mean ± std over seeds, continuing a killed sweep, and its bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_cli, run_here

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--dataset", "synthetic", "--train-subset", "200", "--batch-size", "50", "--image-size", "16", "--epochs", "1",
        "--device", "cpu"]


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_sweep_runs_every_point_and_summarises_mean_std_over_seeds(capsys, tmp_path):
    args = ["sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--seeds", "2", "--name", "g",
            "--run-dir", tmp_path, "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    rows = json.loads(out)  # stdout is the summary alone; progress went to stderr
    assert [r["label"] for r in rows] == ["lr=0.05", "lr=0.1"]
    folder = tmp_path / "g"
    for row, lr in zip(rows, (0.05, 0.1)):
        assert row["config"] == {"lr": lr} and row["n"] == 2 and row["completed"] == 2
        accs = []
        for name in row["runs"]:
            cfg = json.loads((folder / name / "config.json").read_text())["train"]
            assert cfg["lr"] == lr and cfg["arch"] == "simplecnn"
            accs.append(_status(folder / name)["final_test_acc"])
        assert sorted(json.loads((folder / n / "config.json").read_text())["train"]["seed"] for n in row["runs"]) == [0, 1]
        assert row["mean"] == pytest.approx(statistics.fmean(accs))
        assert row["std"] == pytest.approx(statistics.stdev(accs))
    assert json.loads((folder / "summary.json").read_text())["rows"][0]["mean"] == rows[0]["mean"]
    assert "[4/4] lr=0.1 seed 1: starting" in err

    # The same command again: nothing is redone.
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*/final.pt")}
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and err.count("completed earlier, kept") == 4
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/final.pt")} == stamps
    assert json.loads(out) == rows

    # The table, and the runs list names the sweep's runs SWEEP/RUN.
    code, out, _ = run_cli(capsys, "sweep", *args[1:-1])
    assert code == 0 and "± " in out and "(n=2)" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--run-dir", tmp_path, "--json")
    assert sorted(r["name"] for r in json.loads(out)) == sorted(f"g/{n}" for r in rows for n in r["runs"])
    code, out, _ = run_cli(capsys, "runs", "list", "--run-dir", tmp_path, "--csv")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("name,sweep,arch") and len(lines) == 5
    assert any(line.startswith("g/lr0.1_seed1,g,simplecnn,synthetic,completed") for line in lines)

    # A run set up differently outside the sweep (as `train --resume RUN --epochs 3` would) is kept and flagged.
    changed = folder / "lr0.1_seed0" / "config.json"
    changed.write_text(json.dumps(json.loads(changed.read_text()) | {"train": {**json.loads(changed.read_text())["train"],
                                                                                 "epochs": 3}}))
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and "note: lr0.1_seed0 was changed outside the sweep: epochs 3 (the sweep's 1)" in err, err
    assert [r["changed"] for r in json.loads(out)] == [[], ["lr0.1_seed0"]]
    code, out, _ = run_cli(capsys, "sweep", *args[1:-1])
    assert "lr=0.1 *" in out and "* set up differently from the sweep" in out and "lr=0.05 *" not in out


@pytest.mark.slow
def test_a_killed_sweep_started_again_keeps_finished_runs_and_resumes_the_interrupted_one(tmp_path, capsys):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "tui.cli", "sweep", "--dataset", "synthetic", "--train-subset", "1600",
            "--batch-size", "50", "--image-size", "16", "--epochs", "2", "--device", "cpu", "--arch", "resnet20",
            "--lr", "0.05,0.1", "--seeds", "1", "--name", "k", "--run-dir", str(tmp_path)]
    folder = tmp_path / "k"
    first, second = folder / "lr0.05_seed0", folder / "lr0.1_seed0"
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300  # generous: CI machines are slow and loaded
        while not (second / "metrics.jsonl").exists():  # the second run is in its second epoch
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, out
    assert _status(first)["status"] == "completed" and _status(second)["status"] == "stopped"
    kept = (first / "final.pt").stat().st_mtime_ns

    again = run_here(capsys, *args[3:])  # started again in this process (the kill was the point, not this)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[1/2] lr=0.05 seed 0: completed earlier, kept" in again.stdout
    assert "[2/2] lr=0.1 seed 0: resuming from its checkpoint" in again.stdout
    assert (first / "final.pt").stat().st_mtime_ns == kept  # the finished run was not redone
    assert _status(second)["status"] == "completed"
    assert [r["epoch"] for r in map(json.loads, (second / "metrics.jsonl").read_text().splitlines())] == [1, 2]


@pytest.mark.parametrize("extra, says", [
    (["--lr", ","], "--lr: empty value in the grid"),
    (["--lr", ""], "--lr: empty value in the grid"),
    (["--lr", "0.05,abc"], "--lr: 'abc' is not a number"),
    (["--frobnicate", "1,2"], "No such option: --frobnicate"),
    (["--lr", "0.05,0.1", "--seeds", "0"], "--seeds must be 1 or more (got 0)"),
    (["--lr", "0.05"], "nothing to sweep"),
    (["--lr", "0.05,0.05"], "--lr: a value is listed twice"),
    (["--lr", "0.05,20"], "--lr must be"),
    (["--arch", "resnet20,resnet7"], "resnet7"),
    (["--seed", "1,2", "--lr", "0.1,0.2"], "--seed takes one value in a sweep"),
    (["--lr", "0.1,0.2", "--name", "a/b"], "a sweep's name is a folder name"),
    (["--lr", "0.1,0.2", "--name", ""], "a sweep's name is a folder name"),
    (["--seeds", "2", "--seed", "4294967295"], "--seed 4294967295 with --seeds 2 goes past the largest seed"),
    (["--lr", "0.1,0.2", "--dataset", "folder", "--data", "/no/such/folder"], "/no/such/folder is not a folder"),
    (["--lr", "0.1,0.2", "--device", "cuda:7"], "--device cuda:7"),  # checked for every point before writing
])
def test_bad_sweep_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, extra, says):
    code, out, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--name", "bad", "--run-dir", tmp_path / "runs", *extra)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_sweep_folder_of_another_spec_is_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--name", "s",
                           "--run-dir", tmp_path, "--seeds", "1")
    assert code == 0, err
    before = sorted(p.name for p in (tmp_path / "s").iterdir())
    code, _, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.2", "--name", "s",
                           "--run-dir", tmp_path, "--seeds", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "holds a sweep made by another command: --lr 0.05,0.2 (this sweep has 0.05,0.1)" in err
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == before
    code, out, err = run_cli(capsys, "sweep", *TINY, "--lr", "0.1,0.05", "--arch", "simplecnn", "--name", "s",
                             "--run-dir", tmp_path, "--seeds", "1")  # the same grid, given in another order
    assert code == 0 and "continuing it" in out and "completed earlier, kept" in out, err
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--name", "plain",
                           "--run-dir", tmp_path)
    assert code == 2 and "already exists and is not a sweep" in err
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["notes.txt"]


def test_a_sweep_whose_first_run_could_not_start_takes_the_corrected_command(capsys, tmp_path):
    """A problem only the run finds (here the data's class count) stops the sweep before any run folder exists:
    the corrected command under the same --name is not refused for a spec nothing was made of."""
    code, _, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--name", "s",
                           "--run-dir", tmp_path, "--num-classes", "5")
    assert code == 2 and "--num-classes 5 does not match" in err
    code, out, err = run_cli(capsys, "sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--name", "s",
                             "--run-dir", tmp_path)
    assert code == 0 and "continuing it" not in out, err
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["fixed"].get("num_classes") is None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


@pytest.mark.slow
def test_background_sweep_runs_detached_and_a_second_one_is_refused(capsys, tmp_path):
    args = ["sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--train-subset", "2000", "--name", "bg",
            "--run-dir", tmp_path]
    code, out, err = run_cli(capsys, *args, "--background")
    assert code == 0 and "started the sweep in the background" in out, err
    folder = tmp_path / "bg"
    code, _, err = run_cli(capsys, *args)  # the same sweep while the detached one holds it
    assert code == 2 and "is already running (pid" in err and len(err.strip().splitlines()) == 1
    pid = int(re.search(r"pid (\d+)", out).group(1))
    deadline = time.time() + 300
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        assert time.time() < deadline, (folder / "log.txt").read_text()
        time.sleep(0.2)
    rows = json.loads((folder / "summary.json").read_text())["rows"]
    assert [r["completed"] for r in rows] == [1, 1]
    log = (folder / "log.txt").read_text()
    assert "[2/2] lr=0.1 seed 0: starting" in log and "(n=1)" in log


def test_a_failed_run_is_counted_apart_and_kept(capsys, tmp_path, monkeypatch):
    from helpers import poison_loss

    poison_loss(monkeypatch, from_call=1)  # every step's loss is nan: every run fails
    args = ["sweep", *TINY, "--arch", "simplecnn", "--lr", "0.05,0.1", "--name", "f", "--run-dir", tmp_path, "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 1, err
    rows = json.loads(out)
    assert [(r["failed"], r["completed"], r["n"], r["mean"]) for r in rows] == [(1, 0, 0, None), (1, 0, 0, None)]
    code, out, err = run_cli(capsys, *args)  # again: failed runs are not retried
    assert code == 1 and err.count("failed earlier, kept") == 2
    code, out, _ = run_cli(capsys, *args[:-1])
    assert "-" in out and "0/1 (1 failed)" in out


@pytest.mark.slow
def test_a_sweep_on_two_workers_trains_each_point_once(capsys, tmp_path):
    args = ["sweep", *TINY, "--arch", "simplecnn", "--lr", "0.02,0.05,0.1", "--seeds", "2", "--workers", "2", "--name", "par",
            "--run-dir", tmp_path, "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["completed"] for r in rows] == [2, 2, 2]
    folder = tmp_path / "par"
    for r in rows:
        for name in r["runs"]:
            assert [json.loads(line)["epoch"] for line in (folder / name / "metrics.jsonl").read_text().splitlines()] == [1]
    assert "[w0] [" in err and "[w1] [" in err  # both workers trained points
    assert err.count(": starting on cpu") == 6  # each of the six once
    code, _, err = run_cli(capsys, *args[:-1], "--background")
    assert code == 2 and "--background runs a sweep as one process" in err
