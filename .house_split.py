"""One-off: move top-level definitions (with their decorators) from one test file to a new one.

usage: python .house_split.py SRC DST "docstring" name [name ...]
The new file gets SRC's header (everything before the first def/class/decorated def after the imports,
minus the docstring) so it imports what SRC did; unused imports are pruned by ruff afterwards.
"""
import ast
import sys
from pathlib import Path

src, dst, doc, *names = sys.argv[1:]
text = Path(src).read_text()
lines = text.splitlines(keepends=True)
tree = ast.parse(text)
body = tree.body
first_def = next(i for i, n in enumerate(body) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and not (body[0] is n))
doc_end = body[0].end_lineno if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else 0
header_end = (body[first_def].decorator_list[0].lineno if getattr(body[first_def], "decorator_list", None)
              else body[first_def].lineno) - 1
header = "".join(lines[doc_end:header_end])
moved, spans = [], []
for i, n in enumerate(body):
    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign)) and (
            getattr(n, "name", None) in names or (isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in names for t in n.targets))):
        start = (n.decorator_list[0].lineno if getattr(n, "decorator_list", None) else n.lineno) - 1
        # comment lines right above belong to it
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        spans.append((start, n.end_lineno))
missing = set(names) - {getattr(n, "name", None) for n in body} - {
    t.id for n in body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
if missing:
    sys.exit(f"not found: {missing}")
for s, e in spans:
    moved.append("".join(lines[s:e]).rstrip("\n") + "\n")
for s, e in sorted(spans, reverse=True):
    del lines[s:e]
rest = "".join(lines)
while "\n\n\n\n" in rest:
    rest = rest.replace("\n\n\n\n", "\n\n\n")
Path(src).write_text(rest.rstrip("\n") + "\n")
out = f'"""{doc}"""\n' + header.rstrip("\n") + "\n\n\n" + "\n\n".join(moved)
Path(dst).write_text(out)
print(f"{src}: {len(rest.splitlines())} lines; {dst}: {len(out.splitlines())} lines")
