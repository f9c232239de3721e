"""The streaming path: batches decoded from files by DataLoader worker processes while the model trains.

Only the decoding moves: the order is TrainStream's (a permutation seeded by (seed, epoch), each rank taking
its share of every global batch), its state is TrainStream's (epoch, batch), so a streamed run stops and
resumes at the exact batch and shards over ranks as a resident one does. Each image's crop and flip are
seeded by (seed, epoch, index) (core.data.recipe); cutout and rotation run on the device per batch, seeded
like the resident path's. Workers are persistent (forked once), batches come in pinned memory, and each
worker keeps PREFETCH batches ahead, so memory stays that of a few batches whatever the dataset's size.

An unreadable file does not kill a worker: it comes back as a bad row. With --skip-bad-images the row is
dropped and counted; otherwise BadImage names the file before the batch is trained on, so the run can save
its state at that batch and stop with one line.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import torch

from core.data.augment import Augment, Normalize, random_cutout, random_rotate
from core.data.files import FileSet
from core.data.folder import decode_image
from core.data.loader import TrainStream
from core.data.seeds import derived_seed
from core.errors import BadImage, DataError

PREFETCH = 2  # batches each worker prepares ahead


class _Images(torch.utils.data.Dataset):
    """Item (index, epoch) of a FileSet: epoch > 0 is a training draw, 0 a plain (evaluation) decode."""

    def __init__(self, files: FileSet, recipe: str, augment: Augment, seed: int) -> None:
        self.files, self.recipe, self.augment, self.seed = files, recipe, augment, seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray | None, int, str]:
        index, epoch = key
        path = self.files.path(index)
        try:
            if epoch > 0:
                from core.data.recipe import training_image

                image = training_image(path, self.files.image_size, self.recipe, self.augment, self.seed, epoch, index)
            else:
                image = decode_image(path, self.files.image_size, self.files.fit)
        except DataError as e:
            return None, int(self.files.labels[index]), str(e)
        return image, int(self.files.labels[index]), ""


def _collate(rows: list[tuple[np.ndarray | None, int, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    good = [r for r in rows if r[0] is not None]
    errors = [r[2] for r in rows if r[0] is None]
    size = good[0][0].shape[-1] if good else 0
    x = torch.from_numpy(np.stack([r[0] for r in good])) if good else torch.empty(0, 3, size, size, dtype=torch.uint8)
    y = torch.tensor([r[1] for r in good], dtype=torch.int64)
    return x, y, errors


class _Plan:
    """The batch sampler: the batches given to it before each pass (a loader reads it when a pass starts)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _quiet_worker(_: int) -> None:
    """A worker leaves Ctrl-C, SIGTERM and hang-ups to the training process, which stops at a batch and then
    ends its workers (they inherit its handlers: each would say "stopping" again, or die mid-batch and fail the
    run). A worker whose parent is gone exits by itself (DataLoader's watchdog). The signals were blocked
    across the fork (``_forking``): one that came in between is dropped here, not handled as the parent's."""
    for sig in STOPPING:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)


