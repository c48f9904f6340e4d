"""Issue 97: a symmetry expansion's copies across the half-sets, against RELION's own reconstructions of them.

One image at two poses an operator apart lands on two central sections of the half-maps, which share its noise
only where they meet: RELION's C1 reconstructions of an expanded D2 set show no shared noise however the halves
are drawn (per row, per copy), while with D2 imposed the same copies are one view and share it
(docs/developers/fsc-poses.md). The oracle: RELION's reconstruction with each image's copies in one half (per
source), and the FSC RELION's half-maps gain where the map has no signal. Fixture: tests/fixtures/relion_expanded.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryodedup.algo.fsc import crossing
from cryodedup.formats.star.fsc import read_fsc
from cryodedup.jobs.audit.check import audit_set
from cryodedup.jobs.audit.fsc import FscFound, judge, set_estimate
from fixtures.relion_expanded import BOX, PSIZE, RELION_PROGRAMS, expanded_halfmaps
from helpers import missing_program

pytestmark = pytest.mark.slow

BOX_A = BOX * PSIZE


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    missing = [p for p in RELION_PROGRAMS if shutil.which(p) is None]
    if missing:
        missing_program(f"RELION is not installed ({', '.join(missing)})", required_by="CRYODEDUP_REQUIRE_RELION")
    return expanded_halfmaps(tmp_path_factory.mktemp("relion_expanded"))


def _tail(path: Path) -> float:
    """The FSC where the map has no signal: the mean of its last six shells."""
    return float(np.mean(read_fsc(path).fsc[-6:]))


@pytest.mark.parametrize("split", ["row", "copy"])
def test_copies_at_poses_an_operator_apart_refined_in_c1_share_no_noise_and_need_no_redo(made, split):
    star, fsc = made[(split, "C1")]
    audited = audit_set([star], f"{split}.star", 30.0, lambda: None)
    assert audited.straddling_pairs > 2000  # (the copies straddle: per row about 3 in 4 images, per copy all)
    found = set_estimate(read_fsc(fsc), audited, "C1")
    assert found is not None and found.turned == audited.straddling_pairs
    assert abs(_tail(fsc)) < 0.02 and found.shared_fraction < 0.01  # (RELION's half-maps gain nothing: nor f)
    truth = crossing(*_curve(made[("source", "C1")][1]))
    assert truth is not None and found.resolution_without_A is not None
    assert abs(1 / found.resolution_without_A - 1 / truth[0]) * BOX_A <= 0.3
    assert judge(FscFound(found), audited, 1.0).negligible  # (no redo: on main, f 0.76 and "refine again")


def test_the_same_copies_with_the_point_group_imposed_share_their_noise_and_count_whole(made):
    star, fsc = made[("row", "D2")]
    audited = audit_set([star], "row.star", 30.0, lambda: None)
    found = set_estimate(read_fsc(fsc), audited, "D2")
    assert found is not None and found.turned == 0
    assert _tail(fsc) > 0.5 and found.shared_fraction >= _tail(fsc)  # (RELION's tail 0.61: counted, not missed)
    assert not judge(FscFound(found), audited, 1.0).negligible


def test_particles_audit_fsc_of_an_expanded_set_counts_its_copies_by_their_sections(made):
    star, fsc = made[("row", "C1")]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cryodedup"), "particles", str(star), "--audit", "--min-dist", "30",
         "--fsc", str(fsc), "--json", "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    estimate = json.loads(done.stdout)["halfset_audit"]["fsc"]
    assert estimate["shared_fraction"] < 0.01 and estimate["pairs_turned"] > 2000
    assert estimate["turned_under"] == "C1"


def _curve(path: Path) -> tuple[np.ndarray, np.ndarray]:
    curve = read_fsc(path)
    return curve.frequency, curve.fsc
