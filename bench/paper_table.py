"""He et al. 2016 Table 6 (CIFAR-10, resnet20-110) trained again with the `paper` preset, next to the paper.

Measured: each arch's final-epoch test accuracy as mean ± sample std over seeds, beside the paper's numbers
(100 - their test error). It runs
    resnet-tui sweep --preset paper --arch resnet20,...,resnet110 --seeds K --name NAME --json
in a subprocess (its progress goes through to stderr), then prints a Markdown table: arch | ours (mean ±
std, n) | paper | ours - paper | training time per run | img/s. "Final" is the test accuracy after the
last epoch, whatever it is: no checkpoint is picked on the test set (nor on the validation set).

    uv run python bench/paper_table.py --data /scratch/cifar10 --device cuda      # 5 archs x 3 seeds, on a GPU
    uv run python bench/paper_table.py --archs resnet20,resnet56 --seeds 5 --name depth
    uv run python bench/paper_table.py --smoke            # tiny CPU run on synthetic data: checks the script only

Killed (Ctrl-C, a lost machine)? Run the same command again: the sweep folder RUN_DIR/NAME is continued,
finished runs are kept and the interrupted one resumes from its last checkpoint. Other options are passed
to `sweep` as they are (e.g. --precision bf16, --no-download); they change the sweep's spec, so the same
--name then refuses them: give another --name.

Compute: 15 runs of 182 epochs (~64k steps each); a resnet110 step costs ~6x a resnet20 one. Not timed on a
GPU yet: expect hours, not minutes (the table's time/run column is the measurement).

The `paper` preset against the paper (sec. 4.2):
  matches: SGD lr 0.1, momentum 0.9 (no Nesterov), weight decay 1e-4, batch 128, lr / 10 at ~32k and ~48k
    steps and the end at ~64k (epochs 91, 136, 182 of 351 steps on 45k images), 4-pixel pad + random
    32x32 crop + horizontal flip, single-view test, option-A (zero-padding) shortcuts, no dropout.
  differs: the preset trains on 45k images and holds 5k out for validation; the paper used the 45k/5k split
    to choose the schedule and reports models trained on the training set (read as all 50k), so ours see
    10% fewer images. Inputs are normalised per channel (mean/std), not per-pixel mean subtracted. The
    paper's batch was split over two GPUs (BN statistics over 64 images); ours is one batch of 128.
    resnet110 starts at lr 0.01 in the paper until training error is below 80% (~400 iterations); the
    preset has no such warm-up (a sweep over --arch cannot give it to one arch only).
  the paper's numbers: given without a spread (how many runs is not said), except resnet110, whose 6.43%
    is the best of 5 runs (mean 6.61 ± 0.16%); the difference for resnet110 is taken against that mean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import hardware  # noqa: E402

from core.experiments.report_data import duration  # noqa: E402 - the same "8.5 s / 3.2 min / 1.5 h" as reports

# He et al. 2016, Table 6: CIFAR-10 test error (%).
PAPER_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97, "resnet110": 6.43,
               "resnet1202": 7.93}
PAPER_MEAN_ERROR = {"resnet110": (6.61, 0.16)}  # "best (mean±std)" over 5 runs
STOP_CODES = (3, 129, 130, 143)  # a stopped run's exit codes, as in tui/cli/sweep.py
ARCHS = "resnet20,resnet32,resnet44,resnet56,resnet110"
# Smoke: synthetic data, 1 epoch of 200 images of 16 px, no validation split (the preset's 5000 is the whole
# synthetic set) and no milestones (the preset's 91,136 need more than 1 epoch).
SMOKE = ["--dataset", "synthetic", "--train-subset", "200", "--image-size", "16", "--batch-size", "50",
         "--epochs", "1", "--milestones", "", "--val-split", "0"]


def paper_acc(arch: str) -> float | None:
    return None if arch not in PAPER_ERROR else round(100 - PAPER_ERROR[arch], 2)


def sweep_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "tui.cli", "sweep", "--preset", "paper", "--arch", args.archs,
           "--seeds", str(args.seeds), "--name", args.name, "--run-dir", args.run_dir, "--json"]
    if args.smoke:
        cmd += SMOKE
    if args.data is not None:
        cmd += ["--data", args.data]
    if args.device is not None:
        cmd += ["--device", args.device]
    return cmd + extra


def run_sweep(cmd: list[str]) -> tuple[int, list[dict] | None]:
    """The sweep's exit code and its summary rows (None when it printed none, e.g. when it was stopped)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # stderr: straight through
    try:
        out, _ = proc.communicate()
    except KeyboardInterrupt:  # the sweep got the Ctrl-C too: let it save its checkpoint and stop
        out, _ = proc.communicate()
    try:
        rows = json.loads(out)
    except ValueError:
        rows = None
    return proc.returncode, rows


