"""Exporting trained weights as safetensors, and reading them back.

safetensors holds a JSON header and raw tensor bytes: nothing in it can execute. The model's
description (architecture, class names, normalisation, input size) travels in the header's
string metadata, so an exported file is enough for evaluate and predict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.atomic import atomic_save
from core.errors import CheckpointError
from core.train.checkpoint import FORMAT, load_checkpoint, resolve_checkpoint, strip_compile_prefix

META_KEYS = ("arch", "classes", "mean", "std", "image_size")


def export_safetensors(run_or_ckpt: str | Path, out: str | Path | None = None) -> Path:
    """Write the model weights of a run (final.pt, else last.pt) or checkpoint as safetensors; returns the path."""
    from safetensors.torch import save

    source = resolve_checkpoint(run_or_ckpt)
    ckpt = load_checkpoint(source)
    try:
        state = strip_compile_prefix(ckpt["model"])
        meta = {"format": FORMAT, **{k: json.dumps(ckpt[k]) for k in META_KEYS}}
    except KeyError as e:
        raise CheckpointError(f"{source} lacks {e} and cannot be exported") from None
    meta["config"] = json.dumps(ckpt.get("config", {}))
    # safetensors refuses tensors that share memory; every tensor gets its own contiguous copy.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    target = Path(out) if out else source.parent / "model.safetensors"
    data = save(tensors, metadata=meta)
    atomic_save(target, lambda fh: fh.write(data))
    return target


def load_safetensors(path: str | Path) -> dict[str, Any]:
    """A checkpoint-like dict (model state and description) from an exported file."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p} is not a readable safetensors file ({str(e).splitlines()[0][:160]})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p} was not exported by resnet-tui (no {FORMAT!r} format tag in its metadata)")
    try:
        out: dict[str, Any] = {k: json.loads(meta[k]) for k in META_KEYS}
        out["config"] = json.loads(meta.get("config", "{}"))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{p} has incomplete metadata ({e})") from None
    out["model"] = state
    out["format"] = FORMAT
    return out
