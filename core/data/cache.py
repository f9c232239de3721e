"""The decoded-tensor cache kept beside a dataset.

Decoding 60,000 JPEGs costs tens of seconds; the cache holds the uint8 tensors in one
file that loads in well under a second. Its key is a fingerprint of every source file
(relative path, size, mtime) plus the decode settings, so any change to the source
invalidates it. It is read with ``weights_only=True`` like every other file we load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable

import torch

from core.atomic import atomic_save

CACHE_DIR = ".resnet-tui-cache"
CACHE_VERSION = 1


def fingerprint(root: Path, files: Iterable[Path], settings: str) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION}|{settings}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_path(root: Path, name: str) -> Path:
    return root / CACHE_DIR / f"{name}.pt"


def load_cached(path: Path, key: str) -> dict[str, Any] | None:
    """The cached payload if present and made from the same source; otherwise None."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a torn or foreign file is just a miss; it is rewritten
        return None
    if not isinstance(payload, dict) or payload.get("key") != key:
        return None
    return payload


def save_cached(path: Path, key: str, payload: dict[str, Any]) -> bool:
    """Write the cache; False (and no error) when the data folder is read-only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda fh: torch.save({**payload, "key": key}, fh))
        return True
    except OSError:
        return False


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK)
