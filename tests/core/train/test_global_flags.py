"""A run's process-wide torch flags are set for the run and put back after it (the app trains one run after
another in one process). On CUDA "--precision fp32" turns TF32 off (cuDNN allows it by default). The CUDA
branch is exercised with a cuda torch.device object only: the flags are plain attributes, no GPU is touched."""

from __future__ import annotations

import pytest
import torch

from core.train.global_flags import Determinism


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("bf16", True), ("fp16", True)])
def test_fp32_on_cuda_is_full_fp32_and_the_flags_come_back(precision, tf32):
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    flags = Determinism()
    flags.apply(False, torch.device("cuda", 0), precision)
    try:
        assert torch.backends.cudnn.allow_tf32 is tf32 and torch.backends.cuda.matmul.allow_tf32 is tf32
        assert torch.backends.cudnn.benchmark is True
    finally:
        flags.restore()
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == before


def test_cpu_runs_leave_tf32_alone():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    flags = Determinism()
    flags.apply(True, torch.device("cpu"), "fp32")
    try:
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        flags.restore()
    assert not torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.slow  # a fresh process: ~3 s
def test_a_run_that_never_asked_for_determinism_does_not_import_inductor():
    """torch.use_deterministic_algorithms imports torch._inductor's config (up to 1.5 s here): only a run that
    changes the setting calls it, so these flags never load inductor for a plain run."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, torch\nfrom core.train.global_flags import Determinism\nflags = Determinism()\n"
            "flags.apply(False, torch.device('cpu'))\nflags.restore()\nprint('torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"
