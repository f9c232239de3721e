"""`resnet-tui search` with real worker processes: trials as run folders, the JSON and the table, two searches
joining one study, a killed search continued, the grid sampler, and the bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import kill_leftovers, rows_of, run_cli

ROOT = Path(__file__).resolve().parents[3]
TINY = ["--dataset", "synthetic", "--train-subset", "160", "--batch-size", "32", "--image-size", "16", "--device", "cpu",
        "--arch", "simplecnn"]


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "tui.cli.main", *map(str, args)]


def _trial_numbers(folder: Path) -> list[int]:
    import optuna

    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
    return sorted(t.number for t in study.trials)


@pytest.mark.slow
def test_a_search_trains_its_trials_as_runs_and_only_its_best_is_tested(capsys, tmp_path):
    args = ["search", *TINY, "--epochs", "2", "--lr", "0.02,0.1", "--weight-decay", "0,1e-4", "--workers", "2",
            "--sampler", "grid", "--pruner", "none", "--name", "s", "--run-dir", tmp_path, "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    found = json.loads(out)
    folder = tmp_path / "s"
    assert found["study"] == "s" and found["storage"] == f"sqlite:///{folder.resolve() / 'study.db'}"
    trials = found["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3] and {t["state"] for t in trials} == {"complete"}
    points = sorted((t["params"]["lr"], t["params"]["weight_decay"]) for t in trials)
    assert points == [(0.02, 0.0), (0.02, 1e-4), (0.1, 0.0), (0.1, 1e-4)]  # the grid's size by default, each point once
    for t in trials:
        run = folder / t["run"]
        cfg = json.loads((run / "config.json").read_text())["train"]
        assert cfg["lr"] == t["params"]["lr"] and cfg["weight_decay"] == t["params"]["weight_decay"]
        assert cfg["val_split"] == 0.1 and cfg["final_test"] is False
        rows = rows_of(run)
        assert [r["val_acc"] for r in rows] == pytest.approx(t["val_acc_per_epoch"], abs=1e-4)
        assert t["val_acc"] == rows[-1]["val_acc"] and all(r["test_acc"] is None for r in rows)
    best = max(trials, key=lambda t: (t["val_acc"], -t["number"]))
    assert found["best"]["run"] == best["run"] and found["best"]["val_acc"] == best["val_acc"]
    assert 0.0 <= found["best"]["test_acc"] <= 1.0
    assert json.loads((folder / "best.json").read_text())["test_acc"] == found["best"]["test_acc"]
    assert "[w0 cpu] trial" in err and "[w1 cpu] trial" in err  # two workers trained

    # The table: every trial, its params and val acc per epoch, and the result marked as the best trial's test.
    code, out, err = run_cli(capsys, *args[:-1])
    assert code == 0 and "(continuing it)" in out and "complete" in out
    assert f"result: test accuracy {100 * found['best']['test_acc']:.2f}% (the best trial's test, measured after the trials)" in out
    assert "4 complete" in out and "all 4 trials are done or running" in out and " on cpu: " not in out  # no worker
    code, out, _ = run_cli(capsys, "runs", "list", "--run-dir", tmp_path, "--json")
    assert sorted(r["name"] for r in json.loads(out)) == [f"s/trial-00{i}" for i in range(4)]


@pytest.mark.slow
def test_two_processes_join_one_study_and_no_trial_is_done_twice(capsys, tmp_path):
    args = ["search", *TINY, "--epochs", "1", "--lr", "0.01:0.3:log", "--trials", "6", "--workers", "1", "--sampler",
            "random", "--pruner", "none", "--name", "j", "--run-dir", tmp_path]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(_cli(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "j"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (folder / "study.db").is_file():
            time.sleep(0.05)
        code, out2, err2 = run_cli(capsys, *args)  # the second command (its own worker process) joins the first's
        out1, err1 = first.communicate(timeout=240)
    finally:
        kill_leftovers(tmp_path)
    assert first.returncode == 0 and code == 0, err1 + err2
    assert "(continuing it)" in out2
    assert _trial_numbers(folder) == list(range(6))  # the budget is the study's, not each command's
    ran1 = {line.split(" (")[0] for line in out1.splitlines() if " on cpu: " in line}
    ran2 = {line.split(" (")[0] for line in out2.splitlines() if " on cpu: " in line}
    assert ran1 and ran2 and not ran1 & ran2  # both trained, never the same trial
    runs = sorted(p.name for p in folder.glob("trial-*"))
    assert runs == [f"trial-00{i}" for i in range(6)]
    for run in runs:
        assert [r["epoch"] for r in rows_of(folder / run)] == [1]  # each trained once


@pytest.mark.slow
def test_a_hang_up_under_nohup_leaves_a_search_be_and_a_killed_one_continues_from_its_checkpoints(capsys, tmp_path):
    args = ["search", *TINY, "--epochs", "24", "--lr", "0.01:0.3:log", "--trials", "2", "--workers", "2", "--sampler",
            "random", "--pruner", "none", "--name", "k", "--run-dir", tmp_path]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_cli(*args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    folder = tmp_path / "k"

    def epochs() -> list[int]:
        return sorted(len(rows_of(r)) for r in folder.glob("trial-*") if (r / "metrics.jsonl").is_file())

    def wait_for(least: int) -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            done = epochs()
            if len(done) == 2 and min(done) >= least:
                return
            time.sleep(0.05)
        pytest.fail(f"the trials never reached epoch {least}: {epochs()}")

    try:
        wait_for(2)
        os.killpg(proc.pid, signal.SIGHUP)  # the terminal is gone; under nohup every process ignores it
        wait_for(min(epochs()) + 2)  # both trials train on
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its workers, at once, without a word
        proc.wait(timeout=30)
    finally:
        kill_leftovers(tmp_path)
    before = {r.name: rows_of(r) for r in folder.glob("trial-*")}
    assert min(len(rows) for rows in before.values()) < 24
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "continuing its folder" in out and "retried as" in out and "2 complete" in out
    for name, rows in before.items():
        after = rows_of(folder / name)
        assert [r["epoch"] for r in after] == list(range(1, 25))
        kept = [r for r in rows if r["epoch"] < len(rows)]  # the epochs finished before the kill are the same rows
        assert after[: len(kept)] == kept
    assert sorted(p.name for p in folder.glob("trial-*")) == ["trial-000", "trial-001"]  # no folder started afresh


@pytest.mark.parametrize("extra, says", [
    (["--lr", "0.5:0.1"], "--lr '0.5:0.1': the range is inverted"),
    (["--lr", "0.1:0.1"], "the range is empty"),
    (["--lr", "0:0.1:log"], "a log range needs bounds above 0"),
    (["--lr", "0.01:0.1", "--bogus", "1"], "No such option: --bogus"),
    (["--lr", "0.01:0.1", "--storage", "sqlite:////no/such/folder/x.db"], "--storage sqlite:////no/such/folder/x.db: cannot open it"),
    (["--lr", "0.01:0.1", "--storage", "nonsense"], "is not a storage URL"),
    (["--lr", "0.01:0.1", "--workers", "99"], "--workers 99: more workers than CPU cores"),
    (["--lr", "0.01:0.1", "--val-split", "0"], "a search is judged on a validation split and --val-split is 0"),
    (["--lr", "0.01:0.1", "--sampler", "grid"], "--sampler grid takes comma lists, not ranges"),
    (["--lr", "0.01:0.1", "--gpus", "all"], "--gpus all: no CUDA GPU is visible here"),
    (["--lr", "0.01:0.1", "--devices", "cpu,cpu"], "give distinct devices"),
    (["--arch", "resnet20,resnet7"], "(got 'resnet7') (a trial of this space: arch=resnet7)"),
])
def test_bad_input_is_one_line_and_exit_2_before_anything_is_written(capsys, tmp_path, extra, says):
    code, out, err = run_cli(capsys, "search", *TINY, *extra, "--name", "bad", "--run-dir", tmp_path)
    assert code == 2 and says in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()


def test_the_same_name_with_another_space_is_refused(capsys, tmp_path):
    from core.experiments import search as se

    se.open_search(tmp_path / "s", se.make_spec("s", {"lr": {"low": 0.01, "high": 0.5, "log": True, "int": False}}, {}))
    code, _, err = run_cli(capsys, "search", *TINY, "--lr", "0.01:0.1:log", "--name", "s", "--run-dir", tmp_path)
    assert code == 2 and "the search s exists with another space: --lr 0.01..0.1 (log) (this search has 0.01..0.5 (log))" in err


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_report_of_a_search_draws_its_history_importances_and_best_trial(capsys, tmp_path, suffix):
    from run_fakes import fake_search

    folder = fake_search(tmp_path)
    out = tmp_path / f"r{suffix}"
    code, said, err = run_cli(capsys, "report", folder, "--out", out)
    assert code == 0 and f"wrote {out}" in said and "the search hunt" in said, err
    data = out.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG") and len(data) > 20_000
    else:
        page = data.decode()
        assert "search hunt" in page and "data:image/png;base64," in page
        assert "result: its test accuracy 81.50% (measured after the trials)" in page
        assert page.count("<tr>") == 1 + 5  # the header and the five trials
    code, _, err = run_cli(capsys, "report", folder, folder / "trial-000", "--out", out)
    assert code == 2 and "a search's report is its own" in err
