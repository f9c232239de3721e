"""`doctor`: check this machine for what breaks runs on a shared server (the checks are core/hardware/doctor.py)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tui.cli.common import EXIT_FAILED, app


def format_rows(checks) -> list[str]:
    """One line a check (`ok    torch        2.x (CUDA 13.0 build) ...`), its fix indented below when it has one."""
    width = max((len(c.name) for c in checks), default=0) + 2
    lines = []
    for c in checks:
        lines.append(f"{c.status:<6}{c.name:<{width}}{c.detail}")
        if c.fix:
            lines.append(f"{'':<6}{'':<{width}}fix: {c.fix}")
    return lines


@app.command()
def doctor(
    ctx: typer.Context,
    run_dir: Annotated[Optional[str], typer.Option(help="The runs folder to check.", show_default="checkpoints")] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="The decoded-image cache folder to check.",
                                                     show_default="$XDG_CACHE_HOME/resnet-tui")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"checks": [{name, status, detail, fix}]}.')] = False,
) -> None:
    """Check this machine for what breaks runs; exit 1 when a check fails.

    Torch against the GPU driver, GPUs torch cannot see, busy GPUs, NCCL, /dev/shm, disk, open files, terminal."""
    import json

    from core.hardware.doctor import failed, run_checks

    if run_dir is None:  # `resnet-tui --run-dir X doctor` means the same folder
        run_dir = (ctx.parent.params.get("run_dir") if ctx.parent else None) or "checkpoints"
    checks = run_checks(run_dir=run_dir, cache_dir=cache_dir or "")
    if as_json:
        typer.echo(json.dumps({"checks": [c.as_dict() for c in checks]}))
    else:
        for line in format_rows(checks):
            typer.echo(line)
    raise typer.Exit(EXIT_FAILED if failed(checks) else 0)
