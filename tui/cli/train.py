"""The training commands: train (from scratch or from torchvision weights) and finetune (from a run)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tui.cli.common import (
    EXIT_FAILED, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM, EXIT_STOPPED, CliError, app, err, resume_command,
)
from tui.cli.options import declared_options

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object with the results on stdout (progress goes to stderr).")]
JOB_PANEL = "Several processes (torchrun)"
NprocPerNode = Annotated[Optional[str], typer.Option("--nproc-per-node", rich_help_panel=JOB_PANEL, help="Train with N processes on this machine through torchrun (DDP): one per GPU (gpu = every visible GPU), or CPU processes with --device cpu. --batch-size is the global batch.")]
Nnodes = Annotated[int, typer.Option("--nnodes", rich_help_panel=JOB_PANEL, help="Machines in the job; start the same command on each with its --node-rank.")]
NodeRank = Annotated[int, typer.Option("--node-rank", rich_help_panel=JOB_PANEL, help="This machine's place in the job, 0 to nnodes-1 (node 0 writes the run).")]
MasterAddr = Annotated[Optional[str], typer.Option("--master-addr", rich_help_panel=JOB_PANEL, help="Address of node 0, where the processes meet.")]
MasterPort = Annotated[Optional[int], typer.Option("--master-port", rich_help_panel=JOB_PANEL, help="Port on node 0 (default: a free one on one machine, 29500 over several).")]
Background = Annotated[bool, typer.Option("--background", help="Check everything, start the run as a detached process (it survives the terminal; output in RUN/log.txt), print its folder and return. Follow it with `resnet-tui runs watch RUN`.")]


def _check(cfg, file: Optional[str] = None, from_file: Optional[dict[str, Any]] = None,
           given: Optional[dict[str, Any]] = None) -> None:
    """The cheap rules, architecture included, before torch is imported, so a typo answers at once. A bad value
    that came from a config file (and no option replaced) is reported with the file's name and the key."""
    from core.config.model_names import MODEL_NAMES  # the registry's names (it checks they agree), without torch
    from core.config.validate import validate_config

    errors = validate_config(cfg, list(MODEL_NAMES))
    if errors:
        error = errors[0]
        if file is not None and error.field in (from_file or {}) and error.field not in (given or {}):
            raise CliError(f"{file}: {error.field} {error.message}")
        raise CliError(str(error))


