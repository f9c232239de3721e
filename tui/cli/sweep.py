"""`resnet-tui sweep`: train every point of a grid of options times K seeds, one run each, in a sweep folder.

The points run one after another in this process (or in one detached process with --background). The
same command run again continues the sweep: completed runs are kept, an interrupted one resumes from its
checkpoint. ``python -m tui.cli.sweep FOLDER`` runs a sweep folder's spec (the detached process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tui.cli.common import EXIT_FAILED, CliError, app, err, stdout_console
from tui.cli.grid import grid_options

STOP_CODES = (3, 129, 130, 143)  # run_training's exit codes for a stopped run (see cli_train._stop_code)


@app.command()
@grid_options
def sweep(
    name: Annotated[Optional[str], typer.Option("--name", help="The sweep's folder in --run-dir; the same command with the same --name continues it (default: sweep-<date>-<time>).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per config: --seed, --seed+1, ... (mean and spread over them).")] = 1,
    run_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories; the sweep's folder goes in it.")] = "checkpoints",
    preset: Annotated[Optional[str], typer.Option(help="Start every point from a preset (see `train --help`).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Read settings for every point from a JSON or TOML file.")] = None,
    background: Annotated[bool, typer.Option("--background", help="Check everything, run the sweep as one detached process (output in SWEEP/log.txt) and return.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout: one row per config with its mean, std and n (progress goes to stderr).")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Runs at once on this machine, one process each (on CPU they share the cores).")] = None,
    devices: Annotated[Optional[str], typer.Option("--devices", help="One worker per device: e.g. cuda:0,cuda:1.")] = None,
    gpus: Annotated[Optional[str], typer.Option("--gpus", help="'all': one worker per visible GPU.")] = None,
    grid: dict[str, list[Any]] = {},  # noqa: B006 - filled by grid_options, never by typer
    fixed: dict[str, Any] = {},  # noqa: B006
) -> None:
    """Train a grid of configs, each with K seeds: e.g. --arch resnet20,resnet56 --lr 0.05,0.1 --seeds 3 --name depth-vs-lr.

    Every option of `train` can be given; a comma list of values makes it an axis of the grid.
    The summary gives each config's final test accuracy as mean ± std over its seeds, with n, time and img/s.
    """
    from core.config.presets import PRESETS
    from core.config.train_config import TrainConfig
    from core.errors import UserError
    from core.experiments import sweep as sw
    from tui.cli.train import _check

    if preset is not None and preset not in PRESETS:
        raise CliError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
    from_file: dict[str, Any] = {}
    try:
        if config is not None:
            from core.config.files import load_config_file

            from_file = load_config_file(config)
        base = (TrainConfig(**PRESETS[preset].values) if preset else TrainConfig()).replace(**from_file)
        first_seed = int(fixed.pop("seed", base.seed))
        name = time.strftime("sweep-%Y%m%d-%H%M%S") if name is None else name
        if not name.strip() or "/" in name or name in (".", ".."):
            raise UserError(f"--name {name!r}: a sweep's name is a folder name (no '/')")
        spec = sw.make_spec(name, grid, fixed, seeds, first_seed, preset, from_file)
        folder = Path(run_dir).expanduser() / name
        cfgs = [sw.point_config(spec, p, folder) for p in sw.points(spec)]
        for cfg in cfgs:  # the values and architectures, before torch is imported
            _check(cfg)
        _preflight(cfgs)
        existed = sw.open_sweep(folder, spec)
    except UserError as e:
        raise CliError(str(e)) from None
    configs = len({p.label for p in sw.points(spec)})
    out = sys.stderr if as_json else sys.stdout
    print(f"sweep {name}: {configs} config{'s' if configs != 1 else ''} x {seeds} seed{'s' if seeds != 1 else ''} = "
          f"{len(cfgs)} runs in {folder}{' (continuing it)' if existed else ''}", file=out, flush=True)
    places = None
    if workers is not None or devices is not None or gpus is not None:
        from tui.cli.search_plan import plan_workers

        if background:
            raise CliError("--background runs a sweep as one process; for several workers run it under nohup instead")
        try:
            places = plan_workers(workers, devices, gpus, spec)
        except UserError as e:
            raise CliError(str(e)) from None
    lock = _lock(folder)
    if background:
        raise typer.Exit(_launch(folder, lock, as_json))
    if places:
        raise typer.Exit(run_parallel(folder, as_json, lock, places))
    raise typer.Exit(run_sweep(folder, as_json, lock))


def run_parallel(folder: Path, as_json: bool, lock, places: list[tuple[str, int]]) -> int:
    """The sweep's points spread over one worker process per place (tui.cli.sweep_worker); then the summary."""
    from core.experiments import sweep as sw
    from tui.cli.search import run_workers

    out = sys.stderr if as_json else sys.stdout
    try:
        codes, interrupted = run_workers(["tui.cli.sweep_worker", str(folder)], places, out, tag=True)
        stops = [c for c in codes if c in STOP_CODES]
        if interrupted or stops:
            print("sweep stopped; the same command continues it", file=sys.stderr, flush=True)
        code = 130 if interrupted else 2 if 2 in codes else stops[0] if stops else EXIT_FAILED if any(codes) else 0
        rows = sw.write_summary(folder)
    finally:
        lock.release()
    print_summary(rows, as_json)
    return code


