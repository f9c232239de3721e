"""The event stream measured apart from training, for bench/event_stream_cost.py: what each call costs
(emit, a heartbeat, a control-file poll) and how big a run's stream is, extrapolated to 24 hours."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

BOUND_BYTES_24H = 50e6  # the issue: at most 50 MB for a 24-hour run
MODEL_EPOCH_SECONDS = (1, 2, 5, 10, 30, 60, 300)
ONE_OFF = ("RunStarted", "RunFinished", "Notice")  # once per run, not per epoch (and CheckpointSaved kind=final)


# ----------------------------------------------------------------------------- direct per-call costs
def per_call_costs(n: int = 2000) -> dict:
    """Microseconds per written stream line, per throttled (dropped) progress event and per control poll."""
    from core.runs.control_file import ControlPoller
    from core.runs.event_log import EventLog
    from core.runs.events import BatchProgress

    def progress(batch: int, batches: int) -> BatchProgress:
        return BatchProgress(epoch=3, epochs=200, batch=batch, batches=batches, global_step=12345, total_steps=78200,
                             loss=0.4123456789, epoch_loss=0.512345678, epoch_acc=0.8312345, lr=0.0712345678,
                             images_per_sec=1234.56789, elapsed=3600.123456, eta=12345.6789)

    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(tmp, progress_every=3600.0, heartbeat_every=3600.0)
        written = progress(391, 391)  # the last batch of an epoch: always written
        start = time.perf_counter()
        for _ in range(n):
            log.record(written)
        line_us = (time.perf_counter() - start) / n * 1e6
        dropped = progress(100, 391)
        log.record(dropped)  # written once, then throttled
        start = time.perf_counter()
        for _ in range(n):
            log.record(dropped)
        dropped_us = (time.perf_counter() - start) / n * 1e6
        log.close()
        poller = ControlPoller(tmp, lambda r: None, lambda m: None, since=time.time(), every=3600.0)
        start = time.perf_counter()
        for _ in range(n):
            poller.poll_once()  # no control file: one failed stat, the usual case
        poll_us = (time.perf_counter() - start) / n * 1e6
        poller.close()
    return {"line_us": round(line_us, 2), "dropped_progress_us": round(dropped_us, 3), "poll_us": round(poll_us, 2)}


# ----------------------------------------------------------------------------- the stream's size
def stream_size(run_dir: Path) -> dict:
    from core.runs.event_log import EVENTS, PROGRESS_EVERY, read_events

    raw = (run_dir / EVENTS).read_bytes()
    lines = raw.splitlines(keepends=True)
    records = read_events(run_dir)
    if len(records) != len(lines):
        raise SystemExit(f"{run_dir / EVENTS}: {len(lines)} lines but {len(records)} records read back")
    count: Counter[str] = Counter()
    size: Counter[str] = Counter()
    one_off_bytes = 0
    for line, record in zip(lines, records):
        kind = type(record.event).__name__
        count[kind] += 1
        size[kind] += len(line)
        if kind in ONE_OFF or (kind == "CheckpointSaved" and getattr(record.event, "kind", "") == "final"):
            one_off_bytes += len(line)
    ended = [r.event for r in records if type(r.event).__name__ == "EpochEnded"]
    epochs = len(ended)
    epoch_seconds = sum(e.seconds for e in ended) / epochs  # training + evaluation of an epoch
    per_epoch = (len(raw) - one_off_bytes) / epochs
    per_hour = per_epoch * 3600 / epoch_seconds
    per_24h = per_hour * 24 + one_off_bytes
    progress_line = size["BatchProgress"] / max(1, count["BatchProgress"])
    # The model for a fast machine (the worst case): progress lines at the full 1 per PROGRESS_EVERY s, plus per
    # epoch its discrete lines (EpochStarted, EvalEnded, EpochEnded, CheckpointSaved last) and the forced progress
    # line of its last batch. Heartbeats only fill silences longer than HEARTBEAT_EVERY, so they add nothing there.
    per_epoch_discrete = sum(
        len(line) for line, r in zip(lines, records)
        if type(r.event).__name__ in ("EpochStarted", "EvalEnded", "EpochEnded")
        or (type(r.event).__name__ == "CheckpointSaved" and getattr(r.event, "kind", "") == "last")
    ) / epochs + progress_line
    progress_rate = progress_line / PROGRESS_EVERY
    room = (BOUND_BYTES_24H - one_off_bytes) / 86400 - progress_rate  # bytes/s left for per-epoch lines
    model = {f"{t:g}": round(86400 * (progress_rate + per_epoch_discrete / t) + one_off_bytes) for t in MODEL_EPOCH_SECONDS}
    return {
        "bytes": len(raw),
        "lines": len(lines),
        "epochs": epochs,
        "bytes_per_epoch": round(per_epoch, 1),
        "one_off_bytes": one_off_bytes,
        "epoch_seconds": round(epoch_seconds, 3),
        "events": dict(sorted(count.items())),
        "bytes_by_event": dict(sorted(size.items())),
        "progress_every_s": PROGRESS_EVERY,
        "mean_progress_line_bytes": round(progress_line, 1),
        "bytes_per_hour": round(per_hour),
        "bytes_per_24h": round(per_24h),
        "progress_only_24h": round(progress_line * 86400 / PROGRESS_EVERY),
        "per_epoch_discrete_bytes": round(per_epoch_discrete, 1),
        "model_24h_by_epoch_seconds": model,
        "shortest_epoch_within_bound_s": round(per_epoch_discrete / room, 2) if room > 0 else None,
        "bound_24h": BOUND_BYTES_24H,
        "within_bound": per_24h <= BOUND_BYTES_24H,
    }


