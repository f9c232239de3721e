"""TensorBoard event files (core.runs.tensorboard_log): read back with TensorBoard's own reader they hold exactly
what metrics.jsonl holds; --no-tensorboard writes none; a writer that fails is one Notice, never a failed run;
a resumed run has each epoch once, even after a crash past its checkpoint."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import fit_config, tiny_bundle

import core.runs.tensorboard_log as tb_log
from core.config.train_config import TrainConfig
from core.runs.events import EpochEnded, Notice
from core.runs.layout import read_metrics
from core.runs.tensorboard_log import SCALARS, TENSORBOARD, confusion_image
from core.train import fit

ROOT = Path(__file__).resolve().parents[3]


def config(tmp_path, **kw) -> TrainConfig:
    return fit_config(tmp_path, **({'name': 'tb'} | kw))


def read(run: Path):
    """TensorBoard's own reader over the run's event files, every image and scalar kept."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(run / TENSORBOARD), size_guidance={ea.IMAGES: 0, ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def scalars(acc, tag: str) -> list[tuple[int, float]]:
    return [(s.step, s.value) for s in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def hparams_content(acc) -> dict[str, bytes]:
    """The hparams plugin's summaries by tag ({} when there are none)."""
    try:
        return acc.PluginTagToContent("hparams")
    except KeyError:
        return {}


def metadata_tags(acc) -> list[str]:
    return sorted(hparams_content(acc))


def assert_scalars_equal_metrics(acc, rows: list[dict]) -> None:
    for tag, key in SCALARS:
        expected = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
        got = scalars(acc, tag)
        assert [s for s, _ in got] == [s for s, _ in expected], tag  # every epoch, once
        assert [v for _, v in got] == pytest.approx([float(v) for _, v in expected], rel=1e-6, abs=1e-7), tag


def notices(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice) and "tensorboard" in e.message]


def test_event_files_read_back_equal_metrics_jsonl_with_confusion_images_and_hparams(tmp_path):
    events: list = []
    result = fit(config(tmp_path), events.append, data=tiny_bundle(val=64))
    assert result.status == "completed" and notices(events) == []
    run, rows = result.run_dir, read_metrics(result.run_dir)
    acc = read(run)
    assert_scalars_equal_metrics(acc, rows)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train", "loss/val", "loss/test", "accuracy/train", "accuracy/val", "accuracy/test", "lr",
            "images_per_sec"} <= tags  # the run had all of them
    # The confusion matrix of each epoch, as an image drawn from metrics.jsonl's matrix (PNG: exact pixels).
    from PIL import Image

    for r in rows:
        (image,) = [i for i in acc.Images(f"confusion/{r['eval_split']}") if i.step == r["epoch"]]
        pixels = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("RGB"))
        assert pixels.shape == (160, 160, 3) and np.array_equal(pixels, confusion_image(r["confusion"]))
    assert [r["eval_split"] for r in rows] == ["val", "test"]  # (val mid-run, test at the end)
    # The hyperparameters (hparams plugin) in the run's own folder, with the final metrics beside them.
    from tensorboard.plugins.hparams import metadata

    content = hparams_content(acc)
    assert set(content) == {metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG}
    hp = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG]).hparams
    assert hp["arch"].string_value == "simplecnn" and hp["lr"].number_value == 0.05 and hp["epochs"].number_value == 2
    assert hp["device"].string_value == "cpu" and hp["precision"].string_value == "fp32"  # as resolved
    assert "runs_dir" not in hp and "milestones" not in hp
    status = json.loads((run / "run.json").read_text())
    assert scalars(acc, "final/test_acc") == [(2, pytest.approx(status["final_test_acc"], rel=1e-6))]
    assert scalars(acc, "final/best_val_acc") == [(2, pytest.approx(status["best_val_acc"], rel=1e-6))]
    assert status["final_test_acc"] == rows[-1]["test_acc"]
    (only,) = (run / TENSORBOARD).iterdir()  # one file, no add_hparams subfolder
    assert only.is_file() and only.name.startswith("events.out.tfevents.")


