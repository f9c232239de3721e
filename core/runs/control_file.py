"""Remote control of a run through its folder: ``RUN/control.json`` holds the latest requests.

A sender (``runs pause``, an attached app) appends a request under a lock on ``RUN/control.lock``
and rewrites the file atomically: ``{"v": 1, "requests": [{"id", "seq", "request", "time", "by"}, ...]}``
(the last ``KEEP`` requests, so two quick senders cannot erase each other's request before the
owner has read it). The owner (``ControlPoller``, a thread in the training process) reads the file
when it changes, acts on each request it has not seen, in ``seq`` order, and answers each with a
ControlAck event in the run's event stream; the sender waits for the ack with the request's ``id``.

Requests sent before the owner took the run (``since``: when it acquired the run's lock) are old
news (a finished session's) and are ignored; a request sent after that but before the poller's first
look (the owner was still importing torch or loading data) is acted on. A damaged file is ignored with one notice and never stops the run.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.atomic import atomic_write_json
from core.errors import UserError

CONTROL, CONTROL_LOCK = "control.json", "control.lock"
REQUESTS = ("pause", "continue", "stop", "checkpoint")
KEEP = 16
POLL_EVERY = 0.2  # seconds between looks at the control file (a stat; the file is read only when it changed)


@dataclass(frozen=True)
class Request:
    id: str
    seq: int
    request: str
    time: float = 0.0  # when it was sent (the sender's clock)


def _parse(raw: Any) -> list[Request]:
    """The requests of a control file's content; ValueError when it is not one."""
    if not isinstance(raw, dict) or raw.get("v") != 1 or not isinstance(raw.get("requests"), list):
        raise ValueError("not a control file of version 1")
    found = []
    for item in raw["requests"]:
        if not isinstance(item, dict):
            raise ValueError("a request is not an object")
        rid, seq, what, sent = item.get("id"), item.get("seq"), item.get("request"), item.get("time", 0.0)
        if not isinstance(rid, str) or not isinstance(seq, int) or what not in REQUESTS or not isinstance(sent, (int, float)):
            raise ValueError(f"a request is malformed: {item!r}"[:120])
        found.append(Request(rid, seq, what, float(sent)))
    return sorted(found, key=lambda r: r.seq)


def read_requests(run_dir: str | Path) -> list[Request]:
    """The requests in RUN/control.json ([] when there is none); ValueError when it is damaged."""
    try:
        text = (Path(run_dir) / CONTROL).read_text()
    except FileNotFoundError:
        return []
    try:
        return _parse(json.loads(text))
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None


def send_request(run_dir: str | Path, request: str) -> Request:
    """Append a request to the run's control file; returns it (its id is what the ack will carry)."""
    if request not in REQUESTS:
        raise ValueError(f"unknown request {request!r}")
    run_dir = Path(run_dir)
    try:
        fd = os.open(run_dir / CONTROL_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(f"cannot write {run_dir / CONTROL_LOCK}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # senders take turns; the owner only reads
        try:
            existing = read_requests(run_dir)
        except ValueError:
            existing = []  # a damaged file is replaced (the owner already ignored it)
        seq = max((r.seq for r in existing), default=0) + 1
        new = Request(secrets.token_hex(6), seq, request, time.time())
        kept = (existing + [new])[-KEEP:]
        by = f"{os.getpid()}@{socket.gethostname()}"
        try:
            atomic_write_json(run_dir / CONTROL, {
                "v": 1,
                "requests": [{"id": r.id, "seq": r.seq, "request": r.request, "time": r.time, "by": by} for r in kept],
            })
        except OSError as e:
            raise UserError(f"cannot write {run_dir / CONTROL}: {e.strerror or e}") from None
        return new
    finally:
        os.close(fd)


class ControlPoller:
    """The owner's side: a daemon thread that hands each new request to ``handle`` (in seq order).

    ``notice`` gets one line when the file is damaged (once per change of the file).
    """

    def __init__(self, run_dir: str | Path, handle: Callable[[Request], None], notice: Callable[[str], None],
                 since: float, every: float = POLL_EVERY) -> None:
        self.path = Path(run_dir) / CONTROL
        self.handle = handle
        self.notice = notice
        self.every = every
        self.since = since
        self._signature: tuple[int, int, int] | None = None
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control-poller", daemon=True)
        self._thread.start()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def poll_once(self) -> None:
        signature = self._stat()
        if signature is None or signature == self._signature:
            return
        self._signature = signature
        try:
            requests = read_requests(self.path.parent)
        except (ValueError, OSError) as e:
            self.notice(f"ignored a damaged control file {self.path} ({e})")
            return
        for r in requests:
            if r.id not in self._seen and r.time >= self.since:
                self._seen.add(r.id)
                self.handle(r)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll_once()
            except Exception as e:  # noqa: BLE001 - the run must never die of its remote control
                self.notice(f"control file poll failed: {e}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
