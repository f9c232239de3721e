"""bench/paper_table.py --smoke: the paper preset through a real `resnet-tui sweep` subprocess, tiny on the CPU.
The table lists each arch with the mean of its runs' recorded final test accuracy and the paper's number;
the same command again continues the sweep (nothing retrained) and --json gives the same rows."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench/paper_table.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def cells(out: str) -> dict[str, list[str]]:
    """The table's rows by arch: its cells, stripped."""
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| resnet")]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}


@pytest.mark.slow
def test_smoke_prints_the_table_with_the_runs_mean_next_to_the_papers_number(tmp_path):
    proc = script("--smoke", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("SMOKE RUN") and "mean nothing" in proc.stdout
    assert "[4/4] arch=resnet32 seed 1: starting" in proc.stderr  # the sweep's progress came through
    folder = tmp_path / "paper-table-smoke"
    spec = json.loads((folder / "sweep.json").read_text())
    assert spec["preset"] == "paper" and spec["grid"] == {"arch": ["resnet20", "resnet32"]} and spec["seeds"] == 2

    table = cells(proc.stdout)
    assert list(table) == ["resnet20", "resnet32"]
    accs = {}
    for arch, paper in (("resnet20", "91.25"), ("resnet32", "92.49")):
        ours, paper_cell, diff, secs, ips = table[arch]
        runs = [json.loads((folder / f"{arch}_seed{s}" / "run.json").read_text()) for s in (0, 1)]
        accs[arch] = [r["final_test_acc"] for r in runs]
        mean, std = 100 * statistics.fmean(accs[arch]), 100 * statistics.stdev(accs[arch])
        assert ours == f"{mean:.2f} ± {std:.2f} (n=2)"
        assert paper_cell == paper and diff == f"{mean - float(paper):+.2f}"
        assert secs.endswith(" s") and float(ips) > 0

    # The same command again continues the sweep: every run kept, the same table; --json gives its rows.
    again = script("--smoke", "--run-dir", str(tmp_path), "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("completed earlier, kept") == 4
    assert cells(again.stderr) == table
    rows = {r["arch"]: r for r in json.loads(again.stdout)["rows"]}
    for arch, paper in (("resnet20", 91.25), ("resnet32", 92.49)):
        assert rows[arch]["n"] == 2 and rows[arch]["paper"] == paper
        assert rows[arch]["mean"] == pytest.approx(100 * statistics.fmean(accs[arch]))


def test_a_failing_sweep_exits_non_zero(tmp_path):
    """A sweep that cannot start (here: an unknown arch) is the script's failure too, with no table."""
    proc = script("--smoke", "--run-dir", str(tmp_path), "--archs", "resnet20,nosuchnet")
    assert proc.returncode != 0 and "| arch |" not in proc.stdout
    assert "nosuchnet" in proc.stderr


def test_a_run_that_failed_still_gets_its_table_and_the_exit_code_is_the_sweeps(tmp_path, monkeypatch, capsys):
    """With the sweep faked: a failed run is shown and passed on as the exit code; resnet110 is compared with
    the paper's mean over 5 runs; a single arch (no grid axis, config {}) still gets its row."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "bench" / "paper_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = {"n": 1, "mean": 0.935, "std": None, "train_seconds": 5400.0, "images_per_sec": 4321.0, "completed": 1,
           "failed": 1, "pending": 0, "runs": ["resnet110_seed0", "resnet110_seed1"]}
    calls = []
    fake = [{**row, "label": "(one config)", "config": {}}]
    monkeypatch.setattr(mod, "run_sweep", lambda cmd: calls.append(cmd) or (1, fake))
    monkeypatch.setattr(sys, "argv", ["paper_table.py", "--archs", "resnet110", "--seeds", "2", "--run-dir",
                                      str(tmp_path), "--precision", "bf16"])
    assert mod.main() == 1
    out, err = capsys.readouterr()
    assert calls[0][-2:] == ["--precision", "bf16"] and "with options of your own: --precision bf16" in out
    ours, paper, diff, secs, ips = cells(out)["resnet110"]
    assert ours == "93.50 (n=1) of 2, 1 failed" and paper == "93.57 (best of 5; mean 93.39 ± 0.16)"
    assert diff == "+0.11 vs their mean" and secs == "90.0 min" and ips == "4321"
    assert "SMOKE" not in out and "exited 1" in err
