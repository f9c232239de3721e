"""What writing TensorBoard event files (RUN/tensorboard/, core.runs.tensorboard_log) costs a training run.

The same short run, on the same in-memory synthetic data, in one process, with --tensorboard (ON) and
--no-tensorboard (OFF): one discarded ON warm-up (it also pays the one-time import of TensorBoard's writer
in this process), then --pairs pairs whose order alternates (ON OFF, OFF ON, ...) so drift of the machine's
speed hits both alike. For each trial: the run's own images/s (training time only: the event files are
written after an epoch's timing, so this should not move), and fit()'s wall time, which includes every
epoch-end write, and the process's CPU time over fit() (all threads: the writer's too; less disturbed by other
load than wall time); the medians of each and ON/OFF - 1 in per cent.

It also times the writer directly: every TensorBoardLog.epoch / finish / close call of the ON trials (a
real run's calls), a steady-state loop of epoch() on a synthetic row with 10 and with 100 classes, and, in a
fresh interpreter, the one-time import of torch.utils.tensorboard that a run's first epoch pays.

    uv run python bench/tensorboard_cost.py                        # resnet20, 2048 images, 2 epochs, 3 pairs
    uv run python bench/tensorboard_cost.py --smoke                # tiny, for the test suite

Prints JSON lines (the machine, each trial, the direct timings, the summary), then the summary in words.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware, loadavg, time_calls  # noqa: E402

CALLS = ("epoch", "finish", "close")


def _timed(times: dict[str, list[float]]) -> None:
    """Time every call of TensorBoardLog's writing methods into ``times`` (this process, from now on)."""
    from core.runs.tensorboard_log import TensorBoardLog

    time_calls(TensorBoardLog, CALLS, times)


