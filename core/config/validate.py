"""The rules a TrainConfig must satisfy before any work starts, judged the same way by the CLI and the app.

The simple rules (choices, whole-number ranges, intervals) are stated by the declarations in
core.config.options; the rules here need code: patterns, val_split's two forms, rules between fields, and
cheap checks of the files a config names. Torch-free.
"""

from __future__ import annotations

import os

from core.config.options import FieldError, check_int_range, declared_rule_errors, is_finite, is_whole
from core.config.train_config import (
    COMPILE_MODES, DEVICE_PATTERN, FREEZE_PATTERN, NAME_PATTERN, TORCHVISION_PREFIX, TrainConfig,
)


def validate_config(cfg: TrainConfig, models: list[str] | None = None) -> list[FieldError]:
    """Every rule a TrainConfig must satisfy before any work starts; [] when it is valid.

    ``models`` is the list of known architectures (pass ``core.models.list_models()``);
    it is a parameter so this module stays free of torch imports.
    """
    errors: list[FieldError] = []
    if models is not None and cfg.arch not in models:
        errors.append(FieldError("arch", f"must be one of {', '.join(models)} (got {cfg.arch!r})"))
    errors += declared_rule_errors(cfg)
    if cfg.log:
        from core.runs.trackers import log_errors

        errors += [FieldError("log", message) for message in log_errors(cfg.log)]

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
    if not is_finite(cfg.val_split) or cfg.val_split < 0 or (cfg.val_split >= 1 and cfg.val_split != int(cfg.val_split)):
        errors.append(
            FieldError("val_split", f"must be 0, a fraction below 1 or a whole number of images (got {cfg.val_split!r})")
        )
    elif 0 < cfg.val_split < 1 and cfg.val_split > 0.5:
        errors.append(FieldError("val_split", f"must hold out at most half of the training set (got {cfg.val_split!r})"))
    if not is_finite(cfg.test_split) or cfg.test_split < 0 or (cfg.test_split >= 1 and cfg.test_split != int(cfg.test_split)):
        errors.append(
            FieldError("test_split", f"must be 0, a fraction below 1 or a whole number of images (got {cfg.test_split!r})")
        )
    elif 0.5 < cfg.test_split < 1:
        errors.append(FieldError("test_split", f"must hold out at most half of each class (got {cfg.test_split!r})"))
    if cfg.data_in_memory == "no" and cfg.dataset != "folder":
        errors.append(FieldError("data_in_memory", f"no: only --dataset folder is read from files; {cfg.dataset} is "
                                                   f"held in memory"))
    if not isinstance(cfg.cache_dir, str):
        errors.append(FieldError("cache_dir", "must be a path"))
    if is_whole(cfg.image_size):
        check_int_range(errors, "crop_padding", cfg.crop_padding, 0, max(0, cfg.image_size // 2))
    if is_whole(cfg.image_size):
        check_int_range(errors, "cutout", cfg.cutout, 0, cfg.image_size)

    if is_finite(cfg.warmup_epochs) and 0 <= cfg.warmup_epochs and is_whole(cfg.epochs) and cfg.warmup_epochs > cfg.epochs:
        errors.append(FieldError("warmup_epochs", f"must not exceed --epochs {cfg.epochs} (got {cfg.warmup_epochs!r})"))
    if not isinstance(cfg.milestones, (list, tuple)) or not all(is_whole(m) for m in cfg.milestones):
        errors.append(FieldError("milestones", f"must be whole epoch numbers (got {cfg.milestones!r})"))
    elif list(cfg.milestones) != sorted(set(cfg.milestones)) or any(
        m < 1 or (is_whole(cfg.epochs) and m >= cfg.epochs) for m in cfg.milestones
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

    errors: list[FieldError] = []
    for name in ("init_from", "weights"):
        path = getattr(cfg, name)
        if path and not os.path.exists(os.path.expanduser(path)):
            errors.append(FieldError(name, f"{path} does not exist"))
    data = os.path.expanduser(cfg.data)
    if cfg.dataset == "folder":
        if not os.path.isdir(data):
            errors.append(FieldError("data", f"{data} is not a folder; expected {data}/<class>/<images> or "
                                             f"{data}/train/<class>/ and {data}/test/<class>/"))
        elif os.path.isdir(os.path.join(data, "test")) and not os.path.isdir(os.path.join(data, "train")):
            errors.append(FieldError("data", f"{data} has test/ but no train/; expected {data}/train/<class>/ beside it"))
    elif cfg.dataset == "cifar10" and not cfg.download:
        present = any(
            os.path.exists(os.path.join(data, p))
            for p in ("cifar-10-python.tar.gz", "cifar-10-batches-py", os.path.join(".resnet-tui-cache", "cifar10.pt"))
        )
        if not present:
            errors.append(FieldError("data", f"CIFAR-10 is not in {data} and downloading is off; put cifar-10-python.tar.gz there"))
    cache = os.path.expanduser(cfg.cache_dir)
    if cfg.cache_dir and os.path.exists(cache) and not os.path.isdir(cache):
        errors.append(FieldError("cache_dir", f"{cache} exists and is not a folder"))
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
    from core.config.model_names import MODEL_NAMES
    from core.errors import UserError

    errors = validate_config(cfg, list(MODEL_NAMES))
    if not errors and paths:
        errors = check_paths(cfg)
    if errors:
        raise UserError(str(errors[0]))
