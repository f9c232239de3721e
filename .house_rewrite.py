"""One-off: rewrite every import of core/tui (relative or absolute) to the new package layout.

Run from the repo root BEFORE moving files (relative imports are resolved from each file's current place).
"""
import ast
import io
import sys
import tokenize
from pathlib import Path

MOVES = {
    "core.config": "core.config.train_config",
    "core.options": "core.config.options",
    "core.config_file": "core.config.files",
    "core.presets": "core.config.presets",
    "core.finetune_config": "core.config.finetune_defaults",
    "core.model_names": "core.config.model_names",
    "core.checkpoint": "core.train.checkpoint",
    "core.resume": "core.train.resume",
    "core.optim": "core.train.optim",
    "core.finetune": "core.train.finetune",
    "core.devices": "core.hardware.devices",
    "core.dist": "core.hardware.dist",
    "core.hardware": "core.hardware.readings",
    "core.sysinfo": "core.hardware.readings",
    "core.evaluate": "core.inference.evaluate",
    "core.inference": "core.inference.trained",
    "core.export": "core.inference.export",
    "core.runs": "core.runs.catalog",
    "core.run_files": "core.runs.layout",
    "core.run_lock": "core.runs.lock",
    "core.run_facts": "core.runs.facts",
    "core.events": "core.runs.events",
    "core.event_log": "core.runs.event_log",
    "core.remote": "core.runs.control_file",
    "core.control": "core.runs.control",
    "core.follow": "core.runs.follow",
    "core.tensorboard_log": "core.runs.tensorboard_log",
    "core.sweep": "core.experiments.sweep",
    "core.report_data": "core.experiments.report_data",
    "tui.app": "tui.app.app",
    "tui.app_commands": "tui.app.commands",
    "tui.handles": "tui.app.handles",
    "tui.live": "tui.app.live",
    "tui.form": "tui.app.form",
    "tui.catalog": "tui.app.catalog",
    "tui.runs_view": "tui.app.runs_view",
    "tui.state": "tui.app.state",
    "tui.messages": "tui.app.messages",
    "tui.cli": "tui.cli.main",
    "tui.cli_common": "tui.cli.common",
    "tui.cli_grid": "tui.cli.grid",
    "tui.cli_inspect": "tui.cli.inspect_cmds",
    "tui.cli_job": "tui.cli.job",
    "tui.job": "tui.cli.torchrun",
    "tui.cli_options": "tui.cli.options",
    "tui.cli_report": "tui.cli.report",
    "tui.report": "tui.cli.report_draw",
    "tui.cli_runs": "tui.cli.runs",
    "tui.cli_sweep": "tui.cli.sweep",
    "tui.cli_train": "tui.cli.train",
    "tui.console": "tui.cli.console",
    "tui.launch": "tui.cli.launch",
    "tui.background": "tui.cli.background",
}
PREFIX_MOVES = {"tui.screens": "tui.app.screens", "tui.widgets": "tui.app.widgets"}

VALIDATE = {"validate_config", "check_paths", "check_config", "_is_number", "_finite", "_is_int"}
SYMBOLS = {("core.config", n): "core.config.validate" for n in VALIDATE}
SYMBOLS.update({("core.config", n): "core.config.options" for n in ("FieldError", "_choice", "_int_range")})
LAYOUT = {"CONFIG", "METRICS", "STATUS", "ERROR_LOG", "LAST", "FINAL", "EPOCH_FILE", "LAUNCH", "LOG", "SWEEP_SPEC",
          "SWEEP_SUMMARY", "default_run_name", "create_run_dir", "is_run_dir", "write_config", "read_json",
          "append_metrics", "read_metrics", "truncate_metrics", "write_status", "clean_temps"}
SYMBOLS.update({("core.runs", n): "core.runs.layout" for n in LAYOUT})
# core.checkpoint re-exports FINAL/LAST/EPOCH_FILE from run_files: keep them on checkpoint (train.checkpoint)


