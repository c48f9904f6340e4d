"""Issue 30, "reliability, round two": each hostile case that was seen, as a test.

Each test builds its own fixture and checks the answer against a hand-worked case or brute
force, never against the code's own output.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cryodedup import dedup
from helpers import write_star

OPTICS = [[1, "og1", 2.0, 1.0]]
LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"]


def particles_star(folder, rows, name="p.star"):
    """A RELION 3.1 particle file at 1 Å per pixel, every row on micrograph m.mrc."""
    return write_star(folder / name, LABELS, [[x, y, "m.mrc", 1] for x, y in rows], optics=OPTICS)


def cryodedup(*args, timeout=120):
    """The CLI in a subprocess: (status, stdout, stderr)."""
    run = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return run.returncode, run.stdout, run.stderr


def one_error_line(stderr: str) -> str:
    """The one line of a refused run (warnings aside); fails on a traceback or several lines."""
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


# Item 8: spans of more grid cells than a usize holds panicked the core (grid.rs).


@pytest.mark.parametrize(
    ("far", "min_dist"), [("1e25", "20"), ("-1e22", "1"), ("5000", "1e-300"), ("1e140", "20")], ids=str
)
def test_a_far_corrupt_row_is_deduplicated_without_a_panic(tmp_path, far, min_dist):
    # Three picks on a line: the far one, and two 15 Å apart (duplicates at 20 Å, not at 1).
    star = particles_star(tmp_path, [(far, "0"), ("100", "0"), ("115", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", min_dist, "-o", tmp_path / "out")
    assert status == 0, stderr
    kept = (tmp_path / "out" / "particles_kept.star").read_text()
    # By hand: at 20 Å the pick at 115 is within 20 of the one at 100 (first ranked, random order
    # aside: one of the two goes); at 1 Å and below nothing is within reach.
    n_kept = sum(1 for line in kept.splitlines() if line.rstrip().endswith("m.mrc 1"))
    assert n_kept == (2 if float(min_dist) >= 15 else 3), kept


@pytest.mark.parametrize("far", [1e300, -1e200, 1e151])
def test_the_api_refuses_centres_too_far_to_square(far):
    groups, coords = [0, 0, 0], [[0.0, 0.0], [far, 0.0], [3.0, 0.0]]
    with pytest.raises(ValueError, match=r"particle 1 has a coordinate beyond ±1e150"):
        dedup(groups, coords, min_dist=20.0)


def test_the_api_with_a_collinear_set_far_apart_and_the_smallest_distance():
    # Points on one line (zero area) spanning 1e140 Å: at the smallest radius searched
    # (0.001 Å, the same centre) that is 1e143 cells. Only the copy 1e-300 Å away is a duplicate.
    coords = [[0.0, 0.0], [1e-300, 0.0], [0.5, 0.0], [1e140, 0.0]]
    result = dedup([0] * 4, coords, scores=[4.0, 3.0, 2.0, 1.0], min_dist=1e-300)
    assert result.keep.tolist() == [True, False, True, True]


# Item 5: squared distances overflowed, so any two far centres were "within" any distance.


def test_centres_whose_squared_distance_overflows_are_refused(tmp_path):
    star = particles_star(tmp_path, [("1.5e154", "0"), ("-1.5e154", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", "1e150", "-o", tmp_path / "out")
    assert status == 1
    line = one_error_line(stderr)
    assert re.search(r"p\.star: particle 1 has a centre beyond ±1e150 Å .*2 such particles", line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("min_dist", ["2e154", "inf", "-1"])
def test_a_min_dist_whose_square_is_not_finite_is_refused(tmp_path, min_dist):
    star = particles_star(tmp_path, [("0", "0"), ("3", "0")])
    status, _, stderr = cryodedup("particles", star, "--min-dist", min_dist, "-o", tmp_path / "out")
    assert status == 1
    assert "--min-dist must be a distance in Å from 0 to 1e150" in one_error_line(stderr)


def test_the_core_refuses_min_dist_whose_square_overflows():
    with pytest.raises(ValueError, match="min_dist must be a number from 0 to 1e150"):
        dedup([0, 0], [[1.5e149, 0.0], [-1.5e149, 0.0]], min_dist=2e154)
