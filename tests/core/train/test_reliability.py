"""Faults during a run: full disk, read-only folder, out of memory, corrupt last.pt, kept checkpoints,
determinism. Each test makes the fault happen and checks that nothing good is lost."""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest
import torch
from helpers import fit_config, tiny_bundle

from core.config.train_config import TrainConfig
from core.runs.events import BatchProgress, EpochEnded, Notice
from core.runs.layout import read_metrics
from core.train import checkpoint, fit
from core.train.checkpoint import epoch_checkpoints, load_checkpoint

pytestmark = pytest.mark.usefixtures("every_batch_reported")  # tests count steps


def config(tmp_path, **kw) -> TrainConfig:
    return fit_config(tmp_path, **({'epochs': 3, 'name': 'r'} | kw))


def status(run_dir) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def fail_save_at(monkeypatch, nth: int, error: OSError) -> None:
    """Make the nth checkpoint save fail halfway with ``error`` (earlier and later saves work)."""
    real = checkpoint.torch.save
    calls = {"n": 0}

    def save(obj, fh, *a, **k):
        calls["n"] += 1
        if calls["n"] == nth:
            fh.write(b"PK\x03\x04 half a zip")
            raise error
        return real(obj, fh, *a, **k)

    monkeypatch.setattr(checkpoint.torch, "save", save)


def test_disk_full_at_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    # saves: 1 = the starting state, 2 = after epoch 1, 3 = after epoch 2 (fails)
    fail_save_at(monkeypatch, 3, OSError(errno.ENOSPC, "No space left on device"))  # a failed write names no file
    result = fit(config(tmp_path), data=tiny_bundle())
    assert result.status == "failed"
    assert "No space left on device" in result.error and "MiB free" in result.error and "intact" in result.error
    assert f"cannot write {result.run_dir / 'last.pt'}:" in result.error
    run = result.run_dir
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    assert not [p for p in os.listdir(run) if ".tmp-" in p]
    assert status(run)["status"] == "failed"


def test_read_only_folder_at_save(tmp_path, monkeypatch):
    fail_save_at(monkeypatch, 2, PermissionError(errno.EACCES, "Permission denied", "last.pt"))
    result = fit(config(tmp_path), data=tiny_bundle())
    assert result.status == "failed" and "Permission denied" in result.error
    assert load_checkpoint(result.run_dir / "last.pt")["epoch"] == 0  # the starting state survives


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (a real filesystem that really fills up); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)):
        pytest.skip("needs root and mount (tmpfs); test_disk_full_at_save covers the same path with a patched save")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk, leave: int) -> None:
    """Write until the disk is really full, then give ``leave`` bytes back (a save then fails part-way)."""
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    os.truncate(disk / "filler", os.path.getsize(disk / "filler") - leave)


def test_really_full_disk_at_save(tmp_path, small_disk):
    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            # the end-of-epoch save comes next; it fails inside torch.save, part-way through the tensors
            fill(small_disk, leave=(run_dir / "last.pt").stat().st_size // 2)

    run_dir = small_disk / "runs" / "r"

    result = fit(config(tmp_path, runs_dir=str(small_disk / "runs")), sink, data=tiny_bundle())
    assert result.status == "failed"
    run = result.run_dir
    assert f"cannot write {run / 'last.pt'}: No space left on device (0 MiB free)" in result.error, result.error
    assert "previous checkpoint is intact" in result.error
    assert load_checkpoint(run / "last.pt")["epoch"] == 0  # the state before the failed save
    assert not [p for p in os.listdir(run) if ".tmp-" in p]
    # space again: the run resumes and finishes, redoing the epoch whose save failed
    (small_disk / "filler").unlink()
    more = fit(TrainConfig(), data=tiny_bundle(), resume=run)
    assert more.status == "completed" and [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]


def test_really_read_only_folder(tmp_path):
    """The run folder turns read-only for real mid-run: a read-only bind mount as root (root ignores
    file modes), chmod 0500 otherwise."""
    run = tmp_path / "runs" / "r"
    mounted = []

    def make_read_only():
        if os.geteuid() == 0:
            if not (_mount("--bind", str(run), str(run)) and _mount("-o", "remount,bind,ro", str(run))):
                pytest.skip("needs mount --bind; test_read_only_folder_at_save covers the same path with a patched save")
            mounted.append(run)
        else:
            os.chmod(run, 0o500)

    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            make_read_only()

    try:
        result = fit(config(tmp_path), sink, data=tiny_bundle())
    finally:
        for m in mounted:
            subprocess.run(["umount", str(m)], check=False)
        os.chmod(run, 0o700)
    assert result.status == "failed", result
    reason = "Read-only file system" if mounted else "Permission denied"
    assert f"cannot write {run / 'last.pt'}: {reason}" in result.error, result.error
    assert load_checkpoint(run / "last.pt")["epoch"] == 0
    more = fit(TrainConfig(), data=tiny_bundle(), resume=run)
    assert more.status == "completed" and [r["epoch"] for r in read_metrics(run)] == [1, 2, 3]


def fake_oom_above(monkeypatch, limit: int) -> None:
    from core.models.base import Classifier

    real = Classifier.forward

    def forward(self, x):
        if x.shape[0] > limit and torch.is_grad_enabled():  # training steps; no-grad evaluation needs far less
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0]} MiB")
        return real(self, x)

    monkeypatch.setattr(Classifier, "forward", forward)


