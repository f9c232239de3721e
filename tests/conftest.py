"""Shared fixtures (builders live in helpers.py). Nothing here touches the network or ../shared."""

from __future__ import annotations

import os

# One OpenMP thread in every test process and, through the environment, in every process a test starts. The
# suite runs in one xdist worker per core (pyproject's addopts); torch's default of a thread per core in each
# worker oversubscribed the cores with spinning OpenMP threads: the same suite took 23.8 CPU-minutes against
# 14.1 with one thread, and 912 s against 560 s of wall time (measured on 2 cores). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

# helpers (and through it torch) is imported by the fixtures that need it, not here: the xdist controller
# loads this file too, and importing torch there delayed every worker's start by ~2 s.


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker more than cores. Many slow tests spend their time waiting on the processes they
    start (torchrun jobs, background runs, the app's child); a spare worker keeps the cores busy meanwhile
    (2 cores, 2026-12-04: the whole suite 555 s with 2 workers, 459 s with 3; the fast tests 68 s and 63 s)."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the internet fails fast, as it does on a machine without network."""
    import socket

    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("localhost", "127.0.0.1", "::1"):
            raise OSError(101, f"network disabled in tests (tried {host})")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture(autouse=True)
def _own_decode_cache(tmp_path_factory, monkeypatch) -> None:
    """Each test (and every process it starts) keeps decoded images in a cache folder of its own, never in
    the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(autouse=True)
def _no_doctor_notice(monkeypatch) -> None:
    """No app in a test checks the machine at start (a failed check would add a notice to its screens, and the
    snapshots would depend on the machine); tests/tui/app/test_app_doctor.py turns it back on."""
    monkeypatch.setenv("RESNET_TUI_NO_DOCTOR", "1")


@pytest.fixture(autouse=True)
def _model_stats_only_from_the_cache(monkeypatch):
    """No app in a test computes the stats of every model in the background.

    A home without the model-stats cache makes the app compute them (resnet1202 and the torchvision models
    included: 5.4 s of CPU measured) in a thread that competes with the test, and with the test in the other
    xdist worker, until the app exits. The stats only label the architecture list: test_snapshots.py computes
    them once into its cached home and shows them; test_app_setup_promises.py checks labels that arrive late.
    """
    from tui.app import choices

    monkeypatch.setattr(choices, "compute_stats", choices.cached_stats)


@pytest.fixture
def bundle():
    from helpers import tiny_bundle

    return tiny_bundle()


@pytest.fixture
def fake_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A fake archive in tmp_path/src, with the loader's checksums pointed at it."""
    from helpers import build_fake_cifar_archive

    from core.data import cifar10

    src = tmp_path / "src"
    src.mkdir()
    archive = src / cifar10.ARCHIVE
    info = build_fake_cifar_archive(archive)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", info["archive_md5"])
    monkeypatch.setattr(cifar10, "TRAIN_FILES", {f"data_batch_{i}": info["md5"][f"data_batch_{i}"] for i in range(1, 6)})
    monkeypatch.setattr(cifar10, "TEST_FILES", {"test_batch": info["md5"]["test_batch"]})
    info["archive"] = archive
    return info


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    from helpers import build_image_folder

    return build_image_folder(tmp_path / "imgs")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One short real run shared by the tests that evaluate, predict, fine-tune or attack a run (read-only),
    trained once for all xdist workers."""
    from helpers import built_once, train_tiny_run

    return built_once(tmp_path_factory, "trained-run", train_tiny_run)


@pytest.fixture
def every_batch_reported(monkeypatch):
    """Progress after every batch (fit's default is every 0.1 s), so a test can count steps."""
    import core.train.loop

    monkeypatch.setattr(core.train.loop, "PROGRESS_INTERVAL", 0.0)


def pytest_collection_modifyitems(config, items) -> None:
    """The slow tests first (a stable sort keeps their order otherwise): under xdist the workers then share
    them out and end on short tests, instead of one worker running a minute-long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
