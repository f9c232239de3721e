"""Everything a run needs before its first step, built from its config (and, on --resume, its checkpoint):
device, precision, determinism flags, data, model (fine-tuning parent or ImageNet backbone, frozen parts),
optimiser, schedule, scheduler, scaler, data stream, and the batch size that fits (--auto-batch-size).

Everything that can be wrong with the request is found here, and nothing is written into the run folder.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from core.config.train_config import TrainConfig, augment_recipe
from core.config.validate import check_config
from core.data import Augment, DataBundle, ImageSet, Normalize, TrainStream, load_data
from core.data.own_images import planned_residence, resumed_residence
from core.errors import CheckpointError, UserError
from core.hardware.devices import is_out_of_memory, resolve_device, resolve_precision, use_channels_last
from core.hardware.dist import SINGLE, Dist
from core.models import create_model
from core.train.batch_probe import largest_fitting_batch
from core.train.finetune import Parent, frozen_modules, load_backbone, read_parent
from core.train.global_flags import Determinism
from core.train.optim import build_optimizer, build_schedule, build_scheduler, match_device
from core.train.resume import set_rng_state

Notify = Callable[[str], None]


def _check_class_count(expected: int, classes: list[str]) -> None:
    if expected != len(classes):
        raise UserError(
            f"--num-classes {expected} does not match the {len(classes)} classes of the data "
            f"({', '.join(classes[:6])}{', ...' if len(classes) > 6 else ''})"
        )


@dataclass(kw_only=True)
class Setup:
    cfg: TrainConfig  # as trained: absolute paths, the batch size that fits
    data: DataBundle  # mean/std set to the statistics the weights expect
    parent: Parent | None  # the checkpoint a fine-tuning run started from
    device: torch.device
    precision: str
    amp_dtype: torch.dtype | None
    channels_last: bool
    model: nn.Module  # what is saved and evaluated
    train_model: nn.Module  # the model, or its torch.compile'd module (same parameters)
    frozen: list[nn.Module]
    train_set: ImageSet
    val_set: ImageSet | None
    test_set: ImageSet
    normalize: Normalize
    criterion: nn.Module
    stream: TrainStream
    optimizer: torch.optim.Optimizer
    schedule: Any
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    eval_batch: int
    dist: Dist = SINGLE  # this process's place in a distributed job (alone: rank 0 of 1)

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def train_mode(self) -> None:
        """Train mode, except for frozen parts: their BatchNorm statistics must not drift."""
        self.model.train()
        for m in self.frozen:
            m.eval()


def build_setup(cfg: TrainConfig, *, ckpt: dict[str, Any] | None, run_dir: Path | None, data: DataBundle | None,
                determinism: Determinism, notify: Notify, stop: threading.Event, dist: Dist = SINGLE) -> Setup:
    """The run's objects, ready for its first step (on resume: in the checkpoint's state). Writes nothing.

    ``ckpt`` and ``run_dir``: the checkpoint resumed from and its run (None for a new run). ``dist``: this
    process's rank in a distributed job: its GPU, its share of each batch, the model wrapped in DDP.
    """
    check_config(cfg, paths=ckpt is None)
    if dist.active and cfg.batch_size % dist.world:
        raise UserError(f"--batch-size {cfg.batch_size} is the global batch and does not divide among {dist.world} "
                        f"processes; use a multiple of {dist.world}")
    if ckpt is None:
        # Saved configs hold absolute paths, so a run can be resumed or evaluated from anywhere.
        absolute = {k: str(Path(getattr(cfg, k)).expanduser().resolve()) for k in ("data", "runs_dir", "init_from", "weights", "cache_dir") if getattr(cfg, k)}
        cfg = cfg.replace(**absolute)
    parent = None
    parent_state = None
    if ckpt is None and cfg.init_from:
        parent, parent_state = read_parent(cfg.init_from)
        if parent.arch != cfg.arch:
            raise CheckpointError(
                f"{cfg.init_from} is a {parent.arch} checkpoint; it cannot start a {cfg.arch} (use --arch {parent.arch})"
            )
    imagenet_state = None
    if ckpt is None and (cfg.pretrained or cfg.weights):  # before the (possibly long) data loading
        from core.models.torchvision_resnet import load_imagenet_weights

        imagenet_state = load_imagenet_weights(cfg.arch, cfg.weights or None)
    device = resolve_device(dist.device_spec(cfg.device))
    precision, amp_dtype = resolve_precision(cfg.precision, device)
    determinism.apply(cfg.deterministic, device, precision)
    channels_last = use_channels_last(cfg.channels_last, device)
    if ckpt is not None:
        _announce_changes(ckpt, {"device": str(device), "precision": precision, "channels_last": channels_last,
                                 "processes": dist.world}, notify)

    residence = resumed_residence(ckpt, cfg) if data is None else None  # a resume reads its data as the run did
    if residence is None and data is None and cfg.dataset == "folder" and dist.active:
        # Every rank must hold or stream alike (the same statistics, the same decode): rank 0 decides.
        residence = dist.share(planned_residence(cfg, device, dist.local_world))
    # Local rank 0 loads first (decoding, caching, a download), the others then read its cache: no race.
    if dist.local_rank != 0:
        dist.barrier()
    data = _data(cfg, ckpt, run_dir, data, parent, notify, stop, device, dist.local_world, residence)
    if dist.local_rank == 0:
        dist.barrier()

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = create_model(cfg.arch, data.num_classes, cfg.zero_init_residual, data.image_size)
    if parent is not None and parent_state is not None:
        load_backbone(model, parent_state, str(parent.path))
    elif imagenet_state is not None:
        load_backbone(model, imagenet_state, cfg.weights or "ImageNet weights")
    if cfg.sync_bn and not dist.active:
        notify("--sync-bn: one process trains this run, so its batch norm already sees the whole batch")
    frozen = frozen_modules(model, cfg.freeze)
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(f"--resume {run_dir}: the checkpoint does not fit {cfg.arch} ({str(e).splitlines()[0]})") from None
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    try:
        train_set = data.train.to(device)
        val_set = data.val.to(device) if data.val is not None else None
        test_set = data.test.to(device)
    except Exception as e:  # noqa: BLE001 - only out-of-memory errors become a message here
        if not is_out_of_memory(e):
            raise
        parts = [data.train, data.test] + ([data.val] if data.val is not None else [])
        size = sum(p.images.numel() + 8 * len(p) for p in parts) / 2**20
        hint = " or --data-in-memory no" if cfg.dataset == "folder" else ""
        raise UserError(f"the data ({size:.0f} MiB of images and labels) does not fit in {device}'s memory next to the "
                        f"model; free the device, or use --train-subset, a smaller --image-size{hint}") from None
    # The bundle now holds the device's copies: the host's are freed rather than kept for the run's life.
    data.train, data.val, data.test = train_set, val_set, test_set
    normalize = Normalize(data.mean, data.std, device, channels_last)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    if cfg.auto_batch_size and ckpt is None:
        fitting = largest_fitting_batch(model, criterion, device, amp_dtype, channels_last,
                                        cfg.replace(batch_size=cfg.batch_size // dist.world), data.image_size)
        fitting = dist.least(fitting) * dist.world  # every rank takes the same share: the smallest that fits
        if fitting != cfg.batch_size:
            notify(f"--auto-batch-size: batch size {cfg.batch_size} does not fit in memory; using {fitting}")
            cfg = cfg.replace(batch_size=fitting)
    recipe = augment_recipe(cfg)
    augment = Augment(0 if recipe == "rrc" else cfg.crop_padding, cfg.flip, cfg.rotate, cfg.cutout,
                      resized_crop=recipe == "rrc")
    # The data stream gets its own seed so the model init and the augmentations do not share one sequence.
    if train_set.resident:
        stream = TrainStream(train_set, cfg.batch_size, augment, normalize, seed=cfg.seed + 1, rank=dist.rank,
                             world=dist.world)
    else:
        from core.data.stream import FileStream

        stream = FileStream(train_set, cfg.batch_size, augment, normalize, seed=cfg.seed + 1, rank=dist.rank,
                            world=dist.world, recipe=recipe)
        if dist.active:
            stream.first_problem = dist.first_of
    # The compiled module and the DDP wrapper share parameters with the model, which is what gets saved and
    # evaluated. DDP starts every rank from rank 0's weights and averages the gradients; compile wraps it.
    train_model = model
    if dist.active:
        from torch.nn.parallel import DistributedDataParallel

        if cfg.sync_bn:
            # Only now: the batch-size probe above must not run collectives (ranks may probe different sizes).
            # The conversion keeps the model's containers, so the frozen parts found above stay the same.
            from core.models.sync_bn import convert_sync_bn

            model = convert_sync_bn(model, device)

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        train_model = torch.compile(train_model, mode=cfg.compile_mode)
    optimizer = build_optimizer(model, cfg, device)
    schedule = build_schedule(cfg, stream.steps_per_epoch)
    setup = Setup(
        cfg=cfg, data=data, parent=parent, device=device, precision=precision, amp_dtype=amp_dtype,
        channels_last=channels_last, model=model, train_model=train_model, frozen=frozen,
        train_set=train_set, val_set=val_set, test_set=test_set, normalize=normalize, criterion=criterion,
        stream=stream, optimizer=optimizer, schedule=schedule,
        scheduler=build_scheduler(optimizer, schedule),
        scaler=torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None,
        eval_batch=min(1024, max(256, 2 * cfg.batch_size // dist.world)),
        dist=dist,
    )
    if ckpt is not None:
        _load_state(setup, ckpt, run_dir, notify)
    return setup


def _data(cfg: TrainConfig, ckpt: dict[str, Any] | None, run_dir: Path | None, data: DataBundle | None,
          parent: Parent | None, notify: Notify, stop: threading.Event, device: torch.device | None = None,
          processes: int = 1, residence: tuple[bool, str] | None = None) -> DataBundle:
    """The run's data (loaded unless given), with the normalisation its weights expect, checked against the run."""
    if cfg.num_classes and cfg.dataset == "folder":
        # Checked against the folder names before anything is decoded (or cached).
        from core.data.layout import scan_folder

        _check_class_count(cfg.num_classes, scan_folder(Path(cfg.data).expanduser(), cfg.test_split, cfg.split_seed).classes)
    if data is None:
        notify(f"loading {cfg.dataset} data")
        data = load_data(cfg, report=notify, stop=stop, device=device, processes=processes, residence=residence)
        if data.layout:
            notify(f"data: {data.layout}; {data.residence_why}")
    # Normalisation follows the weights: the parent's statistics when fine-tuning, ImageNet's for
    # torchvision weights, the run's own when resuming.
    if ckpt is not None and "mean" in ckpt:
        data.mean, data.std = tuple(ckpt["mean"]), tuple(ckpt["std"])
    elif parent is not None:
        data.mean, data.std = parent.mean, parent.std
    elif cfg.pretrained or cfg.weights:
        from core.models.torchvision_resnet import IMAGENET_MEAN, IMAGENET_STD

        data.mean, data.std = IMAGENET_MEAN, IMAGENET_STD
    if cfg.num_classes:
        _check_class_count(cfg.num_classes, data.classes)
    if ckpt is not None:
        saved = ckpt.get("data", {})
        now = {"train_size": len(data.train), "num_classes": data.num_classes}
        if any(saved.get(k) not in (None, v) for k, v in now.items()):
            raise CheckpointError(
                f"--resume {run_dir}: the data differs from when the run started ({saved} then, {now} now)"
            )
        if saved.get("split_digest") not in (None, "", data.split_digest):
            raise CheckpointError(
                f"--resume {run_dir}: {cfg.data} has other test images than when the run started (its files changed); "
                f"resuming would test on different images: restore the folder, or start a new run"
            )
    return data


