"""`resnet-tui evaluate`, `predict` and `export`: using a trained run's weights (core.inference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tui.cli.common import CliError, app, stdout_console


# ----------------------------------------------------------------------------- models
@app.command()
def evaluate(
    run_or_ckpt: Annotated[str, typer.Argument(help="A run directory (uses final.pt, else last.pt) or a checkpoint file.")],
    dataset: Annotated[Optional[str], typer.Option(help="Evaluate on another dataset of the same classes.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Data folder for --dataset.")] = None,
    split: Annotated[str, typer.Option(help="test | val")] = "test",
    tta: Annotated[bool, typer.Option("--tta", help="Average predictions over each image and its flip.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32 | bf16 | fp16 | auto. A run's own evaluations ran under its "
                                           "training precision (bf16 on recent GPUs): give that to reproduce them.")] = "fp32",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the per-image predictions in the run folder (what the "
                                       "mistakes gallery shows), replacing the run's own for this split.")] = False,
) -> None:
    """Accuracy, per-class accuracy and the confusion matrix of a trained model."""
    if split not in ("test", "val"):
        raise CliError(f"--split must be test or val (got {split!r})")
    if keep and (dataset is not None or data is not None or not Path(run_or_ckpt).expanduser().is_dir()):
        raise CliError("--keep keeps a run's predictions on its own data: give a run folder, without --dataset/--data")
    from core.config.train_config import PRECISIONS

    if precision not in PRECISIONS:
        raise CliError(f"--precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    from core.config.train_config import DATASETS

    if dataset is not None and dataset not in DATASETS:
        raise CliError(f"--dataset must be one of {', '.join(DATASETS)} (got {dataset!r})")
    from core.errors import UserError
    from core.hardware.devices import resolve_precision
    from core.inference.trained import evaluate_trained, load_trained

    try:
        trained = load_trained(run_or_ckpt, device)
        precision = resolve_precision(precision, trained.device)[0]
        # evaluation never downloads: a missing dataset is an error that says where to put it
        overrides = {k: v for k, v in {"dataset": dataset, "data": data}.items() if v is not None} | {"download": False}
        result, used = evaluate_trained(trained, split=split, tta=tta, overrides=overrides, precision=precision, keep=keep)
        if result.predictions is not None:
            from core.inference.predictions import save_predictions
            from core.runs.layout import read_metrics

            run_dir = Path(run_or_ckpt).expanduser()
            result.predictions.split, result.predictions.classes = split, tuple(trained.classes)
            result.predictions.epoch = len(read_metrics(run_dir))
            typer.echo(f"kept the {split} predictions in {save_predictions(run_dir, result.predictions)}", err=True)
    except UserError as e:
        raise CliError(str(e)) from None
    except OSError as e:  # --keep into a folder it cannot write
        raise CliError(f"--keep: cannot write in {run_or_ckpt} ({e.strerror or e})") from None
    recorded = trained.checkpoint.get("data", {}).get("split_digest") if isinstance(trained.checkpoint.get("data"), dict) else None
    changed = bool(recorded and used.split_digest and recorded != used.split_digest)
    if changed and data is None:
        typer.echo(f"note: {used.source} holds other test images than when this run trained (its files changed); "
                   f"these figures are not the run's test split", err=True)
    classes = trained.classes
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "checkpoint": str(trained.path),
                    "arch": trained.arch,
                    "split": split,
                    "precision": precision,
                    "count": result.count,
                    "loss": result.loss,
                    "accuracy": result.accuracy,
                    "per_class_accuracy": dict(zip(classes, result.per_class_accuracy)),
                    "confusion": [list(r) for r in result.confusion],
                    "classes": classes,
                    "same_test_images": None if not recorded else not changed,
                }
            )
        )
        return
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"{trained.arch} from {trained.path}: {split} accuracy [bold]{100 * result.accuracy:.2f}%[/] "
        f"(loss {result.loss:.4f}, {result.count} images, {precision}{', flip TTA' if tta else ''})",
        highlight=False,
    )
    # Columns are numbered (class names rarely fit 10+ columns in 80 characters); rows carry the names.
    table = Table("#", "true class", box=None, header_style="bold")
    for i in range(len(classes)):
        table.add_column(str(i), justify="right")
    table.add_column("acc", justify="right")
    for i, (name, row, acc) in enumerate(zip(classes, result.confusion, result.per_class_accuracy)):
        cells = [f"[bold]{v}[/]" if j == i else str(v) for j, v in enumerate(row)]
        table.add_row(str(i), name[:16], *cells, f"{100 * acc:.1f}%")
    console.print("confusion matrix (rows: true class, columns: predicted class #)")
    console.print(table)


@app.command()
def predict(
    run_or_ckpt: Annotated[str, typer.Argument(help="A run directory or a checkpoint file.")],
    images: Annotated[list[str], typer.Argument(help="Image files to classify.")],
    top_k: Annotated[int, typer.Option(help="How many classes to show per image.", min=1)] = 3,
    tta: Annotated[bool, typer.Option("--tta", help="Average over each image and its flip.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify images with a trained model: the top-k classes by name, with probabilities."""
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise CliError(f"IMAGE {missing[0]} is not a file")
    from core.errors import UserError
    from core.inference.trained import load_trained, predict_images

    try:
        trained = load_trained(run_or_ckpt, device)
        predictions = predict_images(trained, images, top_k, tta)
    except UserError as e:
        raise CliError(str(e)) from None
    if as_json:
        typer.echo(json.dumps([{"image": p.path, "top": [{"class": c, "prob": v} for c, v in p.top]} for p in predictions]))
        return
    if on_terminal():  # a person looking: each image as a thumbnail beside its bars; a pipe gets the lines below
        from tui.cli.thumbnails import print_predictions

        print_predictions(predictions)
        return
    for p in predictions:
        typer.echo(f"{p.path}: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in p.top))


def on_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


@app.command()
def export(
    run_or_ckpt: Annotated[str, typer.Argument(help="A run directory (its final weights) or a checkpoint file.")],
    format: Annotated[str, typer.Option("--format", help="safetensors (weights only, nothing executable).")] = "safetensors",
    out: Annotated[Optional[str], typer.Option(help="Where to write (default: model.safetensors beside the checkpoint).")] = None,
) -> None:
    """Export a trained model's weights; evaluate and predict accept the exported file."""
    if format != "safetensors":
        raise CliError(f"--format must be safetensors (got {format!r})")
    if out is not None and not Path(out).expanduser().parent.is_dir():
        raise CliError(f"--out {out}: the folder {Path(out).expanduser().parent} does not exist")
    from core.errors import UserError
    from core.inference.export import export_safetensors

    try:
        target = export_safetensors(run_or_ckpt, out)
    except UserError as e:
        raise CliError(str(e)) from None
    typer.echo(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MiB)")


# ----------------------------------------------------------------------------- data
