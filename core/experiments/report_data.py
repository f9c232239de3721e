"""What a report shows, gathered and formatted (torch-free, no drawing): the runs' and sweeps' curves and tables.

`resnet-tui report` draws these with matplotlib (tui/cli/report_draw.py) into a PNG or an HTML page. A sweep's config
is drawn as the mean over its seeds per epoch with a band from the lowest to the highest seed (min..max).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.experiments import sweep as sweeps
from core.runs.facts import RunFacts, config_diff, run_facts

IDENTITY_KEYS = ("name", "runs_dir")  # config keys that differ between any two runs: not settings, left out of diffs
BAND = "band: lowest..highest seed"


@dataclass(frozen=True)
class Series:
    """One line of a curves plot: values per epoch, and for a sweep's config the band over its seeds."""
    label: str
    epochs: list[int]
    values: list[float]
    lo: list[float] | None = None
    hi: list[float] | None = None


@dataclass(frozen=True)
class SweepData:
    name: str
    path: Path
    spec: dict[str, Any]
    rows: list[dict[str, Any]]  # core.experiments.sweep.summary: one per config
    runs: list[list[RunFacts]]  # the runs of each row (the ones that have a folder yet)

    @property
    def all_runs(self) -> list[RunFacts]:
        return [f for group in self.runs for f in group]


@dataclass(frozen=True)
class ReportData:
    runs: list[RunFacts] = field(default_factory=list)  # runs given on their own
    sweeps: list[SweepData] = field(default_factory=list)

    @property
    def single(self) -> RunFacts | None:
        """The run, when the report is about one run alone."""
        return self.runs[0] if len(self.runs) == 1 and not self.sweeps else None

    @property
    def all_runs(self) -> list[RunFacts]:
        return self.runs + [f for s in self.sweeps for f in s.all_runs]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.runs] + [s.name for s in self.sweeps]

    def counts(self) -> str:
        """'3 runs', '1 sweep of 6 runs', '2 runs and 1 sweep of 6 runs'."""
        def runs(n: int) -> str:
            return f"{n} run{'' if n == 1 else 's'}"

        parts = [runs(len(self.runs))] if self.runs or not self.sweeps else []
        if self.sweeps:
            k, m = len(self.sweeps), sum(len(s.all_runs) for s in self.sweeps)
            parts.append(f"{k} sweep{'' if k == 1 else 's'} of {runs(m)}")
        return " and ".join(parts)

    def title(self, limit: int = 4) -> str:
        names = self.names
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        kind = "run" if self.single else "sweep" if len(self.sweeps) == 1 and not self.runs else "runs"
        return f"resnet-tui report ({kind}): {shown}"


def sweep_data(folder: str | Path) -> SweepData:
    folder = Path(folder)
    spec, rows = sweeps.read_spec(folder), sweeps.summary(folder)
    groups = [[run_facts(folder / r) for r in row["runs"] if (folder / r).is_dir()] for row in rows]
    return SweepData(folder.name, folder, spec, rows, groups)


# ----------------------------------------------------------------------------- curves
def acc_key(facts: list[RunFacts]) -> str:
    """test_acc per epoch where the runs recorded it, else val_acc."""
    return "test_acc" if any(f.curve("test_acc")[0] for f in facts) or not facts else "val_acc"


def run_series(facts: RunFacts, key: str, label: str | None = None) -> Series:
    xs, ys = facts.curve(key)
    return Series(label or facts.name, xs, ys)


def config_series(group: list[RunFacts], key: str, label: str) -> Series:
    """The mean over the seeds that recorded each epoch, with the lowest and highest seed as the band."""
    by_epoch: dict[int, list[float]] = {}
    for f in group:
        for x, y in zip(*f.curve(key)):
            if math.isfinite(y):
                by_epoch.setdefault(x, []).append(y)
    xs = sorted(by_epoch)
    return Series(f"{label} (mean of {len(group)})", xs, [statistics.fmean(by_epoch[x]) for x in xs],
                  [min(by_epoch[x]) for x in xs], [max(by_epoch[x]) for x in xs])