def table_rows(rows: list[dict], archs: str) -> list[dict]:
    out = []
    for r in rows:
        arch = r["config"].get("arch", archs)  # one arch is no grid axis: the sweep's one config
        ours = None if r["mean"] is None else 100 * r["mean"]
        paper = paper_acc(arch)
        against = paper
        if arch in PAPER_MEAN_ERROR:
            against = round(100 - PAPER_MEAN_ERROR[arch][0], 2)
        out.append({"arch": arch, "n": r["n"], "runs": len(r["runs"]), "failed": r["failed"],
                    "mean": ours, "std": None if r["std"] is None else 100 * r["std"], "paper": paper,
                    "paper_mean": against if arch in PAPER_MEAN_ERROR else None,
                    "diff": None if ours is None or against is None else ours - against,
                    "train_seconds": r["train_seconds"], "images_per_sec": r["images_per_sec"]})
    return out


def render(rows: list[dict]) -> str:
    lines = ["| arch | ours: final test acc % (mean ± std, n) | paper acc % | ours - paper | train time/run | img/s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r["mean"] is None:
            ours = f"- (n=0 of {r['runs']})"
        else:
            spread = "" if r["std"] is None else f" ± {r['std']:.2f}"
            ours = f"{r['mean']:.2f}{spread} (n={r['n']})"
            if r["n"] < r["runs"]:
                ours += f" of {r['runs']}"
        if r["failed"]:
            ours += f", {r['failed']} failed"
        paper = "-" if r["paper"] is None else f"{r['paper']:.2f}"
        if r["paper_mean"] is not None:
            paper += f" (best of 5; mean {r['paper_mean']:.2f} ± {PAPER_MEAN_ERROR[r['arch']][1]:.2f})"
        diff = "-" if r["diff"] is None else f"{r['diff']:+.2f}" + (" vs their mean" if r["paper_mean"] else "")
        ips = "-" if r["images_per_sec"] is None else f"{r['images_per_sec']:.0f}"
        lines.append(f"| {r['arch']} | {ours} | {paper} | {diff} | {duration(r['train_seconds'])} | {ips} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False,
                                epilog="Any other option is passed to `resnet-tui sweep` as is.")
    p.add_argument("--seeds", type=int, default=None, help="seeds per arch (default 3; smoke: 2)")
    p.add_argument("--archs", default=None, help=f"comma list (default {ARCHS}; smoke: resnet20,resnet32)")
    p.add_argument("--name", default=None, help="the sweep's folder in --run-dir (default paper-table; "
                                                 "smoke: paper-table-smoke); the same command continues it")
    p.add_argument("--run-dir", default=None, help="default checkpoints (smoke: a new temporary folder)")
    p.add_argument("--data", default=None, help="the CIFAR-10 folder (where the archive is or goes)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default auto; smoke: cpu)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU run on synthetic data: checks the script, not the numbers")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on stdout (the table goes to stderr)")
    args, extra = p.parse_known_args()
    args.seeds = args.seeds if args.seeds is not None else (2 if args.smoke else 3)
    args.archs = args.archs or ("resnet20,resnet32" if args.smoke else ARCHS)
    args.name = args.name or ("paper-table-smoke" if args.smoke else "paper-table")
    args.run_dir = args.run_dir or (tempfile.mkdtemp(prefix="paper-table-") if args.smoke else "checkpoints")
    if args.smoke and args.device is None:
        args.device = "cpu"

    cmd = sweep_command(args, extra)
    print("running: resnet-tui " + " ".join(repr(a) if a == "" else a for a in cmd[3:]), file=sys.stderr, flush=True)
    code, rows = run_sweep(cmd)
    folder = Path(args.run_dir) / args.name
    if rows is None:
        why = ("was stopped; the same command continues it" if code in STOP_CODES else
               "failed before its summary (its error is above)")
        print(f"paper_table: the sweep {folder} {why} (exit {code})", file=sys.stderr)
        return code or 1
    table = table_rows(rows, args.archs)
    text = render(table)
    head = f"He et al. 2016 Table 6 (CIFAR-10), `paper` preset, sweep {folder}"
    if extra:
        head += "\nwith options of your own: " + " ".join(extra)
    if args.smoke:
        head = ("SMOKE RUN: synthetic data, 1 epoch on 200 images of 16 px. These accuracies mean nothing; "
                f"only the script is checked.\n{head}")
    if args.json:
        print(f"{head}\n{text}", file=sys.stderr)
        print(json.dumps({"smoke": args.smoke, "sweep_dir": str(folder), "command": cmd[3:], "machine": hardware(),
                          "rows": table}, indent=2))
    else:
        machine = hardware()
        print(f"{head}\nmachine: {machine.get('gpu') or machine['cpu']}, torch {machine['torch']}\n\n{text}")
    if code != 0:
        print(f"paper_table: the sweep exited {code} (a run failed or was stopped); see {folder}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
