"""Run folders written by hand with fixed figures, as the trainer writes them, for the screens that list and
compare runs (exact figures on screen); and the app those tests open."""

from __future__ import annotations

import json
from pathlib import Path

from core.config.train_config import TrainConfig

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DAY = 1767225600  # 2026-01-01 UTC


def fake_run(folder: Path, arch: str, lr: float, accs: list[float], day: int, status: str = "completed",
             seed: int = 0, params: int = 269722, ips: float = 2500.0) -> Path:
    """A finished run's files as the trainer writes them: config.json, run.json, metrics.jsonl, last.pt."""
    folder.mkdir(parents=True)
    cfg = TrainConfig(dataset="cifar10", arch=arch, epochs=len(accs), lr=lr, seed=seed, name=folder.name)
    (folder / "config.json").write_text(json.dumps({"train": cfg.to_dict(), "classes": CLASSES, "params": params,
                                                    "device": "cuda:0", "precision": "bf16"}))
    rows = [{"epoch": e, "train_loss": 2.0 / e + lr, "train_acc": a - 0.05, "test_loss": 1.5 / e, "test_acc": a,
             "val_acc": None, "lr": lr, "images_per_sec": ips} for e, a in enumerate(accs, 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "run.json").write_text(json.dumps({
        "status": status, "epochs_completed": len(accs), "epochs": len(accs),
        "final_test_acc": accs[-1] if status == "completed" else None, "best_val_acc": None,
        "train_seconds": 60.0 * len(accs), "images_per_sec": ips, "updated": DAY + day * 86400}))
    (folder / "last.pt").write_bytes(b"")
    return folder



def make_app():
    from tui.app.app import ResnetTui

    return ResnetTui(runs_dir="checkpoints", poll_memory=False, base_config=TrainConfig(dataset="cifar10"),
                     devices=[("cpu  (2 cores)", "cpu")])