def _preflight(cfgs: list) -> None:
    """What `train --background` checks before it returns, for every point, before the sweep folder is written:
    the files (data, weights, --no-download) and every GPU named. The rest (the data's classes, say) is found
    by the first run that needs it; a sweep folder where no run started takes the corrected command's spec."""
    from core.config.validate import check_paths
    from core.errors import UserError

    for cfg in cfgs:
        errors = check_paths(cfg.replace(name=""))  # the points' own folders exist when a sweep is continued
        if errors:
            raise UserError(str(errors[0]))
    devices = sorted({cfg.device for cfg in cfgs} - {"auto", "cpu"})
    if devices:
        from core.hardware.devices import resolve_device

        for device in devices:
            resolve_device(device)


def _lock(folder: Path):
    """The sweep's lock (one process runs a sweep), or a one-line error naming who holds it."""
    from core.errors import UserError
    from core.runs.lock import RunBusyError, RunLock, describe, lock_holder

    try:
        return RunLock.acquire(folder)
    except RunBusyError:
        raise CliError(f"the sweep {folder} is already running ({describe(lock_holder(folder) or {})}); "
                       f"follow its runs with: resnet-tui runs list --run-dir {folder.parent}") from None
    except UserError as e:
        raise CliError(str(e)) from None


def run_sweep(folder: Path, as_json: bool, lock) -> int:
    """Run the sweep's points that are not done yet, in order; the exit code (0 all completed, 1 a run failed,
    a stop's code when a run was stopped: the sweep stops there and the same command continues it)."""
    from core.experiments import sweep as sw

    out = sys.stderr if as_json else sys.stdout
    code = 0
    try:
        spec = sw.read_spec(folder)
        todo = sw.points(spec)
        for i, point in enumerate(todo, 1):
            result = run_point(folder, spec, point, f"{i}/{len(todo)}", out, as_json)
            if result in STOP_CODES:
                print(f"sweep stopped at run {i}/{len(todo)}; the same command continues it", file=sys.stderr)
                return result
            if result not in (0, None):
                code = EXIT_FAILED
        rows = sw.write_summary(folder)
    finally:
        lock.release()
    print_summary(rows, as_json)
    return code


SAYS = {"completed": "completed earlier, kept", "failed": "failed earlier, kept (see its run.json)", "start": "starting",
        "resume": "resuming from its checkpoint", "restart": "starting again (it stopped before its first checkpoint)"}


