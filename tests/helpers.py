"""Test data builders: tiny in-memory datasets, a fake CIFAR-10 archive and a small image folder.

Nothing here touches the network or ../shared.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from core.data import DataBundle
from core.data.synthetic import make_synthetic

ROOT = Path(__file__).resolve().parents[1]  # the checkout



def fit_config(tmp_path: Path, **kw):
    """A tiny CPU run: simplecnn on 16-px synthetic images, 2 epochs of batch 32, into tmp_path/runs; keywords override."""
    from core.config.train_config import TrainConfig

    base = dict(arch="simplecnn", epochs=2, batch_size=32, lr=0.05, device="cpu", runs_dir=str(tmp_path / "runs"),
                name="t", image_size=16, dataset="synthetic")
    return TrainConfig(**(base | kw))


class Recorder:
    """An event sink that keeps every event; ``stop_when(event)`` sets ``stop`` (a threading.Event)."""

    def __init__(self, stop_when=None, stop=None):
        self.events = []
        self.stop_when = stop_when
        self.stop = stop

    def __call__(self, event):
        self.events.append(event)
        if self.stop_when and self.stop_when(event):
            self.stop.set()

    def of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]

    def losses(self):
        from core.runs.events import BatchProgress

        return [e.loss for e in self.of(BatchProgress)]


def tiny_bundle(train: int = 256, test: int = 100, val: int = 0, size: int = 16) -> DataBundle:
    """Synthetic data small enough for a CPU test to train on in a second."""
    tr, te, classes = make_synthetic(train + val, test, image_size=size)
    va = None
    if val:
        va = tr.select(torch.arange(train, train + val))
        tr = tr.select(torch.arange(train))
    return DataBundle("synthetic", classes, tr, te, va, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "test")


# ------------------------------------------------------------------ fake CIFAR-10 in the real format
FAKE_PER_BATCH = 20  # images per batch file (the real one has 10,000)


def _batch_bytes(rng: np.random.Generator, n: int, label_offset: int) -> tuple[bytes, np.ndarray, list[int]]:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int((i + label_offset) % 10) for i in range(n)]
    entry = {b"batch_label": b"fake", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}
    return pickle.dumps(entry, protocol=2), data, labels


def build_fake_cifar_archive(path: Path, seed: int = 0) -> dict:
    """A cifar-10-python.tar.gz with the real layout and pickle format; returns its md5s and contents."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    contents: dict[str, tuple[np.ndarray, list[int]]] = {}
    for i in range(1, 6):
        raw, data, labels = _batch_bytes(rng, FAKE_PER_BATCH, i)
        files[f"data_batch_{i}"], contents[f"data_batch_{i}"] = raw, (data, labels)
    raw, data, labels = _batch_bytes(rng, FAKE_PER_BATCH, 0)
    files["test_batch"], contents["test_batch"] = raw, (data, labels)
    files["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    md5 = {name: hashlib.md5(raw).hexdigest() for name, raw in files.items()}
    return {"archive_md5": hashlib.md5(path.read_bytes()).hexdigest(), "md5": md5, "contents": contents}


# ------------------------------------------------------------------ a small ImageFolder tree
def write_image(path: Path, colour: tuple[int, int, int], size: int = 40, fmt: str | None = None) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    arr = np.clip(np.array(colour, dtype=np.int16) + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, format=fmt)


def build_image_folder(root: Path, classes=("cat", "dog", "frog"), train_per_class: int = 6, test_per_class: int = 3) -> Path:
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200)]
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c, name in enumerate(classes):
            for i in range(n):
                ext = ".png" if i % 2 else ".jpg"
                write_image(root / split / name / f"{i:03d}{ext}", colours[c % len(colours)])
    return root


