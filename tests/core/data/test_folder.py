"""ImageFolder datasets: layout checks, decoding, resizing, the tensor cache, bad files."""

from __future__ import annotations

import os

import pytest
import torch
from helpers import build_image_folder, cache_entries, load_images, write_image

from core.data.cache import CACHE_DIR
from core.data.layout import scan_folder
from core.errors import DataError


def test_classes_counts_and_shapes(image_folder):
    train, test, classes = load_images(image_folder, 32)
    assert classes == ["cat", "dog", "frog"]
    assert train.images.shape == (18, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (9, 3, 32, 32)
    assert train.class_counts(3) == [6, 6, 6]
    # class colours survive decoding: cat images are red-dominant
    cat = train.images[train.labels == 0].float().mean(dim=(0, 2, 3))
    assert cat[0] > cat[1] + 100


def test_other_sizes_and_class_counts(tmp_path):
    root = build_image_folder(tmp_path / "five", classes=("a", "b", "c", "d", "e"), train_per_class=2, test_per_class=1)
    train, test, classes = load_images(root, 48)
    assert len(classes) == 5 and train.images.shape[-2:] == (48, 48)


def test_non_image_files_are_skipped_and_counted(image_folder):
    (image_folder / "train" / "cat" / "notes.txt").write_text("hello")
    (image_folder / "test" / "dog" / ".DS_Store").write_bytes(b"x")
    scan = scan_folder(image_folder)
    assert scan.skipped == {"train": 1, "test": 1}
    assert scan.counts("train") == [6, 6, 6]


def test_cache_reuse_and_invalidation(image_folder, monkeypatch):
    from core.data import folder

    load_images(image_folder, 32)
    assert sorted(e["split"] for e in cache_entries()) == ["test", "train"]
    assert not (image_folder / CACHE_DIR).exists()  # nothing is written into the user's data
    calls = []
    real = folder.decode_image
    monkeypatch.setattr(folder, "decode_image", lambda p, s, *a: calls.append(p) or real(p, s, *a))
    load_images(image_folder, 32)
    assert calls == []
    write_image(image_folder / "train" / "dog" / "999.png", (0, 0, 0))
    train, _, _ = load_images(image_folder, 32)
    assert len(train) == 19 and len(calls) == 19  # train re-decoded, test still cached
    assert len(cache_entries()) == 2  # the stale train entry was replaced, not kept beside the new one


@pytest.mark.parametrize(
    "breakage,match",
    [
        (lambda r: os.rename(r / "train", r / "trn"), "has test/ but no train/"),
        (lambda r: [os.remove(f) for f in (r / "train" / "dog").iterdir()], "has no images"),
        (lambda r: (r / "test" / "horse").mkdir() or write_image(r / "test" / "horse" / "1.png", (1, 1, 1)), "does not train on"),
    ],
)
def test_bad_layouts(image_folder, breakage, match):
    breakage(image_folder)
    with pytest.raises(DataError, match=match):
        load_images(image_folder, 32)


def test_missing_root_and_no_classes(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        load_images(tmp_path / "nope", 32)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "test").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_images(tmp_path / "empty", 32)


def test_corrupt_image_is_named(image_folder):
    bad = image_folder / "train" / "frog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        load_images(image_folder, 32)


def test_stop_while_decoding_cancels_between_chunks(tmp_path, monkeypatch):
    import threading

    from core.data import folder, load_raw
    from core.errors import Cancelled

    monkeypatch.setattr(folder, "DECODE_CHUNK", 10)  # as with 1,000: cancelling is between chunks, whatever their size
    root = build_image_folder(tmp_path / "many", classes=("a", "b"), train_per_class=11, test_per_class=1)
    stop = threading.Event()
    decoded = []
    real = folder.decode_image

    def counting(path, size, *fit):
        decoded.append(path)
        stop.set()  # the user presses stop as soon as decoding starts
        return real(path, size, *fit)

    monkeypatch.setattr(folder, "decode_image", counting)
    with pytest.raises(Cancelled):
        load_raw("folder", root, 32, stop=stop)
    assert len(decoded) == 10  # the first chunk finished, the other 12 images were never decoded
    assert cache_entries() == []


def test_corrupt_images_can_be_skipped_and_counted(image_folder):
    (image_folder / "train" / "frog" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (image_folder / "test" / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    (image_folder / "train" / "cat" / "notes.txt").write_text("x")
    notes = []
    train, test, _ = load_images(image_folder, 32, skip_bad=True, note=notes.append)
    assert len(train) == 18 and len(test) == 9
    expected = ["skipped 1 non-image file in the train split", "skipped 1 unreadable image in the train split", "skipped 1 unreadable image in the test split"]
    assert notes == expected
    notes.clear()  # the cache remembers the count
    load_images(image_folder, 32, skip_bad=True, note=notes.append)
    assert notes == expected
    with pytest.raises(DataError, match="broken"):  # without the flag it is still an error
        load_images(image_folder, 32)
