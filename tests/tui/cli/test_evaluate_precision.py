"""Which precision an accuracy was measured in: a run's own evaluations ran under its training precision (the
metrics row says which), `evaluate` measures in fp32 unless --precision asks otherwise, and says so."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from core.runs.layout import read_metrics


def evaluate_json(capsys, run, *args):
    code, out, err = run_cli(capsys, "evaluate", run, "--device", "cpu", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_evaluate_is_fp32_unless_asked_and_says_which(capsys, trained_run):
    fp32 = evaluate_json(capsys, trained_run)
    bf16 = evaluate_json(capsys, trained_run, "--precision", "bf16")
    assert fp32["precision"] == "fp32" and bf16["precision"] == "bf16"
    # bf16 autocast really ran: the same weights give a slightly different loss (and a close accuracy)
    assert bf16["loss"] != fp32["loss"]
    assert abs(bf16["loss"] - fp32["loss"]) < 0.05 and abs(bf16["accuracy"] - fp32["accuracy"]) <= 0.05
    code, out, err = run_cli(capsys, "evaluate", trained_run, "--device", "cpu")
    assert code == 0 and "images, fp32)" in " ".join(out.split()), out  # (rich may wrap the line at 80 columns)


def test_the_run_s_metrics_name_the_precision_its_evaluation_ran_in(trained_run):
    rows = [r for r in read_metrics(trained_run) if "eval_split" in r]
    assert rows and all(r["eval_precision"] == "fp32" for r in rows)  # trained on the CPU: fp32


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_auto_on_the_cpu_is_fp32(capsys, trained_run, precision):
    assert evaluate_json(capsys, trained_run, "--precision", precision)["precision"] == "fp32"
