"""Checkpoint files: atomic saves and loads that can never execute code.

Every load goes through ``torch.load(..., weights_only=True)``: the file may hold only
tensors, numbers, strings and containers of them. A file that needs anything else (a
pickled class, a function call such as ``os.system``) is refused with a clear message and
its payload never runs. That is why the payloads here are plain dicts, with configs as
``dataclasses.asdict`` output and no numpy or pathlib objects.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_save
from core.errors import CheckpointError

FORMAT = "resnet-tui/1"
MIN_TORCH = (2, 6)
from core.runs.layout import EPOCH_FILE, FINAL, LAST  # noqa: E402,F401 - re-exported


def torch_version_ok(version: str | None = None) -> bool:
    parts = (version or torch.__version__).split("+")[0].split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= MIN_TORCH
    except (ValueError, IndexError):
        return False


def require_safe_torch(version: str | None = None) -> None:
    """Refuse to run on torch < 2.6, whose weights-only loader had a code-execution hole (CVE-2025-32434)."""
    if not torch_version_ok(version):
        raise CheckpointError(
            f"torch {version or torch.__version__} is too old: resnet-tui needs torch >= 2.6 for safe checkpoint loading"
        )


def _first_line(error: Exception, limit: int = 200) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    line = (text.splitlines() or [type(error).__name__])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _refused_global(error: Exception) -> str | None:
    """The global a weights-only load refused (e.g. "posix.system"), or None if the file was just unreadable."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    match = re.search(r"GLOBAL ([\w.]+)", text)
    return match.group(1) if match else None


class _WriteRecorder:
    """A file wrapper that remembers the OSError of a failed write.

    torch.save turns a failing write (a full disk) into a RuntimeError such as "[enforce fail at
    inline_container.cc] unexpected pos"; with the recorded error the caller can say what happened.
    """

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def _torch_save(payload: dict[str, Any], fh: Any) -> None:
    recorder = _WriteRecorder(fh)
    try:
        torch.save(payload, recorder)
    except RuntimeError:
        if recorder.error is not None:
            raise recorder.error from None
        raise


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, **payload}
    atomic_save(path, lambda fh: _torch_save(payload, fh))


def _looks_saved(p: Path) -> bool:
    """Whether the file starts as torch.save's files do: a zip archive, or (the legacy format) a pickle.
    An empty file counts as one (a save cut off at its start: truncated)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return True
    return not head or head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def weights_only_load(p: Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(p, weights_only=True)`` with every failure turned into a one-line CheckpointError:
    a file that asks to run code is *refused* (naming the global it wanted), anything else is *corrupt*."""
    require_safe_torch()
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _refused_global(e)
        if refused:
            raise CheckpointError(
                f"refusing to load {p}: it asks to run or build {refused}, which a weights-only load never does"
            ) from None
        raise CheckpointError(f"{p} is corrupt or not a checkpoint ({_first_line(e)})") from None
    except MemoryError:
        raise CheckpointError(f"not enough memory to load {p} ({p.stat().st_size / 2**20:.1f} MiB)") from None
    except Exception as e:  # noqa: BLE001
        # Random or truncated bytes reach the weights-only unpickler as arbitrary opcodes and fail in
        # arbitrary ways (IndexError, TypeError, struct.error, ...). Nothing ran: weights_only forbids
        # it, so any failure here means the file is damaged, not dangerous.
        if not _looks_saved(p):  # a text file, an image, ...: the unpickler's own error would say nothing useful
            raise CheckpointError(f"{p} is not a checkpoint (not a file torch.save writes)") from None
        raise CheckpointError(f"{p} is corrupt or truncated and cannot be loaded ({_first_line(e)})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a resnet-tui checkpoint, weights-only; CheckpointError with a one-line reason otherwise."""
    require_safe_torch()
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint file at {p}")
    obj = weights_only_load(p, map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a resnet-tui checkpoint (no {FORMAT!r} format tag)")
    return obj


def run_weights(run_dir: str | Path, prefer: tuple[str, ...] = (FINAL, LAST)) -> Path | None:
    """A run's weights file: its final weights, else its last state; None when it has neither."""
    for name in prefer:
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    return None


def resolve_checkpoint(run_or_ckpt: str | Path, prefer: tuple[str, ...] = (FINAL, LAST)) -> Path:
    """A run directory -> its final weights (else its last state); a file -> itself."""
    p = Path(run_or_ckpt).expanduser()
    if p.is_dir():
        found = run_weights(p, prefer)
        if found is None:
            raise CheckpointError(f"{p} is not a run directory: it has no {' or '.join(prefer)}")
        return found
    if p.is_file():
        return p
    raise CheckpointError(f"no run directory or checkpoint file at {p}")


def strip_compile_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys saved from a torch.compile'd or DDP-wrapped model carry a prefix; drop it."""
    out = {}
    for k, v in state.items():
        for prefix in ("_orig_mod.", "module."):
            k = k.removeprefix(prefix)
        out[k] = v
    return out


def epoch_checkpoints(run_dir: str | Path) -> list[Path]:
    """The kept epoch_NNNN.pt files of a run, oldest first."""
    found = []
    for p in Path(run_dir).glob("epoch_*.pt"):
        stem = p.stem.split("_", 1)[1]
        if stem.isdigit():
            found.append((int(stem), p))
    return [p for _, p in sorted(found)]


def keep_epoch_copy(run_dir: str | Path, epoch: int, keep: int, protect: set[Path] | None = None) -> None:
    """Keep last.pt (just saved for ``epoch``) as epoch_NNNN.pt and prune to the newest ``keep`` copies.

    The copy is a hard link (no extra disk until last.pt is replaced) made under a temp name and
    renamed, so it appears whole or not at all; the new copy exists before any old one is deleted,
    and files in ``protect`` (the checkpoint a run resumed from) are never deleted.
    """
    run_dir = Path(run_dir)
    if keep <= 0:
        return
    target = run_dir / EPOCH_FILE.format(epoch)
    tmp = run_dir / f".{target.name}.tmp-link"
    tmp.unlink(missing_ok=True)
    try:
        os.link(run_dir / LAST, tmp)
        os.replace(tmp, target)
    except OSError:  # no hard links on this filesystem: copy, still atomically
        tmp.unlink(missing_ok=True)
        data = (run_dir / LAST).read_bytes()
        atomic_save(target, lambda fh: fh.write(data))
    protected = {p.resolve() for p in (protect or set())}
    kept = epoch_checkpoints(run_dir)
    for old in kept[: max(0, len(kept) - keep)]:
        if old.resolve() not in protected:
            old.unlink(missing_ok=True)
