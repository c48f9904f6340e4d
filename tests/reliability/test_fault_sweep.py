"""A fixed sample of the fault sweep (``fault_sweep.py``): errors and signals at system calls of an ``--update``
round, then the same round again and the next batch, against the uninterrupted series (issue 65).

The whole sweep (every call) is the script; CI runs every 7th call of a STAR and a ``.cs`` round
with an error and each of SIGKILL, SIGTERM and SIGINT (about 2 minutes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fault_sweep
import pytest


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
@pytest.mark.parametrize("kind", ["star", "cs"])
def test_a_fault_at_sampled_calls_of_a_round_ends_as_the_uninterrupted_series(tmp_path: Path, kind: str) -> None:
    counts, failed = fault_sweep.sweep([kind], 7, tmp_path, log=lambda line: None)
    assert counts[f"{kind} cases"] >= 20
    assert not failed, "\n".join(f"{v.case}: {'; '.join(v.problems)}" for v in failed)
