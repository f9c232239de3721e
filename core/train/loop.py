"""The training loop: epochs of batches from where the run stands, evaluation, one metrics row per epoch. After every
batch it looks at the controls (save now, pause, stop); a stop saves ``last.pt`` at that exact batch, with the
unfinished epoch's running sums. Files are written through the RunStore."""

from __future__ import annotations

import math
import time

import torch

from core.errors import BadImage
from core.hardware.devices import peak_memory, reset_peak_memory
from core.inference.evaluate import EvalResult, EvalStopped, autocast_context, evaluate
from core.runs import activity
from core.runs.control import TrainControl
from core.runs.events import BatchProgress, EpochEnded, EpochStarted, EvalEnded, Notice, Paused, Resumed, RunStatus
from core.train.decisions import CUDA_MIN_INTERVAL, Decisions
from core.train.epoch_row import metrics_row
from core.train.setup import Setup
from core.train.state import EpochProgress, NonFiniteLoss, RunningEpoch, TrainState, check_finite
from core.train.store import RunStore

PROGRESS_INTERVAL = 0.1  # seconds between BatchProgress events unless fit() is told otherwise
# On CUDA each report reads the loss (a host sync that drains the queue): not more often than CUDA_MIN_INTERVAL.


class TrainLoop:
    def __init__(self, setup: Setup, state: TrainState, store: RunStore, control: TrainControl, progress_interval: float) -> None:
        self.setup = setup
        self.state = state
        self.store = store
        self.emit = store.emit
        self.control = control
        self.stop = control.stop
        self.decisions = Decisions(control, setup.dist, setup.device)  # alone: the controls as they are
        # A viewer asking for news ten times a second must not make a small net on a GPU wait for the host.
        self.interval = max(progress_interval, CUDA_MIN_INTERVAL) if setup.device.type == "cuda" else progress_interval
        self.steps = setup.stream.steps_per_epoch
        self.cuda_graphs = setup.cfg.compile and setup.cfg.compile_mode != "default" and setup.device.type == "cuda"
        self.total_steps = setup.cfg.epochs * self.steps

    def run(self) -> RunStatus:
        """Train the epochs left: COMPLETED with final.pt saved, or STOPPED with last.pt holding where."""
        self.setup.train_mode()
        for epoch in range(self.state.epochs_done + 1, self.setup.cfg.epochs + 1):
            if self.decisions.stop() and self.state.partial is None:
                return RunStatus.STOPPED  # at an epoch boundary last.pt already holds this exact state
            if not self._run_epoch(epoch):
                return RunStatus.STOPPED
        self.store.save_final(self.setup, self.state)
        return RunStatus.COMPLETED

    # ---------------------------------------------------------------- one epoch
    def _run_epoch(self, epoch: int) -> bool:
        """Train (the rest of) the epoch, evaluate it, record it; False when stopped within it."""
        setup, state = self.setup, self.state
        ep = self._begin_epoch(epoch)
        if self.decisions.stop():
            self._save_stopped(epoch, setup.stream.batch_in_epoch, ep.progress(0.0, ep.train_done))
            return False
        if not ep.train_done and not self.decisions.together and self.decisions.pause():
            # Paused before its first batch (a paused run handed to a new process): it holds here, not one batch on.
            if self._between_batches(epoch, ep, setup.stream.batch_in_epoch):
                return False
        if not ep.train_done:
            try:
                for x, y in setup.stream.epoch_batches():
                    loss = self._step(ep, x, y)
                    batch = setup.stream.batch_in_epoch
                    # Several ranks act together, at the steps they decide at (always the epoch's last).
                    if not self.decisions.at_batch(ep, batch == self.steps):
                        continue
                    self._report(epoch, ep, loss, batch)
                    if self._between_batches(epoch, ep, batch):
                        return False
            except BadImage:
                # A streamed file that cannot be read: last.pt holds the run just before the batch it was in.
                setup.sync()
                self.store.save_last(setup, state, ep.progress(time.perf_counter() - ep.start))
                raise
            if note := setup.stream.skipped_notice(epoch):  # unreadable files a streamed epoch left out
                self.emit(Notice(note))

        setup.sync()
        elapsed = time.perf_counter() - ep.start
        peak = peak_memory(setup.device)  # of training: read before evaluation adds its own
        ep.train_seconds += elapsed
        state.train_seconds += elapsed
        if not ep.train_done:
            state.session_epochs.append((ep.seen - ep.seen_at_start, elapsed))
        train_loss = float(ep.loss_sum) / max(1, ep.seen)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"the loss became {train_loss} in epoch {epoch} (lr {setup.lr():.4g}); lower --lr")
        train_acc = int(ep.correct) / max(1, ep.seen)

        eval_start = time.perf_counter()
        try:
            val, test = self._evaluate_epoch(epoch)
        except EvalStopped:
            # Training of this epoch is done; resume redoes only its evaluation.
            self._save_stopped(epoch, self.steps, ep.progress(0.0, done=True))
            return False
        except BadImage:  # a streamed val or test image: the epoch's training is kept, resume re-evaluates
            self.store.save_last(setup, state, ep.progress(0.0, done=True))
            raise
        eval_seconds = time.perf_counter() - eval_start
        setup.train_mode()  # evaluate() restores plain train mode

        images_per_sec = (ep.seen - ep.seen_at_start) / elapsed if elapsed > 0 and ep.seen > ep.seen_at_start else None
        self._record_epoch(epoch, train_loss, train_acc, val, test, ep.train_seconds, eval_seconds, images_per_sec, peak)
        return True

    def _begin_epoch(self, epoch: int) -> RunningEpoch:
        setup, state = self.setup, self.state
        if state.partial is not None:  # resuming inside this epoch
            part, state.partial = state.partial, None
            ep = RunningEpoch(setup.device, EpochProgress.from_dict(part))
        else:
            setup.stream.start_epoch(epoch)
            ep = RunningEpoch(setup.device, None)
        reset_peak_memory(setup.device)
        self.emit(EpochStarted(epoch=epoch, epochs=setup.cfg.epochs, lr=setup.lr()))
        state.last_checked_step = state.global_step
        ep.start = time.perf_counter()
        ep.batch_at_start = setup.stream.batch_in_epoch
        return ep

    def _save_stopped(self, epoch: int, batch: int, progress: EpochProgress) -> None:
        self.store.save_last(self.setup, self.state, progress)
        self.state.stopped_at = (epoch, batch, self.steps)

    # ---------------------------------------------------------------- one batch
    def _step(self, ep: RunningEpoch, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on (x, y), added to the epoch's sums; returns the batch's loss."""
        setup, state, cfg = self.setup, self.state, self.setup.cfg
        first_compiled_step = state.compile_seconds is None and cfg.compile
        if first_compiled_step:
            setup.sync()
            compile_start = time.perf_counter()
        if self.cuda_graphs:
            # A new step: CUDA graph trees may reuse the memory of the previous step's outputs (all consumed).
            torch.compiler.cudagraph_mark_step_begin()
        with autocast_context(setup.device, setup.amp_dtype):
            logits = setup.train_model(x)
            loss = setup.criterion(logits.float(), y)
        setup.optimizer.zero_grad(set_to_none=True)
        if setup.scaler is not None:
            setup.scaler.scale(loss).backward()
            if cfg.grad_clip:
                setup.scaler.unscale_(setup.optimizer)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(setup.model.parameters(), cfg.grad_clip)
            setup.scaler.step(setup.optimizer)
            setup.scaler.update()
        else:
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(setup.model.parameters(), cfg.grad_clip)
            setup.optimizer.step()
        setup.scheduler.step()
        state.global_step += 1
        if first_compiled_step:
            # torch.compile traces and builds kernels on the first step: time it apart from training.
            setup.sync()
            state.compile_seconds = time.perf_counter() - compile_start
            ep.start += state.compile_seconds
            self.emit(Notice(f"torch.compile warm-up took {state.compile_seconds:.1f}s (not counted as training time)"))
        n = y.shape[0]
        ep.seen += n
        ep.loss_sum += loss.detach().double() * n
        ep.correct += (logits.detach().argmax(1) == y).sum()
        return loss

    def _report(self, epoch: int, ep: RunningEpoch, loss: torch.Tensor, batch: int) -> None:
        """Check the loss is finite and send BatchProgress, at most every ``interval`` s (and at the epoch's end)."""
        setup, state = self.setup, self.state
        activity.mark()
        now = time.perf_counter()
        together = setup.dist.active  # every rank checks the summed loss at each decision instead (and together)
        if together:
            check_finite(ep.loss_sum, f"by step {state.global_step} (epoch {epoch}, lr {setup.lr():.4g})")
        elif setup.device.type != "cuda":
            # Off the GPU reading the loss costs nothing: stop at the very step that went bad.
            check_finite(loss, f"at step {state.global_step} (epoch {epoch}, lr {setup.lr():.4g})")
        if not (now - ep.last_emit >= self.interval or batch == self.steps):
            return
        ep.last_emit = now
        # On CUDA the only host sync of the step, at most every `interval` s; the epoch's running
        # sum is non-finite if any step since the epoch began was.
        if not together:
            check_finite(ep.loss_sum, f"between steps {state.last_checked_step + 1} and {state.global_step} "
                         f"(epoch {epoch}, lr {setup.lr():.4g})")
        state.last_checked_step = state.global_step
        loss_value = loss.detach().item()
        elapsed = now - ep.start
        rate = (ep.seen - ep.seen_at_start) / elapsed if elapsed > 0 else 0.0
        remaining = self.total_steps - state.global_step
        sps = (batch - ep.batch_at_start) / elapsed if elapsed > 0 else 0.0
        self.emit(
            BatchProgress(
                epoch=epoch, epochs=setup.cfg.epochs, batch=batch, batches=self.steps,
                global_step=state.global_step, total_steps=self.total_steps, loss=loss_value,
                epoch_loss=float(ep.loss_sum) / max(1, ep.seen),
                epoch_acc=int(ep.correct) / max(1, ep.seen),
                lr=setup.lr(),
                images_per_sec=rate,
                elapsed=state.train_seconds + elapsed,
                eta=remaining / sps if sps > 0 else float("nan"),
                peak_memory=peak_memory(setup.device),
            )
        )

    def _between_batches(self, epoch: int, ep: RunningEpoch, batch: int) -> bool:
        """Save now, pause, stop, as the controls ask; True when stopped (last.pt saved at this batch).

        A paused loop still saves on request (and stays paused); paused time is not training time. Requests from
        the control file are acknowledged here, once done."""
        setup, state, decided = self.setup, self.state, self.decisions
        where = f"epoch {epoch}, batch {batch}/{self.steps}"
        paused_at: float | None = None
        while True:
            if decided.save():
                decided.saved()
                setup.sync()
                self.store.save_last(setup, state, ep.progress((paused_at or time.perf_counter()) - ep.start))
                self._ack("checkpoint", f"saved last.pt at {where}")
            if not decided.pause() or decided.stop():
                break
            if paused_at is None:
                paused_at = time.perf_counter()
                self.emit(Paused(epoch=epoch, batch=batch, batches=self.steps))
                self._ack("pause", f"paused at {where}")
            decided.wait_paused(ep)
        if paused_at is not None:
            ep.start += time.perf_counter() - paused_at  # paused time is not training time
            ep.last_emit = 0.0
            if not decided.stop():
                self.emit(Resumed(epoch=epoch, batch=batch, batches=self.steps))
                self._ack("continue", f"continued at {where}")
        if not decided.stop():
            return False
        setup.sync()
        elapsed = time.perf_counter() - ep.start
        state.train_seconds += elapsed
        state.session_epochs.append((ep.seen - ep.seen_at_start, elapsed))
        self._save_stopped(epoch, batch, ep.progress(elapsed))
        return True

    def _ack(self, request: str, outcome: str) -> None:
        for r in self.control.take(request):
            self.store.ack(r, outcome)

    # ---------------------------------------------------------------- evaluation and the epoch's record
    def _evaluate_epoch(self, epoch: int) -> tuple[EvalResult | None, EvalResult | None]:
        """(val, test) where due: val every --eval-every epochs (test without val), test at the end; never with --no-final-test."""
        cfg = self.setup.cfg
        last_epoch = epoch == cfg.epochs
        due = last_epoch or (cfg.eval_every > 0 and epoch % cfg.eval_every == 0)
        val = self._evaluate(epoch, "val") if (due and self.setup.val_set is not None) else None
        test = self._evaluate(epoch, "test") if cfg.final_test and (last_epoch or (due and val is None)) else None
        return val, test

    def _evaluate(self, epoch: int, split: str) -> EvalResult:
        setup = self.setup
        data = setup.val_set if split == "val" else setup.test_set
        result = evaluate(setup.model, data, setup.normalize, setup.data.num_classes, setup.eval_batch, setup.amp_dtype,
                          tta=setup.cfg.eval_tta, stop=self.stop, dist=setup.dist, keep=True)
        self.store.save_predictions(result.predictions, split, epoch, setup.data.classes)
        self.emit(EvalEnded(epoch=epoch, split=split, loss=result.loss, accuracy=result.accuracy,
                            per_class_accuracy=result.per_class_accuracy, confusion=result.confusion,
                            classes=tuple(setup.data.classes)))
        return result

    def _record_epoch(self, epoch: int, train_loss: float, train_acc: float, val: EvalResult | None, test: EvalResult | None,
                      train_seconds: float, eval_seconds: float, images_per_sec: float | None,
                      peak: int | None = None) -> None:
        """The finished epoch: counters, metrics row, EpochEnded, last.pt (and its kept copy), status."""
        setup, state, store, cfg = self.setup, self.state, self.store, self.setup.cfg
        state.epochs_done = epoch
        if val is not None:
            state.best_val_acc = max(state.best_val_acc or 0.0, val.accuracy)
        if test is not None and epoch == cfg.epochs:
            state.final_test_acc = test.accuracy
        row = metrics_row(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val=val, test=test, lr=setup.lr(),
                          train_seconds=train_seconds, eval_seconds=eval_seconds, images_per_sec=images_per_sec,
                          global_step=state.global_step, peak=peak, precision=setup.precision)
        store.append_metrics(row)
        self.emit(
            EpochEnded(
                epoch=epoch, epochs=cfg.epochs, train_loss=train_loss, train_acc=train_acc,
                val_loss=row["val_loss"], val_acc=row["val_acc"], test_loss=row["test_loss"], test_acc=row["test_acc"], lr=row["lr"],
                seconds=train_seconds + eval_seconds,
                train_seconds=train_seconds,
                images_per_sec=row["images_per_sec"] or 0.0,
                peak_memory=peak,
            )
        )
        store.save_last(setup, state, None)
        store.keep_epoch_copy(epoch, cfg.keep_last)
        store.write_status(RunStatus.RUNNING, state, cfg.epochs)