def run_point(folder: Path, spec: dict[str, Any], point, where: str, out, as_json: bool, device: str | None = None) -> int | None:
    """Train (or resume) one point of the sweep in this process; its exit code, or None when it was done before
    (EXIT_FAILED for one that failed before). ``device``: where a parallel sweep's worker trains it."""
    from core.config.train_config import TrainConfig
    from core.experiments import sweep as sw
    from tui.cli.train import run_training

    run_dir = folder / point.run
    state = sw.point_state(run_dir)
    if state == "live":
        raise CliError(f"{run_dir} is being trained by another process; wait for it (or stop it), then run the sweep again")
    print(f"[{where}] {point.label} seed {point.seed}: {SAYS[state]}" + (f" on {device}" if device else ""), file=out, flush=True)
    drift = sw.point_drift(run_dir, sw.point_config(spec, point, folder)) if state != "start" else []
    if drift:
        print(f"  note: {point.run} was changed outside the sweep: {'; '.join(drift)}; it is kept as it is "
              f"and marked * in the summary", file=out, flush=True)
    if state in ("completed", "failed"):
        return EXIT_FAILED if state == "failed" else None
    if state == "restart":
        aside = folder / ".abandoned" / f"{point.run}-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.parent.mkdir(exist_ok=True)
        run_dir.rename(aside)
    if state == "resume":
        result = run_training(TrainConfig(), str(run_dir), {"device": device} if device else {}, as_json, print_result=False)
    else:
        cfg = sw.point_config(spec, point, folder)
        result = run_training(cfg.replace(device=device) if device else cfg, None, {}, as_json, print_result=False)
    sw.write_summary(folder)
    return result


def print_summary(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        keep = ("label", "config", "n", "mean", "std", "train_seconds", "images_per_sec", "completed", "failed", "pending",
                "runs", "changed")
        rounded = {"train_seconds": 3, "images_per_sec": 1}  # measured figures, not float noise
        typer.echo(json.dumps([{k: round(r[k], rounded[k]) if k in rounded and r[k] is not None else r[k] for k in keep}
                               for r in rows], indent=2))
        return
    from rich.table import Table

    from core.experiments.sweep import mean_std_text

    table = Table("config", "final test acc (mean ± std)", "runs", "time", "img/s", box=None, header_style="bold")
    for r in rows:
        runs = f"{r['completed']}/{len(r['runs'])}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.1f} s"
        ips = "-" if r["images_per_sec"] is None else f"{r['images_per_sec']:.0f}"
        table.add_row(r["label"] + (" *" if r["changed"] else ""), mean_std_text(r), runs, secs, ips)
    stdout_console().print(table)
    changed = [run for r in rows for run in r["changed"]]
    if changed:
        stdout_console().print(f"* set up differently from the sweep (resumed or changed outside it): {', '.join(changed)}")


def _launch(folder: Path, lock, as_json: bool) -> int:
    """The sweep as one detached process (its own session: a closed terminal cannot stop it). It inherits
    the sweep's lock, so no second sweep can slip in while it starts."""
    with open(folder / "log.txt", "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} sweep launched\n".encode())
        log.flush()
        child = subprocess.Popen([sys.executable, "-m", "tui.cli.sweep", str(folder), str(lock.fd)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 close_fds=True, pass_fds=(lock.fd,), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lock.release()  # the child's copy of the descriptor keeps the lock
    if as_json:
        typer.echo(json.dumps({"sweep_dir": str(folder), "pid": child.pid, "status": "starting"}))
    else:
        typer.echo(f"started the sweep in the background (pid {child.pid}; output in {folder / 'log.txt'})\n"
                   f"its runs: resnet-tui runs list --run-dir {folder.parent}; its summary: the same command again, "
                   f"once it is done (or resnet-tui report {folder} --out summary.html)")
    return 0


def main(argv: list[str]) -> int:
    """The detached sweep: run the spec in the folder ``argv[0]``, holding the lock passed down as fd ``argv[1]``."""
    import signal

    from core.runs.lock import RunLock

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        folder = Path(argv[0])
        return run_sweep(folder, False, RunLock.adopt(folder, int(argv[1])))
    except CliError as e:
        err(str(e))
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
