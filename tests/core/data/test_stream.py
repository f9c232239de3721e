"""The streaming path: a folder decoded per batch by loader workers trains as the resident path does, resumes
mid-epoch exactly, and meets an unreadable file with one line and a checkpoint at its batch."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import Recorder, build_class_folders, fit_config

from core.config.train_config import TrainConfig
from core.data import load_data
from core.data.augment import Augment
from core.data.recipe import rrc_box, training_image
from core.runs.events import BatchProgress, CheckpointSaved, Notice
from core.train import fit
from core.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """3 classes x 24 images of 24 px: 57 train, 15 test with the default split."""
    return build_class_folders(tmp_path_factory.mktemp("pets") / "pets", per_class=24, size=24)


def folder_config(tmp_path, data, **kw) -> TrainConfig:
    return fit_config(tmp_path, dataset="folder", data=str(data), batch_size=16, **kw)


def test_auto_streams_what_does_not_fit_and_says_why(pets, monkeypatch, tmp_path):
    from core.data import budget

    monkeypatch.setattr(budget, "available_ram", lambda: 10 * 2**20)
    data = load_data(folder_config(tmp_path, pets))  # 72 x 3 x 16 x 16 = 54 KiB: fits half of 10 MiB
    assert data.residence == "memory" and "held in memory" in data.residence_why
    monkeypatch.setattr(budget, "available_ram", lambda: 64 * 2**10)
    data = load_data(folder_config(tmp_path, pets))
    assert data.residence == "streamed" and "exceed 50% of the 0.06 MiB free in RAM" in data.residence_why
    assert not data.train.resident and len(data.train) == 57 and len(data.test) == 15


def test_streamed_and_resident_runs_of_one_seed_have_equal_losses(pets, tmp_path, every_batch_reported):
    """With augmentation off the batches are the same images in the same order: the losses are equal. (With
    augmentation on they are not: resident crops are drawn per batch on the device, streamed ones per image.)"""
    runs = {}
    for mode in ("yes", "no"):
        rec = Recorder()
        cfg = folder_config(tmp_path, pets, name=mode, data_in_memory=mode, workers=1, flip=False, crop_padding=0)
        result = fit(cfg, rec)
        assert result.status == "completed"
        runs[mode] = (rec.losses(), result.final_test_acc)
    assert len(runs["yes"][0]) == 6  # 2 epochs of 3 batches
    assert runs["yes"] == runs["no"]


def test_a_streamed_run_stopped_mid_epoch_resumes_exactly(pets, tmp_path, every_batch_reported):
    cfg = folder_config(tmp_path, pets, data_in_memory="no", workers=0, rotate=5.0)  # per-image crops and flips
    straight = Recorder()
    fit(cfg.replace(name="a"), straight)
    stop = threading.Event()
    first = Recorder(lambda e: isinstance(e, BatchProgress) and e.global_step == 4, stop)
    b = fit(cfg.replace(name="b"), first, stop)
    assert b.status == "stopped" and first.of(CheckpointSaved)[-1].mid_epoch
    second = Recorder()
    c = fit(TrainConfig(), second, resume=b.run_dir)
    assert c.status == "completed"
    assert first.losses() + second.losses() == straight.losses()


def test_an_unreadable_file_met_mid_epoch_is_one_line_with_last_pt_at_its_batch(pets, tmp_path):
    import shutil

    data = tmp_path / "pets"
    shutil.copytree(pets, data)
    bad = sorted((data / "dog").iterdir())[3]
    bad.write_bytes(b"\xff\xd8\xff not a jpeg at all")
    cfg = folder_config(tmp_path, data, data_in_memory="no", workers=1)
    result = fit(cfg.replace(name="bad"))
    assert result.status == "failed" and "\n" not in result.error
    assert str(bad) in result.error and "last.pt holds the run up to there" in result.error
    last = load_checkpoint(result.run_dir / "last.pt")
    assert last["stream"]["in_epoch"]
    step = last["stream"]["batch"]
    assert last["global_step"] == (last["stream"]["epoch"] - 1) * 3 + step  # saved before the bad batch trained
    rec = Recorder()
    skipped = fit(cfg.replace(name="skip", skip_bad_images=True), rec)
    assert skipped.status == "completed"
    said = [e.message for e in rec.of(Notice) if "unreadable" in e.message]
    assert said and all(f"skipped 1 unreadable image (--skip-bad-images), e.g. cannot read image {bad}" in m
                        for m in said[:1])


def test_an_image_s_augmentation_depends_on_seed_epoch_and_index_only(pets):
    path = sorted((pets / "cat").iterdir())[0]
    aug = Augment(crop_padding=4, flip=True)
    draws = [training_image(path, 16, "padcrop", aug, seed=1, epoch=e, index=i) for e in (1, 2) for i in range(6)]
    again = [training_image(path, 16, "padcrop", aug, seed=1, epoch=e, index=i) for e in (1, 2) for i in range(6)]
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    assert len({d.tobytes() for d in draws}) > 6  # crops and flips vary with epoch and index


def test_random_resized_crop_boxes_stay_inside_and_cover_8_to_100_percent():
    import random

    rng = random.Random(0)
    for w, h in ((640, 480), (100, 300), (37, 37)):
        for _ in range(300):
            left, top, right, bottom = rrc_box(w, h, rng)
            assert 0 <= left < right <= w and 0 <= top < bottom <= h
            assert (right - left) * (bottom - top) >= 0.07 * w * h


def test_rrc_runs_evaluate_centre_crops(tmp_path):
    from PIL import Image

    # A frame of red around a blue centre: a centre crop sees blue, the squashed image red at its borders.
    root = tmp_path / "framed"
    for c in ("a", "b"):
        for i in range(5):
            (root / c).mkdir(parents=True, exist_ok=True)
            im = np.zeros((80, 120, 3), np.uint8)
            im[:, :] = (255, 0, 0)
            im[4:76, 24:96] = (0, 0, 255)  # the centre crop is x 25-95, y 5-75 (0.875 of the short side)
            Image.fromarray(im).save(root / c / f"{i}.png")
    squashed = load_data(fit_config(tmp_path, dataset="folder", data=str(root), image_size=16, augment="padcrop"))
    cropped = load_data(fit_config(tmp_path, dataset="folder", data=str(root), image_size=16, augment="rrc"))
    assert squashed.test.images[:, 0, 0, 0].float().mean() > 200  # the red frame
    assert cropped.test.images[:, 0, 0, 0].float().mean() < 60  # inside the frame
    assert torch.equal(squashed.train.images, cropped.train.images)  # training images are not cropped ahead


def test_a_batch_whose_first_image_is_unreadable_still_collates():
    from core.data.stream import _collate

    good = np.zeros((3, 8, 8), np.uint8)
    x, y, errors = _collate([(None, 0, "cannot read image a.jpg"), (good, 2, "")])
    assert x.shape == (1, 3, 8, 8) and y.tolist() == [2] and errors == ["cannot read image a.jpg"]


def test_an_unreadable_test_image_keeps_the_trained_epoch(pets, tmp_path):
    import shutil

    from core.data.layout import scan_folder

    data = tmp_path / "pets"
    shutil.copytree(pets, data)
    bad = scan_folder(data).files["test"][0][0]
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    result = fit(folder_config(tmp_path, data, data_in_memory="no", workers=0, epochs=1))
    assert result.status == "failed" and str(bad) in result.error and "\n" not in result.error
    last = load_checkpoint(result.run_dir / "last.pt")
    assert last["partial"]["train_done"] and last["global_step"] == 3  # trained; a resume only evaluates again


def test_a_resume_reads_the_folder_as_the_run_did(pets, tmp_path, monkeypatch, every_batch_reported):
    from core.data import budget

    monkeypatch.setattr(budget, "available_ram", lambda: 64 * 2**10)  # too little: auto streams
    stop = threading.Event()
    first = Recorder(lambda e: isinstance(e, BatchProgress) and e.global_step == 2, stop)
    stopped = fit(folder_config(tmp_path, pets), first, stop)
    assert any("streamed from the files per batch" in e.message for e in first.of(Notice))
    monkeypatch.undo()  # plenty of memory now: auto alone would hold the images
    again = Recorder()
    assert fit(TrainConfig(), again, resume=stopped.run_dir).status == "completed"
    assert any("streamed from the files, as when the run started" in e.message for e in again.of(Notice))


def test_validation_held_out_of_a_folder_is_prepared_as_test_images(tmp_path):
    from PIL import Image

    root = tmp_path / "framed"  # a red frame around blue: the centre crop sees blue, the whole image red corners
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            im = np.zeros((80, 120, 3), np.uint8)
            im[:, :] = (255, 0, 0)
            im[4:76, 24:96] = (0, 0, 255)
            Image.fromarray(im).save(root / c / f"{i}.png")
    for mode in ("yes", "no"):
        data = load_data(fit_config(tmp_path, dataset="folder", data=str(root), augment="rrc", val_split=4,
                                    data_in_memory=mode, workers=0))
        assert len(data.val) == 4 and len(data.train) == 12
        if mode == "yes":
            assert data.val.images[:, 0, 0, 0].float().mean() < 60 and data.train.images[:, 0, 0, 0].float().mean() > 200
        else:
            assert data.val.fit == "centre" and data.train.fit == "squash"
