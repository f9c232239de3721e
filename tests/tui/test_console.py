"""Headless progress output: plain lines for pipes and nohup, a rich bar on a terminal."""

from __future__ import annotations

import io

from core.events import BatchProgress, EpochEnded, EpochStarted, Notice, RunFinished, RunStarted
from tui.console import PlainSink, RichSink

STARTED = RunStarted("r", "/runs/r", "resnet20", {}, ("a", "b"), 270000, "cpu", "fp32", 2, 0, 10, 1000, 0, 200)
BATCH = BatchProgress(1, 2, 5, 10, 5, 20, 1.5, 1.6, 0.42, 0.1, 800.0, 1.0, 2.0)
ENDED = EpochEnded(1, 2, 1.2, 0.55, None, None, 1.1, 0.6, 0.05, 3.0, 2.5, 812.0)
FINISHED = RunFinished("completed", "/runs/r", 2, 0.6, None, 5.0, 812.0)


def test_plain_sink_prints_one_line_per_epoch_and_nothing_per_batch():
    out = io.StringIO()
    sink = PlainSink(out)
    for e in (Notice("loading"), STARTED, EpochStarted(1, 2, 0.1), BATCH, BATCH, ENDED, FINISHED):
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
    PlainSink(out)(RunFinished("failed", "", 0, None, None, 0.0, None, "bad lr"))
    assert out.getvalue() == ""


def test_rich_sink_draws_the_bar_with_loss_accuracy_and_speed():
    from rich.console import Console

    buf = io.StringIO()
    sink = RichSink(Console(file=buf, force_terminal=True, width=120))
    for e in (STARTED, EpochStarted(1, 2, 0.1), BATCH, ENDED, FINISHED):
        sink(e)
    text = buf.getvalue()
    assert "epoch 1/2" in text and "acc 42.0%" in text and "800 img/s" in text and "loss 1.600" in text
