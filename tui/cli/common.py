"""What every command module shares: the typer app, the error type and exit codes.

Heavy imports (torch, the engine, textual) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="resnet-tui",
    help="Set up, run, watch and fine-tune ResNet experiments on CIFAR-10 from the keyboard.\n\n"
    "Without a command it opens the terminal app; the commands run the same engine headless.",
    no_args_is_help=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(help="Get and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

EXIT_USAGE, EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM = 2, 1, 130, 143
EXIT_STOPPED, EXIT_SIGHUP = 3, 129  # stopped by a request (runs stop, an attached app); stopped by a hang-up


class CliError(Exception):
    """A one-line user error from a command (exit code 2)."""


def stdout_console():
    """A rich Console for stdout that never wraps in a pipe or a file (`evaluate | cat`, nohup.out): lines
    and tables keep their natural width there; on a terminal it fits the terminal as usual."""
    import sys

    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=10_000, soft_wrap=True, no_color=True, highlight=False)


def err(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)


def resume_command(run_dir) -> str:
    """How to continue a run: with as many processes as it trained with (config.json says), so that the
    resume is exact."""
    from pathlib import Path

    from core.runs.layout import CONFIG, read_json

    config = read_json(Path(run_dir) / CONFIG) or {}
    world, per_node = config.get("processes"), config.get("processes_per_node") or config.get("processes")
    command = f"resnet-tui train --resume {run_dir}"
    if isinstance(world, int) and isinstance(per_node, int) and world > 1:
        command += f" --nproc-per-node {per_node}"
        if world > per_node:
            command += f" --nnodes {world // per_node} --node-rank K --master-addr NODE0 (on each machine)"
    return command
