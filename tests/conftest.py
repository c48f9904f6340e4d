"""pytest hooks: the ``real_data`` and ``slow`` markers, and lines saying how many tests of each were skipped.

Tests marked ``slow`` (together most of the suite's time) run with ``pytest --slow``, and always
in CI (``CI=true``, as .ci/run is started) or with ``CRYODEDUP_SLOW=1``.

Property tests (hypothesis) draw the same examples on every run, so that a run's result never
depends on luck; ``CRYODEDUP_EXPLORE=1`` draws new ones (and keeps failures in .hypothesis/).

Shared helpers live in helpers.py; tests import them from there, never from this file.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

from helpers import NO_SHARED_DATA, SHARED_DATA

settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("explore" if os.environ.get("CRYODEDUP_EXPLORE") == "1" else "fixed")

SLOW_SKIPPED = "slow: run with pytest --slow (CI runs it)"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (CI always runs them)")


def _run_slow(config) -> bool:
    return bool(config.getoption("--slow")) or os.environ.get("CI") == "true" or os.environ.get("CRYODEDUP_SLOW") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: reads the real files in ../shared/data (skipped without them)")
    config.addinivalue_line("markers", "slow: takes seconds or more (run with --slow; CI runs it)")


def pytest_collection_modifyitems(config, items):
    slow = not _run_slow(config)
    absent = not SHARED_DATA.is_dir()
    for item in items:
        if slow and item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.skip(reason=SLOW_SKIPPED))
        elif absent and item.get_closest_marker("real_data"):
            item.add_marker(pytest.mark.skip(reason=NO_SHARED_DATA))


def pytest_terminal_summary(terminalreporter):
    skipped = [str(r.longrepr) for r in terminalreporter.stats.get("skipped", [])]
    real = sum(NO_SHARED_DATA in reason for reason in skipped)
    if real:
        terminalreporter.write_line(f"{real} real-data tests skipped: {SHARED_DATA} is absent")
    slow = sum(SLOW_SKIPPED in reason for reason in skipped)
    if slow:
        terminalreporter.write_line(f"{slow} slow tests skipped: pytest --slow runs them (CI does)")


@pytest.fixture(autouse=True)
def close_figures():
    """Closes the figures a test drew: pyplot keeps every figure open until it is closed."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
