"""The input pipeline for the user's own images at 224 px: our streaming loader against torchvision's
ImageFolder + DataLoader, peak memory of streaming and resident runs as the dataset grows, and tv-resnet18
training speed streaming vs resident.

    uv run python bench/data_pipeline.py [--data DIR] [--quick] [--workers N] [--batch-size B]

DIR is an image folder (class folders, or train/ + test/); without it, JPEGs of 256 px are drawn into a
scratch folder. Larger sets for the memory rows are made of hard links to those images under new names
(decoding costs the same; the page cache holds the bytes). Each memory and speed row runs in a fresh
process; its memory is the summed PSS of the process and its loader workers (shared pages counted once),
sampled every 50 ms, over loading plus the first steps of an epoch (the resident peak is reached while
loading, a streamed one within a few batches). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import emit, hardware, loadavg  # noqa: E402

SIZE = 224


def draw_images(root: Path, count: int, classes: int = 5, side: int = 256) -> Path:
    """``count`` smooth random JPEGs of ``side`` px in ``classes`` class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def linked_set(source: list[Path], count: int, root: Path, classes: int = 5) -> Path:
    """A folder of ``count`` images: hard links (or copies across file systems) to ``source`` under new names."""
    import shutil

    for i in range(count):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{i:06d}{source[i % len(source)].suffix}"
        try:
            os.link(source[i % len(source)], target)
        except OSError:
            shutil.copyfile(source[i % len(source)], target)
    return root


# ----------------------------------------------------------------------------- the pipeline alone
def pipeline_rates(data: Path, workers: int, batch: int, batches: int) -> dict:
    """Images/s of decode + random resized crop + flip + batch + normalise, no model: ours vs torchvision's."""
    import torch
    from torchvision import datasets, transforms

    from core.config.train_config import TrainConfig
    from core.data import load_data
    from core.data.augment import Augment, Normalize
    from core.data.stream import FileStream

    cfg = TrainConfig(dataset="folder", data=str(data), image_size=SIZE, data_in_memory="no", workers=workers,
                      arch="tv-resnet18", test_split=0.2)
    bundle = load_data(cfg)
    normalize = Normalize(bundle.mean, bundle.std, torch.device("cpu"))
    ours = FileStream(bundle.train, batch, Augment(crop_padding=0, flip=True, resized_crop=True), normalize, seed=0,
                      recipe="rrc")

    def timed(epochs) -> float:
        """Images/s over ``batches`` batches after two warm-up ones (workers started), epoch after epoch."""
        seen, start, i = 0, 0.0, 0
        for batches_of_epoch in epochs:
            for x, _ in batches_of_epoch:
                if i == 2:
                    start, seen = time.perf_counter(), 0
                seen += x.shape[0]
                i += 1
                if i == batches + 2:
                    return seen / (time.perf_counter() - start)
        raise AssertionError("unreachable: the epochs go on")

    def our_epochs():
        while True:
            ours.start_epoch()
            yield ours.epoch_batches()

    def tv_epochs():
        while True:
            yield iter(loader)

    ours_rate = timed(our_epochs())
    tv = transforms.Compose([transforms.RandomResizedCrop(SIZE), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize(bundle.mean, bundle.std)])
    folder = datasets.ImageFolder(str(data), transform=tv)
    loader = torch.utils.data.DataLoader(folder, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, prefetch_factor=2 if workers else None)
    tv_rate = timed(tv_epochs())
    return {"ours": ours_rate, "torchvision": tv_rate, "images": len(folder)}


# ----------------------------------------------------------------------------- one run, in a child process
def child(spec: dict) -> None:
    """Train ``spec['steps']`` steps (progress after each) and print the step times as JSON."""
    import core.train.loop
    from core.config.train_config import TrainConfig
    from core.runs.events import BatchProgress, RunStarted
    from core.train import fit

    core.train.loop.PROGRESS_INTERVAL = 0.0
    cfg = TrainConfig(**spec["config"])
    stop, times, started = threading.Event(), [], []

    def sink(event) -> None:
        if isinstance(event, RunStarted):
            started.append(time.perf_counter())
        if isinstance(event, BatchProgress):
            times.append(time.perf_counter())
            if len(times) >= spec["steps"]:
                stop.set()

    t0 = time.perf_counter()
    result = fit(cfg, sink, stop)
    print(json.dumps({"status": str(result.status), "load_s": (started[0] - t0) if started else None,
                      "times": times, "batch": cfg.batch_size}), flush=True)


