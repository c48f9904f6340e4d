"""The particle job's checks of its inputs: paths, centres, orientations.

Each refuses with one line naming the input and the row; the job calls them before
reading (paths) and between reading and deciding (the rest).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NoReturn

import numpy as np

from ..algo import MAX_CENTRE
from ..errors import CryodedupError, InputFileError
from ..formats.files import check_regular_file
from ..formats.sniff import is_glob, refuse_metadata_input
from ..labels import counted
from ..particle_set import ParticleSet

__all__ = [
    "check_centres",
    "check_input_paths",
    "check_registration_centres",
    "particle_place",
    "refuse_angles_not_finite",
]


def check_input_paths(inputs: list[Path]) -> None:
    """Refuses an input that is neither a file nor a folder (a FIFO would block the reader), or one given twice.

    One file given twice would count each particle twice (and confirm itself in a consensus).
    """
    seen: dict[tuple[int, int], Path] = {}
    for path in inputs:
        refuse_metadata_input(path, "particles or picks")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not is_glob(path):
                raise InputFileError(f"{path}: file not found") from None
            continue  # a glob of picker files: its reader says when it matches nothing
        except OSError:
            continue  # e.g. a folder without permission: the reader names the error
        if not stat.S_ISDIR(st.st_mode):
            check_regular_file(path, "a particle or coordinate file")
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            raise CryodedupError(f"{path}: the same file as the input {seen[identity]}; give each input once")
        seen[identity] = path


def check_centres(particles: ParticleSet) -> None:
    """Refuses a particle whose centre is not finite, or too far out to measure distances to.

    Not finite: NaN, inf, or overflowed when scaled; too far: beyond ±1e150 Å, where
    squared distances overflow.
    """
    centres = particles.centres
    # The largest magnitude from the max and the min: np.abs would copy every centre (16 or 24
    # bytes a particle, the job's peak memory at 100M particles). np.maximum keeps a NaN.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, or an overflow: the rows are checked below
        extent = np.maximum(centres.max(), -centres.min()) if centres.size else 0.0
    if extent <= MAX_CENTRE:
        return  # also false for NaN
    finite = np.isfinite(particles.centres).all(axis=1)
    if not finite.all():
        _refuse_centres(
            particles, ~finite, "no finite centre", "a coordinate, origin or pixel size is NaN, infinite or too large"
        )
    _refuse_centres(
        particles,
        (np.abs(particles.centres) > MAX_CENTRE).any(axis=1),
        "a centre beyond ±1e150 Å",
        "squared distances to it overflow",
    )


#: Centres the registration check measures, in Å (1 cm: beyond any grid); beyond it its bins do not fit int64.
REGISTRATION_EXTENT = 1e8


def check_registration_centres(particles: ParticleSet) -> None:
    """Refuses, before the registration check, a centre beyond ±:data:`REGISTRATION_EXTENT` Å (its bins overflow)."""
    centres = particles.centres
    extent = np.maximum(centres.max(), -centres.min()) if centres.size else 0.0
    if extent <= REGISTRATION_EXTENT:
        return
    _refuse_centres(
        particles,
        (np.abs(centres) > REGISTRATION_EXTENT).any(axis=1),
        "a centre beyond ±1e8 Å (1 cm)",
        "the registration check between inputs measures picks within a grid's extent; or give --registration ignore",
    )


def _refuse_centres(particles: ParticleSet, bad_rows: np.ndarray, what: str, why: str) -> NoReturn:
    bad = int(np.flatnonzero(bad_rows)[0])
    k = int(particles.input_of[bad])
    row = int(np.count_nonzero(particles.input_of[:bad] == k))  # its row among its input's rows
    place = particle_place(particles, k, row)
    raise CryodedupError(
        f"{place} has {what} ({particles.centres[bad].tolist()} Å: {why}); "
        f"{counted(int(np.count_nonzero(bad_rows)), 'such particle')} in all: fix or remove them"
    )


def particle_place(particles: ParticleSet, k: int, row: int) -> str:
    """Where row ``row`` (from 0) of input ``k`` is, for a message: its file and line, or its input and number."""
    # A picker's pick is named by its file and line (a picker's input is a folder or a glob).
    where = getattr(particles.writer, "where", None)
    return where(k, row) if where else f"{particles.inputs[k]}: particle {row + 1}"


def refuse_angles_not_finite(particles: ParticleSet) -> None:
    """Refuses a NaN or infinite angle when orientations are compared (no angle to measure)."""
    assert particles.poses is not None
    finite = np.isfinite(particles.poses).all(axis=1)
    if finite.all():
        return
    bad = int(np.flatnonzero(~finite)[0])
    k = int(particles.input_of[bad])
    row = int(np.count_nonzero(particles.input_of[:bad] == k))
    raise CryodedupError(
        f"{particles.inputs[k]}: particle {row + 1} has an orientation that is NaN or infinite "
        f"({particles.poses[bad].tolist()}); --max-angle compares orientations: fix or remove "
        f"{int(np.count_nonzero(~finite))} such particles"
    )
