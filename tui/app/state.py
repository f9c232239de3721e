"""The app's small memory between sessions: the last config that was started.

Kept in $RESNET_TUI_HOME, else $XDG_CONFIG_HOME/resnet-tui, else ~/.config/resnet-tui; a broken file is
ignored, never fatal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.atomic import atomic_write_json
from core.config.train_config import TrainConfig


def home() -> Path:
    base = os.environ.get("RESNET_TUI_HOME") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "resnet-tui"
    )
    return Path(base)


def load_last_config() -> TrainConfig | None:
    try:
        raw = json.loads((home() / "last-config.json").read_text())
        return TrainConfig.from_dict(raw) if isinstance(raw, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def save_last_config(cfg: TrainConfig) -> None:
    try:
        home().mkdir(parents=True, exist_ok=True)
        atomic_write_json(home() / "last-config.json", cfg.to_dict())
    except OSError:
        pass  # remembering is a convenience; a read-only home must not stop a run
