"""The app's memory between sessions (tui.app.state): where it lives by default, and that it round-trips.

README: "The last config you started is remembered (in ~/.config/resnet-tui, or $RESNET_TUI_HOME)".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config.train_config import TrainConfig
from tui.app import state

CFG = TrainConfig(dataset="synthetic", arch="resnet56", epochs=7, lr=0.025, batch_size=64, optimizer="adamw",
                  weight_decay=0.01, label_smoothing=0.1, val_split=0.1, seed=3, name="remembered", device="cpu")


@pytest.fixture
def fake_home(tmp_path, monkeypatch) -> Path:
    """HOME in tmp_path, with neither RESNET_TUI_HOME nor XDG_CONFIG_HOME set."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RESNET_TUI_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def test_default_home_is_dot_config(fake_home):
    assert state.home() == fake_home / ".config" / "resnet-tui"


def test_xdg_config_home_is_honoured(fake_home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert state.home() == tmp_path / "xdg" / "resnet-tui"


def test_resnet_tui_home_wins(fake_home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("RESNET_TUI_HOME", str(tmp_path / "mine"))
    assert state.home() == tmp_path / "mine"


@pytest.mark.parametrize("xdg", [False, True], ids=["dot-config", "xdg"])
def test_save_then_load_round_trips_in_the_default_home(fake_home, tmp_path, monkeypatch, xdg):
    where = fake_home / ".config" / "resnet-tui"
    if xdg:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        where = tmp_path / "xdg" / "resnet-tui"
    assert state.load_last_config() is None  # nothing remembered yet (and the folder need not exist)
    state.save_last_config(CFG)
    saved = where / "last-config.json"
    assert saved.is_file()  # created with its parent folders
    assert json.loads(saved.read_text()) == CFG.to_dict()
    assert state.load_last_config() == CFG
    newer = CFG.replace(arch="resnet20", epochs=2)
    state.save_last_config(newer)  # a later start replaces it
    assert state.load_last_config() == newer
    assert [p.name for p in where.iterdir()] == ["last-config.json"]  # no temp files left behind


def test_a_home_that_cannot_be_written_does_not_raise(fake_home, tmp_path, monkeypatch):
    """Remembering is a convenience: a home that cannot be made must not stop a run. (Root ignores file
    modes, so the home is put under a regular file: mkdir fails there for everyone, with an OSError.)"""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker / "config"))
    with pytest.raises(OSError):  # the write really fails ...
        state.home().mkdir(parents=True, exist_ok=True)
    state.save_last_config(CFG)  # ... and saving says nothing
    assert state.load_last_config() is None
    assert blocker.read_text() == "a file"


def test_a_home_that_is_a_file_does_not_raise(fake_home, monkeypatch):
    """~/.config/resnet-tui exists but is a file (mkdir raises FileExistsError): saving fails quietly."""
    config = fake_home / ".config"
    config.mkdir()
    (config / "resnet-tui").write_text("not a folder")
    state.save_last_config(CFG)
    assert state.load_last_config() is None
    assert (config / "resnet-tui").read_text() == "not a folder"


def test_a_broken_remembered_config_is_ignored(fake_home):
    where = fake_home / ".config" / "resnet-tui"
    where.mkdir(parents=True)
    for text in ("{not json", "[1, 2]", '"a string"'):
        (where / "last-config.json").write_text(text)
        assert state.load_last_config() is None
