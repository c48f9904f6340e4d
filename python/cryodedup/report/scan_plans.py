"""What ``--plot`` asks a one-pass scan to count and make as it decides, without the pictures' modules.

The nearest-neighbour histogram's bins (:func:`nearest_plan`, drawn by
:mod:`.particle_charts`) and the page's files of picks (:func:`page_files_plan`, the page of
:mod:`.micrograph_page`) are asked for before the scan starts: this module loads neither
Pillow nor the pictures, which the job imports while the scan runs (``jobs.particles.decide``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import cryodedup._core as _core

from ..algo.dedup import SAME_CENTRE_A

__all__ = ["CHUNK", "NN_BINS", "PAGE_FOLDER", "nearest_plan", "nn_histogram_top", "page_files_plan", "picks_file"]

#: Bins of the nearest-neighbour histogram.
NN_BINS = 100
#: Micrographs per file of picks of the page: a file is loaded when one of its micrographs comes into view.
CHUNK = 50
#: The page's folder (its index, picks and thumbnails) beside report.html: a one-pass scan writes the page's files
#: of picks into a scratch folder beside it as it makes them.
PAGE_FOLDER = "micrographs"


def picks_file(k: int) -> str:
    """The name of the page's file of picks ``k`` in its folder (the core's scan writes the same names)."""
    return f"picks_{k:05d}.js"


def nn_histogram_top(min_dist: float) -> float:
    """The right edge (Å) of the nearest-neighbour histogram.

    Its last bin counts every distance from there on, so no distance farther than this is
    measured (issue 43: the unbounded searches were most of what the histogram cost).
    """
    return max(5 * min_dist, 200.0)


def nearest_plan(min_dist: float) -> _core.NearestHistogram:
    """The histogram of one species at ``min_dist`` as ``particle_charts`` counts it.

    What a one-pass scan is asked to count batch by batch (``ScanPictures.nearest``).
    """
    top = nn_histogram_top(min_dist)
    return _core.NearestHistogram(top, np.linspace(0, top, NN_BINS + 1).tolist(), max(min_dist, SAME_CENTRE_A))


def page_files_plan(rules: Sequence[str]) -> _core.PageFilesPlan:
    """The files of picks a one-pass scan is asked to make as it decides (``--plot``), its rules named by ``rules``.

    (The rules are the record of rejections': ``jobs.particles.record.RULES``.)
    """
    return _core.PageFilesPlan(CHUNK, list(rules))
