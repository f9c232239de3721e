"""Who trains a run: an exclusive lock on RUN/run.lock, held by the training process for as long as it
trains (the kernel drops it when the process ends, however it ends), with the owner's host and pid
written in the file for the message a second trainer gets.

A run whose run.json says "running" is live exactly when someone holds this lock; a pid alone
proves nothing (pids are reused, and a pid means nothing on another host).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from core.errors import UserError

LOCK = "run.lock"


class RunBusyError(UserError):
    """The run is being trained by another process (or another fit() in this one)."""


def _owner_of(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def describe(owner: dict[str, Any]) -> str:
    """e.g. "pid 4242 on gpu-box since 2026-11-29 10:15:00"."""
    since = owner.get("since")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}{when}"


class RunLock:
    """Held from acquire() until release() (or the end of the process)."""

    def __init__(self, run_dir: Path, fd: int, since: float) -> None:
        self.run_dir = run_dir
        self.since = since  # when this owner took the run
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, run_dir: str | Path) -> "RunLock":
        run_dir = Path(run_dir)
        try:
            fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot write {run_dir / LOCK}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner_of(fd)
            os.close(fd)
            raise RunBusyError(
                f"{run_dir} is being trained by {describe(owner)}; watch it with: resnet-tui runs watch {run_dir}, or stop it with: resnet-tui runs stop {run_dir}"
            ) from None
        except OSError as e:
            os.close(fd)
            raise UserError(f"cannot lock {run_dir / LOCK}: {e.strerror or e}") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return cls(run_dir, fd, record["since"])

    @classmethod
    def adopt(cls, run_dir: str | Path, fd: int) -> "RunLock":
        """Take over a lock a parent process acquired and passed down (its descriptor inherited): the
        hand-off leaves no moment in which the lock is free. The owner record is rewritten for this process."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours through the shared description: no wait
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return cls(Path(run_dir), fd, record["since"])

    @property
    def fd(self) -> int | None:
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lock_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The owner record of the process training this run, or None when nobody holds its lock."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: never trained by a version that locks, or not a run
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _owner_of(fd) or {"pid": "?", "host": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def last_owner(run_dir: str | Path) -> dict[str, Any] | None:
    """The owner record the last (or current) owner wrote, without asking whether it still holds the lock."""
    try:
        raw = json.loads((Path(run_dir) / LOCK).read_text() or "null")
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None