def test_no_tensorboard_writes_no_folder_and_a_resume_keeps_the_setting(tmp_path):
    run = fit(config(tmp_path, epochs=1, tensorboard=False), data=tiny_bundle()).run_dir
    assert json.loads((run / "config.json").read_text())["train"]["tensorboard"] is False
    assert not (run / TENSORBOARD).exists()
    more = fit(TrainConfig(), data=tiny_bundle(), resume=run, resume_overrides={"epochs": 2})
    assert more.status == "completed" and not (run / TENSORBOARD).exists()


def test_a_writer_that_cannot_open_is_one_notice_and_the_run_completes(tmp_path, monkeypatch):
    def full_disk(logdir, purge_step):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tb_log, "_open_writer", full_disk)
    events: list = []
    result = fit(config(tmp_path), events.append, data=tiny_bundle())
    assert result.status == "completed" and [r["epoch"] for r in read_metrics(result.run_dir)] == [1, 2]
    (message,) = notices(events)
    assert message.startswith("tensorboard: ") and "No space left" in message and "training goes on" in message


def test_a_file_where_the_folder_goes_is_one_notice(tmp_path):
    folder = tmp_path / "runs" / "blocked"
    folder.mkdir(parents=True)
    (folder / TENSORBOARD).write_text("not a folder")
    events: list = []
    result = fit(config(tmp_path), events.append, data=tiny_bundle(), into=folder)
    assert result.status == "completed" and result.run_dir == folder.resolve()
    assert len(notices(events)) == 1 and (folder / TENSORBOARD).read_text() == "not a folder"


def test_a_writer_that_fails_mid_run_is_one_notice_and_the_rest_is_not_written(tmp_path, monkeypatch):
    real = tb_log._open_writer

    def failing_at_epoch_2(logdir, purge_step):
        writer = real(logdir, purge_step)
        write = writer.summary

        def summary(summary, step):
            if step == 2 and summary.value[0].HasField("image"):
                raise OSError(28, "No space left on device (the disk went away)")
            return write(summary, step)

        writer.summary = summary
        return writer

    monkeypatch.setattr(tb_log, "_open_writer", failing_at_epoch_2)
    events: list = []
    result = fit(config(tmp_path, epochs=3), events.append, data=tiny_bundle())
    assert result.status == "completed" and result.epochs_completed == 3
    assert len(notices(events)) == 1 and "the disk went away" in notices(events)[0]
    acc = read(result.run_dir)
    assert [s for s, _ in scalars(acc, "loss/train")] == [1, 2]  # epoch 2's scalars went in before its image
    assert scalars(acc, "final/test_acc") == [] and hparams_content(acc) == {}  # nothing after the failure


def test_stop_after_epoch_1_and_resume_has_each_epoch_once(tmp_path):
    stop = threading.Event()
    first = fit(config(tmp_path), lambda e: isinstance(e, EpochEnded) and e.epoch == 1 and stop.set(), stop,
                data=tiny_bundle())
    assert first.status == "stopped" and first.epochs_completed == 1
    assert metadata_tags(read(first.run_dir)) == ["_hparams_/session_end_info", "_hparams_/session_start_info"]
    fit(TrainConfig(), data=tiny_bundle(), resume=first.run_dir)
    run, rows = first.run_dir, read_metrics(first.run_dir)
    assert [r["epoch"] for r in rows] == [1, 2]
    acc = read(run)
    assert_scalars_equal_metrics(acc, rows)
    assert [i.step for i in acc.Images("confusion/test")] == [1, 2]
    assert len(list((run / TENSORBOARD).iterdir())) == 2  # one event file per session, one folder
    assert [s for s, _ in scalars(acc, "final/test_acc")] == [2]


