"""Particle STAR files and pickers' coordinates deduplicated together: refined particles and hand picks.

The common case (issue 64): a refined set (Refine3D's ``run_data.star``, with its optics
table, origins, angles, image names and half-sets) and a ManualPick job's coordinates added to
it. Each kind is read by its own reader (the picks take their micrographs' pixel sizes from the
micrographs STAR their RELION job names, or ``--micrographs``) and the two sets are joined as
one; each kind's kept and rejected rows are written by its own writer, every row as read: the
particles as a particle STAR, the picks as a coordinate job.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CryodedupError, InputFileError
from ..particle_set import KindsWriter, Log, ParticleSet, Warn

if TYPE_CHECKING:
    from .read_request import RowRead, Scale, ScoreRead

__all__ = ["read_particles_with_picks"]

#: What particle rows may carry that picks have not: such a run is refused, naming it.
_ROWS_PICKS_LACK = {
    "tubes": "filaments (a tube per segment)",
    "poses": "orientations (--max-angle)",
    "species": "species from --species-column",
    "sources": "symmetry-expanded copies (--min-dist 0, --audit)",
}


def read_particles_with_picks(
    inputs: list[Path],
    is_picks: list[bool],
    outdir: Path,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    output_format: str,
    warn: Warn,
    log: Log,
    moves_inputs: bool = False,
) -> ParticleSet:
    """Particle STAR files and picker outputs, each read by its reader, joined as one set.

    Rows stand kind by kind (the kind of the first input first); each input keeps its
    position among ``inputs`` (``--prefer`` names them so). Half-sets and image names, which
    picks have not, are not used to decide; ranked by one score only where both kinds have it.
    ``output_format`` is the picks' (``--output-format``); ``moves_inputs``: ``--transform`` moves an
    input (the picks' numbers are then kept, to write them moved).
    """
    from .picks.particles import read_picker_outputs
    from .star.particles import read_star_files

    stars = [p for p, picks in zip(inputs, is_picks) if not picks]
    pickers = [p for p, picks in zip(inputs, is_picks) if picks]
    particles = read_star_files(stars, outdir, scale, score_read, row_read, warn, log)  # (no one pass)
    if particles.centres.shape[1] != 2:
        raise CryodedupError(
            f"{stars[0]} holds 3-D particles and {pickers[0]} a picker's 2-D coordinates: deduplicate each on its own"
        )
    for name, what in _ROWS_PICKS_LACK.items():
        if getattr(particles, name) is not None:
            raise InputFileError(
                f"{stars[0]}: its {what} have no counterpart in the picks of {pickers[0]}; "
                "deduplicate the particle files on their own"
            )
    levels = _levels_among(score_read, is_picks)
    picks = read_picker_outputs(pickers, outdir, scale, levels, output_format, warn, log, moves_inputs)
    if particles.score_label != picks.score_label:
        if not _kinds_apart(score_read, is_picks):  # (else --prefer decides between them: no score compared)
            advice = (
                ""
                if score_read.preferred_first
                else f"; to keep the refined particles over the picks, give --prefer {shlex.quote(str(stars[0]))}"
            )
            warn(
                f"{stars[0]} is ranked by {particles.score_label or 'no score'} and {pickers[0]} by "
                f"{picks.score_label or 'no score'}, which are not one scale: each group of duplicates keeps a "
                f"seeded random particle (seed {score_read.seed}){advice}"
            )
        particles, picks = replace(particles, scores=None, score_label=None), replace(picks, scores=None)
    first, second = (particles, picks) if not is_picks[0] else (picks, particles)
    return _joined(first, second, [first is particles, second is particles], inputs, is_picks)


def _kinds_apart(score_read: ScoreRead, is_picks: list[bool]) -> bool:
    """Whether ``--prefer`` puts the particle files and the picks at different levels (never one level both).

    The inputs it does not name share its last level.
    """
    if score_read.prefer_held is None:
        return False
    named = {k for level in score_read.prefer_held for k in level}
    levels = [*score_read.prefer_held, [k for k in range(len(is_picks)) if k not in named]]
    return all(len({is_picks[k] for k in level}) <= 1 for level in levels)


def _levels_among(score_read: ScoreRead, is_picks: list[bool]) -> ScoreRead:
    """``score_read`` with ``--prefer``'s levels numbering the picker inputs among themselves.

    The levels name inputs by their position among all of them; the pickers' reader numbers
    only the pickers (the levels between the two kinds are the joined set's: ``--prefer``).
    """
    if score_read.prefer_held is None:
        return score_read
    among = {k: j for j, k in enumerate(k for k, picks in enumerate(is_picks) if picks)}
    held = tuple(tuple(among[k] for k in level if k in among) for level in score_read.prefer_held)
    return replace(score_read, prefer_held=held)


def _joined(
    first: ParticleSet, second: ParticleSet, is_star: list[bool], inputs: list[Path], is_picks: list[bool]
) -> ParticleSet:
    """``first``'s rows, then ``second``'s, as one set; each input numbered by its position in ``inputs``."""
    positions = {True: [k for k, p in enumerate(is_picks) if not p], False: [k for k, p in enumerate(is_picks) if p]}
    names = list(dict.fromkeys([*first.mic_names, *second.mic_names]))
    number = {name: k for k, name in enumerate(names)}
    sets = (first, second)
    groups = [np.array([number[n] for n in s.mic_names], dtype=np.int64)[s.groups] for s in sets]
    input_of = [np.array(positions[star], dtype=np.int64)[s.input_of] for s, star in zip(sets, is_star)]
    given = [str(p) for p in inputs]
    shapes = {number[s.mic_names[g]]: shape for s in sets for g, shape in s.mic_shapes.items()}
    rows = np.arange(len(first) + len(second))
    identities: list[dict[str, tuple[float, ...]]] = [{} for _ in inputs]
    for s, star in zip(sets, is_star):
        for k, identity in zip(positions[star], s.identities or []):
            identities[k] = identity
    return replace(
        first,
        inputs=given,
        input_of=np.concatenate(input_of),
        mic_names=names,
        groups=np.concatenate(groups),
        centres=np.concatenate([first.centres, second.centres]),
        psize=np.concatenate([np.asarray(first.psize), np.asarray(second.psize)]),
        pixel_sizes=[*first.pixel_sizes, *second.pixel_sizes],
        scores=None if first.scores is None else np.concatenate([first.scores, second.scores]),
        shift=next(s.shift for s, star in zip(sets, is_star) if star),
        read_files=[*first.read_files, *second.read_files],
        writer=_KindsWriter([(first.writer, rows[: len(first)]), (second.writer, rows[len(first) :])]),
        mic_shapes=shapes,
        summary={**second.summary, **first.summary},
        halfsets=None,
        images=None,
        particle_names=None,
        coverage=None,
        identities=identities,
        row_names=_joined_names(first, second),
    )


def _joined_names(first: ParticleSet, second: ParticleSet) -> Callable[[np.ndarray], list[str]]:
    """What each input names a row of the joined set (a STAR row its image, a pick its file and line), by row.

    The joined set has no images (picks have none, so no same-image rule), but the record of
    rejections (``--decisions``) still names each particle as its own input does.
    """
    parts = [_names_of(first), _names_of(second)]
    n_first = len(first)

    def names(rows: np.ndarray) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        out = [""] * rows.size
        for part, chosen, start in ((0, rows < n_first, 0), (1, rows >= n_first, n_first)):
            at = np.flatnonzero(chosen)
            for k, name in zip(at.tolist(), parts[part](rows[at] - start) if at.size else []):
                out[k] = name
        return out

    return names


def _names_of(particles: ParticleSet) -> Callable[[np.ndarray], list[str]]:
    """How one reader's set names its rows: its own row names, else its images, else nothing."""
    if particles.row_names is not None:
        return particles.row_names
    images = particles.images
    if images is not None:
        return images.names
    return lambda rows: [""] * len(rows)


class _KindsWriter(KindsWriter):
    """Writes each kind's rows with its reader's writer: the particle STAR's outputs and the coordinate job's."""

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes every kind's kept and rejected rows; their files, by subset (picks take no half-sets)."""
        if halves is not None:
            raise CryodedupError("--halfsets: the picks have no half-sets; deduplicate the particle files on their own")
        return super().write(keep, force)
