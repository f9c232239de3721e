"""The GPU check's `search` step: a 4-trial Optuna search with one worker per visible GPU (--gpus all), and
more workers than GPUs refused. Optuna is not in the lent GPU machine's image: when it cannot be imported the
step unpacks the wheels in bench/.wheels (optuna and its dependencies but numpy, for that machine's Python,
carried with the device tool; README "Measured on an NVIDIA H200" says how) into a folder of the step's own,
and says SKIP when there are none.
--smoke: one CPU worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / "bench" / ".wheels"


def _optuna_path(work: Path, skip) -> str:
    """'' when optuna imports here; else a folder it was installed into from the carried wheels."""
    try:
        import optuna  # noqa: F401

        return ""
    except ImportError:
        pass
    if not WHEELS.is_dir():
        raise skip(f"optuna is not installed and {WHEELS} has no wheels to install it from")
    import zipfile

    target = work / "pylib"
    for wheel in sorted(WHEELS.glob("*.whl")):  # a wheel unpacked on the path is importable: no pip needed
        zipfile.ZipFile(wheel).extractall(target)
    return str(target)


def step_search(smoke: bool, work: Path, skip=RuntimeError) -> dict:
    extra = _optuna_path(work, skip)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), extra, os.environ.get("PYTHONPATH", "")) if p)}
    common = ["--dataset", "synthetic", "--arch", "resnet20", "--epochs", "2", "--lr", "0.02:0.4:log",
              "--weight-decay", "1e-5:1e-3:log", "--sampler", "random", "--pruner", "none", "--run-dir", str(work)]
    size = (["--train-subset", "256", "--batch-size", "64", "--image-size", "16", "--device", "cpu", "--workers", "1"]
            if smoke else ["--train-subset", "8192", "--batch-size", "256", "--gpus", "all"])

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=240)

    start = time.perf_counter()
    done = cli("search", *common, *size, "--trials", "4", "--name", "s", "--json")
    assert done.returncode == 0, done.stderr[-800:]
    found = json.loads(done.stdout)
    seconds = time.perf_counter() - start
    states = [t["state"] for t in found["trials"]]
    assert states == ["complete"] * 4, states
    devices = sorted({t["device"] for t in found["trials"]})
    assert found["best"]["test_acc"] is not None
    workers = 1 if smoke else _gpus()
    refused = None
    if not smoke:  # the CPU's refusals are the CLI tests' (tests/tui/cli/test_search.py)
        refused = cli("search", *common, *size[:-2], "--device", "cuda", "--workers", str(workers + 1), "--name", "r")
        assert refused.returncode == 2 and "more workers than" in refused.stderr, refused.stderr[-400:]
    return {"trials": len(states), "devices": devices, "workers": workers, "seconds": round(seconds, 1),
            "best_val_acc": found["best"]["val_acc"], "best_test_acc": found["best"]["test_acc"],
            "refused": refused.stderr.strip().splitlines()[-1][:160] if refused else None}


def _gpus() -> int:
    import torch

    return torch.cuda.device_count()