def test_epochs_written_past_the_checkpoint_by_a_crashed_session_are_purged(tmp_path):
    run = fit(config(tmp_path, keep_last=2), data=tiny_bundle()).run_dir
    # As if the process died after epoch 2's rows were written but before its checkpoint was saved:
    (run / "last.pt").unlink()
    shutil.copyfile(run / "epoch_0001.pt", run / "last.pt")
    fit(TrainConfig(), data=tiny_bundle(), resume=run)
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    acc = read(run)
    assert_scalars_equal_metrics(acc, rows)  # epoch 2 once: the second session's
    assert [i.step for i in acc.Images("confusion/test")] == [1, 2]


def test_each_session_s_file_sorts_after_the_earlier_ones(tmp_path, monkeypatch):
    """The reader takes files in name order and a purge mark drops only what came before it: sessions started
    within one second (here the process's 10th file after its 9th, "...10" < "...9") must still sort in order."""
    import itertools

    monkeypatch.setattr(tb_log, "_FILES", itertools.count(9))
    created: list[str] = []
    for _ in range(3):
        before = {p.name for p in tmp_path.iterdir()}
        tb_log.EventFile(tmp_path, 1).close()
        (new,) = {p.name for p in tmp_path.iterdir()} - before
        created.append(new)
    assert sorted(created) == created, created


def test_other_ranks_write_no_event_files(tmp_path):
    from types import SimpleNamespace

    from core.train.store import NullStore

    setup = SimpleNamespace(cfg=TrainConfig(), device="cpu", precision="fp32", channels_last=False,
                            dist=SimpleNamespace(world=2), data=SimpleNamespace(classes=("a", "b")))
    store = NullStore(tmp_path, lambda e: None)
    store.open_tensorboard(setup, 0)  # type: ignore[arg-type]
    assert store.tb is None
    store.append_metrics({"epoch": 1, "train_loss": 1.0, "confusion": [[1, 0], [0, 1]], "eval_split": "test"})
    store.release()
    assert list(tmp_path.iterdir()) == []


def test_confusion_image_is_row_normalised_and_stays_small():
    image = confusion_image([[5, 5], [0, 0]])
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.array_equal(image[0, 0], image[0, 16])  # 5 of 10 and 5 of 10: the same colour
    assert np.array_equal(image[16, 0], image[16, 16])  # an empty row is all "none"
    assert tuple(confusion_image([[1, 0], [0, 1]])[0, 0]) == (253, 231, 37)  # all of the row: yellow
    assert confusion_image(np.eye(100, dtype=int)).shape == (500, 500, 3)
    assert confusion_image(np.eye(1000, dtype=int)).shape == (1000, 1000, 3)


@pytest.mark.slow  # a fresh process (or real CPU readings a second apart): 2-5 s
def test_tensorboard_is_imported_only_when_a_run_writes_its_first_epoch(tmp_path):
    code = (
        "import sys\nfrom helpers import tiny_bundle\nfrom core.config.train_config import TrainConfig\nfrom core.train import fit\n"
        f"cfg = TrainConfig(arch='simplecnn', epochs=1, batch_size=32, device='cpu', image_size=16, dataset='synthetic',"
        f" runs_dir={str(tmp_path)!r}, tensorboard=False)\n"
        "assert fit(cfg, data=tiny_bundle()).status == 'completed'\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('tensorboard', 'torch.utils.tensorboard'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "tests")}).stdout
    assert out.split("LOADED", 1)[1].strip() == "[]"


def test_a_run_folder_deleted_under_the_log_is_not_made_again(tmp_path):
    """The writer opens at the first epoch's end: if the run folder was deleted before that, the log fails with
    one notice instead of making the folder again (a watcher must see the run as deleted, not interrupted)."""
    run = tmp_path / "runs" / "gone"
    run.mkdir(parents=True)
    said: list[str] = []
    log = tb_log.TensorBoardLog(run / TENSORBOARD, said.append, hparams={"lr": 0.1}, classes=("a", "b"))
    shutil.rmtree(run)
    log.epoch({"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "confusion": [[1, 0], [0, 1]]})
    assert not run.exists() and len(said) == 1 and "training goes on" in said[0]
