"""The names of the files in a run folder, in one torch-free place (listing runs must not import torch)."""

CONFIG, METRICS, STATUS, ERROR_LOG = "config.json", "metrics.jsonl", "run.json", "error.log"
LAST, FINAL = "last.pt", "final.pt"
EPOCH_FILE = "epoch_{:04d}.pt"  # kept copies of last.pt at epoch ends (--keep-last K)
LAUNCH, LOG = "launch.json", "log.txt"  # a background run's request and console output
SWEEP_SPEC, SWEEP_SUMMARY = "sweep.json", "summary.json"  # a sweep folder's spec and summary (core.sweep)
