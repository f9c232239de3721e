"""One trial in this process against a real (in-memory) study: reported epochs, pruning, the run's status."""

from __future__ import annotations

import threading

import optuna
import pytest

from core.experiments import search as se
from core.experiments.search_space import distributions
from core.experiments.search_trial import run_trial
from core.runs.catalog import summarize

TINY = {"dataset": "synthetic", "train_subset": 160, "image_size": 16, "batch_size": 32, "arch": "simplecnn",
        "epochs": 3, "device": "cpu"}


@pytest.fixture()
def study_and_spec(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = se.make_spec("s", {"lr": {"low": 0.01, "high": 0.1, "log": True, "int": False}}, dict(TINY))
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    return study, spec, tmp_path


def test_a_completed_trial_reports_every_epochs_validation_accuracy(study_and_spec):
    study, spec, folder = study_and_spec
    trial = study.ask(distributions(spec["space"]))
    outcome = run_trial(study, trial, spec, folder, "cpu", threading.Event())
    frozen = study.trials[0]
    rows = [r for r in (folder / "trial-000" / "metrics.jsonl").read_text().splitlines()]
    import json

    vals = [json.loads(r)["val_acc"] for r in rows]
    assert outcome.state == "complete" and frozen.state.name == "COMPLETE"
    assert [frozen.intermediate_values[e] for e in (1, 2, 3)] == vals and frozen.value == vals[-1]
    assert all(json.loads(r)["test_acc"] is None for r in rows)  # the test set is never evaluated by a trial
    assert frozen.user_attrs["run"] == "trial-000"


def test_a_hopeless_trial_is_pruned_and_its_run_reads_pruned(study_and_spec):
    study, spec, folder = study_and_spec
    for value in (0.9, 0.95):  # two finished trials far above anything this one reaches
        study.add_trial(optuna.create_trial(params={"lr": 0.05}, distributions=distributions(spec["space"]), value=value,
                                            intermediate_values={1: value, 2: value, 3: value}))
    trial = study.ask(distributions(spec["space"]))
    worker_stop = threading.Event()
    outcome = run_trial(study, trial, spec, folder, "cpu", worker_stop)
    assert outcome.state == "pruned" and outcome.epochs == 1
    assert not worker_stop.is_set()  # pruning ends this trial, not the worker's search
    assert study.trials[-1].state.name == "PRUNED"
    run = summarize(folder / outcome.run)
    assert run.status == "pruned" and run.epochs_done == 1  # stopped cleanly at its checkpoint, folder kept
    assert (folder / outcome.run / "last.pt").is_file() and not (folder / outcome.run / "final.pt").exists()


def test_the_workers_stop_stops_its_trial_and_hands_it_back_for_a_retry(study_and_spec):
    study, spec, folder = study_and_spec
    stop = threading.Event()
    trial = study.ask(distributions(spec["space"]))
    threading.Timer(0.5, stop.set).start()  # a signal to the worker while the trial trains
    spec["fixed"]["epochs"] = 200
    outcome = run_trial(study, trial, spec, folder, "cpu", stop)
    assert outcome.state == "stopped" and summarize(folder / outcome.run).status == "stopped"
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "WAITING"]  # failed, and queued again with the same params: the next run continues it
    assert study.trials[1].params == study.trials[0].params
