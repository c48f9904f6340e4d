"""tests/reliability/barrage.py --quick: a quarter of the barrage of bad inputs, every column 0 (issue 11)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BARRAGE = Path(__file__).with_name("barrage.py")


@pytest.mark.slow
def test_the_quick_barrage_finds_no_traceback_hang_oom_changed_input_or_partial_output():
    run = subprocess.run(
        [sys.executable, str(BARRAGE), "--quick", "--timeout", "60"],
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    cases_row, signals_row = [line for line in run.stdout.splitlines() if line.startswith("| all |")]
    # Every flag column 0: wrong result, no exit file and status mismatch too (issue 38).
    assert cases_row.endswith(" | 0" * 9 + " |"), cases_row
    # Signals swept over three jobs (issue 30): no traceback, hang, partial output or status mismatch.
    assert signals_row.endswith("| 0 | 0 | 0 | 0 |"), signals_row
