"""What a search found: its trials as rows, the best trial (tested once, on the test set), the params' importances.

The best trial is the completed one with the highest validation accuracy. Its test accuracy is measured after
the trials, from its final weights, and kept in best.json with the trial it belongs to. Only a trial that is the
best when a search command ends is tested: a continued search that finds a better one tests that one too, and
best.json lists every trial tested ("tested").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json
from core.experiments.search import BEST, read_best

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "RUNNING": "running", "WAITING": "waiting", "FAIL": "failed"}


def trial_rows(study) -> list[dict[str, Any]]:
    """One row per trial, by number: params, state, validation accuracy per epoch, its value, run folder."""
    from core.experiments.search_study import retried, retried_from

    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    rows = []
    for t in trials:
        state = STATES.get(t.state.name, t.state.name.lower())
        if state == "failed" and t.number in again:
            state = f"retried as {again[t.number]}"
        elif state == "failed" and t.user_attrs.get("stopped"):
            state = "stopped"
        rows.append({
            "number": t.number, "state": state, "params": dict(t.params),
            "val_acc": t.value if t.state.name == "COMPLETE" else None,
            "val_acc_per_epoch": [round(v, 4) for _, v in sorted(t.intermediate_values.items())],
            "run": t.user_attrs.get("run", f"trial-{t.number:03d}"), "retry_of": retried_from(t),
            "host": t.user_attrs.get("host"), "device": t.user_attrs.get("device"), "error": t.user_attrs.get("error"),
            "seconds": (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None,
        })
    return rows


def best_trial(study):
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def test_best(study, folder: Path, device: str = "auto") -> dict[str, Any] | None:
    """best.json for the best trial, measuring its test accuracy if best.json is about another trial (or none).
    best.json keeps every trial ever tested ("tested"): a continued search that finds a better trial tests it too."""
    best = best_trial(study)
    if best is None:
        return None
    known = read_best(folder) or {}
    run = best.user_attrs.get("run", f"trial-{best.number:03d}")
    if known.get("trial") == best.number and known.get("test_acc") is not None:
        return known
    from core.inference.trained import evaluate_trained, load_trained

    trained = load_trained(folder / run, device=device)
    result, _ = evaluate_trained(trained, tta=trained.config.eval_tta)
    tested = [t for t in known.get("tested", []) if isinstance(t, int)] + [best.number]
    record = {"trial": best.number, "run": run, "params": dict(best.params), "val_acc": best.value,
              "test_acc": result.accuracy, "test_images": result.count, "tested": tested,
              "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(folder / BEST, record)
    return record


def current_best(study, folder: Path) -> dict[str, Any] | None:
    """The best trial now, with its test accuracy where best.json has it for that trial (None: not tested yet,
    e.g. the search was stopped before its end)."""
    best = best_trial(study)
    if best is None:
        return None
    known = read_best(folder) or {}
    tested = known.get("trial") == best.number
    return {"trial": best.number, "run": best.user_attrs.get("run", f"trial-{best.number:03d}"), "params": dict(best.params),
            "val_acc": best.value, "test_acc": known.get("test_acc") if tested else None,
            "tested": known.get("tested", [])}


def importances(study) -> dict[str, float]:
    """Optuna's fANOVA importance of each searched param over the completed trials ({} with fewer than 3, or
    when only one param varies: nothing to apportion)."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    varied = {k for t in complete for k in t.params if len({repr(u.params.get(k)) for u in complete}) > 1}
    if len(complete) < 3 or len(varied) < 2:
        return {k: 1.0 for k in varied} if len(complete) >= 3 else {}
    try:
        found = optuna.importance.get_param_importances(study, params=sorted(varied))
    except (RuntimeError, ValueError, ImportError):  # too little to apportion, or an evaluator that needs more
        return {}
    return {k: float(v) for k, v in found.items()}


def best_so_far(rows: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(trial number, best validation accuracy up to it) over the completed trials, in number order."""
    out, best = [], None
    for r in sorted(rows, key=lambda r: r["number"]):
        if r["val_acc"] is not None:
            best = r["val_acc"] if best is None else max(best, r["val_acc"])
            out.append((r["number"], best))
    return out


def load(folder: str | Path):
    """(spec, study) of the search in ``folder``, its study read from the storage its spec names."""
    import optuna

    from core.experiments.search import read_spec
    from core.experiments.search_study import open_storage

    spec = read_spec(folder)
    storage = open_storage(spec["storage"])
    try:
        return spec, optuna.load_study(study_name=spec["name"], storage=storage)
    except KeyError:
        from core.errors import UserError

        raise UserError(f"{spec['storage']} holds no study named {spec['name']!r} yet") from None


def snapshot(folder: str | Path) -> dict[str, Any]:
    """Everything a view of the search shows, read once: spec, rows, best (as tested), importances, best so far."""
    spec, study = load(folder)
    rows = trial_rows(study)
    return {"spec": spec, "rows": rows, "best": current_best(study, Path(folder)), "importances": importances(study),
            "best_so_far": best_so_far(rows)}
