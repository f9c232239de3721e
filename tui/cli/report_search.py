"""`resnet-tui report SEARCH`: a search's optimisation history, its params' importances and its best trial's
curves, as one PNG or a self-contained HTML page (with the table of trials)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from tui.cli.report_draw import WIDTH, _header, _no_data, png_bytes, run_curves


def search_facts(folder: Path) -> dict[str, Any]:
    """The snapshot of the search, with its best trial's run facts (None before a trial completes)."""
    from core.experiments.search_results import snapshot
    from core.runs.facts import run_facts

    found = snapshot(folder)
    best = found["best"]
    run = folder / best["run"] if best else None
    found["best_facts"] = run_facts(run) if run is not None and run.is_dir() else None
    return found


def history(ax, found: dict[str, Any]) -> None:
    """Each trial's validation accuracy by trial number (pruned ones at their last epoch, hollow), and the best so far."""
    ax.set_label("history")
    rows = found["rows"]
    done = [(r["number"], 100 * r["val_acc"]) for r in rows if r["val_acc"] is not None]
    pruned = [(r["number"], 100 * r["val_acc_per_epoch"][-1]) for r in rows if r["state"] == "pruned" and r["val_acc_per_epoch"]]
    if not done and not pruned:
        _no_data(ax, "no trial has finished")
    if done:
        ax.scatter(*zip(*done), label="completed", color="tab:blue", zorder=3)
    if pruned:
        ax.scatter(*zip(*pruned), label="pruned (last epoch)", facecolors="none", edgecolors="tab:grey", zorder=3)
    steps = found["best_so_far"]
    if steps:
        ax.step([n for n, _ in steps], [100 * v for _, v in steps], where="post", color="tab:orange", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("optimisation history")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    if done or pruned:
        ax.legend(loc="lower right", fontsize=8)


def importance_bars(ax, found: dict[str, Any]) -> None:
    ax.set_label("importance")
    shares = sorted(found["importances"].items(), key=lambda kv: kv[1])
    if not shares:
        _no_data(ax, "importances need 3 completed trials")
    else:
        ax.barh([k for k, _ in shares], [v for _, v in shares], color="tab:green")
        ax.set_xlim(0, 1)
    ax.set_title("parameter importance (fANOVA)")


def headline(found: dict[str, Any]) -> str:
    from core.experiments.search_space import describe

    spec, best = found["spec"], found["best"]
    from tui.cli.search_show import state_counts

    line = f"{describe(spec['space'])}; {spec['sampler']} sampler, {spec['pruner']} pruner; {state_counts(found['rows'])}"
    if best:
        test = "not tested yet" if best.get("test_acc") is None else f"{100 * best['test_acc']:.2f}% (measured after the trials)"
        line += f"\nbest: trial {best['trial']} ({best['run']}) validation {100 * best['val_acc']:.2f}%; result: its test accuracy {test}"
    return line


def search_figure(found: dict[str, Any], date: str) -> Figure:
    heights = [1.0, 4.0, 3.6]
    fig = Figure(figsize=(WIDTH, sum(heights)), layout="constrained")
    gs = fig.add_gridspec(3, 2, height_ratios=heights, width_ratios=[1.3, 1])
    _header(fig, gs[0, :], f"search {found['spec']['name']}", headline(found), date)
    history(fig.add_subplot(gs[1, 0]), found)
    importance_bars(fig.add_subplot(gs[1, 1]), found)
    ax_loss, ax_acc = fig.add_subplot(gs[2, 0]), fig.add_subplot(gs[2, 1])
    if found["best_facts"] is not None:
        run_curves(ax_loss, ax_acc, found["best_facts"])
    else:
        for ax in (ax_loss, ax_acc):
            _no_data(ax, "no best trial yet")
    return fig


def trials_table(found: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    keys = list(found["spec"]["space"])
    rows = []
    for r in found["rows"]:
        per_epoch = " ".join(f"{100 * v:.1f}" for v in r["val_acc_per_epoch"])
        rows.append([str(r["number"]), r["state"], *(f"{v:.4g}" if isinstance(v := r["params"].get(k, "-"), float) else str(v)
                                                     for k in keys),
                     per_epoch, "-" if r["val_acc"] is None else f"{100 * r['val_acc']:.2f}", r["run"]])
    return ["trial", "state", *keys, "val acc % per epoch", "val acc %", "run"], rows


def render(folder: Path, suffix: str, date: str) -> bytes:
    found = search_facts(folder)
    fig = search_figure(found, date)
    if suffix == ".png":
        return png_bytes(fig)
    from tui.cli.report_html import CSS, _img, _table

    title = html.escape(f"search {found['spec']['name']}")
    body = [f"<p>{html.escape(headline(found)).replace(chr(10), '<br>')}</p>",
            _img(fig, "optimisation history, importances, best trial"), "<h2>Trials</h2>", _table(*trials_table(found))]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n<style>{CSS}</style>'
            f'</head>\n<body>\n<h1>{title}</h1>\n<p class="meta">made {html.escape(date)} by resnet-tui report</p>\n'
            + "\n".join(body) + "\n</body></html>\n").encode("utf-8")
