"""`resnet-tui report`: a PNG or a self-contained HTML page about one run, several runs, or sweeps.

Everything is checked (each argument a run or a sweep, the output's folder, its suffix) before anything is
drawn, and the file is written atomically: a failure leaves nothing. matplotlib is imported only here, when
the command runs (tui/cli/report_draw.py), so `resnet-tui --help` stays instant.
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli.common import CliError, app
from tui.cli.report_html import CSS, _img, _kv, _table
from tui.cli.runs import resolve_run

SUFFIXES = (".png", ".html")


def resolve(arg: str, runs_dir: str) -> tuple[str, Path]:
    """("sweep", folder) for a sweep folder (a path, or a name in runs_dir), else ("run", folder); CliError else."""
    from core.experiments.sweep import is_sweep_dir

    for path in (Path(arg).expanduser(), Path(runs_dir).expanduser() / arg):
        if path.is_dir() and is_sweep_dir(path):
            return "sweep", path
    return "run", resolve_run(arg, runs_dir)


def check_out(out: str) -> Path:
    path = Path(out).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise CliError(f"--out {out}: give a file ending in .png or .html (got {path.suffix or 'no suffix'!r})")
    parent = path.parent
    if not parent.is_dir():
        raise CliError(f"--out {out}: the folder {parent} does not exist")
    if path.is_dir():
        raise CliError(f"--out {out}: is a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"--out {out}: cannot write in {parent}")
    return path


def load(args: list[str], runs_dir: str):
    """The report's data: each run (once) and each sweep; CliError on the first argument that is neither."""
    from core.errors import UserError
    from core.experiments.report_data import ReportData, sweep_data
    from core.runs.facts import run_facts

    found: dict[Path, tuple[str, Path]] = {}
    for arg in args:
        kind, path = resolve(arg, runs_dir)
        found.setdefault(path.resolve(), (kind, path))
    try:
        sweeps = [sweep_data(p) for kind, p in found.values() if kind == "sweep"]
    except UserError as e:
        raise CliError(str(e)) from None
    in_sweeps = {f.path.resolve() for s in sweeps for f in s.all_runs}
    runs = [run_facts(p) for key, (kind, p) in found.items() if kind == "run" and key not in in_sweeps]
    return ReportData(runs, sweeps)


# ----------------------------------------------------------------------------- HTML
def _run_html(data) -> str:
    from core.experiments.report_data import config_pairs, hardware_pairs, headline, last_per_class
    from tui.cli.report_draw import run_plots

    f = data.single
    curves, heat = run_plots(f)
    parts = [_table([k for k, _ in headline(f)], [[v for _, v in headline(f)]]),
             "<h2>Curves</h2>", _img(curves, "loss and accuracy per epoch"),
             "<h2>Confusion matrix and per-class accuracy</h2>", _img(heat, "confusion matrix and per-class accuracy")]
    last = last_per_class(f)
    if last:
        from core.experiments.report_data import class_names

        accs, split, epoch = last
        rows = [[c, f"{100 * a:.2f} %"] for c, a in zip(class_names(f, len(accs)), accs)]
        parts += [f"<p>Per-class accuracy on the {html.escape(split)} split, epoch {epoch}:</p>",
                  _table(["class", "accuracy"], rows)]
    found = _mistakes_of(f.path)
    if found is not None:
        from tui.cli.mistakes_page import mistakes_html

        parts.append(mistakes_html(*found, 6))
    parts += ["<h2>Config</h2>", _kv(config_pairs(f), 3), "<h2>Hardware</h2>", _kv(hardware_pairs(f))]
    return "\n".join(parts)


def _mistakes_of(run_dir: Path):
    """(the run's kept predictions with their images, its six most confused pairs), or None when it kept none (an
    older run) or its images cannot be read: the report is made without that section then."""
    from core.errors import UserError
    from core.inference.mistakes import open_mistakes

    try:
        found = open_mistakes(run_dir)
        return found, found.worst_pairs(6, 6)
    except (UserError, OSError):
        return None


