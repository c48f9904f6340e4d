"""The same-image check on RELION image names that repeat (issue 58, item 15): the 64-bit keys
only say which kept rows may share an image, the names (each row's stack and index, told
from the scan's runs without a second read of the file) decide. Against a brute force on the
names as written, normalised and compared as exact strings, with the keys whole and cut to
2 bits (every image then shares its key with others: the collisions the names must undo)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryodedup.algo.dedup import SAME_CENTRE_A
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.summary import ParticleSummary
from cryodedup.options import ParticleOptions
from cryodedup.particle_set import Images
from helpers import kept_rows, write_star

LABELS = [
    "rlnMicrographName",
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnImageName",
    "rlnMaxValueProbDistribution",
    "rlnOpticsGroup",
]
OPTICS = [[1, "og", 1.0, 1.0]]
NAMED = 5


def normalised(name: str) -> tuple[int, str]:
    """The image a RELION name means, as the documentation says: ``index@stack`` with 1 to 18
    digits and an index within uint32, else the whole name (index 0)."""
    found = re.fullmatch(r"(\d{1,18})@(.*)", name, re.DOTALL)
    if found and int(found[1]) <= 2**32 - 1:
        return int(found[1]), found[2]
    return 0, name


def written(image: tuple[int, str], form: int) -> str:
    """One of the ways a file may write image ``(index, stack)``."""
    index, stack = image
    if index == 0 and form == 0:
        return stack if not re.fullmatch(r"\d{1,18}@.*", stack, re.DOTALL) else f"0@{stack}"
    return f"{index:06d}@{stack}" if form == 1 else f"{index}@{stack}" if form == 2 else f"{index:09d}@{stack}"


@st.composite
def joined_selections(draw):
    """Rows of 1 or 2 files on 2 micrographs: images drawn from a pool of at least 6 (with 2-bit
    keys, some must collide), many there twice or more, written in different forms."""
    stacks = ["Extract/job007/m1.mrcs", "Extract/job007/m2.mrcs", "single_particle.mrc", "a@b.mrcs"]
    pool = sorted({(draw(st.integers(0, 40)), draw(st.sampled_from(stacks))) for _ in range(draw(st.integers(6, 14)))})
    n = draw(st.integers(6, 40))
    rows = []
    for k in range(n):
        image = draw(st.sampled_from(pool))
        x, y = draw(st.sampled_from([100, 104, 130, 400])), draw(st.sampled_from([100, 300]))
        rows.append(
            [f"m{draw(st.integers(1, 2))}.mrc", x, y, written(image, draw(st.integers(0, 3))), (k + 1) / 1000, 1]
        )
    split = draw(st.integers(0, n))
    return [rows[:split], rows[split:]] if draw(st.booleans()) and 0 < split < n else [rows]


def brute_force(rows: list[list], keep: list[bool]) -> tuple[int, int, list[str]]:
    """Images kept twice, their kept rows and the first names, from the names as strings."""
    by_image: dict[tuple[int, str], list[int]] = {}
    for k, row in enumerate(rows):
        if keep[k]:
            by_image.setdefault(normalised(row[3]), []).append(k)

    def apart(a: int, b: int) -> bool:
        (ma, xa, ya), (mb, xb, yb) = rows[a][:3], rows[b][:3]
        return ma != mb or np.hypot(xa - xb, ya - yb) > SAME_CENTRE_A

    twice = [ks for ks in by_image.values() if any(apart(ks[0], k) for k in ks[1:])]
    firsts = sorted(ks[0] for ks in twice)
    return len(twice), sum(len(ks) for ks in twice), [rows[k][3] for k in firsts[:NAMED]]


def run(tmp_path: Path, files: list[list[list]], name: str, mode: str) -> tuple[ParticleSummary, list[str], list[str]]:
    paths = [write_star(tmp_path / f"in{k}.star", LABELS, rows, optics=OPTICS) for k, rows in enumerate(files)]
    summary = remove_duplicate_particles(paths, tmp_path / name, ParticleOptions(min_dist=10, same_image=mode))
    inputs = [line for path in paths for line in kept_rows(path)]
    return summary, inputs, kept_rows(tmp_path / name / "particles_kept.star")


@pytest.mark.slow
@pytest.mark.parametrize("bits", [64, 2])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=joined_selections())
def test_images_kept_twice_agree_with_the_names_compared_as_strings(tmp_path_factory, monkeypatch, bits, files):
    tmp_path = tmp_path_factory.mktemp("names")
    monkeypatch.setattr(Images, "key_bits", bits)
    summary, inputs, kept = run(tmp_path, files, "warn", "warn")
    rows = [row for rows in files for row in rows]
    keep = [line in set(kept) for line in inputs]
    count, n_rows, named = brute_force(rows, keep)
    found = summary.to_json()["same_image"]
    assert (found["images_kept_twice"], found["rows"], found.get("named", [])) == (count, n_rows, named)
    if count:
        assert found["message"].startswith(f"{count:,} image{'s' if count > 1 else ''} kept twice ({n_rows:,} rows ")


def test_two_bit_keys_collide_and_the_names_undo_it(tmp_path, monkeypatch):
    # Eight distinct images, each once at its own centre, and image 5 twice 300 Å apart: with
    # keys of 2 bits, images share keys (4 keys for 8 images), yet only image 5 is kept twice;
    # with --same-image reject, only its worse row goes.
    rows = [["m1.mrc", 100 + 200 * k, 100, f"{k:06d}@Extract/s.mrcs", 0.5, 1] for k in range(1, 9)]
    rows.append(["m1.mrc", 1000, 400, "5@Extract/s.mrcs", 0.9, 1])
    for bits in (64, 2):
        monkeypatch.setattr(Images, "key_bits", bits)
        found = run(tmp_path, [rows], f"warn{bits}", "warn")[0].to_json()["same_image"]
        assert (found["images_kept_twice"], found["rows"], found["named"]) == (1, 2, ["000005@Extract/s.mrcs"])
        summary, inputs, kept = run(tmp_path, [rows], f"reject{bits}", "reject")
        assert kept == [line for k, line in enumerate(inputs) if k != 4]
        assert summary.to_json()["same_image"]["rows_rejected"] == 1


@pytest.mark.parametrize("mode", ["warn", "reject"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=joined_selections())
def test_keys_cut_to_two_bits_change_no_decision_and_no_summary(tmp_path_factory, monkeypatch, mode, files):
    tmp_path = tmp_path_factory.mktemp("bits")
    found = {}
    for bits in (64, 2):
        monkeypatch.setattr(Images, "key_bits", bits)
        summary, _, kept = run(tmp_path, files, f"{mode}{bits}", mode)
        found[bits] = (kept, summary.kept, summary.to_json()["same_image"], summary.warnings)
    assert found[2] == found[64]
