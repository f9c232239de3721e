#!/usr/bin/env bash
# One prepared GPU check for a lent H200 (fits in about 8 minutes); --smoke runs a tiny version on any machine.
#
# It brings its own data: copy ../shared/data/cifar10-jpeg.tar.gz (19.6 MB) to bench/.data/ first
# (git-ignored; carry it with the device tool: carry=["bench/.data"]). Without it the throughput part
# uses synthetic images and the accuracy parts are skipped.
#
#   bash bench/gpu_check.sh            # on the GPU machine: its python3 has torch, typer and rich
#   bash bench/gpu_check.sh --smoke    # here, on the CPU: checks that every step runs
#
# Prints JSON lines (machine, throughput table in bf16 and fp32, time to 94% for speed94 over 3 seeds,
# resnet20 / resnet18 accuracy at short fixed budgets); also tees them to $OUT/gpu_check.jsonl if $OUT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && [ "$SMOKE" = 1 ]; then PY=.venv/bin/python; else PY=python3; fi
fi
LOG=${OUT:-/tmp}/gpu_check.jsonl
: > "$LOG"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONUNBUFFERED=1
say() { echo "$*" | tee -a "$LOG"; }
run() { "$PY" "$@" 2> >(grep -v '^$' >&2) | tee -a "$LOG"; }

say "{\"gpu_check\": \"start\", \"smoke\": $SMOKE, \"date\": \"$(date -u +%FT%TZ)\"}"
"$PY" -c "import torch, json; print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))" | tee -a "$LOG"

DATA=""
if [ -f bench/.data/cifar10-jpeg.tar.gz ]; then
  tar xzf bench/.data/cifar10-jpeg.tar.gz -C "$WORK"
  DATA="$WORK/cifar10-jpeg"
  t0=$(date +%s%N)
  "$PY" -m tui.cli data info --dataset folder --data "$DATA" >/dev/null   # decode once into the tensor cache
  say "{\"data\": \"$DATA\", \"decode_ms\": $(( ($(date +%s%N) - t0) / 1000000 ))}"
fi

if [ "$SMOKE" = 1 ]; then
  run bench/throughput.py --archs resnet20 --precision fp32 --smoke ${DATA:+--data "$DATA"}
  run bench/time_to_accuracy.py --preset speed94 --dataset synthetic --target 0.5 --seeds 1 --smoke
  run -m tui.cli train --dataset synthetic --arch resnet20 --epochs 1 --train-subset 512 --run-dir "$WORK/runs" --json
  say '{"gpu_check": "done (smoke)"}'
  exit 0
fi

# 1. throughput: seed loop vs bare step vs resnet-tui train, bf16 then fp32
for prec in bf16 fp32; do
  run bench/throughput.py --archs resnet20,resnet56,resnet18 --precision "$prec" --workers 8 --steps 60 ${DATA:+--data "$DATA"}
done

if [ -n "$DATA" ]; then
  # 2. time to 94% with the speed94 preset, 3 seeds
  run bench/time_to_accuracy.py --preset speed94 --dataset folder --data "$DATA" --target 0.94 --seeds 3
  # 3. accuracy at short fixed budgets (final-epoch test accuracy, no tuning on the test set)
  run -m tui.cli train --dataset folder --data "$DATA" --arch resnet20 --epochs 30 --batch-size 256 --lr 0.2 \
      --label-smoothing 0.1 --eval-every 0 --tta --run-dir "$WORK/runs" --json
  run -m tui.cli train --dataset folder --data "$DATA" --arch resnet18 --epochs 10 --batch-size 512 --lr 0.4 \
      --label-smoothing 0.1 --eval-every 0 --tta --run-dir "$WORK/runs" --json
fi
say '{"gpu_check": "done"}'
