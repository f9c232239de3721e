"""How long `resnet-tui train --background` takes to check a request, start the detached run and return
(the issue's bound: 2 s), and how long until the started run is training ("running_s": its data is loaded,
its model built and its config.json written; before that `runs list` shows it as starting).

Prints one JSON line per trial and a summary line. Each started run is stopped again at once.

    uv run python bench/background_start.py [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    from core.runs.catalog import summarize

    returns, lives = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.trials):
            t0 = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "tui.cli", "train", "--dataset", "synthetic", "--arch", "resnet20",
                 "--train-subset", "2000", "--epochs", "50", "--device", "cpu", "--run-dir", tmp, "--name", f"r{i}",
                 "--background", "--json"], cwd=ROOT, capture_output=True, text=True)
            returned = time.monotonic() - t0
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            run = Path(json.loads(done.stdout)["run_dir"])
            while summarize(run).status == "starting" and time.monotonic() - t0 < 120:
                time.sleep(0.02)
            live = time.monotonic() - t0
            subprocess.run([sys.executable, "-m", "tui.cli", "runs", "stop", str(run)], cwd=ROOT, capture_output=True)
            returns.append(returned)
            lives.append(live)
            print(json.dumps({"trial": i, "returned_s": round(returned, 3), "running_s": round(live, 3)}), flush=True)
    print(json.dumps({
        "machine": platform.node(), "python": platform.python_version(), "trials": args.trials,
        "returned_median_s": round(statistics.median(returns), 3), "returned_max_s": round(max(returns), 3),
        "running_median_s": round(statistics.median(lives), 3),
        "bound_2s_holds": max(returns) < 2.0,
    }))


if __name__ == "__main__":
    main()
