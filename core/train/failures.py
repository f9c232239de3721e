"""How a failed run explains itself: out of memory (with the peak), a lost peer of a distributed job, a failed write."""

from __future__ import annotations

from pathlib import Path

import torch

from core.config.train_config import TrainConfig
from core.hardware.devices import gib, peak_memory, total_memory


def lost_a_peer(e: BaseException) -> bool:
    """A collective that failed because another rank is gone (gloo's reset connection, NCCL's abort, a timeout)."""
    import torch.distributed as dist

    backend_error = getattr(dist, "DistBackendError", None)
    if backend_error is not None and isinstance(e, backend_error):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and any(m in text for m in (
        "Connection reset by peer", "Connection closed by peer", "gloo", "NCCL", "ProcessGroup", "timed out"))


def _first_line(e: BaseException, limit: int = 160) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def lost_peer_message(e: BaseException, world: int, run_dir: Path) -> str:
    return (f"another process of this {world}-process job died or lost its connection ({_first_line(e)}); "
            f"last.pt holds the last checkpoint: resume with --resume {run_dir}")


def out_of_memory_message(device: torch.device, cfg: TrainConfig) -> str:
    """What ran out, where, and what to try; on CUDA with the epoch's peak next to the device's size."""
    bs = cfg.batch_size
    used = ""
    peak, total = peak_memory(device), total_memory(device)
    if peak is not None and total is not None:
        used = f"; peak {gib(peak)} allocated of {gib(total)}"
    return (f"out of memory on {device} at batch size {bs} ({cfg.arch}{used}); "
            f"try --batch-size {max(1, bs // 2)} or --auto-batch-size")


def write_error_message(e: OSError, run_dir: Path) -> str:
    """A save that failed (disk full, read-only folder): the previous checkpoint is intact (atomic writes)."""
    import errno
    import shutil

    where = e.filename or run_dir
    message = f"cannot write {where}: {e.strerror or e}"
    if e.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(run_dir).free
            message += f" ({free / 2**20:.0f} MiB free)"
        except OSError:
            pass
    return message + "; the previous checkpoint is intact"


def bad_image_message(e: BaseException, run_dir: Path) -> str:
    """A streamed image that cannot be read: the run saved its state just before the batch (or evaluation) it
    was in."""
    return (f"{e}; last.pt holds the run up to there: repair or replace the file and resume with "
            f"--resume {run_dir} (or start with --skip-bad-images to leave such files out)")
