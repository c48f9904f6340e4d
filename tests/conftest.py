"""pytest hooks: the ``real_data`` marker, and a line saying how many real-data tests were skipped.

Shared helpers live in helpers.py; tests import them from there, never from this file.
"""

from __future__ import annotations

import sys

import pytest

from helpers import NO_SHARED_DATA, SHARED_DATA


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: reads the real files in ../shared/data (skipped without them)")
    config.addinivalue_line("markers", "slow: takes minutes (CI runs it; deselect with -m 'not slow')")


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    for item in items:
        if item.get_closest_marker("real_data"):
            item.add_marker(pytest.mark.skip(reason=NO_SHARED_DATA))


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_SHARED_DATA in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} real-data tests skipped: {SHARED_DATA} is absent")


@pytest.fixture(autouse=True)
def close_figures():
    """Closes the figures a test drew: pyplot keeps every figure open until it is closed."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
