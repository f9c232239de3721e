"""doctor's host rows: /dev/shm, the runs and cache folders, the open-file limit, the terminal."""

from __future__ import annotations

import os

import pytest

from core.hardware.host_checks import (
    check_colour, check_encoding, check_folder, check_nofile, check_session, check_shm, check_terminal,
)

GIB = 2**30


def _statvfs(total: int, free: int):
    return lambda path: os.statvfs_result((4096, 4096, total // 4096, free // 4096, free // 4096, 0, 0, 0, 0, 255))


def test_a_small_dev_shm_warns_with_the_docker_fix():
    row = check_shm(_statvfs(64 * 2**20, 60 * 2**20))
    assert row.status == "warn" and "64 MiB" in row.detail and "--shm-size" in row.fix and "--ipc=host" in row.fix
    assert check_shm(_statvfs(16 * GIB, 15 * GIB)).status == "ok"
    assert check_shm(_statvfs(16 * GIB, GIB // 2)).status == "warn"  # big but nearly full

    def missing(path):
        raise FileNotFoundError(path)

    assert check_shm(missing).status == "info"


def test_a_folder_under_a_regular_file_fails_even_for_root(tmp_path):
    (tmp_path / "file").write_text("x")
    row = check_folder("runs", tmp_path / "file" / "sub")
    assert row.status == "fail" and "is not a folder" in row.detail and "--run-dir" in row.fix
    row = check_folder("cache", tmp_path / "file")
    assert row.status == "fail" and "exists and is not a folder" in row.detail and "--cache-dir" in row.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_fails(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        row = check_folder("runs", locked / "runs")
        assert row.status == "fail" and "not writable" in row.detail
    finally:
        locked.chmod(0o755)


def test_a_writable_folder_is_ok_and_a_missing_one_is_not_made(tmp_path):
    row = check_folder("runs", tmp_path / "a" / "b")
    assert row.status == "ok" and f"{tmp_path} is writable" in row.detail
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []  # nor its temporary file left


def test_little_free_disk_warns(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100 * GIB, 99 * GIB, GIB))
    row = check_folder("runs", tmp_path)
    assert row.status == "warn" and "1.0 GiB free" in row.detail


def test_a_low_open_file_limit_warns_with_ulimit():
    row = check_nofile((1024, 1048576))
    assert row.status == "warn" and "1024" in row.detail and row.fix == "ulimit -n 65536"
    assert check_nofile((1024, 2048)).fix.startswith("ask the admin")
    assert check_nofile((1024, 8192)).fix == "ulimit -n 8192"
    assert check_nofile((65536, 65536)).status == "ok"


def test_the_terminal_rows():
    assert check_terminal(None).status == "info" and "not a terminal" in check_terminal(None).detail
    assert check_terminal(os.terminal_size((80, 24))).status == "warn"
    assert check_terminal(os.terminal_size((120, 40))).status == "ok"
    assert check_colour({"TERM": "dumb"}).status == "warn"
    assert check_colour({"TERM": "xterm-256color"}).status == "ok"
    assert check_colour({"TERM": "xterm", "COLORTERM": "truecolor"}).status == "ok"
    assert check_colour({"TERM": "xterm-256color", "NO_COLOR": "1"}).status == "info"
    assert check_encoding("UTF-8", {"LANG": "C.UTF-8"}).status == "ok"
    row = check_encoding("ANSI_X3.4-1968", {"LC_ALL": "C"})
    assert row.status == "warn" and "LC_ALL=C" in row.detail and "UTF-8" in row.fix
    assert check_session({"TMUX": "/tmp/tmux-0/default,1,0"}).detail == "inside tmux"
    assert check_session({"STY": "123.pts-0"}).detail == "inside screen"
    row = check_session({})
    assert row.status == "info" and "tmux or screen" in row.fix