def test_out_of_memory_names_the_batch_size_and_a_way_out(tmp_path, monkeypatch):
    fake_oom_above(monkeypatch, 20)
    result = fit(config(tmp_path), data=tiny_bundle())
    assert result.status == "failed"
    assert "out of memory" in result.error and "batch size 32" in result.error
    assert "--batch-size 16" in result.error and "--auto-batch-size" in result.error
    assert load_checkpoint(result.run_dir / "last.pt")["epoch"] == 0


def test_auto_batch_size_halves_until_a_step_fits(tmp_path, monkeypatch):
    fake_oom_above(monkeypatch, 20)
    notices = []
    result = fit(config(tmp_path, epochs=1, auto_batch_size=True),
                 lambda e: notices.append(e.message) if isinstance(e, Notice) else None, data=tiny_bundle())
    assert result.status == "completed"
    assert any("batch size 32 does not fit in memory; using 16" in m for m in notices)
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["train"]["batch_size"] == 16
    assert load_checkpoint(result.run_dir / "last.pt")["global_step"] == 256 // 16


def test_kept_checkpoints_and_fallback_when_last_is_corrupt(tmp_path):
    result = fit(config(tmp_path, epochs=4, keep_last=2), data=tiny_bundle())
    run = result.run_dir
    assert [p.name for p in epoch_checkpoints(run)] == ["epoch_0003.pt", "epoch_0004.pt"]
    assert load_checkpoint(run / "epoch_0003.pt")["epoch"] == 3
    # a corrupt last.pt: resume falls back to the newest kept copy that loads, and says so
    (run / "last.pt").write_bytes(b"\x00garbage")
    (run / "epoch_0004.pt").write_bytes(b"")
    notes = []
    more = fit(TrainConfig(), lambda e: notes.append(e.message) if isinstance(e, Notice) else None,
               data=tiny_bundle(), resume=run, resume_overrides={"epochs": 6})
    assert more.status == "completed"
    assert any("resuming from epoch_0003.pt" in n for n in notes)
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2, 3, 4, 5, 6]
    # the copy the run resumed from is never deleted, even though keep_last=2 would prune it
    assert (run / "epoch_0003.pt").exists()
    assert {p.name for p in epoch_checkpoints(run)} >= {"epoch_0005.pt", "epoch_0006.pt"}


def test_new_copy_exists_before_an_old_one_is_deleted(tmp_path, monkeypatch):
    order = []
    real_replace, real_unlink = os.replace, os.unlink

    def replace(a, b):
        if str(b).endswith(".pt") and "epoch_" in str(b):
            order.append(("made", os.path.basename(b)))
        return real_replace(a, b)

    def unlink(path, *a, **k):
        if "epoch_" in str(path) and ".tmp" not in str(path):
            order.append(("deleted", os.path.basename(path)))
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "unlink", unlink)
    fit(config(tmp_path, epochs=3, keep_last=1), data=tiny_bundle())
    assert order.index(("made", "epoch_0002.pt")) < order.index(("deleted", "epoch_0001.pt"))
    assert order.index(("made", "epoch_0003.pt")) < order.index(("deleted", "epoch_0002.pt"))


def losses(tmp_path, name, seed, deterministic=False, sink=None):
    seen = []

    def record(e):
        if isinstance(e, BatchProgress):
            seen.append(e.loss)
        if sink:
            sink(e)

    fit(config(tmp_path, name=name, seed=seed, epochs=2, deterministic=deterministic), record, data=tiny_bundle())
    return seen


def test_same_seed_repeats_exactly_and_seeds_differ(tmp_path):
    """On the CPU a seed alone makes a run repeat bit for bit (no --deterministic needed; that flag is
    about CUDA kernels, see the next test)."""
    a = losses(tmp_path, "a", seed=7)
    b = losses(tmp_path, "b", seed=7)
    c = losses(tmp_path, "c", seed=8)
    assert a == b
    assert a != c


def test_deterministic_flag_sets_every_knob_and_restores_them(tmp_path):
    seen = {}

    def sink(event):
        if isinstance(event, BatchProgress) and not seen:
            seen["algorithms"] = torch.are_deterministic_algorithms_enabled()
            seen["cudnn"] = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
            seen["cublas"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    flagged = losses(tmp_path, "d", seed=7, deterministic=True, sink=sink)
    assert seen == {"algorithms": True, "cudnn": (True, False), "cublas": ":4096:8"}
    after = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    assert after == before  # restored when the run ends
    assert flagged == losses(tmp_path, "e", seed=7)  # on the CPU the flag changes no number


def test_the_batch_size_probe_counts_the_optimizers_state(tmp_path, monkeypatch):
    """The probe takes an optimiser step (lr 0) so that momentum buffers are part of what must fit; the real
    optimiser starts fresh and the weights are untouched by the probe."""
    import core.train.batch_probe as batch_probe
    import core.train.setup as setup_module

    made = []
    real = setup_module.build_optimizer

    def recording(model, cfg, device):
        opt = real(model, cfg, device)
        steps = []
        opt.register_step_pre_hook(lambda o, args, kwargs: steps.append(len(o.state)))
        made.append(steps)
        return opt

    monkeypatch.setattr(setup_module, "build_optimizer", recording)
    monkeypatch.setattr(batch_probe, "build_optimizer", recording)  # the probe's own optimiser
    fake_oom_above(monkeypatch, 20)
    result = fit(config(tmp_path, epochs=1, auto_batch_size=True), data=tiny_bundle())
    assert result.status == "completed"
    assert len(made) == 2 and len(made[0]) == 2  # the probe's optimiser stepped twice (at the size that fit)
    assert made[1] and made[1][0] == 0  # the run's own optimiser started with no state
