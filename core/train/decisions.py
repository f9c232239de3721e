"""Stop, pause and save-now as the training loop acts on them, decided together by every rank of a job.

Alone, the loop reads the controls as they are. In a distributed job the controls differ between ranks (a
SIGTERM reaches them at different batches; only rank 0 reads the control file), and a rank that stopped on
its own would leave the others waiting in the next gradient all-reduce. So a rank acts only on what all
decided together at the same step: every few steps, and always at an epoch's last batch, one all-reduce of
[stop, pause, save, images, loss sum, correct] carries every rank's wishes and its part of the epoch's sums
since the last decision. A non-finite loss on any rank shows in the summed loss, so every rank stops at the
same step. Rank 0 also proposes how many steps until the next decision: on CUDA far enough apart that the
host sync it costs comes at most every CUDA_MIN_INTERVAL seconds; on a CPU every step (it costs little there).
"""

from __future__ import annotations

import time

import torch

from core.hardware.dist import Dist
from core.runs.control import TrainControl
from core.train.state import RunningEpoch

CUDA_MIN_INTERVAL = 0.5  # seconds: on CUDA a decision (a host sync) comes no more often than this
PAUSED_POLL = 0.2  # seconds between decisions while paused


class Decisions:
    def __init__(self, control: TrainControl, dist: Dist, device: torch.device) -> None:
        self.control = control
        self.dist = dist
        self.device = device
        self._stop = self._pause = self._save = False  # what all decided (several ranks only)
        self.countdown = 1  # steps until the next decision
        self.last_time = time.perf_counter()
        self.steps_since = 0

    @property
    def together(self) -> bool:
        return self.dist.active

    # ---------------------------------------------------------------- what to do
    def stop(self) -> bool:
        return self._stop if self.together else self.control.stop.is_set()

    def pause(self) -> bool:
        return self._pause if self.together else self.control.pause.is_set()

    def save(self) -> bool:
        return self._save if self.together else self.control.save_now.is_set()

    def saved(self) -> None:
        """The save asked for is done."""
        self.control.save_now.clear()
        self._save = False

    def wait_paused(self, ep: RunningEpoch) -> None:
        """Block while paused (and not stopped); several ranks decide again every PAUSED_POLL seconds."""
        if not self.together:
            self.control.wait_while_paused()
            return
        time.sleep(PAUSED_POLL)
        self.decide(ep)

    # ---------------------------------------------------------------- deciding
    def at_batch(self, ep: RunningEpoch, last: bool) -> bool:
        """After a step: True when the loop may act now (alone: always; several ranks: when all decided)."""
        if not self.together:
            return True
        self.steps_since += 1
        self.countdown -= 1
        if self.countdown > 0 and not last:
            return False
        self.decide(ep)
        return True

    def decide(self, ep: RunningEpoch) -> None:
        """One all-reduce: every rank's wishes and its part of the epoch's sums since the last decision; after it
        every rank holds the same flags and the same sums of the whole job's epoch so far."""
        c = self.control
        proposal = self._next_interval() if self.dist.main else 0.0
        head = torch.tensor([float(c.stop.is_set()), float(c.pause.is_set()), float(c.save_now.is_set()),
                             float(ep.seen - ep.synced_seen), proposal], dtype=torch.float64, device=self.device)
        loss_part = (ep.loss_sum - ep.synced_loss).reshape(1)
        correct_part = (ep.correct - ep.synced_correct).to(torch.float64).reshape(1)
        t = self.dist.sum_(torch.cat([head, loss_part, correct_part]))
        stop, pause, save, seen, interval, loss, correct = t.tolist()
        self._stop, self._pause, self._save = stop > 0, pause > 0, save > 0
        ep.set_totals(ep.synced_loss + loss, ep.synced_correct + round(correct), ep.synced_seen + round(seen))
        self.countdown = max(1, int(interval))

    def _next_interval(self) -> float:
        """Steps until the next decision, from rank 0's recent step time."""
        if self.device.type != "cuda":
            return 1.0
        now = time.perf_counter()
        per_step = (now - self.last_time) / max(1, self.steps_since)
        self.last_time, self.steps_since = now, 0
        return float(max(1, min(1000, int(CUDA_MIN_INTERVAL / per_step)))) if per_step > 0 else 1.0
