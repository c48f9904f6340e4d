"""store_check's whole-list checks against its one-row checks (the oracle), on rows good and bad."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cryodedup.jobs.micrographs.store_check import (
    BadStore,
    _all_absolute,
    _all_layouts,
    _all_places,
    _all_stamps,
    _is_absolute,
    _is_layout,
    _is_place,
    _is_stamp,
    check_state,
)


class Int(int):
    """An int subclass: the one-row checks take it, the whole-list checks hand it to them."""


# Values a hand-edited or damaged seen.json may hold where a number or a path is expected.
ODD = [0, 1, 7, -1, 2**63, 2**70, 10**400, True, False, None, 1.5, -0.5, float("nan"), float("inf"), "3", [], Int(4)]
DTYPES = ["<f4", ">i2", "|u1", "<c8", "f4", "<f3", "<x4", 4, None]
PATHS = ["/a/b.mrc", "/c.mrc", "rel.mrc", "", "/nul\0.mrc", 3, None, b"/bytes.mrc"]


def rows_of(rng, make, n):
    return [make(rng) for _ in range(n)]


def odd(rng):
    return ODD[rng.integers(len(ODD))]


def place(rng):
    if rng.random() < 0.9:
        return [int(rng.integers(1, 4)), int(rng.integers(0, 50))]
    return [odd(rng) for _ in range(int(rng.integers(1, 4)))] if rng.random() < 0.8 else odd(rng)


def stamp(rng):
    if rng.random() < 0.2:
        return None
    if rng.random() < 0.85:
        return [int(rng.integers(0, 10**9)), 1795574169914319318, int(rng.integers(0, 10**7))]
    return [odd(rng) for _ in range(int(rng.integers(2, 5)))] if rng.random() < 0.8 else odd(rng)


def layout(rng):
    if rng.random() < 0.85:
        psize = [None, 0.83, 1, 1.06][rng.integers(4)]
        return [int(rng.integers(0, 5000)), ["<f4", "<i2", "|u1"][rng.integers(3)], psize]
    if rng.random() < 0.8:
        return [odd(rng), DTYPES[rng.integers(len(DTYPES))], odd(rng)][: int(rng.integers(2, 4))] + (
            [odd(rng)] if rng.random() < 0.1 else []
        )
    return odd(rng)


@pytest.mark.parametrize("seed", range(40))
def test_whole_list_checks_agree_with_the_one_row_checks(seed):
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 5, 30):
        # Mostly good lists with at most one or two bad rows, as a damaged store has.
        good_first = rng.random() < 0.5
        places = rows_of(rng, place, n)
        stamps = rows_of(rng, stamp, n)
        layouts = rows_of(rng, layout, n)
        files = [PATHS[rng.integers(len(PATHS))] if rng.random() < 0.1 else f"/data/m{k}.mrc" for k in range(n)]
        if good_first:
            places = [[1, k] for k in range(n)]
        assert _all_places(places, 3) == all(_is_place(at, 3) for at in places)
        assert _all_stamps(stamps) == all(map(_is_stamp, stamps))
        assert _all_layouts(layouts) == all(map(_is_layout, layouts))
        assert _all_absolute(files) == all(map(_is_absolute, files))


def test_a_bad_row_is_still_named():
    """The whole-list check only lets good lists through; a bad row is named by the one-row check."""
    files = [f"/data/m{k}.mrc" for k in range(5)]
    state = {
        "format": "f",
        "version": "0",
        "round": 2,
        "record": {
            "shape": [100, 100],
            "binning": 2,
            "binned_psize": 2.0,
            "band": [8.0, 50.0],
            "pearson_min_z": 5.0,
            "options": {},
        },
        "files": files,
        "images": [[1, k] for k in range(5)],
        "layouts": [[1024, "<f4", None] for _ in range(5)],
        "stamps": [[1, 2, 3] for _ in range(5)],
        "pairs_file": {"name": "pairs-1.npz", "sha256": "0" * 64},
    }
    check_state(state, "f")
    for key, row, bad, named in [
        ("images", 3, [3, 0], "images[3]"),
        ("images", 4, [1, True], "images[4]"),
        ("layouts", 2, [1024, "<f4", float("nan")], "layouts[2]"),
        ("layouts", 1, [-1, "<f4", None], "layouts[1]"),
        ("layouts", 0, [1024, "<f4", 10**400], "layouts[0]"),  # (raised OverflowError before)
        ("stamps", 0, [1, -2, 3], "stamps[0]"),
        ("stamps", 2, [1, 2, 2**64, 4], "stamps[2]"),
        ("files", 4, "m4.mrc", "files[4]"),
    ]:
        edited = {**state, key: [*state[key][:row], bad, *state[key][row + 1 :]]}
        with pytest.raises(BadStore, match="^" + re.escape(f"{named}: expected")):
            check_state(edited, "f")
