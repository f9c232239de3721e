"""Loading a trained model back from a run or checkpoint, and using it: evaluate, predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.config.train_config import TrainConfig
from core.data import DataBundle, Normalize, load_data
from core.errors import CheckpointError, DataError
from core.hardware.devices import resolve_device, resolve_precision
from core.inference.evaluate import EvalResult, evaluate
from core.models import UnknownModelError, create_model
from core.train.checkpoint import load_checkpoint, resolve_checkpoint, strip_compile_prefix


@dataclass
class Trained:
    model: torch.nn.Module
    path: Path
    arch: str
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int
    config: TrainConfig
    device: torch.device
    checkpoint: dict[str, Any]


def load_trained(run_or_ckpt: str | Path, device: str = "auto") -> Trained:
    """The model of a run directory (final weights, else last state) or of a checkpoint file, in eval mode."""
    path = resolve_checkpoint(run_or_ckpt)
    if path.suffix == ".safetensors":
        from core.inference.export import load_safetensors

        ckpt = load_safetensors(path)
    else:
        ckpt = load_checkpoint(path)
    try:
        arch, classes = str(ckpt["arch"]), [str(c) for c in ckpt["classes"]]
        mean, std = tuple(float(v) for v in ckpt["mean"]), tuple(float(v) for v in ckpt["std"])
        image_size, state = int(ckpt["image_size"]), ckpt["model"]
        config = TrainConfig.from_run(ckpt.get("config", {}))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} lacks what a resnet-tui model checkpoint holds ({e})") from None
    try:
        model = create_model(arch, num_classes=len(classes), image_size=image_size)
    except UnknownModelError as e:
        raise CheckpointError(f"{path}: {e}") from None
    try:
        model.load_state_dict(strip_compile_prefix(state))
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not fit {arch} ({str(e).splitlines()[0]})") from None
    dev = resolve_device(device)
    model.to(dev).eval()
    return Trained(model, path, arch, classes, mean, std, image_size, config, dev, ckpt)  # type: ignore[arg-type]


def evaluate_trained(
    trained: Trained,
    data: DataBundle | None = None,
    split: str = "test",
    tta: bool = False,
    batch_size: int = 256,
    overrides: dict[str, Any] | None = None,
    precision: str = "fp32",
    keep: bool = False,
) -> tuple[EvalResult, DataBundle]:
    """Evaluate on the run's own dataset (or ``overrides`` of dataset/data) unless ``data`` is given.

    ``precision`` is fp32 unless asked: the reference figure. A run's own evaluations ran under its training
    precision (bf16 autocast on a recent GPU), so they can differ from this in the last decimals; pass the
    run's precision to reproduce them."""
    _, amp_dtype = resolve_precision(precision, trained.device)
    if data is None:
        cfg = trained.config.replace(**(overrides or {}), train_subset=0, image_size=trained.image_size)
        data = load_data(cfg, device=trained.device)
    if list(data.classes) != list(trained.classes):
        raise DataError(
            f"the dataset's classes ({', '.join(data.classes[:5])}...) differ from the model's ({', '.join(trained.classes[:5])}...)"
        )
    images = data.val if split == "val" else data.test
    if images is None:
        raise DataError("this run has no validation split; evaluate the test split")
    normalize = Normalize(trained.mean, trained.std, trained.device)
    result = evaluate(trained.model, images.to(trained.device), normalize, len(trained.classes), batch_size, amp_dtype,
                      tta=tta, keep=keep)
    return result, data


@dataclass(frozen=True)
class Prediction:
    path: str
    top: tuple[tuple[str, float], ...]  # (class name, probability), best first


@torch.no_grad()
def predict_images(trained: Trained, paths: list[str | Path], top_k: int = 3, tta: bool = False) -> list[Prediction]:
    from core.data.folder import decode_image
    from core.data.own_images import split_fits

    # As the run's test images were: centre-cropped after random-resized-crop training on a folder.
    fit = split_fits(trained.config)["test"] if trained.config.dataset == "folder" else "squash"
    arrays = [torch.from_numpy(decode_image(Path(p), trained.image_size, fit)) for p in paths]
    x = torch.stack(arrays).to(trained.device)
    normalize = Normalize(trained.mean, trained.std, trained.device)
    inputs = normalize(x)
    probs = trained.model(inputs).float().softmax(1)
    if tta:
        probs = (probs + trained.model(inputs.flip(3)).float().softmax(1)) / 2
    k = min(top_k, len(trained.classes))
    values, indices = probs.topk(k, dim=1)
    return [
        Prediction(str(p), tuple((trained.classes[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())))
        for p, vals, idx in zip(paths, values, indices)
    ]
