"""`resnet-tui search`: an Optuna study over training options, its trials run by worker processes, one per device.

Everything is checked (the space, the options, the storage, the devices) before a worker starts. Each worker
(``python -m tui.cli.search_worker``) asks the shared study for trials until the budget is used; this process
waits for them, then tests the best trial once and prints the table (or --json). The same command run again,
here or on another machine sharing the runs folder and --storage, continues or joins the search.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tui.cli.common import EXIT_FAILED, EXIT_SIGINT, CliError, app
from tui.cli.grid import space_options


@app.command()
@space_options
def search(
    name: Annotated[Optional[str], typer.Option("--name", help="The search's folder in --run-dir and its study's name; the same command continues it (default: search-<date>-<time>).")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", help="Trials in all, over every worker and machine (default: 20; the grid's size with --sampler grid).")] = None,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe (learns where to look), random, or grid (comma lists only).")] = "tpe",
    pruner: Annotated[str, typer.Option("--pruner", help="median (stop a trial below the median of the others at the same epoch), hyperband, or none.")] = "median",
    workers: Annotated[Optional[int], typer.Option("--workers", help="Trials at once on this machine, one process each (on CPU they share the cores).")] = None,
    devices: Annotated[Optional[str], typer.Option("--devices", help="One worker per device: e.g. cuda:0,cuda:1.")] = None,
    gpus: Annotated[Optional[str], typer.Option("--gpus", help="'all': one worker per visible GPU.")] = None,
    storage: Annotated[Optional[str], typer.Option("--storage", help="An Optuna storage URL (postgresql://..., sqlite:///PATH) or journal:PATH, shared by every machine of the search (default: SEARCH/study.db).")] = None,
    run_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories; the search's folder goes in it.")] = "checkpoints",
    preset: Annotated[Optional[str], typer.Option(help="Start every trial from a preset (see `train --help`).")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Read settings for every trial from a JSON or TOML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"study", "storage", "best", "trials"} as JSON on stdout (progress goes to stderr).')] = False,
    given: dict[str, Any] = {},  # noqa: B006 - filled by space_options, never by typer
) -> None:
    """Search training options with Optuna: e.g. --lr 0.01:0.5:log --weight-decay 1e-5:1e-3:log --arch resnet20,resnet32 --trials 16 --workers 2.

    The objective is the validation accuracy after the last epoch (--val-split, 0.1 unless given); the test set never chooses: only the best trial is tested, once, after the trials.
    Every trial is a run folder SEARCH/trial-NNN.
    """
    import time

    from core.errors import UserError
    from tui.cli.search_plan import check_trials, plan_workers

    try:
        spec, folder, budget = _spec(name or time.strftime("search-%Y%m%d-%H%M%S"), given, trials, sampler, pruner,
                                     storage, run_dir, preset, config)
        check_trials(spec, folder)
        places = plan_workers(workers, devices, gpus, spec)
        from core.experiments import search as se
        from core.experiments.search_study import open_storage, open_study

        if spec["storage"]:
            open_storage(spec["storage"])  # a storage that cannot be opened is refused before the folder is made
        existed = se.open_search(folder, spec)
        se.record_budget(folder, budget)
        spec = se.read_spec(folder)
        study = open_study(spec, open_storage(spec["storage"]), epochs_of(spec))
    except UserError as e:
        raise CliError(str(e)) from None
    out = sys.stderr if as_json else sys.stdout
    from core.experiments.search_space import describe

    held = spec["fixed"].get("val_split") or se.base_config(spec.get("preset"), spec.get("from_file") or {}).val_split
    print(f"search {spec['name']}{' (continuing it)' if existed else ''}: {budget} trials of {describe(spec['space'])}; "
          f"{spec['sampler']} sampler, {spec['pruner']} pruner, {len(places)} worker{'s' if len(places) != 1 else ''} "
          f"({', '.join(d for d, _ in places)})\n  objective: validation accuracy on --val-split {held:g} of the training "
          f"images; the test set is used only for the best trial, after the trials\n  study: {spec['storage']}", file=out, flush=True)
    from core.experiments.search_study import budget_left

    if budget_left(study, folder, budget):
        codes, interrupted = run_workers(["tui.cli.search_worker", str(folder), "--trials", str(budget)], places, out)
    else:  # every trial is done (or running elsewhere): no worker to start, the results at once
        print(f"  all {budget} trials are done or running; --trials N with a larger N searches on", file=out, flush=True)
        codes, interrupted = [], False
    if interrupted:
        print(f"search stopped; run the same command (with --name {spec['name']}) to continue it: stopped trials "
              f"resume from their checkpoints", file=sys.stderr, flush=True)
        code = EXIT_SIGINT
    elif 2 in codes:
        code = 2  # a worker's one-line error (its storage or spec) was passed on above
    else:
        for i, c in enumerate(codes):
            if c:
                print(f"note: worker {i} ended with exit code {c}" + ("; its trial was handed back to the study"
                      if c in SIGNALLED else ""), file=sys.stderr, flush=True)
        code = 0
    raise typer.Exit(finish(folder, spec, study, as_json, code))


def _spec(name, given, trials, sampler, pruner, storage, run_dir, preset, config):
    from core.config.presets import PRESETS
    from core.errors import UserError
    from core.experiments import search as se
    from core.experiments.search_space import grid_size, split_options

    if preset is not None and preset not in PRESETS:
        raise UserError(f"--preset must be one of {', '.join(PRESETS)} (got {preset!r})")
    if not name.strip() or "/" in name or name in (".", ".."):
        raise UserError(f"--name {name!r}: a search's name is a folder name (no '/')")
    from_file: dict[str, Any] = {}
    if config is not None:
        from core.config.files import load_config_file

        from_file = load_config_file(config)
    space, fixed = split_options(given)
    seed = int(fixed.pop("seed", from_file.get("seed", 0)))
    folder = Path(run_dir).expanduser() / name
    spec = se.make_spec(name, space, fixed, sampler=sampler, pruner=pruner, seed=seed, preset=preset,
                        from_file=from_file, storage=storage or "")
    if trials is not None and trials < 1:
        raise UserError(f"--trials must be 1 or more (got {trials})")
    budget = trials if trials is not None else (grid_size(space) if sampler == "grid" else 20)
    return spec, folder, budget


def epochs_of(spec: dict[str, Any]) -> int:
    from core.experiments.search import base_config

    epochs = spec["space"].get("epochs")
    if epochs:
        return int(max(epochs["choices"]) if "choices" in epochs else epochs["high"])
    return int(spec["fixed"].get("epochs", base_config(spec.get("preset"), spec.get("from_file") or {}).epochs))


def run_workers(worker: list[str], places: list[tuple[str, int]], out, tag: bool = False) -> tuple[list[int], bool]:
    """Start ``python -m WORKER...`` once per place (with --device, --threads, --worker), pass their lines on to
    ``out`` and wait for them all: (their exit codes, whether this process was interrupted). Shared by search and
    the parallel sweep. ``tag``: put "[wN] " before each line of worker N (search's workers tag their own)."""
    import threading

    procs, readers = [], []
    for i, (device, threads) in enumerate(places):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, "-m", *worker, "--device", device, "--threads", str(threads), "--worker", str(i)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                text=True, bufsize=1)
        procs.append(proc)
        readers.append(threading.Thread(target=_relay, args=(proc, out, f"[w{i}] " if tag else ""), daemon=True))
        readers[-1].start()
    interrupted = False
    while True:
        try:
            codes = [p.wait() for p in procs]
            break
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached the workers too (one process group); a SIGINT sent to this process alone
            # did not. SIGTERM stops them either way, and is never read as a second Ctrl-C (which aborts at once).
            interrupted = True
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
    for r in readers:
        r.join(timeout=5)
    return codes, interrupted


SIGNALLED = (EXIT_SIGINT, 143, 129)


_PRINTING = __import__("threading").Lock()


def _relay(proc: subprocess.Popen, out, prefix: str) -> None:
    for line in proc.stdout:  # type: ignore[union-attr]
        with _PRINTING:
            print(prefix + line, end="", file=out, flush=True)


def finish(folder: Path, spec: dict[str, Any], study, as_json: bool, code: int) -> int:
    """Test the best trial (once, unless the search was stopped), print the table or the JSON; the exit code."""
    from core.experiments.search_results import current_best, test_best, trial_rows
    from tui.cli.search_show import print_json, print_table

    best = None
    if code != EXIT_SIGINT:
        try:
            best = test_best(study, folder)
        except Exception as e:  # noqa: BLE001 - the search stands; say why its best could not be tested
            print(f"note: the best trial could not be tested: {str(e).splitlines()[0]}", file=sys.stderr)
    best = best or current_best(study, folder)
    rows = trial_rows(study)
    if code == 0 and rows and not any(r["state"] == "complete" for r in rows):
        code = EXIT_FAILED  # the budget is spent and no trial completed: nothing was found
    if as_json:
        print_json(spec, rows, best, study)
    else:
        print_table(spec, rows, best, study)
    return code
