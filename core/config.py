"""The training configuration: every default in one place, and the validation rules that
the CLI and the app both use (so a value is judged the same way everywhere). Each option's
group, help, choices and ranges are declared in core.options; the rules here are those that
need code.

Importing this module is cheap: no torch.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

DATASETS = ("cifar10", "folder", "synthetic")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "multistep", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile modes; the last two use CUDA graphs
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
FREEZE_PATTERN = re.compile(r"^(none|backbone|stages:[1-9][0-9]*)$")
TORCHVISION_PREFIX = "tv-"
MAX_SEED = 2**32 - 1
RENAMED = {"run_dir": "runs_dir"}  # fields of older runs' config.json and checkpoints, under their new names


@dataclass
class TrainConfig:
    # -- model --
    arch: str = "resnet20"  # a name from core.models.list_models()
    zero_init_residual: bool = False  # start each residual branch at zero (last BN gamma = 0)
    num_classes: int = 0  # 0 = as many as the dataset has; otherwise it must agree with the dataset

    # -- starting weights (fine-tuning and transfer learning) --
    init_from: str = ""  # a resnet-tui run or checkpoint whose weights start this run (its head is replaced)
    pretrained: bool = False  # tv-* models: start from torchvision's ImageNet weights
    weights: str = ""  # tv-* models: a local ImageNet weights file to use instead of torchvision's cache
    freeze: str = "none"  # none | backbone (linear probe) | stages:K (train the last K stages and the head)
    backbone_lr_mult: float = 1.0  # the backbone's learning rate is lr times this

    # -- data --
    dataset: str = "cifar10"  # cifar10 | folder (ImageFolder train/ and test/) | synthetic (made in memory)
    data: str = "data"  # cifar10: where cifar-10-python.tar.gz lives or is downloaded; folder: the root
    download: bool = True  # cifar10: fetch the archive when it is not under `data`
    val_split: float = 0.0  # held out of the training set: < 1 a fraction, >= 1 a count; 0 = none
    train_subset: int = 0  # use only the first N training images, class-balanced; 0 = all
    image_size: int = 32  # images are decoded and resized to this square size
    crop_padding: int = 4  # random crop after zero-padding by this many pixels; 0 = no crop
    flip: bool = True  # random horizontal flip
    rotate: float = 0.0  # random rotation in +-degrees (the seed tutorial used 10); 0 = off
    cutout: int = 0  # zero a random square of this side in each training image; 0 = off
    skip_bad_images: bool = False  # folder: skip (and count) images that cannot be decoded instead of stopping

    # -- optimisation --
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1  # peak learning rate
    optimizer: str = "sgd"  # sgd | adam | adamw
    momentum: float = 0.9  # SGD momentum (Adam's beta1 stays at its default)
    nesterov: bool = True  # SGD only
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # onecycle | cosine | multistep | constant
    warmup_epochs: float = 0.0  # linear warm-up; for onecycle the peak (0 = at 25% of the run)
    milestones: list[int] = field(default_factory=list)  # multistep: epochs where lr *= gamma; [] = 50%, 75%
    gamma: float = 0.1  # multistep decay factor
    label_smoothing: float = 0.0
    grad_clip: float = 0.0  # clip the global gradient norm to this before each step; 0 = off

    # -- hardware and reproducibility --
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | fp32 | bf16 | fp16
    channels_last: str = "auto"  # auto (on for CUDA and CPU) | on | off
    compile: bool = False  # torch.compile the training forward (its warm-up is timed apart)
    compile_mode: str = "default"  # default | reduce-overhead | max-autotune (CUDA graphs on a GPU)
    sync_bn: bool = False  # with several processes: batch-norm statistics over the whole global batch
    seed: int = 0

    # -- evaluation and output --
    eval_tta: bool = False  # average predictions over the image and its horizontal flip
    eval_every: int = 1  # evaluate every N epochs (and always after the last); 0 = only after the last
    runs_dir: str = "checkpoints"  # the folder that holds runs, each in its own folder (CLI: --run-dir)
    name: str = ""  # run name; "" = <arch>-<dataset>-<timestamp>
    keep_last: int = 0  # also keep the last K epoch-end checkpoints as epoch_NNNN.pt (hard links); 0 = only last.pt
    deterministic: bool = False  # deterministic kernels (slower): bit-identical runs for one seed
    auto_batch_size: bool = False  # halve the batch size until a training step fits in device memory
    chosen: str = ""  # what was chosen from the data instead of a default, and why (fine-tuning on small data)
    tensorboard: bool = True  # also write TensorBoard event files into RUN/tensorboard/ (core.tensorboard_log)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (a saved config.json); unknown keys are ignored, missing ones take defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {RENAMED.get(k, k): v for k, v in values.items()}
        cfg = cls(**{k: v for k, v in values.items() if k in known})
        cfg.milestones = list(cfg.milestones)
        return cfg

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class FieldError:
    field: str  # the TrainConfig field name
    message: str  # says what is allowed, e.g. "must be a finite number > 0 (got nan)"

    @property
    def option(self) -> str:
        """The CLI spelling of the field (as core.options declares it)."""
        from .options import BY_FIELD  # (options imports this module)

        spec = BY_FIELD.get(self.field)
        return spec.option if spec is not None else "--" + self.field.replace("_", "-")

    def __str__(self) -> str:
        return f"{self.option} {self.message}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(errors: list[FieldError], name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        errors.append(FieldError(name, f"must be one of {', '.join(allowed)} (got {value!r})"))


def _int_range(errors: list[FieldError], name: str, value: Any, lo: int, hi: int) -> None:
    if not _is_int(value) or not lo <= value <= hi:
        errors.append(FieldError(name, f"must be a whole number from {lo} to {hi} (got {value!r})"))


def validate_config(cfg: TrainConfig, models: list[str] | None = None) -> list[FieldError]:
    """Every rule a TrainConfig must satisfy before any work starts; [] when it is valid.

    ``models`` is the list of known architectures (pass ``core.models.list_models()``);
    it is a parameter so this module stays free of torch imports.
    """
    from .options import declared_rule_errors  # (options imports this module)

    errors: list[FieldError] = []
    if models is not None and cfg.arch not in models:
        errors.append(FieldError("arch", f"must be one of {', '.join(models)} (got {cfg.arch!r})"))
    errors += declared_rule_errors(cfg)

    if not isinstance(cfg.freeze, str) or not FREEZE_PATTERN.match(cfg.freeze):
        errors.append(FieldError("freeze", f"must be none, backbone or stages:K with K >= 1 (got {cfg.freeze!r})"))
    is_tv = isinstance(cfg.arch, str) and cfg.arch.startswith(TORCHVISION_PREFIX)
    if (cfg.pretrained or cfg.weights) and not is_tv:
        opt = "--pretrained" if cfg.pretrained else "--weights"
        errors.append(FieldError("pretrained" if cfg.pretrained else "weights",
                                 f"applies to torchvision models only (tv-resnet18, tv-resnet50); {opt} cannot start {cfg.arch}"))
    if cfg.init_from and (cfg.pretrained or cfg.weights):
        errors.append(FieldError("init_from", "cannot be combined with --pretrained or --weights: pick one set of starting weights"))
    if not isinstance(cfg.data, str) or not cfg.data.strip():
        errors.append(FieldError("data", "must be a path"))
    if not _finite(cfg.val_split) or cfg.val_split < 0 or (cfg.val_split >= 1 and cfg.val_split != int(cfg.val_split)):
        errors.append(
            FieldError("val_split", f"must be 0, a fraction below 1 or a whole number of images (got {cfg.val_split!r})")
        )
    elif 0 < cfg.val_split < 1 and cfg.val_split > 0.5:
        errors.append(FieldError("val_split", f"must hold out at most half of the training set (got {cfg.val_split!r})"))
    if _is_int(cfg.image_size):
        _int_range(errors, "crop_padding", cfg.crop_padding, 0, max(0, cfg.image_size // 2))
    if _is_int(cfg.image_size):
        _int_range(errors, "cutout", cfg.cutout, 0, cfg.image_size)

    if _finite(cfg.warmup_epochs) and 0 <= cfg.warmup_epochs and _is_int(cfg.epochs) and cfg.warmup_epochs > cfg.epochs:
        errors.append(FieldError("warmup_epochs", f"must not exceed --epochs {cfg.epochs} (got {cfg.warmup_epochs!r})"))
    if not isinstance(cfg.milestones, (list, tuple)) or not all(_is_int(m) for m in cfg.milestones):
        errors.append(FieldError("milestones", f"must be whole epoch numbers (got {cfg.milestones!r})"))
    elif list(cfg.milestones) != sorted(set(cfg.milestones)) or any(
        m < 1 or (_is_int(cfg.epochs) and m >= cfg.epochs) for m in cfg.milestones
    ):
        errors.append(
            FieldError("milestones", f"must be increasing epochs between 1 and epochs-1 (got {list(cfg.milestones)})")
        )

    if cfg.compile_mode != "default" and cfg.compile_mode in COMPILE_MODES and not cfg.compile:
        errors.append(FieldError("compile_mode", f"{cfg.compile_mode} needs --compile"))
    if not isinstance(cfg.device, str) or not DEVICE_PATTERN.match(cfg.device):
        errors.append(FieldError("device", f"must be auto, cpu, mps, cuda or cuda:N (got {cfg.device!r})"))

    if not isinstance(cfg.runs_dir, str) or not cfg.runs_dir.strip():
        errors.append(FieldError("runs_dir", "must be a path"))
    if cfg.name and (not isinstance(cfg.name, str) or not NAME_PATTERN.match(cfg.name)):
        errors.append(
            FieldError("name", f"must be 1-100 letters, digits, '.', '_' or '-', not starting with a dot (got {cfg.name!r})")
        )
    return errors


def check_paths(cfg: TrainConfig) -> list[FieldError]:
    """Cheap file-system checks of a valid config (no decoding, no network): [] when nothing is wrong."""
    import os

    errors: list[FieldError] = []
    for name in ("init_from", "weights"):
        path = getattr(cfg, name)
        if path and not os.path.exists(os.path.expanduser(path)):
            errors.append(FieldError(name, f"{path} does not exist"))
    data = os.path.expanduser(cfg.data)
    if cfg.dataset == "folder":
        if not os.path.isdir(data):
            errors.append(FieldError("data", f"{data} is not a folder; expected {data}/train/<class>/ and {data}/test/<class>/"))
        else:
            for split in ("train", "test"):
                if not os.path.isdir(os.path.join(data, split)):
                    errors.append(FieldError("data", f"{data} has no {split}/ folder; expected {data}/{split}/<class>/<images>"))
                    break
    elif cfg.dataset == "cifar10" and not cfg.download:
        present = any(
            os.path.exists(os.path.join(data, p))
            for p in ("cifar-10-python.tar.gz", "cifar-10-batches-py", os.path.join(".resnet-tui-cache", "cifar10.pt"))
        )
        if not present:
            errors.append(FieldError("data", f"CIFAR-10 is not in {data} and downloading is off; put cifar-10-python.tar.gz there"))
    run_dir = os.path.expanduser(cfg.runs_dir)
    existing = os.path.abspath(run_dir)
    while not os.path.exists(existing):  # the nearest folder that exists is where it would be created
        existing = os.path.dirname(existing)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        errors.append(FieldError("runs_dir", f"{run_dir} exists and is not a folder"))
    elif not os.access(existing, os.W_OK):
        errors.append(FieldError("runs_dir", f"{run_dir}: {existing} is not writable"))
    elif cfg.name and os.path.isdir(os.path.join(run_dir, cfg.name)) and os.listdir(os.path.join(run_dir, cfg.name)):
        errors.append(FieldError("name", f"a run named {cfg.name} already exists in {run_dir}; pick another name"))
    return errors


def check_config(cfg: TrainConfig, paths: bool = True) -> None:
    """Raise UserError with the first problem of ``cfg`` (values and architecture, then files unless ``paths``
    is False). Torch-free: `train --background` runs it before it returns, fit() before anything else."""
    from .errors import UserError
    from .model_names import MODEL_NAMES

    errors = validate_config(cfg, list(MODEL_NAMES))
    if not errors and paths:
        errors = check_paths(cfg)
    if errors:
        raise UserError(str(errors[0]))
