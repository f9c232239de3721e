"""`resnet-tui runs export RUN... --to mlflow[:URI]|wandb`: runs that already exist, logged to a tracker from
their folders (core.runs.trackers.export)."""

from __future__ import annotations

from typing import Annotated

import typer

from tui.cli.common import CliError
from tui.cli.runs import resolve_run, runs_app


@runs_app.command("export")
def export(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run folders, or their names in --run-dir.")],
    to: Annotated[str, typer.Option("--to", help="mlflow (MLFLOW_TRACKING_URI, else a store in the runs folder), "
                                    "mlflow:URI, or wandb.")],
    runs_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories.")] = "checkpoints",
) -> None:
    """Log existing runs to MLflow or W&B: params, every epoch's metrics, the confusion matrix and the weights."""
    from core.runs.trackers import log_errors, parse_log

    problems = log_errors(to)
    if problems:
        raise CliError(f"--to {problems[0]}")
    specs = parse_log(to)
    if len(specs) != 1:
        raise CliError("--to takes one tracker: mlflow, mlflow:URI or wandb")
    folders = [resolve_run(r, runs_dir) for r in runs]  # every name checked before anything is logged
    from core.errors import UserError
    from core.runs.trackers.export import export_run

    failed = 0
    for folder in folders:
        try:
            run_id = export_run(folder, specs[0], lambda m: typer.echo(m, err=True))
        except UserError as e:
            failed += 1
            typer.echo(f"{folder.name}: {e}", err=True)
            continue
        typer.echo(f"{folder.name}: exported to {specs[0].kind} (run {run_id})")
    if failed:
        raise typer.Exit(1)
