"""The training configuration: every option's default in one place, and the allowed values the
declarations (core.config.options) and the rules (core.config.validate) refer to.

Importing this module is cheap: no torch.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

DATASETS = ("cifar10", "folder", "synthetic")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "multistep", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
RESIDENCES = ("auto", "yes", "no")  # --data-in-memory
AUGMENTS = ("auto", "padcrop", "rrc")  # --augment: auto = rrc for torchvision (tv-*) models, padcrop otherwise
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile modes; the last two use CUDA graphs
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
FREEZE_PATTERN = re.compile(r"^(none|backbone|stages:[1-9][0-9]*)$")
TORCHVISION_PREFIX = "tv-"
MAX_SEED = 2**32 - 1
RENAMED = {"run_dir": "runs_dir"}  # fields of older runs' config.json and checkpoints, under their new names
BEFORE_FIELDS = {"augment": "padcrop"}  # fields older runs lack, with the value that was then the only behaviour


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
    dataset: str = "cifar10"  # cifar10 | folder (class folders, or train/ and test/; core.data.layout) | synthetic
    data: str = "data"  # cifar10: where cifar-10-python.tar.gz lives or is downloaded; folder: the root
    download: bool = True  # cifar10: fetch the archive when it is not under `data`
    test_split: float = 0.2  # folder without test/: held out per class, < 1 a fraction, >= 1 a count
    split_seed: int = 0  # which images --test-split holds out (apart from --seed: every run of a folder shares them)
    val_split: float = 0.0  # held out of the training set: < 1 a fraction, >= 1 a count; 0 = none
    data_in_memory: str = "auto"  # folder: yes = decoded tensors, no = streamed from the files, auto = by size
    workers: int = -1  # streaming: loader worker processes; -1 = one per CPU core (at most 8), 0 = none
    cache_dir: str = ""  # where decoded images are cached; "" = $XDG_CACHE_HOME/resnet-tui (~/.cache/resnet-tui)
    train_subset: int = 0  # use only the first N training images, class-balanced; 0 = all
    image_size: int = 32  # images are decoded and resized to this square size
    augment: str = "auto"  # padcrop (pad and crop) | rrc (random resized crop, centre-crop evaluation) | auto
    crop_padding: int = 4  # padcrop: random crop after zero-padding by this many pixels; 0 = no crop
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
    final_test: bool = True  # evaluate the test set after the last epoch (a search's trials do not: it tests its best)
    runs_dir: str = "checkpoints"  # the folder that holds runs, each in its own folder (CLI: --run-dir)
    name: str = ""  # run name; "" = <arch>-<dataset>-<timestamp>
    keep_last: int = 0  # also keep the last K epoch-end checkpoints as epoch_NNNN.pt (hard links); 0 = only last.pt
    deterministic: bool = False  # deterministic kernels (slower): bit-identical runs for one seed
    auto_batch_size: bool = False  # halve the batch size until a training step fits in device memory
    chosen: str = ""  # what was chosen from the data instead of a default, and why (fine-tuning on small data)
    stall_after: float = 0.0  # seconds without training progress before viewers call the run stalled; 0 = automatic
    log: str = ""  # experiment trackers to log to as well: "mlflow[:URI]", "wandb", comma-separated (core.runs.trackers)
    tensorboard: bool = True  # also write TensorBoard event files into RUN/tensorboard/ (core.runs.tensorboard_log)

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

    @classmethod
    def from_run(cls, values: dict[str, Any]) -> "TrainConfig":
        """The config a saved run trained with: what a field added since meant then, when the run lacks it
        (a tv-* run from before --augment trained with pad-crop and evaluated whole images)."""
        return cls.from_dict({**BEFORE_FIELDS, **values})

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def augment_recipe(cfg: TrainConfig) -> str:
    """The augmentation a config trains with: --augment, or by model family when it is auto (torchvision's
    ImageNet ResNets take the transfer recipe, a random resized crop; the CIFAR nets a padded crop)."""
    if cfg.augment != "auto":
        return cfg.augment
    return "rrc" if isinstance(cfg.arch, str) and cfg.arch.startswith(TORCHVISION_PREFIX) else "padcrop"
