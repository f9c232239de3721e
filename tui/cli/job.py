"""`train --nproc-per-node N` (and the multi-node options): check, prepare the launch folder, then run the job
through torchrun here (printing the run's progress) or detached (--background). See tui.cli.torchrun."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import typer

from tui.cli.common import (
    EXIT_FAILED, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM, EXIT_STOPPED, CliError, err, resume_command,
)
from tui.cli.torchrun import Job, JobProcess


def plan_and_start_job(cfg, resume: Optional[str], given: dict[str, Any], background: bool, as_json: bool,
                       nproc: Optional[str], nnodes: int, node_rank: int, addr: Optional[str], port: Optional[int]) -> int:
    """`train` with --nproc-per-node or --nnodes: the job planned against this machine, then started."""
    from core.errors import UserError
    from tui.cli.torchrun import plan_job

    try:
        planned = cfg
        if resume is not None:
            from core.train.resume import resume_config

            planned = resume_config(resume, given).cfg
        job = plan_job(nproc, nnodes, node_rank, addr, port, planned.device, planned.batch_size)
    except UserError as e:
        raise CliError(str(e)) from None
    return start_job(cfg, resume, given, job, background, as_json)


def start_job(cfg, resume: Optional[str], given: dict[str, Any], job: Job, background: bool, as_json: bool) -> int:
    """Everything a one-process run would check first, the launch folder, then the job."""
    from core.errors import UserError
    from core.runs import catalog, layout
    from tui.cli.launch import launch, write_request

    run: Path | None = None
    try:
        if resume is not None:
            from core.runs.lock import RunBusyError, describe
            from core.train.resume import resume_config

            point = resume_config(resume, given)
            holder = catalog.owner(point.run_dir) if job.node_rank == 0 else None  # (node 0 may own it already)
            if holder is not None:
                raise RunBusyError(f"{point.run_dir} is being trained by {describe(holder)}; "
                                   f"watch it with: resnet-tui runs watch {point.run_dir}")
            run = point.run_dir
        else:
            from core.config.validate import check_config

            # Node 0 names and makes the run folder; the others must not trip over it when it comes first.
            check_config(cfg if job.node_rank == 0 else cfg.replace(name=""))
        if job.node_rank == 0:
            if run is None:
                run = layout.create_run_dir(cfg.runs_dir, cfg.name or layout.default_run_name(cfg), explicit=bool(cfg.name))
                run = run.resolve()
            folder = run
        else:
            folder = Path(tempfile.mkdtemp(prefix=f"resnet-tui-node{job.node_rank}-"))
        request = dict(config=None if resume else cfg.to_dict(), resume=resume is not None,
                       overrides=given if resume else {}, job=job.to_dict(), run=run)
        if background:
            pid = launch(folder, **request)
        else:
            write_request(folder, **request)
    except UserError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot start the job: {e.strerror or e}") from None
    if background:
        if as_json:
            typer.echo(json.dumps({"run_dir": str(folder), "pid": pid, "status": "starting", "processes": job.world}))
        else:
            where = f"{folder}" if job.node_rank == 0 else f"node {job.node_rank}'s launch folder {folder}"
            typer.echo(f"started {where} in the background: {job.world} processes (pid {pid}; output in "
                       f"{folder / layout.LOG})" + (f"\nfollow it with: resnet-tui runs watch {folder}" if job.node_rank == 0 else ""))
        return 0
    code = run_job_here(job, folder, follow=job.node_rank == 0, as_json=as_json)
    if job.node_rank != 0 and code == 0:
        shutil.rmtree(folder, ignore_errors=True)
    return code


def run_job_here(job: Job, folder: Path, follow: bool, as_json: bool = False) -> int:
    """torchrun for ``folder`` in this process's care until it ends; the exit code. ``follow``: print the run's
    progress from its event stream (node 0 of a job started from a terminal)."""
    process = JobProcess(job, folder)
    previous = process.forward_signals()
    try:
        finished = None
        if follow:
            try:
                finished = _follow(process, folder, as_json)
            except Exception as e:  # noqa: BLE001 - showing progress must never orphan the job: wait for it
                err(f"cannot show the run's progress ({type(e).__name__}: {e}); the job goes on: "
                    f"resnet-tui runs watch {folder}")
        code = process.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return _outcome(job, folder, code, process.received, as_json, finished)


def _follow(process: JobProcess, folder: Path, as_json: bool):
    """Print the run's events (from its stream, as rank 0 writes them) until the job ends; the last RunFinished
    of this session, if any."""
    from core.runs.events import RunFinished
    from core.runs.follow import RunFollower
    from tui.cli.console import PlainSink, RichSink

    out = sys.stderr if as_json else sys.stdout
    sink = RichSink() if sys.stderr.isatty() else PlainSink(out)
    follower = RunFollower(folder, from_start=False)  # a resumed run's earlier sessions are not this job's
    finished = None
    if process.job.nnodes > 1:
        print(f"waiting for the other {process.job.nnodes - 1} node(s) to join at {process.job.master_addr}:"
              f"{process.job.master_port} (the same command with --node-rank 1..{process.job.nnodes - 1})",
              file=sys.stderr, flush=True)
    while True:
        alive = process.alive()
        for record in follower.reader.poll(None):
            sink(record.event)
            if isinstance(record.event, RunFinished):
                finished = record.event
        if not alive:
            return finished
        time.sleep(0.2)


def _outcome(job: Job, folder: Path, code: int, received: list[int], as_json: bool, finished=None) -> int:
    """The exit code from how the run ended (run.json, written by rank 0), as `train` gives it."""
    from core.runs.layout import CONFIG, STATUS, read_json

    if job.node_rank != 0:
        if code != 0:
            err(f"this node's processes ended with exit code {code}; their output is in {folder / 'log.txt'}")
            return EXIT_FAILED
        return 0
    status = read_json(folder / STATUS) or {}
    state = status.get("status")
    if as_json:
        train = (read_json(folder / CONFIG) or {}).get("train", {})
        typer.echo(json.dumps({
            "run_dir": str(folder), "arch": train.get("arch"), "epochs": status.get("epochs"),
            "epochs_completed": status.get("epochs_completed"), "final_test_acc": status.get("final_test_acc"),
            "best_val_acc": status.get("best_val_acc"), "train_seconds": status.get("train_seconds"),
            "images_per_sec": status.get("images_per_sec"), "status": state if state != "running" else "interrupted",
            "error": status.get("error"), "processes": job.world,
        }))
    resume = resume_command(folder)
    if state == "completed":
        return 0
    if state == "stopped":
        where = ""
        if finished is not None and finished.stopped_at is not None:
            epoch, batch, steps = finished.stopped_at
            where = f" at epoch {epoch}, batch {batch}/{steps}"
        print(f"stopped{where}; state saved in {folder}/last.pt\nresume with: {resume}", file=sys.stderr)
        if not received:
            return EXIT_STOPPED
        return {signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}.get(received[0], EXIT_SIGINT)
    if state == "failed":
        err(f"training failed: {status.get('error')}")
        return EXIT_FAILED
    # Rank 0 never wrote an end: it was killed (or the job could not start). Its lock went with it.
    err(f"the job ended (torchrun exit code {code}) before its run finished; the output of its processes is in "
        f"{folder / 'log.txt'}" + (f"; resume with: {resume}" if (folder / 'last.pt').exists() else ""))
    return EXIT_FAILED