def build_class_folders(root: Path, classes=("cat", "dog", "frog"), per_class: int = 10, size: int = 40,
                        extra: dict[str, int] | None = None) -> Path:
    """``root/<class>/*.png|jpg`` alone (no train/ or test/): the layout most people have; ``extra`` adds
    folders beside (``{"val": 2}``: root/val/<class>/ with 2 images each)."""
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200)]
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_image(root / name / f"{i:03d}{'.png' if i % 2 else '.jpg'}", colours[c % len(colours)], size)
        for split, n in (extra or {}).items():
            for i in range(n):
                write_image(root / split / name / f"{split}{i:03d}.png", colours[c % len(colours)], size)
    return root


def poison_loss(monkeypatch, from_call: int) -> None:
    """Make the training loss NaN from its ``from_call``-th computation on (a stand-in for a diverging run)."""
    real = torch.nn.CrossEntropyLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target):
        calls["n"] += 1
        loss = real(self, logits, target)
        return loss * float("nan") if calls["n"] >= from_call else loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", poisoned)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """What ``build(folder)`` makes (a path inside ``folder``), made once per test run even under xdist.

    The xdist workers' temporary folders share a parent: the first worker to get here builds under a lock in
    that parent while the others wait, then every worker reuses it. Only for what the tests read and never change.
    """
    import fcntl
    import os
    import shutil

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / f"built-{name}", root / f"built-{name}.done"
    with open(root / f"built-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            done.write_text(str(Path(build(folder)).relative_to(folder)))
    return folder / done.read_text()


def train_tiny_run(root: Path, name: str = "t") -> Path:
    """A real, short resnet20 run on synthetic data made through the CLI; returns its run directory."""
    import pytest

    from tui.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "synthetic", "--arch", "resnet20", "--train-subset", "200", "--batch-size", "50", "--image-size", "16",
              "--epochs", "1", "--device", "cpu", "--run-dir", str(root), "--name", name])
    assert exit_info.value.code == 0
    return root / name


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``resnet-tui ARGS`` in this process: (exit code, stdout, stderr)."""
    import pytest

    from tui.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def run_here(capsys, *args):
    """``run_cli`` answering as ``subprocess.run`` does (returncode, stdout, stderr): for the runs a process test
    compares with or resumes by, which need not be processes of their own (a process start spared, ~3 s)."""
    from types import SimpleNamespace

    code, out, err = run_cli(capsys, *args)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


# ------------------------------------------------------------------ reading a run folder's records as they are on disk
def rows_of(run_dir: Path) -> list[dict]:
    """metrics.jsonl's rows."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def config_of(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text())


def status_of(run_dir: Path) -> dict:
    """run.json."""
    return json.loads((Path(run_dir) / "run.json").read_text())


def load_images(root: Path, image_size: int = 32, skip_bad: bool = False, note=None):
    """(train, test, classes) of an image folder held in memory, as a run loads it; ``note`` hears the skips."""
    from core.data import load_raw

    def report(message: str) -> None:
        if note is not None and not message.startswith("decoding"):
            note(message)

    return load_raw("folder", root, image_size, skip_bad_images=skip_bad, report=report)


def cache_entries() -> list[dict]:
    """The decode cache's entries (the test's own cache folder: conftest points XDG_CACHE_HOME at it)."""
    from core.data.cache import cache_root, list_entries

    return list_entries(cache_root())


def ranks_of(run: Path) -> dict[int, int]:
    """{rank: pid} of a distributed job's training processes on this machine (not torchrun itself, whose command
    line also names RUN), found in /proc."""
    import os

    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(run).encode() in cmd and b"tui.cli.background" in cmd and b"torch.distributed.run" not in cmd:
            rank = next((int(v.split(b"=")[1]) for v in env if v.startswith(b"RANK=")), None)
            if rank is not None:
                found[rank] = int(pid)
    return found


def kill_leftovers(folder: Path) -> None:
    """SIGKILL every process whose command line names ``folder`` (a failed test must not leave a job behind:
    torchrun and background runs live in sessions of their own); SIGCONT first, for one a test stopped."""
    import os
    import signal

    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(folder).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue
