"""`resnet-tui runs`: list runs, follow one, and steer a live one through its control file.

Every command here works on runs started anywhere: in the app, by `train`, in the background, by
another user's shell. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli.common import EXIT_FAILED, EXIT_SIGINT, EXIT_STOPPED, CliError, app, resume_command, stdout_console

runs_app = typer.Typer(help="List runs, follow one live (watch), or pause / continue / checkpoint / stop it.",
                       invoke_without_command=True)
app.add_typer(runs_app, name="runs")

RunsDir = Annotated[str, typer.Option("--run-dir", help="Folder of run directories.")]
RunArg = Annotated[str, typer.Argument(help="A run directory, or the name of one in --run-dir.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the run's answer.")]


def resolve_run(run: str, runs_dir: str = "checkpoints") -> Path:
    """The run folder ``run`` names (a path, or a name in ``runs_dir``); CliError when there is none."""
    from core.runs.catalog import summarize

    candidates = [Path(run).expanduser(), Path(runs_dir).expanduser() / run]
    for path in candidates:
        if path.is_dir():
            if summarize(path) is None:
                damaged = (path / "config.json").is_file()  # there, but not readable JSON (summarize reads it)
                raise CliError(f"{path}/config.json is damaged (not readable JSON)" if damaged
                               else f"{path} is not a run folder (no config.json or launch.json)")
            return path
    raise CliError(f"no run {run!r} (looked for {candidates[0]} and {candidates[1]})")


# ----------------------------------------------------------------------------- list
def _row(s) -> dict:
    return {
        "name": s.label, "sweep": s.sweep, "path": str(s.path), "arch": s.arch, "dataset": s.dataset, "epochs": s.epochs,
        "epochs_done": s.epochs_done, "status": s.status, "live": s.live, "final_test_acc": s.final_test_acc,
        "best_val_acc": s.best_val_acc, "host": s.host, "pid": s.pid, "updated": s.updated, "note": s.note,
    }


CSV_COLUMNS = ("name", "sweep", "arch", "dataset", "status", "epochs_done", "epochs", "final_test_acc", "best_val_acc",
               "train_seconds", "images_per_sec", "params", "lr", "batch_size", "seed", "host", "updated", "path")


def _csv_rows(found) -> list[dict]:
    """The table with what a spreadsheet wants besides: time, img/s, parameter count and the main settings."""
    from core.runs.layout import CONFIG, STATUS, read_json

    rows = []
    for s in found:
        cfg, st = read_json(s.path / CONFIG) or {}, read_json(s.path / STATUS) or {}
        train = cfg.get("train", {})
        rows.append({**_row(s), "train_seconds": st.get("train_seconds"), "images_per_sec": st.get("images_per_sec"),
                     "params": cfg.get("params"), "lr": train.get("lr"), "batch_size": train.get("batch_size"),
                     "seed": train.get("seed"),
                     "updated": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(s.updated))})
    return rows


def _list(runs_dir: str, as_json: bool, as_csv: bool = False) -> None:
    from core.runs.catalog import list_runs

    base = Path(runs_dir).expanduser()
    if base.exists() and not base.is_dir():
        raise CliError(f"--run-dir {runs_dir}: not a folder")
    found = list_runs(base)
    if as_json and as_csv:
        raise CliError("--json and --csv: pick one")
    if as_csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(_csv_rows(found))
        return
    if as_json:
        typer.echo(json.dumps([_row(s) for s in found], indent=2))
        return
    if not found:
        typer.echo(f"no runs in {base}")
        return
    from rich.table import Table

    table = Table("name", "arch", "epochs", "status", "acc", "host", "updated", box=None, header_style="bold")
    for s in found:
        acc = s.final_test_acc if s.final_test_acc is not None else s.best_val_acc
        status = (f"[red]{s.status}[/]" if s.status == "stalled" else f"[green]{s.status}[/]" if s.live
                  else f"[yellow]{s.status}[/]" if s.status == "interrupted" else s.status)
        table.add_row(s.label, s.arch, f"{s.epochs_done}/{s.epochs}", status, "-" if acc is None else f"{100 * acc:.2f}%",
                      s.host or "-", time.strftime("%m-%d %H:%M", time.localtime(s.updated)))
    console = stdout_console()
    console.print(table)
    for s in found:  # why a run is stalled, or what a launch that failed to start said last
        if s.note:
            console.print(f"{s.label}: {s.note}", markup=False, highlight=False)


@runs_app.callback()
def _runs(ctx: typer.Context, runs_dir: RunsDir = "checkpoints",
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """Without a subcommand: the same as `runs list`."""
    if ctx.invoked_subcommand is None:
        _list(runs_dir, as_json)


@runs_app.command("list")
def list_(runs_dir: RunsDir = "checkpoints",
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
          as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (with time, img/s, parameters, lr, batch size, seed) for a spreadsheet.")] = False) -> None:
    """Runs, newest first: name, architecture, epochs, status (live runs: running / starting; dead ones: interrupted), accuracy, host.

    A sweep's runs are named SWEEP/RUN."""
    _list(runs_dir, as_json, as_csv)


