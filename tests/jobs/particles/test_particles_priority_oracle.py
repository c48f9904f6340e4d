"""The particle job against the brute force (tests/oracle.py) on random inputs with input
priorities (``--prefer``), scores that mean none (RELION's -999, NaN) and particle images
shared between rows (``--same-image``): STAR files, CryoSPARC .cs files and picker folders,
each written to disk and run end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.synthetic import write_cs
from helpers import kept_rows, located_records, write_star
from oracle import SAME_CENTRE, oracle, oracle_priority

MIN_DIST = 6.5  # (integer coordinates: no pair at exactly the distance)
LABELS = [
    "rlnMicrographName",
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnImageName",
    "rlnAutopickFigureOfMerit",
    "rlnClassNumber",  # the row's number in all inputs: which rows were kept
    "rlnOpticsGroup",
]
SCORES = st.sampled_from([-999.0, float("nan"), 0.1, 0.5, 0.5, 0.9, 2.0])


@st.composite
def cases(draw):
    """Inputs of rows (micrograph 0/1, x, y, origin x, image or 0, score), the preferred inputs, the mode."""
    n_inputs = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n_inputs):
        n = draw(st.integers(0, 7))
        rows = [
            (
                draw(st.integers(0, 1)),
                draw(st.integers(0, 24)),
                draw(st.integers(0, 24)),
                draw(st.sampled_from([0, 0, -20])),  # refined apart: the same image 20 Å away
                draw(st.integers(0, 4)),  # image k of its micrograph's stack, 0: a row of no image
                draw(SCORES),
            )
            for _ in range(n)
        ]
        inputs.append(rows)
    prefer = draw(
        st.permutations(range(1, n_inputs + 1)).flatmap(lambda p: st.integers(0, len(p)).map(lambda k: p[:k]))
    )
    return inputs, list(prefer), draw(st.sampled_from(["warn", "reject"]))


def brute_force(inputs, prefer, mode, higher_is_better=True):
    """The brute force on the cases' rows: keep, each row's suppressor, and the rows' facts
    (input, micrograph, centre, score, level, image) by which it decided."""
    rows = [(k, *row) for k, rows in enumerate(inputs) for row in rows]
    groups = [r[1] for r in rows]
    coords = [(float(r[2] - r[4]), float(r[3])) for r in rows]
    scores = [math.nan if r[6] == -999.0 else r[6] for r in rows]
    level_of = {k - 1: p for p, k in enumerate(prefer)}
    levels = [level_of.get(r[0], len(prefer)) for r in rows]
    images = [0 if r[5] == 0 else 1 + r[1] * 10 + r[5] for r in rows]  # one stack per micrograph
    keep, by = oracle(
        groups, coords, scores, MIN_DIST, higher_is_better, levels=levels, images=images if mode == "reject" else None
    )
    facts = {"input": [r[0] for r in rows], "groups": groups, "coords": coords, "scores": scores}
    return keep, by, facts | {"levels": levels, "images": images}


def expected(inputs, prefer, mode, higher_is_better=True):
    """The brute force's kept rows, the number of images it keeps at two centres (warn), and
    the groups priority decided (groups, by priority, against the score)."""
    keep, by, facts = brute_force(inputs, prefer, mode, higher_is_better)
    coords, images, levels, scores = facts["coords"], facts["images"], facts["levels"], facts["scores"]
    twice = 0
    for image in {i for i, k in zip(images, keep) if i and k}:
        kept = [j for j in range(len(keep)) if keep[j] and images[j] == image]
        first = coords[kept[0]]
        twice += any(sum((a - b) ** 2 for a, b in zip(coords[j], first)) > SAME_CENTRE**2 for j in kept[1:])
    decided = oracle_priority(levels, keep, by, scores, higher_is_better)
    return [j for j in range(len(keep)) if keep[j]], twice, decided


def assert_priority(summary, prefer, decided):
    """The summary's groups decided by priority are the brute force's (with --prefer; one input's
    STAR file is decided as it is read, where priority has nothing to decide)."""
    document = summary.to_json()
    if prefer and ((summary.particles and len(document["inputs"]) > 1) or "priority" in document):
        got = document["priority"]
        assert (got["groups"], got["by_priority"], got["against_score"]) == decided
    elif not prefer:
        assert "priority" not in document


def star_rows(inputs):
    number = 0
    for rows in inputs:
        out = []
        for mic, x, y, ox, image, score in rows:
            name = f"{image:06d}@Extract/job007/m{mic}.mrcs" if image else f"none{number}.mrcs"
            out.append([f"m{mic}.mrc", x, y, ox, 0, name, score, number, 1])
            number += 1
        yield out


settings_here = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@settings_here
@given(cases())
def test_star_inputs_agree_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer, mode = case
    folder = tmp_path_factory.mktemp("star")
    paths = [
        write_star(folder / f"in{k}.star", LABELS, rows, optics=[[1, "og", 1.0, 1.0]])
        for k, rows in enumerate(star_rows(inputs))
    ]
    options = ParticleOptions(min_dist=MIN_DIST, prefer=[str(p) for p in prefer], same_image=mode)
    summary = remove_duplicate_particles(paths, folder / "out", options)
    got = sorted(int(row.split()[7]) for row in kept_rows(folder / "out" / "particles_kept.star"))
    want, twice, decided = expected(inputs, prefer, mode)
    assert got == want
    assert summary.to_json()["same_image"]["images_kept_twice"] == twice
    assert_priority(summary, prefer, decided)
    assert summary.to_json()["score"].get("without_score", 0) == sum(
        not math.isfinite(r[5]) or r[5] == -999.0 for rows in inputs for r in rows
    )


def write_cs_inputs(folder, inputs):
    """The cases' inputs as CryoSPARC .cs files (uid 5000 + the row's number in all inputs); their paths."""
    fields = [("blob/path", "S24"), ("blob/idx", "<u4"), ("alignments2D/error", "<f4")]
    paths, start = [], 0
    for k, rows in enumerate(inputs):
        r = located_records(
            np.array([100 + row[0] for row in rows], dtype=np.int64),
            [row[1] - row[3] for row in rows],
            [row[2] for row in rows],
            fields,
        )
        r["uid"] = np.arange(start, start + len(rows)) + 5000
        r["blob/path"] = [
            f"J7/m{row[0]}.mrc".encode() if row[4] else f"J7/n{start + j}.mrc".encode() for j, row in enumerate(rows)
        ]
        r["blob/idx"] = [row[4] for row in rows]
        # CryoSPARC's error, lower is better: the negated score; -999 here stands for "no score" (NaN)
        r["alignments2D/error"] = [math.nan if row[5] == -999.0 else -row[5] for row in rows]
        start += len(rows)
        paths.append(folder / f"in{k}.cs")
        write_cs(paths[-1], r)
    return paths


@pytest.mark.slow
@settings_here
@given(cases())
def test_cs_inputs_agree_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer, mode = case
    folder = tmp_path_factory.mktemp("cs")
    paths = write_cs_inputs(folder, inputs)
    options = ParticleOptions(min_dist=MIN_DIST, prefer=[str(p) for p in prefer], same_image=mode)
    summary = remove_duplicate_particles(paths, folder / "out", options)
    from cryosparc.dataset import Dataset

    got = sorted(int(u) - 5000 for u in Dataset.load(folder / "out" / "particles_kept.cs")["uid"])
    negated = [[(*row[:5], row[5] if row[5] == -999.0 else -row[5]) for row in rows] for rows in inputs]
    want, twice, decided = expected(negated, prefer, mode, higher_is_better=False)
    assert got == want
    assert summary.to_json()["same_image"]["images_kept_twice"] == twice
    assert_priority(summary, prefer, decided)


@st.composite
def picker_cases(draw):
    """Picker folders (RELION coordinate files, one per micrograph): no images, so no origin either."""
    inputs, prefer, _ = draw(cases())
    assume(all(inputs))  # a picker's folder without a pick is no picker output
    return [[(mic, x, y, 0, 0, score) for mic, x, y, _, _, score in rows] for rows in inputs], prefer


@pytest.mark.slow
@settings_here
@given(picker_cases())
def test_picker_inputs_agree_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer = case
    folder = tmp_path_factory.mktemp("picks")
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    paths, base = [], 0
    for k, rows in enumerate(inputs):
        paths.append(folder / f"Picker{k}")
        paths[-1].mkdir()
        for mic in (0, 1):
            mine = [[row[1], row[2], base + j, row[5], -999.0] for j, row in enumerate(rows) if row[0] == mic]
            if mine:
                write_star(paths[-1] / f"m{mic}_autopick.star", labels, mine, block="")
        base += len(rows)
    # Rows numbered input by input, then by micrograph file within an input, as the readers read them.
    order = sorted(
        range(sum(len(r) for r in inputs)),
        key=lambda j: (lambda k, row: (k, row[0], j))(*_row(inputs, j)),
    )
    renumbered = [[row for j in order for k, row in [_row(inputs, j)] if k == i] for i in range(len(inputs))]
    options = ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0, prefer=[str(p) for p in prefer])
    summary = remove_duplicate_particles(paths, folder / "out", options)
    want, _, decided = expected(renumbered, prefer, "warn")
    kept_numbers = sorted(order[j] for j in want)
    got = sorted(
        int(float(line.split()[2]))
        for path in (folder / "out" / "kept").glob("*.star")  # one coordinate file per micrograph
        for line in kept_rows(path)
        if not line.startswith("data_")
    )
    assert got == kept_numbers
    assert summary.kept == len(want)
    assert_priority(summary, prefer, decided)


def _row(inputs, j):
    for k, rows in enumerate(inputs):
        if j < len(rows):
            return k, rows[j]
        j -= len(rows)
    raise IndexError(j)