def _announce_changes(ckpt: dict[str, Any], now: dict[str, Any], notify: Notify) -> None:
    """A resume on other hardware may train differently (--precision auto is bf16 on a recent GPU, fp32 on a
    CPU): say so, from what the checkpoint recorded (older checkpoints recorded nothing)."""
    before = ckpt.get("trained_on")
    if not isinstance(before, dict):
        return
    changed = [f"{k} {before[k]} -> {now[k]}" for k in now if k in before and before[k] != now[k]]
    if changed:
        why = ""
        if "processes" in before and before["processes"] != now["processes"]:
            # The order of the data is global (seeded by epoch), so a mid-epoch resume is still well defined.
            why = (" (the data order continues exactly where it stopped; each process's share of a batch, its "
                   "augmentations and the rounding of the gradient sums differ from here on)")
        notify(f"this run continues with other settings than it was trained with: {'; '.join(changed)}{why}")


def _load_state(setup: Setup, ckpt: dict[str, Any], run_dir: Path | None, notify: Notify) -> None:
    """Optimiser, scheduler, scaler, data stream and random states as the checkpoint left them."""
    try:
        setup.optimizer.load_state_dict(ckpt["optimizer"])
        match_device(setup.optimizer, setup.device)
        sched = dict(ckpt["scheduler"])
        sched["lr_lambdas"] = [dict(vars(setup.schedule))]  # keep the (possibly longer) new schedule
        setup.scheduler.load_state_dict(sched)
        if setup.scaler is not None and ckpt.get("scaler"):
            setup.scaler.load_state_dict(ckpt["scaler"])
        if not setup.stream.load_state_dict(ckpt["stream"], epoch=int(ckpt["epoch"]) + 1):
            notify("this checkpoint comes from an older version: the data order continues, the augmentations differ "
                   "from what they would have been")
        set_rng_state(ckpt["rng"], setup.device)
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"--resume {run_dir}: the checkpoint's training state is unusable ({e})") from None
