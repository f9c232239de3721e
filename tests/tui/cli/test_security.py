"""A malicious pickle never runs, whichever way it comes in; safetensors export and load round-trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from helpers import build_image_folder, cache_entries, load_images, run_cli, write_image

run = run_cli  # resnet-tui ARGS in this process: (exit code, stdout, stderr)


class Payload:
    """Unpickling this runs `touch <marker>`: a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def trained(trained_run) -> Path:
    return trained_run


def poisoned_run(tmp: Path, trained: Path, marker: Path, which: str) -> Path:
    """A copy of a real run whose `which` file is replaced by a pickle carrying the payload."""
    run = tmp / "poisoned"
    run.mkdir()
    for name in ("config.json", "last.pt", "final.pt"):
        (run / name).write_bytes((trained / name).read_bytes())
    torch.save({"format": "resnet-tui/1", "kind": "last", "model": Payload(marker)}, run / which)
    return run


ENTRY_POINTS = [
    ("resume from last.pt", "last.pt", lambda run, tmp: ["train", "--resume", run]),
    ("evaluate a run", "final.pt", lambda run, tmp: ["evaluate", run]),
    ("evaluate a file", "last.pt", lambda run, tmp: ["evaluate", run / "last.pt"]),
    ("predict", "final.pt", lambda run, tmp: ["predict", run, write_png(tmp)]),
    ("finetune", "final.pt", lambda run, tmp: ["finetune", run, "--data", build_image_folder(tmp / "ft")]),
    ("export", "final.pt", lambda run, tmp: ["export", run]),
]


def write_png(tmp: Path) -> Path:
    write_image(tmp / "x.png", (1, 2, 3))
    return tmp / "x.png"


@pytest.mark.parametrize("which,argv", [e[1:] for e in ENTRY_POINTS], ids=[e[0] for e in ENTRY_POINTS])
def test_a_malicious_pickle_never_executes(capsys, tmp_path, trained, which, argv):
    marker = tmp_path / "pwned"
    run_dir = poisoned_run(tmp_path, trained, marker, which)
    code, out, err = run(capsys, *argv(run_dir, tmp_path))
    assert code == 2 and "refusing to load" in err and "posix.system" in err, err
    assert not marker.exists()
    # the control: the same file loaded without weights_only really would run the payload
    torch.load(run_dir / which, weights_only=False)
    assert marker.exists()


def test_malicious_torchvision_weights_never_execute(capsys, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"conv1.weight": Payload(marker)}, tmp_path / "evil.pth")
    code, _, err = run(capsys, "train", "--arch", "tv-resnet18", "--weights", tmp_path / "evil.pth", "--dataset",
                       "folder", "--data", build_image_folder(tmp_path / "d"), "--run-dir", tmp_path / "runs")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "refusing to load" in err and "evil.pth" in err and "posix.system" in err, err
    assert not marker.exists() and not (tmp_path / "runs").exists()
    torch.load(tmp_path / "evil.pth", weights_only=False)  # the control: an unsafe load really runs the payload
    assert marker.exists()


def test_a_poisoned_data_cache_is_a_miss_not_an_execution(tmp_path):
    from core.data.cache import cache_root

    folder = build_image_folder(tmp_path / "imgs")
    load_images(folder, 32)
    marker = tmp_path / "pwned"
    cache = cache_root() / f"{[e for e in cache_entries() if e['split'] == 'train'][0]['key']}.pt"
    torch.save({"key": "x", "images": Payload(marker)}, cache)
    train, _, _ = load_images(folder, 32)  # the cache is rebuilt from the images
    assert len(train) == 18 and not marker.exists()


@pytest.mark.slow
def test_export_safetensors_round_trips_and_serves_evaluate_and_predict(capsys, tmp_path, trained):
    from safetensors.torch import load_file

    from core.train.checkpoint import load_checkpoint

    out = tmp_path / "model.safetensors"
    code, stdout, err = run(capsys, "export", trained, "--format", "safetensors", "--out", out)
    assert code == 0 and "wrote" in stdout, err
    tensors = load_file(out)
    state = load_checkpoint(trained / "final.pt")["model"]
    assert tensors.keys() == state.keys()
    assert all(torch.equal(tensors[k], state[k]) and tensors[k].dtype == state[k].dtype for k in state)
    assert tensors["stem.1.num_batches_tracked"].dtype == torch.int64

    code, a, _ = run(capsys, "evaluate", out, "--json")
    code2, b, _ = run(capsys, "evaluate", trained, "--json")
    assert code == code2 == 0 and json.loads(a)["accuracy"] == json.loads(b)["accuracy"]
    code, p, _ = run(capsys, "predict", out, write_png(tmp_path), "--json")
    assert code == 0 and len(json.loads(p)[0]["top"]) == 3


def test_broken_and_foreign_safetensors_are_refused(capsys, tmp_path, trained):
    from safetensors.torch import save_file

    good = tmp_path / "m.safetensors"
    assert run(capsys, "export", trained, "--out", good)[0] == 0
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "evaluate", tmp_path / "cut.safetensors")
    assert code == 2 and "not a readable safetensors file" in err
    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors")
    code, _, err = run(capsys, "evaluate", tmp_path / "foreign.safetensors")
    assert code == 2 and "not exported by resnet-tui" in err


def test_torch_before_2_6_is_refused(monkeypatch, tmp_path):
    from core.errors import CheckpointError
    from core.train import checkpoint

    monkeypatch.setattr(checkpoint.torch, "__version__", "2.5.1+cu121")
    with pytest.raises(CheckpointError, match="needs torch >= 2.6"):
        checkpoint.load_checkpoint(tmp_path / "any.pt")
