"""Warnings a user reads only when they are true: none about a pixel size the run does not use, none before an error."""

from __future__ import annotations

import warnings

import pytest
from test_api import relion31_tables

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles, remove_duplicates
from helpers import write_star

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]


def test_no_pixel_size_warning_when_identical_coordinates_are_compared():
    # --min-dist 0 --shift-key none: duplicates are picks at the same coordinates of one micrograph,
    # whatever its pixel size; rlnMicrographOriginalPixelSize's fallback is then no concern.
    tables = relion31_tables("rlnMicrographOriginalPixelSize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept, _ = remove_duplicates(tables, min_dist=0.0, shift_key="none")
    assert len(kept["particles"]) == 2  # 10 px apart: both kept
    with pytest.warns(UserWarning, match="rlnMicrographOriginalPixelSize 1.5"):  # a distance uses it
        remove_duplicates(tables, min_dist=0.0)


def test_no_warning_before_an_error_that_stops_the_run(tmp_path):
    # No score column (a warning: random ranking) and no pixel size (an error): only the error is said.
    path = write_star(tmp_path / "p.star", LABELS, [[10, 10, "a.mrc"], [12, 10, "a.mrc"]], block="particles")
    said = []

    def log(message, level):
        said.append((level, message))

    with pytest.raises(CryodedupError, match="no micrograph pixel size"):
        remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(), log=log)
    assert [m for level, m in said if level == "warning"] == []
    # Given the pixel size, the run goes on and the warning is said.
    s = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(mic_psize=1.0), log=log)
    assert any("seeded random particle" in m for level, m in said if level == "warning")
    assert any("seeded random particle" in m for m in s.warnings)
