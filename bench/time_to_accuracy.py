"""Wall time to a target test accuracy for a preset, over several seeds (mean +- std).

Each seed runs the preset as it is (fixed epochs, nothing tuned on the test set); only for this
benchmark the test set is also evaluated after every epoch, and the clock is the training time
up to the first epoch whose test accuracy reaches the target (evaluation time is left out, as
the speed records do). A seed that never reaches the target is reported as such.

    uv run python bench/time_to_accuracy.py --preset speed94 --target 0.94 --seeds 3
    uv run python bench/time_to_accuracy.py --preset cpu10 --target 0.82 --dataset folder --data /scratch/cifar10-jpeg
    uv run python bench/time_to_accuracy.py --preset quick-look --dataset synthetic --target 0.5 --smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware  # noqa: E402


def one_seed(cfg, target: float) -> dict:
    from core.runs.events import EpochEnded
    from core.train import fit

    clock = {"train": 0.0, "reached": None, "curve": []}

    def sink(event) -> None:
        if isinstance(event, EpochEnded):
            clock["train"] += event.train_seconds
            print(f"epoch {event.epoch}: {clock['train']:.1f} s of training, test {event.test_acc}", file=sys.stderr,
                  flush=True)  # progress where a time limit may cut the run short
            if event.test_acc is not None:
                clock["curve"].append((event.epoch, round(clock["train"], 2), round(event.test_acc, 4)))
                if clock["reached"] is None and event.test_acc >= target:
                    clock["reached"] = (event.epoch, clock["train"])

    wall = time.perf_counter()
    result = fit(cfg, sink, progress_interval=1.0)
    return {
        "seed": cfg.seed,
        "final_test_acc": result.final_test_acc,
        "reached": clock["reached"] is not None,
        "epochs_to_target": clock["reached"][0] if clock["reached"] else None,
        "seconds_to_target": round(clock["reached"][1], 2) if clock["reached"] else None,
        "train_seconds": round(result.train_seconds, 2),
        "wall_seconds": round(time.perf_counter() - wall, 2),
        "images_per_sec": result.images_per_sec,
        "curve": clock["curve"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="speed94")
    p.add_argument("--target", type=float, default=0.94)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--dataset", default=None, help="override the preset's dataset (cifar10 | folder | synthetic)")
    p.add_argument("--data", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--precision", default=None)
    p.add_argument("--smoke", action="store_true", help="1 epoch on 128 images of 16 px: checks the script, not the numbers")
    args = p.parse_args()

    from core.config.presets import apply_preset

    cfg = apply_preset(args.preset).replace(device=args.device, eval_every=1)
    overrides = {k: v for k, v in {"dataset": args.dataset, "data": args.data, "epochs": args.epochs,
                                   "precision": args.precision}.items() if v is not None}
    if args.smoke:
        # the smallest run that still exercises the script: one epoch of 16-px images, one evaluation, no TTA
        overrides |= {"epochs": 1, "train_subset": 128, "warmup_epochs": 0.5, "batch_size": min(cfg.batch_size, 32),
                      "eval_tta": False, "image_size": 16, "crop_padding": 2, "cutout": min(cfg.cutout, 4)}
    cfg = cfg.replace(**overrides)
    emit({"machine": hardware(), "preset": args.preset, "target": args.target, "config": cfg.to_dict()})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # A short unreported run first: CUDA initialisation, cuDNN autotuning and the data cache would
        # otherwise be charged to the first seed only.
        warm = one_seed(cfg.replace(epochs=1, warmup_epochs=0, seed=10**6, runs_dir=tmp, name="warmup", eval_tta=False), 2.0)
        emit({"warmup_seconds": warm.get("train_seconds")})
        for seed in range(args.seeds):
            row = one_seed(cfg.replace(seed=seed, runs_dir=tmp, name=f"seed{seed}"), args.target)
            rows.append(row)
            emit(row)
    reached = [r["seconds_to_target"] for r in rows if r["reached"]]
    accs = [r["final_test_acc"] for r in rows if r["final_test_acc"] is not None]
    emit({
        "preset": args.preset,
        "target": args.target,
        "seeds": len(rows),
        "reached": len(reached),
        "seconds_to_target_mean": round(statistics.mean(reached), 2) if reached else None,
        "seconds_to_target_std": round(statistics.stdev(reached), 2) if len(reached) > 1 else None,
        "final_test_acc_mean": round(statistics.mean(accs), 4) if accs else None,
        "final_test_acc_std": round(statistics.stdev(accs), 4) if len(accs) > 1 else None,
    })


if __name__ == "__main__":
    main()