@contextmanager
def _forking() -> Iterator[None]:
    """Workers start (fork) inside: the stopping signals wait until they can no longer reach a worker's copy
    of the parent's handlers; the parent then handles them as usual."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _loader(dataset: _Images, plan: _Plan, workers: int, pin: bool) -> torch.utils.data.DataLoader:
    extra: dict[str, Any] = {"persistent_workers": True, "prefetch_factor": PREFETCH,
                             "worker_init_fn": _quiet_worker} if workers > 0 else {}
    return torch.utils.data.DataLoader(dataset, batch_sampler=plan, num_workers=workers, collate_fn=_collate,
                                       pin_memory=pin, **extra)


class Skipped:
    """Unreadable images left out while streaming (--skip-bad-images), for the run to report."""

    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def add(self, errors: list[str]) -> None:
        if errors and not self.first:
            self.first = errors[0]
        self.count += len(errors)


def _checked(errors: list[str], files: FileSet, skipped: Skipped) -> None:
    if errors:
        if not files.skip_bad:
            raise BadImage(errors[0])
        skipped.add(errors)


class FileStream(TrainStream):
    """TrainStream over a FileSet: the same order, state and sharding; the images decoded by workers."""

    def __init__(self, data: FileSet, batch_size: int, augment: Augment, normalize: Normalize, seed: int,
                 rank: int = 0, world: int = 1, recipe: str = "padcrop") -> None:
        super().__init__(data, batch_size, augment, normalize, seed, rank, world)
        self.device = normalize.scale.device
        self.plan = _Plan()
        self.skipped = Skipped()
        self._items = _Images(data, recipe, augment, seed)
        self._loader: torch.utils.data.DataLoader | None = None
        # With several processes: why any of them has to stop at this batch, "" when none (Dist.first_of): a
        # process that stopped alone would leave the others waiting in the gradient sum.
        self.first_problem: Callable[[str], str] | None = None

    def skipped_notice(self, epoch: int) -> str:
        n, first = self.skipped.count, self.skipped.first
        self.skipped = Skipped()
        return f"epoch {epoch}: skipped {n} unreadable image{'s' if n != 1 else ''} (--skip-bad-images), e.g. {first}" if n else ""

    def start_epoch(self, epoch: int | None = None) -> None:
        self.epoch = self.epoch + 1 if epoch is None else epoch
        order = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        self.perm = torch.randperm(len(self.data), generator=order)  # stays on the CPU: it indexes files
        self.batch_in_epoch = 0

    def epoch_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.perm is None:
            self.start_epoch()
        assert self.perm is not None
        steps, first = self.steps_per_epoch, self.batch_in_epoch
        shares = []
        for step in range(first, steps):
            idx = self.perm[step * self.batch_size : (step + 1) * self.batch_size]
            if self.world > 1:
                idx = idx.tensor_split(self.world)[self.rank]
            shares.append([(int(i), self.epoch) for i in idx])
        self.plan.batches = shares
        if self._loader is None:
            self._loader = _loader(self._items, self.plan, self.data.workers, self.device.type == "cuda")
        with _forking():
            batches = iter(self._loader)
        for step, (x, y, errors) in enumerate(batches, start=first):
            # Before the batch counts: a resume retries it.
            if self.first_problem is None:
                _checked(errors, self.data, self.skipped)
            else:
                problem = errors[0] if errors and not self.data.skip_bad else ""
                if not problem and len(y) == 0:
                    problem = (f"every image of one process's share of batch {step + 1} of epoch {self.epoch} "
                               f"was unreadable (--skip-bad-images left nothing to train on)")
                if found := self.first_problem(problem):
                    raise BadImage(found)
                self.skipped.add(errors)
            self.batch_in_epoch = step + 1
            if len(y) == 0:
                continue
            x = self.normalize(x.to(self.device, non_blocking=True))
            y = y.to(self.device, non_blocking=True)
            if self.augment.cutout > 0 or self.augment.rotate > 0:
                self.generator.manual_seed(derived_seed(self.seed, self.epoch, step, self.rank))
                if self.augment.cutout > 0:
                    x = random_cutout(x, self.augment.cutout, self.generator)
                if self.augment.rotate > 0:
                    x = random_rotate(x, self.augment.rotate, self.generator)
            yield x, y
        self.perm = None


def file_batches(data: FileSet, batch_size: int, normalize: Normalize) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An evaluation pass over files: each image decoded as the split's ``fit`` says, in order."""
    plan = _Plan()
    plan.batches = [[(i, 0) for i in range(s, min(s + batch_size, len(data)))] for s in range(0, len(data), batch_size)]
    device = normalize.scale.device
    workers = min(data.workers, len(plan.batches))
    loader = torch.utils.data.DataLoader(_Images(data, "padcrop", Augment(), 0), batch_sampler=plan, num_workers=workers,
                                         collate_fn=_collate, pin_memory=device.type == "cuda",
                                         worker_init_fn=_quiet_worker if workers else None)
    with _forking():
        batches = iter(loader)
    for x, y, errors in batches:
        _checked(errors, data, Skipped())
        if len(y):
            yield normalize(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