# ----------------------------------------------------------------------------- watch
def _exit_for(status: str) -> int:
    return {"completed": 0, "stopped": EXIT_STOPPED}.get(status, EXIT_FAILED)


@runs_app.command()
def watch(run: RunArg, runs_dir: RunsDir = "checkpoints") -> None:
    """Follow a run (live or finished) with the same output as `train`.

    Exit code: 0 completed, 1 failed or interrupted, 3 stopped. Ctrl-C stops watching and leaves the run alone.
    """
    from core.runs.catalog import summarize
    from core.runs.events import BatchProgress, RunFinished, RunStarted
    from core.runs.follow import RunFollower
    from tui.cli.console import PlainSink, RichSink

    run_dir = resolve_run(run, runs_dir)
    follower = RunFollower(run_dir)
    make_sink = (lambda: RichSink()) if sys.stderr.isatty() else (lambda: PlainSink(sys.stdout))
    sink, ended = make_sink(), False
    history = follower.history()
    if not history and not summarize(run_dir).live:
        s = summarize(run_dir)  # a run older than event streams, or one that died before writing any
        typer.echo(f"{run_dir.name}: {s.status}, {s.epochs_done}/{s.epochs} epochs (no event stream to replay)"
                   + (f"; {s.note}" if s.note else ""))
        raise typer.Exit(_exit_for(s.status))
    last_progress = max((i for i, r in enumerate(history) if isinstance(r.event, BatchProgress)), default=-1)
    for i, r in enumerate(history):
        if isinstance(r.event, BatchProgress) and i != last_progress:
            continue  # replay the story, not every progress tick
        if isinstance(r.event, RunStarted) and ended:
            sink, ended = make_sink(), False  # a resumed session
        sink(r.event)
        ended = ended or isinstance(r.event, RunFinished)
    stalled: str | None = None
    try:
        while True:
            poll = follower.poll()
            for r in poll.records:
                if isinstance(r.event, RunStarted) and ended:
                    sink, ended = make_sink(), False
                sink(r.event)
                ended = ended or isinstance(r.event, RunFinished)
            if (poll.stalled is None) != (stalled is None):
                typer.echo(f"{run_dir.name}: stalled, {poll.stalled}; end it with: resnet-tui runs stop {run_dir.name}"
                           if poll.stalled else f"{run_dir.name}: running again", err=True)
            stalled = poll.stalled
            if poll.end == "vanished":
                raise CliError(f"{run_dir} was deleted while watched")
            if poll.end == "interrupted":
                s = summarize(run_dir)
                if s is not None and s.status == "failed" and s.note:  # a background launch that died at start
                    typer.echo(f"{run_dir.name}: {s.note}", err=True)
                else:
                    typer.echo(f"{run_dir.name}: its process ended without finishing (interrupted); "
                               f"resume with: {resume_command(run_dir)}", err=True)
                raise typer.Exit(EXIT_FAILED)
            if poll.end == "finished":
                status = poll.finished.status
                if status != "completed" and poll.finished.error:
                    typer.echo(f"{run_dir.name} {status}: {poll.finished.error}", err=True)
                raise typer.Exit(_exit_for(status))
            time.sleep(0.2)
    except KeyboardInterrupt:
        typer.echo("\nstopped watching; the run goes on", err=True)
        raise typer.Exit(EXIT_SIGINT) from None
