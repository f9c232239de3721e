"""Shared fixtures (builders live in helpers.py). Nothing here touches the network or ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_fake_cifar_archive, build_image_folder, tiny_bundle, train_tiny_run

from core.data import DataBundle


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


@pytest.fixture
def bundle() -> DataBundle:
    return tiny_bundle()


@pytest.fixture
def fake_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A fake archive in tmp_path/src, with the loader's checksums pointed at it."""
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
    return build_image_folder(tmp_path / "imgs")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One short real run shared by the tests that evaluate, predict, fine-tune or attack a run (read-only)."""
    return train_tiny_run(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def every_batch_reported(monkeypatch):
    """Progress after every batch (fit's default is every 0.1 s), so a test can count steps."""
    import core.train.loop

    monkeypatch.setattr(core.train.loop, "PROGRESS_INTERVAL", 0.0)
