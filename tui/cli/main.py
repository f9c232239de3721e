"""The `resnet-tui` command line (typer): the entry point. Commands stay thin: parse, build a config, call core.

The commands live beside it in tui/cli/: train.py (train, finetune), sweep.py, runs.py (runs list|watch|pause|...),
inference.py (evaluate, predict, export), models_and_data.py (models, data download|info), report.py. Every user
error is one line on stderr and exit code 2; nothing is written before the input has been checked.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from tui.cli import (  # noqa: F401 - importing registers their commands
    data_info, doctor, explain, inference, models_and_data, report, run_control, runs, runs_export, search, sweep, train,
)
from tui.cli.common import EXIT_SIGINT, EXIT_USAGE, CliError, app, err


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    run_dir: Annotated[str, typer.Option(help="Folder of run directories the app lists and writes.")] = "checkpoints",
) -> None:
    """Without a command: open the Textual app."""
    if ctx.invoked_subcommand is None:
        import os

        if os.path.exists(run_dir) and not os.path.isdir(run_dir):
            raise CliError(f"--run-dir {run_dir} exists and is not a folder")
        from tui.app.widgets.picture import prepare

        prepare()  # asks the terminal whether it shows pixels (Sixel, Kitty) while it still can: before Textual starts
        from tui.app.app import run_app

        run_app(runs_dir=run_dir)
        raise typer.Exit(0)


# ----------------------------------------------------------------------------- entry point
def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry: runs the app's commands and turns every user error into one line + exit 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="resnet-tui", standalone_mode=False)
    except CliError as e:
        err(str(e))
        raise SystemExit(EXIT_USAGE) from None
    except (KeyboardInterrupt, typer.Abort):
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(EXIT_SIGINT) from None
    except Exception as e:
        # typer's parse errors (click's UsageError/BadParameter, vendored inside typer since 0.26)
        # carry format_message() and exit_code; anything else is a bug and keeps its traceback.
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            err(e.format_message())
            raise SystemExit(e.exit_code) from None
        raise
    raise SystemExit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
