"""Reading image files: one image as uint8 pixels (decode_image says what happens to huge, malformed or unusual
files), the same image opened for a crop of it (open_rgb), and many at once in a thread pool (decode_all: PIL
releases the GIL while decoding). Which files make a dataset is core.data.layout's business.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.data.cache import cache_root, entry_path, fingerprint, load_cached, save_cached
from core.runs import activity
from core.data.layout import FolderScan
from core.data.tensors import ImageSet
from core.errors import DataError

# What decode_image reads, by Pillow's format names: the formats of IMAGE_EXTENSIONS (Pillow's JPEG opener
# also gives "MPO" images, camera JPEGs holding several pictures). Pillow is told to try only these, so a
# renamed EPS, PSD, ICO... file is refused instead of reaching a plugin nobody meant to run on it (EPS
# starts Ghostscript).
PIL_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
FORMAT_NAMES = "JPEG, PNG, BMP, GIF, WebP, TIFF or PPM/PGM"
# Part of the tensor cache key: bump it whenever decode_image gives other pixels for the same file.
DECODER_VERSION = 3
_EXIF_ORIENTATION = 0x0112
_quiet_lock = threading.Lock()
_QUARTER_TURNS = ("TRANSPOSE", "TRANSVERSE", "ROTATE_90", "ROTATE_270")  # orientations that swap width and height


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


Box = tuple[float, float, float, float]  # left, top, right, bottom in the upright picture's pixels
Pick = Callable[[int, int], Box]  # (width, height) of the upright picture -> the part of it to keep

EVAL_CROP = 0.875  # resize-and-centre-crop evaluation keeps this share of the short side (224 of 256)


def full_box(width: int, height: int) -> Box:
    return (0.0, 0.0, float(width), float(height))


def centre_box(width: int, height: int) -> Box:
    """The centred square of EVAL_CROP of the short side: torchvision's Resize(256) + CenterCrop(224)."""
    side = EVAL_CROP * min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


FITS: dict[str, Pick] = {"squash": full_box, "centre": centre_box}


def decode_image(path: Path, size: int, fit: str | Pick = "squash") -> np.ndarray:
    """One image as uint8 3 x size x size; raises DataError naming the file if it cannot be read.

    ``fit`` says which part of the picture becomes the square: "squash" the whole picture (its aspect ratio
    is not kept), "centre" the centred square evaluation uses after a random-resized-crop training, or a
    function of the picture's size giving a box (a random resized crop, core.data.recipe).

    * An image of more pixels than Pillow's limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 by default)
      is refused from its header, before anything is decoded. Pillow itself only warns up to twice the
      limit; here one limit holds, and Pillow's warnings (that one, damaged TIFF tags or EXIF) are not
      printed: the image decodes or it is an error.
    * A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when that still leaves at least
      twice ``size`` on each side of the part kept: a 6000x4000 photo costs a fraction of a full decode,
      and the result stays within a level or two of a full decode and resize.
    * Every mode becomes RGB: palettes through their palette, alpha dropped, CMYK converted, 16-bit greys
      (PNG, TIFF, PGM) scaled 65535 -> 255 (Pillow alone clips them to white), float images 1.0 -> 255.
    * An animation gives its first frame; the EXIF orientation is applied (the image as viewers show it).
    * A truncated or malformed file is an error, never a grey-padded image.
    """
    Image = _pillow()
    pick = FITS[fit] if isinstance(fit, str) else fit
    try:
        with Image.open(path, formats=PIL_FORMATS) as im:
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and im.width * im.height > limit:
                raise DataError(
                    f"cannot read image {path}: {im.width}x{im.height} is {im.width * im.height:,} pixels, "
                    f"more than the {limit:,} allowed (a decompression bomb?)"
                )
            transpose = _orientation(im)
            turned = transpose is not None and transpose.name in _QUARTER_TURNS
            width, height = (im.height, im.width) if turned else (im.width, im.height)
            box = pick(width, height)
            scale = 1.0  # decoded pixels per picture pixel
            if im.format in ("JPEG", "MPO"):
                want = (2 * size * width / max(1e-6, box[2] - box[0]), 2 * size * height / max(1e-6, box[3] - box[1]))
                drafted = im.draft(None, (int(want[1]), int(want[0])) if turned else (int(want[0]), int(want[1])))
                if drafted:  # a reduced width or height is rounded up: its last column/row is partly padding
                    scale = drafted[1][2] / (height if turned else width)
            rgb = _to_rgb(im)
        if transpose is not None:
            if scale != 1.0:  # the padding column/row would end up on another side
                stored = (height, width) if turned else (width, height)
                rgb = rgb.crop((0, 0, int(stored[0] * scale), int(stored[1] * scale)))
            rgb = rgb.transpose(transpose)
        # In decoded pixels, within the image (after a crop of the padding, a box may reach a fraction past it).
        scaled = (max(0.0, box[0] * scale), max(0.0, box[1] * scale), min(float(rgb.width), box[2] * scale),
                  min(float(rgb.height), box[3] * scale))
        if rgb.size != (size, size) or scaled != (0.0, 0.0, float(rgb.width), float(rgb.height)):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, box=scaled)
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


