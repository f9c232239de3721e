"""How much the training loop costs on top of the bare compute.

(b) bare: fwd + bwd + optimiser step on ONE batch that stays resident on the device: the compute limit.
(c) loop: core.train.fit() on a dataset (batched augmentation, shuffling, progress events), same model,
    batch size, optimiser, precision and memory format; its images/s leave out the first epoch as warm-up.
The ratio c/b is the loop's efficiency; 1 - c/b its overhead.

    uv run python bench/loop_overhead.py --arch resnet20 --batch-size 128                 # synthetic data
    uv run python bench/loop_overhead.py --dataset folder --data /scratch/cifar10-jpeg --train-subset 10000
    uv run python bench/loop_overhead.py --bare-only --arch resnet56

Prints JSON lines: the machine, then one record per measurement, then the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import emit, hardware  # noqa: E402


def bare_images_per_sec(cfg, steps: int, warmup: int) -> float:
    import torch
    from torch import nn

    from core.hardware.devices import resolve_device, resolve_precision, use_channels_last
    from core.inference.evaluate import autocast_context
    from core.models import create_model
    from core.train.optim import build_optimizer

    device = resolve_device(cfg.device)
    precision, amp = resolve_precision(cfg.precision, device)
    channels_last = use_channels_last(cfg.channels_last, device)
    torch.manual_seed(0)
    model = create_model(cfg.arch, 10, image_size=cfg.image_size).to(device).train()
    x = torch.randn(cfg.batch_size, 3, cfg.image_size, cfg.image_size, device=device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)
    opt = build_optimizer(model, cfg, device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    # The same conditions as training: its global flags (cuDNN autotuning on CUDA; TF32 off when the precision
    # is fp32, as a run sets it) and a GradScaler with fp16.
    from core.train.global_flags import Determinism

    Determinism().apply(False, device, precision)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None

    def step() -> None:
        with autocast_context(device, amp):
            loss = loss_fn(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # this device's queue (cuda:1 is not the current one)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # this device's queue (cuda:1 is not the current one)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--channels-last", default="auto")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data", default="data")
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=60, help="timed steps of the bare loop")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--bare-only", action="store_true")
    args = p.parse_args()

    from core.config.train_config import TrainConfig

    cfg = TrainConfig(
        arch=args.arch, batch_size=args.batch_size, device=args.device, precision=args.precision,
        channels_last=args.channels_last, dataset=args.dataset, data=args.data, train_subset=args.train_subset,
        epochs=args.epochs,
    )
    emit({"machine": hardware()})
    bare = bare_images_per_sec(cfg, args.steps, args.warmup)
    emit({"bench": "bare_step", "arch": cfg.arch, "batch_size": cfg.batch_size, "images_per_sec": round(bare, 1)})
    if args.bare_only:
        return

    from core.train import fit

    with tempfile.TemporaryDirectory() as tmp:
        result = fit(cfg.replace(runs_dir=tmp), progress_interval=0.5)
    loop = result.images_per_sec or 0.0
    emit({"bench": "train_loop", "arch": cfg.arch, "batch_size": cfg.batch_size, "dataset": cfg.dataset,
          "train_subset": cfg.train_subset, "epochs": cfg.epochs, "images_per_sec": loop,
          "final_test_acc": result.final_test_acc})
    emit({"loop_over_bare": round(loop / bare, 4), "overhead_pct": round(100 * (1 - loop / bare), 2)})


if __name__ == "__main__":
    main()
