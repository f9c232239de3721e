"""The declared version floors: every dependency has one (uv's lowest-direct resolution installs it), the README
states the ones pyproject.toml declares, and the script that tests them (scripts/lowest_versions.sh) parses."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATED = ("python", "torch", "torchvision", "textual", "typer", "rich", "numpy", "pillow", "optuna")


def _requirements() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]


def _floors() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = {"python": re.fullmatch(r">=([\d.]+)", pyproject["project"]["requires-python"]).group(1)}
    for req in _requirements():
        if m := re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([\d.]+)", req):
            found[m.group(1).lower()] = m.group(2)
    return found


def test_every_dependency_has_a_floor():
    """Without one, lowest-direct picks a package's first release, which nothing here was tested with."""
    assert [r for r in _requirements() if ">=" not in r] == []


def test_the_readme_states_the_floors_pyproject_declares():
    section = (ROOT / "README.md").read_text().split("### Versions\n", 1)[1].split("\n#", 1)[0].lower()
    floors = _floors()
    assert [f"{n} >= {floors[n]}" for n in STATED if f"{n} >= {floors[n]}" not in section] == []


def test_the_lowest_versions_script_parses():
    proc = subprocess.run(["bash", "-n", "scripts/lowest_versions.sh"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
