"""`resnet-tui models` (the architectures with their size and cost) and `data download|info` (what a run would
train on)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tui.cli.common import CliError, app, data_app, stdout_console


# ----------------------------------------------------------------------------- models
@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the architectures: name, family, parameters, forward MFLOPs at 32x32 and the input size each was made for."""
    from core.models import get_spec, list_models, model_stats

    rows = []
    for name in list_models():
        spec = get_spec(name)
        params, mflops = model_stats(name)
        rows.append({"name": name, "family": spec.family, "params": params, "mflops": round(mflops, 1),
                     "input_size": spec.input_size, "description": spec.description})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("name", "family", "params", "MFLOPs@32", "made for", box=None, header_style="bold")
    for r in rows:
        size = r["input_size"]
        table.add_row(r["name"], r["family"], f"{r['params'] / 1e6:.2f}M", f"{r['mflops']:,.1f}", f"{size}x{size}")
    stdout_console().print(table)


# ----------------------------------------------------------------------------- evaluate / predict
@data_app.command("download")
def data_download(
    data: Annotated[str, typer.Option(help="Folder to put CIFAR-10 in.")] = "data",
) -> None:
    """Download CIFAR-10 (md5-verified), extract it and build the tensor cache."""
    from core.data.cifar10 import load_cifar10
    from core.errors import UserError

    def progress(done: int, total: Optional[int]) -> None:
        if sys.stderr.isatty():
            tail = f" of {total / 2**20:.0f} MiB" if total else " MiB"
            print(f"\rdownloading: {done / 2**20:.0f}{tail}", end="", file=sys.stderr, flush=True)

    try:
        train, test, _ = load_cifar10(Path(data), allow_download=True, progress=progress)
    except UserError as e:
        raise CliError(str(e)) from None
    if sys.stderr.isatty():
        print(file=sys.stderr)
    typer.echo(f"CIFAR-10 ready in {data}: {len(train)} train, {len(test)} test images")


@data_app.command("info")
def data_info(
    dataset: Annotated[str, typer.Option(help="cifar10 | folder | synthetic")] = "cifar10",
    data: Annotated[str, typer.Option(help="Data folder.")] = "data",
    image_size: Annotated[int, typer.Option(help="Decode size.")] = 32,
    test_split: Annotated[float, typer.Option(help="folder without test/: held out per class, a fraction or a count.")] = 0.2,
    split_seed: Annotated[int, typer.Option(help="Which images --test-split holds out.")] = 0,
    data_in_memory: Annotated[str, typer.Option(help="auto | yes | no, as a run would judge it.")] = "auto",
    device: Annotated[str, typer.Option(help="The device a run would use (auto judges its memory).")] = "cpu",
    check: Annotated[bool, typer.Option("--check", help="folder: decode every image once (nothing is kept) and name the unreadable ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What a run would train on: an image folder's layout, split, class counts and whether it is held in memory
    or streamed (listing only: nothing is decoded unless --check); CIFAR-10 and synthetic sets are loaded."""
    from tui.cli.data_info import folder_info, print_info, tensor_info

    info = folder_info(data, image_size, test_split, split_seed, data_in_memory, device, check) \
        if dataset == "folder" else tensor_info(dataset, data, image_size)
    if as_json:
        typer.echo(json.dumps(info))
        return
    print_info(info)
