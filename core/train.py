"""fit(): train a registry model on a dataset, reporting through events, stoppable, resumable.

Everything that can be wrong with the request (config, device, data, resume target) is
checked before anything is written. Then the loop runs in the calling thread; it checks
the stop flag after every batch, saves ``last.pt`` after every epoch (and on a stop, at the
exact batch), and always ends with a RunFinished event.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import runs
from .checkpoint import (
    FINAL,
    LAST,
    keep_epoch_copy,
    require_safe_torch,
    save_checkpoint,
)
from .config import TrainConfig, check_paths, validate_config
from .control import TrainControl
from .data import Augment, DataBundle, Normalize, TrainStream, load_data
from .devices import is_out_of_memory, resolve_device, resolve_precision, use_channels_last
from .errors import Cancelled, CheckpointError, UserError
from .evaluate import EvalResult, EvalStopped, autocast_context, evaluate
from .finetune import frozen_modules, load_backbone, read_parent
from .events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    EpochStarted,
    EvalEnded,
    EventSink,
    Notice,
    RunFinished,
    RunStarted,
    RunStatus,
    null_sink,
    safe_sink,
)
from .models import create_model, list_models
from .optim import build_optimizer, build_schedule, build_scheduler
from .run_lock import RunLock
from .resume import RESUME_OVERRIDES, ResumePoint, resume_config, rng_state, set_rng_state  # noqa: F401 - re-exported

class NonFiniteLoss(Exception):
    pass


@dataclass(kw_only=True)
class RunResult:
    status: RunStatus  # completed | stopped | failed
    run_dir: Path | None
    epochs_completed: int
    epochs: int
    final_test_acc: float | None
    best_val_acc: float | None
    train_seconds: float
    images_per_sec: float | None
    error: str | None = None
    stopped_at: tuple[int, int, int] | None = None  # (epoch, batch, batches per epoch) of a mid-epoch stop


def _check_class_count(expected: int, classes: list[str]) -> None:
    if expected != len(classes):
        raise UserError(
            f"--num-classes {expected} does not match the {len(classes)} classes of the data "
            f"({', '.join(classes[:6])}{', ...' if len(classes) > 6 else ''})"
        )


def check_config(cfg: TrainConfig, paths: bool = True) -> None:
    """Raise UserError with the first problem of ``cfg`` (values, then files unless ``paths`` is False)."""
    errors = validate_config(cfg, list_models())
    if not errors and paths:
        errors = check_paths(cfg)
    if errors:
        raise UserError(str(errors[0]))


PROGRESS_INTERVAL = 0.1  # seconds between BatchProgress events unless fit() is told otherwise


class _Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        sink: EventSink,
        control: TrainControl,
        data: DataBundle | None,
        resume: str | Path | None,
        resume_overrides: dict[str, Any] | None,
        progress_interval: float,
    ) -> None:
        self.sink = sink
        self.progress_interval = progress_interval
        self.control = control
        self.stop = control.stop
        self.cfg = cfg
        self.data = data
        self.resume = resume
        self.resume_overrides = resume_overrides
        self.ckpt: dict[str, Any] | None = None
        self.run_dir: Path | None = None
        self.epochs_done = 0
        self.global_step = 0
        self.best_val_acc: float | None = None
        self.final_test_acc: float | None = None
        self.train_seconds = 0.0  # over the whole run, resumed sessions included
        self.session_epochs: list[tuple[int, float]] = []  # (images, seconds) per epoch of this session
        self.partial: dict[str, Any] | None = None
        self.resumed_from: Path | None = None
        self.last_checked_step = 0  # the loss is known finite up to here (CUDA checks at progress intervals)
        self.stopped_at: tuple[int, int, int] | None = None
        self.lock: RunLock | None = None  # held while this trainer owns the run folder

    # ---------------------------------------------------------------- preparation (no writes)
    def prepare(self) -> None:
        require_safe_torch()
        if self.resume is not None:
            point = resume_config(self.resume, self.resume_overrides)
            # Before anything else: one process trains a run at a time (a second one is refused here).
            self.lock = RunLock.acquire(point.run_dir)
            self.cfg, self.ckpt, self.run_dir = point.cfg, point.ckpt, point.run_dir
            self.resumed_from = point.source
            if point.warning:
                self.sink(Notice(point.warning))
        cfg = self.cfg
        check_config(cfg, paths=self.ckpt is None)
        if self.ckpt is None:
            # Saved configs hold absolute paths, so a run can be resumed or evaluated from anywhere.
            absolute = {k: str(Path(getattr(cfg, k)).expanduser().resolve()) for k in ("data", "runs_dir", "init_from", "weights") if getattr(cfg, k)}
            cfg = self.cfg = cfg.replace(**absolute)
        self.parent = None
        parent_state = None
        if self.ckpt is None and cfg.init_from:
            self.parent, parent_state = read_parent(cfg.init_from)
            if self.parent.arch != cfg.arch:
                raise CheckpointError(
                    f"{cfg.init_from} is a {self.parent.arch} checkpoint; it cannot start a {cfg.arch} (use --arch {self.parent.arch})"
                )
        imagenet_state = None
        if self.ckpt is None and (cfg.pretrained or cfg.weights):  # before the (possibly long) data loading
            from .models.torchvision_resnet import load_imagenet_weights

            imagenet_state = load_imagenet_weights(cfg.arch, cfg.weights or None)
        self.device = resolve_device(cfg.device)
        self.precision, self.amp_dtype = resolve_precision(cfg.precision, self.device)
        self._set_determinism(cfg.deterministic)
        self.channels_last = use_channels_last(cfg.channels_last, self.device)

        if cfg.num_classes and cfg.dataset == "folder":
            # Checked against the folder names before anything is decoded (or cached).
            from .data.folder import scan_folder

            _check_class_count(cfg.num_classes, scan_folder(Path(cfg.data).expanduser()).classes)
        if self.data is None:
            self.sink(Notice(f"loading {cfg.dataset} data"))
            self.data = load_data(cfg, report=lambda m: self.sink(Notice(m)), stop=self.stop)
        data = self.data
        # Normalisation follows the weights: the parent's statistics when fine-tuning, ImageNet's for
        # torchvision weights, the run's own when resuming.
        if self.ckpt is not None and "mean" in self.ckpt:
            data.mean, data.std = tuple(self.ckpt["mean"]), tuple(self.ckpt["std"])
        elif self.parent is not None:
            data.mean, data.std = self.parent.mean, self.parent.std
        elif cfg.pretrained or cfg.weights:
            from .models.torchvision_resnet import IMAGENET_MEAN, IMAGENET_STD

            data.mean, data.std = IMAGENET_MEAN, IMAGENET_STD
        if cfg.num_classes:
            _check_class_count(cfg.num_classes, data.classes)
        if self.ckpt is not None:
            saved = self.ckpt.get("data", {})
            now = {"train_size": len(data.train), "num_classes": data.num_classes}
            if any(saved.get(k) not in (None, v) for k, v in now.items()):
                raise CheckpointError(
                    f"--resume {self.run_dir}: the data differs from when the run started ({saved} then, {now} now)"
                )

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = create_model(cfg.arch, data.num_classes, cfg.zero_init_residual, data.image_size)
        if self.parent is not None and parent_state is not None:
            load_backbone(self.model, parent_state, str(self.parent.path))
        elif imagenet_state is not None:
            load_backbone(self.model, imagenet_state, cfg.weights or "ImageNet weights")
        self.frozen = frozen_modules(self.model, cfg.freeze)
        if self.ckpt is not None:
            try:
                self.model.load_state_dict(self.ckpt["model"])
            except (RuntimeError, KeyError) as e:
                raise CheckpointError(f"--resume {self.run_dir}: the checkpoint does not fit {cfg.arch} ({str(e).splitlines()[0]})") from None
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)

        self.train_set = data.train.to(self.device)
        self.val_set = data.val.to(self.device) if data.val is not None else None
        self.test_set = data.test.to(self.device)
        self.normalize = Normalize(data.mean, data.std, self.device, self.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        if cfg.auto_batch_size and self.ckpt is None:
            fitting = self._largest_fitting_batch(cfg.batch_size, data.image_size)
            if fitting != cfg.batch_size:
                self.sink(Notice(f"--auto-batch-size: batch size {cfg.batch_size} does not fit in memory; using {fitting}"))
                cfg = self.cfg = cfg.replace(batch_size=fitting)
        augment = Augment(cfg.crop_padding, cfg.flip, cfg.rotate, cfg.cutout)
        # The data stream gets its own seed so the model init and the augmentations do not share one sequence.
        self.stream = TrainStream(self.train_set, cfg.batch_size, augment, self.normalize, seed=cfg.seed + 1)
        # The compiled module shares parameters with self.model, which is what gets saved and evaluated.
        self.train_model = torch.compile(self.model) if cfg.compile else self.model
        self.compile_seconds: float | None = None
        self.optimizer = build_optimizer(self.model, cfg, self.device)
        self.schedule = build_schedule(cfg, self.stream.steps_per_epoch)
        self.scheduler = build_scheduler(self.optimizer, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.eval_batch = min(1024, max(256, 2 * cfg.batch_size))

        if self.ckpt is not None:
            self._load_state(self.ckpt)
        else:
            self.run_dir = runs.create_run_dir(
                cfg.runs_dir, cfg.name or runs.default_run_name(cfg), explicit=bool(cfg.name)
            )
            self.lock = RunLock.acquire(self.run_dir)

    def _load_state(self, ckpt: dict[str, Any]) -> None:
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            sched = dict(ckpt["scheduler"])
            sched["lr_lambdas"] = [dict(vars(self.schedule))]  # keep the (possibly longer) new schedule
            self.scheduler.load_state_dict(sched)
            if self.scaler is not None and ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
            if not self.stream.load_state_dict(ckpt["stream"], reseed=self.cfg.seed + 1 + int(ckpt["epoch"])):
                self.sink(Notice("the run moved to another kind of device: augmentations continue from a new seed"))
            set_rng_state(ckpt["rng"], self.device)
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"--resume {self.run_dir}: the checkpoint's training state is unusable ({e})") from None
        self.epochs_done = int(ckpt["epoch"])
        self.global_step = int(ckpt["global_step"])
        self.best_val_acc = ckpt.get("best_val_acc")
        self.train_seconds = float(ckpt.get("train_seconds", 0.0))
        self.partial = ckpt.get("partial")

    # ---------------------------------------------------------------- files
    def _meta(self) -> dict[str, Any]:
        data = self.data
        assert data is not None
        return {
            "arch": self.cfg.arch,
            "num_classes": data.num_classes,
            "classes": list(data.classes),
            "mean": list(data.mean),
            "std": list(data.std),
            "image_size": data.image_size,
            "config": self.cfg.to_dict(),
            "data": {
                "train_size": len(data.train),
                "val_size": len(data.val) if data.val is not None else 0,
                "test_size": len(data.test),
                "num_classes": data.num_classes,
            },
            "torch_version": str(torch.__version__),
        }

    def _write_config(self) -> None:
        assert self.run_dir is not None and self.data is not None
        meta = self._meta()
        runs.write_config(
            self.run_dir,
            {
                "train": self.cfg.to_dict(),
                "classes": meta["classes"],
                "data": {**meta["data"], "mean": meta["mean"], "std": meta["std"], "source": self.data.source},
                "device": str(self.device),
                "precision": self.precision,
                "torch_version": str(torch.__version__),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "parent": str(self.parent.path) if self.parent is not None else None,
            },
        )

    def _status(self, status: RunStatus, error: str | None = None) -> None:
        assert self.run_dir is not None
        runs.write_status(
            self.run_dir,
            {
                "status": status,
                "epochs_completed": self.epochs_done,
                "epochs": self.cfg.epochs,
                "best_val_acc": self.best_val_acc,
                "final_test_acc": self.final_test_acc,
                "train_seconds": round(self.train_seconds, 3),
                "images_per_sec": self.images_per_sec(),
                "compile_seconds": self.compile_seconds,
                "error": error,
                "pid": os.getpid(),
                "updated": time.time(),
            },
        )

    def _save_last(self, partial: dict[str, Any] | None, announce: bool = True) -> None:
        assert self.run_dir is not None
        if partial is not None and not math.isfinite(partial["loss_sum"]):
            # On CUDA a bad step may not have been seen yet: never overwrite good weights with broken ones.
            raise NonFiniteLoss("the loss became non-finite in this epoch; last.pt keeps the last good state")
        payload = {
            "kind": "last",
            **self._meta(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epochs_done,
            "global_step": self.global_step,
            "stream": self.stream.state_dict(),
            "partial": partial,
            "rng": rng_state(self.device),
            "best_val_acc": self.best_val_acc,
            "train_seconds": self.train_seconds,
        }
        save_checkpoint(self.run_dir / LAST, payload)
        if announce:
            self.sink(CheckpointSaved(path=str(self.run_dir / LAST), epoch=self.epochs_done, kind="last", mid_epoch=partial is not None))

    def _save_final(self) -> None:
        assert self.run_dir is not None
        payload = {
            "kind": "weights",
            **self._meta(),
            "model": self.model.state_dict(),
            "epoch": self.epochs_done,
            "final_test_acc": self.final_test_acc,
        }
        save_checkpoint(self.run_dir / FINAL, payload)
        self.sink(CheckpointSaved(path=str(self.run_dir / FINAL), epoch=self.epochs_done, kind="final"))

    # ---------------------------------------------------------------- the loop
    def images_per_sec(self) -> float | None:
        """Training throughput of this session; the first epoch is left out as warm-up when 2+ ran."""
        timed = self.session_epochs[1:] if len(self.session_epochs) >= 2 else self.session_epochs
        images = sum(i for i, _ in timed)
        seconds = sum(s for _, s in timed)
        return round(images / seconds, 1) if seconds > 0 else None

    def _write_error(self, e: OSError) -> str:
        """A save that failed (disk full, read-only folder): the previous checkpoint is intact (atomic writes)."""
        import errno
        import shutil

        where = e.filename or self.run_dir
        message = f"cannot write {where}: {e.strerror or e}"
        if e.errno == errno.ENOSPC:
            try:
                free = shutil.disk_usage(self.run_dir).free  # type: ignore[arg-type]
                message += f" ({free / 2**20:.0f} MiB free)"
            except OSError:
                pass
        return message + "; the previous checkpoint is intact"

    def _largest_fitting_batch(self, batch_size: int, image_size: int) -> int:
        """Halve the batch size until one forward + backward fits in memory; the model is left as it was."""
        snapshot = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        classes = self.model.num_classes
        size = batch_size
        try:
            while True:
                try:
                    x = torch.randn(size, 3, image_size, image_size, device=self.device).contiguous(memory_format=fmt)
                    y = torch.randint(0, classes, (size,), device=self.device)
                    with autocast_context(self.device, self.amp_dtype):
                        loss = self.criterion(self.model(x).float(), y)
                    loss.backward()
                    self._sync()
                    return size
                except Exception as e:  # noqa: BLE001 - only out-of-memory errors are handled here
                    if not is_out_of_memory(e):
                        raise
                    del e
                    self.model.zero_grad(set_to_none=True)
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    if size == 1:
                        raise UserError(f"--auto-batch-size: not even one image of {self.cfg.arch} fits in {self.device}'s memory") from None
                    size //= 2
        finally:
            self.model.zero_grad(set_to_none=True)
            self.model.load_state_dict(snapshot)  # the probe's forward passes moved the BN statistics

    def _set_determinism(self, deterministic: bool) -> None:
        """--deterministic turns every knob (restored when the run ends); otherwise cuDNN may pick the fastest kernels."""
        self._previous_flags = (
            torch.are_deterministic_algorithms_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            # warn_only: the few ops without a deterministic kernel (e.g. adaptive max-pool's CUDA backward)
            # warn instead of stopping the run.
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        else:
            torch.backends.cudnn.benchmark = self.device.type == "cuda"

    def _restore_determinism(self) -> None:
        flags = getattr(self, "_previous_flags", None)
        if flags is not None:
            torch.use_deterministic_algorithms(flags[0])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]

    def _check_finite(self, value: torch.Tensor, epoch: int, where: str) -> None:
        v = float(value.detach())
        if not math.isfinite(v):
            raise NonFiniteLoss(
                f"the loss became {'nan' if math.isnan(v) else 'inf'} {where} (epoch {epoch}, lr {self._lr():.4g}); "
                "lower --lr or check the data"
            )

    def _train_mode(self) -> None:
        """Train mode, except for frozen parts: their BatchNorm statistics must not drift."""
        self.model.train()
        for m in self.frozen:
            m.eval()

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _evaluate(self, epoch: int, split: str) -> EvalResult:
        data = self.val_set if split == "val" else self.test_set
        assert data is not None and self.data is not None
        result = evaluate(
            self.model,
            data,
            self.normalize,
            self.data.num_classes,
            self.eval_batch,
            self.amp_dtype,
            tta=self.cfg.eval_tta,
            stop=self.stop,
        )
        self.sink(
            EvalEnded(
                epoch=epoch,
                split=split,
                loss=result.loss,
                accuracy=result.accuracy,
                per_class_accuracy=result.per_class_accuracy,
                confusion=result.confusion,
                classes=tuple(self.data.classes),
            )
        )
        return result

    def run(self) -> str:
        cfg, stream = self.cfg, self.stream
        steps = stream.steps_per_epoch
        total_steps = cfg.epochs * steps
        interval = self.progress_interval
        self._train_mode()
        for epoch in range(self.epochs_done + 1, cfg.epochs + 1):
            if self.stop.is_set() and self.partial is None:
                return RunStatus.STOPPED  # at an epoch boundary last.pt already holds this exact state
            train_done = False
            if self.partial is not None:  # resuming inside this epoch
                part = self.partial
                self.partial = None
                loss_sum = torch.tensor(part["loss_sum"], dtype=torch.float64, device=self.device)
                correct = torch.tensor(part["correct"], dtype=torch.int64, device=self.device)
                seen, epoch_train = int(part["seen"]), float(part["train_seconds"])
                train_done = bool(part.get("train_done", False))
            else:
                stream.start_epoch()
                loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
                correct = torch.zeros((), dtype=torch.int64, device=self.device)
                seen, epoch_train = 0, 0.0
            self.sink(EpochStarted(epoch=epoch, epochs=cfg.epochs, lr=self._lr()))
            self.last_checked_step = self.global_step
            epoch_start = time.perf_counter()
            seen_at_start = seen
            batch_at_start = stream.batch_in_epoch
            last_emit = 0.0

            def partial_state(elapsed: float, done: bool = False) -> dict[str, Any]:
                return {
                    "loss_sum": float(loss_sum),
                    "correct": int(correct),
                    "seen": seen,
                    "train_seconds": epoch_train + elapsed,
                    "train_done": done,
                }

            if self.stop.is_set():
                self._save_last(partial_state(0.0, train_done))
                self.stopped_at = (epoch, stream.batch_in_epoch, steps)
                return RunStatus.STOPPED
            for x, y in ([] if train_done else stream.epoch_batches()):
                first_compiled_step = self.compile_seconds is None and self.train_model is not self.model
                if first_compiled_step:
                    self._sync()
                    compile_start = time.perf_counter()
                with autocast_context(self.device, self.amp_dtype):
                    logits = self.train_model(x)
                    loss = self.criterion(logits.float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    if cfg.grad_clip:
                        self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    if cfg.grad_clip:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    self.optimizer.step()
                self.scheduler.step()
                self.global_step += 1
                if first_compiled_step:
                    # torch.compile traces and builds kernels on the first step: time it apart from training.
                    self._sync()
                    self.compile_seconds = time.perf_counter() - compile_start
                    epoch_start += self.compile_seconds
                    self.sink(Notice(f"torch.compile warm-up took {self.compile_seconds:.1f}s (not counted as training time)"))
                n = y.shape[0]
                seen += n
                loss_sum += loss.detach().double() * n
                correct += (logits.detach().argmax(1) == y).sum()

                now = time.perf_counter()
                batch = stream.batch_in_epoch
                if self.device.type != "cuda":
                    # Off the GPU reading the loss costs nothing: stop at the very step that went bad.
                    self._check_finite(loss, epoch, f"at step {self.global_step}")
                if now - last_emit >= interval or batch == steps:
                    last_emit = now
                    # On CUDA the only host sync of the step, at most every `interval` s; the epoch's running
                    # sum is non-finite if any step since the epoch began was.
                    self._check_finite(loss_sum, epoch, f"between steps {self.last_checked_step + 1} and {self.global_step}")
                    self.last_checked_step = self.global_step
                    loss_value = loss.detach().item()
                    elapsed = now - epoch_start
                    rate = (seen - seen_at_start) / elapsed if elapsed > 0 else 0.0
                    remaining = total_steps - self.global_step
                    sps = (batch - batch_at_start) / elapsed if elapsed > 0 else 0.0
                    self.sink(
                        BatchProgress(
                            epoch=epoch,
                            epochs=cfg.epochs,
                            batch=batch,
                            batches=steps,
                            global_step=self.global_step,
                            total_steps=total_steps,
                            loss=loss_value,
                            epoch_loss=float(loss_sum) / max(1, seen),
                            epoch_acc=int(correct) / max(1, seen),
                            lr=self._lr(),
                            images_per_sec=rate,
                            elapsed=self.train_seconds + elapsed,
                            eta=remaining / sps if sps > 0 else float("nan"),
                        )
                    )
                if self.control.save_now.is_set():
                    self.control.save_now.clear()
                    self._sync()
                    self._save_last(partial_state(time.perf_counter() - epoch_start))
                if self.control.pause.is_set():
                    self.sink(Notice(f"paused at epoch {epoch}, batch {batch}/{steps}"))
                    waited = self.control.wait_while_paused()
                    epoch_start += waited  # paused time is not training time
                    last_emit = 0.0
                    if not self.stop.is_set():
                        self.sink(Notice("resumed"))
                if self.stop.is_set():
                    self._sync()
                    elapsed = time.perf_counter() - epoch_start
                    self.train_seconds += elapsed
                    self.session_epochs.append((seen - seen_at_start, elapsed))
                    self._save_last(partial_state(elapsed))
                    self.stopped_at = (epoch, batch, steps)
                    return RunStatus.STOPPED

            self._sync()
            elapsed = time.perf_counter() - epoch_start
            epoch_train += elapsed
            self.train_seconds += elapsed
            if not train_done:
                self.session_epochs.append((seen - seen_at_start, elapsed))
            train_loss = float(loss_sum) / max(1, seen)
            if not math.isfinite(train_loss):
                raise NonFiniteLoss(f"the loss became {train_loss} in epoch {epoch} (lr {self._lr():.4g}); lower --lr")
            train_acc = int(correct) / max(1, seen)

            eval_start = time.perf_counter()
            try:
                last_epoch = epoch == cfg.epochs
                due = last_epoch or (cfg.eval_every > 0 and epoch % cfg.eval_every == 0)
                val = self._evaluate(epoch, "val") if (due and self.val_set is not None) else None
                test = self._evaluate(epoch, "test") if (last_epoch or (due and self.val_set is None)) else None
            except EvalStopped:
                # Training of this epoch is done; resume redoes only its evaluation.
                self._save_last(partial_state(0.0, done=True) | {"train_seconds": epoch_train})
                self.stopped_at = (epoch, steps, steps)
                return RunStatus.STOPPED
            eval_seconds = time.perf_counter() - eval_start
            self._train_mode()  # evaluate() restores plain train mode

            self.epochs_done = epoch
            if val is not None:
                self.best_val_acc = max(self.best_val_acc or 0.0, val.accuracy)
            if test is not None and epoch == cfg.epochs:
                self.final_test_acc = test.accuracy
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val.loss if val else None,
                "val_acc": val.accuracy if val else None,
                "test_loss": test.loss if test else None,
                "test_acc": test.accuracy if test else None,
                "lr": self._lr(),
                "train_seconds": epoch_train,
                "eval_seconds": eval_seconds,
                "images_per_sec": (seen - seen_at_start) / elapsed if elapsed > 0 and seen > seen_at_start else None,
                "global_step": self.global_step,
            }
            shown = test if test is not None else val  # the confusion matrix the runs screen shows
            if shown is not None:
                row["eval_split"] = "test" if test is not None else "val"
                row["confusion"] = [list(r) for r in shown.confusion]
                row["per_class_acc"] = list(shown.per_class_accuracy)
            assert self.run_dir is not None
            runs.append_metrics(self.run_dir, row)
            self.sink(
                EpochEnded(
                    epoch=epoch,
                    epochs=cfg.epochs,
                    train_loss=train_loss,
                    train_acc=train_acc,
                    val_loss=row["val_loss"],
                    val_acc=row["val_acc"],
                    test_loss=row["test_loss"],
                    test_acc=row["test_acc"],
                    lr=row["lr"],
                    seconds=epoch_train + eval_seconds,
                    train_seconds=epoch_train,
                    images_per_sec=row["images_per_sec"] or 0.0,
                )
            )
            self._save_last(None)
            keep_epoch_copy(self.run_dir, epoch, cfg.keep_last, {self.resumed_from} if self.resumed_from else None)
            self._status(RunStatus.RUNNING)
        self._save_final()
        return RunStatus.COMPLETED

    def execute(self) -> RunResult:
        try:
            self.prepare()
        except Cancelled:  # stopped while the data was loading: nothing was written
            self._restore_determinism()
            self.sink(RunFinished(status=RunStatus.STOPPED, run_dir="", epochs_completed=0, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None, error=None))
            return RunResult(status=RunStatus.STOPPED, run_dir=None, epochs_completed=0, epochs=self.cfg.epochs, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None)
        except Exception as e:
            self._restore_determinism()
            self.sink(RunFinished(status=RunStatus.FAILED, run_dir=str(self.run_dir or ""), epochs_completed=0, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None, error=str(e)))
            raise
        assert self.run_dir is not None and self.data is not None
        status, error = RunStatus.FAILED, None
        try:
            runs.clean_temps(self.run_dir)
            if self.ckpt is None:
                self._write_config()
                # The starting state, so that a run killed in its first epoch can still be resumed.
                self._save_last(None, announce=False)
            else:
                runs.truncate_metrics(self.run_dir, self.epochs_done)
                self.sink(Notice(f"resuming {self.run_dir.name} after epoch {self.epochs_done} (step {self.global_step})"))
            self._status(RunStatus.RUNNING)
            self.sink(
                RunStarted(
                    run_name=self.run_dir.name,
                    run_dir=str(self.run_dir),
                    arch=self.cfg.arch,
                    config=self.cfg.to_dict(),
                    classes=tuple(self.data.classes),
                    num_params=sum(p.numel() for p in self.model.parameters()),
                    device=str(self.device),
                    precision=self.precision,
                    epochs=self.cfg.epochs,
                    start_epoch=self.epochs_done,
                    steps_per_epoch=self.stream.steps_per_epoch,
                    train_size=len(self.data.train),
                    val_size=len(self.data.val) if self.data.val is not None else 0,
                    test_size=len(self.data.test),
                )
            )
            status = self.run()
        except NonFiniteLoss as e:
            error = str(e)
        except OSError as e:
            error = self._write_error(e)
        except KeyboardInterrupt:
            # A second Ctrl-C aborts at once: last.pt still holds the last finished epoch.
            status, error = RunStatus.STOPPED, "aborted (a second Ctrl-C); last.pt holds the last finished epoch"
            raise
        except Exception as e:  # noqa: BLE001 - reported, logged with its traceback, never swallowed silently
            if is_out_of_memory(e):
                bs = self.cfg.batch_size
                error = (
                    f"out of memory on {self.device} at batch size {bs} ({self.cfg.arch}); "
                    f"try --batch-size {max(1, bs // 2)} or --auto-batch-size"
                )
            else:
                error = f"{type(e).__name__}: {e}"
                try:
                    (self.run_dir / runs.ERROR_LOG).write_text(traceback.format_exc())
                    error += f" (traceback in {self.run_dir / runs.ERROR_LOG})"
                except OSError:
                    pass
        finally:
            self._restore_determinism()
            try:
                self._status(status, error)
            except OSError:
                pass
            result = RunResult(
                status=status,
                run_dir=self.run_dir,
                epochs_completed=self.epochs_done,
                epochs=self.cfg.epochs,
                final_test_acc=self.final_test_acc,
                best_val_acc=self.best_val_acc,
                train_seconds=self.train_seconds,
                images_per_sec=self.images_per_sec(),
                error=error,
                stopped_at=self.stopped_at if status == RunStatus.STOPPED else None,
            )
            self.sink(
                RunFinished(
                    status=status,  # type: ignore[arg-type]
                    run_dir=str(self.run_dir),
                    epochs_completed=self.epochs_done,
                    final_test_acc=self.final_test_acc,
                    best_val_acc=self.best_val_acc,
                    train_seconds=self.train_seconds,
                    images_per_sec=result.images_per_sec,
                    error=error,
                )
            )
        return result


def fit(
    cfg: TrainConfig,
    sink: EventSink = null_sink,
    stop: threading.Event | None = None,
    *,
    control: TrainControl | None = None,
    data: DataBundle | None = None,
    resume: str | Path | None = None,
    resume_overrides: dict[str, Any] | None = None,
    progress_interval: float | None = None,
) -> RunResult:
    """Train as ``cfg`` says (or continue the run at ``resume``), in the calling thread.

    ``stop`` (or ``control.stop``) ends the run after the current batch, saving ``last.pt``;
    ``control`` also offers pause and save-now. Raises UserError (after a RunFinished("failed")
    event) when the request is invalid, before anything is written. Failures during training
    are returned as status "failed". ``progress_interval``: seconds between BatchProgress events
    (default PROGRESS_INTERVAL); how often a viewer wants news is the viewer's business, not the run's.
    """
    if control is None:
        control = TrainControl(stop=stop or threading.Event())
    elif stop is not None:
        raise ValueError("pass either stop or control, not both")
    interval = PROGRESS_INTERVAL if progress_interval is None else progress_interval
    if not interval >= 0:
        raise ValueError(f"progress_interval must be >= 0 seconds (got {interval!r})")
    trainer = _Trainer(cfg, safe_sink(sink), control, data, resume, resume_overrides, interval)
    try:
        return trainer.execute()
    finally:
        if trainer.lock is not None:
            trainer.lock.release()
