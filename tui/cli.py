"""The `resnet-tui` command line (typer). Commands stay thin: parse, build a config, call core.

Heavy imports (torch, the engine, textual) happen inside the commands, so `--help` is instant.
Every user error is one line on stderr and exit code 2; nothing is written before the
input has been checked.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

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


class CliError(Exception):
    """A one-line user error from a command (exit code 2)."""


def _err(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    run_dir: Annotated[str, typer.Option(help="Folder of run directories the app lists and writes.")] = "checkpoints",
) -> None:
    """Without a command: open the Textual app."""
    if ctx.invoked_subcommand is None:
        from .app import run_app

        run_app(run_dir=run_dir)
        raise typer.Exit(0)


# ----------------------------------------------------------------------------- models
@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the architectures: name, family, parameters and forward MFLOPs at 32x32."""
    from core.models import get_spec, list_models, model_stats

    rows = []
    for name in list_models():
        spec = get_spec(name)
        params, mflops = model_stats(name)
        rows.append({"name": name, "family": spec.family, "params": params, "mflops": round(mflops, 1), "description": spec.description})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "family", "params", "MFLOPs", "", box=None, header_style="bold")
    for r in rows:
        table.add_row(r["name"], r["family"], f"{r['params'] / 1e6:.2f}M", f"{r['mflops']:,.1f}", r["description"])
    Console().print(table)


# ----------------------------------------------------------------------------- train
def _milestones(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--milestones must be comma-separated whole epochs, e.g. 91,136 (got {text!r})") from None


@app.command()
def train(
    arch: Annotated[Optional[str], typer.Option(help="Architecture (see `resnet-tui models`). (default: resnet20)")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs to train. (default: 10)")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate, in (0, 10]. (default: 0.1)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step. (default: 128)")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="sgd | adam | adamw. (default: sgd)")] = None,
    momentum: Annotated[Optional[float], typer.Option(help="SGD momentum. (default: 0.9)")] = None,
    nesterov: Annotated[Optional[bool], typer.Option("--nesterov/--no-nesterov", help="Nesterov momentum (SGD). (default: on)")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="onecycle | cosine | multistep | constant. (default: onecycle)")] = None,
    warmup_epochs: Annotated[Optional[float], typer.Option(help="Linear warm-up epochs (onecycle: the peak). (default: 0)")] = None,
    milestones: Annotated[Optional[str], typer.Option(help="multistep: epochs where lr *= gamma, e.g. 91,136. (default: 50%,75%)")] = None,
    gamma: Annotated[Optional[float], typer.Option(help="multistep decay factor. (default: 0.1)")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay (not on BN and biases). (default: 5e-4)")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="Label smoothing in [0, 1). (default: 0)")] = None,
    zero_init_residual: Annotated[Optional[bool], typer.Option("--zero-init-residual/--no-zero-init-residual", help="Zero the last BN of each residual branch. (default: off)")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="cifar10 | folder | synthetic. (default: cifar10)")] = None,
    data: Annotated[Optional[str], typer.Option(help="Data folder (cifar10: where the archive goes; folder: has train/ and test/). (default: data)")] = None,
    download: Annotated[Optional[bool], typer.Option("--download/--no-download", help="Download CIFAR-10 if missing. (default: download)")] = None,
    val_split: Annotated[Optional[float], typer.Option(help="Held-out validation: a fraction (<1) or a count of training images. (default: 0)")] = None,
    train_subset: Annotated[Optional[int], typer.Option(help="Train on the first N images, class-balanced (0 = all). (default: 0)")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Square input size images are resized to. (default: 32)")] = None,
    crop_padding: Annotated[Optional[int], typer.Option(help="Random-crop padding in pixels (0 = no crop). (default: 4)")] = None,
    flip: Annotated[Optional[bool], typer.Option("--flip/--no-flip", help="Random horizontal flips. (default: on)")] = None,
    rotate: Annotated[Optional[float], typer.Option(help="Random rotation in +-degrees (0 = off). (default: 0)")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N | mps. (default: auto)")] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto | fp32 | bf16 | fp16 (auto: bf16 on CUDA, fp32 elsewhere).")] = None,
    channels_last: Annotated[Optional[str], typer.Option(help="auto | on | off (auto: on for CUDA).")] = None,
    tta: Annotated[Optional[bool], typer.Option("--tta/--no-tta", help="Evaluate with flip test-time augmentation. (default: off)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed, 0..2^32-1. (default: 0)")] = None,
    run_dir: Annotated[Optional[str], typer.Option(help="Parent folder of run directories. (default: checkpoints)")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name. (default: <arch>-<dataset>-<time>)")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Start from a preset; options given override it: quick-look (synthetic, resnet20, 2 epochs), paper (He et al.'s CIFAR recipe).")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run in this directory (add --epochs N to extend it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the results on stdout (progress goes to stderr).")] = False,
) -> None:
    """Train a model headless (scripts, nohup, batch jobs). Ctrl-C stops after the current batch and saves."""
    given: dict[str, Any] = {
        k: v
        for k, v in {
            "arch": arch, "epochs": epochs, "lr": lr, "batch_size": batch_size, "optimizer": optimizer,
            "momentum": momentum, "nesterov": nesterov, "schedule": schedule, "warmup_epochs": warmup_epochs,
            "milestones": _milestones(milestones), "gamma": gamma, "weight_decay": weight_decay,
            "label_smoothing": label_smoothing, "zero_init_residual": zero_init_residual, "dataset": dataset,
            "data": data, "download": download, "val_split": val_split, "train_subset": train_subset,
            "image_size": image_size, "crop_padding": crop_padding, "flip": flip, "rotate": rotate,
            "device": device, "precision": precision, "channels_last": channels_last, "eval_tta": tta,
            "seed": seed, "run_dir": run_dir, "name": name,
        }.items()
        if v is not None
    }
    from core.config import TrainConfig, validate_config

    if resume is None:
        from core.presets import PRESETS

        if preset is not None and preset not in PRESETS:
            raise CliError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
        base = TrainConfig(**PRESETS[preset].values) if preset else TrainConfig()
        cfg = base.replace(**given)
        # Check the cheap rules before importing torch, so a typo answers at once.
        errors = validate_config(cfg)
        if errors:
            raise CliError(str(errors[0]))
    else:
        if preset is not None:
            raise CliError("--preset cannot be combined with --resume (the run's config fixes its settings)")
        cfg = TrainConfig()
    code = _run_training(cfg, resume, given, as_json)
    raise typer.Exit(code)


