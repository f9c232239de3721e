"""Does the Textual app slow training down? Same run through `resnet-tui train` and through the app.

The app runs under Textual's headless driver (run_test), with its real training worker,
message flow and screen updates; it is started with the same config the CLI gets. Each is
run --repeats times, alternating, and the best images/s of each is compared (best-of-N
because other load on the machine can only slow a run down).

    uv run python bench/app_vs_headless.py --arch resnet20 --train-subset 5000 --epochs 2

Prints JSON lines: the machine, each run, then the ratio app / headless (target >= 0.95).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware  # noqa: E402


def headless(args, run_dir: Path) -> float:
    cmd = [sys.executable, "-m", "tui.cli", "train", "--dataset", args.dataset, "--data", args.data, "--arch", args.arch,
           "--epochs", str(args.epochs), "--train-subset", str(args.train_subset), "--batch-size", str(args.batch_size),
           "--device", args.device, "--run-dir", str(run_dir), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["images_per_sec"])


def in_app(args, run_dir: Path, interval: float | None = None) -> float:
    """Run the app in a child process so both variants start from the same cold state; ``interval``: the app's
    seconds between progress updates (None: its default)."""
    code = f"""
import asyncio, json, sys
sys.path.insert(0, {str(ROOT)!r})
from core.config.train_config import TrainConfig
from tui.app.app import ResnetTui

async def main():
    cfg = TrainConfig(dataset={args.dataset!r}, data={args.data!r}, arch={args.arch!r}, epochs={args.epochs},
                      train_subset={args.train_subset}, batch_size={args.batch_size}, device={args.device!r},
                      runs_dir={str(run_dir)!r}, name="app")
    app = ResnetTui(runs_dir={str(run_dir)!r}, base_config=cfg)
    if {interval!r} is not None:
        app.progress_interval = {interval!r}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.start_run(cfg)
        while not app.live.finished:
            await pilot.pause(0.2)
        await app.workers.wait_for_complete()
    print(json.load(open({str(run_dir)!r} + "/app/run.json"))["images_per_sec"])

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data", default="data")
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--app-intervals", default="", help="also the app at these seconds between progress updates, "
                   "e.g. 0.1,0.5 (each its own variant, app@0.5)")
    args = p.parse_args()
    emit({"machine": hardware()})
    variants = [("headless", headless), ("app", in_app)]
    for x in filter(None, args.app_intervals.split(",")):
        variants.append((f"app@{x}", lambda a, d, x=float(x): in_app(a, d, x)))
    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    for i in range(args.repeats):
        for name, fn in variants:
            with tempfile.TemporaryDirectory() as tmp:
                ips = fn(args, Path(tmp))
            results[name].append(ips)
            emit({"run": name, "repeat": i + 1, "arch": args.arch, "images_per_sec": ips})
    best = {k: max(v) for k, v in results.items()}
    mean = {k: sum(v) / len(v) for k, v in results.items()}
    emit({
        "headless_best": best["headless"], "app_best": best["app"],
        "app_over_headless": round(best["app"] / best["headless"], 4),
        "headless_mean": round(mean["headless"], 1), "app_mean": round(mean["app"], 1),
        "app_over_headless_mean": round(mean["app"] / mean["headless"], 4),
        **{f"{k}_over_headless": round(best[k] / best["headless"], 4) for k in best if k.startswith("app@")},
        **{f"{k}_over_headless_mean": round(mean[k] / mean["headless"], 4) for k in best if k.startswith("app@")},
    })


if __name__ == "__main__":
    main()
