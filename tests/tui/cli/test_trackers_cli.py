"""--log from the command line (train, finetune, sweep, a config file) and `runs export RUN... --to mlflow|wandb`."""

from __future__ import annotations

import pytest
from helpers import run_cli, tiny_bundle

from core.config.train_config import TrainConfig
from core.runs.layout import read_metrics
from core.train import fit

pytestmark = pytest.mark.slow  # an MLflow SQLite store is made (seconds)


def test_export_logs_an_existing_run_once_and_a_sweep_is_one_mlflow_experiment(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    runs = tmp_path / "runs"
    run = fit(TrainConfig(arch="simplecnn", epochs=2, batch_size=32, device="cpu", image_size=16, dataset="synthetic",
                          runs_dir=str(runs), name="old", tensorboard=False), data=tiny_bundle()).run_dir
    code, out, err = run_cli(capsys, "runs", "export", "old", "--to", "mlflow", "--run-dir", runs)
    assert code == 0 and out.startswith("old: exported to mlflow (run "), err
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("resnet-tui").experiment_id])
    assert found.info.status == "FINISHED" and found.data.params["arch"] == "simplecnn"
    rows = read_metrics(run)
    history = {m.step: m.value for m in client.get_metric_history(found.info.run_id, "test_acc")}
    assert history == {r["epoch"]: pytest.approx(r["test_acc"]) for r in rows} and len(rows) == 2
    assert {a.path for a in client.list_artifacts(found.info.run_id)} == {"confusion_matrix.png", "model"}
    code, _, err = run_cli(capsys, "runs", "export", "old", "--to", "mlflow", "--run-dir", runs)
    assert code == 1 and "already in mlflow" in err  # never twice
    code, _, err = run_cli(capsys, "runs", "export", "old", "--to", "comet", "--run-dir", runs)
    assert code == 2 and "--to must be mlflow, mlflow:URI or wandb" in err
    code, _, err = run_cli(capsys, "runs", "export", "nope", "--to", "wandb", "--run-dir", runs)
    assert code == 2 and "no run 'nope'" in err
    # a sweep, into the same store: one experiment named after it, a run per point
    code, _, err = run_cli(capsys, "sweep", "--dataset", "synthetic", "--arch", "simplecnn", "--lr", "0.05,0.1",
                           "--epochs", "1", "--train-subset", "64", "--image-size", "16", "--device", "cpu",
                           "--no-tensorboard", "--log", "mlflow", "--name", "sw", "--run-dir", runs)
    assert code == 0, err
    swept = client.search_runs([client.get_experiment_by_name("sw").experiment_id])
    assert len(swept) == 2 and {r.data.tags["group"] for r in swept} == {"sw"}
    assert sorted(r.data.params["lr"] for r in swept) == ["0.05", "0.1"]
    (tmp_path / "c.toml").write_text('log = "mlflow"\nepochs = 1\n')  # a config file sets it too
    code, out, err = run_cli(capsys, "train", "--config", tmp_path / "c.toml", "--print-config")
    assert code == 0 and '"log": "mlflow"' in out.replace("'", '"'), out


def test_train_and_finetune_log_from_the_command_line(tmp_path, capsys, monkeypatch):
    import json

    for name in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no key: W&B offline
    runs = tmp_path / "runs"
    common = ["--dataset", "synthetic", "--arch", "simplecnn", "--epochs", "1", "--train-subset", "64",
              "--image-size", "16", "--device", "cpu", "--run-dir", runs, "--no-tensorboard"]
    code, _, err = run_cli(capsys, "train", *common, "--name", "t", "--log", "wandb")
    assert code == 0, err
    assert json.loads((runs / "t" / "config.json").read_text())["train"]["log"] == "wandb"
    assert set(json.loads((runs / "t" / "trackers.json").read_text())) == {"wandb"}
    code, _, err = run_cli(capsys, "finetune", runs / "t", "--dataset", "synthetic", "--epochs", "1", "--image-size", "16",
                           "--device", "cpu", "--run-dir", runs, "--name", "f", "--log", "wandb", "--no-tensorboard")
    assert code == 0, err
    assert set(json.loads((runs / "f" / "trackers.json").read_text())) == {"wandb"}

