"""The barrage's signal cases on cryodedup-relion: each signal sent at a moment seen on the job's output.

They were sent at set times after the command line was printed (0, 0.15, 0.35, 0.6 s), so
what they hit depended on the machine's load ("SIGTERM 0.6 s" failed on a loaded machine,
issue 56). Now each waits for its moment (tests/reliability/barrage_pipelines.py, MOMENTS):
the job is aborted every time, on an idle machine as on a loaded one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BARRAGE = Path(__file__).with_name("barrage.py")


@pytest.mark.slow
def test_every_signal_case_of_relion_external_is_aborted_cleanly_at_its_moment():
    import barrage_pipelines

    cases = [c for c in barrage_pipelines.PIPELINE_CASES if c.stop]
    assert len(cases) == 2 * len(barrage_pipelines.MOMENTS) and {c.expect for c in cases} == {"ABORTED"}
    run = subprocess.run(
        [sys.executable, str(BARRAGE), "-k", "SIG", "--kinds", "RELION External", "--signals", "0", "--timeout", "60"],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| all |")]
    # cases, exit 0, exit 1/2, then every flag (status mismatch: not aborted, or the moment never came) 0.
    assert rows == ["| all | 8 | 0 | 8" + " | 0" * 9 + " |"], run.stdout[-4000:]
