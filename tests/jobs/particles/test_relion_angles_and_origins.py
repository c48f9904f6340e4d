"""Angles and origins as RELION 5 reads them (issue 64 item 5).

Radians written as degrees lie within ±π: ``--max-angle`` would take nearly every pair for one
orientation, so it is refused on them unless insisted on (``--insist-angles``).

RELION's ``ParticleSet::getPosition`` subtracts ``A_subtomo @ origin``: an absent origin axis is
0 (``getParticleOffset``) and the other axes are rotated all the same; ``A_subtomo`` is the
matrix of ``rlnTomoSubtomogramRot/Tilt/Psi`` where ``rlnTomoSubtomogramRot`` is present, an
absent tilt or psi read as 0 (``getSubtomogramMatrix``). The expected positions come from that
code, ported in tests/relion_import.py; the files are RELION 5 particles.star tables.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
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
    assert summary.rejected == 1  # 25 Å apart as RELION places them
    assert any(assumed in w for w in summary.warnings), summary.warnings
    assert any(assumed in note for note in summary.to_json()["layouts"][0]["notes"])


def spa_pairs(path, angles: np.ndarray):
    """A RELION 3.1 particles.star: 150 pairs of picks 5 Å apart on 10 micrographs, one pose per pick."""
    rng = np.random.default_rng(645)
    n = len(angles)
    mics = [f"MotionCorr/job002/Movies/mic_{k // 30:03d}.mrc" for k in range(n)]
    centres = np.repeat(rng.uniform(100, 3900, size=(n // 2, 2)), 2, axis=0) + np.tile(
        [[0.0, 0.0], [5.0, 0.0]], (n // 2, 1)
    )
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    labels += ["rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    rows = [
        [m, *np.round(c, 2), *np.round(a, 6), round(1 - k / n, 6), 1]
        for k, (m, c, a) in enumerate(zip(mics, centres, angles))
    ]
    optics = [[1, "opticsGroup1", 1.0, 300, 2.7, 0.1, 1.0, 2.0]]
    optics_labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographOriginalPixelSize", "rlnVoltage"]
    optics_labels += ["rlnSphericalAberration", "rlnAmplitudeContrast", "rlnMicrographPixelSize", "rlnImagePixelSize"]
    return write_star(path, labels, rows, optics=optics, optics_labels=optics_labels)


def uniform_angles(n: int, seed: int = 7) -> np.ndarray:
    """RELION's ranges: rot and psi within ±180°, tilt 0-180° (uniform on the sphere)."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.uniform(-180, 180, n), np.degrees(np.arccos(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)], axis=1
    )


def test_radians_written_as_degrees_are_refused_for_max_angle_unless_insisted(tmp_path):
    # The same poses in degrees and in radians written as degrees (every |angle| <= π over 300 rows): at
    # 10°, the degrees give few duplicates, the radians nearly every pair (main: silently).
    degrees = uniform_angles(300)
    in_degrees = spa_pairs(tmp_path / "degrees.star", degrees)
    in_radians = spa_pairs(tmp_path / "radians.star", np.radians(degrees))
    args = ["--min-dist", "20", "--max-angle", "10", "--mic-psize", "1", "--json"]
    runner = CliRunner()
    result = runner.invoke(main, ["particles", str(in_degrees), *args, "-o", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    few = json.loads(result.stdout)["rejected"]
    assert few < 15
    result = runner.invoke(main, ["particles", str(in_radians), *args, "-o", str(tmp_path / "r")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    for part in ("radians.star", "within ±π", "radians written as degrees", "--insist-angles"):
        assert part in message, part
    assert not (tmp_path / "r").exists()
    result = runner.invoke(main, ["particles", str(in_radians), *args, "--insist-angles", "-o", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rejected"] > 10 * max(few, 1)
    assert any("radians written as degrees" in w for w in summary["warnings"])
    # The verdict's "Check:" names the three angles' range whole (it said "300 particles' rlnAnglePsi lies", cut).
    assert re.search(r"Check: .*\b300 particles' angles lie within ±π(;|$)", summary["verdict"]["line"]), summary[
        "verdict"
    ]


def test_angles_that_are_degrees_within_pi_only_by_chance_of_few_rows_pass(tmp_path):
    # Fewer than 100 rows, or every angle 0 (imported picks): no such conclusion.
    small = spa_pairs(tmp_path / "small.star", np.radians(uniform_angles(40)))
    zeros = spa_pairs(tmp_path / "zeros.star", np.zeros((300, 3)))
    for path in (small, zeros):
        options = ParticleOptions(min_dist=20, max_angle=10, mic_psize=1.0)
        summary = remove_duplicate_particles([path], tmp_path / path.stem, options)
        assert not any("radians" in w for w in summary.warnings)