def overlay_series(data: ReportData, key: str) -> list[Series]:
    """One line per run given on its own, one per sweep config (prefixed by the sweep when there are others)."""
    out = [run_series(f, key) for f in data.runs]
    for s in data.sweeps:
        prefix = f"{s.name}: " if len(data.sweeps) > 1 or data.runs else ""
        out += [config_series(group, key, prefix + row["label"]) for row, group in zip(s.rows, s.runs)]
    return out


def last_per_class(facts: RunFacts) -> tuple[list[float], str, int] | None:
    """The newest epoch's per-class accuracy, its split and its epoch."""
    for row in reversed(facts.metrics):
        if isinstance(row.get("per_class_acc"), list):
            return [float(a) for a in row["per_class_acc"]], str(row.get("eval_split", "test")), int(row.get("epoch", 0))
    return None


def class_names(facts: RunFacts, n: int) -> list[str]:
    return facts.classes if len(facts.classes) == n else [str(i) for i in range(n)]


# ----------------------------------------------------------------------------- formatting
def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def count(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def params(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M" if n >= 10_000 else str(n)


def value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(value(x) for x in v) or "[]"
    if v == "":
        return "''"
    return str(v)


def headline(f: RunFacts) -> list[tuple[str, str]]:
    """The one-run header: what a reader looks for first."""
    epochs = f"{f.epochs_done}/{f.epochs}"
    return [("status", f.status), ("final test acc", pct(f.final_test_acc)), ("best val acc", pct(f.best_val_acc)),
            ("epochs", epochs), ("time", duration(f.train_seconds)), ("img/s", count(f.images_per_sec)),
            ("params", params(f.params)), ("arch", f.arch), ("dataset", value(f.config.get("dataset", "?")))]


def config_pairs(f: RunFacts) -> list[tuple[str, str]]:
    return [(k, value(v)) for k, v in sorted(f.config.items())]


def hardware_pairs(f: RunFacts) -> list[tuple[str, str]]:
    return [(k, value(v)) for k, v in f.hardware.items()]


RUN_COLUMNS = ["name", "arch", "final test acc", "best val acc", "epochs", "time", "img/s", "params"]


def runs_table(facts: list[RunFacts]) -> tuple[list[str], list[list[str]]]:
    """The runs side by side, then one column per config key whose value differs between them."""
    shown = {"arch", "epochs"}  # columns of their own already
    diff = [(k, vs) for k, vs in config_diff(facts) if k not in IDENTITY_KEYS and k not in shown] if len(facts) > 1 else []
    rows = []
    for i, f in enumerate(facts):
        epochs = f"{f.epochs_done}/{f.epochs}" + ("" if f.status == "completed" else f" ({f.status})")
        rows.append([f.name, f.arch, pct(f.final_test_acc), pct(f.best_val_acc), epochs, duration(f.train_seconds),
                     count(f.images_per_sec), params(f.params)] + [value(vs[i]) for _, vs in diff])
    return RUN_COLUMNS + [k for k, _ in diff], rows


SWEEP_COLUMNS = ["config", "final test acc (mean ± std)", "n", "runs", "time", "img/s"]


def sweep_table(s: SweepData) -> tuple[list[str], list[list[str]]]:
    rows = []
    for row in s.rows:
        total = len(row["runs"])
        runs = f"{row['completed']}/{total}" + (f", {row['failed']} failed" if row["failed"] else "")
        rows.append([row["label"], sweeps.mean_std_text(row), str(row["n"]), runs, duration(row["train_seconds"]),
                     count(row["images_per_sec"])])
    return SWEEP_COLUMNS, rows


def sweep_line(s: SweepData) -> str:
    """The sweep's spec in one line: its grid, seeds and the options fixed for every point."""
    grid = "; ".join(f"{k}={value(v)}" for k, v in s.spec.get("grid", {}).items())
    fixed = " ".join(f"{k}={value(v)}" for k, v in s.spec.get("fixed", {}).items())
    preset = f"; preset {s.spec['preset']}" if s.spec.get("preset") else ""
    return f"grid {grid}; {s.spec.get('seeds')} seed(s){preset}; fixed: {fixed or '-'}"
