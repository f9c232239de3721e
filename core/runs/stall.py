"""Is a live run making progress? Worked out by any viewer from the tail of the run's event stream.

A run is *stalled* when it holds its lock but has trained nothing for its threshold: the run's own
``--stall-after`` seconds, else max(10 x its median step time, ``MIN_STALL``). The evidence of work is the last
event the training loop wrote (progress, an epoch's end, a save, ...) or the ``worked`` time a heartbeat carries
(core.runs.activity: evaluation and decoding count as work). Heartbeats alone do not: they come from a thread
that beats on while a CUDA kernel hangs or a collective waits for a rank that left. A stopped process
(SIGSTOP) writes nothing at all, so its evidence simply ages. A paused run is not stalled.

Only the stream's tail is read (``TAIL`` bytes), so the cost does not grow with a week-long stream.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from core.runs.event_log import EVENTS, parse_line
from core.runs.events import BatchProgress, ControlAck, Heartbeat, Notice, Paused, Resumed, RunStarted

MIN_STALL = 120.0  # seconds: the default threshold's floor (a slow epoch start, a checkpoint to a slow disk)
STEP_FACTOR = 10.0  # the default threshold in median step times
TAIL = 256 * 1024  # bytes of the stream read: at a line a second, minutes of progress (steps, pauses) to judge by


@dataclass(frozen=True)
class Progress:
    last_work: float | None  # unix time of the last evidence of work (None: the tail holds none)
    threshold: float  # seconds without work after which the run counts as stalled
    paused: bool  # the loop is paused on request (not stalled, however long)

    def idle(self, now: float | None = None) -> float:
        return 0.0 if self.last_work is None else max(0.0, (time.time() if now is None else now) - self.last_work)

    def stalled(self, now: float | None = None) -> bool:
        return not self.paused and self.last_work is not None and self.idle(now) > self.threshold


def _tail_records(run_dir: Path, size: int = TAIL) -> list:
    try:
        with open(run_dir / EVENTS, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, end - size))
            chunk = fh.read(size)
    except OSError:
        return []
    lines = chunk.splitlines()
    if end > size and lines:
        lines = lines[1:]  # the first is most likely cut
    return [r for r in map(parse_line, lines) if r is not None]


def median_step_seconds(records: list) -> float | None:
    """The median seconds per optimiser step between consecutive progress lines of one session."""
    steps = []
    prev = None
    for r in records:
        if isinstance(r.event, RunStarted):
            prev = None
        elif isinstance(r.event, BatchProgress):
            e = r.event
            if prev is not None and e.global_step > prev.global_step and e.elapsed > prev.elapsed:
                steps.append((e.elapsed - prev.elapsed) / (e.global_step - prev.global_step))
            prev = e
    return statistics.median(steps) if steps else None


def progress(run_dir: str | Path, stall_after: float = 0.0, since: float | None = None) -> Progress:
    """The run's progress as its stream's tail tells it; ``stall_after`` > 0 is the run's own threshold, ``since``
    when its owner took it (a session starting now has done no work yet, and its first heartbeat is seconds away)."""
    records = _tail_records(Path(run_dir))
    last_work, paused = since, False
    for r in records:
        e = r.event
        if isinstance(e, Heartbeat):
            worked = e.worked
        elif isinstance(e, (ControlAck, Notice)):
            continue  # also written by other threads (a request answered by the control poller): no proof of work
        else:
            worked = r.t
            if isinstance(e, Paused):
                paused = True
            elif isinstance(e, (Resumed, RunStarted)):
                paused = False
        if worked is not None and (last_work is None or worked > last_work):
            last_work = worked
    if stall_after > 0:
        threshold = stall_after
    else:
        step = median_step_seconds(records)
        threshold = max(MIN_STALL, STEP_FACTOR * step) if step else MIN_STALL
    return Progress(last_work, threshold, paused)


def describe_stall(p: Progress, now: float | None = None) -> str:
    """e.g. "no training progress for 3m05s (its threshold: 2m00s)"."""
    return f"no training progress for {_span(p.idle(now))} (its threshold: {_span(p.threshold)})"


def _span(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
