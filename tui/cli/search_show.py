"""A search shown: the table of trials, the params' importances as bars and the best trial, or all of it as JSON."""

from __future__ import annotations

import json
from typing import Any

import typer

from tui.cli.common import stdout_console


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def per_epoch_text(values: list[float], shown: int = 8) -> str:
    """'41.2 52.3 60.1', the last ``shown`` epochs of a long trial after '…'."""
    text = " ".join(f"{100 * v:.1f}" for v in values[-shown:]) or "-"
    return f"… {text}" if len(values) > shown else text


def state_counts(rows: list[dict[str, Any]]) -> str:
    """'12 complete, 3 pruned, 1 retried' ('retried as 7' counts as retried)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"].split(" ")[0]] = counts.get(r["state"].split(" ")[0], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials yet"


def best_line(best: dict[str, Any] | None) -> str:
    if best is None:
        return "best: none yet (no trial completed)"
    params = ", ".join(f"{k}={_value(v)}" for k, v in best["params"].items())
    line = f"best: trial {best['trial']} ({best['run']}) val {_pct(best['val_acc'])}% with {params}\n  result: "
    if best.get("test_acc") is None:
        return line + "not tested yet (the search was stopped; the same command tests its best when it ends)"
    tested = best.get("tested") or [best["trial"]]
    others = f"; trials tested in this search's life: {', '.join(map(str, tested))}" if len(tested) > 1 else ""
    return line + f"test accuracy {_pct(best['test_acc'])}% (the best trial's test, measured after the trials{others})"


def print_table(spec: dict[str, Any], rows: list[dict[str, Any]], best: dict[str, Any] | None, study) -> None:
    from rich.table import Table

    from core.experiments.search_results import importances

    keys = list(spec["space"])
    table = Table("trial", "state", *keys, "val acc % per epoch", "val acc %", "run", box=None, header_style="bold")
    for r in rows:
        per_epoch = per_epoch_text(r["val_acc_per_epoch"])
        table.add_row(str(r["number"]), r["state"], *(_value(r["params"].get(k, "-")) for k in keys), per_epoch,
                      _pct(r["val_acc"]), r["run"])
    console = stdout_console()
    console.print(table)
    found = importances(study)
    if found:
        console.print("importance (fANOVA, over the completed trials):")
        width = max(len(k) for k in found)
        for key, share in sorted(found.items(), key=lambda kv: -kv[1]):
            console.print(f"  {key:<{width}} {'█' * max(1, round(30 * share)) if share > 0 else ''} {share:.2f}")
    console.print(state_counts(rows))
    console.print(best_line(best))


def search_json(spec: dict[str, Any], rows: list[dict[str, Any]], best: dict[str, Any] | None, study) -> dict[str, Any]:
    from core.experiments.search_results import importances

    shown_best = None if best is None else {
        "params": best["params"], "val_acc": best["val_acc"], "test_acc": best.get("test_acc"), "run": best["run"],
        "trial": best["trial"], "tested": best.get("tested") or []}
    return {"study": spec["name"], "storage": spec["storage"], "objective": "val_acc", "best": shown_best,
            "importances": importances(study), "trials": rows}


def print_json(spec: dict[str, Any], rows: list[dict[str, Any]], best: dict[str, Any] | None, study) -> None:
    typer.echo(json.dumps(search_json(spec, rows, best, study), indent=2, default=str))
