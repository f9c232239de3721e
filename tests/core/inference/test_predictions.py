"""Each evaluation's per-image predictions, kept in the run folder, and the images behind them."""

from __future__ import annotations

import pytest
import torch

from core.errors import DataError, UserError
from core.inference.eval_images import split_images
from core.inference.mistakes import open_mistakes
from core.inference.predictions import Predictions, load_predictions, save_predictions
from core.runs.layout import read_json, read_metrics


def test_the_kept_predictions_equal_the_runs_confusion_matrix_cell_by_cell(trained_run):
    preds = load_predictions(trained_run, "test")
    last = read_metrics(trained_run)[-1]
    assert last["eval_split"] == "test" and preds.split == "test" and preds.epoch == last["epoch"]
    assert preds.confusion() == last["confusion"]
    assert len(preds) == read_json(trained_run / "config.json")["data"]["test_size"]
    assert list(preds.classes) == read_json(trained_run / "config.json")["classes"]
    assert bool((preds.top_prob[:, :-1] >= preds.top_prob[:, 1:]).all()) and float(preds.top_prob.sum(1).max()) <= 1 + 1e-5
    assert (trained_run / "predictions-test.safetensors").stat().st_size < 2**20  # "well under a megabyte"


def test_the_images_behind_them_are_the_split_the_run_evaluated(trained_run):
    preds = load_predictions(trained_run, "test")
    images = split_images(trained_run, preds)
    assert torch.equal(images.images.labels, preds.true)
    assert images.pixels(3).shape == (3, 16, 16) and images.name(3, "test") == "test #3"
    changed = Predictions(preds.true.roll(1), preds.top_class, preds.top_prob, "test", 1, preds.classes)
    with pytest.raises(DataError, match="are not the ones it evaluated"):
        split_images(trained_run, changed)


def test_a_cell_lists_confident_mistakes_first_and_unsure_correct_images_first():
    true = torch.tensor([0, 0, 0, 0, 1, 1])
    top_class = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]])
    top_prob = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.55, 0.45], [0.8, 0.2], [0.7, 0.3], [0.5, 0.5]])
    p = Predictions(true, top_class, top_prob, classes=("a", "b"))
    assert p.cell(0, 1) == [1, 0]  # mistakes: 90% before 60%
    assert p.cell(0, 0) == [2, 3]  # correct: 55% before 80%
    assert p.confusion() == [[2, 2], [1, 1]]
    assert p.confused_pairs(5) == [(0, 1, 2), (1, 0, 1)]


def test_the_file_round_trips_and_a_damaged_one_is_one_line(tmp_path):
    p = Predictions(torch.tensor([2, 0]), torch.tensor([[2, 1], [1, 0]]), torch.tensor([[0.7, 0.2], [0.6, 0.3]]),
                    "val", 4, ("x", "y", "z"))
    save_predictions(tmp_path, p)
    back = load_predictions(tmp_path, "val")
    assert torch.equal(back.true, p.true) and torch.equal(back.top_class, p.top_class) and torch.equal(back.top_prob, p.top_prob)
    assert (back.split, back.epoch, back.classes) == ("val", 4, ("x", "y", "z"))
    (tmp_path / "predictions-val.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(UserError, match="not a predictions file"):
        load_predictions(tmp_path, "val")
    with pytest.raises(UserError, match="evaluate .* --split test --keep"):
        load_predictions(tmp_path, "test")


@pytest.mark.slow
def test_an_image_folder_run_shows_its_files_decoded_as_evaluated(tmp_path, image_folder):
    from core.config.train_config import TrainConfig
    from core.train import fit

    run = fit(TrainConfig(dataset="folder", data=str(image_folder), arch="simplecnn", epochs=1, batch_size=8,
                          image_size=16, device="cpu", runs_dir=str(tmp_path / "runs"), name="f")).run_dir
    found = open_mistakes(run)
    assert len(found.preds) == 9 and found.preds.confusion() == read_metrics(run)[-1]["confusion"]
    shown = found.shown(0)
    assert shown.name.startswith(str(image_folder / "test")) and shown.pixels.shape == (3, 16, 16)
    assert shown.true == found.preds.true[0] and shown.pred == found.preds.pred[0]


def test_a_predictions_file_that_cannot_be_written_is_a_notice_and_the_run_goes_on(tmp_path, monkeypatch):
    import errno

    from helpers import tiny_bundle

    import core.train.store
    from core.config.train_config import TrainConfig
    from core.runs.events import Notice
    from core.train import fit

    def full_disk(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(core.train.store, "save_predictions", full_disk)
    notes = []
    result = fit(TrainConfig(arch="simplecnn", epochs=1, batch_size=32, device="cpu", image_size=16, dataset="synthetic",
                             runs_dir=str(tmp_path), name="full"),
                 lambda e: notes.append(e.message) if isinstance(e, Notice) else None, data=tiny_bundle())
    assert result.status == "completed"
    assert "could not keep the test predictions (No space left on device); training goes on" in notes
