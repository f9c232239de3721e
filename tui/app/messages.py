"""Textual messages that carry engine events from the training thread to the app."""

from __future__ import annotations

from textual.message import Message

from core.runs.events import BatchProgress, Event


class TrainerEvent(Message):
    """One engine event. Per-batch progress replaces an older queued one: each carries the full picture."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, TrainerEvent)
            and isinstance(message.event, BatchProgress)
            and isinstance(self.event, BatchProgress)
        )
