"""pytom-match-pick's voxel coordinates in a RELION 5 import list, against the file's ``rlnDetectorPixelSize``.

pytom-match-pick writes its candidates in voxels of the tomogram it searched and that voxel's
size as ``rlnDetectorPixelSize`` (its SBC-Utrecht/pytom-match-pick/docs/Developers.md); RELION 5's import reads a
STAR file's coordinates as tilt-series pixels as they are. On main a list of such files (13.5 Å voxels beside a
tilt series' 1.35 Å) was read as tilt-series pixels without a word: every pick ten times nearer
the corner.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_import_lists_relion_imports import tomograms_star
from test_particles_import_lists import import_list, relion_table, write

from cryodedup.cli import main

PYTOM = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnLCCmax", "rlnDetectorPixelSize"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(project, voxel: float):
    rows = [[100 + 10 * k, 200, 150, 0.5 - k / 100, voxel] for k in range(5)]
    write(project / "tm/TS_01.star", relion_table(PYTOM, rows))
    listed = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star")])
    tomograms = tomograms_star(project / "tomograms.star")  # (tilt-series pixels of 1.35 Å)
    args = ["particles", str(listed), "--micrographs", str(tomograms), "--min-dist", "20", "-o", "D"]
    return CliRunner().invoke(main, args)


def test_voxels_of_a_binned_tomogram_are_refused_naming_the_file_and_both_sizes(project):
    result = run(project, 13.5)
    assert result.exit_code != 0 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "tm/TS_01.star (line" in said and "rlnDetectorPixelSize 13.5 Å" in said and "1.35 Å" in said
    assert "multiply them by 10" in said and "--relion5-compat" in said


def test_a_stated_pixel_that_is_the_tilt_series_passes(project):
    result = run(project, 1.35)
    assert result.exit_code == 0, result.output
