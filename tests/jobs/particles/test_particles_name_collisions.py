"""Names that collide (issue 54, section 4): one rlnTomoParticleName for two particles of two
inputs, named before extraction (what RELION will do) and after it (the cause of an image kept twice)."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.algo.particle_names import colliding_rows
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.job import run
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.options import ParticleOptions
from cryodedup.report.summary import particle_rows
from helpers import shared_file, write_star

LABELS = [
    "rlnTomoName",
    "rlnCenteredCoordinateXAngst",
    "rlnCenteredCoordinateYAngst",
    "rlnCenteredCoordinateZAngst",
    "rlnTomoParticleName",
]


def pick_set(path, rows):
    """RELION-5-style picks: (tomogram, x, y, z in Å, particle name) per row."""
    return write_star(path, LABELS, rows)


def test_two_pick_sets_numbered_alike_are_warned_before_extraction(tmp_path):
    a = pick_set(tmp_path / "a.star", [["TS_01", 0, 0, 0, "TS_01/1"], ["TS_01", 500, 0, 0, "TS_01/2"]])
    # Another picker's set, numbered from 1 as well: TS_01/1 is another particle; TS_01/2 is the same one.
    b = pick_set(tmp_path / "b.star", [["TS_01", 0, 900, 0, "TS_01/1"], ["TS_01", 503, 0, 0, "TS_01/2"]])
    typed = run(Files.of([a, b]), tmp_path / "out", plan(ParticleOptions(min_dist=20))).summary
    summary = typed.to_json()
    assert summary["kept"] == 3  # TS_01/2 of b is a duplicate of a's and was rejected: no collision left
    names = summary["particle_names"]
    assert (names["names"], names["rows"], names["named"]) == (1, 2, ["TS_01/1"])
    assert names["example_inputs"] == sorted([str(a), str(b)])
    warned = [w for w in summary["warnings"] if "rlnTomoParticleName" in w]
    assert len(warned) == 1 and "TS_01/1" in warned[0] and "RELION issue 1069" in warned[0]
    assert "writes both particles to one file" in warned[0]
    assert "Particle names" in dict(particle_rows(typed.overview(), typed.sections()))


def test_names_of_one_place_or_one_input_are_no_collision(tmp_path):
    a = pick_set(tmp_path / "a.star", [["TS_01", 0, 0, 0, "TS_01/1"], ["TS_01", 500, 0, 0, "TS_01/1"]])
    b = pick_set(tmp_path / "b.star", [["TS_01", 0, 0, 0, "TS_01/1"]])
    # One input's two rows of one name are its own affair; b's row is a's first row again (rejected at 0 Å).
    summary = remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=0, prefer=["1"]))
    assert summary.kept == 2
    assert "particle_names" not in summary.to_json()
    assert not any("rlnTomoParticleName" in w for w in summary.warnings)


def test_colliding_rows_against_a_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(0, 14))
        ids = rng.integers(-1, 4, n)
        inputs = rng.integers(0, 3, n)
        groups = rng.integers(0, 2, n)
        centres = rng.integers(0, 2, (n, 3)).astype(float)
        keep = rng.random(n) < 0.8
        got = set(colliding_rows(ids, inputs, groups, centres, keep).tolist())
        expected = set()
        for name in set(ids[keep & (ids >= 0)].tolist()):
            rows = [r for r in range(n) if keep[r] and ids[r] == name]
            if any(
                inputs[p] != inputs[q] and (groups[p] != groups[q] or (centres[p] != centres[q]).any())
                for p in rows
                for q in rows
            ):
                expected.update(rows)
        assert got == expected


@pytest.mark.real_data
def test_after_extraction_the_image_kept_twice_names_the_collision(tmp_path):
    # The real RELION 4 subtomograms, and a second set whose particles RELION named alike (TS_017/68 ...)
    # at other places: extracted, both sets' rows name one file (68_data.mrc) at two centres.
    real = shared_file("tomo/cryoCAT__relion_4.0.star")
    lines = real.read_text().splitlines(keepends=True)
    moved = []
    for line in lines:
        fields = line.split()
        if len(fields) > 20 and "/" in fields[7]:  # a particle row: X Y Z first, in tilt-series pixels
            line = f"{float(fields[0]) + 50:.6f} " + line.split(None, 1)[1]
        moved.append(line)
    other = tmp_path / "other_picks_extracted.star"
    other.write_text("".join(moved))
    # (one translation of every pick: the registration check would refuse the merge; not what this tests)
    options = ParticleOptions(min_dist=10, registration="ignore")
    typed = run(Files.of([real, other]), tmp_path / "out", plan(options)).summary
    summary = typed.to_json()
    same = summary["same_image"]
    assert same["images_kept_twice"] == 1746
    assert "RELION issue 1069" in same["message"] and "refined apart" not in same["message"]
    assert summary["particle_names"]["extracted"] is True and summary["particle_names"]["names"] == 1746
    assert sum("rlnTomoParticleName" in w for w in summary["warnings"]) == 1  # said once, as the image's cause
    assert "Particle names" not in dict(particle_rows(typed.overview(), typed.sections()))
