"""Fixtures of the app's tests (their builders live in tests/run_fakes.py)."""

from run_fakes import app_at  # noqa: F401 - the fixture, shared by the screens that list runs, sweeps and searches
