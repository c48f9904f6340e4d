"""A fixed sample of the fault sweep (``fault_sweep.py``): errors and signals at system calls of an ``--update``
round, then the same round again and the next batch, against the uninterrupted series (issue 65).

The whole sweep (every call) is the script; CI runs every 7th call of a STAR, a ``.cs`` and a
``micrographs --update`` round (its SQLite store) with an error and each of SIGKILL, SIGTERM and
SIGINT (about 2 minutes a kind).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fault_sweep
import pytest


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
@pytest.mark.parametrize("kind", ["star", "cs", "micrographs"])
def test_a_fault_at_sampled_calls_of_a_round_ends_as_the_uninterrupted_series(tmp_path: Path, kind: str) -> None:
    counts, failed = fault_sweep.sweep([kind], 7, tmp_path, log=lambda line: None)
    assert counts[f"{kind} cases"] >= 16
    assert not failed, "\n".join(f"{v.case}: {'; '.join(v.problems)}" for v in failed)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_a_kill_at_each_rename_of_a_round_is_finished_by_the_same_command_again(tmp_path: Path) -> None:
    """SIGKILL at each rename of a STAR round (issue 65 item 1: after the store's commit, the round files were
    missing for good): run again, the series ends as the uninterrupted one, byte for byte."""
    series = fault_sweep.make_series("star", tmp_path)
    before = fault_sweep.prepare(series, tmp_path)
    renames = fault_sweep.calls_of_round(series, before, tmp_path)["rename"]
    assert renames
    failed = [fault_sweep.one_case(series, before, tmp_path, "rename", n, "KILL") for n in renames]
    assert not [v for v in failed if v.problems], [f"{v.case}: {v.problems}" for v in failed if v.problems]