def run_trial(cfg, data, on: bool, runs_dir: Path, name: str, times: dict[str, list[float]]) -> dict:
    from core.runs.tensorboard_log import TENSORBOARD
    from core.train import fit

    for v in times.values():
        v.clear()
    gc.collect()
    notices: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit(cfg.replace(tensorboard=on, runs_dir=str(runs_dir), name=name),
                 lambda e: type(e).__name__ == "Notice" and notices.append(e.message), data=data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if result.status != "completed" or not result.images_per_sec:
        raise SystemExit(f"trial {name} did not complete: {result.status} {result.error}")
    written = (result.run_dir / TENSORBOARD).is_dir()
    if written != on or any("tensorboard" in n for n in notices):
        raise SystemExit(f"trial {name}: tensorboard folder {written}, notices {notices}: not the "
                         f"{'ON' if on else 'OFF'} condition")
    n = len(data.train)
    images = min(n, max(1, n // cfg.batch_size) * cfg.batch_size) * cfg.epochs  # a last partial batch is dropped
    return {
        "tensorboard": "on" if on else "off",
        "images_per_sec": result.images_per_sec,
        "wall_seconds": round(wall, 3),
        "wall_images_per_sec": round(images / wall, 1),
        "cpu_seconds": round(cpu, 3),  # the process's CPU time over fit(), all threads (the writer's too)
        "write_ms": {k: [round(1e3 * s, 2) for s in v] for k, v in times.items()} if on else None,
    }


def direct_epoch_ms(classes: int, n: int) -> float:
    """Median ms of TensorBoardLog.epoch (scalars, confusion image, flush) in a loop, the writer already open."""
    import numpy as np

    from core.runs.tensorboard_log import TensorBoardLog

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        log = TensorBoardLog(Path(tmp), print, hparams={}, classes=[f"c{i}" for i in range(classes)])
        took = []
        for epoch in range(1, n + 2):
            row = {"epoch": epoch, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.6, "val_acc": 0.7,
                   "test_loss": None, "test_acc": None, "lr": 0.05, "images_per_sec": 1234.5, "train_seconds": 10.0,
                   "eval_seconds": 1.0, "peak_memory_mb": None, "eval_split": "val",
                   "confusion": rng.integers(0, 50, (classes, classes)).tolist()}
            start = time.perf_counter()
            log.epoch(row)
            took.append(time.perf_counter() - start)
        log.close()
        if log.failed:
            raise SystemExit("the direct timing's writer failed")
    return round(1e3 * statistics.median(took[1:]), 3)  # the first call opens the writer


def import_ms() -> float:
    """The one-time import of torch.utils.tensorboard (torch already loaded), in a fresh interpreter."""
    code = ("import time, torch\nstart = time.perf_counter()\nimport torch.utils.tensorboard\n"
            "print(1e3 * (time.perf_counter() - start))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return round(float(out.strip().splitlines()[-1]), 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--train-size", type=int, default=2048, help="synthetic training images")
    p.add_argument("--test-size", type=int, default=500, help="synthetic test images (evaluated every epoch)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="epochs per trial")
    p.add_argument("--pairs", type=int, default=3, help="ON/OFF pairs after the discarded warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = torch's default")
    p.add_argument("--device", default="auto")
    p.add_argument("--smoke", action="store_true", help="tiny, for the test suite")
    args = p.parse_args()
    if args.smoke:
        args.arch, args.train_size, args.test_size, args.image_size = "simplecnn", 256, 64, 16
        args.batch_size, args.epochs, args.pairs, args.device = 32, 2, 1, "cpu"
    if args.pairs < 1 or args.epochs < 1:
        p.error("--pairs and --epochs must be >= 1")

    import torch

    from core.config.train_config import TrainConfig
    from core.data import DataBundle
    from core.data.synthetic import make_synthetic

    if args.threads:
        torch.set_num_threads(args.threads)
    emit({"machine": hardware()})
    train, test, classes = make_synthetic(args.train_size, args.test_size, image_size=args.image_size)
    data = DataBundle("synthetic", classes, train, test, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "bench")
    cfg = TrainConfig(arch=args.arch, dataset="synthetic", epochs=args.epochs, batch_size=args.batch_size,
                      image_size=args.image_size, device=args.device, seed=0)
    config = {k: getattr(args, k) for k in ("arch", "train_size", "test_size", "image_size", "batch_size", "epochs",
                                             "pairs", "device")}
    emit({"config": config})

    times: dict[str, list[float]] = {k: [] for k in CALLS}
    _timed(times)
    load_before = loadavg()
    trials: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = run_trial(cfg, data, True, Path(tmp), "warmup", times)
        emit({"trial": "warmup (ON, discarded)", **warm})
        for i in range(args.pairs):
            for on in ((True, False) if i % 2 == 0 else (False, True)):
                t = run_trial(cfg, data, on, Path(tmp), f"pair{i + 1}-{'on' if on else 'off'}", times)
                trials.append({"pair": i + 1, **t})
                emit({"trial": f"pair {i + 1}", **t})
    load_after = loadavg()

    def median(key: str, cond: str) -> float:
        return statistics.median(t[key] for t in trials if t["tensorboard"] == cond)

    ips_on, ips_off = median("images_per_sec", "on"), median("images_per_sec", "off")
    wall_on, wall_off = median("wall_seconds", "on"), median("wall_seconds", "off")
    cpu_on, cpu_off = median("cpu_seconds", "on"), median("cpu_seconds", "off")
    pair_ratios = []
    for i in range(1, args.pairs + 1):
        on_t, off_t = (next(t for t in trials if t["pair"] == i and t["tensorboard"] == c) for c in ("on", "off"))
        pair_ratios.append(round(on_t["images_per_sec"] / off_t["images_per_sec"], 4))
    writes = [t["write_ms"] for t in trials if t["write_ms"]]
    epoch_ms = [ms for w in writes for ms in w["epoch"]]
    first_ms = [w["epoch"][0] for w in writes]
    later_ms = [ms for w in writes for ms in w["epoch"][1:]]
    direct = {"epoch_ms_10_classes": direct_epoch_ms(10, 30 if not args.smoke else 3),
              "epoch_ms_100_classes": direct_epoch_ms(100, 30 if not args.smoke else 3),
              "import_ms": import_ms()}
    emit({"direct": direct})
    summary = {
        "images_per_sec_on": ips_on, "images_per_sec_off": ips_off,
        "images_per_sec_diff_pct": round(100 * (ips_on / ips_off - 1), 2), "pair_ratios": pair_ratios,
        "wall_seconds_on": wall_on, "wall_seconds_off": wall_off,
        "wall_diff_pct": round(100 * (wall_on / wall_off - 1), 2),
        "cpu_seconds_on": cpu_on, "cpu_seconds_off": cpu_off, "cpu_diff_pct": round(100 * (cpu_on / cpu_off - 1), 2),
        "epoch_write_ms_median": round(statistics.median(epoch_ms), 2),
        "first_epoch_write_ms_median": round(statistics.median(first_ms), 2),
        "later_epoch_write_ms_median": round(statistics.median(later_ms), 2) if later_ms else None,
        "finish_ms_median": round(statistics.median(ms for w in writes for ms in w["finish"]), 2),
        "close_ms_median": round(statistics.median(ms for w in writes for ms in w["close"]), 2),
        "epoch_seconds_off": round(wall_off / args.epochs, 3),
        "write_share_of_epoch_pct": round(100 * statistics.median(epoch_ms) / 1e3 / (wall_off / args.epochs), 3),
        "loadavg_before": load_before, "loadavg_after": load_after, "cpu_count": os.cpu_count(),
    }
    emit({"summary": summary})
    s = summary
    print(f"img/s (the run's own, training time): median ON {ips_on:.1f}, OFF {ips_off:.1f}: "
          f"{s['images_per_sec_diff_pct']:+.2f}% (pairs ON/OFF {', '.join(map(str, pair_ratios))})")
    print(f"fit() wall time: median ON {wall_on:.2f}s, OFF {wall_off:.2f}s: {s['wall_diff_pct']:+.2f}%; CPU time "
          f"(all threads, less disturbed by other load): ON {cpu_on:.2f}s, OFF {cpu_off:.2f}s: {s['cpu_diff_pct']:+.2f}%")
    print(f"writer, timed in the runs: {s['epoch_write_ms_median']:.2f} ms per epoch (first epoch of a run "
          f"{s['first_epoch_write_ms_median']:.2f} ms: it opens the writer), finish {s['finish_ms_median']:.2f} ms, "
          f"close {s['close_ms_median']:.2f} ms; {s['write_share_of_epoch_pct']:.3f}% of a {s['epoch_seconds_off']:.2f}s epoch")
    print(f"writer, direct loop: {direct['epoch_ms_10_classes']:.2f} ms per epoch with 10 classes, "
          f"{direct['epoch_ms_100_classes']:.2f} ms with 100; one-time import {direct['import_ms']:.0f} ms")
    print(f"load average {load_before} before, {load_after} after ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
