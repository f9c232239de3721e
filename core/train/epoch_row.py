"""One line of metrics.jsonl: a finished epoch's figures and the confusion matrix the runs screen shows (what
the RunStore appends, TensorBoard and the trackers copy)."""

from __future__ import annotations

from typing import Any

from core.inference.evaluate import EvalResult


def metrics_row(*, epoch: int, train_loss: float, train_acc: float, val: EvalResult | None, test: EvalResult | None,
                lr: float, train_seconds: float, eval_seconds: float, images_per_sec: float | None, global_step: int,
                peak: int | None, precision: str) -> dict[str, Any]:
    """One line of metrics.jsonl: a finished epoch's figures, and the confusion matrix the runs screen shows."""
    row: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val.loss if val else None,
        "val_acc": val.accuracy if val else None,
        "test_loss": test.loss if test else None,
        "test_acc": test.accuracy if test else None,
        "lr": lr,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "images_per_sec": images_per_sec,
        "global_step": global_step,
        "peak_memory_mb": round(peak / 2**20, 1) if peak is not None else None,
    }
    shown = test if test is not None else val
    if shown is not None:
        row["eval_split"] = "test" if test is not None else "val"
        row["eval_precision"] = precision  # evaluated under the training's autocast; `evaluate` uses fp32
        row["confusion"] = [list(r) for r in shown.confusion]
        row["per_class_acc"] = list(shown.per_class_accuracy)
    return row
