"""The house rules: core/ is the engine and never imports the UI libraries, the CLI starts without torch, no
import cycle (lazy imports included), no file over 300 lines, every module in a package, tests mirror them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"textual", "typer", "rich", "tui", "click"}
MAX_LINES = 300
TOP_LEVEL_MODULES = {"core": {"errors.py", "atomic.py"}, "tui": set()}  # the foundations every package uses


def _modules() -> dict[str, Path]:
    mods = {}
    for top in ("core", "tui"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every core/tui module ``name`` imports, at module level or inside a function (lazily)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    own_children = path.name == "__init__.py"
    return {m for m in found if m in mods and m != name and not (own_children and m.startswith(name + "."))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


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


def test_no_import_cycle_lazy_imports_included():
    mods = _modules()
    graph = {name: _imports(name, path, mods) for name, path in mods.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_file_over_300_lines():
    long = [f"{p.relative_to(ROOT)} {n}" for top in ("core", "tui", "tests", "bench") for p in (ROOT / top).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == []


def test_every_module_sits_in_a_package_and_the_tests_mirror_them():
    for top, allowed in TOP_LEVEL_MODULES.items():
        loose = {p.name for p in (ROOT / top).glob("*.py")} - {"__init__.py"} - allowed
        assert loose == set(), f"{top}/ has loose modules {sorted(loose)}: put each in the package of its concern"
        packages = {p.name for p in (ROOT / top).iterdir() if (p / "__init__.py").is_file()}
        tested = {p.name for p in (ROOT / "tests" / top).iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
        assert tested <= packages, f"tests/{top}/ has folders {sorted(tested - packages)} that mirror no package"


@pytest.mark.slow  # a fresh process (or real CPU readings a second apart): 2-5 s
def test_importing_the_engine_loads_no_ui_library():
    engine = sorted(m for m in _modules() if m.startswith("core."))  # every module of the engine
    loaded = _modules_after("import " + ", ".join(engine))
    assert not {m.split(".")[0] for m in loaded} & FORBIDDEN


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return set(out.stdout.split())


def test_cli_help_path_does_not_import_torch():
    """`resnet-tui --help` (and a command's --help) stays instant: the CLI imports torch and textual lazily.
    So does a typo in the architecture's name (exit 2), for `train` and `sweep` alike."""
    code = (
        "import sys\nfrom tui.cli.main import main\n"
        "for args in (['--help'], ['train', '--help'], ['finetune', '--help'], ['evaluate', '--help'], ['data', 'info', '--help'],"
        " ['train', '--arch', 'resnet21'], ['sweep', '--arch', 'resnet20,resnet21']):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n"
        "        assert e.code == (2 if 'resnet21' in str(args) else 0), (args, e.code)\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "Usage: resnet-tui train" in out and "--batch-size" in out  # the help really ran
    loaded = set(out.split("MODULES", 1)[1].split())
    assert "torch" not in loaded and "textual" not in loaded and "numpy" not in loaded
