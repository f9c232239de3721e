"""Crash-safe file writes: a temp file in the target's own directory, fsync, rename, fsync the directory.

A reader sees the old file or the new one, never a torn one; a temp file never crosses
filesystems (so the rename stays atomic); a failed write leaves no temp file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

TMP_MARK = ".tmp-"
# mkstemp makes 0600 files; the final file should get the mode any other new file gets (0666 & ~umask).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _naming(error: OSError, target: Path) -> OSError:
    """The same error (same errno, so the same OSError subclass) naming the file being written,
    not its temp file or nothing at all (a failed write() or fsync() names no file)."""
    if error.errno is None:
        return error
    named = OSError(error.errno, error.strerror or os.strerror(error.errno), str(target))
    named.__cause__ = error
    return named


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file whose contents replace ``path`` only if the block finishes.

    Any OSError (read-only folder, disk full at write, fsync or rename) is raised naming ``path``.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TMP_MARK}", dir=target.parent)
    except OSError as e:
        raise _naming(e, target) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _naming(e, target) from None
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """``write(fh)`` fills the file, e.g. ``lambda fh: torch.save(obj, fh)``."""
    with atomic_open(path) as fh:
        write(fh)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and make it durable before returning (an OSError names ``path``)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        raise _naming(e, Path(path)) from None


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Delete temp files left by a writer that was killed mid-write; returns what was removed."""
    removed = []
    for p in Path(directory).glob(f".*{TMP_MARK}*"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed
