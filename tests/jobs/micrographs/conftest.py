"""Fixtures of the micrograph job's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def rows_formatted(monkeypatch):
    """The rows the core formatted for each pairs.csv written (a round that appends formats only the new ones)."""
    from cryodedup.jobs.micrographs import write

    counts = []
    real = write._core.append_pair_rows
    monkeypatch.setattr(
        write._core,
        "append_pair_rows",
        lambda path, names, a, *rest: counts.append(len(a)) or real(path, names, a, *rest),
    )
    return counts
