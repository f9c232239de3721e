"""When this process last made progress that a viewer may count: a training or evaluation batch, a chunk of
images decoded. The training loop marks it; the event log's heartbeat thread reports it (Heartbeat.worked).

Heartbeats come from a thread of their own, so on their own they only prove the process exists: a hung CUDA
kernel, a collective waiting for a rank that is gone, or a data loader stuck on a dead network mount leave the
thread beating. The time of the last *work* is what tells a stalled run from a busy one (core.runs.stall).
A plain float: one assignment per batch costs nothing, and a torn read of it cannot happen under the GIL.
"""

from __future__ import annotations

import time

_last = time.time()


def mark() -> None:
    """Progress was made just now."""
    global _last
    _last = time.time()


def last() -> float:
    """Unix time of the last progress marked in this process (its start when none was)."""
    return _last
