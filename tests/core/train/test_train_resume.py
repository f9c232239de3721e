"""fit() resumes exactly: after a stop mid-epoch, after an epoch, with more epochs; it refuses what cannot be resumed."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from helpers import Recorder, fit_config, tiny_bundle

from core.config.train_config import TrainConfig
from core.errors import CheckpointError, UserError
from core.runs.events import BatchProgress, CheckpointSaved, EpochEnded, RunFinished, RunStarted
from core.runs.layout import read_metrics
from core.train import fit
from core.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("every_batch_reported")  # tests count steps


config = fit_config


def test_stop_mid_epoch_saves_and_resume_is_bit_identical(tmp_path):
    straight = Recorder()
    a = fit(config(tmp_path, name="a", epochs=2), straight, data=tiny_bundle())

    stop = threading.Event()
    first = Recorder(lambda e: isinstance(e, BatchProgress) and e.global_step == 11, stop)
    b = fit(config(tmp_path, name="b", epochs=2), first, stop, data=tiny_bundle())
    assert b.status == "stopped" and b.epochs_completed == 1
    saved = first.of(CheckpointSaved)[-1]
    assert saved.mid_epoch and saved.kind == "last"
    assert first.of(RunFinished)[0].status == "stopped"
    assert [r["epoch"] for r in read_metrics(b.run_dir)] == [1]

    second = Recorder()
    c = fit(TrainConfig(), second, data=tiny_bundle(), resume=b.run_dir)
    assert c.status == "completed" and c.epochs_completed == 2
    assert second.of(RunStarted)[0].start_epoch == 1
    assert first.losses() + second.losses() == straight.losses()  # bitwise equal floats
    sa = load_checkpoint(a.run_dir / "final.pt")["model"]
    sc = load_checkpoint(c.run_dir / "final.pt")["model"]
    assert all(torch.equal(sa[k], sc[k]) for k in sa)
    assert [r["train_loss"] for r in read_metrics(c.run_dir)] == [r["train_loss"] for r in read_metrics(a.run_dir)]


def test_one_epoch_then_resume_then_one_more_matches_two_straight(tmp_path):
    straight = Recorder()
    fit(config(tmp_path, name="a", epochs=2), straight, data=tiny_bundle())
    stop = threading.Event()
    first = Recorder(lambda e: isinstance(e, EpochEnded) and e.epoch == 1, stop)
    b = fit(config(tmp_path, name="b", epochs=2), first, stop, data=tiny_bundle())
    assert b.status == "stopped" and b.epochs_completed == 1
    second = Recorder()
    fit(TrainConfig(), second, data=tiny_bundle(), resume=b.run_dir)
    assert first.losses() + second.losses() == straight.losses()


def test_resume_can_extend_and_refuses_other_changes(tmp_path):
    run = fit(config(tmp_path, epochs=1), data=tiny_bundle()).run_dir
    with pytest.raises(UserError, match="already finished 1 epoch .of 1."):
        fit(TrainConfig(), data=tiny_bundle(), resume=run)
    with pytest.raises(UserError, match="--lr cannot change"):
        fit(TrainConfig(), data=tiny_bundle(), resume=run, resume_overrides={"epochs": 2, "lr": 0.5})
    more = fit(TrainConfig(), data=tiny_bundle(), resume=run, resume_overrides={"epochs": 2})
    assert more.status == "completed" and more.epochs_completed == 2
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]


def test_resume_refuses_non_runs_and_changed_data(tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        fit(TrainConfig(), resume=tmp_path)
    run = fit(config(tmp_path, epochs=1), data=tiny_bundle()).run_dir
    with pytest.raises(CheckpointError, match="data differs"):
        fit(TrainConfig(), data=tiny_bundle(train=128), resume=run, resume_overrides={"epochs": 2})


def test_stray_metrics_rows_past_the_checkpoint_are_dropped_on_resume(tmp_path):
    stop = threading.Event()
    rec = Recorder(lambda e: isinstance(e, EpochEnded) and e.epoch == 1, stop)
    run = fit(config(tmp_path, epochs=3), rec, stop, data=tiny_bundle()).run_dir
    with open(run / "metrics.jsonl", "a") as fh:  # as if a crash hit between the row and the checkpoint
        fh.write(json.dumps({"epoch": 2, "train_loss": 9.9}) + "\n")
        fh.write('{"epoch": 3, "trunc')
    fit(TrainConfig(), data=tiny_bundle(), resume=run)
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[1]["train_loss"] != 9.9
