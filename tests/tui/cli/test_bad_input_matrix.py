"""One table of bad inputs across the whole CLI: each gives exactly one line on stderr, exit code 2,
no traceback, and writes nothing (the folder tree is the same before and after)."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

import pytest
import torch
from helpers import build_image_folder, write_image

from tui.cli.main import main


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


def write_bomb(path: Path) -> Path:
    """A decompression bomb: an 8x8 PNG whose header claims 20000x20000 pixels (valid CRC, under 100 bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buf, "PNG")
    data = buf.getvalue()
    header = struct.pack(">II", 20000, 20000) + data[24:29]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + data[33:])
    return path


def bomb_folder(tmp: Path) -> Path:
    folder = build_image_folder(tmp / "bombs")
    write_bomb(folder / "train" / "cat" / "bomb.png")
    return folder


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
    ("grad clip negative", ["train", "--dataset", S, "--grad-clip", "-1"], "--grad-clip must be a finite number >= 0"),
    ("config missing", ["train", "--config", "@missing"], "does not exist"),
    ("config is text", ["train", "--config", "@text"], "is neither JSON nor TOML"),
    ("device syntax", ["train", "--dataset", S, "--device", "gpu"], "--device"),
    ("device absent", ["train", "--dataset", S, "--device", "cuda"], "no CUDA GPU"),
    ("run name", ["train", "--dataset", S, "--name", "../escape"], "--name"),
    ("preset", ["train", "--preset", "fastest"], "--preset"),
    ("freeze", ["train", "--dataset", S, "--freeze", "half"], "--freeze"),
    ("keep-last", ["train", "--dataset", S, "--keep-last", "-1"], "--keep-last"),
    ("compile mode", ["train", "--dataset", S, "--compile", "--compile-mode", "fast"], "--compile-mode"),
    ("compile mode alone", ["train", "--dataset", S, "--compile-mode", "reduce-overhead"], "needs --compile"),
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
    ("evaluate precision", ["evaluate", T, "--precision", "half"], "--precision must be one of"),
    ("evaluate fp16 on cpu", ["evaluate", T, "--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA device"),
    ("checkpoint of another arch", ["evaluate", "@other"], "do not fit resnet32"),
    ("garbage CIFAR archive", ["train", "--dataset", "cifar10", "--data", "@cifar", "--no-download"], "md5"),
    ("unreadable image", ["train", "--dataset", "folder", "--data", "@unreadable", "--arch", "simplecnn"], "bad.png"),
    ("predict on a text file", ["predict", T, "@text"], "cannot read image"),
    ("data info image size", ["data", "info", "--dataset", S, "--image-size", "4000"], "--image-size"),
    ("data download garbage archive", ["data", "download", "--data", "@cifar"], "md5"),
    # decompression bombs (a header claiming 20000x20000 pixels): refused from the header, never decoded
    ("predict bomb", ["predict", T, "@bomb"], "bomb.png: 400,000,000 pixels"),
    ("log unknown tracker", ["train", "--dataset", S, "--log", "comet"], "--log must be mlflow, mlflow:URI or wandb"),
    ("export to an unknown tracker", ["runs", "export", T, "--to", "comet"], "--to must be mlflow, mlflow:URI or wandb"),
    ("explain bomb", ["explain", T, "@bomb", "--json"], "bomb.png: 400,000,000 pixels"),
    ("explain on a text file", ["explain", T, "@text", "--json"], "cannot read image"),
    ("mistakes bad split", ["mistakes", T, "--out", "@out", "--split", "train"], "--split must be test or val"),
    ("mistakes into a missing folder", ["mistakes", T, "--out", "@nodir"], "does not exist"),
    ("train folder bomb", ["train", "--dataset", "folder", "--data", "@bombs", "--arch", "simplecnn"],
     "bomb.png: 400,000,000 pixels"),
    ("finetune bomb", ["finetune", T, "--data", "@bombs"], "bomb.png: 400,000,000 pixels"),
    ("evaluate bomb", ["evaluate", T, "--dataset", "folder", "--data", "@bombs"], "bomb.png: 400,000,000 pixels"),
    ("data info unknown split", ["data", "info", "--dataset", "folder", "--data", "@tmp", "--test-split", "0.9"],
     "--test-split must hold out at most half"),
    ("data cache list of a file", ["data", "cache", "list", "--cache-dir", "@text"], "is not a folder"),
    ("data cache clear of a file", ["data", "cache", "clear", "--cache-dir", "@text"], "is not a folder"),
    ("data info bomb", ["data", "info", "--dataset", "folder", "--data", "@bombs", "--check"], "bomb.png: 400,000,000 pixels"),
    # runs and the background (the live cases, with real processes: tests/tui/cli/test_background_runs.py)
    ("background bad lr", ["train", "--dataset", S, "--lr", "-1", "--background"], "--lr"),
    ("background resume non-run", ["train", "--resume", "@tmp", "--background"], "not a run directory"),
    ("background absent GPU", ["train", "--dataset", S, "--device", "cuda:7", "--background"], "cuda:7 is not available"),
    ("background bad arch", ["train", "--dataset", S, "--arch", "resnet21", "--background"], "--arch must be one of"),
    ("runs list of a file", ["runs", "list", "--run-dir", "@text"], "not a folder"),
    ("runs bare of a file", ["runs", "--run-dir", "@text"], "not a folder"),
    ("app on a file", ["--run-dir", "@text"], "exists and is not a folder"),
    ("watch no such run", ["runs", "watch", "@missing"], "no run"),
    ("watch a non-run folder", ["runs", "watch", "@tmp"], "is not a run folder"),
    ("watch a damaged config", ["runs", "watch", "@badconfig"], "config.json is damaged (not readable JSON)"),
    ("stop a finished run", ["runs", "stop", "@trained"], "is not running (status: completed)"),
    ("kill a finished run", ["runs", "kill", "@trained"], "is not running (status: completed); nothing to kill"),
    ("pause a non-run", ["runs", "pause", "@tmp"], "is not a run folder"),
    ("continue a finished run", ["runs", "continue", "@trained"], "is not running"),
    ("checkpoint with no time", ["runs", "checkpoint", "@trained", "--timeout", "0"], "--timeout must be > 0"),
    ("runs csv and json", ["runs", "list", "--csv", "--json", "--run-dir", "@tmp"], "pick one"),
    # experiments (more in tests/tui/cli/test_sweep.py and test_report.py)
    ("sweep empty grid", ["sweep", "--dataset", S, "--lr", "0.1,", "--run-dir", "@tmp"], "--lr: empty value in the grid"),
    ("sweep unknown option", ["sweep", "--dataset", S, "--lrate", "0.1,0.2", "--run-dir", "@tmp"], "No such option: --lrate"),
    ("sweep seeds zero", ["sweep", "--dataset", S, "--lr", "0.1,0.2", "--seeds", "0", "--run-dir", "@tmp"], "--seeds must be 1 or more"),
    ("sweep bad value", ["sweep", "--dataset", S, "--lr", "0.1,-2", "--run-dir", "@tmp"], "--lr"),
    ("sweep nothing to sweep", ["sweep", "--dataset", S, "--run-dir", "@tmp"], "nothing to sweep"),
    ("search inverted range", ["search", "--dataset", S, "--lr", "0.5:0.1", "--run-dir", "@tmp"], "the range is inverted"),
    ("search no validation", ["search", "--dataset", S, "--lr", "0.01:0.1", "--val-split", "0", "--run-dir", "@tmp"],
     "--val-split is 0"),
    ("report a non-run", ["report", "@empty", "--out", "@out"], "not a run"),
    ("report into a missing folder", ["report", "@trained", "--out", "@nodir"], "does not exist"),
    ("report as pdf", ["report", "@trained", "--out", "@pdf"], "give a file ending in .png or .html"),
    # doctor reports an unusable --run-dir or --cache-dir as a failed check (exit 1: tests/tui/cli/test_doctor.py)
    ("doctor unknown option", ["doctor", "--shm-size", "8g"], "No such option: --shm-size"),
]


