"""A run's event stream, ``RUN/events.jsonl``: what every viewer (``runs watch``, an attached app, a
second app) reads to follow a run it did not start.

One JSON object per line: ``{"v": 1, "t": <unix time>, "event": "<name>", ...fields}``. The owner
appends; readers only ever read. Sizes are bounded by design:

- BatchProgress at most once per ``PROGRESS_EVERY`` seconds (plus the last batch of each epoch), floats
  rounded to 6 significant digits: about 270 bytes a second, ~23 MB a day;
- a Heartbeat only when nothing else was written for ``HEARTBEAT_EVERY`` seconds (paused, evaluating,
  loading data), so a silent stream means a dead owner;
- a byte budget (a token bucket: ``BUDGET_PER_DAY`` a day, bursts of ``BURST`` bytes) over all of it: the
  events a viewer can do without (progress, the per-epoch EvalEnded / EpochStarted / end-of-epoch saves,
  heartbeats) are left out while the budget is spent; the story (RunStarted, EpochEnded, mid-epoch saves,
  Paused, ControlAck, Notice, RunFinished) is always written. So very short epochs (under a few seconds:
  ~1.3 KB of events each) cannot grow a day's stream past ~50 MB; at 0.5 s an epoch the story alone would.

Writing never harms the run: a failed write (disk full, folder gone) turns the stream off with a
notice and training goes on. Readers skip a torn last line (a writer mid-append or killed) until it
is complete, and skip damaged or unknown lines (a newer writer) without failing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.runs import activity
from core.runs.events import (
    BatchProgress, CheckpointSaved, EpochStarted, EvalEnded, Event, Heartbeat, from_dict, to_dict,
)

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
STORY = "story.jsonl"  # the stream without its progress lines and heartbeats: what opening a long run reads (core.runs.history)
VERSION = 1
PROGRESS_EVERY = 1.0  # seconds between BatchProgress lines (the issue allows 2 per second; 1 keeps a day under 30 MB)
HEARTBEAT_EVERY = 2.0  # seconds of silence before a Heartbeat line
STALE_AFTER = 15.0  # seconds without a line after which a stream's owner is presumed gone
BUDGET_PER_DAY = 45e6  # bytes: the average rate the thinnable events may use
BURST = 5e6  # bytes a run may write above that rate before thinning starts (short runs never thin)


def in_story(event: Event) -> bool:
    """Also written to story.jsonl: everything but the per-second progress lines and the heartbeats."""
    return not isinstance(event, (BatchProgress, Heartbeat))


def essential(event: Event) -> bool:
    """Written whatever the budget says: what a viewer needs to tell the run's story and answer requests."""
    if isinstance(event, CheckpointSaved):
        return event.mid_epoch or event.kind != "last"
    return not isinstance(event, (BatchProgress, EvalEnded, EpochStarted, Heartbeat))


