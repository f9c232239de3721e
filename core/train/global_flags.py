"""The process-wide torch flags a run sets for its duration and puts back when it ends (the app trains one
run after another in one process): determinism, cuDNN autotuning, and what "fp32" means on CUDA."""

from __future__ import annotations

import os

import torch


class Determinism:
    """--deterministic turns every knob (restored when the run ends); otherwise cuDNN may pick the fastest kernels.

    On CUDA, ``--precision fp32`` means full fp32: PyTorch lets cuDNN convolutions use TF32 (10-bit mantissa)
    on Ampere and later by default, so "fp32" there would silently be TF32. With bf16 or fp16 autocast the
    convolutions run in 16 bits anyway and TF32 is allowed for what stays in fp32.
    """

    def __init__(self) -> None:
        self._previous: tuple[tuple[bool, bool], bool, bool, bool, bool] | None = None

    def apply(self, deterministic: bool, device: torch.device, precision: str = "fp32") -> None:
        self._previous = (
            _algorithms(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cuda.matmul.allow_tf32,
        )
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            # warn_only: the few ops without a deterministic kernel (e.g. adaptive max-pool's CUDA backward)
            # warn instead of stopping the run.
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        else:
            torch.backends.cudnn.benchmark = device.type == "cuda"
        if device.type == "cuda":
            tf32 = precision != "fp32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32

    def restore(self) -> None:
        """Put back the flags apply() found (nothing if it never ran)."""
        flags = self._previous
        if flags is not None:
            if _algorithms() != flags[0]:
                # Only when it changes: torch.use_deterministic_algorithms imports torch._inductor's config (up to
                # 1.5 s of imports here), which a run that never asked for determinism should not pay.
                torch.use_deterministic_algorithms(flags[0][0], warn_only=flags[0][1])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1], flags[2]
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags[3], flags[4]


def _algorithms() -> tuple[bool, bool]:
    """torch's deterministic-algorithms setting: (on, warn only)."""
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
