#!/usr/bin/env bash
# The fast tests under the lowest versions pyproject.toml allows: uv resolves every direct dependency (and the dev
# group) to its floor (`--resolution lowest-direct`; what those pull in gets its newest version), installs them in a
# scratch virtual environment with the checkout as an editable package, prints the versions that matter and runs
# `pytest -m "not slow"` there. The exit code is pytest's.
#
#   bash scripts/lowest_versions.sh                 # Python 3.11 (the floor), a temporary folder removed at the end
#   LOWEST_DIR=/tmp/lowest bash scripts/lowest_versions.sh -x   # keep (and reuse) the environment; args go to pytest
#
# It needs uv and PyPI (torch's Linux wheels bring their CUDA libraries: a few GB on a cold uv cache). It leaves
# uv.lock and the project's .venv alone: the resolution is `uv pip compile` of pyproject.toml into the scratch
# folder, never a lock. The snapshot tests run too: they pass from textual 8.2.7 on (the floor).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "lowest_versions: needs uv (pip install uv)" >&2; exit 2; }
PY=${LOWEST_PYTHON:-3.11}
if [ -n "${LOWEST_DIR:-}" ]; then
  DIR=$LOWEST_DIR; mkdir -p "$DIR"
else
  DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
fi
VENV="$DIR/venv"
[ -x "$VENV/bin/python" ] || uv venv -q --python "$PY" "$VENV"
uv pip compile -q pyproject.toml --group pyproject.toml:dev --resolution lowest-direct --python "$VENV/bin/python" \
  -o "$DIR/requirements.txt"
uv pip sync -q --compile-bytecode --python "$VENV/bin/python" "$DIR/requirements.txt"
uv pip install -q --no-deps --compile-bytecode --python "$VENV/bin/python" -e .

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import platform

names = ["torch", "torchvision", "textual", "typer", "rich", "numpy", "pillow"]
print("lowest versions: python " + platform.python_version() + ", " + ", ".join(f"{n} {md.version(n)}" for n in names))
PY
code=0
"$VENV/bin/python" -m pytest -m "not slow" -p no:cacheprovider "$@" || code=$?
exit "$code"