@app.command()
@declared_options("train")
def train(
    preset: Annotated[Optional[str], typer.Option(help="Start from a preset; options given override it: quick-look (synthetic, resnet20, 2 epochs), paper (He et al.'s CIFAR recipe for resnet20-110), speed94 (resnet9, Page's DAWNBench recipe, for a GPU), cpu10 (resnet20 tuned for 10 minutes on a 2-core CPU).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Read settings from a JSON or TOML file (a run's config.json works as is); options given override it.")] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config as JSON and exit without training.")] = False,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run in this directory (add --epochs N to extend it).")] = None,
    as_json: Json = False,
    background: Background = False,
    nproc_per_node: NprocPerNode = None,
    nnodes: Nnodes = 1,
    node_rank: NodeRank = 0,
    master_addr: MasterAddr = None,
    master_port: MasterPort = None,
    given: dict[str, Any] = {},  # noqa: B006 - filled by declared_options, never by typer
) -> None:
    """Train a model headless (scripts, nohup, batch jobs). Ctrl-C (or a hang-up) stops after the current batch and saves.

    Settings come from, in order: the defaults, --preset, --config FILE, then the options given.
    """
    from core.config.train_config import TrainConfig

    if resume is None:
        from core.config.presets import PRESETS

        if preset is not None and preset not in PRESETS:
            raise CliError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
        base = TrainConfig(**PRESETS[preset].values) if preset else TrainConfig()
        from_file: dict[str, Any] = {}
        if config is not None:
            from core.config.files import load_config_file
            from core.errors import UserError

            try:
                from_file = load_config_file(config)
            except UserError as e:
                raise CliError(str(e)) from None
        chosen = from_file | given
        if chosen.get("pretrained") or chosen.get("weights"):
            # ImageNet weights come with their input size: 224 unless asked otherwise.
            size = chosen.get("image_size", 224)
            base = base.replace(image_size=size, crop_padding=max(1, size // 8))
        cfg = base.replace(**from_file).replace(**given)
        _check(cfg, file=config, from_file=from_file, given=given)
        if print_config:
            typer.echo(json.dumps(cfg.to_dict(), indent=2))
            raise typer.Exit(0)
    else:
        for flag, used in (("--preset", preset is not None), ("--config", config is not None),
                           ("--print-config", print_config)):
            if used:
                raise CliError(f"{flag} cannot be combined with --resume (the run's config fixes its settings)")
        cfg = TrainConfig()
    if nproc_per_node is not None or nnodes != 1 or node_rank != 0:
        from tui.cli.job import plan_and_start_job

        raise typer.Exit(plan_and_start_job(cfg, resume, given, background, as_json, nproc_per_node, nnodes, node_rank,
                                            master_addr, master_port))
    if background:
        raise typer.Exit(_start_background(cfg, resume, given, as_json))
    raise typer.Exit(run_training(cfg, resume, given, as_json))


@app.command()
@declared_options("finetune")
def finetune(
    run_or_ckpt: Annotated[str, typer.Argument(help="The run directory (its final weights) or checkpoint file to start from.")],
    arch: Annotated[Optional[str], typer.Option(help="Must be the parent's architecture if given (fine-tuning keeps it).")] = None,
    as_json: Json = False,
    background: Background = False,
    given: dict[str, Any] = {},  # noqa: B006 - filled by declared_options, never by typer
) -> None:
    """Fine-tune a trained model on a new dataset: its head is replaced for the new classes (from the data).

    Writes a new run that records its parent; optimiser, schedule and epochs start fresh.
    """
    from core.config.finetune_defaults import finetune_base, from_parent

    probe = finetune_base(**given)
    if probe.dataset == "folder" and "data" not in given:
        raise CliError("--data is required: the folder with train/<class>/ and test/<class>/ to fine-tune on")
    _check(probe)  # values first, before the parent checkpoint is read (which needs torch)
    from core.errors import UserError
    from core.train.finetune import read_parent

    try:
        parent, _ = read_parent(run_or_ckpt)
    except UserError as e:
        raise CliError(str(e)) from None
    if arch is not None and arch != parent.arch:
        raise CliError(f"--arch {arch}: {parent.path} is a {parent.arch} checkpoint; fine-tuning keeps its architecture")
    cfg = from_parent(probe, parent, given)
    from core.config.finetune_defaults import sized_to_data
    from core.data import training_set_size

    cfg, chosen = sized_to_data(cfg, training_set_size(cfg.dataset, cfg.data, cfg.test_split, cfg.split_seed), given)
    _check(cfg)
    if chosen:
        print(f"fine-tune defaults {chosen}", file=sys.stderr if as_json else sys.stdout, flush=True)
    if background:
        raise typer.Exit(_start_background(cfg, None, given, as_json))
    raise typer.Exit(run_training(cfg, None, given, as_json))


def _start_background(cfg, resume: Optional[str], given: dict[str, Any], as_json: bool) -> int:
    """Everything a foreground run would check, then a detached process; prints the run folder and returns."""
    from core.errors import UserError
    from core.runs import catalog, layout
    from tui.cli.launch import launch

    try:
        if resume is not None:
            from core.runs.lock import RunBusyError, describe
            from core.train.resume import resume_config

            point = resume_config(resume, given)  # the run exists, its checkpoint loads, the overrides fit it
            holder = catalog.owner(point.run_dir)
            if holder is not None:
                raise RunBusyError(f"{point.run_dir} is being trained by {describe(holder)}; watch it with: resnet-tui runs watch {point.run_dir}")
            run_dir = point.run_dir
            pid = launch(run_dir, resume=True, overrides=given)
        else:
            from core.config.validate import check_config

            check_config(cfg)  # what fit() checks first (values, architecture, files), without importing torch
            if cfg.device not in ("auto", "cpu"):  # a named GPU must exist: that needs torch (about a second)
                from core.hardware.devices import resolve_device

                resolve_device(cfg.device)
            run_dir = layout.create_run_dir(cfg.runs_dir, cfg.name or layout.default_run_name(cfg), explicit=bool(cfg.name))
            run_dir = run_dir.resolve()
            pid = launch(run_dir, config=cfg.to_dict())
    except UserError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot start the run: {e.strerror or e}") from None
    if as_json:
        typer.echo(json.dumps({"run_dir": str(run_dir), "pid": pid, "status": "starting"}))
    else:
        typer.echo(f"started {run_dir} in the background (pid {pid}; output in {run_dir / layout.LOG})\n"
                   f"follow it with: resnet-tui runs watch {run_dir}")
    return 0


def run_training(cfg, resume: Optional[str], given: dict[str, Any], as_json: bool, into: Optional[Path] = None,
                 launched: Optional[float] = None, print_result: bool = True) -> int:
    """Train in this process with console output; the exit code. SIGINT/SIGTERM (and SIGHUP, unless it is
    ignored as under nohup) stop at the current batch with a checkpoint. ``as_json``: progress to stderr and,
    with ``print_result``, the result as one JSON object on stdout."""
    import os
    import threading

    from core.errors import UserError
    from core.runs.events import RunStatus
    from core.train import fit
    from tui.cli.console import PlainSink, RichSink

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the last epoch's checkpoint stays)
        received.append(signum)
        stop.set()
        if signum == signal.SIGHUP:
            # The terminal is gone: writing to it would fail (EIO) from here on.
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
            return
        again = " (Ctrl-C again to abort at once)" if signum == signal.SIGINT else ""
        if not quiet:
            print(f"\nstopping after this batch and saving a checkpoint{again}", file=sys.stderr, flush=True)

    # A distributed job's other ranks keep quiet: rank 0 speaks for the job (their errors still go to stderr).
    quiet = os.environ.get("RANK", "0") != "0"
    if quiet:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

    stopping = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup (and the background child) ignore it
        stopping.append(signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in stopping}
    out = sys.stderr if as_json else sys.stdout
    sink = RichSink() if sys.stderr.isatty() else PlainSink(out)
    try:
        extra = {k: v for k, v in {"into": into, "requests_since": launched}.items() if v is not None}
        result = fit(cfg, sink, stop, resume=resume, resume_overrides=given if resume else None, **extra)
    except UserError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        print("\naborted; last.pt (if any) holds the last finished epoch", file=sys.stderr)
        return EXIT_SIGINT
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

    if as_json and print_result:
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
    if result.status == RunStatus.STOPPED and result.run_dir is None:
        print("stopped before training started; nothing was written", file=sys.stderr)
        return _stop_code(received)
    if result.status == RunStatus.STOPPED:
        if result.stopped_at is not None:
            epoch, batch, steps = result.stopped_at
            where = f"at epoch {epoch}, batch {batch}/{steps}"
        else:
            done = result.epochs_completed
            where = f"after {done} finished epoch{'s' if done != 1 else ''}"
        if not quiet:
            print(
                f"stopped {where}; state saved in {result.run_dir}/last.pt\n"
                f"resume with: {resume_command(result.run_dir)}",
                file=sys.stderr,
            )
        return _stop_code(received)
    if result.status == RunStatus.FAILED:
        err(f"training failed: {result.error}")
        return EXIT_FAILED
    return 0


def _stop_code(received: list[int]) -> int:
    """128 + the signal that stopped the run (130 Ctrl-C, 143 SIGTERM, 129 hang-up); 3 for a stop asked through
    the control file (`runs stop`, an attached app), as `runs watch` reports a stopped run."""
    if not received:
        return EXIT_STOPPED
    return {signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}.get(received[0], EXIT_SIGINT)


def _arch_of(result) -> Optional[str]:
    from core.runs.layout import CONFIG, read_json

    cfg = read_json(Path(result.run_dir) / CONFIG) if result.run_dir else None
    return (cfg or {}).get("train", {}).get("arch")
