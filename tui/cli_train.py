"""The training commands: train (from scratch or from torchvision weights) and finetune (from a run)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .cli_common import EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM, CliError, app, err

# Options shared by train and finetune: None means "not given", so a preset, a parent run or a
# resumed run supplies the value; the help says what the default is when nothing does.
Arch = Annotated[Optional[str], typer.Option(help="Architecture (see `resnet-tui models`). (default: resnet20)")]
Epochs = Annotated[Optional[int], typer.Option(help="Epochs to train. (default: 10; finetune: 5)")]
Lr = Annotated[Optional[float], typer.Option(help="Peak learning rate, in (0, 10]. (default: 0.1; finetune: 0.01)")]
BatchSize = Annotated[Optional[int], typer.Option(help="Images per step. (default: 128)")]
OptimizerOpt = Annotated[Optional[str], typer.Option("--optimizer", help="sgd | adam | adamw. (default: sgd)")]
Momentum = Annotated[Optional[float], typer.Option(help="SGD momentum. (default: 0.9)")]
Nesterov = Annotated[Optional[bool], typer.Option("--nesterov/--no-nesterov", help="Nesterov momentum (SGD). (default: on)")]
Schedule = Annotated[Optional[str], typer.Option(help="onecycle | cosine | multistep | constant. (default: onecycle; finetune: cosine)")]
Warmup = Annotated[Optional[float], typer.Option(help="Linear warm-up epochs (onecycle: the peak). (default: 0)")]
Milestones = Annotated[Optional[str], typer.Option(help="multistep: epochs where lr *= gamma, e.g. 91,136. (default: 50%,75%)")]
Gamma = Annotated[Optional[float], typer.Option(help="multistep decay factor. (default: 0.1)")]
WeightDecay = Annotated[Optional[float], typer.Option(help="Weight decay (not on BN and biases). (default: 5e-4)")]
LabelSmoothing = Annotated[Optional[float], typer.Option(help="Label smoothing in [0, 1). (default: 0)")]
ZeroInit = Annotated[Optional[bool], typer.Option("--zero-init-residual/--no-zero-init-residual", help="Zero the last BN of each residual branch. (default: off)")]
NumClasses = Annotated[Optional[int], typer.Option(help="Expected class count; must agree with the data. (default: the data's)")]
Freeze = Annotated[Optional[str], typer.Option(help="none | backbone (a linear probe) | stages:K (the last K stages and the head). (default: none)")]
BackboneLr = Annotated[Optional[float], typer.Option(help="The backbone's learning rate is --lr times this. (default: 1)")]
Dataset = Annotated[Optional[str], typer.Option(help="cifar10 | folder | synthetic. (default: cifar10; finetune: folder)")]
Data = Annotated[Optional[str], typer.Option(help="Data folder (cifar10: where the archive goes; folder: has train/<class>/ and test/<class>/). (default: data)")]
Download = Annotated[Optional[bool], typer.Option("--download/--no-download", help="Download CIFAR-10 if missing. (default: download)")]
SkipBad = Annotated[Optional[bool], typer.Option("--skip-bad-images/--no-skip-bad-images", help="folder: skip unreadable images (counted) instead of stopping. (default: off)")]
ValSplit = Annotated[Optional[float], typer.Option(help="Held-out validation: a fraction (<1) or a count of training images. (default: 0)")]
TrainSubset = Annotated[Optional[int], typer.Option(help="Train on the first N images, class-balanced (0 = all). (default: 0)")]
ImageSize = Annotated[Optional[int], typer.Option(help="Square input size images are resized to. (default: 32; the parent's; 224 with --pretrained)")]
CropPadding = Annotated[Optional[int], typer.Option(help="Random-crop padding in pixels (0 = no crop). (default: 4, or image size / 8)")]
Flip = Annotated[Optional[bool], typer.Option("--flip/--no-flip", help="Random horizontal flips. (default: on)")]
Rotate = Annotated[Optional[float], typer.Option(help="Random rotation in +-degrees (0 = off). (default: 0)")]
Cutout = Annotated[Optional[int], typer.Option(help="Zero a random square of this side in each training image (0 = off). (default: 0)")]
Device = Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N | mps. (default: auto)")]
Precision = Annotated[Optional[str], typer.Option(help="auto | fp32 | bf16 | fp16 (auto: bf16 on CUDA, fp32 elsewhere).")]
ChannelsLast = Annotated[Optional[str], typer.Option(help="auto | on | off (auto: on for CUDA and CPU).")]
Compile = Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the training step; its warm-up is timed apart and reported. (default: off)")]
KeepLast = Annotated[Optional[int], typer.Option(help="Also keep the last K epoch-end checkpoints as epoch_NNNN.pt. (default: 0)")]
Deterministic = Annotated[Optional[bool], typer.Option("--deterministic/--no-deterministic", help="Deterministic kernels (slower): the same seed gives bit-identical runs. (default: off)")]
AutoBatch = Annotated[Optional[bool], typer.Option("--auto-batch-size/--no-auto-batch-size", help="Halve --batch-size until a training step fits in device memory. (default: off)")]
EvalEvery = Annotated[Optional[int], typer.Option(help="Evaluate every N epochs and after the last; 0 = only after the last. (default: 1)")]
Tta = Annotated[Optional[bool], typer.Option("--tta/--no-tta", help="Evaluate with flip test-time augmentation. (default: off)")]
Seed = Annotated[Optional[int], typer.Option(help="Random seed, 0..2^32-1. (default: 0)")]
RunDir = Annotated[Optional[str], typer.Option(help="Parent folder of run directories. (default: checkpoints)")]
Name = Annotated[Optional[str], typer.Option(help="Run name. (default: <arch>-<dataset>-<time>; finetune: <parent>-ft-<dataset>-<time>)")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object with the results on stdout (progress goes to stderr).")]


def _milestones(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--milestones must be comma-separated whole epochs, e.g. 91,136 (got {text!r})") from None


def _given(**values: Any) -> dict[str, Any]:
    """The options the user gave (typer passes None for the others), as TrainConfig fields."""
    if "milestones" in values:
        values["milestones"] = _milestones(values["milestones"])
    if "tta" in values:
        values["eval_tta"] = values.pop("tta")
    return {k: v for k, v in values.items() if v is not None}


def _check(cfg, models: Optional[list[str]] = None, file: Optional[str] = None,
           from_file: Optional[dict[str, Any]] = None, given: Optional[dict[str, Any]] = None) -> None:
    """The cheap rules, before torch is imported, so a typo answers at once. A bad value that came
    from a config file (and no option replaced) is reported with the file's name and the key."""
    from core.config import validate_config

    errors = validate_config(cfg, models)
    if errors:
        error = errors[0]
        if file is not None and error.field in (from_file or {}) and error.field not in (given or {}):
            raise CliError(f"{file}: {error.field} {error.message}")
        raise CliError(str(error))


