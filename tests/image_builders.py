"""Image files made byte by byte for the decoder's tests: PNG chunks, a header that claims a size (a decompression
bomb needs no pixels), photos with structure, and the reference a decode is compared with."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, colour=(200, 40, 40), extra: bytes = b"") -> bytes:
    """A valid 8-bit RGB PNG of one colour; ``extra`` chunks go before the pixel data."""
    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def claim_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG ``data`` with its header rewritten to claim width x height (and a valid CRC)."""
    header = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + data[33:]


def write_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(claim_size(png_bytes(8, 8), width, height))
    return path


def saved(path: Path, im: Image.Image, **kwargs) -> Path:
    im.save(path, **kwargs)
    return path


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth, photo-like content (a random field blown up), so resizing differences show."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (max(2, height // 40), max(2, width // 40), 3), dtype=np.uint8))
    return small.resize((width, height), Image.Resampling.BICUBIC)


def reference(im: Image.Image, size: int = 32) -> np.ndarray:
    """A full decode, then resize: what decode_image is allowed to approximate."""
    return np.array(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)).transpose(2, 0, 1).astype(int)