def _compact(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        if all(type(v) is int for v in value):  # a confusion matrix's row: nothing to round
            return list(value)
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def encode(event: Event, t: float) -> bytes:
    record = {"v": VERSION, "t": round(t, 3), **_compact(to_dict(event))}
    if isinstance(event, Heartbeat) and event.worked is not None:
        record["worked"] = round(event.worked, 3)  # a time: 6 significant digits would round it to 1000 s
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


class EventLog:
    """The owner's side: ``record(event)`` from any thread; a daemon thread writes heartbeats."""

    def __init__(self, run_dir: str | Path, *, progress_every: float = PROGRESS_EVERY,
                 heartbeat_every: float = HEARTBEAT_EVERY, budget_per_day: float = BUDGET_PER_DAY,
                 burst: float = BURST, clock=time.time) -> None:
        self.path = Path(run_dir) / EVENTS
        self.progress_every = progress_every
        self.heartbeat_every = heartbeat_every
        self.clock = clock
        self._rate = budget_per_day / 86400.0
        self._burst = burst
        self._tokens = burst
        self._refilled = clock()
        self.thinned = 0  # events left out to keep within the budget
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._last_progress = 0.0
        self._closed = threading.Event()
        self.error: str | None = None  # why the stream was turned off, if it was
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._story = self._open_story()
        self._beater = threading.Thread(target=self._beat, name="events-heartbeat", daemon=True)
        self._beater.start()

    def record(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, BatchProgress) and event.batch < event.batches:
            if now - self._last_progress < self.progress_every:
                return
        line = encode(event, now)
        with self._lock:
            if not self._spend(len(line), now, essential(event)):
                self.thinned += 1
                return
            if isinstance(event, BatchProgress):
                self._last_progress = now
            self._write(line, now)
            if self._story is not None and self._fd is not None and in_story(event):
                try:
                    os.write(self._story, line)  # the same bytes: readers match the two files line for line
                except OSError:
                    self._close_story()
                    try:  # an incomplete story would hide events: without one, readers scan the stream
                        os.unlink(self.path.parent / STORY)
                    except OSError:
                        pass

    def _spend(self, size: int, now: float, always: bool) -> bool:
        """Take ``size`` bytes from the budget; False (nothing taken) when it cannot pay and ``always`` is off."""
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < size and not always:
            return False
        self._tokens -= size
        return True

    __call__ = record  # an EventLog is an EventSink

    def _write(self, line: bytes, now: float) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line)  # O_APPEND: one write per line, so lines from two threads never interleave
            self._last_write = now
        except OSError as e:
            self.error = f"the event stream {self.path} is off: {e.strerror or e}"
            log.warning(self.error)
            self._close_fd()

    def _open_story(self) -> int | None:
        """story.jsonl for appending; a new one starts with the stream's size, so a reader knows which part of the
        stream it does not cover (the sessions of a run resumed from an older version)."""
        path = self.path.parent / STORY
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if os.fstat(fd).st_size == 0:
                os.write(fd, (json.dumps({"v": VERSION, "story_from": os.fstat(self._fd).st_size}) + "\n").encode())
            return fd
        except OSError:
            return None

    def _close_story(self) -> None:
        _close_quietly(self._story)
        self._story = None

    def _beat(self) -> None:
        while not self._closed.wait(self.heartbeat_every / 4):
            now = self.clock()
            if now - self._last_write >= self.heartbeat_every:
                line = encode(Heartbeat(worked=activity.last()), now)
                with self._lock:
                    if self._spend(len(line), now, always=False):
                        self._write(line, now)

    def _close_fd(self) -> None:
        _close_quietly(self._fd)
        self._fd = None

    def close(self) -> None:
        self._closed.set()
        self._beater.join(timeout=2)
        with self._lock:
            self._close_fd()
            self._close_story()


def _close_quietly(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Record:
    t: float
    event: Event


def parse_line(line: bytes) -> Record | None:
    """The record of one complete line, or None for a damaged line or one this version does not know."""
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or raw.get("v") != VERSION:
            return None
        t = float(raw.pop("t"))
        raw.pop("v")
        return Record(t, from_dict(raw))
    except (ValueError, KeyError, TypeError):
        return None


class StreamReader:
    """Reads a stream incrementally: ``poll()`` returns the records completed since the last call.

    A last line without its newline is left for the next poll (its writer is mid-append); a
    complete line that does not parse is skipped and counted in ``skipped``.
    """

    def __init__(self, run_dir: str | Path, offset: int = 0) -> None:
        self.path = Path(run_dir) / EVENTS
        self.offset = offset
        self.skipped = 0
        self.last_time: float | None = None

    def poll(self, max_bytes: int | None = 64 * 2**20) -> list[Record]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(-1 if max_bytes is None else max_bytes)
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        records = []
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            record = parse_line(line)
            if record is None:
                self.skipped += 1
                continue
            records.append(record)
            self.last_time = record.t
        self.offset += end + 1
        return records

    def __iter__(self) -> Iterator[Record]:
        return iter(self.poll())


def read_events(run_dir: str | Path) -> list[Record]:
    """Every complete record of a run's stream (empty when it has none)."""
    return StreamReader(run_dir).poll(max_bytes=None)


def last_write_time(run_dir: str | Path) -> float | None:
    """The time of the stream's last complete line (a heartbeat at worst), read from its tail only."""
    path = Path(run_dir) / EVENTS
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 8192))
            tail = fh.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()[1:] if size > 8192 else tail.splitlines()):
        record = parse_line(line)
        if record is not None:
            return record.t
    return None
