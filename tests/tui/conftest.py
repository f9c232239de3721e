"""Fixtures the app tests share (through `pytestmark`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_home(tmp_path, monkeypatch):
    """A fresh app home (remembered config) in tmp_path."""
    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def one_torch_thread():
    """One intra-op thread while the app trains in its worker thread next to the event loop: on 2 cores,
    two spinning OpenMP threads plus the event loop made a tiny step about ten times slower (measured
    0.5 s against 0.045 s on a busy machine). Restored afterwards (the setting is process-wide)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
