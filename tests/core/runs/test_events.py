"""Events and results are keyword-only (a swapped argument cannot pass silently) and run statuses are
one enum that still reads and writes as plain strings (run.json, --json output, older runs)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.runs import events
from core.runs.events import RESUMABLE, RunFinished, RunStatus
from core.train import RunResult

MANY_FIELDS = [events.RunStarted, events.EpochStarted, events.BatchProgress, events.EvalEnded, events.EpochEnded,
               events.CheckpointSaved, events.RunFinished, RunResult]


@pytest.mark.parametrize("cls", MANY_FIELDS, ids=lambda c: c.__name__)
def test_positional_arguments_are_refused(cls):
    values = [None] * len(dataclasses.fields(cls))
    with pytest.raises(TypeError):
        cls(*values)
    cls(**{f.name: None for f in dataclasses.fields(cls)})  # by name it builds


def test_statuses_are_strings_on_disk_and_on_the_wire():
    event = RunFinished(status=RunStatus.STOPPED, run_dir="r", epochs_completed=1, final_test_acc=None,
                        best_val_acc=None, train_seconds=1.0, images_per_sec=None)
    assert json.loads(json.dumps({"status": event.status})) == {"status": "stopped"}
    assert RunStatus("interrupted") is RunStatus.INTERRUPTED and "failed" == RunStatus.FAILED
    assert set(RESUMABLE) == {"stopped", "failed", "interrupted", "pruned"}  # pruned: a search's trial, resumable by hand
