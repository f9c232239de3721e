"""`python -m tui.cli ARGS`: the same as `resnet-tui ARGS`."""

from tui.cli.main import main

main()
