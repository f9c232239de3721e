"""ImageFolder datasets: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``, any class count.

Images are decoded once (in a thread pool: PIL releases the GIL while decoding), converted
to RGB, resized to the model's input size and stored as one uint8 tensor per split in the
tensor cache beside the data. decode_image says what happens to huge, malformed or unusual files.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.data.cache import cache_path, fingerprint, load_cached, save_cached
from core.data.tensors import ImageSet
from core.errors import DataError

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


# What decode_image reads, by Pillow's format names: the formats of IMAGE_EXTENSIONS (Pillow's JPEG opener
# also gives "MPO" images, camera JPEGs holding several pictures). Pillow is told to try only these, so a
# renamed EPS, PSD, ICO... file is refused instead of reaching a plugin nobody meant to run on it (EPS
# starts Ghostscript).
PIL_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
FORMAT_NAMES = "JPEG, PNG, BMP, GIF, WebP, TIFF or PPM/PGM"
# Part of the tensor cache key: bump it whenever decode_image gives other pixels for the same file.
DECODER_VERSION = 2
_EXIF_ORIENTATION = 0x0112
_quiet_lock = threading.Lock()


def _pillow():
    """PIL.Image, with Pillow's warnings about the files it reads turned off (decode_image says why)."""
    from PIL import Image

    bomb = ("ignore", None, Image.DecompressionBombWarning, None, 0)
    with _quiet_lock:  # checked each call: warnings.catch_warnings (pytest, callers) swaps the filter list
        if bomb not in warnings.filters:
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 3 x size x size; raises DataError naming the file if it cannot be read.

    * An image of more pixels than Pillow's limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 by default)
      is refused from its header, before anything is decoded. Pillow itself only warns up to twice the
      limit; here one limit holds, and Pillow's warnings (that one, damaged TIFF tags or EXIF) are not
      printed: the image decodes or it is an error.
    * A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when that still leaves at least
      twice ``size`` on each side: a 6000x4000 photo costs a fraction of a full decode, and the result
      stays within a level or two of a full decode and resize.
    * Every mode becomes RGB: palettes through their palette, alpha dropped, CMYK converted, 16-bit greys
      (PNG, TIFF, PGM) scaled 65535 -> 255 (Pillow alone clips them to white), float images 1.0 -> 255.
    * An animation gives its first frame; the EXIF orientation is applied (the image as viewers show it).
    * A truncated or malformed file is an error, never a grey-padded image.
    """
    Image = _pillow()
    try:
        with Image.open(path, formats=PIL_FORMATS) as im:
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and im.width * im.height > limit:
                raise DataError(
                    f"cannot read image {path}: {im.width}x{im.height} is {im.width * im.height:,} pixels, "
                    f"more than the {limit:,} allowed (a decompression bomb?)"
                )
            box = None  # the part of the decoded image that is the picture
            if im.format in ("JPEG", "MPO"):
                drafted = im.draft(None, (2 * size, 2 * size))
                if drafted:  # a reduced width or height is rounded up: its last column/row is partly padding
                    box = drafted[1]
            rgb = _to_rgb(im)
            transpose = _orientation(im)
        if rgb.size != (size, size) or box is not None:
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, box=box)
        if transpose is not None:  # after the resize: cheaper, and a square resize commutes with it
            rgb = rgb.transpose(transpose)
        return np.array(rgb, dtype=np.uint8).transpose(2, 0, 1)
    except DataError:
        raise
    except Image.DecompressionBombError as e:  # Pillow refuses past twice the limit inside open()
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        what = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        limit = Image.MAX_IMAGE_PIXELS
        raise DataError(
            f"cannot read image {path}: {what}, more than the {limit:,} allowed (a decompression bomb?)"
        ) from None
    except Image.UnidentifiedImageError:
        raise DataError(f"cannot read image {path}: not a {FORMAT_NAMES} image, or its header is damaged") from None
    except MemoryError:  # a damaged length field can ask for gigabytes
        raise DataError(f"cannot read image {path}: decoding it needs more memory than is free (damaged?)") from None
    except Exception as e:  # noqa: BLE001 - whatever Pillow raises on a malformed file is about that file
        raise DataError(f"cannot read image {path}: {_one_line(e)}") from None


def _to_rgb(im):
    """``im`` (still open) converted to an RGB image; see decode_image for the rules per mode."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # 16-bit greys: Pillow opens them as I;16 (PNG, TIFF) or I (PGM, scaled to 0..65535); values above
        # 65535 (a 32-bit TIFF) are clipped.
        grey = (np.clip(np.asarray(im), 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if im.mode == "F":
        grey = np.clip(np.nan_to_num(np.asarray(im), nan=0.0) * 255 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return im.convert("RGB")


def _orientation(im):
    """The transpose that shows ``im`` upright according to its EXIF orientation, or None."""
    from PIL import Image

    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # noqa: BLE001 - damaged EXIF: the pixels are fine, show them as stored (as viewers do)
        return None
    return {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)


DECODE_CHUNK = 1000  # images decoded between two progress reports (where a stop request can cancel by raising)


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

    chunk = DECODE_CHUNK
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
        settings = f"folder|{image_size}|decoder={DECODER_VERSION}|{','.join(scan.classes)}|skip={skip_bad}"
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
