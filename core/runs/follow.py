"""Following a run from outside its process: its event stream, and whether anyone still writes it.

``RunFollower.poll()`` returns the new records and, once the run is over for this viewer, an end:
``finished`` (a RunFinished arrived), ``interrupted`` (the owner is gone without one: killed, crashed,
the machine rebooted) or ``vanished`` (the folder was deleted). Used by `runs watch`, `runs stop` and
the app's attached training screen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from core.runs.catalog import STALLED, STARTING, summarize
from core.runs.event_log import Record, StreamReader
from core.runs.history import read_history
from core.runs.events import RunFinished, RunStarted

GONE_GRACE = 1.0  # seconds without an owner before a started run counts as interrupted (lock hand-over, start-up)
STALL_CHECK_EVERY = 2.0  # seconds between stall checks (each reads the stream's tail)


@dataclass
class Poll:
    records: list[Record] = field(default_factory=list)
    end: str | None = None  # None (go on) | finished | interrupted | vanished
    finished: RunFinished | None = None
    stalled: str | None = None  # while the live run is stalled: why (core.runs.stall), else None


class RunFollower:
    def __init__(self, run_dir: str | Path, from_start: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.reader = StreamReader(self.run_dir)
        if not from_start:
            try:
                self.reader.offset = (self.run_dir / self.reader.path.name).stat().st_size
            except OSError:
                pass
        self._ownerless_since: float | None = None
        self._stall_checked = 0.0
        self._stalled: str | None = None
        self.session_finished: RunFinished | None = None  # the RunFinished of the latest session read so far

    def history(self) -> list[Record]:
        """The run's story so far and its latest progress (core.runs.history: not the whole stream of a long run);
        the next poll() goes on from there. Call it first, once."""
        records, self.reader.offset = read_history(self.run_dir)
        for r in records:
            if isinstance(r.event, RunStarted):
                self.session_finished = None
            elif isinstance(r.event, RunFinished):
                self.session_finished = r.event
        return records

    def poll(self, max_bytes: int | None = 64 * 2**20) -> Poll:
        if not self.run_dir.is_dir() or (self.reader.offset > 0 and not self.reader.path.exists()):
            # gone, or made again at the same path (by an old writer, a user): not the run followed any more
            return Poll(end="vanished")
        records = self.reader.poll(max_bytes)
        finished = None
        for r in records:
            if isinstance(r.event, RunStarted):
                self.session_finished = None
            elif isinstance(r.event, RunFinished):
                self.session_finished = finished = r.event
        if finished is not None:
            return Poll(records, end="finished", finished=finished)
        now = time.monotonic()
        judge = now - self._stall_checked >= STALL_CHECK_EVERY
        summary = summarize(self.run_dir, stall=judge)
        live = summary is not None and summary.live
        if live:
            self._ownerless_since = None
            if judge:
                self._stall_checked = now
                self._stalled = summary.note if summary.status == STALLED else None
            return Poll(records, stalled=self._stalled)
        if self.session_finished is not None:  # over before we looked
            return Poll(records, end="finished", finished=self.session_finished)
        if self._ownerless_since is None:
            self._ownerless_since = now
        if now - self._ownerless_since < GONE_GRACE:
            return Poll(records)
        more = self.reader.poll(max_bytes)  # the last words, written just before the owner let go
        for r in more:
            if isinstance(r.event, RunFinished):
                return Poll(records + more, end="finished", finished=r.event)
        return Poll(records + more, end="interrupted" if summary is None or summary.status != STARTING else None)