def _run_training(cfg, resume: Optional[str], given: dict[str, Any], as_json: bool) -> int:
    import threading

    from core.errors import UserError
    from core.train import fit

    from .console import PlainSink, RichSink

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the last epoch's checkpoint stays)
        received.append(signum)
        stop.set()
        again = " (Ctrl-C again to abort at once)" if signum == signal.SIGINT else ""
        print(f"\nstopping after this batch and saving a checkpoint{again}", file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    out = sys.stderr if as_json else sys.stdout
    sink = RichSink() if sys.stderr.isatty() else PlainSink(out)
    try:
        result = fit(cfg, sink, stop, resume=resume, resume_overrides=given if resume else None)
    except UserError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        print("\naborted; last.pt (if any) holds the last finished epoch", file=sys.stderr)
        return EXIT_SIGINT
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_dir": str(result.run_dir),
                    "arch": _arch_of(result),
                    "epochs": result.epochs,
                    "epochs_completed": result.epochs_completed,
                    "final_test_acc": result.final_test_acc,
                    "best_val_acc": result.best_val_acc,
                    "train_seconds": round(result.train_seconds, 3),
                    "images_per_sec": result.images_per_sec,
                    "status": result.status,
                    "error": result.error,
                }
            )
        )
    if result.status == "stopped" and result.run_dir is None:
        print("stopped before training started; nothing was written", file=sys.stderr)
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else EXIT_SIGINT
    if result.status == "stopped":
        print(
            f"stopped after {result.epochs_completed} finished epochs; state saved in {result.run_dir}/last.pt\n"
            f"resume with: resnet-tui train --resume {result.run_dir}",
            file=sys.stderr,
        )
        return EXIT_SIGTERM if received and received[0] == signal.SIGTERM else EXIT_SIGINT
    if result.status == "failed":
        _err(f"training failed: {result.error}")
        return EXIT_FAILED
    return 0


