"""Every training option declared once: its group, help, allowed values and where it appears.

The default lives on the TrainConfig field itself (core.config.train_config); everything else about an option is
here, and the rest is derived: the simple validation rules (whole-number ranges, choices), the
typer options of `train` and `finetune` with their help panels (tui.cli.options), and the app's
form fields (tui.app.form). Adding an option means a TrainConfig field, a row here and the code that
uses it. No torch, no UI library here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from core.config.train_config import (
    AUGMENTS, COMPILE_MODES, DATASETS, MAX_SEED, OPTIMIZERS, PRECISIONS, RESIDENCES, SCHEDULES, SWITCHES,
    TrainConfig,
)

GROUPS = {
    "model": "Model",
    "data": "Data",
    "optimisation": "Optimisation",
    "regularisation": "Regularisation and augmentation",
    "hardware": "Hardware and speed",
    "run": "Run and output",
}


@dataclass(frozen=True)
class Interval:
    """A finite number between two bounds; ``says`` is how the error message puts it."""

    says: str  # "a number in (0, 10]" -> "must be a number in (0, 10] (got 12.0)"
    lo: float
    hi: float | None = None  # None: no upper bound
    lo_open: bool = False
    hi_open: bool = False

    def admits(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        return above and below


@dataclass(frozen=True)
class Option:
    field: str  # the TrainConfig field
    group: str  # a key of GROUPS
    help: str  # one line for --help (the default is appended)
    flag: str = ""  # the CLI spelling without dashes when it is not the field's (eval_tta -> tta)
    choices: tuple[str, ...] = ()  # the allowed values (a rule and the form's choice list)
    int_range: tuple[int, int] | None = None  # whole number from .. to (a rule)
    interval: Interval | None = None  # a finite number within bounds (a rule)
    default_text: str = ""  # how --help shows the default when the value alone says too little
    finetune_default_text: str = ""  # the same for finetune, when it differs
    commands: tuple[str, ...] = ("train", "finetune")  # () = not an option of any command
    form: str = ""  # the setup form's label; "" = not on the setup form
    finetune_form: str = ""  # the fine-tune form's label; "" = not there
    form_help: str = ""  # the hint under the setup form's field
    finetune_form_help: str = ""  # the hint under the fine-tune form's field

    @property
    def cli_name(self) -> str:
        return self.flag or self.field

    @property
    def option(self) -> str:
        return "--" + self.cli_name.replace("_", "-")


# ----------------------------------------------------------------------------- rule helpers
@dataclass(frozen=True)
class FieldError:
    field: str  # the TrainConfig field name
    message: str  # says what is allowed, e.g. "must be a finite number > 0 (got nan)"

    @property
    def option(self) -> str:
        """The CLI spelling of the field (as core.config.options declares it)."""
        spec = BY_FIELD.get(self.field)
        return spec.option if spec is not None else "--" + self.field.replace("_", "-")

    def __str__(self) -> str:
        return f"{self.option} {self.message}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_choice(errors: list[FieldError], name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        errors.append(FieldError(name, f"must be one of {', '.join(allowed)} (got {value!r})"))


def check_int_range(errors: list[FieldError], name: str, value: Any, lo: int, hi: int) -> None:
    if not is_whole(value) or not lo <= value <= hi:
        errors.append(FieldError(name, f"must be a whole number from {lo} to {hi} (got {value!r})"))


TRAIN_ONLY = ("train",)

OPTIONS: tuple[Option, ...] = (
    # -- model --
    Option("arch", "model", "Architecture (see `resnet-tui models`).", commands=TRAIN_ONLY, form="Architecture"),
    Option("zero_init_residual", "model", "Zero the last BN of each residual branch.", commands=TRAIN_ONLY),
    Option("num_classes", "model", "Expected class count; must agree with the data.", int_range=(0, 100_000),
           default_text="the data's"),
    Option("init_from", "model", "The run or checkpoint whose weights start the run (finetune's argument).",
           commands=(), finetune_form="Checkpoint path", finetune_form_help="a run folder or a .pt file"),
    Option("pretrained", "model", "tv-resnet18/50: start from torchvision's ImageNet weights (cached by "
           "torchvision; no network needed once cached).", commands=TRAIN_ONLY),
    Option("weights", "model", "tv-resnet18/50: a local ImageNet weights file (loaded weights-only).",
           commands=TRAIN_ONLY, default_text="none"),
    Option("freeze", "model", "none | backbone (a linear probe) | stages:K (the last K stages and the head).",
           finetune_form="Freeze"),
    Option("backbone_lr_mult", "model", "The backbone's learning rate is --lr times this.",
           interval=Interval("a number in (0, 10]", 0, 10, lo_open=True),
           finetune_form="Backbone LR x", finetune_form_help="the backbone learns at lr times this"),
    # -- data --
    Option("dataset", "data", "cifar10 | folder | synthetic.", choices=DATASETS, form="Dataset",
           finetune_form="Dataset"),
    Option("data", "data", "Data folder (cifar10: where the archive goes; folder: <class>/ folders, or train/ and "
           "test/ of them, and val/ if any).", form="Data path", finetune_form="Data path",
           form_help="cifar10: where the archive goes; folder: <class>/ folders or train/ + test/",
           finetune_form_help="<class>/ folders, or train/ and test/ of them"),
    Option("download", "data", "Download CIFAR-10 if missing."),
    Option("test_split", "data", "folder without test/: test images held out of each class, a fraction (<1) or a "
           "count.", finetune_form="Test split",
           finetune_form_help="without test/: fraction of each class (<1) or number of images"),
    Option("split_seed", "data", "Which images --test-split holds out (kept apart from --seed).",
           int_range=(0, MAX_SEED)),
    Option("data_in_memory", "data", "folder: yes = decoded tensors in memory, no = streamed from the files per "
           "batch, auto = in memory when they fit half the free memory.", choices=RESIDENCES),
    Option("workers", "data", "Streaming: loader processes decoding batches (0 = none).", int_range=(-1, 64),
           default_text="1 on a CPU; on a GPU one per core, at most 8"),
    Option("cache_dir", "data", "Where decoded images are cached.", default_text="$XDG_CACHE_HOME/resnet-tui"),
    Option("skip_bad_images", "data", "folder: skip unreadable images (counted) instead of stopping."),
    Option("val_split", "data", "Held-out validation: a fraction (<1) or a count of training images.",
           form="Validation split", form_help="fraction (<1) or number of images; 0 = none"),
    Option("train_subset", "data", "Train on the first N images, class-balanced (0 = all).",
           int_range=(0, 10**9), form="Train subset", form_help="first N images, class-balanced; 0 = all"),
    Option("image_size", "data", "Square input size images are resized to.", int_range=(8, 1024),
           default_text="32; 224 with --pretrained", finetune_default_text="the parent's"),
    # -- optimisation --
    Option("epochs", "optimisation", "Epochs to train.", int_range=(1, 100_000), form="Epochs",
           finetune_form="Epochs"),
    Option("batch_size", "optimisation", "Images per step.", int_range=(1, 65_536), form="Batch size",
           finetune_form="Batch size"),
    Option("lr", "optimisation", "Peak learning rate, in (0, 10].",
           interval=Interval("a finite number > 0 and <= 10", 0, 10, lo_open=True), form="Learning rate",
           finetune_form="Learning rate"),
    Option("optimizer", "optimisation", "sgd | adam | adamw.", choices=OPTIMIZERS, form="Optimiser"),
    Option("momentum", "optimisation", "SGD momentum.", interval=Interval("a number in [0, 1)", 0, 1, hi_open=True)),
    Option("nesterov", "optimisation", "Nesterov momentum (SGD)."),
    Option("schedule", "optimisation", "onecycle | cosine | multistep | constant.", choices=SCHEDULES,
           form="LR schedule"),
    Option("warmup_epochs", "optimisation", "Linear warm-up epochs (onecycle: the peak).",
           interval=Interval("a finite number >= 0", 0)),
    Option("milestones", "optimisation", "multistep: epochs where lr *= gamma, e.g. 91,136.",
           default_text="50%,75%"),
    Option("gamma", "optimisation", "multistep decay factor.", interval=Interval("a number in (0, 1]", 0, 1, lo_open=True)),
    Option("grad_clip", "optimisation", "Clip the global gradient norm to this before each step (0 = off).",
           interval=Interval("a finite number >= 0; 0 = off", 0)),
    # -- regularisation and augmentation --
    Option("weight_decay", "regularisation", "Weight decay (not on BN and biases).", form="Weight decay",
           interval=Interval("a finite number from 0 to 1", 0, 1)),
    Option("label_smoothing", "regularisation", "Label smoothing in [0, 1).", form="Label smoothing",
           interval=Interval("a number in [0, 1)", 0, 1, hi_open=True)),
    Option("augment", "regularisation", "padcrop (pad and crop: CIFAR) | rrc (random resized crop of the source "
           "image; evaluation resizes and centre-crops).", choices=AUGMENTS,
           default_text="rrc for tv-* models, padcrop otherwise"),
    Option("crop_padding", "regularisation", "padcrop: random-crop padding in pixels (0 = no crop).",
           default_text="4, or image size / 8"),
    Option("flip", "regularisation", "Random horizontal flips."),
    Option("rotate", "regularisation", "Random rotation in +-degrees (0 = off).",
           interval=Interval("a number of degrees from 0 to 180", 0, 180)),
    Option("cutout", "regularisation", "Zero a random square of this side in each training image (0 = off)."),
    # -- hardware and speed --
    Option("device", "hardware", "auto | cpu | cuda | cuda:N | mps.", form="Device", finetune_form="Device"),
    Option("precision", "hardware", "auto | fp32 | bf16 | fp16 (auto: bf16 on GPUs with native bf16 (8.0+), fp16 on older ones, fp32 elsewhere).",
           choices=PRECISIONS),
    Option("channels_last", "hardware", "auto | on | off (auto: on for CUDA and CPU).", choices=SWITCHES),
    Option("compile", "hardware", "torch.compile the training step; its warm-up is timed apart and reported."),
    Option("compile_mode", "hardware", "default | reduce-overhead | max-autotune (with --compile; the last two replay "
           "CUDA graphs on a GPU: fewer kernel launches for small nets).", choices=COMPILE_MODES),
    Option("sync_bn", "hardware", "With several processes (torchrun): batch-norm statistics over the whole "
           "global batch, not each process's part."),
    Option("auto_batch_size", "hardware", "Halve --batch-size until a training step fits in device memory."),
    Option("deterministic", "hardware", "Deterministic kernels (slower): the same seed gives bit-identical runs."),
    # -- run and output --
    Option("seed", "run", "Random seed, 0..2^32-1.", int_range=(0, MAX_SEED), form="Seed"),
    Option("eval_tta", "run", "Evaluate with flip test-time augmentation.", flag="tta"),
    Option("eval_every", "run", "Evaluate every N epochs and after the last; 0 = only after the last.",
           int_range=(0, 100_000)),
    Option("final_test", "run", "Evaluate the test set after the last epoch (off for a search's trials: "
           "the search tests only its best trial)."),
    Option("keep_last", "run", "Also keep the last K epoch-end checkpoints as epoch_NNNN.pt.",
           int_range=(0, 1000)),
    Option("stall_after", "run", "Seconds without training progress after which viewers show the run as stalled "
           "(0 = max(10 x its median step time, 120 s)).", interval=Interval("a finite number >= 0; 0 = automatic", 0)),
    Option("chosen", "run", "What was chosen from the data instead of a default, and why (recorded, not set).",
           commands=()),
    Option("log", "run", "Also log to experiment trackers: mlflow (MLFLOW_TRACKING_URI, else a store in the runs "
           "folder), mlflow:URI, wandb (offline without a key or network); comma-separated. Needs `uv sync --extra tracking`."),
    Option("tensorboard", "run", "Also write TensorBoard event files into RUN/tensorboard/ "
           "(view with `tensorboard --logdir` on the runs folder)."),
    Option("runs_dir", "run", "Parent folder of run directories.", flag="run_dir"),
    Option("name", "run", "Run name.", default_text="arch-dataset-time",
           finetune_default_text="parent-ft-dataset-time",
           form="Run name", finetune_form="Run name", form_help="empty = <arch>-<dataset>-<time>",
           finetune_form_help="empty = <parent>-ft-<dataset>-<time>"),
)

BY_FIELD = {o.field: o for o in OPTIONS}


def declared_rule_errors(cfg: TrainConfig) -> list:
    """The rules the declarations state (choices, whole-number ranges, number intervals), in declaration
    order. The rules that need code (patterns, val_split's two forms, rules between fields) are in
    core.config.validate.validate_config."""
    errors: list[FieldError] = []
    for o in OPTIONS:
        value = getattr(cfg, o.field)
        if o.choices:
            check_choice(errors, o.field, value, o.choices)
        if o.int_range is not None:
            check_int_range(errors, o.field, value, *o.int_range)
        if o.interval is not None and not o.interval.admits(value):
            errors.append(FieldError(o.field, f"must be {o.interval.says} (got {value!r})"))
    return errors


def _check_table() -> None:
    """One row per TrainConfig field, no more: a new field without a row fails at import (and in tests)."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    missing, extra = set(fields) - set(BY_FIELD), set(BY_FIELD) - set(fields)
    if missing or extra or len(BY_FIELD) != len(OPTIONS):
        raise AssertionError(f"core.config.options: rows missing for {sorted(missing)}, unknown {sorted(extra)}, or doubled")
    for o in OPTIONS:
        if o.group not in GROUPS:
            raise AssertionError(f"core.config.options: {o.field} has an unknown group {o.group!r}")


_check_table()
