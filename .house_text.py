import re, sys
from pathlib import Path
sys.argv = ["x"]
src = open(".house_rewrite.py").read().split("def main()")[0]
ns = {"__name__": "x"}; exec(src, ns)
MOVES, SYMBOLS, new_module = ns["MOVES"], ns["SYMBOLS"], ns["new_module"]
SYMBOLS[("core.runs", "checkpoint_owner")] = "core.runs.layout"
PKGS = {"core.config", "core.hardware", "core.inference", "core.runs", "tui.app", "tui.cli"}
def submods(pkg):
    d = Path(*pkg.split("."))
    return {p.stem for p in d.glob("*.py")} | {p.name for p in d.iterdir() if p.is_dir()}
olds = sorted(set(MOVES) | {"tui.screens", "tui.widgets"}, key=len, reverse=True)
pat = re.compile(r"(?<![\w./])(" + "|".join(re.escape(o) for o in olds) + r")(?:\.(\w+))?(?![\w])")
def fix(m):
    old, attr = m.group(1), m.group(2)
    if old in PKGS and attr and attr in submods(old):
        return m.group(0)
    if old in ("tui.screens", "tui.widgets"):
        return new_module(old) + (f".{attr}" if attr else "")
    if attr:
        tgt = SYMBOLS.get((old, attr), new_module(old))
        return f"{tgt}.{attr}"
    return new_module(old)
changed = []
files = [p for r in ("core", "tui", "tests", "bench") for p in Path(r).rglob("*") if p.suffix in (".py", ".sh", ".md", ".toml")]
files += [Path("README.md")]
for p in files:
    t = p.read_text(); n = pat.sub(fix, t)
    if n != t:
        p.write_text(n); changed.append(str(p))
print(len(changed), changed)
