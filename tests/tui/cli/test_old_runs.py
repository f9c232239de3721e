"""A run folder written by an older resnet-tui (tests/fixtures/run-from-0a1294f: commit 0a1294f, before the
house layout; simplecnn on 8-px synthetic images, 1 epoch) still lists, evaluates, resumes and reports: the
files a run leaves behind are the product's promise, whatever the code's layout."""

from __future__ import annotations

import json
import shutil

from helpers import ROOT, rows_of, run_cli, status_of

OLD = ROOT / "tests" / "fixtures" / "run-from-0a1294f"


def test_a_run_folder_from_an_older_version_lists_evaluates_resumes_and_reports(capsys, tmp_path):
    runs = tmp_path / "runs"
    run = runs / "v0"
    shutil.copytree(OLD, run)

    code, out, err = run_cli(capsys, "runs", "list", "--run-dir", runs, "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["name"], row["status"], row["live"]) == ("v0", "completed", False)

    code, out, err = run_cli(capsys, "evaluate", run, "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["count"] == 1000  # its weights load (weights-only) and evaluate its test set

    code, out, err = run_cli(capsys, "train", "--resume", run, "--epochs", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert [r["epoch"] for r in rows_of(run)] == [1, 2] and status_of(run)["epochs_completed"] == 2

    code, out, err = run_cli(capsys, "report", run, "--out", tmp_path / "old.html")
    assert code == 0, err
    assert (tmp_path / "old.html").stat().st_size > 0
