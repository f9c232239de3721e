"""The decoded-tensor cache: uint8 tensors of decoded images, so a dataset is decoded once, not on every run.

Decoding 60,000 JPEGs costs tens of seconds; a cache file loads in well under a second. Its key is a
fingerprint of every source file (relative path, size, mtime) plus the decode settings, so any change to the
source invalidates it. It is read with ``weights_only=True`` like every other file we load.

Where it lives: an image folder's cache is kept out of the user's data (which may be read-only, shared, or
under version control) in ``$XDG_CACHE_HOME/resnet-tui`` (``~/.cache/resnet-tui``), or ``--cache-dir``. Each
entry is ``<key>.pt`` with a small ``<key>.json`` beside it saying what it holds, so `data cache list` reads
no tensors. CIFAR-10's cache stays beside the archive the tool itself downloaded (``beside``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from core.atomic import atomic_save, atomic_write_json

CACHE_DIR = ".resnet-tui-cache"  # beside a downloaded dataset (CIFAR-10), and what older versions left in folders
CACHE_VERSION = 1


def fingerprint(root: Path, files: Iterable[Path], settings: str) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION}|{settings}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "resnet-tui"


def cache_root(cache_dir: str | Path = "") -> Path:
    """The cache folder: ``cache_dir`` when given, else the per-user default."""
    return Path(cache_dir).expanduser() if str(cache_dir) else default_cache_root()


def cache_path(root: Path, name: str) -> Path:
    """A cache file beside a dataset (CIFAR-10's, in the folder the tool downloads into)."""
    return root / CACHE_DIR / f"{name}.pt"


def entry_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.pt"


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
    try:
        os.utime(path.with_suffix(".json"))  # "last used", for `data cache list`
    except OSError:
        pass
    return payload


def save_cached(path: Path, key: str, payload: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """Write the cache; "" when written, else why not (a read-only folder: the run goes on without it).

    With ``meta`` a ``.json`` beside it describes the entry, and older entries of the same ``meta["what"]``
    (the same folder, split and decode settings from before the data changed) are removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda fh: torch.save({**payload, "key": key}, fh))
        if meta is not None:
            atomic_write_json(path.with_suffix(".json"), {**meta, "key": key, "created": time.time()})
            for old in list_entries(path.parent):
                if old.get("what") == meta.get("what") and old["key"] != key:
                    remove_entry(path.parent, old["key"])
        return ""
    except OSError as e:
        return f"{e.strerror or e}"


def list_entries(folder: Path) -> list[dict[str, Any]]:
    """The entries of a cache folder, newest use first: their meta plus ``bytes`` and ``used`` (a time)."""
    out = []
    if not folder.is_dir():
        return out
    for meta_file in folder.glob("*.json"):
        data = meta_file.with_suffix(".pt")
        try:
            meta = json.loads(meta_file.read_text())
            if not isinstance(meta, dict) or not data.is_file():
                continue
            meta["bytes"] = data.stat().st_size
            meta["used"] = meta_file.stat().st_mtime
        except (OSError, ValueError):
            continue
        meta["key"] = meta_file.stem
        out.append(meta)
    return sorted(out, key=lambda m: -m["used"])


def remove_entry(folder: Path, key: str) -> int:
    """Delete one entry; the bytes freed."""
    freed = 0
    for suffix in (".pt", ".json"):
        p = folder / f"{key}{suffix}"
        try:
            freed += p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            pass
    return freed


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK)
