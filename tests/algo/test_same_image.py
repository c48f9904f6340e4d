"""The same-image check's proof that every image is distinct, and the rows it finds kept twice,
against a set of (stack, index) on random inputs: one extraction's stacks dealt into files
(each file's runs of a stack overlap the others', as two halves of a selection's do), rows
shuffled within a file, and images planted twice."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup import _core
from cryodedup.algo.same_image import all_distinct, rows_kept_twice
from cryodedup.particle_set import Images

STACKS = [f"Extract/job007/Movies/mic{k}.mrcs".encode() for k in range(4)]


def images_of(files: list[list[tuple[int, int]]]) -> Images:
    """The images of files of (stack, index) rows, joined as the readers join their inputs."""
    hashes = _core.stack_hashes(STACKS)
    runs, indices = [], []
    for rows in files:
        stacks = np.array([hashes[s] for s, _ in rows], dtype=np.uint64)
        index = np.array([i for _, i in rows], dtype=np.uint32)
        file_runs, listed = _core.image_runs(stacks, index)
        runs.append(file_runs)
        indices.append(listed)
    stack_of = np.array([s for rows in files for s, _ in rows], dtype=np.int64)
    return Images(np.concatenate(indices), np.concatenate(runs), "rlnImageName", lambda rows: [], lambda r: stack_of[r])


@st.composite
def dealt_files(draw):
    """Files of (stack, index) rows: each stack's images dealt among the files, in order or
    shuffled, with some images planted a second time."""
    n_files = draw(st.integers(1, 3))
    files: list[list[tuple[int, int]]] = [[] for _ in range(n_files)]
    for stack in range(draw(st.integers(1, len(STACKS)))):
        n = draw(st.integers(1, 40))
        wide = draw(st.sampled_from([1, 1, 3, 1 << 20]))  # indices 1..n, spread out, or far apart
        for image in range(1, n + 1):
            files[draw(st.integers(0, n_files - 1))].append((stack, image * wide))
    for rows in files:
        if rows and draw(st.booleans()):
            rows[:] = draw(st.permutations(rows))
    for _ in range(draw(st.sampled_from([0, 0, 1, 3]))):
        pool = [row for rows in files for row in rows]
        if pool:
            target = draw(st.sampled_from(files))
            target.insert(draw(st.integers(0, len(target))), draw(st.sampled_from(pool)))
    return files


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(dealt_files(), st.data())
def test_distinct_images_and_rows_kept_twice_agree_with_a_set(files, data):
    rows = [row for rows in files for row in rows]
    images = images_of(files)
    assert all_distinct(images) == (len(set(rows)) == len(rows))
    # Each row at a centre of its own (apart): every kept row of an image kept twice is found.
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))), dtype=bool)
    centres = np.arange(2 * len(rows), dtype=np.float64).reshape(-1, 2) * 100.0
    kept = Counter(row for row, k in zip(rows, keep) if k)
    want = [j for j, row in enumerate(rows) if keep[j] and kept[row] > 1]
    one_micrograph = np.zeros(len(rows), dtype=np.uint32)
    assert sorted(rows_kept_twice(images, one_micrograph, centres, keep)[0].tolist()) == want


def test_the_check_can_fail():
    # Two files of every other row of one stack (runs that overlap): distinct; one image
    # again in the second file: not, and its two rows are the ones kept twice.
    even, odd = [(0, i) for i in range(2, 40, 2)], [(0, i) for i in range(1, 40, 2)]
    assert all_distinct(images_of([even, odd]))
    again = [*odd[:5], (0, 10), *odd[5:]]
    images = images_of([even, again])
    assert not all_distinct(images)
    centres = np.arange(2 * (len(even) + len(again)), dtype=np.float64).reshape(-1, 2) * 100.0
    keep = np.ones(len(even) + len(again), dtype=bool)
    one_micrograph = np.zeros(len(keep), dtype=np.uint32)
    assert rows_kept_twice(images, one_micrograph, centres, keep)[0].tolist() == [4, len(even) + 5]


@settings(max_examples=200, deadline=None)
@given(dealt_files(), st.data())
def test_each_rows_index_told_by_the_runs_is_its_own(files, data):
    # The runs keep no index for the rows of a run whose indices are consecutive: every
    # row's index told from them (and from a species' rows, made again) is the row's own.
    rows = [row for rows in files for row in rows]
    images = images_of(files)
    assert images.size == len(rows)
    assert images.index_of(np.arange(len(rows))).tolist() == [index for _, index in rows]
    which = np.array(sorted(data.draw(st.sets(st.integers(0, max(len(rows) - 1, 0))))) if rows else [], dtype=int)
    part = images.rows(which)
    assert part.index_of(np.arange(which.size)).tolist() == [rows[j][1] for j in which]


def test_an_extracted_stack_keeps_no_index_a_row():
    # Extract's 000001@s, 000002@s ...: the run is its rows' indices; a break lists that run's.
    assert images_of([[(0, i) for i in range(1, 500)] + [(1, i) for i in range(7, 90)]]).indices.size == 0
    broken = images_of([[(0, i) for i in range(1, 500)] + [(0, 600)] + [(1, i) for i in range(7, 90)]])
    assert broken.indices.tolist() == [*range(1, 500), 600]
