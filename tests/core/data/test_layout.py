"""Image-folder layouts: class folders alone with a seeded per-class test split, train/ without test/, val/."""

from __future__ import annotations

import pytest
from helpers import build_class_folders, build_image_folder, write_image

from core.data.layout import scan_folder
from core.errors import DataError


def names(entries) -> set[str]:
    return {f"{p.parent.name}/{p.name}" for p, _ in entries}


def test_class_folders_alone_hold_out_a_fifth_of_each_class(tmp_path):
    root = build_class_folders(tmp_path / "pets", per_class=10)
    scan = scan_folder(root)
    assert scan.layout == "class folders" and scan.classes == ["cat", "dog", "frog"]
    assert scan.counts("train") == [8, 8, 8] and scan.counts("test") == [2, 2, 2]
    assert not names(scan.files["train"]) & names(scan.files["test"])
    assert "6 images held out (0.2 of each class, --split-seed 0)" in scan.held_out
    again = scan_folder(root)
    assert names(again.files["test"]) == names(scan.files["test"])  # the same images every time
    assert names(scan_folder(root, split_seed=1).files["test"]) != names(scan.files["test"])


def test_a_count_is_spread_over_the_classes_in_proportion(tmp_path):
    root = build_class_folders(tmp_path / "pets", classes=("a", "b"), per_class=10)
    for i in range(10):
        write_image(root / "b" / f"more{i}.png", (9, 9, 9))
    scan = scan_folder(root, test_split=6)
    assert scan.counts("test") == [2, 4] and sum(scan.counts("train")) == 24


def test_adding_images_moves_almost_no_test_image(tmp_path):
    root = build_class_folders(tmp_path / "pets", classes=("a",), per_class=40)
    before = names(scan_folder(root).files["test"])
    write_image(root / "a" / "new.png", (1, 2, 3))
    after = names(scan_folder(root).files["test"])
    assert len(before & after) >= len(before) - 1  # each image's place is its own hash, not its position


def test_train_without_test_is_split_and_val_is_the_validation_split(tmp_path):
    root = build_image_folder(tmp_path / "d", train_per_class=5, test_per_class=0)  # writes no test/
    scan = scan_folder(root)
    assert scan.layout == "train/ (no test/)" and scan.counts("test") == [1, 1, 1]
    withval = build_class_folders(tmp_path / "v", per_class=5, extra={"val": 2})
    scan = scan_folder(withval)
    assert scan.layout == "class folders + val/" and scan.classes == ["cat", "dog", "frog"]  # val/ is no class
    assert scan.counts("val") == [2, 2, 2] and scan.counts("train") == [4, 4, 4]


@pytest.mark.parametrize("split,words", [(0.2, "class 'dog' has 1 image: too few"), (0, "--test-split is 0")])
def test_a_split_that_leaves_a_class_without_test_or_training_images_is_one_line(tmp_path, split, words):
    root = build_class_folders(tmp_path / "pets", classes=("cat",), per_class=5)
    write_image(root / "dog" / "only.png", (1, 1, 1))
    with pytest.raises(DataError) as e:
        scan_folder(root, test_split=split)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_empty_class_folder_and_test_without_train_are_one_line(tmp_path):
    root = build_class_folders(tmp_path / "pets", per_class=3)
    (root / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folder .*empty has no images"):
        scan_folder(root)
    (root / "empty").rmdir()
    (root / "test").mkdir()
    with pytest.raises(DataError, match="has test/ but no train/"):
        scan_folder(root)


def test_the_digest_names_exactly_the_test_images(tmp_path):
    root = build_class_folders(tmp_path / "pets", per_class=10)
    digest = scan_folder(root).split_digest()
    assert scan_folder(root).split_digest() == digest
    assert scan_folder(root, split_seed=3).split_digest() != digest
