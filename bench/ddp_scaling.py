"""Several processes against one: measured images/s of `train` with 1 process and with `--nproc-per-node N`
(same global batch, same data), and, on paper, what the gradient all-reduce of each step costs on 8 GPUs.

    uv run python bench/ddp_scaling.py                       # CPU here: 1 vs 2 processes, resnet20
    uv run python bench/ddp_scaling.py --device cuda --nproc 8 --arch resnet18 --train-subset 50000
    uv run python bench/ddp_scaling.py --paper-only          # just the all-reduce table

On this project's 2-core CPU two processes share the same two cores, so no speed-up is expected: the figure
shows what the job's machinery (gloo all-reduces, the per-step decisions) costs. The all-reduce table is
arithmetic from parameter counts and link bandwidths, not a measurement: a ring all-reduce makes every GPU
send and receive 2(N-1)/N times the gradient bytes (DDP reduces fp32 gradients even under bf16 autocast),
and DDP overlaps it with the backward pass, so the visible cost is at most this.
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

# Link bandwidths (bytes/s per direction per GPU) assumed for the table; say so wherever they are quoted.
LINKS = {
    "NVLink 4 (H100/H200 SXM, 8 GPUs in one machine; ~400 GB/s all-reduce bus bandwidth)": 400e9,
    "100 Gb/s Ethernet (8 machines of 1 GPU, line rate 12.5 GB/s)": 12.5e9,
}


def allreduce_table(gpus: int = 8) -> list[dict]:
    from core.models import create_model

    rows = []
    for arch, classes, size in (("resnet18", 10, 32), ("resnet50", 10, 32), ("tv-resnet18", 1000, 224),
                                ("tv-resnet50", 1000, 224)):
        params = sum(p.numel() for p in create_model(arch, classes, image_size=size).parameters())
        grad_bytes = 4 * params
        moved = 2 * (gpus - 1) / gpus * grad_bytes
        for link, bandwidth in LINKS.items():
            rows.append({"paper": "allreduce_per_step", "arch": arch, "classes": classes, "params": params,
                         "gpus": gpus, "link": link, "grad_mb": round(grad_bytes / 1e6, 1),
                         "ms_per_step": round(1e3 * moved / bandwidth, 3)})
    return rows


def measured(nproc: int, args, runs: Path) -> dict:
    name = f"p{nproc}"
    cmd = [sys.executable, "-m", "tui.cli", "train", "--dataset", "synthetic", "--arch", args.arch,
           "--train-subset", str(args.train_subset), "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
           "--image-size", str(args.image_size), "--device", args.device, "--eval-every", "0", "--run-dir", str(runs),
           "--name", name, "--json"]
    if nproc > 1:
        cmd += ["--nproc-per-node", str(nproc)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{nproc} process(es): {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"bench": "ddp_scaling", "processes": nproc, "arch": args.arch, "device": args.device,
            "global_batch": args.batch_size, "images_per_sec": result["images_per_sec"],
            "train_seconds": result["train_seconds"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--device", default="cpu")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--train-subset", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3, help="the first epoch is left out of images/s as warm-up")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--paper-only", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny, for the test suite")
    args = p.parse_args()
    if args.smoke:
        args.train_subset, args.batch_size, args.epochs, args.image_size = 256, 64, 2, 16
    emit({"machine": hardware()})
    if not args.paper_only:
        with tempfile.TemporaryDirectory() as tmp:
            one = measured(1, args, Path(tmp))
            emit(one)
            many = measured(args.nproc, args, Path(tmp))
            emit(many)
        emit({"bench": "ddp_scaling", "speedup": round(many["images_per_sec"] / one["images_per_sec"], 3),
              "processes": args.nproc})
    for row in allreduce_table():
        emit(row)


if __name__ == "__main__":
    main()