def bad_config_run(tmp: Path) -> Path:
    run = tmp / "damaged-run"
    run.mkdir()
    (run / "config.json").write_text('{"train": {"arch": "resnet2')  # cut off mid-write by hand, say
    return run


def build(args: list[str], tmp: Path, trained: Path) -> list[str]:
    makers = {
        "@trained": lambda: trained, "@tmp": lambda: tmp, "@missing": lambda: tmp / "missing",
        "@empty": lambda: empty_folder(tmp), "@cifar": lambda: garbage_cifar(tmp),
        "@unreadable": lambda: unreadable(tmp), "@imgs": lambda: build_image_folder(tmp / "ft"),
        "@other": lambda: other_arch(tmp), "@text": lambda: text_file(tmp),
        "@bomb": lambda: write_bomb(tmp / "bomb.png"), "@bombs": lambda: bomb_folder(tmp),
        "@out": lambda: tmp / "report.png", "@nodir": lambda: tmp / "missing" / "report.png",
        "@pdf": lambda: tmp / "report.pdf", "@badconfig": lambda: bad_config_run(tmp),
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


def cli_commands() -> dict[str, list]:
    """Every command of the real typer app, by its words ("train", "data info"), with its parameters."""
    import typer

    from tui.cli.main import app  # importing tui.cli.main registers every command module's commands

    def walk(group, prefix: tuple[str, ...]):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))
            else:
                yield " ".join((*prefix, name)), command.params

    return dict(walk(typer.main.get_command(app), ()))


def test_every_command_that_takes_input_has_a_bad_input_row():
    """Adding a command (or a value to one that had none) without a row here fails this test."""
    commands = cli_commands()
    assert {"train", "finetune", "predict", "data info"} <= set(commands)  # the walk reaches groups too
    takes_input = {
        name for name, params in commands.items()
        if any(p.param_type_name == "argument" or not getattr(p, "is_flag", False) for p in params)
    }
    assert "models" not in takes_input  # --json only: nothing can be wrong with it
    covered = {" ".join(argv[:n]) for _, argv, _ in MATRIX for n in (1, 2, 3)}
    missing = sorted(takes_input - covered)
    assert not missing, f"commands without a row in MATRIX: {missing}"


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


def test_a_bomb_is_skipped_and_counted_with_skip_bad_images(capsys, tmp_path, monkeypatch):
    import json

    import torch as _torch

    monkeypatch.setattr(_torch.cuda, "is_available", lambda: False)
    folder = bomb_folder(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "folder", "--data", str(folder), "--skip-bad-images", "--arch", "simplecnn",
              "--epochs", "1", "--batch-size", "6", "--device", "cpu", "--run-dir", str(tmp_path / "runs"), "--json"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert "skipped 1 unreadable image in the train split" in err and "Traceback" not in err
    assert json.loads(out)["status"] == "completed"
