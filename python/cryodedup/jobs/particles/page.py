"""The page of every micrograph (``--plot``: ``micrographs.html``): each rejected pick's partner and rule, the images.

The partners and rules are the record of rejections' (:func:`.record.rejections`, as
``--decisions`` writes them): the core's, kept by the one-pass scan too when ``--plot`` asks.
The report opens no file: each micrograph's image is read here.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...formats.micrograph_lists import find_image, images_found
from ...formats.mrc import binned_image, slab_means
from ...particle_set import ParticleSet
from ...report.micrograph_page import THUMBNAIL_WIDTH, PagePicks, slab_edges
from ...report.particle_base import ParticleDetails
from ...report.picks_figures import MicrographImage
from .decide import Decision
from .read import Images
from .regions import tomogram_corners

if TYPE_CHECKING:
    from ...formats.star.tomograms import Tomograms
    from .plan import Deciding

__all__ = ["page_picks", "thumbnails"]

#: Threads reading and binning the images (:func:`thumbnails`).
THREADS = min(4, os.cpu_count() or 1)


def page_picks(particles: ParticleSet, decision: Decision, rule: Deciding) -> PagePicks:
    """Each rejected row's partner and rule, as the record of rejections names them (found when the page asks)."""
    from .record import RULES, Rule

    return PagePicks(partial(_named, particles, decision, rule), RULES, int(Rule.CROSS_SPECIES_OVERLAP))


def _named(particles: ParticleSet, decision: Decision, rule: Deciding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rejected rows, their partners and rules (:func:`.record.rejections`, no distance measured)."""
    from .record import rejections

    record = rejections(particles, decision, rule, measured=False)
    return record.rows, record.partners, record.rule


def thumbnails(
    details: ParticleDetails, images: Images, tomograms: Tomograms | None, project_dir: Path | None
) -> dict[int, MicrographImage]:
    """Every micrograph's image found, binned small; a tomogram's: its slices under each slab (:func:`slab_means`).

    Looked for where the report's examples are (``images``), every micrograph at once where
    the job knows the folders (a ``stat`` per folder, not per name, when they are elsewhere);
    a tomogram where the tomograms STAR's rlnTomoReconstructedTomogram says, first.
    A file that cannot be read goes without its image, as in the report's examples: a
    picture is not worth failing the job for. So does a tomogram that cannot be placed among
    its picks (no voxel size in its header; RELION 5's centred Å without a tomograms STAR).
    ``tomograms``: ``--micrographs``' tomograms STAR, as the job read it (``regions.tomograms_of``);
    ``project_dir``: ``--project-dir``.
    """
    found = _found(details.mic_names, images)
    if details.unit == "tomogram":
        found.update(_reconstructed(details.mic_names, tomograms, project_dir))
        corners = tomogram_corners(details.particles, tomograms) if found else None
        if corners is None:
            return {}
        edges = slab_edges(details)  # (each tomogram's own slabs)
        with ThreadPoolExecutor(THREADS) as pool:
            slabs = pool.map(_tomogram_thumbnail, found.values(), corners[list(found)], edges[list(found)])
            return dict(zip(found, slabs))
    # On threads: the core bins without Python's lock, so one file is binned while the next is read.
    with ThreadPoolExecutor(THREADS) as pool:
        return dict(zip(found, pool.map(_thumbnail, found.values())))


def _found(names: list[str], images: Images) -> dict[int, Path]:
    """The image file of each micrograph found, by index."""
    if images.roots is not None:
        return images_found(names, images.roots())
    paths = {mic: images.find(name) for mic, name in enumerate(names)}
    return {mic: path for mic, path in paths.items() if os.path.isfile(path)}  # (a name too long: not found)


def _reconstructed(names: list[str], tomograms: Tomograms | None, project_dir: Path | None) -> dict[int, Path]:
    """Each tomogram's MRC that the tomograms STAR names (rlnTomoReconstructedTomogram) and that exists, by index.

    Looked for as the STAR's other paths are: under ``--project-dir``, then the folders above it.
    """
    if tomograms is None:
        return {}
    paths = {
        m: find_image(tomograms.reconstructed[n], tomograms.path, project_dir)
        for m, n in enumerate(names)
        if tomograms.reconstructed.get(n, "") not in ("", "None")
    }
    return {mic: path for mic, path in paths.items() if os.path.isfile(path)}  # (a name too long: not found)


def _thumbnail(path: Path) -> MicrographImage:
    """A micrograph's image binned small, or marked unreadable."""
    try:
        return MicrographImage(*binned_image(path, THUMBNAIL_WIDTH))
    except Exception:  # any unreadable file: drawn on a blank frame
        return MicrographImage(unreadable=True)


def _tomogram_thumbnail(path: Path, corner: np.ndarray, edges: np.ndarray) -> MicrographImage:
    """A tomogram's slices under each slab of picks (``edges``: their bounds along z, Å) binned small.

    Placed at ``corner`` (Å, its picks' coordinates; z from 0 where the picks have none) by its voxel size.
    """
    z0 = float(corner[2]) if len(corner) > 2 else 0.0
    try:
        slabs = slab_means(path, THUMBNAIL_WIDTH, edges - z0)
    except Exception:  # any unreadable file: drawn on a blank frame
        return MicrographImage(unreadable=True)
    if slabs.voxel is None:  # (not placed among the picks: no guess)
        return MicrographImage(unreadable=True)
    step = slabs.factor * slabs.voxel
    ny, nx = slabs.shape
    frame = (float(corner[0]), float(corner[1]), nx * step, ny * step)
    return MicrographImage(factor=slabs.factor, frame=frame, slabs=tuple(slabs.pixels))
