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


def test_a_folder_of_other_params_is_set_aside_and_a_completed_one_is_told_without_training(study_and_spec):
    import json

    study, spec, folder = study_and_spec
    first = study.ask(distributions(spec["space"]))
    run_trial(study, first, spec, folder, "cpu", threading.Event())
    done = json.loads((folder / "trial-000" / "run.json").read_text())
    # The study is lost and started again: its trial 0 draws other params and must not continue trial-000.
    study2 = optuna.create_study(direction="maximize")
    other = study2.ask(distributions(spec["space"]))
    assert other.params["lr"] != first.params["lr"]
    outcome = run_trial(study2, other, spec, folder, "cpu", threading.Event())
    assert outcome.state == "complete" and len(list((folder / ".abandoned").iterdir())) == 1
    # A worker that died after its run completed, before telling the study: the retry reads the folder, trains nothing.
    study3 = optuna.create_study(direction="maximize")
    study3.enqueue_trial(dict(other.params))
    again = study3.ask(distributions(spec["space"]))
    stamp = (folder / "trial-000" / "final.pt").stat().st_mtime_ns
    outcome = run_trial(study3, again, spec, folder, "cpu", threading.Event())
    assert outcome.state == "complete" and study3.trials[0].value == outcome.value
    assert (folder / "trial-000" / "final.pt").stat().st_mtime_ns == stamp and done["status"] == "completed"


def test_a_trial_stopped_on_its_own_ends_stopped_and_is_not_retried(study_and_spec, capsys):
    import time

    from core.experiments.search_results import trial_rows
    from helpers import run_cli

    study, spec, folder = study_and_spec
    spec["fixed"]["epochs"] = 300
    trial = study.ask(distributions(spec["space"]))
    found = {}
    worker = threading.Thread(target=lambda: found.update(o=run_trial(study, trial, spec, folder, "cpu", threading.Event())))
    worker.start()
    deadline = time.time() + 60
    while time.time() < deadline and not (folder / "trial-000" / "metrics.jsonl").is_file():
        time.sleep(0.05)
    code, _, err = run_cli(capsys, "runs", "stop", folder / "trial-000")
    worker.join(timeout=60)
    assert code == 0, err
    assert found["o"].state == "stopped"
    assert [t.state.name for t in study.trials] == ["FAIL"]  # not queued again: the user ended it
    assert trial_rows(study)[0]["state"] == "stopped"


def test_a_setup_error_fails_the_trial_in_one_line_and_the_worker_goes_on(study_and_spec, monkeypatch):
    import core.train

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore lines")

    monkeypatch.setattr(core.train, "fit", out_of_memory)
    study, spec, folder = study_and_spec
    outcome = run_trial(study, study.ask(distributions(spec["space"])), spec, folder, "cpu", threading.Event())
    assert outcome.state == "failed" and study.trials[0].state.name == "FAIL"
    assert study.trials[0].user_attrs["error"] == "CUDA out of memory. Tried to allocate 2.00 GiB"
