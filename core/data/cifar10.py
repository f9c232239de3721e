"""CIFAR-10 from the official python archive: download, md5 check, safe extraction and reading.

The archive and file checksums are torchvision's (``torchvision.datasets.CIFAR10``; a test
checks they agree). We download ourselves rather than through torchvision's helper so the
write is atomic (a temp file beside the target, renamed once its md5 matches), has a
timeout, reports progress through a callback instead of printing a tqdm bar into the
terminal UI, and fails with one readable line when offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.atomic import atomic_open
from core.data.cache import cache_path, fingerprint, load_cached, save_cached
from core.data.tensors import CIFAR10_CLASSES, ImageSet
from core.errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
}
TEST_FILES = {"test_batch": "40351d587109b95175f43aff81a1287e"}

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def batches_ok(folder: Path) -> bool:
    return all(
        (folder / name).is_file() and md5sum(folder / name) == md5
        for name, md5 in {**TRAIN_FILES, **TEST_FILES}.items()
    )


def where_to_put(root: Path) -> str:
    return f"put {ARCHIVE} ({URL}) into {root}/ and run again"


def download(root: Path, url: str | None = None, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Fetch the archive (from ``url``, default the official URL) into ``root`` and verify it; returns its path."""
    url = url or URL
    created = [p for p in (root, *root.parents) if not p.exists()]  # deepest first
    root.mkdir(parents=True, exist_ok=True)
    target = root / ARCHIVE
    if target.is_file() and md5sum(target) == ARCHIVE_MD5:
        return target
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "resnet-tui"}), timeout=timeout) as r:
            size = r.headers.get("Content-Length") if r.headers else None
            total = int(size) if size and str(size).isdigit() else None
            done = 0
            with atomic_open(target) as fh:
                while block := r.read(1 << 20):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    except BaseException as e:
        for folder in created:  # leave nothing behind: these folders were made only for this download
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(e, (urllib.error.URLError, OSError, ValueError)):
            reason = getattr(e, "reason", e)
            raise DataError(f"CIFAR-10 could not be downloaded ({reason}); {where_to_put(root)}") from None
        raise
    if md5sum(target) != ARCHIVE_MD5:
        target.unlink(missing_ok=True)
        raise DataError(f"the downloaded {ARCHIVE} failed its md5 check and was removed; {where_to_put(root)}")
    return target


def extract(archive: Path, root: Path) -> None:
    if md5sum(archive) != ARCHIVE_MD5:
        raise DataError(f"{archive} is not the CIFAR-10 python archive (md5 mismatch); {where_to_put(root)}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                # filter="data" refuses absolute paths, links out of the tree and device files.
                tar.extractall(root, filter="data")
            else:  # Python < 3.10.12 has no extraction filters: allow only plain, relative members
                for m in tar.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in Path(m.name).parts:
                        raise DataError(f"{archive} holds an unsafe member {m.name!r}; refusing to extract")
                tar.extractall(root)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive} could not be extracted ({e}); {where_to_put(root)}") from None


def ensure_cifar10(root: Path, allow_download: bool = True, progress: Progress | None = None) -> Path:
    """Make sure the verified batch files are under ``root``; returns their folder."""
    folder = root / FOLDER
    if batches_ok(folder):
        return folder
    archive = root / ARCHIVE
    if not archive.is_file():
        if not allow_download:
            raise DataError(f"CIFAR-10 is not in {root}; {where_to_put(root)}")
        download(root, progress=progress)
    extract(archive, root)
    if not batches_ok(folder):
        raise DataError(f"CIFAR-10 in {folder} is incomplete or corrupt (md5 mismatch); {where_to_put(root)}")
    return folder


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batch dicts and nothing else: only numpy's array reconstruction is allowed."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes into protocol-2 pickles
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch files may not reference {module}.{name}")


def read_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    with open(path, "rb") as fh:
        entry = _ArrayUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    data = np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, [int(v) for v in entry[b"labels"]]


def _read_split(folder: Path, files: dict[str, str]) -> ImageSet:
    parts = [read_batch(folder / name) for name in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.tensor([label for p in parts for label in p[1]], dtype=torch.int64)
    return ImageSet(images, labels)


def load_cifar10(
    root: Path, allow_download: bool = True, progress: Progress | None = None
) -> tuple[ImageSet, ImageSet, list[str]]:
    """(train, test, class names) as uint8 tensors, from the tensor cache when it is current."""
    folder = root / FOLDER
    files = sorted(folder / n for n in {**TRAIN_FILES, **TEST_FILES}) if folder.is_dir() else []
    cache = cache_path(root, "cifar10")
    if files and all(f.is_file() for f in files):
        key = fingerprint(root, files, "cifar10")
        hit = load_cached(cache, key)
        if hit is not None:
            return ImageSet(hit["train_images"], hit["train_labels"]), ImageSet(
                hit["test_images"], hit["test_labels"]
            ), list(hit["classes"])
    folder = ensure_cifar10(root, allow_download, progress)
    train, test = _read_split(folder, TRAIN_FILES), _read_split(folder, TEST_FILES)
    files = sorted(folder / n for n in {**TRAIN_FILES, **TEST_FILES})
    save_cached(
        cache,
        fingerprint(root, files, "cifar10"),
        {
            "train_images": train.images,
            "train_labels": train.labels,
            "test_images": test.images,
            "test_labels": test.labels,
            "classes": list(CIFAR10_CLASSES),
        },
    )
    return train, test, list(CIFAR10_CLASSES)


def is_present(root: Path) -> bool:
    return (root / FOLDER).is_dir() or (root / ARCHIVE).is_file() or os.path.isfile(cache_path(root, "cifar10"))
