"""Opening a week-long run: `runs watch` of a finished run whose events.jsonl is ~300 MB (a week at the 45 MB/day
budget), and the app's UI thread while it attaches to that run.

The run is written by the real EventLog with a simulated clock (one progress line a second, 300-batch epochs with
their evaluation, epoch end and checkpoint, as a week of training writes them), so the files are what the code
under test would write. The same folder is then opened by the code of ``--code`` (a checkout: this one by
default; give an older one for the "before" figures):

* ``watch``: wall seconds of `python -m tui.cli runs watch RUN` (best of --repeats), minus those of a tiny
  finished run (the command's own start-up), both printed;
* ``attach``: the app under Textual's headless driver, a 10 ms timer on its UI thread; the longest gap between two
  ticks from attach() until the run is shown, and how long the showing took.

    uv run python bench/long_stream.py                     # 300 MB
    uv run python bench/long_stream.py --megabytes 20 --repeats 1    # quick
    uv run python bench/long_stream.py --code /tmp/before  # the same, read by an older checkout

Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit, hardware  # noqa: E402

CLASSES = tuple(f"class{i}" for i in range(10))
BATCHES = 300


def write_run(run: Path, megabytes: float) -> dict:
    """A finished run of ``megabytes`` of stream, as the EventLog writes it."""
    from core.runs.event_log import EventLog
    from core.runs.events import (
        BatchProgress, CheckpointSaved, EpochEnded, EpochStarted, EvalEnded, RunFinished, RunStarted, RunStatus,
    )

    run.mkdir(parents=True)
    clock = [1.8e9]
    log = EventLog(run, heartbeat_every=1e9, clock=lambda: clock[0])
    epochs = 100_000
    log.record(RunStarted(run_name=run.name, run_dir=str(run), arch="resnet20", config={}, classes=CLASSES,
                          num_params=272474, device="cuda:0", precision="bf16", epochs=epochs, start_epoch=0,
                          steps_per_epoch=BATCHES, train_size=50000, val_size=5000, test_size=10000))
    limit, epoch, step = megabytes * 1e6, 0, 0
    while log.path.stat().st_size < limit:
        epoch += 1
        log.record(EpochStarted(epoch=epoch, epochs=epochs, lr=0.1))
        for batch in range(1, BATCHES + 1):
            step += 1
            clock[0] += 1.0
            log.record(BatchProgress(epoch=epoch, epochs=epochs, batch=batch, batches=BATCHES, global_step=step,
                                     total_steps=epochs * BATCHES, loss=1.2345678, epoch_loss=1.1234567, epoch_acc=0.61234,
                                     lr=0.0123456, images_per_sec=1234.5678, elapsed=float(step), eta=12345.678))
        confusion = tuple(tuple(450 if i == j else 6 for j in range(10)) for i in range(10))
        log.record(EvalEnded(epoch=epoch, split="val", loss=0.9, accuracy=0.9, per_class_accuracy=(0.9,) * 10,
                             confusion=confusion, classes=CLASSES))
        log.record(EpochEnded(epoch=epoch, epochs=epochs, train_loss=1.0, train_acc=0.6, val_loss=0.9, val_acc=0.9,
                              test_loss=None, test_acc=None, lr=0.1, seconds=301.0, train_seconds=300.0,
                              images_per_sec=1000.0))
        log.record(CheckpointSaved(path=str(run / "last.pt"), epoch=epoch, kind="last"))
    log.record(RunFinished(status=RunStatus.STOPPED, run_dir=str(run), epochs_completed=epoch, final_test_acc=None,
                           best_val_acc=0.9, train_seconds=float(step), images_per_sec=1000.0))
    log.close()
    (run / "config.json").write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": epochs},
                                                 "classes": list(CLASSES)}))
    (run / "run.json").write_text(json.dumps({"status": "stopped", "epochs_completed": epoch, "epochs": epochs,
                                              "updated": clock[0]}))
    sizes = {p.name: p.stat().st_size for p in run.iterdir() if p.suffix == ".jsonl"}
    return {"epochs": epoch, "steps": step, "bytes": sizes}


def watch_seconds(code: Path, run: Path, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tui.cli", "runs", "watch", str(run)], cwd=code,
                              capture_output=True, text=True, env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"})
        took = time.perf_counter() - t
        if done.returncode not in (0, 3):
            raise RuntimeError(done.stderr.strip()[-300:])
        best = min(best, took)
    return best


ATTACH = """
import asyncio, json, sys, time
sys.path.insert(0, {code!r})
from core.config.train_config import TrainConfig
from tui.app.app import ResnetTui

async def main():
    app = ResnetTui(runs_dir={runs!r}, poll_memory=False, base_config=TrainConfig(dataset="synthetic"),
                    devices=[("cpu", "cpu")])
    gaps, last = [], [time.perf_counter()]
    def tick():
        now = time.perf_counter()
        gaps.append((now - last[0], now))
        last[0] = now
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        app.set_interval(0.01, tick)
        await pilot.pause(0.2)
        gaps.clear()
        start = time.perf_counter()
        app.attach({run!r})
        while not (app.live.run_dir and app.live.finished):
            await asyncio.sleep(0.005)
        shown = time.perf_counter() - start
        await pilot.pause(0.5)  # the training screen is built and drawn
    worst = sorted(gaps, reverse=True)[:3]
    print(json.dumps({{"longest_ui_gap_ms": round(1000 * worst[0][0], 1),
                      "longest_gaps": [[round(1000 * g, 1), "ended %.3f s after attach()" % (t - start)] for g, t in worst],
                      "shown_after_s": round(shown, 3), "epochs_shown": len(app.live.rows)}}))

asyncio.run(main())
"""


def attach_figures(code: Path, run: Path) -> dict:
    script = ATTACH.format(code=str(code), runs=str(run.parent), run=str(run))
    done = subprocess.run([sys.executable, "-c", script], cwd=code, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-500:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megabytes", type=float, default=300.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--code", default=str(ROOT), help="the checkout whose `runs watch` and app open the run")
    args = p.parse_args()
    code = Path(args.code).resolve()
    emit({"machine": hardware(), "code": str(code)})
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        made = write_run(Path(tmp) / "runs" / "week", args.megabytes)
        tiny = write_run(Path(tmp) / "runs" / "tiny", 0.01)
        emit({"written": made, "tiny": tiny, "write_seconds": round(time.perf_counter() - t, 1)})
        long_s = watch_seconds(code, Path(tmp) / "runs" / "week", args.repeats)
        base_s = watch_seconds(code, Path(tmp) / "runs" / "tiny", args.repeats)
        emit({"watch_seconds": round(long_s, 3), "watch_tiny_seconds": round(base_s, 3),
              "watch_reading_seconds": round(long_s - base_s, 3)})
        emit({"attach": attach_figures(code, Path(tmp) / "runs" / "week"),
              "attach_tiny": attach_figures(code, Path(tmp) / "runs" / "tiny")})


if __name__ == "__main__":
    main()
