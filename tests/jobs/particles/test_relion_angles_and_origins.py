"""Subtomogram origins placed as RELION 5 places them (issue 64 item 5).

RELION's ``ParticleSet::getPosition`` subtracts ``A_subtomo @ origin``: an absent origin axis is
0 (``getParticleOffset``) and the other axes are rotated all the same; ``A_subtomo`` is the
matrix of ``rlnTomoSubtomogramRot/Tilt/Psi`` where ``rlnTomoSubtomogramRot`` is present, an
absent tilt or psi read as 0 (``getSubtomogramMatrix``). The expected positions come from that
code, ported in tests/relion_import.py; the files are RELION 5 particles.star tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.jobs.particles.job import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from helpers import write_star
from relion_import import position_angstrom

CENTRED = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
OPTICS_LABELS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
PSIZE, SIZE = 1.35, (4000, 4000, 2000)


def relion5_file(path, extra_labels: list[str], rows: list[list[float]]):
    """A RELION 5 particles.star: TS_01, centred Å, ``extra_labels`` (origins, angles), optics group 1."""
    labels = ["rlnTomoName", *CENTRED, *extra_labels, "rlnOpticsGroup"]
    optics = [[1, "optics1", PSIZE, 4 * PSIZE]]
    return write_star(path, labels, [["TS_01", *row, 1] for row in rows], optics=optics, optics_labels=OPTICS_LABELS)


def relion_shift(extra_labels: list[str], values: list[float]) -> np.ndarray:
    """What RELION subtracts from a particle's coordinates for these origins and angles (Å)."""
    row = dict(zip([*CENTRED, *extra_labels], map(str, [0.0, 0.0, 0.0, *values])))
    return -np.array(position_angstrom(row, PSIZE, SIZE))


@pytest.mark.parametrize(
    ("extra_labels", "assumed"),
    [
        # WarpTools-like 2-D origins beside 3-D coordinates and the subtomogram orientation
        (
            [
                "rlnOriginXAngst",
                "rlnOriginYAngst",
                "rlnTomoSubtomogramRot",
                "rlnTomoSubtomogramTilt",
                "rlnTomoSubtomogramPsi",
            ],
            "rlnOriginZAngst absent: taken as 0 and the origins still rotated",
        ),
        # the subtomogram tilt lost (a column dropped by a script): RELION reads it as 0
        (
            ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst", "rlnTomoSubtomogramRot", "rlnTomoSubtomogramPsi"],
            "rlnTomoSubtomogramTilt absent: taken as 0°",
        ),
    ],
)
def test_two_picks_25_A_apart_where_relion_places_them_are_duplicates_at_30_A(tmp_path, extra_labels, assumed):
    # Two picks 25 Å apart where RELION places them, with the same origins and two orientations: subtracted
    # unrotated (main), the origins leave them as far apart as their coordinates, over 30 Å.
    n_origins = sum(label.startswith("rlnOrigin") for label in extra_labels)
    origin = [30.0, -20.0, 10.0][:n_origins]
    angles = {"rlnTomoSubtomogramRot": 0.0, "rlnTomoSubtomogramTilt": 60.0, "rlnTomoSubtomogramPsi": 20.0}
    first = [*origin, *(angles[lab] for lab in extra_labels[n_origins:])]
    angles["rlnTomoSubtomogramRot"] = 180.0
    second = [*origin, *(angles[lab] for lab in extra_labels[n_origins:])]
    c1 = np.array([100.0, 200.0, 50.0])
    c2 = c1 + np.array([15.0, 20.0, 0.0]) + relion_shift(extra_labels, second) - relion_shift(extra_labels, first)
    assert np.linalg.norm(c2 - c1) > 40  # (the distance with the origins unrotated)
    rows = [[*np.round(c1, 6), *first], [*np.round(c2, 6), *second]]
    path = relion5_file(tmp_path / "particles.star", extra_labels, rows)
    summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(min_dist=30))
    assert summary["rejected"] == 1  # 25 Å apart as RELION places them
    assert any(assumed in w for w in summary["warnings"]), summary["warnings"]
    assert any(assumed in note for note in summary["layouts"][0]["notes"])
