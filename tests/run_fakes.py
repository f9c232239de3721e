"""Run folders written by hand with fixed figures, as the trainer writes them, for the screens that list and
compare runs (exact figures on screen); and the app those tests open."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

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


def fake_search(root: Path) -> Path:
    """A search folder with a real SQLite study of five trials (four completed, one pruned), their runs, best.json."""
    import optuna

    from core.experiments import search as se
    from core.experiments.search_space import distributions

    space = {"lr": {"low": 0.01, "high": 0.5, "log": True, "int": False}, "arch": {"choices": ["resnet20", "resnet32"]}}
    spec = se.make_spec("hunt", space, {"dataset": "cifar10", "epochs": 2})
    folder = root / "hunt"
    se.open_search(folder, spec)
    se.record_budget(folder, 6)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="hunt", storage=se.read_spec(folder)["storage"], direction="maximize")
    trials = [(0.05, "resnet20", 0.71, "COMPLETE"), (0.3, "resnet32", 0.83, "COMPLETE"), (0.02, "resnet20", 0.62, "COMPLETE"),
              (0.2, "resnet32", 0.4, "PRUNED"), (0.1, "resnet32", 0.78, "COMPLETE")]
    for n, (lr, arch, acc, state) in enumerate(trials):
        run = f"trial-{n:03d}"
        values = {1: acc - 0.1} if state == "PRUNED" else {1: acc - 0.1, 2: acc}
        study.add_trial(optuna.create_trial(params={"lr": lr, "arch": arch}, distributions=distributions(space),
                                            value=acc if state == "COMPLETE" else None, state=optuna.trial.TrialState[state],
                                            intermediate_values=values, user_attrs={"run": run}))
        status = "completed" if state == "COMPLETE" else "pruned"
        fake_run(folder / run, arch, lr, list(values.values()), day=20 + n, status=status)
    (folder / "best.json").write_text(json.dumps({"trial": 1, "run": "trial-001", "params": {"lr": 0.3, "arch": "resnet32"},
                                                  "val_acc": 0.83, "test_acc": 0.815}))
    return folder


@pytest.fixture
def app_at(tmp_path, monkeypatch):
    """The app's world in tmp_path: its remembered state, UTC clock (the dates on screen) and ./checkpoints."""
    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "checkpoints"
    monkeypatch.undo()
    time.tzset()