def tree_pss(root: int) -> int:
    """Summed proportional set size (bytes) of ``root`` and its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def run_child(config: dict, steps: int, env: dict) -> dict:
    spec = json.dumps({"config": config, "steps": steps})
    proc = subprocess.Popen([sys.executable, __file__, "--child", spec], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_pss(proc.pid))
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child run failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    record = json.loads(out.strip().splitlines()[-1])
    record["peak_bytes"] = peak
    times = record["times"]
    skip = min(4, len(times) - 2)  # warm-up: the first steps, and a streamed run's workers filling their queues
    record["images_per_sec"] = (len(times) - 1 - skip) * record["batch"] / (times[-1] - times[skip]) if len(times) > 2 else None
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an image folder (default: 256-px JPEGs drawn here)")
    ap.add_argument("--quick", action="store_true", help="small sets and few steps (under 2 minutes on 2 cores)")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sizes", default="", help="dataset sizes for the memory rows (default 2000,8000,32000)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    scratch = Path(tempfile.mkdtemp(prefix="data-pipeline-"))
    try:
        measure(args, scratch)
    finally:  # drawn images, linked sets, decode caches and runs: gigabytes at 32,000 images
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def measure(args, scratch: Path) -> None:
    quick = args.quick
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([300, 1200] if quick else [2000, 8000, 32000])
    env = {**os.environ, "XDG_CACHE_HOME": str(scratch / "cache"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
    data = args.data or draw_images(scratch / "drawn", 300 if quick else 2000)
    source = image_files(data)
    emit({"hardware": hardware(), "loadavg": loadavg(), "data": str(data), "images": len(source),
          "workers": args.workers, "batch_size": args.batch_size})

    # Over a set of 1,200 images or more, so that epochs (where a loader's queue drains) are several batches long.
    piped = data if len(source) >= 1200 else linked_set(source, 1200, scratch / "piped")
    rates = pipeline_rates(piped, args.workers, args.batch_size, 12 if quick else 40)
    ratio = rates["ours"] / rates["torchvision"]
    print(f"\ninput pipeline at {SIZE} px (decode, random resized crop, flip, batch {args.batch_size}, normalise; "
          f"{args.workers} workers)")
    print(f"  ours, streaming             {rates['ours']:8.1f} img/s")
    print(f"  torchvision ImageFolder     {rates['torchvision']:8.1f} img/s")
    print(f"  ratio                       {ratio:8.2f}")

    steps = 3 if quick else 8
    memory = {}
    print(f"\npeak memory (PSS of the process and its workers) of loading + {steps} steps, simplecnn at {SIZE} px, "
          f"batch {args.batch_size}")
    print(f"  {'images':>8} {'streaming':>12} {'resident':>12}")
    for n in sizes:
        folder = linked_set(source, n, scratch / f"set{n}")
        row = {}
        for mode in ("no", "yes"):
            config = {"arch": "simplecnn", "dataset": "folder", "data": str(folder), "image_size": SIZE,
                      "batch_size": args.batch_size, "epochs": 1, "device": "cpu", "data_in_memory": mode,
                      "workers": args.workers, "runs_dir": str(scratch / "runs"), "name": f"m{n}{mode}",
                      "tensorboard": False, "augment": "rrc"}
            row["streaming" if mode == "no" else "resident"] = run_child(config, steps, env)["peak_bytes"]
        memory[n] = row
        print(f"  {n:>8} {row['streaming'] / 2**20:>9.0f} MiB {row['resident'] / 2**20:>9.0f} MiB")
    streamed = [memory[n]["streaming"] for n in sizes]
    flat = max(streamed) / min(streamed) - 1

    train = {}
    n_fit = 256 if quick else 1024
    folder = linked_set(source, n_fit, scratch / "fits")
    train_steps = 10 if quick else 24
    for mode in ("no", "yes"):
        config = {"arch": "tv-resnet18", "dataset": "folder", "data": str(folder), "image_size": SIZE,
                  "batch_size": 16 if quick else 32, "epochs": 1, "device": "auto", "data_in_memory": mode,
                  "runs_dir": str(scratch / "runs"), "name": f"t{mode}", "tensorboard": False}  # workers: the default
        train["streaming" if mode == "no" else "resident"] = run_child(config, train_steps, env)["images_per_sec"]
    speed = train["streaming"] / train["resident"]
    print(f"\ntv-resnet18 training at {SIZE} px on {n_fit} images that fit ({train_steps} steps, first 4 left out)")
    print(f"  streaming {train['streaming']:.1f} img/s, resident {train['resident']:.1f} img/s, ratio {speed:.2f}")
    emit({"stream_over_dataloader": round(ratio, 3), "stream_img_s": round(rates["ours"], 1),
          "dataloader_img_s": round(rates["torchvision"], 1),
          "peak_mib": {n: {k: round(v / 2**20) for k, v in row.items()} for n, row in memory.items()},
          "stream_peak_growth": round(flat, 3), "train_stream_over_resident": round(speed, 3),
          "train_img_s": {k: round(v, 2) for k, v in train.items()}, "quick": quick})


if __name__ == "__main__":
    main()
