"""A run's story so far, read without reading its whole stream: what opening a run (``runs watch``, an app
attaching) starts from, then follows the stream from the returned offset.

The owner writes every event but the progress lines and heartbeats twice: to ``events.jsonl`` and, the same
bytes, to ``story.jsonl`` (core.runs.event_log). A week-long stream is ~300 MB, nearly all progress; its story is
a few MB. History = the story's lines from before the stream's last ``TAIL`` bytes + every line of that tail (the
latest progress, for the bars and the loss sparkline). A story that starts after the stream did (a run begun by
an older version, then resumed) has its older part found by a scan; a run without a story is scanned whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.runs.event_log import EVENTS, STORY, VERSION, Record, parse_line

TAIL = 1 << 20  # bytes of the stream read as they are (~an hour of progress lines)
SKIPPED = (b'"event":"BatchProgress"', b'"event":"Heartbeat"')


def _lines(path: Path, start: int, end: int) -> tuple[list[bytes], int]:
    """The complete lines of ``path`` between byte offsets (``start`` at a line start), and where they end."""
    if end <= start:
        return [], start
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    cut = data.rfind(b"\n") + 1
    return data[:cut].splitlines(), start + cut


def _scan_story(path: Path, end: int) -> list[bytes]:
    """The story lines of the stream's first ``end`` bytes, found by reading it all (no story.jsonl for that part)."""
    kept = []
    for line in _lines(path, 0, end)[0]:
        if not any(mark in line[:64] for mark in SKIPPED):
            kept.append(line)
    return kept


def _story(run_dir: Path, events: Path, size: int) -> tuple[list[bytes], int] | None:
    """The story's lines (also those the stream has before story.jsonl began), and the stream offset where the
    stream's own tail starts; None when the run has no usable story."""
    try:
        with open(run_dir / STORY, "rb") as fh:
            head = json.loads(fh.readline())
            body = fh.read()
    except (OSError, ValueError):
        return None
    if not isinstance(head, dict) or head.get("v") != VERSION or not isinstance(head.get("story_from"), int):
        return None
    story_from = min(head["story_from"], size)
    lines = body[: body.rfind(b"\n") + 1].splitlines() if b"\n" in body else []
    return _scan_story(events, story_from) + lines, story_from


def _line_start(path: Path, offset: int) -> int:
    """The first line start at or after ``offset``."""
    if offset <= 0:
        return 0
    with open(path, "rb") as fh:
        fh.seek(offset - 1)
        while chunk := fh.read(65536):
            i = chunk.find(b"\n")
            if i >= 0:
                return fh.tell() - len(chunk) + i + 1
    return offset


def read_history(run_dir: str | Path, tail: int = TAIL) -> tuple[list[Record], int]:
    """Every story record of the run and every record of its stream's last ``tail`` bytes, in the stream's order,
    and the offset up to which the stream was read (follow on from there; a torn last line is left for then)."""
    run_dir = Path(run_dir)
    events = run_dir / EVENTS
    try:
        size = os.stat(events).st_size
    except OSError:
        return [], 0
    found = _story(run_dir, events, size)
    if found is None:
        lines, end = _lines(events, 0, size)
        return [r for r in map(parse_line, lines) if r is not None], end
    story, story_from = found
    recent, end = _lines(events, _line_start(events, max(story_from, size - tail)), size)
    records = [r for r in map(parse_line, recent) if r is not None]
    first_t = records[0].t if records else float("inf")
    seen = set(recent)
    older = [r for line in story if line not in seen and (r := parse_line(line)) is not None and r.t <= first_t]
    return older + records, end
