"""Training throughput, side by side on one machine, for several architectures:

(a) seed   the seed tutorial's loop: torchvision ImageFolder + per-sample PIL flip and rotation +
           DataLoader, fp32, Adam, a loss.item() every step (the tutorial's running loss);
(b) bare   fwd + bwd + optimiser step on one batch that stays on the device: the compute limit;
(c) train  `resnet-tui train` itself (a subprocess; its images/s leave out the first epoch).

    uv run python bench/throughput.py --data /scratch/cifar10-jpeg                  # an ImageFolder tree
    uv run python bench/throughput.py --archs resnet20 --precision bf16 --smoke     # a quick check

Without --data it writes a small ImageFolder of synthetic PNGs to a temp folder. Prints JSON lines:
the machine, one record per (arch, variant), then the ratios c/a and c/b per arch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware  # noqa: E402


def synthetic_folder(root: Path, per_class: int) -> Path:
    """An ImageFolder tree (train/ and test/) of synthetic 32x32 PNGs, for machines without data."""
    from PIL import Image

    from core.data.synthetic import make_synthetic

    train, test, classes = make_synthetic(per_class * 10, per_class * 2)
    for split, data in (("train", train), ("test", test)):
        for i, (img, label) in enumerate(zip(data.images, data.labels)):
            folder = root / split / classes[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.png")
    return root


def seed_loop(arch: str, data: Path, batch_size: int, steps: int, warmup: int, device: str, workers: int) -> float:
    """The tutorial's loop (its transforms, DataLoader, Adam and per-step loss.item()) on our model."""
    import torch
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from core.hardware.devices import resolve_device
    from core.models import create_model

    dev = resolve_device(device)
    transform = T.Compose([
        T.RandomHorizontalFlip(),
        T.RandomRotation(10),
        T.ToTensor(),
        T.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),  # the copied-around values
    ])
    dataset = ImageFolder(str(data / "train"), transform=transform)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=dev.type == "cuda", drop_last=True, persistent_workers=workers > 0)
    model = create_model(arch, len(dataset.classes)).to(dev).train()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    done, images, start = 0, 0, None
    running = 0.0
    while done < warmup + steps:
        for inputs, labels in loader:
            if done == warmup:
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)  # this device's queue (cuda:1 is not the current one)
                start = time.perf_counter()
            inputs, labels = inputs.to(dev), labels.to(dev)
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
            done += 1
            if done > warmup:
                images += labels.shape[0]
            if done >= warmup + steps:
                break
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)  # this device's queue (cuda:1 is not the current one)
    return images / (time.perf_counter() - start)


def bare(arch: str, batch_size: int, steps: int, warmup: int, device: str, precision: str) -> float:
    from loop_overhead import bare_images_per_sec

    from core.config.train_config import TrainConfig

    cfg = TrainConfig(arch=arch, batch_size=batch_size, device=device, precision=precision)
    return bare_images_per_sec(cfg, steps, warmup)


def cli_train(arch: str, data: Path, batch_size: int, subset: int, device: str, precision: str, run_dir: Path) -> float:
    cmd = [sys.executable, "-m", "tui.cli", "train", "--dataset", "folder", "--data", str(data), "--arch", arch,
           "--epochs", "2", "--train-subset", str(subset), "--batch-size", str(batch_size), "--device", device,
           "--precision", precision, "--eval-every", "0", "--run-dir", str(run_dir), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "train failed")
    return float(json.loads(out.stdout)["images_per_sec"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", default="resnet20,resnet56,resnet18")
    p.add_argument("--data", default="", help="an ImageFolder root with train/ (default: synthetic PNGs)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", help="for (b) and (c); the seed loop is always fp32")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed loop")
    p.add_argument("--steps", type=int, default=0, help="timed steps for (a) and (b) (default: by arch)")
    p.add_argument("--repeats", type=int, default=2, help="measure each variant this many times; the best counts")
    p.add_argument("--smoke", action="store_true", help="a few steps only: checks the script, not the numbers")
    p.add_argument("--variant", choices=("seed", "bare"), help=argparse.SUPPRESS)  # one measurement, in a child
    p.add_argument("--steps-exact", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.smoke:
        args.batch_size = min(args.batch_size, 32)  # a few small steps: the figures mean nothing in smoke mode
    if args.variant:  # child process: measure one variant of one arch, print its images/s
        arch, steps, warmup = args.archs, args.steps_exact, 1 if args.smoke else 3
        if args.variant == "seed":
            ips = seed_loop(arch, Path(args.data), args.batch_size, steps, warmup, args.device, args.workers)
        else:
            ips = bare(arch, args.batch_size, steps, warmup, args.device, args.precision)
        print(ips)
        return

    emit({"machine": hardware(), "precision": args.precision, "batch_size": args.batch_size})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else synthetic_folder(Path(tmp) / "synthetic", 64 if args.smoke else 300)
        for arch in [a for a in args.archs.split(",") if a]:
            heavy = arch in ("resnet18", "resnet34", "resnet50", "resnet9")
            steps = args.steps or (2 if args.smoke else (15 if heavy else 40))
            # `train` times its second epoch: give it as many steps as the others
            subset = args.batch_size * (2 if args.smoke else steps)
            def child(variant: str) -> float:
                """Each measurement in a fresh process, so none inherits another's workers or allocator state."""
                cmd = [sys.executable, __file__, "--variant", variant, "--archs", arch, "--data", str(data),
                       "--batch-size", str(args.batch_size), "--device", args.device, "--precision", args.precision,
                       "--workers", str(args.workers), "--steps-exact", str(steps)] + (["--smoke"] if args.smoke else [])
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
                return float(out.stdout.strip().splitlines()[-1])

            measure = {
                "seed": lambda: child("seed"),
                "bare": lambda: child("bare"),
                "train": lambda: cli_train(arch, data, args.batch_size, subset, args.device, args.precision,
                                           Path(tmp) / "runs"),
            }
            res = {}
            for variant, fn in measure.items():
                runs = [fn() for _ in range(1 if args.smoke else args.repeats)]
                res[variant] = max(runs)  # other load on the machine can only slow a run down
                emit({"arch": arch, "variant": variant, "images_per_sec": round(res[variant], 1),
                      "runs": [round(r, 1) for r in runs]})
            emit({"arch": arch, "train_over_seed": round(res["train"] / res["seed"], 3),
                  "train_over_bare": round(res["train"] / res["bare"], 3)})


if __name__ == "__main__":
    main()
