"""What the option declarations (core.config.options) produce in the UI: every TrainConfig field is an option
of `train` (grouped by topic, readable at 80 columns), on the form when declared so, and in the README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config.options import GROUPS, OPTIONS
from tui.app.form import FIELDS, FINETUNE_FIELDS, FINETUNE_ORDER, SETUP_ORDER

ROOT = Path(__file__).resolve().parents[3]
CLI_LESS = {o.field for o in OPTIONS if not o.commands}  # init_from: finetune's argument


def help_of(command: str, columns: int = 80) -> str:
    env = dict(os.environ, COLUMNS=str(columns), TERM="dumb", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "tui.cli", command, "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_help_at_80_columns_shows_every_option_whole_under_its_topic(command):
    text = help_of(command)
    assert "…" not in text  # rich truncates what does not fit with an ellipsis
    assert max(len(line) for line in text.splitlines()) <= 80
    for o in OPTIONS:
        if command in o.commands:
            assert re.search(rf"{re.escape(o.option)}(\s|$)", text), o.option
    panels = re.findall(r"╭─ (.+?) ─", text)
    from tui.cli.train import JOB_PANEL

    assert (JOB_PANEL in panels) == (command == "train")  # the launcher's options (not TrainConfig's)
    assert [p for p in panels if p not in ("Options", "Arguments", JOB_PANEL)] == [GROUPS[g] for g in GROUPS if any(
        command in o.commands and o.group == g for o in OPTIONS)]


def test_every_field_is_a_train_option_unless_declared_otherwise():
    text = help_of("train", columns=200)
    shown = {o.field for o in OPTIONS if re.search(rf"{re.escape(o.option)}\s", text)}
    assert shown == {o.field for o in OPTIONS} - CLI_LESS
    assert CLI_LESS == {"init_from", "chosen"}  # finetune's argument; what the data-sized defaults recorded


def test_the_forms_show_exactly_the_declared_fields():
    assert set(SETUP_ORDER) == {o.field for o in OPTIONS if o.form}
    assert set(FINETUNE_ORDER) == {o.field for o in OPTIONS if o.finetune_form}
    assert [f.label for f in FIELDS] == [next(o.form for o in OPTIONS if o.field == f.name) for f in FIELDS]
    assert all(f.label for f in FINETUNE_FIELDS)


def test_the_readme_names_every_option():
    readme = (ROOT / "README.md").read_text()
    missing = [o.option for o in OPTIONS if o.commands and not re.search(rf"{re.escape(o.option)}(?![\w-])", readme)]
    assert not missing, f"options the README does not name: {missing}"
