"""The app's start-up notice of doctor's failed checks (the other app tests turn it off: tests/conftest.py)."""

from __future__ import annotations

import pytest
from pilot_helpers import make_app, wait_until

from core.hardware import doctor
from core.hardware.probe import Check

pytestmark = pytest.mark.usefixtures("app_home")


def _checked(monkeypatch, rows: list[Check]) -> list[dict]:
    monkeypatch.delenv("RESNET_TUI_NO_DOCTOR")
    calls: list[dict] = []

    def fake(**kwargs):
        calls.append(kwargs)
        return rows

    monkeypatch.setattr(doctor, "run_checks", fake)
    return calls


async def test_a_failed_check_is_one_notice_at_start(tmp_path, monkeypatch):
    calls = _checked(monkeypatch, [Check("torch", "fail", "2.9.0+cu130 (CUDA 13.0 build), but driver 550 supports "
                                        "CUDA 12.4", "uv pip install ..."), Check("gpu0", "warn", "busy")])
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: list(app._notifications), 10)
        [note] = [n.message for n in app._notifications]
        assert note.startswith("doctor: 1 problem: torch: 2.9.0+cu130") and "resnet-tui doctor" in note
    assert calls == [{"run_dir": str(tmp_path / "runs"), "quick": True}]


async def test_a_healthy_machine_gets_no_notice(tmp_path, monkeypatch):
    calls = _checked(monkeypatch, [Check("gpu0", "warn", "busy"), Check("tmux", "info", "not inside")])
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: calls, 10)
        await pilot.pause(0.2)
        assert list(app._notifications) == []