def new_module(old: str) -> str:
    if old in MOVES:
        return MOVES[old]
    for a, b in PREFIX_MOVES.items():
        if old == a or old.startswith(a + "."):
            return b + old[len(a):]
    return old


def is_module(dotted: str) -> bool:
    p = Path(*dotted.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def module_of(path: Path) -> tuple[str, bool]:
    parts = list(path.with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def absolute(cur: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = cur.split(".") if is_pkg else cur.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def ours(mod: str) -> bool:
    return mod.split(".")[0] in ("core", "tui")


def comments(lines: list[str]) -> list[str]:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            if tok.type == tokenize.COMMENT:
                out.append(tok.string)
    except tokenize.TokenError:
        pass
    return out


def fmt_from(indent: str, mod: str, names: list[str]) -> str:
    line = f"{indent}from {mod} import {', '.join(names)}"
    if len(line) <= 120:
        return line
    body, cur = [], indent + "    "
    for n in names:
        piece = n + ","
        if len(cur) + len(piece) + 1 > 116 and cur.strip():
            body.append(cur.rstrip())
            cur = indent + "    "
        cur += piece + " "
    body.append(cur.rstrip())
    return f"{indent}from {mod} import (\n" + "\n".join(body) + f"\n{indent})"


def rewrite(path: Path, warn: list[str]) -> bool:
    src = path.read_text()
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    cur, is_pkg = module_of(path) if path.parts[0] in ("core", "tui") else ("", False)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if not any(ours(a.name) for a in node.names):
                continue
            new = []
            for a in node.names:
                n = new_module(a.name) if ours(a.name) else a.name
                if n != a.name and not a.asname:
                    warn.append(f"{path}:{node.lineno}: import {a.name} -> {n} (check attribute uses)")
                new.append(n + (f" as {a.asname}" if a.asname else ""))
            indent = lines[node.lineno - 1][: node.col_offset]
            stmts = [f"{indent}import {', '.join(new)}"]
        elif isinstance(node, ast.ImportFrom):
            mod = absolute(cur, is_pkg, node)
            if not ours(mod):
                continue
            groups: dict[str, list[str]] = {}
            for a in node.names:
                full = f"{mod}.{a.name}"
                if is_module(full):  # `from core import runs`: a module imported by name
                    nm = new_module(full)
                    parent, leaf = nm.rsplit(".", 1)
                    alias = a.asname or a.name
                    if nm != full:
                        warn.append(f"{path}:{node.lineno}: module {full} -> {nm} as {alias}")
                    groups.setdefault(parent, []).append(leaf if leaf == alias else f"{leaf} as {alias}")
                    continue
                target = SYMBOLS.get((mod, a.name), new_module(mod))
                groups.setdefault(target, []).append(a.name + (f" as {a.asname}" if a.asname else ""))
            indent = lines[node.lineno - 1][: node.col_offset]
            stmts = [fmt_from(indent, m, ns) for m, ns in groups.items()]
        else:
            continue
        seg = lines[node.lineno - 1: node.end_lineno]
        cm = comments(seg)
        # keep what follows the statement on its last line (a `;` chain is not used in this code base)
        text = "\n".join(stmts)
        if cm:
            first, *rest = text.split("\n")
            text = "\n".join([first + "  " + "  ".join(cm)] + rest)
        edits.append((node.lineno, node.end_lineno, text + "\n"))
    if not edits:
        return False
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1: end] = [text]
    out = "".join(lines)
    if out != src:
        path.write_text(out)
        return True
    return False


def main() -> None:
    warn: list[str] = []
    changed = 0
    for root in ("core", "tui", "tests", "bench"):
        for p in sorted(Path(root).rglob("*.py")):
            changed += rewrite(p, warn)
    print(f"{changed} files changed")
    print("\n".join(warn))


main()