@app.command()
def train(
    arch: Arch = None, epochs: Epochs = None, lr: Lr = None, batch_size: BatchSize = None,
    optimizer: OptimizerOpt = None, momentum: Momentum = None, nesterov: Nesterov = None, schedule: Schedule = None,
    warmup_epochs: Warmup = None, milestones: Milestones = None, gamma: Gamma = None,
    weight_decay: WeightDecay = None, label_smoothing: LabelSmoothing = None, zero_init_residual: ZeroInit = None,
    num_classes: NumClasses = None,
    pretrained: Annotated[Optional[bool], typer.Option("--pretrained/--no-pretrained", help="tv-resnet18/50: start from torchvision's ImageNet weights (cached by torchvision; no network needed once cached).")] = None,
    weights: Annotated[Optional[str], typer.Option(help="tv-resnet18/50: a local ImageNet weights file (loaded weights-only).")] = None,
    freeze: Freeze = None, backbone_lr_mult: BackboneLr = None,
    dataset: Dataset = None, data: Data = None, download: Download = None, skip_bad_images: SkipBad = None,
    val_split: ValSplit = None, train_subset: TrainSubset = None, image_size: ImageSize = None,
    crop_padding: CropPadding = None, flip: Flip = None, rotate: Rotate = None, cutout: Cutout = None,
    device: Device = None, precision: Precision = None, channels_last: ChannelsLast = None, tta: Tta = None,
    eval_every: EvalEvery = None, compile: Compile = None, keep_last: KeepLast = None,
    deterministic: Deterministic = None, auto_batch_size: AutoBatch = None, seed: Seed = None,
    run_dir: RunDir = None, name: Name = None,
    preset: Annotated[Optional[str], typer.Option(help="Start from a preset; options given override it: quick-look (synthetic, resnet20, 2 epochs), paper (He et al.'s CIFAR recipe for resnet20-110), speed94 (resnet9, Page's DAWNBench recipe, for a GPU), cpu10 (resnet20 tuned for 10 minutes on a 2-core CPU).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Read settings from a JSON or TOML file (a run's config.json works as is); options given override it.")] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config as JSON and exit without training.")] = False,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run in this directory (add --epochs N to extend it).")] = None,
    as_json: Json = False,
) -> None:
    """Train a model headless (scripts, nohup, batch jobs). Ctrl-C stops after the current batch and saves.

    Settings come from, in order: the defaults, --preset, --config FILE, then the options given.
    """
    given = _given(
        arch=arch, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
        nesterov=nesterov, schedule=schedule, warmup_epochs=warmup_epochs, milestones=milestones, gamma=gamma,
        weight_decay=weight_decay, label_smoothing=label_smoothing, zero_init_residual=zero_init_residual,
        num_classes=num_classes, pretrained=pretrained, weights=weights, freeze=freeze,
        backbone_lr_mult=backbone_lr_mult, dataset=dataset, data=data, download=download,
        skip_bad_images=skip_bad_images, val_split=val_split, train_subset=train_subset, image_size=image_size,
        crop_padding=crop_padding, flip=flip, rotate=rotate, cutout=cutout, device=device, precision=precision,
        channels_last=channels_last, tta=tta, eval_every=eval_every, compile=compile, keep_last=keep_last,
        deterministic=deterministic, auto_batch_size=auto_batch_size, seed=seed, run_dir=run_dir, name=name,
    )
    from core.config import TrainConfig

    if resume is None:
        from core.presets import PRESETS

        if preset is not None and preset not in PRESETS:
            raise CliError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
        base = TrainConfig(**PRESETS[preset].values) if preset else TrainConfig()
        from_file: dict[str, Any] = {}
        if config is not None:
            from core.config_file import load_config_file
            from core.errors import UserError

            try:
                from_file = load_config_file(config)
            except UserError as e:
                raise CliError(str(e)) from None
        chosen = from_file | given
        if chosen.get("pretrained") or chosen.get("weights"):
            # ImageNet weights come with their input size: 224 unless asked otherwise.
            size = chosen.get("image_size", 224)
            base = base.replace(image_size=size, crop_padding=max(1, size // 8))
        cfg = base.replace(**from_file).replace(**given)
        _check(cfg, file=config, from_file=from_file, given=given)
        if config is not None or print_config:
            from core.models import list_models  # the architecture too, before anything is written

            _check(cfg, list_models(), file=config, from_file=from_file, given=given)
        if print_config:
            typer.echo(json.dumps(cfg.to_dict(), indent=2))
            raise typer.Exit(0)
    else:
        for flag, used in (("--preset", preset is not None), ("--config", config is not None),
                           ("--print-config", print_config)):
            if used:
                raise CliError(f"{flag} cannot be combined with --resume (the run's config fixes its settings)")
        cfg = TrainConfig()
    raise typer.Exit(_run_training(cfg, resume, given, as_json))


@app.command()
def finetune(
    run_or_ckpt: Annotated[str, typer.Argument(help="The run directory (its final weights) or checkpoint file to start from.")],
    data: Data = None, dataset: Dataset = None, num_classes: NumClasses = None,
    freeze: Freeze = None, backbone_lr_mult: BackboneLr = None, arch: Arch = None,
    epochs: Epochs = None, lr: Lr = None, batch_size: BatchSize = None, optimizer: OptimizerOpt = None,
    momentum: Momentum = None, nesterov: Nesterov = None, schedule: Schedule = None, warmup_epochs: Warmup = None,
    weight_decay: WeightDecay = None, label_smoothing: LabelSmoothing = None, download: Download = None,
    skip_bad_images: SkipBad = None, val_split: ValSplit = None, train_subset: TrainSubset = None,
    image_size: ImageSize = None, crop_padding: CropPadding = None, flip: Flip = None, rotate: Rotate = None,
    device: Device = None, precision: Precision = None, channels_last: ChannelsLast = None, tta: Tta = None,
    eval_every: EvalEvery = None, keep_last: KeepLast = None, deterministic: Deterministic = None,
    auto_batch_size: AutoBatch = None, seed: Seed = None, run_dir: RunDir = None, name: Name = None,
    as_json: Json = False,
) -> None:
    """Fine-tune a trained model on a new dataset: its head is replaced for the new classes (from the data).

    Writes a new run that records its parent; optimiser, schedule and epochs start fresh.
    """
    given = _given(
        num_classes=num_classes, freeze=freeze, backbone_lr_mult=backbone_lr_mult, epochs=epochs, lr=lr,
        batch_size=batch_size, optimizer=optimizer, momentum=momentum, nesterov=nesterov, schedule=schedule,
        warmup_epochs=warmup_epochs, weight_decay=weight_decay, label_smoothing=label_smoothing, dataset=dataset,
        data=data, download=download, skip_bad_images=skip_bad_images, val_split=val_split, train_subset=train_subset,
        image_size=image_size, crop_padding=crop_padding, flip=flip, rotate=rotate, device=device,
        precision=precision, channels_last=channels_last, tta=tta, eval_every=eval_every, keep_last=keep_last,
        deterministic=deterministic, auto_batch_size=auto_batch_size, seed=seed, run_dir=run_dir, name=name,
    )
    from core.finetune_config import finetune_base, from_parent

    probe = finetune_base(**given)
    if probe.dataset == "folder" and "data" not in given:
        raise CliError("--data is required: the folder with train/<class>/ and test/<class>/ to fine-tune on")
    _check(probe)  # values first, before the parent checkpoint is read (which needs torch)
    from core.errors import UserError
    from core.finetune import read_parent

    try:
        parent, _ = read_parent(run_or_ckpt)
    except UserError as e:
        raise CliError(str(e)) from None
    if arch is not None and arch != parent.arch:
        raise CliError(f"--arch {arch}: {parent.path} is a {parent.arch} checkpoint; fine-tuning keeps its architecture")
    cfg = from_parent(probe, parent, given)
    _check(cfg)
    raise typer.Exit(_run_training(cfg, None, given, as_json))


def _run_training(cfg, resume: Optional[str], given: dict[str, Any], as_json: bool) -> int:
    import threading

    from core.errors import UserError
    from core.train import fit

    from .console import PlainSink, RichSink

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the last epoch's checkpoint stays)
        received.append(signum)
        stop.set()
        again = " (Ctrl-C again to abort at once)" if signum == signal.SIGINT else ""
        print(f"\nstopping after this batch and saving a checkpoint{again}", file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    out = sys.stderr if as_json else sys.stdout
    sink = RichSink() if sys.stderr.isatty() else PlainSink(out)
    try:
        result = fit(cfg, sink, stop, resume=resume, resume_overrides=given if resume else None)
    except UserError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        print("\naborted; last.pt (if any) holds the last finished epoch", file=sys.stderr)
        return EXIT_SIGINT
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_dir": str(result.run_dir),
                    "arch": _arch_of(result),
                    "epochs": result.epochs,
                    "epochs_completed": result.epochs_completed,
                    "final_test_acc": result.final_test_acc,
                    "best_val_acc": result.best_val_acc,
                    "train_seconds": round(result.train_seconds, 3),
                    "images_per_sec": result.images_per_sec,
                    "status": result.status,
                    "error": result.error,
                }
            )
        )
    if result.status == "stopped" and result.run_dir is None:
        print("stopped before training started; nothing was written", file=sys.stderr)
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else EXIT_SIGINT
    if result.status == "stopped":
        if result.stopped_at is not None:
            epoch, batch, steps = result.stopped_at
            where = f"at epoch {epoch}, batch {batch}/{steps}"
        else:
            done = result.epochs_completed
            where = f"after {done} finished epoch{'s' if done != 1 else ''}"
        print(
            f"stopped {where}; state saved in {result.run_dir}/last.pt\n"
            f"resume with: resnet-tui train --resume {result.run_dir}",
            file=sys.stderr,
        )
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else EXIT_SIGINT
    if result.status == "failed":
        err(f"training failed: {result.error}")
        return EXIT_FAILED
    return 0


def _arch_of(result) -> Optional[str]:
    from core.runs import CONFIG, read_json

    cfg = read_json(Path(result.run_dir) / CONFIG) if result.run_dir else None
    return (cfg or {}).get("train", {}).get("arch")
