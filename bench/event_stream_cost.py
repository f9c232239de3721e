"""What the run's event stream (RUN/events.jsonl) costs in training throughput, and how big it gets.

Every event of a run goes through RunStore.emit into core.runs.event_log.EventLog (BatchProgress at most once
per PROGRESS_EVERY s, discrete events always, a heartbeat thread for silences), and while the run is owned
a ControlPoller thread looks at RUN/control.json. This bench trains the same model on the same in-memory
synthetic data in one process under two conditions:

  ON   fit() as it is: the stream is written and both threads run;
  OFF  the same fit() with core.train.store's EventLog and ControlPoller replaced, for this bench only, by
       stand-ins that write nothing and start no thread.

Trials are interleaved in pairs whose order alternates (ON OFF, OFF ON, ON OFF, ...) after one discarded
warm-up, so drift of the machine's speed hits both conditions alike; the median images/s of each and their
ratio ON/OFF are printed against the issue's bound (>= 0.98), with the best of each (other load only slows a
trial down), the pair ratios' mean +- 2 standard errors and the load average: a run too noisy to resolve 2%
says so. Per trial it also gives the process's CPU time over the training (all threads, the stream's too),
and once the direct cost of a written line and of a control-file poll, timed in a loop (noise-free, unlike
the A/B ratio).

Then the stream of the last ON trial is measured (bytes, lines, events by type) and extrapolated to an hour
and to 24 hours of training at that trial's epoch time, against the 50 MB / 24 h bound; and, since a fast
machine writes progress at the full 1 line/s and more epochs a day, a model of 24 h by epoch time, with the
shortest epoch that stays within the bound.

    uv run python bench/event_stream_cost.py                                   # resnet20, 5000 images, 3 pairs
    uv run python bench/event_stream_cost.py --pairs 5 --threads 2 --json

Prints readable lines; --json adds one JSON object (everything measured) as the last line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import hardware, loadavg  # noqa: E402
from event_stream_measures import BOUND_BYTES_24H, per_call_costs, stream_size  # noqa: E402

BOUND_RATIO = 0.98  # the issue: the stream may cost at most 2% of training throughput
STREAM_THREADS = ("events-heartbeat", "control-poller")


# ----------------------------------------------------------------------------- the OFF condition
class _NoLog:
    """Stands in for EventLog: no file, no thread, every event dropped."""

    error = None

    def __init__(self, run_dir, **_: object) -> None:
        self.path = Path(run_dir) / "events.jsonl"  # never created

    def record(self, event) -> None:
        pass

    __call__ = record

    def close(self) -> None:
        pass


class _NoPoller:
    """Stands in for ControlPoller: no thread, the control file never read."""

    def __init__(self, *_: object, **__: object) -> None:
        pass

    def poll_once(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Probe:
    """A sink that notes which of the stream's threads are alive at the first BatchProgress, and the process's
    CPU time (all its threads: the stream's too) from EpochStarted to the epoch's last BatchProgress, which the
    loop sends right after the last step (before evaluation)."""

    def __init__(self) -> None:
        self.seen: set[str] | None = None
        self.cpu_start: float | None = None
        self.cpu_seconds: float | None = None

    def __call__(self, event) -> None:
        kind = type(event).__name__
        if kind == "EpochStarted":
            self.cpu_start = time.process_time()
        elif kind == "BatchProgress":
            if self.seen is None:
                self.seen = {t.name for t in threading.enumerate()} & set(STREAM_THREADS)
            if event.batch == event.batches and self.cpu_start is not None:
                self.cpu_seconds = time.process_time() - self.cpu_start


def run_trial(cfg, data, stream_on: bool, runs_dir: Path, name: str) -> dict:
    import core.train.store as store_mod
    from core.runs.event_log import EVENTS
    from core.train import fit

    saved = store_mod.EventLog, store_mod.ControlPoller
    if not stream_on:
        store_mod.EventLog, store_mod.ControlPoller = _NoLog, _NoPoller
    probe = _Probe()
    gc.collect()
    try:
        wall = time.perf_counter()
        result = fit(cfg.replace(runs_dir=str(runs_dir), name=name), probe, data=data)
        wall = time.perf_counter() - wall
    finally:
        store_mod.EventLog, store_mod.ControlPoller = saved
    if result.status != "completed" or not result.images_per_sec:
        raise SystemExit(f"trial {name} did not complete: {result.status} {result.error}")
    n = len(data.train)
    images = min(n, max(1, n // cfg.batch_size) * cfg.batch_size)  # the loop drops a last partial batch
    stream = result.run_dir / EVENTS
    # The conditions are what they claim to be: ON writes the stream with both threads running, OFF neither.
    threads = sorted(probe.seen or ())
    if stream_on != stream.exists() or (stream_on and threads != sorted(STREAM_THREADS)) or (not stream_on and threads):
        raise SystemExit(f"trial {name}: stream file {stream.exists()}, threads {threads}: "
                         f"not the {'ON' if stream_on else 'OFF'} condition")
    return {
        "stream": "on" if stream_on else "off",
        "images_per_sec": result.images_per_sec,
        "train_seconds": round(result.train_seconds, 3),
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(probe.cpu_seconds, 3) if probe.cpu_seconds else None,
        "images_per_cpu_second": round(images / probe.cpu_seconds, 1) if probe.cpu_seconds else None,
        "threads": threads,
        "run_dir": result.run_dir,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--train-size", type=int, default=5000, help="synthetic training images (one epoch per trial)")
    p.add_argument("--test-size", type=int, default=500, help="synthetic test images (evaluated after the epoch, not timed)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--pairs", type=int, default=3, help="ON/OFF pairs after the discarded warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = torch's default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="also print one JSON object with every figure")
    args = p.parse_args()
    if args.pairs < 1:
        p.error("--pairs must be >= 1")

    import torch

    from core.config.train_config import TrainConfig
    from core.data import DataBundle
    from core.data.synthetic import make_synthetic
    from core.train import PROGRESS_INTERVAL

    if args.threads:
        torch.set_num_threads(args.threads)
    machine = hardware()
    print(f"machine: {machine['cpu']} ({machine['cpu_count']} CPUs, torch {machine['torch']} with "
          f"{machine['torch_threads']} threads, python {machine['python']}, {platform.system()})"
          + (f", GPU {machine['gpu']}" if "gpu" in machine else ""), flush=True)

    train, test, classes = make_synthetic(args.train_size, args.test_size, image_size=32)
    data = DataBundle("synthetic", classes, train, test, None, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "bench")
    cfg = TrainConfig(arch=args.arch, dataset="synthetic", epochs=1, batch_size=args.batch_size, eval_every=0,
                      device=args.device, seed=0)
    print(f"setup: {args.arch}, {args.train_size} synthetic 32x32 images, batch {args.batch_size}, 1 epoch per trial, "
          f"device {args.device}, fit's progress_interval {PROGRESS_INTERVAL}s; 1 warm-up + {args.pairs} ON/OFF pairs",
          flush=True)

    load_before = loadavg()
    trials: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp)
        warm = run_trial(cfg, data, True, runs_dir, "warmup")
        print(f"  warm-up (ON, discarded): {warm['images_per_sec']:.1f} img/s", flush=True)
        for i in range(args.pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            for on in order:
                t = run_trial(cfg, data, on, runs_dir, f"pair{i + 1}-{'on' if on else 'off'}")
                t["pair"] = i + 1
                trials.append(t)
                print(f"  pair {i + 1} {t['stream'].upper():3s}: {t['images_per_sec']:8.1f} img/s  "
                      f"(train {t['train_seconds']:.2f}s, CPU {t['cpu_seconds']:.2f}s, fit wall {t['wall_seconds']:.2f}s, "
                      f"stream threads: {', '.join(t['threads']) or 'none'})", flush=True)
        last_on = [t for t in trials if t["stream"] == "on"][-1]
        size = stream_size(last_on["run_dir"])
    for t in trials:
        t.pop("run_dir")

    on = [t["images_per_sec"] for t in trials if t["stream"] == "on"]
    off = [t["images_per_sec"] for t in trials if t["stream"] == "off"]
    med_on, med_off = statistics.median(on), statistics.median(off)
    ratio = med_on / med_off
    pair_ratios = [
        next(t for t in trials if t["pair"] == i and t["stream"] == "on")["images_per_sec"]
        / next(t for t in trials if t["pair"] == i and t["stream"] == "off")["images_per_sec"]
        for i in range(1, args.pairs + 1)
    ]
    pair_median = statistics.median(pair_ratios)
    best_ratio = max(on) / max(off)  # other load can only slow a trial down: the best of each is the least disturbed
    spread = max((max(v) - min(v)) / statistics.median(v) for v in (on, off))
    load_after = loadavg()
    cpu_on = statistics.median(t["images_per_cpu_second"] for t in trials if t["stream"] == "on")
    cpu_off = statistics.median(t["images_per_cpu_second"] for t in trials if t["stream"] == "off")
    cpu_ratio = cpu_on / cpu_off
    # The pairs' ratios are the unit of evidence: mean +- 2 standard errors is roughly a 95% interval, and a run
    # whose interval is wider than the 2% the bound allows cannot tell a pass from a fail.
    ratio_mean = statistics.fmean(pair_ratios)
    half = 2 * statistics.stdev(pair_ratios) / len(pair_ratios) ** 0.5 if len(pair_ratios) > 1 else None
    noisy = half is None or half > 1 - BOUND_RATIO
    print(f"throughput: median ON {med_on:.1f} img/s, median OFF {med_off:.1f} img/s, ON/OFF = {ratio:.4f} "
          f"(per pair: {', '.join(f'{r:.4f}' for r in pair_ratios)}, median {pair_median:.4f}; "
          f"best ON {max(on):.1f} / best OFF {max(off):.1f} = {best_ratio:.4f})")
    print(f"CPU time (all the process's threads, training only): median ON {cpu_on:.1f}, OFF {cpu_off:.1f} images per "
          f"CPU second, ON/OFF = {cpu_ratio:.4f} (less disturbed by other load than img/s, but not throughput; with "
          f"several torch threads their spin-waits count too)")
    interval = f"{ratio_mean:.4f} +- {half:.4f} (2 standard errors)" if half is not None else "unknown (one pair)"
    print(f"noise: pair ratios' mean {interval}; spread within a condition {100 * spread:.1f}% of its median; "
          f"load average {load_before} before, {load_after} after (this machine has {os.cpu_count()} CPUs)"
          + ("; TOO NOISY to resolve a 2% difference: rerun on a quieter machine or with more --pairs" if noisy else ""))
    print(f"bound: median ON/OFF >= {BOUND_RATIO}: {'holds' if ratio >= BOUND_RATIO else 'DOES NOT HOLD'}"
          + (" (but see noise above)" if noisy else ""))

    costs = per_call_costs()
    # Per second of training, ON does: 1 written progress line (PROGRESS_EVERY = 1 s), 1/PROGRESS_INTERVAL calls
    # of record() that are throttled, 1/0.2 control polls (POLL_EVERY) and 2 heartbeat-thread wake-ups.
    from core.runs.control_file import POLL_EVERY

    direct_us = (costs["line_us"] / size["progress_every_s"] + costs["dropped_progress_us"] / PROGRESS_INTERVAL
                 + costs["poll_us"] / POLL_EVERY)
    costs["direct_us_per_training_second"] = round(direct_us, 1)
    print(f"direct cost: {costs['line_us']:.1f} us per written line, {costs['dropped_progress_us']:.2f} us per throttled "
          f"progress event, {costs['poll_us']:.1f} us per control poll -> about {direct_us:.0f} us per second of "
          f"training ({direct_us / 1e4:.4f}%), thread wake-ups and GIL hand-offs not included")

    mb = 1e6
    print(f"stream of one ON trial ({size['epochs']} epoch of {size['epoch_seconds']:.2f}s, training + evaluation): "
          f"{size['bytes']} bytes in {size['lines']} lines; {size['bytes_per_epoch']:.0f} bytes per epoch "
          f"(+ {size['one_off_bytes']} bytes once per run)")
    print("  events: " + ", ".join(f"{k} {v} ({size['bytes_by_event'][k]} B)" for k, v in size["events"].items()))
    print(f"  extrapolated at this epoch time: {size['bytes_per_hour'] / mb:.3f} MB per hour, "
          f"{size['bytes_per_24h'] / mb:.2f} MB per 24 h (bound {BOUND_BYTES_24H / mb:.0f} MB: "
          f"{'holds' if size['within_bound'] else 'DOES NOT HOLD'})")
    print(f"  progress lines are at most 1 per {size['progress_every_s']:g}s by design (core.runs.event_log.PROGRESS_EVERY), "
          f"plus each epoch's last batch: at {size['mean_progress_line_bytes']:.0f} B a line that alone is "
          f"{size['progress_only_24h'] / mb:.2f} MB per 24 h whatever the speed; the rest scales with epochs per day "
          f"(shorter epochs -> more EpochStarted/EvalEnded/EpochEnded/CheckpointSaved lines)")
    print(f"  fast-machine model (progress at the full 1/s + {size['per_epoch_discrete_bytes']:.0f} B of per-epoch lines, "
          f"incl. the forced last-batch progress line): MB per 24 h by epoch time: "
          + ", ".join(f"{t}s {b / mb:.1f}" for t, b in size["model_24h_by_epoch_seconds"].items())
          + (f"; within {BOUND_BYTES_24H / mb:.0f} MB only for epochs >= {size['shortest_epoch_within_bound_s']:.2f}s"
             if size["shortest_epoch_within_bound_s"] is not None else "; over the bound at any epoch time"))

    if args.json:
        print(json.dumps({
            "bench": "event_stream_cost", "machine": machine,
            "config": {"arch": args.arch, "train_size": args.train_size, "test_size": args.test_size,
                       "batch_size": args.batch_size, "pairs": args.pairs, "device": args.device,
                       "progress_interval": PROGRESS_INTERVAL},
            "warmup_images_per_sec": warm["images_per_sec"], "trials": trials,
            "median_on": med_on, "median_off": med_off, "on_over_off": round(ratio, 4),
            "pair_ratios": [round(r, 4) for r in pair_ratios], "pair_ratio_median": round(pair_median, 4),
            "pair_ratio_mean": round(ratio_mean, 4), "pair_ratio_2se": round(half, 4) if half is not None else None,
            "best_on": max(on), "best_off": max(off), "best_on_over_off": round(best_ratio, 4),
            "cpu_median_on": cpu_on, "cpu_median_off": cpu_off, "cpu_on_over_off": round(cpu_ratio, 4),
            "spread": round(spread, 4), "noisy": noisy,
            "loadavg_before": load_before, "loadavg_after": load_after, "bound_ratio": BOUND_RATIO,
            "ratio_holds": ratio >= BOUND_RATIO, "per_call": costs, "size": size,
        }), flush=True)


if __name__ == "__main__":
    main()
