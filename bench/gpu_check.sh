#!/usr/bin/env bash
# The prepared GPU check for a lent GPU: correctness first, speed last, each step under its own timeout
# (bench/gpu_check_steps.py STEP), about 9 minutes at most on one H200, a PASS/FAIL table at the end.
#
#   bash bench/gpu_check.sh            # on the GPU machine (its python3, or $PYTHON, has the project's packages)
#   bash bench/gpu_check.sh --smoke    # here, on the CPU, tiny: what the test suite runs
#
# The speed step needs the real CIFAR-10 JPEG copy in bench/.data/cifar10-jpeg.tar.gz (git-ignored; copy it
# from ../shared/data/ and carry it with the device tool: carry=["bench/.data"]); without it that step FAILs,
# it never falls back to synthetic data silently. Each step's JSON lines go to $OUT/gpu_check.jsonl and its
# stderr to $OUT/<step>.err ($OUT defaults to /tmp).
#
# Steps and their time limits (seconds): env 15, precisions 40, resume 35, compile 95 (two modes), oom 45,
# devices 35, artifacts 60, ddp 45 (every GPU, NCCL), stream 40 (an image folder streamed and held),
# search 90 (Optuna, a worker per GPU; optuna from bench/.wheels when the machine lacks it), speed 170:
# 11 minutes 10 in the worst case, over the device tool's 10 minutes a command, so run it in two calls:
# ONLY="..." runs only the steps named (ONLY="search speed" bash bench/gpu_check.sh). On the H200 (2026-12-04)
# the first ten steps took 5, 28, 20, 73, 35, 27, 47, 31, 28 and 120 s.
set -uo pipefail
cd "$(dirname "$0")/.."
SMOKE=""
[ "${1:-}" = "--smoke" ] && SMOKE="--smoke"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && [ -n "$SMOKE" ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${OUT:-/tmp}
LOG="$OUT/gpu_check.jsonl"
: > "$LOG"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONUNBUFFERED=1

declare -a ROWS
for entry in env:15 precisions:40 resume:35 compile:95 oom:45 devices:35 artifacts:60 ddp:45 stream:40 search:90 speed:170; do
  step=${entry%%:*}; limit=${entry##*:}
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $step "* ]]; then continue; fi
  start=$(date +%s)
  timeout "$limit" "$PY" bench/gpu_check_steps.py "$step" $SMOKE --work "$WORK/$step" 2> "$OUT/$step.err" | tee -a "$LOG"
  code=${PIPESTATUS[0]}
  case $code in
    0) status=PASS ;;
    3) status=SKIP ;;
    124) status="FAIL (timed out after ${limit}s)"; echo "{\"step\": \"$step\", \"status\": \"FAIL\", \"error\": \"timed out after ${limit}s\"}" | tee -a "$LOG" ;;
    *) status="FAIL (exit $code; see $OUT/$step.err)" ;;
  esac
  ROWS+=("$(printf '%-11s %-5ss  %s' "$step" "$(( $(date +%s) - start ))" "$status")")
done

echo
echo "gpu_check ${SMOKE:+(smoke) }summary"
printf '%s\n' "${ROWS[@]}" | tee "$OUT/gpu_check_summary.txt"
if printf '%s\n' "${ROWS[@]}" | grep -q FAIL; then exit 1; fi
exit 0
