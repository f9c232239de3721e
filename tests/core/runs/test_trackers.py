"""--log mlflow / wandb: a real MLflow store and a real W&B offline run in a temporary folder, read back with
MLflow's own client and from W&B's run file; a resume continues the same tracker run; a failing tracker is one
notice; without the package, --log is refused in one line."""

from __future__ import annotations

import glob
import json
import struct
import sys
import threading

import pytest
from helpers import tiny_bundle

from core.config.train_config import TrainConfig
from core.runs.events import EpochEnded, Notice
from core.runs.layout import read_metrics
from core.runs.trackers import STATE_FILE, log_errors
from core.train import fit

pytestmark = pytest.mark.slow  # MLflow's SQLite store and W&B's service start in seconds each

NUMERIC = ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "train_seconds", "eval_seconds", "global_step")


def config(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(**(dict(arch="simplecnn", epochs=3, batch_size=32, lr=0.05, device="cpu", image_size=16,
                               dataset="synthetic", runs_dir=str(tmp_path / "runs"), tensorboard=False) | kw))


def stopped_then_resumed(tmp_path, log: str):
    """A run stopped inside epoch 3 (after two finished epochs), then resumed to the end: (run folder, notices)."""
    stop, notes = threading.Event(), []

    def sink(event):
        if isinstance(event, Notice):
            notes.append(event.message)
        if isinstance(event, EpochEnded) and event.epoch == 2:
            stop.set()

    first = fit(config(tmp_path, log=log, name="r"), sink, stop, data=tiny_bundle())
    assert first.status == "stopped" and first.epochs_completed == 2
    ids = {k: v["run_id"] for k, v in json.loads((first.run_dir / STATE_FILE).read_text()).items()}
    second = fit(TrainConfig(), lambda e: notes.append(e.message) if isinstance(e, Notice) else None,
                 data=tiny_bundle(), resume=first.run_dir)
    assert second.status == "completed"
    assert {k: v["run_id"] for k, v in json.loads((first.run_dir / STATE_FILE).read_text()).items()} == ids
    return first.run_dir, [n for n in notes if not n.startswith("resuming ")]  # the same tracker runs, no notice


def test_mlflow_gets_the_params_every_epoch_at_its_step_the_image_and_the_weights_and_a_resume_continues_it(tmp_path):
    from mlflow.tracking import MlflowClient

    run, notes = stopped_then_resumed(tmp_path, "mlflow")
    assert notes == []
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("resnet-tui")
    (found,) = client.search_runs([experiment.experiment_id])  # one MLflow run for the two sessions
    assert found.info.run_name == "r" and found.info.status == "FINISHED"
    recorded = json.loads((run / "config.json").read_text())["train"]
    for key in ("arch", "epochs", "lr", "batch_size", "optimizer", "seed", "image_size"):
        assert found.data.params[key] == str(recorded[key])
    assert {"runs_dir", "name", "log"}.isdisjoint(found.data.params)
    assert found.data.tags["arch"] == "simplecnn" and found.data.tags["dataset"] == "synthetic" and found.data.tags["host"]
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for key in NUMERIC:
        history = {m.step: m.value for m in client.get_metric_history(found.info.run_id, key)}
        assert history == {r["epoch"]: pytest.approx(r[key]) for r in rows}, key
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert artifacts == {"confusion_matrix.png", "model"}
    assert [a.path for a in client.list_artifacts(found.info.run_id, "model")] == ["model/model.safetensors"]


def wandb_records(run_file: str) -> list:
    """The records of a W&B run file: a 7-byte header, then LevelDB-log chunks (32 KiB blocks, 7-byte chunk headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(run_file, "rb").read()
    assert data[:4] == b":W&B"
    pos, parts, out = 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        parts, pos = parts + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a whole record, or its last chunk
            record = pb.Record()
            record.ParseFromString(parts)
            out.append(record)
            parts = b""
    return out


def test_wandb_offline_writes_every_epoch_at_its_step_and_a_resume_continues_the_same_run(tmp_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no key, so offline by itself
    run, notes = stopped_then_resumed(tmp_path, "wandb")
    assert notes == []
    state = json.loads((run / STATE_FILE).read_text())["wandb"]
    assert state["mode"] == "offline"
    files = sorted(glob.glob(str(run / "wandb" / "offline-run-*" / f"run-{state['run_id']}.wandb")))
    assert len(files) == 2  # one per session, one W&B run id
    history: dict[int, dict] = {}
    kinds = []
    for f in files:
        for r in wandb_records(f):
            kinds.append(r.WhichOneof("record_type"))
            if kinds[-1] == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
                history.setdefault(items["_step"], {}).update(items)
            if kinds[-1] == "run":
                assert r.run.run_id == state["run_id"] and r.run.display_name == "r"
    rows = read_metrics(run)
    assert sorted(history) == [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        for key in NUMERIC:
            assert history[r["epoch"]][key] == pytest.approx(r[key]), key
    assert history[3]["confusion_matrix/_type"] == "image-file" and "artifact" in kinds


def test_a_tracker_that_fails_is_one_notice_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    notes = []
    result = fit(config(tmp_path, log="mlflow:http://127.0.0.1:9", name="down", epochs=1),
                 lambda e: notes.append(e.message) if isinstance(e, Notice) else None, data=tiny_bundle())
    assert result.status == "completed" and read_metrics(result.run_dir)[-1]["epoch"] == 1
    assert len(notes) == 1 and notes[0].startswith("mlflow: not logging this run (") and "training goes on" in notes[0]


def test_without_the_package_log_is_refused_in_one_line_saying_how_to_add_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what find_spec sees when the extra is not installed
    assert log_errors("mlflow") == ["mlflow is not installed: add it with `uv sync --extra tracking` "
                                    "(or `pip install 'resnet-tui[tracking]'`)"]
    assert log_errors("wandb") == []
    assert log_errors("mlflow:http://x,comet") == ["must be mlflow, mlflow:URI or wandb, comma-separated (got 'comet')"]
