"""Fixtures the app and CLI tests share (the app tests use app_home and one_torch_thread through `pytestmark`)."""

from __future__ import annotations

import pytest


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