def decode_all(
    entries: list[tuple[Path, int]], size: int, progress: Callable[[int, int], None] | None, skip_bad: bool = False,
    fit: str = "squash",
) -> tuple[ImageSet, int]:
    """Decode every image; with ``skip_bad`` unreadable ones are left out. Returns (images, how many were skipped).

    The images are written straight into one preallocated array: the peak is the decoded split plus a chunk."""
    images = np.empty((len(entries), 3, size, size), dtype=np.uint8)
    good = np.ones(len(entries), dtype=bool)
    workers = min(8, (os.cpu_count() or 1) + 2)

    def work(i: int) -> None:
        try:
            images[i] = decode_image(entries[i][0], size, fit)
        except DataError:
            if not skip_bad:
                raise
            good[i] = False

    chunk = DECODE_CHUNK
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(entries), chunk):
            list(pool.map(work, range(start, min(start + chunk, len(entries)))))
            activity.mark()
            if progress:
                progress(min(start + chunk, len(entries)), len(entries))
    labels = torch.tensor([c for _, c in entries], dtype=torch.int64)
    bad = int((~good).sum())
    if not bad:  # no boolean indexing: it would copy the whole split
        return ImageSet(torch.from_numpy(images), labels), 0
    keep = torch.from_numpy(good)
    return ImageSet(torch.from_numpy(images)[keep], labels[keep]), bad


def load_folder(
    scan: FolderScan,
    image_size: int,
    fits: dict[str, str],
    cache_dir: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    skip_bad: bool = False,
    note: Callable[[str], None] | None = None,
) -> dict[str, ImageSet]:
    """Every split of ``scan`` decoded (``fits``: split -> "squash" | "centre"), or read from the decode cache
    (core.data.cache) when its files are unchanged.

    An unreadable image is an error naming the file, unless ``skip_bad``: then it is left out.
    ``note`` hears how many unreadable images were skipped, and why the cache could not be written.
    """
    root = scan.root
    source = str(root.resolve())
    folder = cache_root(cache_dir)
    out, to_cache = {}, []
    for split, entries in scan.files.items():
        fit = fits.get(split, "squash")
        settings = f"folder|{split}|{image_size}|{fit}|decoder={DECODER_VERSION}|{','.join(scan.classes)}|skip={skip_bad}"
        key = fingerprint(root, [p for p, _ in entries], settings)
        path = entry_path(folder, key)
        hit = load_cached(path, key)
        if hit is not None:
            skipped = int(hit.get("skipped", 0))
            data = ImageSet(hit["images"], hit["labels"])
        else:
            report = (lambda d, t, s=split: progress(s, d, t)) if progress else None
            data, skipped = decode_all(entries, image_size, report, skip_bad, fit)
            meta = {"what": f"{source}|{split}|{image_size}|{fit}", "source": source, "split": split,
                    "image_size": image_size, "fit": fit, "images": len(data)}
            to_cache.append((path, key, {"images": data.images, "labels": data.labels, "skipped": skipped}, meta))
        if skipped and note:
            note(f"skipped {skipped} unreadable image{'s' if skipped != 1 else ''} in the {split} split")
        if len(data) == 0:
            raise DataError(f"the {split} split of {root} has no readable images")
        out[split] = data
    # Caches are written only once every split decoded: a bad image in test/ leaves nothing behind.
    for path, key, payload, meta in to_cache:
        why = save_cached(path, key, payload, meta)
        if why and note:
            note(f"cannot write the decode cache in {folder} ({why}): the next run decodes again; "
                 f"choose a writable folder with --cache-dir")
            break
    return out
