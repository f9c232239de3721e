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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classes and image counts of a dataset (decodes it into the tensor cache if needed; never downloads)."""
    from core.config.train_config import DATASETS

    if dataset not in DATASETS:
        raise CliError(f"--dataset must be one of {', '.join(DATASETS)} (got {dataset!r})")
    if not 8 <= image_size <= 1024:
        raise CliError(f"--image-size must be a whole number from 8 to 1024 (got {image_size})")
    from core.data import load_raw
    from core.errors import UserError

    skipped: dict[str, int] = {}
    try:
        if dataset == "folder":
            from core.data.folder import scan_folder

            skipped = scan_folder(Path(data)).skipped
        train, test, classes = load_raw(dataset, data, image_size, download=False)
    except UserError as e:
        raise CliError(str(e)) from None
    info = {
        "dataset": dataset,
        "data": data,
        "classes": classes,
        "train": dict(zip(classes, train.class_counts(len(classes)))),
        "test": dict(zip(classes, test.class_counts(len(classes)))),
        "image_shape": list(train.images.shape[1:]),
        "skipped_non_images": skipped,
    }
    if as_json:
        typer.echo(json.dumps(info))
        return
    where = "in memory" if dataset == "synthetic" else data
    typer.echo(f"{dataset} ({where}): {len(classes)} classes, {len(train)} train / {len(test)} test images of {info['image_shape']}")
    for c in classes:
        typer.echo(f"  {c:<20} {info['train'][c]:>7} train {info['test'][c]:>7} test")
    if any(skipped.values()):
        typer.echo(f"  skipped non-image files: {skipped}")
