"""ImageFolder datasets: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``, any class count.

Images are decoded once (in a thread pool: PIL releases the GIL while decoding), converted
to RGB, resized to the model's input size and stored as one uint8 tensor per split in the
tensor cache beside the data.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DataError
from .cache import cache_path, fingerprint, load_cached, save_cached
from .tensors import ImageSet

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
SPLITS = ("train", "test")


@dataclass
class FolderScan:
    root: Path
    classes: list[str]
    files: dict[str, list[tuple[Path, int]]]  # split -> [(path, class index)]
    skipped: dict[str, int] = field(default_factory=dict)  # split -> non-image files ignored

    def counts(self, split: str) -> list[int]:
        out = [0] * len(self.classes)
        for _, c in self.files[split]:
            out[c] += 1
        return out


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted((d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def scan_folder(root: Path) -> FolderScan:
    """List the images of both splits; class names come from the train/ folder names."""
    if not root.is_dir():
        raise DataError(f"--data {root} is not a folder; expected {root}/train/<class>/ and {root}/test/<class>/")
    for split in SPLITS:
        if not (root / split).is_dir():
            raise DataError(f"--data {root} has no {split}/ folder; expected {root}/{split}/<class>/<image files>")
    classes = [d.name for d in _class_dirs(root / "train")]
    if not classes:
        raise DataError(f"--data {root}/train has no class folders; expected {root}/train/<class>/<image files>")
    index = {name: i for i, name in enumerate(classes)}
    files: dict[str, list[tuple[Path, int]]] = {}
    skipped: dict[str, int] = {}
    for split in SPLITS:
        entries: list[tuple[Path, int]] = []
        skipped[split] = 0
        dirs = _class_dirs(root / split)
        if not dirs:
            raise DataError(f"--data {root}/{split} has no class folders")
        for d in dirs:
            if d.name not in index:
                raise DataError(f"{root}/{split}/{d.name} is a class that {root}/train does not have")
            images = []
            for f in sorted(d.iterdir()):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append(f)
                elif f.is_file():
                    skipped[split] += 1
            if not images:
                raise DataError(f"class folder {d} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            entries.extend((f, index[d.name]) for f in images)
        files[split] = entries
    return FolderScan(root, classes, files, skipped)


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 3 x size x size; raises DataError naming the file if it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.array(im, dtype=np.uint8).transpose(2, 0, 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None


def _decode_all(
    entries: list[tuple[Path, int]], size: int, progress: Callable[[int, int], None] | None, skip_bad: bool = False
) -> tuple[ImageSet, int]:
    """Decode every image; with ``skip_bad`` unreadable ones are left out. Returns (images, how many were skipped)."""
    images = np.empty((len(entries), 3, size, size), dtype=np.uint8)
    good = np.ones(len(entries), dtype=bool)
    workers = min(8, (os.cpu_count() or 1) + 2)

    def work(i: int) -> None:
        try:
            images[i] = decode_image(entries[i][0], size)
        except DataError:
            if not skip_bad:
                raise
            good[i] = False

    chunk = 1000  # progress (which may cancel by raising) is reported between chunks
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(entries), chunk):
            list(pool.map(work, range(start, min(start + chunk, len(entries)))))
            if progress:
                progress(min(start + chunk, len(entries)), len(entries))
    labels = torch.tensor([c for _, c in entries], dtype=torch.int64)
    keep = torch.from_numpy(good)
    return ImageSet(torch.from_numpy(images)[keep], labels[keep]), int((~good).sum())


def load_folder(
    root: Path,
    image_size: int = 32,
    progress: Callable[[str, int, int], None] | None = None,
    skip_bad: bool = False,
    note: Callable[[str], None] | None = None,
) -> tuple[ImageSet, ImageSet, list[str]]:
    """(train, test, class names), decoded or from the cache when the files are unchanged.

    An unreadable image is an error naming the file, unless ``skip_bad``: then it is left out.
    ``note`` hears how many non-image files and unreadable images were skipped.
    """
    scan = scan_folder(root)
    for split, count in scan.skipped.items():
        if count and note:
            note(f"skipped {count} non-image file{'s' if count != 1 else ''} in {split}/")
    out, to_cache = [], []
    for split in SPLITS:
        entries = scan.files[split]
        settings = f"folder|{image_size}|{','.join(scan.classes)}|skip={skip_bad}"
        key = fingerprint(root, [p for p, _ in entries], settings)
        path = cache_path(root, f"{split}-{image_size}")
        hit = load_cached(path, key)
        if hit is not None:
            skipped = int(hit.get("skipped", 0))
            data = ImageSet(hit["images"], hit["labels"])
        else:
            report = (lambda d, t, s=split: progress(s, d, t)) if progress else None
            data, skipped = _decode_all(entries, image_size, report, skip_bad)
            to_cache.append((path, key, {"images": data.images, "labels": data.labels, "classes": scan.classes,
                                         "skipped": skipped}))
        if skipped and note:
            note(f"skipped {skipped} unreadable image{'s' if skipped != 1 else ''} in {split}/")
        if len(data) == 0:
            raise DataError(f"{root}/{split} has no readable images")
        out.append(data)
    # Caches are written only once both splits decoded: a bad image in test/ leaves nothing behind.
    for path, key, payload in to_cache:
        save_cached(path, key, payload)
    return out[0], out[1], scan.classes
