"""The app's fine-tune screen and the CLI's `finetune` share their defaults (core.config.finetune_defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config.finetune_defaults import finetune_base, from_parent


@dataclass
class FakeParent:  # what core.train.finetune.read_parent returns, without a checkpoint to read
    path: Path
    arch: str = "resnet56"
    image_size: int = 48


def test_the_cli_and_the_screen_build_the_same_config(tmp_path):
    """The screen's starting config, its fields filled in and handed to from_parent, equals what the CLI
    builds from the same values (both go through finetune_base and from_parent)."""
    from tui.app.form import FINETUNE_FIELDS, config_to_form, form_to_config
    from tui.app.screens.finetune import FinetuneScreen

    parent = FakeParent(tmp_path / "base" / "final.pt")
    parent.path.parent.mkdir()
    parent.path.write_bytes(b"")
    screen = FinetuneScreen(str(tmp_path), [("cpu", "cpu")], parent=str(parent.path))
    values = config_to_form(screen.base, FINETUNE_FIELDS) | {"data": "pets", "epochs": "3"}
    form_cfg, errors = form_to_config(values, screen.base, ["resnet20", "resnet56"], FINETUNE_FIELDS)
    assert set(errors) <= {"data"}  # pets does not exist here; nothing else is wrong
    screen.parent_info = parent
    from_screen = screen.config_for_start(form_cfg)
    given = {"data": "pets", "epochs": 3, "device": "cpu", "runs_dir": str(tmp_path)}
    from_cli = from_parent(finetune_base(**given), parent, given)
    assert from_screen == from_cli
