"""Why does speed94 stop near 91% where Page's recipe reached 94%? One seed of the preset per variant, each
variant undoing one difference between our engine and Page's code, the final test accuracy of each.

    PYTHONPATH=$PWD python3 bench/speed94_ablation.py --data /scratch/cifar10-jpeg            # on a GPU
    uv run python bench/speed94_ablation.py --smoke                                           # here: the script runs

Variants (they patch the engine inside this process only; nothing in core/ changes):
  base     the preset as it is
  init     convolutions start from PyTorch's default init (Page's), not Kaiming fan-out: 2.4x smaller weights,
           so under batch norm a larger effective learning rate early on
  wd_all   weight decay on every parameter, batch-norm scales and shifts too (Page decays all)
  reflect  crops pad by reflection (Page) rather than with black pixels
  all      the three together
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware  # noqa: E402

VARIANTS = ("base", "init", "wd_all", "reflect", "all")


def torch_default_init(self, zero_init_residual: bool = False) -> None:
    from torch import nn

    for m in self.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            m.reset_parameters()


def decay_everything(model, weight_decay, lr=0.1, backbone_lr_mult=1.0):
    return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay, "lr": lr}]


def reflect_crop(x, padding, g, flip=False):
    import torch

    h, w = x.shape[-2:]

    def reflected(n: int) -> torch.Tensor:
        i = torch.arange(-padding, n + padding, device=x.device).abs()
        return torch.where(i > n - 1, 2 * (n - 1) - i, i)

    from core.data.augment import crop_windows

    padded = x[:, :, reflected(h)][:, :, :, reflected(w)]
    return crop_windows(padded, h, w, padding, g, flip)  # the engine's per-sample windows over the padded batch


@contextlib.contextmanager
def patched(variant: str):
    from core.data import augment
    from core.models.resnet9 import ResNet9
    from core.train import optim

    saved = (ResNet9.init_weights, optim.param_groups, augment.random_crop)
    try:
        if variant in ("init", "all"):
            ResNet9.init_weights = torch_default_init
        if variant in ("wd_all", "all"):
            optim.param_groups = decay_everything
        if variant in ("reflect", "all"):
            augment.random_crop = reflect_crop
        yield
    finally:
        ResNet9.init_weights, optim.param_groups, augment.random_crop = saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="the CIFAR-10 JPEG copy's folder (train/ and test/)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="1 epoch of 128 synthetic 16-px images: the script, not the numbers")
    args = p.parse_args()

    from core.config.presets import apply_preset
    from core.train import fit

    cfg = apply_preset("speed94").replace(seed=args.seed)
    if args.smoke:
        cfg = cfg.replace(dataset="synthetic", epochs=1, train_subset=128, warmup_epochs=0.5, batch_size=32,
                          eval_tta=False, image_size=16, crop_padding=2, cutout=4, device="cpu")
    else:
        cfg = cfg.replace(dataset="folder", data=args.data)
    emit({"machine": hardware(), "config": cfg.to_dict()})
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            if variant not in VARIANTS:
                raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
            wall = time.perf_counter()
            with patched(variant):
                result = fit(cfg.replace(runs_dir=tmp, name=variant), lambda event: None, progress_interval=5.0)
            emit({"variant": variant, "final_test_acc": result.final_test_acc,
                  "train_seconds": round(result.train_seconds, 2), "wall_seconds": round(time.perf_counter() - wall, 1)})


if __name__ == "__main__":
    main()
