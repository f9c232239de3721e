"""Where a run continues from: its saved config (with the few options that may change), its state,
and the random-number states that make the continuation exact."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.config.train_config import TrainConfig
from core.errors import CheckpointError, UserError
from core.runs import layout
from core.train.checkpoint import LAST, epoch_checkpoints, load_checkpoint, resolve_checkpoint

# Options that may differ on --resume; everything else comes from the run's own config.
RESUME_OVERRIDES = frozenset({"epochs", "device", "compile", "compile_mode", "keep_last"})


@dataclass
class ResumePoint:
    cfg: TrainConfig
    ckpt: dict
    run_dir: Path
    source: Path  # the file it resumes from: last.pt, or a kept epoch_NNNN.pt if last.pt is unusable
    warning: str = ""


def _load_resumable(path: Path) -> dict:
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != "last":
        raise CheckpointError(f"{path.name} holds no training state")
    return ckpt


def resume_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> ResumePoint:
    """Where the run at ``run_dir`` continues from: its config with the allowed overrides, and its state.

    last.pt is used when it loads; if it is corrupt, the newest kept epoch_NNNN.pt that loads is used
    instead (with a warning); if none does, the error names last.pt's problem.
    """
    path = Path(run_dir).expanduser()
    if not path.is_dir() or not (path / layout.CONFIG).is_file():
        raise CheckpointError(f"--resume {path}: not a run directory (expected {layout.CONFIG} and {LAST} in it)")
    ckpt_path = resolve_checkpoint(path, prefer=(LAST,))
    warning = ""
    try:
        ckpt = _load_resumable(ckpt_path)
    except CheckpointError as first_error:
        for kept in reversed(epoch_checkpoints(path)):
            try:
                ckpt = _load_resumable(kept)
            except CheckpointError:
                continue
            warning = f"{ckpt_path.name} is unusable ({first_error}); resuming from {kept.name}"
            ckpt_path = kept
            break
        else:
            raise CheckpointError(f"--resume {path}: {first_error}") from None
    overrides = dict(overrides or {})
    bad = sorted(set(overrides) - RESUME_OVERRIDES)
    if bad:
        from core.config.options import BY_FIELD

        opts = ", ".join(BY_FIELD[b].option if b in BY_FIELD else b for b in bad)
        allowed = ", ".join(BY_FIELD[o].option for o in sorted(RESUME_OVERRIDES))
        raise UserError(f"{opts} cannot change on --resume (the run's config fixes it); these can: {allowed}")
    cfg = TrainConfig.from_run(ckpt["config"]).replace(**overrides)
    done = int(ckpt["epoch"])
    mid_epoch = ckpt.get("partial") is not None
    if cfg.epochs < done or (cfg.epochs == done and not mid_epoch):
        raise UserError(
            f"--resume {path}: the run has already finished {done} epoch{'s' if done != 1 else ''}"
            f" (of {cfg.epochs}); pass --epochs N with N > {done} to train further"
        )
    return ResumePoint(cfg, ckpt, path, ckpt_path, warning)


def rng_state(device: torch.device) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
    }


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
