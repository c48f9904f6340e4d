"""The page of every micrograph (``--plot``: ``micrographs.html``): each rejected pick's partner and rule, the images.

The partners and rules are the record of rejections' (:func:`.record.rejections`, as
``--decisions`` writes them): the core's, kept by the one-pass scan too when ``--plot`` asks.
The report opens no file: each micrograph's image is read here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...formats.micrograph_lists import find_image, images_found
from ...formats.mrc import binned_image, slab_means
from ...outputs import scratch_files
from ...particle_set import ParticleSet
from ...report.micrograph_page import PAGE_FOLDER, THUMBNAIL_WIDTH, PagePicks, scanned_files, slab_edges
from ...report.particle_base import ParticleDetails
from ...report.picks_figures import MicrographImage
from ...report.scan_plans import picks_file
from .decide import ParticleDecision
from .read import Images
from .regions import tomogram_corners

if TYPE_CHECKING:
    from ...formats.star.tomograms import Tomograms
    from .plan import Deciding

__all__ = ["StagedPicks", "page_picks", "stage_picks", "thumbnails"]

#: Threads reading and binning the images (:func:`thumbnails`).
THREADS = min(4, os.cpu_count() or 1)


def page_picks(particles: ParticleSet, decision: ParticleDecision, rule: Deciding) -> PagePicks:
    """Each rejected row's partner and rule, as the record of rejections names them (found when the page asks)."""
    from .record import RULES, Rule, row_ids

    named = partial(_named, particles, decision, rule)
    return PagePicks(named, RULES, int(Rule.CROSS_SPECIES_OVERLAP), partial(row_ids, particles))


def _named(
    particles: ParticleSet, decision: ParticleDecision, rule: Deciding
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rejected rows, their partners and rules (:func:`.record.rejections`, no distance measured)."""
    from .record import rejections

    record = rejections(particles, decision, rule, measured=False)
    return record.rows, record.partners, record.rule


@dataclass(frozen=True)
class StagedPicks:
    """The files of picks a one-pass scan made, being written into a scratch folder beside the page's (``files``).

    Written from the decision on, while the pictures are drawn (the core's writing, Python's
    lock let go: 0.2 s at 10M particles), not once they are; the page's batch (``put``)
    moves them to their paths in the outputs. The job's batch removes the folder whatever
    happens (``outputs.scratch_files``).
    """

    files: list[Path]
    written: Callable[[], None]  # waits for the writing; raises its error

    def put(self, paths: Sequence[Path]) -> None:
        """The files moved to ``paths`` (the outputs' temporary names), once written."""
        self.written()
        for staged, path in zip(self.files, paths, strict=True):
            os.replace(staged, path)


def stage_picks(
    details: ParticleDetails, folder: Path, start: Callable[[Callable[[], None], str], Callable[[], None]]
) -> StagedPicks | None:
    """The one-pass scan's files of picks (:func:`.micrograph_page.scanned_files`) written by ``start`` (on a thread).

    Those the scan wrote as it made them (into a scratch folder beside the page's, its
    ``folder``: ``particle_writer.start_split``) are taken as they are: nothing held, nothing
    left to write. None where the scan made none that are the page's, or outside a job's batch of outputs.
    ``start(work, name)`` starts ``work`` and gives what waits for it.
    """
    from .record import RULES

    made = scanned_files(details, RULES)
    if made is not None and made.folder is not None:  # (written by the scan as it made them: nothing to wait for)
        return StagedPicks([Path(made.folder) / picks_file(k) for k in range(made.files)], _written)
    scratch = None if made is None else scratch_files([folder / PAGE_FOLDER])
    if made is None or scratch is None:
        return None
    staging = next(iter(scratch.values()))
    staging.mkdir(exist_ok=True)
    files = [staging / picks_file(k) for k in range(made.files)]
    return StagedPicks(files, start(partial(made.write, [str(f) for f in files]), "page-picks"))


def _written() -> None:
    """Nothing to wait for: the scan wrote the files of picks."""


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
