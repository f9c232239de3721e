"""The `resnet-tui` command line (typer): the commands, their console output, and starting runs as background
processes or torchrun jobs. The entry point is tui.cli.main:main; `python -m tui.cli` runs it too."""
