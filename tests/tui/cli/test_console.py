"""Headless progress output: plain lines for pipes and nohup, a rich bar on a terminal."""

from __future__ import annotations

import io

from core.runs.events import BatchProgress, EpochEnded, EpochStarted, Notice, RunFinished, RunStarted
from tui.cli.console import PlainSink, RichSink

STARTED = RunStarted(run_name="r", run_dir="/runs/r", arch="resnet20", config={}, classes=("a", "b"), num_params=270000, device="cpu", precision="fp32", epochs=2, start_epoch=0, steps_per_epoch=10, train_size=1000, val_size=0, test_size=200)
BATCH = BatchProgress(epoch=1, epochs=2, batch=5, batches=10, global_step=5, total_steps=20, loss=1.5, epoch_loss=1.6, epoch_acc=0.42, lr=0.1, images_per_sec=800.0, elapsed=1.0, eta=2.0)
ENDED = EpochEnded(epoch=1, epochs=2, train_loss=1.2, train_acc=0.55, val_loss=None, val_acc=None, test_loss=1.1, test_acc=0.6, lr=0.05, seconds=3.0, train_seconds=2.5, images_per_sec=812.0)
FINISHED = RunFinished(status="completed", run_dir="/runs/r", epochs_completed=2, final_test_acc=0.6, best_val_acc=None, train_seconds=5.0, images_per_sec=812.0)


def test_plain_sink_prints_one_line_per_epoch_and_nothing_per_batch():
    out = io.StringIO()
    sink = PlainSink(out)
    for e in (Notice("loading"), STARTED, EpochStarted(epoch=1, epochs=2, lr=0.1), BATCH, BATCH, ENDED, FINISHED):
        sink(e)
    lines = out.getvalue().splitlines()
    assert lines[0] == "loading"
    assert lines[1].startswith("training: resnet20 (0.27M params) on cpu")
    assert lines[2] == (
        "epoch 1/2  train_loss 1.2000  train_acc 55.00%  test_loss 1.1000  test_acc 60.00%  lr 0.05  812 img/s  3.0s"
    )
    assert lines[3] == "run completed: 2 epochs, final test acc 60.00%"
    assert len(lines) == 4


def test_plain_sink_is_silent_about_a_run_that_never_started():
    out = io.StringIO()
    PlainSink(out)(RunFinished(status="failed", run_dir="", epochs_completed=0, final_test_acc=None, best_val_acc=None, train_seconds=0.0, images_per_sec=None, error="bad lr"))
    assert out.getvalue() == ""


def test_rich_sink_draws_the_bar_with_loss_accuracy_and_speed():
    from rich.console import Console

    buf = io.StringIO()
    sink = RichSink(Console(file=buf, force_terminal=True, width=120))
    for e in (STARTED, EpochStarted(epoch=1, epochs=2, lr=0.1), BATCH, ENDED, FINISHED):
        sink(e)
    text = buf.getvalue()
    assert "epoch 1/2" in text and "acc 42.0%" in text and "800 img/s" in text and "loss 1.600" in text


def test_a_cuda_run_s_epoch_line_names_its_peak_memory():
    import dataclasses

    from tui.app.live import LiveRun
    from tui.app.widgets.progress import ProgressText
    from tui.cli.console import epoch_line

    assert epoch_line(dataclasses.replace(ENDED, peak_memory=int(2.5 * 2**30))).endswith("3.0s  peak 2.50 GiB")
    live = LiveRun()
    live.apply(dataclasses.replace(BATCH, peak_memory=3 * 2**30))
    text = ProgressText()
    text.live = live
    assert "peak 3.00 GiB this epoch" in text.lines(120)[3].plain
