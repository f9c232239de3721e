"""`resnet-tui runs` on runs made by hand (fast; the live drills with real training are in
test_background_runs.py): list and its liveness, watch replaying a stream with damaged lines, and no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import run_cli

from core.runs.event_log import EVENTS, encode
from core.runs.events import EpochEnded, Notice, RunFinished, RunStarted, RunStatus
from core.runs.lock import RunLock

ROOT = Path(__file__).resolve().parents[3]
run = run_cli


def fake_run(runs: Path, name: str, status: str, events: list | None = None, tail: bytes = b"") -> Path:
    d = runs / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"train": {"arch": "resnet20", "dataset": "synthetic", "epochs": 2}}))
    (d / "run.json").write_text(json.dumps({"status": status, "epochs_completed": 2 if status == "completed" else 1,
                                            "epochs": 2, "final_test_acc": 0.5 if status == "completed" else None}))
    if events is not None:
        (d / EVENTS).write_bytes(b"".join(encode(e, 1.0 + i) for i, e in enumerate(events)) + tail)
    return d


def story(run_dir: Path, status: RunStatus) -> list:
    return [
        RunStarted(run_name=run_dir.name, run_dir=str(run_dir), arch="resnet20", config={}, classes=("a", "b"),
                   num_params=1000, device="cpu", precision="fp32", epochs=2, start_epoch=0, steps_per_epoch=4,
                   train_size=8, val_size=0, test_size=4),
        EpochEnded(epoch=1, epochs=2, train_loss=1.5, train_acc=0.5, val_loss=None, val_acc=None, test_loss=None,
                   test_acc=None, lr=0.1, seconds=1.0, train_seconds=1.0, images_per_sec=100.0),
        RunFinished(status=status, run_dir=str(run_dir), epochs_completed=1, final_test_acc=None, best_val_acc=None,
                    train_seconds=1.0, images_per_sec=100.0),
    ]


def test_list_tells_live_from_interrupted_and_prints_json(tmp_path, capsys):
    runs = tmp_path / "runs"
    done = fake_run(runs, "done", "completed")
    dead = fake_run(runs, "dead", "running")  # run.json says running; nobody holds its lock
    live = fake_run(runs, "live", "running")
    lock = RunLock.acquire(live)
    try:
        code, out, err = run(capsys, "runs", "list", "--json", "--run-dir", runs)
        assert code == 0, err
        rows = {r["name"]: r for r in json.loads(out)}
        assert rows["live"]["status"] == "running" and rows["live"]["live"] and rows["live"]["pid"] is not None
        assert rows["dead"]["status"] == "interrupted" and not rows["dead"]["live"]
        assert rows["done"]["status"] == "completed" and rows["done"]["final_test_acc"] == 0.5
        code, out, _ = run(capsys, "runs", "--run-dir", runs)  # bare `runs` lists too
        assert code == 0 and "interrupted" in out and "50.00%" in out
    finally:
        lock.release()
    assert (done / "run.json").is_file() and (dead / "run.json").is_file()  # listing writes nothing


def test_list_of_an_empty_or_missing_folder(tmp_path, capsys):
    code, out, _ = run(capsys, "runs", "list", "--run-dir", tmp_path / "none")
    assert code == 0 and "no runs in" in out


def test_watch_replays_a_finished_run_skipping_damaged_lines_and_exits_with_its_outcome(tmp_path, capsys):
    runs = tmp_path / "runs"
    for status, code_expected in ((RunStatus.COMPLETED, 0), (RunStatus.STOPPED, 3), (RunStatus.FAILED, 1)):
        d = runs / status.value
        events = story(d, status)
        fake_run(runs, status.value, status.value, events[:2] + [Notice("between")] + events[2:])
        with open(d / EVENTS, "ab") as fh:  # garbage in the middle is skipped, not fatal
            fh.write(b"\x00\xffnot json\n")
        code, out, err = run(capsys, "runs", "watch", d)
        assert code == code_expected, (status, out, err)
        assert "epoch 1/2" in out and f"run {status.value}" in out and "between" in out


def test_watch_of_a_run_without_a_stream_reports_its_status(tmp_path, capsys):
    d = fake_run(tmp_path / "runs", "old", "stopped")
    code, out, _ = run(capsys, "runs", "watch", d)
    assert code == 3 and "old: stopped, 1/2 epochs (no event stream to replay)" in out


def test_watch_of_a_dead_run_with_a_torn_last_line_says_interrupted(tmp_path, capsys):
    runs = tmp_path / "runs"
    d = runs / "torn"
    events = story(d, RunStatus.COMPLETED)[:2]  # no RunFinished: killed mid-run
    fake_run(runs, "torn", "running", events, tail=b'{"v":1,"t":9,"event":"BatchPro')
    code, out, err = run(capsys, "runs", "watch", d)
    assert code == 1 and "interrupted" in err and "epoch 1/2" in out


def test_runs_commands_do_not_import_torch(tmp_path):
    fake_run(tmp_path / "runs", "r", "completed")
    code = ("import sys\nfrom tui.cli.main import main\n"
            f"try:\n    main(['runs', 'list', '--json', '--run-dir', {str(tmp_path / 'runs')!r}])\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("TORCH False") and '"name": "r"' in out
