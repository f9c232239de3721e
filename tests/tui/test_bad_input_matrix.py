"""One table of bad inputs across the whole CLI: each gives exactly one line on stderr, exit code 2,
no traceback, and writes nothing (the folder tree is the same before and after)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch
from helpers import build_image_folder, write_image

from tui.cli import main


@pytest.fixture
def trained(trained_run) -> Path:
    return trained_run


def truncated(tmp: Path, trained: Path) -> Path:
    run = tmp / "trunc"
    run.mkdir()
    (run / "config.json").write_bytes((trained / "config.json").read_bytes())
    data = (trained / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 3])
    return run


def garbage_cifar(tmp: Path) -> Path:
    root = tmp / "cifar"
    root.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    (root / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    return root


def empty_folder(tmp: Path) -> Path:
    (tmp / "empty" / "train").mkdir(parents=True)
    (tmp / "empty" / "test").mkdir()
    return tmp / "empty"


def unreadable(tmp: Path) -> Path:
    folder = build_image_folder(tmp / "imgs")
    (folder / "test" / "dog" / "bad.png").write_bytes(b"\x89PNG\r\n not really")
    return folder


def other_arch(tmp: Path) -> Path:
    torch.save({"format": "resnet-tui/1", "kind": "weights", "arch": "resnet32", "classes": ["a", "b"],
                "mean": [0.5] * 3, "std": [0.2] * 3, "image_size": 32, "model": {"fc.weight": torch.zeros(2, 64)}},
               tmp / "other.pt")
    return tmp / "other.pt"


def text_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not an image")
    return tmp / "notes.txt"


def an_image(tmp: Path) -> Path:
    write_image(tmp / "ok.png", (10, 20, 30))
    return tmp / "ok.png"


T, S = "@trained", "synthetic"
# (id, argv with placeholders resolved by `build`, text the one error line must contain)
MATRIX = [
    # values
    ("lr zero", ["train", "--dataset", S, "--lr", "0"], "--lr"),
    ("lr negative", ["train", "--dataset", S, "--lr", "-1"], "--lr"),
    ("lr nan", ["train", "--dataset", S, "--lr", "nan"], "--lr"),
    ("lr inf", ["train", "--dataset", S, "--lr", "inf"], "--lr"),
    ("lr text", ["train", "--dataset", S, "--lr", "abc"], "--lr"),
    ("epochs zero", ["train", "--dataset", S, "--epochs", "0"], "--epochs"),
    ("batch zero", ["train", "--dataset", S, "--batch-size", "0"], "--batch-size"),
    ("unknown arch", ["train", "--dataset", S, "--arch", "resnet7"], "resnet20"),
    ("optimizer", ["train", "--dataset", S, "--optimizer", "rmsprop"], "--optimizer"),
    ("schedule", ["train", "--dataset", S, "--schedule", "step"], "--schedule"),
    ("seed negative", ["train", "--dataset", S, "--seed", "-1"], "--seed"),
    ("seed too big", ["train", "--dataset", S, "--seed", "4294967296"], "--seed"),
    ("val split", ["train", "--dataset", S, "--val-split", "0.9"], "--val-split"),
    ("milestones", ["train", "--dataset", S, "--milestones", "a,b"], "--milestones"),
    ("device syntax", ["train", "--dataset", S, "--device", "gpu"], "--device"),
    ("device absent", ["train", "--dataset", S, "--device", "cuda"], "no CUDA GPU"),
    ("run name", ["train", "--dataset", S, "--name", "../escape"], "--name"),
    ("preset", ["train", "--preset", "fastest"], "--preset"),
    ("freeze", ["train", "--dataset", S, "--freeze", "half"], "--freeze"),
    ("keep-last", ["train", "--dataset", S, "--keep-last", "-1"], "--keep-last"),
    ("unknown option", ["train", "--no-such-option"], "no-such-option"),
    # combinations
    ("resume + preset", ["train", "--resume", T, "--preset", "paper"], "--preset cannot be combined"),
    ("resume + lr", ["train", "--resume", T, "--epochs", "3", "--lr", "0.5"], "cannot change on --resume"),
    ("pretrained resnet20", ["train", "--dataset", S, "--arch", "resnet20", "--pretrained"], "--pretrained"),
    ("finetune other arch", ["finetune", T, "--data", "@imgs", "--arch", "resnet56"], "is a resnet20 checkpoint"),
    ("finetune class count", ["finetune", T, "--data", "@imgs", "--num-classes", "7"], "--num-classes 7"),
    # paths
    ("missing folder", ["train", "--dataset", "folder", "--data", "@missing"], "is not a folder"),
    ("empty image folder", ["train", "--dataset", "folder", "--data", "@empty"], "no class folders"),
    ("resume non-run", ["train", "--resume", "@tmp"], "not a run directory"),
    ("predict missing image", ["predict", T, "@missing"], "is not a file"),
    ("export bad format", ["export", T, "--format", "onnx"], "--format"),
    # corrupted files
    ("truncated checkpoint", ["train", "--resume", "@truncated"], "corrupt or truncated"),
    ("evaluate truncated", ["evaluate", "@truncated/last.pt"], "corrupt or truncated"),
    ("checkpoint of another arch", ["evaluate", "@other"], "do not fit resnet32"),
    ("garbage CIFAR archive", ["train", "--dataset", "cifar10", "--data", "@cifar", "--no-download"], "md5"),
    ("unreadable image", ["train", "--dataset", "folder", "--data", "@unreadable", "--arch", "simplecnn"], "bad.png"),
    ("predict on a text file", ["predict", T, "@text"], "cannot read image"),
    ("data info image size", ["data", "info", "--dataset", S, "--image-size", "4000"], "--image-size"),
]


def build(args: list[str], tmp: Path, trained: Path) -> list[str]:
    makers = {
        "@trained": lambda: trained, "@tmp": lambda: tmp, "@missing": lambda: tmp / "missing",
        "@empty": lambda: empty_folder(tmp), "@cifar": lambda: garbage_cifar(tmp),
        "@unreadable": lambda: unreadable(tmp), "@imgs": lambda: build_image_folder(tmp / "ft"),
        "@other": lambda: other_arch(tmp), "@text": lambda: text_file(tmp),
    }
    out = []
    for a in args:
        head, _, tail = a.partition("/")
        if head == "@truncated":
            base = truncated(tmp, trained)
            out.append(str(base / tail) if tail else str(base))
        elif a in makers:
            out.append(str(makers[a]()))
        else:
            out.append(a)
    return out


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


def test_the_matrix_has_at_least_25_rows():
    assert len(MATRIX) >= 25


@pytest.mark.parametrize("args,expected", [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX])
def test_bad_input(capsys, tmp_path, monkeypatch, trained, args, expected):
    import torch as _torch

    monkeypatch.setattr(_torch.cuda, "is_available", lambda: False)
    argv = build(args, tmp_path, trained)
    if argv[0] in ("train", "finetune"):
        argv += ["--run-dir", str(tmp_path / "runs")]
    before, trained_before = tree(tmp_path), tree(trained)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("Error")]
    noise = [line for line in err.splitlines() if line.strip() and not line.startswith(("Error", "loading", "decoding", "skipped"))]
    assert exit_info.value.code == 2, err
    assert len(lines) == 1 and expected in lines[0], err
    assert not noise and "Traceback" not in out + err
    assert tree(tmp_path) == before, "something was written"
    assert tree(trained) == trained_before
