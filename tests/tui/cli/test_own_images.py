"""A folder of the user's own images from the command line: `data info` shows its layout, split and counts
and how a run would hold it; the decode cache lives outside the data (`data cache list|clear`); a run records
its test split, so evaluate and resume notice when the folder changed."""

from __future__ import annotations

import json
import threading

import pytest
from helpers import Recorder, build_class_folders, fit_config, run_here, write_image

from core.config.train_config import TrainConfig
from core.errors import CheckpointError
from core.runs.events import BatchProgress


@pytest.fixture
def pets(tmp_path):
    return build_class_folders(tmp_path / "pets", per_class=10, size=24, extra={"val": 2})


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_data_info_shows_layout_split_counts_and_the_path_chosen(capsys, pets):
    shown = run_here(capsys, "data", "info", "--dataset", "folder", "--data", pets)
    assert shown.returncode == 0, shown.stderr
    assert "3 classes, 24 train / 6 val / 6 test images at 32 px" in shown.stdout
    assert "layout: class folders + val/; test: 6 images held out (0.2 of each class, --split-seed 0)" in shown.stdout
    assert "memory: 0.11 MiB of decoded images fit 50% of the" in shown.stdout  # 36 images of 3 x 32 x 32
    as_json = json.loads(run_here(capsys, "data", "info", "--dataset", "folder", "--data", pets, "--json",
                                  "--test-split", "1", "--data-in-memory", "no").stdout)
    assert as_json["layout"] == "class folders + val/" and as_json["test"] == {"cat": 1, "dog": 1, "frog": 1}
    assert as_json["train"] == {"cat": 9, "dog": 9, "frog": 9} and as_json["in_memory"] is False
    assert "streamed from the files" in as_json["why"]


def test_the_cache_stays_out_of_the_data_and_data_cache_lists_and_clears_it(capsys, pets, tmp_path):
    before = tree(pets)
    cache = tmp_path / "cache"
    done = run_here(capsys, "train", "--dataset", "folder", "--data", pets, "--arch", "simplecnn", "--epochs", "1",
                    "--image-size", "16", "--device", "cpu", "--run-dir", tmp_path / "runs", "--cache-dir", cache)
    assert done.returncode == 0, done.stderr
    assert tree(pets) == before  # nothing written into the user's folder
    listed = json.loads(run_here(capsys, "data", "cache", "list", "--cache-dir", cache, "--json").stdout)
    assert sorted((e["split"], e["images"]) for e in listed["entries"]) == [("test", 6), ("train", 24), ("val", 6)]
    assert {e["source"] for e in listed["entries"]} == {str(pets.resolve())}
    cleared = run_here(capsys, "data", "cache", "clear", "--cache-dir", cache, "--data", tmp_path / "elsewhere")
    assert "removed 0 entries" in cleared.stdout
    cleared = run_here(capsys, "data", "cache", "clear", "--cache-dir", cache, "--data", pets)
    assert "removed 3 entries" in cleared.stdout and not list(cache.iterdir())


def test_an_older_version_s_cache_inside_the_data_is_shown_and_cleared(capsys, pets):
    old = pets / ".resnet-tui-cache"
    old.mkdir()
    (old / "train-32.pt").write_bytes(b"x" * 2048)
    (old / "test-32.pt").write_bytes(b"x" * 1024)
    shown = run_here(capsys, "data", "info", "--dataset", "folder", "--data", pets)
    assert "an older version's decode cache is in" in shown.stdout and "data cache clear --data" in shown.stdout
    cleared = run_here(capsys, "data", "cache", "clear", "--data", pets)
    assert "and 2 files an older version left in" in cleared.stdout and not old.exists()


def test_a_cache_folder_that_cannot_be_written_is_said_and_the_run_goes_on(capsys, pets, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run_here(capsys, "train", "--dataset", "folder", "--data", pets, "--arch", "simplecnn", "--epochs", "1",
                    "--image-size", "16", "--device", "cpu", "--run-dir", tmp_path / "runs",
                    "--cache-dir", blocker / "cache")
    assert done.returncode == 0, done.stderr
    assert f"cannot write the decode cache in {blocker / 'cache'}" in done.stdout + done.stderr


def test_the_split_is_recorded_and_a_changed_folder_is_noticed(capsys, pets, tmp_path):
    cfg = fit_config(tmp_path, dataset="folder", data=str(pets), batch_size=8, epochs=1)
    done = run_here(capsys, "train", "--config", _write(tmp_path, cfg))
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "t"
    same = json.loads(run_here(capsys, "evaluate", run, "--json").stdout)
    assert same["same_test_images"] is True and same["count"] == 6
    for c in ("cat", "dog", "frog"):  # more images: the per-class share of the test split grows
        for i in range(5):
            write_image(pets / c / f"new{i}.png", (5, 5, 5), 24)
    changed = run_here(capsys, "evaluate", run, "--json")
    assert json.loads(changed.stdout)["same_test_images"] is False
    assert "holds other test images than when this run trained" in changed.stderr


def test_resume_refuses_a_folder_whose_test_split_changed(pets, tmp_path):
    from core.train import fit

    stop = threading.Event()
    rec = Recorder(lambda e: isinstance(e, BatchProgress), stop)
    cfg = fit_config(tmp_path, dataset="folder", data=str(pets), batch_size=8, epochs=2)
    stopped = fit(cfg, rec, stop)
    assert stopped.status == "stopped"
    from core.data.layout import scan_folder

    victim = scan_folder(pets).files["test"][0][0]
    victim.rename(victim.parent / "renamed.png")  # the same counts, another test image
    with pytest.raises(CheckpointError, match="other test images than when the run started"):
        fit(TrainConfig(), resume=stopped.run_dir)


def _write(tmp_path, cfg) -> str:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return str(path)


@pytest.mark.slow
def test_ctrl_c_at_a_terminal_stops_a_streaming_run_once_at_a_batch(tmp_path):
    """Ctrl-C reaches the whole foreground process group, loader workers included: they leave it to the
    training process, which says so once, saves at the batch and exits 130."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pets = build_class_folders(tmp_path / "pets", per_class=100, size=32)  # 30 steps an epoch
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", "--dataset", "folder", "--data", str(pets),
                             "--arch", "resnet20", "--epochs", "20", "--batch-size", "8", "--device", "cpu",
                             "--data-in-memory", "no", "--workers", "2", "--run-dir", str(tmp_path / "runs"),
                             "--eval-every", "0",  # no evaluation between epochs: the Ctrl-C lands in training
                             "--name", "s"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline, events = time.time() + 120, tmp_path / "runs" / "s" / "events.jsonl"
    # the first step reported: the first epoch is under way (its start, the loader workers' spin-up, is past)
    while not (events.exists() and '"event":"BatchProgress"' in events.read_text()):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.count("stopping after this batch") == 1 and "stopped at epoch" in err and "Traceback" not in err
