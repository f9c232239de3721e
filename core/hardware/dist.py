"""One process, or one rank of a torchrun job: who this process is, and the few collectives the engine needs.

torchrun (``torch.distributed.run``), a scheduler (SLURM's srun) or resnet-tui's own launcher start the
processes and set RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. ``Dist.from_env``
reads them; with a world of one nothing is initialised and every collective is a no-op, so the single-process
path runs exactly as before. NCCL on GPUs, gloo on CPUs; nothing home-made on the wire.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch

from core.errors import UserError

# A collective that waits longer than this for a peer ends with an error (a rank that died, a node that
# vanished): the job then ends instead of hanging. Generous: evaluation and checkpoint saves happen between
# collectives, and a large run's decode of the data on local rank 0 while the others wait at a barrier.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


def env_world() -> tuple[int, int, int, int] | None:
    """(rank, world size, local rank, local world size) from the launcher's variables; None for one plain
    process (no WORLD_SIZE, or 1). Bad values are a UserError naming the variable."""
    if "WORLD_SIZE" not in os.environ:
        return None
    values = {}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        raw = os.environ.get(name, "0" if name != "LOCAL_WORLD_SIZE" else os.environ.get("WORLD_SIZE", "1"))
        try:
            values[name] = int(raw)
        except ValueError:
            raise UserError(f"{name}={raw!r} in the environment is not a whole number") from None
    world, rank = values["WORLD_SIZE"], values["RANK"]
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK={rank} and WORLD_SIZE={world} in the environment do not fit together")
    if world == 1:
        return None
    return rank, world, values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    backend: str | None = None  # "nccl" or "gloo" once initialised; None alone

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The rank that writes the run folder, talks to viewers and prints (rank 0)."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device_spec: str) -> "Dist":
        """This process's place in the job; initialises the process group (NCCL for a CUDA device, gloo
        otherwise) when there is more than one process."""
        found = env_world()
        if found is None:
            return cls()
        rank, world, local_rank, local_world = found
        backend = "nccl" if _wants_cuda(device_spec) else "gloo"
        import torch.distributed as dist

        if backend == "nccl":
            # Before the first collective: NCCL works on the current GPU, and every rank of a machine would
            # otherwise use GPU 0 (NCCL refuses a GPU used twice in one communicator).
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
        return cls(rank, world, local_rank, local_world, backend)

    def device_spec(self, spec: str) -> str:
        """The device this rank trains on: each rank of a GPU job takes the GPU of its local rank."""
        if not self.active or not _wants_cuda(spec):
            return spec
        if spec.startswith("cuda:"):
            raise UserError(f"--device {spec}: with several processes each takes the GPU of its local rank; "
                            "use --device cuda (CUDA_VISIBLE_DEVICES chooses which GPUs)")
        return f"cuda:{self.local_rank}"

    # ---------------------------------------------------------------- collectives (no-ops alone)
    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the ranks, in place; returned for chaining."""
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def least(self, value: int) -> int:
        """The smallest of the ranks' ``value``s."""
        if not self.active:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.int64, device=self._object_device())
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    def first_of(self, message: str) -> str:
        """The first non-empty ``message`` over the ranks, on every rank ("" when all are empty): one small
        all-reduce, and a gather of the messages only when there is one."""
        if not self.active or self.least(0 if message else 1) == 1:
            return message
        import torch.distributed as dist

        every: list[Any] = [None] * self.world
        dist.all_gather_object(every, message)
        return next((m for m in every if m), "")

    def gather(self, items: list[Any]) -> list[Any]:
        """Every rank's ``items`` joined in rank order, on every rank (picklable things; tensors on the CPU)."""
        if not self.active:
            return items
        import torch.distributed as dist

        every: list[Any] = [None] * self.world
        dist.all_gather_object(every, items)
        return [item for part in every for item in part]

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (a run folder's path, a config): small picklable things only."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def _object_device(self) -> torch.device | None:
        # NCCL moves objects through the GPU of this rank; gloo through the CPU.
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else None

    def close(self, together: bool = False) -> None:
        """Tear the process group down. ``together``: every rank ends here at the same point of the run (a
        completed run): wait for the others first, so that no rank destroys its group while another still works
        in it (rank 0 saves the final files while the others are done). A rank that went first was seen, once
        under heavy load, to abort (SIGABRT, "terminate called without an active exception") after a completed
        run. Not for a rank that failed alone: the others may never come."""
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                if together:
                    try:
                        dist.barrier()
                    except Exception:  # noqa: BLE001 - a peer gone at the very end: still tear down
                        pass
                dist.destroy_process_group()


SINGLE = Dist()


def _wants_cuda(spec: str) -> bool:
    return spec.startswith("cuda") or (spec == "auto" and torch.cuda.is_available())
