"""The study shared by a search's workers, with real processes: asks under the lock keep the budget exact and
never draw one point twice; a dead worker's trial is failed and queued again with its params."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from core.experiments import search as se

ROOT = Path(__file__).resolve().parents[3]
ASKER = """
import json, sys
from pathlib import Path
from core.experiments import search as se
from core.experiments.search_study import next_trial, open_storage, open_study
folder = Path(sys.argv[1]); spec = se.read_spec(folder)
study = open_study(spec, open_storage(spec["storage"]), 1)
while (trial := next_trial(study, spec, folder, 24)) is not None:
    study.tell(trial, trial.params["lr"])  # no training: asks as fast as they come
"""


def _search(tmp_path: Path, sampler: str = "random") -> Path:
    folder = tmp_path / "s"
    spec = se.make_spec("s", {"lr": {"low": 0.01, "high": 0.5, "log": True, "int": False}}, {"dataset": "synthetic"},
                        sampler=sampler)
    se.open_search(folder, spec)
    return folder


@pytest.mark.slow
def test_four_processes_asking_at_once_keep_the_budget_and_draw_distinct_points(tmp_path):
    folder = _search(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", ASKER, str(folder)], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    study = optuna.load_study(study_name="s", storage=se.read_spec(folder)["storage"])
    assert len(study.trials) == 24  # not one more: the count and the ask happen under one lock
    assert len({t.params["lr"] for t in study.trials}) == 24


def test_a_trial_whose_worker_died_is_failed_and_queued_again_with_its_params(tmp_path):
    from core.experiments.search_study import counted, fail_dead_trials, open_storage, open_study

    folder = _search(tmp_path)
    spec = se.read_spec(folder)
    study = open_study(spec, open_storage(spec["storage"]), 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.5, log=True)})
    import socket

    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", int(dead.stdout))  # a process that has ended
    alive = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.5, log=True)})
    alive.set_user_attr("host", socket.gethostname())
    alive.set_user_attr("pid", os.getpid())
    assert fail_dead_trials(study) == [trial.number]
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "FAIL", 1: "RUNNING", 2: "WAITING"} and study.trials[2].params == study.trials[0].params
    assert counted(study.trials) == 2  # the dead one is not counted again: its retry is


@pytest.mark.slow
def test_a_late_heartbeat_fails_another_machines_trial_but_not_one_whose_worker_here_lives(tmp_path, monkeypatch):
    import socket
    import time

    from core.experiments import search_study
    from core.experiments.search_study import fail_dead_trials, open_storage, open_study

    monkeypatch.setattr(search_study, "HEARTBEAT", 1)
    monkeypatch.setattr(search_study, "GRACE", 1)
    folder = _search(tmp_path)
    spec = se.read_spec(folder)
    study = open_study(spec, open_storage(spec["storage"]), 1)
    lr = {"lr": optuna.distributions.FloatDistribution(0.01, 0.5, log=True)}
    here, there = study.ask(lr), study.ask(lr)
    for trial, host in ((here, socket.gethostname()), (there, "another-machine")):
        trial.set_user_attr("host", host)
        trial.set_user_attr("pid", os.getpid())
        study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)  # both beats are now older than the grace period
    assert fail_dead_trials(study) == [there.number]
    assert [t.state.name for t in study.trials] == ["RUNNING", "FAIL", "WAITING"]
