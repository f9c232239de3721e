"""What logging to MLflow and W&B (--log, core.runs.trackers) costs a training run.

The same short run on the same in-memory synthetic data, in one process, with --log off, mlflow (a local SQLite
store) and wandb (offline), in rotating order over --rounds rounds after one discarded warm-up of each (which
also pays the one-time imports). For each trial: the run's own images/s (training time only), fit()'s wall time
(which includes every tracker call) and the time spent inside the trackers' start, epoch and finish calls. The
medians per condition: each tracker's wall time against off in per cent (noisy: trials differ by a few per cent
on a shared machine) and its calls' own time as a share of its wall time (the direct cost).

    uv run --extra tracking python bench/tracker_cost.py            # resnet20, 4096 images, 3 epochs, 3 rounds
    uv run --extra tracking python bench/tracker_cost.py --smoke    # tiny, for the test suite

Prints JSON lines (the machine, each trial, the summary), then the summary in words.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware, time_calls  # noqa: E402

CONDITIONS = ("off", "mlflow", "wandb")


def timed_trackers(times: dict[str, list[float]]) -> None:
    """Time every start / epoch / finish call of the trackers into ``times`` (this process, from now on)."""
    from core.runs.trackers.session import Trackers

    time_calls(Trackers, ("start", "epoch", "finish"), times)


def trial(cfg, data, condition: str, runs: Path, name: str, times: dict[str, list[float]]) -> dict:
    from core.train import fit

    for v in times.values():
        v.clear()
    gc.collect()
    notices: list[str] = []
    wall = time.perf_counter()
    result = fit(cfg.replace(log="" if condition == "off" else condition, runs_dir=str(runs), name=name),
                 lambda e: type(e).__name__ == "Notice" and notices.append(e.message), data=data)
    wall = time.perf_counter() - wall
    if result.status != "completed" or any(n.startswith(("mlflow", "wandb")) for n in notices):
        raise SystemExit(f"trial {name} did not log as asked: {result.status} {notices}")
    logged = (result.run_dir / "trackers.json").is_file()
    if logged != (condition != "off"):
        raise SystemExit(f"trial {name}: trackers.json {logged}: not the {condition} condition")
    return {"trial": name, "log": condition, "images_per_sec": result.images_per_sec, "wall_seconds": round(wall, 3),
            "tracker_ms": {k: round(1e3 * sum(v), 1) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="simplecnn, 256 images, 2 epochs, 1 round, no warm-up")
    args = parser.parse_args()
    if args.smoke:
        args.arch, args.images, args.epochs, args.rounds = "simplecnn", 256, 2, 1
    os.environ["WANDB_MODE"] = "offline"  # no account needed, no network: W&B's own offline writer
    os.environ.setdefault("WANDB_SILENT", "true")
    import torch

    from core.config.train_config import TrainConfig
    from core.data import load_data

    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = TrainConfig(dataset="synthetic", arch=args.arch, epochs=args.epochs, train_subset=args.images,
                      batch_size=128, device="cpu", tensorboard=False, image_size=32)
    data = load_data(cfg)
    emit({"machine": hardware()})
    times: dict[str, list[float]] = {"start": [], "epoch": [], "finish": []}
    timed_trackers(times)
    trials = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for condition in CONDITIONS if not args.smoke else ():  # warm-up: imports, MLflow's database, W&B's service
            emit({"warmup": trial(cfg, data, condition, runs, f"warmup-{condition}", times)})
        for r in range(args.rounds):
            order = CONDITIONS[r % 3:] + CONDITIONS[: r % 3]
            for condition in order:
                trials.append(trial(cfg, data, condition, runs, f"round{r + 1}-{condition}", times))
                emit(trials[-1])
    med = {c: {"wall": statistics.median(t["wall_seconds"] for t in trials if t["log"] == c),
               "ips": statistics.median(t["images_per_sec"] for t in trials if t["log"] == c),
               "epoch_ms": statistics.median(t["tracker_ms"]["epoch"] / args.epochs for t in trials if t["log"] == c),
               "start_ms": statistics.median(t["tracker_ms"]["start"] for t in trials if t["log"] == c),
               "finish_ms": statistics.median(t["tracker_ms"]["finish"] for t in trials if t["log"] == c),
               "calls_pct": statistics.median(100 * sum(t["tracker_ms"].values()) / 1e3 / t["wall_seconds"]
                                              for t in trials if t["log"] == c)}
           for c in CONDITIONS}
    summary = {c: {"wall_seconds": round(m["wall"], 3), "images_per_sec": round(m["ips"], 1),
                   "wall_diff_pct": round(100 * (m["wall"] / med["off"]["wall"] - 1), 2),
                   "epoch_ms": round(m["epoch_ms"], 1), "start_ms": round(m["start_ms"], 1),
                   "finish_ms": round(m["finish_ms"], 1), "calls_pct_of_wall": round(m["calls_pct"], 3)}
               for c, m in med.items()}
    emit({"summary": summary})
    for c in CONDITIONS:
        s = summary[c]
        print(f"{c:7s} wall {s['wall_seconds']:.2f} s ({s['wall_diff_pct']:+.2f}% vs off)  {s['images_per_sec']:.0f} img/s  "
              f"tracker calls: start {s['start_ms']:.0f} ms, {s['epoch_ms']:.1f} ms an epoch, finish {s['finish_ms']:.0f} ms "
              f"= {s['calls_pct_of_wall']:.2f}% of the wall time")


if __name__ == "__main__":
    main()
