"""Several processes for one run: `train --nproc-per-node N` (and --nnodes/--node-rank/--master-addr/--master-port)
starts the job through PyTorch's own launcher, torch.distributed.run (torchrun), nothing home-made.

The request goes into a launch folder's ``launch.json``, as for a background run: on node 0 that folder is
the run's own folder (made here, so its name is known at once), on the other nodes a private temporary one
(rank 0 writes the run). torchrun starts ``python -m tui.cli.background FOLDER`` once per process; each reads
the request and trains as one rank (core.hardware.dist). This process waits for torchrun in its own session (so a
terminal's Ctrl-C reaches only this launcher), forwards SIGINT, SIGTERM and SIGHUP to it as SIGTERM (every
rank saves at the same batch: core.train.decisions) and, on node 0, prints the run's progress from its
event stream as `train` does. torchrun's and the processes' own output goes to FOLDER/log.txt.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError

DEFAULT_PORT = 29500  # torchrun's, for jobs over several machines (they must agree on it)


@dataclass(frozen=True)
class Job:
    nproc: int  # processes on this machine
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port, chosen here (one machine only)

    @property
    def world(self) -> int:
        return self.nproc * self.nnodes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Job":
        return cls(**{k: d[k] for k in ("nproc", "nnodes", "node_rank", "master_addr", "master_port")})


def plan_job(nproc: str | None, nnodes: int, node_rank: int, master_addr: str | None, master_port: int | None,
             device: str, batch_size: int) -> Job:
    """The job the options ask for, checked against this machine; UserError (one line) when it cannot run."""
    if os.environ.get("WORLD_SIZE") not in (None, "1"):
        raise UserError("--nproc-per-node: this process is already one of a distributed job (WORLD_SIZE is set); "
                        "torchrun or srun starts the processes, leave the option out")
    if nnodes < 1:
        raise UserError(f"--nnodes must be 1 or more (got {nnodes})")
    if not 0 <= node_rank < nnodes:
        raise UserError(f"--node-rank must be from 0 to {nnodes - 1} for --nnodes {nnodes} (got {node_rank})")
    if nnodes > 1 and master_addr is None:
        raise UserError("--nnodes > 1 needs --master-addr: the address of node 0, where every node meets")
    gpus = _gpu_count(device)
    count = _process_count(nproc or "1", gpus)
    if gpus is not None and count > gpus:
        raise UserError(f"--nproc-per-node {count}: more processes than this machine's {gpus} GPU"
                        f"{'s' if gpus != 1 else ''} (one process per GPU)")
    cores = os.cpu_count() or 1
    if gpus is None and count > cores:
        raise UserError(f"--nproc-per-node {count}: more processes than this machine's {cores} CPU cores")
    world = count * nnodes
    if batch_size % world:
        raise UserError(f"--batch-size {batch_size} is the global batch and does not divide among {world} processes "
                        f"({count} per node x {nnodes} node{'s' if nnodes != 1 else ''}); use a multiple of {world}")
    addr = master_addr or "127.0.0.1"
    port = master_port if master_port is not None else (DEFAULT_PORT if nnodes > 1 else 0)
    if not 0 <= port <= 65535:
        raise UserError(f"--master-port must be from 1 to 65535 (got {port})")
    if node_rank == 0:
        port = _claimable(addr, port)
    return Job(count, nnodes, node_rank, addr, port)


def _gpu_count(device: str) -> int | None:
    """GPUs the processes would use (None: they train on CPUs)."""
    if device == "cpu" or device == "mps":
        return None
    import torch

    if not torch.cuda.is_available():
        if device.startswith("cuda"):
            raise UserError(f"--device {device} is not available: no CUDA GPU was found; use --device cpu")
        return None
    if device.startswith("cuda:"):
        raise UserError(f"--device {device}: with several processes each takes the GPU of its local rank; "
                        "use --device cuda (CUDA_VISIBLE_DEVICES chooses which GPUs)")
    return torch.cuda.device_count()


def _process_count(nproc: str, gpus: int | None) -> int:
    if nproc == "gpu":
        if not gpus:
            raise UserError("--nproc-per-node gpu: this machine has no CUDA GPU; give a number")
        return gpus
    try:
        count = int(nproc)
    except ValueError:
        raise UserError(f"--nproc-per-node must be a whole number or gpu (got {nproc!r})") from None
    if count < 1:
        raise UserError(f"--nproc-per-node must be 1 or more (got {count})")
    return count


def _claimable(addr: str, port: int) -> int:
    """The port node 0's rendezvous will listen on: ``port`` if it is free here, else a one-line error; 0 picks
    a free one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("" if addr not in ("127.0.0.1", "localhost") else "127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"--master-port {port} is busy on this machine; choose another") from None
            raise UserError(f"--master-port {port}: cannot listen on it ({e.strerror or e})") from None
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- running the job
def torchrun_command(job: Job, folder: Path) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run",
        f"--nproc-per-node={job.nproc}", f"--nnodes={job.nnodes}", f"--node-rank={job.node_rank}",
        f"--master-addr={job.master_addr}", f"--master-port={job.master_port}",
        "--max-restarts=0",  # a failed process ends the job; the run resumes from its last checkpoint
        "--monitor-interval=0.5",
        "-m", "tui.cli.background", str(folder),
    ]


class JobProcess:
    """torchrun for ``folder``'s request, in its own session, its output appended to FOLDER/log.txt."""

    def __init__(self, job: Job, folder: Path) -> None:
        from core.runs.layout import LOG

        self.job, self.folder = job, folder
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # CPU processes share the cores (torchrun would give each one thread on any machine).
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // job.nproc)))
        with open(folder / LOG, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} torchrun: {job.nproc} process"
                      f"{'es' if job.nproc != 1 else ''} on node {job.node_rank} of {job.nnodes}\n".encode())
            log.flush()
            self.process = subprocess.Popen(torchrun_command(job, folder), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True, env=env, close_fds=True)
        self.received: list[int] = []

    def forward_signals(self) -> dict:
        """SIGINT, SIGTERM and SIGHUP to this launcher become a SIGTERM to torchrun (which passes it to every
        process: they stop at the same batch and save). Returns the previous handlers."""
        def forward(signum, _frame) -> None:
            self.received.append(signum)
            # Once: a second SIGTERM would cut torchrun's wait for the processes' saves short.
            if len(self.received) == 1 and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                print("\nstopping: every process saves at the same batch", file=sys.stderr, flush=True)

        watched = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            watched.append(signal.SIGHUP)
        return {s: signal.signal(s, forward) for s in watched}

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int:
        while True:
            try:
                return self.process.wait()
            except KeyboardInterrupt:  # noqa: PERF203 - a handler that raises; keep waiting for the job
                continue