def _arch_of(result) -> Optional[str]:
    from core.runs import CONFIG, read_json

    cfg = read_json(Path(result.run_dir) / CONFIG) if result.run_dir else None
    return (cfg or {}).get("train", {}).get("arch")


# ----------------------------------------------------------------------------- evaluate / predict
@app.command()
def evaluate(
    run_or_ckpt: Annotated[str, typer.Argument(help="A run directory (uses final.pt, else last.pt) or a checkpoint file.")],
    dataset: Annotated[Optional[str], typer.Option(help="Evaluate on another dataset of the same classes.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Data folder for --dataset.")] = None,
    split: Annotated[str, typer.Option(help="test | val")] = "test",
    tta: Annotated[bool, typer.Option("--tta", help="Average predictions over each image and its flip.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Accuracy, per-class accuracy and the confusion matrix of a trained model."""
    if split not in ("test", "val"):
        raise CliError(f"--split must be test or val (got {split!r})")
    from core.config import DATASETS

    if dataset is not None and dataset not in DATASETS:
        raise CliError(f"--dataset must be one of {', '.join(DATASETS)} (got {dataset!r})")
    from core.errors import UserError
    from core.inference import evaluate_trained, load_trained

    try:
        trained = load_trained(run_or_ckpt, device)
        # evaluation never downloads: a missing dataset is an error that says where to put it
        overrides = {k: v for k, v in {"dataset": dataset, "data": data}.items() if v is not None} | {"download": False}
        result, _ = evaluate_trained(trained, split=split, tta=tta, overrides=overrides)
    except UserError as e:
        raise CliError(str(e)) from None
    classes = trained.classes
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "checkpoint": str(trained.path),
                    "arch": trained.arch,
                    "split": split,
                    "count": result.count,
                    "loss": result.loss,
                    "accuracy": result.accuracy,
                    "per_class_accuracy": dict(zip(classes, result.per_class_accuracy)),
                    "confusion": [list(r) for r in result.confusion],
                    "classes": classes,
                }
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{trained.arch} from {trained.path}: {split} accuracy [bold]{100 * result.accuracy:.2f}%[/] "
        f"(loss {result.loss:.4f}, {result.count} images{', flip TTA' if tta else ''})",
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
    from core.inference import load_trained, predict_images

    try:
        trained = load_trained(run_or_ckpt, device)
        predictions = predict_images(trained, images, top_k, tta)
    except UserError as e:
        raise CliError(str(e)) from None
    if as_json:
        typer.echo(json.dumps([{"image": p.path, "top": [{"class": c, "prob": v} for c, v in p.top]} for p in predictions]))
        return
    for p in predictions:
        typer.echo(f"{p.path}: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in p.top))


# ----------------------------------------------------------------------------- data
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
    from core.config import DATASETS

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


# ----------------------------------------------------------------------------- entry point
def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry: runs the app's commands and turns every user error into one line + exit 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="resnet-tui", standalone_mode=False)
    except CliError as e:
        _err(str(e))
        raise SystemExit(EXIT_USAGE) from None
    except (KeyboardInterrupt, typer.Abort):
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(EXIT_SIGINT) from None
    except Exception as e:
        # typer's parse errors (click's UsageError/BadParameter, vendored inside typer since 0.26)
        # carry format_message() and exit_code; anything else is a bug and keeps its traceback.
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            _err(e.format_message())
            raise SystemExit(e.exit_code) from None
        raise
    raise SystemExit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
