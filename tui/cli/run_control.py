"""`resnet-tui runs stop|pause|continue|checkpoint|kill`: steer a live run through its control file (or, for a
stalled one, end its owner). Registered on `runs` (tui.cli.runs); nothing here imports torch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tui.cli.common import EXIT_FAILED, CliError, resume_command
from tui.cli.runs import RunArg, RunsDir, Timeout, resolve_run, runs_app


def _request(run: str, runs_dir: str, request: str, timeout: float) -> None:
    from core.runs.catalog import summarize
    from core.runs.control_file import send_request
    from core.runs.events import ControlAck, RunFinished
    from core.runs.follow import RunFollower

    if not timeout > 0:
        raise CliError(f"--timeout must be > 0 seconds (got {timeout:g})")
    run_dir = resolve_run(run, runs_dir)
    s = summarize(run_dir)
    if not s.live:
        hint = f"; resume it with: resnet-tui train --resume {run_dir}" if s.status in ("interrupted", "stopped", "failed") else ""
        raise CliError(f"{run_dir.name} is not running (status: {s.status}){hint}")
    follower = RunFollower(run_dir, from_start=False)
    sent = send_request(run_dir, request)
    deadline = time.monotonic() + timeout
    acked = False
    while time.monotonic() < deadline:
        poll = follower.poll()
        for r in poll.records:
            if isinstance(r.event, ControlAck) and r.event.id == sent.id:
                typer.echo(f"{run_dir.name}: {r.event.outcome}")
                acked = True
                if request != "stop" or r.event.outcome.startswith("the run is already"):
                    return
            if isinstance(r.event, RunFinished):
                _say_finished(run_dir, r.event)
                if request == "stop" or acked:
                    return
                raise typer.Exit(EXIT_FAILED)
        if poll.end == "vanished":
            raise CliError(f"{run_dir} was deleted while waiting for its answer")
        if poll.end == "interrupted":
            typer.echo(f"{run_dir.name}: its process ended without answering (interrupted)", err=True)
            raise typer.Exit(EXIT_FAILED)
        time.sleep(0.1)
    what = "to stop" if acked else "to answer"
    now = summarize(run_dir)
    if now is not None and now.status == "stalled":
        typer.echo(f"{run_dir.name}: no answer within {timeout:g}s: it is stalled ({now.note}), so its training loop "
                   f"cannot act on requests.\nEnd it with: resnet-tui runs kill {run_dir.name} (SIGKILL of pid "
                   f"{now.pid} on {now.host}); then resume from its last checkpoint: {resume_command(run_dir)}", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"{run_dir.name}: no answer within {timeout:g}s (the run may be loading data or evaluating; "
               f"the request stays queued and is acted on at the next batch)" if not acked else
               f"{run_dir.name}: still running {timeout:g}s after agreeing {what}", err=True)
    raise typer.Exit(EXIT_FAILED)


@runs_app.command()
def kill(run: RunArg, runs_dir: RunsDir = "checkpoints",
         force: Annotated[bool, typer.Option(help="Also a run that is making progress (prefer `runs stop`).")] = False,
         ) -> None:
    """SIGKILL a stalled run's owner: the last resort when `runs stop` gets no answer. Training since its last
    checkpoint is lost; resume from that with train --resume."""
    import os
    import signal
    import socket

    from core.runs.catalog import summarize

    run_dir = resolve_run(run, runs_dir)
    s = summarize(run_dir)
    if s is None or not s.live or s.pid is None:
        raise CliError(f"{run_dir.name} is not running (status: {s.status if s else 'unknown'}); nothing to kill")
    if s.host != socket.gethostname():
        raise CliError(f"{run_dir.name} is trained by pid {s.pid} on {s.host}, not this host: kill it there")
    if s.status != "stalled" and not force:
        raise CliError(f"{run_dir.name} is {s.status} and making progress: stop it at its batch with "
                       f"`resnet-tui runs stop {run_dir.name}` (or kill it anyway with --force)")
    try:
        os.kill(s.pid, signal.SIGKILL)  # (a stopped process dies of it too)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise CliError(f"not allowed to kill pid {s.pid} (another user's process)") from None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (now := summarize(run_dir, stall=False)) is not None and now.live:
        time.sleep(0.1)
    typer.echo(f"{run_dir.name}: killed pid {s.pid} (SIGKILL); resume from its last checkpoint with: "
               f"{resume_command(run_dir)}")


def _say_finished(run_dir: Path, event) -> None:
    from core.runs.events import RunStatus

    if event.status == RunStatus.STOPPED:
        if event.stopped_at:
            epoch, batch, batches = event.stopped_at
            where = f"at epoch {epoch}, batch {batch}/{batches}"
        else:
            where = f"after {event.epochs_completed} finished epoch{'s' if event.epochs_completed != 1 else ''}"
        typer.echo(f"{run_dir.name}: stopped {where}; state saved in last.pt\n"
                   f"resume with: {resume_command(run_dir)}")
    else:
        typer.echo(f"{run_dir.name}: {event.status}" + (f" ({event.error})" if event.error else ""))


@runs_app.command()
def stop(run: RunArg, runs_dir: RunsDir = "checkpoints", timeout: Timeout = 60.0) -> None:
    """Stop a live run at its current batch (it saves last.pt; resume it later with train --resume)."""
    _request(run, runs_dir, "stop", timeout)


@runs_app.command()
def pause(run: RunArg, runs_dir: RunsDir = "checkpoints", timeout: Timeout = 60.0) -> None:
    """Pause a live run between two batches (its process waits, holding the GPU)."""
    _request(run, runs_dir, "pause", timeout)


@runs_app.command("continue")
def continue_(run: RunArg, runs_dir: RunsDir = "checkpoints", timeout: Timeout = 60.0) -> None:
    """Continue a paused run."""
    _request(run, runs_dir, "continue", timeout)


@runs_app.command()
def checkpoint(run: RunArg, runs_dir: RunsDir = "checkpoints", timeout: Timeout = 60.0) -> None:
    """Save a live run's exact state to last.pt now (between two batches) and go on training."""
    _request(run, runs_dir, "checkpoint", timeout)
