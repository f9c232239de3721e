"""core/ is the engine: it never imports the UI libraries, and the CLI starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"textual", "typer", "rich", "tui", "click"}


def test_core_sources_do_not_import_ui_packages():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return set(out.stdout.split())


def test_importing_the_engine_loads_no_ui_library():
    loaded = _modules_after("import core.train, core.inference, core.runs, core.data, core.models")
    assert not {m.split(".")[0] for m in loaded} & FORBIDDEN


def test_cli_help_path_does_not_import_torch():
    """`resnet-tui --help` (and a command's --help) stays instant: the CLI imports torch and textual lazily."""
    code = (
        "import sys\nfrom tui.cli import main\n"
        "for args in (['--help'], ['train', '--help'], ['finetune', '--help'], ['evaluate', '--help'], ['data', 'info', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code == 0, (args, e.code)\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "Usage: resnet-tui train" in out and "--batch-size" in out  # the help really ran
    loaded = set(out.split("MODULES", 1)[1].split())
    assert "torch" not in loaded and "textual" not in loaded and "numpy" not in loaded