def _compare_html(data) -> str:
    from core.experiments.report_data import runs_table, sweep_line, sweep_table
    from tui.cli.report_draw import WIDTH, Figure, overlay_curves

    fig = Figure(figsize=(WIDTH, 4.4), layout="constrained")
    overlay_curves(*fig.subplots(1, 2), data)
    note = ("One line per run given on its own; one per sweep config: the mean over its seeds per epoch, the band "
            "shaded from the lowest to the highest seed.") if data.sweeps else "One line per run."
    parts = ["<h2>Curves</h2>", f"<p>{html.escape(note)}</p>", _img(fig, "overlaid curves")]
    for s in data.sweeps:
        parts += [f"<h2>Sweep {html.escape(s.name)}</h2>", f"<p>{html.escape(sweep_line(s))}</p>",
                  _table(*sweep_table(s), "sweep")]
    parts += ["<h2>Runs (and the config keys that differ)</h2>", _table(*runs_table(data.all_runs), "runs")]
    return "\n".join(parts)


def render_html(data, date: str) -> str:
    title = html.escape(data.title())
    body = _run_html(data) if data.single else _compare_html(data)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
            f"<style>{CSS}</style></head>\n<body>\n<h1>{title}</h1>\n"
            f'<p class="meta">made {html.escape(date)} by resnet-tui report</p>\n{body}\n</body></html>\n')


def render(data, suffix: str, date: str) -> bytes:
    if suffix == ".html":
        return render_html(data, date).encode("utf-8")
    from tui.cli.report_draw import compare_figure, png_bytes, run_figure

    if not data.single:
        return png_bytes(compare_figure(data, date))
    page = png_bytes(run_figure(data.single, date))
    found = _mistakes_of(data.single.path)
    if found is None:
        return page
    from tui.cli.mistakes_page import mistakes_title
    from tui.cli.mistakes_draw import mistakes_png, stack_pngs

    runs_mistakes, cells = found
    return stack_pngs(page, mistakes_png(cells, runs_mistakes.classes, "Mistakes: " + mistakes_title(runs_mistakes), 6))


# ----------------------------------------------------------------------------- the command
@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(metavar="RUN_OR_SWEEP...", show_default=False,
                                              help="Runs and sweeps: folders, or names in --run-dir (a sweep's run: SWEEP/RUN).")],
    out: Annotated[str, typer.Option("--out", "-o", show_default=False,
                                     help="The file to write: .png (one image) or .html (self-contained, images embedded).")],
    runs_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories.")] = "checkpoints",
) -> None:
    """Write a report: for one run its curves, confusion matrix, per-class accuracy, config and hardware;
    for several runs or a sweep the overlaid curves and the summary table; for a search its optimisation
    history, importances and best trial's curves."""
    path = check_out(out)
    date = time.strftime("%Y-%m-%d %H:%M")
    search = _search(runs, runs_dir)
    if search is not None:
        from core.errors import UserError
        from tui.cli.report_search import render as render_search

        try:
            content = render_search(search, path.suffix.lower(), date)
        except UserError as e:
            raise CliError(str(e)) from None
        _write(path, out, content, f"the search {search.name}")
        return
    data = load(runs, runs_dir)
    content = render(data, path.suffix.lower(), date)
    _write(path, out, content, data.counts())


def _search(args: list[str], runs_dir: str) -> Path | None:
    """The search folder when the report is about one (given alone); None for runs and sweeps."""
    from core.experiments.search import is_search_dir

    found = [p for a in args for p in (Path(a).expanduser(), Path(runs_dir).expanduser() / a) if p.is_dir() and is_search_dir(p)]
    if found and len(args) > 1:
        raise CliError(f"a search's report is its own: give {found[0]} alone")
    return found[0] if found else None


def _write(path: Path, out: str, content: bytes, what: str) -> None:
    from core.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(path, content)
    except OSError as e:
        raise CliError(f"cannot write {out}: {e.strerror or e}") from None
    typer.echo(f"wrote {path} ({len(content) / 1024:.0f} KiB): {what}")
