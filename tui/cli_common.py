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


def err(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
