"""`resnet-tui finetune` and torchvision transfer through the CLI: happy paths and the bad-input matrix."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from helpers import build_image_folder, run_cli, write_image

run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


@pytest.fixture
def parent(trained_run):
    """A short resnet20 run on synthetic data (10 classes), shared with other test modules."""
    return trained_run


def test_finetune_to_three_classes_then_evaluate_and_predict(capsys, tmp_path, parent):
    folder = build_image_folder(tmp_path / "pets")
    (folder / "train" / "dog" / "README.md").write_text("not an image")
    runs = tmp_path / "runs"
    code, out, err = run(capsys, "finetune", parent, "--data", folder, "--freeze", "backbone", "--epochs", "2",
                         "--batch-size", "6", "--lr", "0.05", "--device", "cpu", "--run-dir", runs, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "completed" and result["arch"] == "resnet20"
    assert "skipped 1 non-image file in the train split" in err
    run_dir = result["run_dir"]
    assert os.path.basename(run_dir).startswith(f"{parent.name}-ft-folder-")
    config = json.loads(open(os.path.join(run_dir, "config.json")).read())
    assert config["parent"] == str(parent / "final.pt") and config["train"]["freeze"] == "backbone"

    code, out, _ = run(capsys, "evaluate", run_dir, "--json")
    ev = json.loads(out)
    assert code == 0 and ev["classes"] == ["cat", "dog", "frog"] and len(ev["confusion"]) == 3
    img = tmp_path / "x.png"
    write_image(img, (40, 200, 40), size=32)
    code, out, _ = run(capsys, "predict", run_dir, img, "--top-k", "3", "--json")
    assert code == 0 and {t["class"] for t in json.loads(out)[0]["top"]} == {"cat", "dog", "frog"}


def _no_classes(tmp_path):
    (tmp_path / "bad" / "train").mkdir(parents=True)
    (tmp_path / "bad" / "test").mkdir()
    return tmp_path / "bad"


def _empty_class(tmp_path):
    folder = build_image_folder(tmp_path / "bad")
    for f in (folder / "train" / "frog").iterdir():
        f.unlink()
    return folder


def _corrupt(tmp_path):
    folder = build_image_folder(tmp_path / "bad")
    (folder / "train" / "cat" / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


BAD = [
    ("another arch", lambda t: build_image_folder(t / "ok"), ["--arch", "resnet56"], "is a resnet20 checkpoint"),
    ("no class folders", _no_classes, [], "no class folders"),
    ("empty class folder", _empty_class, [], "has no images"),
    ("class-count mismatch", lambda t: build_image_folder(t / "ok"), ["--num-classes", "5"], "--num-classes 5 does not match the 3"),
    ("corrupt image", _corrupt, [], "zz-broken.jpg"),
    ("too many stages", lambda t: build_image_folder(t / "ok"), ["--freeze", "stages:9"], "only 3 stages"),
    ("bad freeze", lambda t: build_image_folder(t / "ok"), ["--freeze", "most"], "--freeze"),
    ("bad multiplier", lambda t: build_image_folder(t / "ok"), ["--backbone-lr-mult", "0"], "--backbone-lr-mult"),
    ("missing data", None, [], "--data is required"),
]


@pytest.mark.parametrize("make,extra,expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_finetune_input_is_one_line_exit_2_nothing_written(capsys, tmp_path, parent, make, extra, expected):
    args = ["finetune", parent, "--device", "cpu", "--batch-size", "6", "--run-dir", tmp_path / "runs", *extra]
    if make is not None:
        args += ["--data", make(tmp_path)]
    code, out, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("loading", "skipped", "decoding"))]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], err
    assert not (tmp_path / "runs").exists()


def test_unsafe_parent_is_refused(capsys, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": "resnet-tui/1", "model": Evil()}, tmp_path / "evil.pt")
    code, _, err = run(capsys, "finetune", tmp_path / "evil.pt", "--data", build_image_folder(tmp_path / "ok"))
    assert code == 2 and "refusing to load" in err and not marker.exists()


def test_corrupt_images_can_be_skipped(capsys, tmp_path, parent):
    code, out, err = run(capsys, "finetune", parent, "--data", _corrupt(tmp_path), "--skip-bad-images", "--epochs", "1",
                         "--batch-size", "6", "--device", "cpu", "--run-dir", tmp_path / "runs", "--json")
    assert code == 0, err
    assert "skipped 1 unreadable image in the train split" in err


def test_torchvision_transfer_with_a_local_weights_file(capsys, tmp_path):
    import torchvision

    weights = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    folder = build_image_folder(tmp_path / "pets")
    code, out, err = run(capsys, "train", "--arch", "tv-resnet18", "--weights", weights, "--freeze", "backbone",
                         "--dataset", "folder", "--data", folder, "--image-size", "32", "--epochs", "1",
                         "--batch-size", "6", "--device", "cpu", "--run-dir", tmp_path / "runs", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"


def test_pretrained_offline_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    folder = build_image_folder(tmp_path / "pets")
    code, _, err = run(capsys, "train", "--arch", "tv-resnet18", "--pretrained", "--dataset", "folder", "--data", folder,
                       "--device", "cpu", "--run-dir", tmp_path / "runs")
    lines = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 2 and len(lines) == 1 and "resnet18-f37072fd.pth" in lines[0]
    assert not (tmp_path / "runs").exists()
    shutil.rmtree(tmp_path / "hub", ignore_errors=True)


def test_pretrained_is_for_torchvision_models_only(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--arch", "resnet20", "--pretrained", "--dataset", "synthetic", "--run-dir", tmp_path)
    assert code == 2 and "--pretrained" in err


def test_two_finetunes_in_the_same_second_get_two_runs(capsys, tmp_path, parent, monkeypatch):
    """The generated <parent>-ft-<dataset>-<time> name is not the user's: a clash takes a suffix (it was
    treated as an explicit --name, so the second fine-tune of a second failed)."""
    import core.runs.layout

    monkeypatch.setattr(core.runs.layout.time, "strftime", lambda fmt, *a: "20261129-120000")
    folder = build_image_folder(tmp_path / "pets")
    dirs = []
    for _ in range(2):
        code, out, err = run(capsys, "finetune", parent, "--data", folder, "--epochs", "1", "--batch-size", "6",
                             "--device", "cpu", "--run-dir", tmp_path / "runs", "--json")
        assert code == 0, err
        dirs.append(os.path.basename(json.loads(out)["run_dir"]))
    stem = f"{parent.name}-ft-folder-20261129-120000"
    assert dirs == [stem, f"{stem}-2"]


def test_finetune_on_small_data_chooses_its_batch_and_epochs_and_says_so(capsys, tmp_path, parent):
    folder = build_image_folder(tmp_path / "pets", train_per_class=10, test_per_class=2)  # 30 training images
    code, out, err = run(capsys, "finetune", parent, "--data", folder, "--freeze", "backbone", "--device", "cpu",
                         "--run-dir", tmp_path / "runs", "--name", "small", "--json")
    assert code == 0, err
    says = "fine-tune defaults chosen for 30 training images: batch size 16 and 30 epochs (1 step per epoch, 30 in all"
    assert says in err
    train = json.loads((tmp_path / "runs" / "small" / "config.json").read_text())["train"]
    assert (train["batch_size"], train["epochs"]) == (16, 30) and train["chosen"].startswith("chosen for 30")
    assert json.loads(out)["epochs_completed"] == 30
    code, out, err = run(capsys, "finetune", parent, "--data", folder, "--freeze", "backbone", "--device", "cpu",
                         "--run-dir", tmp_path / "runs", "--name", "mine", "--batch-size", "8", "--epochs", "1")
    assert code == 0 and "fine-tune defaults" not in out + err  # explicit options always win
    train = json.loads((tmp_path / "runs" / "mine" / "config.json").read_text())["train"]
    assert (train["batch_size"], train["epochs"], train["chosen"]) == (8, 1, "")
