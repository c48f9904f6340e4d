"""``--max-angle 0`` means positions only in ``particles`` as in ``audit`` (issue 89 item 4).

audit's help says "0: positions only" (its job passes ``max_angle or None``); on main ``particles
--max-angle 0`` compared orientations and took only identical ones for duplicates, so every pair
whose poses differ at all was kept (60 of 60 here; 268 of 268 in the issue's set).
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions
from cryodedup.cli import main
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def posed_pairs(path):
    """30 pairs of particles 3 Å apart (groups 200 Å apart), the two of a pair turned some 20° apart."""
    rng = np.random.default_rng(1)
    rows = []
    for k in range(30):
        x, y = 100 + 200 * (k % 6), 100 + 200 * (k // 6)
        angles = rng.uniform([-180, 20, -180], [180, 160, 180])
        for j in range(2):
            turned = np.round(angles + rng.normal(0, 20, 3) * [1, 0.3, 1], 2)
            rows.append(["mic_1.mrc", x + 3 * j, y, *turned])
    return write_star(path, LABELS, rows)


def kept_positions(path):
    return [tuple(line.split()[1:3]) for line in path.read_text().splitlines() if line.startswith("mic_1")]


def test_max_angle_zero_compares_positions_only_as_audit_does(tmp_path):
    star = posed_pairs(tmp_path / "posed.star")
    args = ["particles", str(star), "--mic-psize", "1", "--min-dist", "20"]
    result = CliRunner().invoke(main, [*args, "--max-angle", "0", "-o", str(tmp_path / "zero")])
    assert result.exit_code == 0, result.output
    kept = kept_positions(tmp_path / "zero/particles_kept.star")
    # By hand: the pairs are 3 Å apart and 200 Å from one another: one of each pair kept, by position alone.
    assert len(kept) == 30 and len({(x, y) for x, y in kept if float(x) % 200 in (100.0, 103.0)}) == 30
    assert len({int(float(y)) * 10_000 + (int(float(x)) - int(float(x)) % 200) for x, y in kept}) == 30


def test_a_point_group_with_max_angle_zero_is_refused():
    with pytest.raises(
        CryodedupError, match=r"--sym D2 compares orientations: give the angle with --max-angle, above 0"
    ):
        ParticleOptions(max_angle=0, sym="D2").check()
