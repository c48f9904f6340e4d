"""``--overrides`` in the particle job: the file's particles found among the rows, and what a forced row decides.

A forced keep is kept and rejects every row within the distance rule of it, as any kept row
does, whatever the ranking (two forced keeps within it are both kept); a forced reject is rejected
and rejects nothing; the other rows are decided as they would be without the file, among
themselves. That is the greedy walk with the forced keeps ranked above every row and the forced
rejects taken out, but for the forced keeps, which never reject each other (docs/developers/overrides.md).

:func:`forced_rows` matches the file to the rows once they are read (the whole set's rows: a
shard, a round and the merge number them alike); :func:`blocked_by_forced` finds the rows the
forced keeps reject, by the core's own distance rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ...algo.dedup import SAME_CENTRE_A, DuplicateRule, Ranking, find_duplicates
from ...errors import InputFileError, one_line, shortened

if TYPE_CHECKING:
    from ...formats.overrides import Overrides, ParticleOverride
    from ...particle_set import ParticleSet
    from ...report.sections.overrides import Overrides as OverridesSection
    from .plan import Deciding

__all__ = ["KEEP", "NOT_FORCED", "Forced", "applied", "blocked_by_forced", "forced_in_scan", "forced_rows"]

#: A row's value in :attr:`Forced.rows`: not named by the file, forced kept, forced rejected.
NOT_FORCED, KEEP, REJECT = 0, 1, 2


@dataclass(frozen=True)
class Forced:
    """The overrides file matched to the rows read.

    ``rows``: per row, :data:`NOT_FORCED`, :data:`KEEP` or :data:`REJECT`; ``applied``: the
    particle lines matched to a row; ``nothing``: the lines that name nothing in the inputs (an
    ``--update`` round's lines for another batch's input), each said as ``line N: why``;
    ``pairs``: the pair lines (the micrograph job's), not used here.
    """

    file: str
    rows: np.ndarray
    applied: int
    nothing: tuple[str, ...]
    pairs: int

    def any(self) -> bool:
        """Whether any row is forced."""
        return bool(self.applied)


def forced_rows(particles: ParticleSet, overrides: Overrides, other_inputs: bool = False) -> Forced:
    """Each particle line of ``overrides`` matched to its row of ``particles``; refused where stale.

    A line names its input as the summary names it (``particles.inputs``), its row within that
    input from 1 and its name (``ParticleSet.names_of``, the ``particle`` column of
    ``decisions.csv``). Refused in one line naming the override's line: an input not among
    them (``other_inputs``: an ``--update`` round's batch is one of several, and the line is
    said to name nothing), a row beyond the input's, or a row holding another particle (the
    inputs changed since the file was written).
    """
    n = len(particles)
    forced = np.zeros(n, dtype=np.int8)
    place = _placed(overrides, _input_places(particles.inputs))
    by_input: dict[int, list[ParticleOverride]] = {}
    nothing = []
    for line in overrides.particles:
        k = place[line.input]
        if k is None:
            if not other_inputs:
                raise InputFileError(
                    f"{overrides.where(line.line)}: input {one_line(shortened(line.input))!r} is not among the inputs "
                    f"({', '.join(shortened(str(i), 60) for i in particles.inputs[:3])}"
                    f"{', ...' if len(particles.inputs) > 3 else ''}); name it as the summary names it"
                )
            nothing.append(f"line {line.line} (input {line.input}, not in this batch)")
            continue
        by_input.setdefault(k, []).append(line)
    input_of = np.asarray(particles.input_of)
    for k, lines in by_input.items():
        rows_of_input = np.arange(n) if len(particles.inputs) == 1 else np.flatnonzero(input_of == k)
        wanted = np.array([line.row for line in lines], dtype=np.int64)
        beyond = np.flatnonzero(wanted > rows_of_input.size)
        if beyond.size:
            line = lines[int(beyond[0])]
            raise InputFileError(
                f"{overrides.where(line.line)}: row {line.row} of {line.input}, which has {rows_of_input.size:,} rows: "
                "stale (the inputs changed since the overrides were written); write them again for these inputs"
            )
        rows = rows_of_input[wanted - 1]
        _refuse_stale(particles, overrides, lines, rows)
        forced[rows] = [KEEP if line.keep else REJECT for line in lines]
    applied = sum(len(lines) for lines in by_input.values())
    return Forced(str(overrides.path), forced, applied, tuple(nothing), len(overrides.pairs))


def forced_in_scan(overrides: Overrides, name: str) -> tuple[tuple[int, bool], ...] | None:
    """The particle lines as rows of the one input ``name`` (from 0, increasing) and whether each is kept.

    What a one-pass scan decides with the other rows (``particle_split``'s forced rows); None
    where a line names another input (refused by :func:`forced_rows` once the rows are read, in
    two passes). Stale lines are refused by :func:`forced_rows` once the scan has read the
    rows: its outputs are then left unwritten.
    """
    place = _placed(overrides, _input_places([name]))
    if any(k is None for k in place.values()):
        return None
    return tuple(sorted({line.row - 1: line.keep for line in overrides.particles}.items()))


def _placed(overrides: Overrides, places: dict[str, int]) -> dict[str, int | None]:
    """Each input the particle lines name, by its place among ``places`` (:func:`_input_places`; None: none).

    Each name looked up once: its real path is a system call for each part of it (1,000 lines: 0.1 s).
    """
    named = {line.input for line in overrides.particles}
    return {name: places[name] if name in places else places.get(_real(name)) for name in named}


def _input_places(names: Sequence[str]) -> dict[str, int]:
    """Each input's place by its name as the summary gives it, and by its real path where one input alone has it.

    (Another spelling of one file, relative, absolute or through a link, names the same input.)
    """
    places = {name: k for k, name in enumerate(names)}
    real: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        real.setdefault(_real(name), []).append(k)
    places.update({path: ks[0] for path, ks in real.items() if len(ks) == 1 and path not in places})
    return places


def _real(name: str) -> str:
    return os.path.realpath(name)


def _refuse_stale(
    particles: ParticleSet, overrides: Overrides, lines: list[ParticleOverride], rows: np.ndarray
) -> None:
    """Refuses the first line whose row holds a particle of another name than the line's."""
    names = particles.names_of(rows)
    for line, name in zip(lines, names):
        if name != line.name:
            raise InputFileError(
                f"{overrides.where(line.line)}: row {line.row} of {line.input} is {one_line(shortened(name))!r}, not "
                f"{one_line(shortened(line.name))!r}: stale (the inputs changed since the overrides were written); "
                "write them again for these inputs"
            )


def blocked_by_forced(
    particles: ParticleSet, forced: np.ndarray, rule: Deciding, whole: DuplicateRule
) -> tuple[np.ndarray, np.ndarray]:
    """The rows not forced that a forced keep rejects, and per row the forced keep that rejects it (else -1).

    The core decides the forced keeps and the rows on their micrographs together, the keeps at a
    priority above every other row (as an ``--update`` round's kept particles): each row within the
    distance rule of a keep is rejected by one. Where a keep lies within the distance of another,
    the core rejects it in that walk, which then leaves its neighbours: those keeps walk again
    with the rows not yet rejected, until none is (a walk's first keep is never rejected).
    """
    n = len(particles)
    by = np.full(n, -1, dtype=np.int64)
    keeps = np.flatnonzero(forced == KEEP)
    if not keeps.size:
        return np.zeros(n, dtype=bool), by
    free = _near_rows(particles, keeps, forced, rule)
    # (``whole``: the rule with what the rows hold, --max-angle's poses, the ellipsoids turned by them; the keeps
    # walk first, greedily, whatever --select or --remove-entirely says of the rest)
    whole = replace(whole, selection="greedy", remove_entirely=False)
    while keeps.size and free.size:
        both = np.concatenate([keeps, free])
        levels = np.concatenate([np.zeros(keeps.size, np.uint32), np.ones(free.size, np.uint32)])
        scores = None if particles.scores is None else np.take(particles.scores, both)
        ranking = Ranking(scores, particles.higher_is_better, levels)
        result = find_duplicates(
            np.take(particles.groups, both), np.take(particles.centres, both, axis=0), _of_rows(whole, both), ranking
        )
        assert result.suppressed_by is not None
        suppressor = result.suppressed_by
        of_free = suppressor[keeps.size :]
        rejected = (of_free >= 0) & (of_free < keeps.size)
        by[free[rejected]] = keeps[of_free[rejected]]
        free = free[~rejected]
        keeps = keeps[suppressor[: keeps.size] >= 0]  # (the keeps another keep rejected: their neighbours next)
    return by >= 0, by


def _of_rows(rule: DuplicateRule, rows: np.ndarray) -> DuplicateRule:
    """``rule`` for the rows ``rows`` of the set it was made for: their poses alone (no tubes, no images: refused)."""
    orientations, ellipsoid = rule.orientations, rule.ellipsoid
    if orientations is not None:
        orientations = replace(orientations, poses=np.take(np.asarray(orientations.poses), rows, axis=0))
    if ellipsoid is not None:
        ellipsoid = replace(ellipsoid, poses=np.take(np.asarray(ellipsoid.poses), rows, axis=0))
    return replace(rule, orientations=orientations, ellipsoid=ellipsoid, tubes=None, images=None)


def _near_rows(particles: ParticleSet, keeps: np.ndarray, forced: np.ndarray, rule: Deciding) -> np.ndarray:
    """The rows not forced in a box of the distance's size around a forced keep, on its micrograph (increasing).

    Only those can lie within the distance of a keep (the box holds the sphere, and the ellipsoid of
    ``--min-dist-z``): the core measures them alone. The rows of the keeps' micrographs are found by
    a search of the rows ordered by micrograph (as read, where they are: a STAR file's usually are);
    at 1M rows and 1,000 forced, the rows of their micrographs were 0.3 s of the core's walk.
    """
    d = rule.distance
    reach = max(d.ellipsoid) if d.ellipsoid is not None else 0.0  # (an ellipsoid's largest semi-axis, any turn)
    side = max(float(d.min_dist or 0.0), float(d.min_dist_z or 0.0), float(reach), SAME_CENTRE_A) * (1 + 1e-6)
    groups, centres = np.asarray(particles.groups), particles.centres
    order = None if bool((groups[1:] >= groups[:-1]).all()) else np.argsort(groups, kind="stable")
    ordered = groups if order is None else groups[order]
    starts = np.searchsorted(ordered, groups[keeps], "left")
    ends = np.searchsorted(ordered, groups[keeps], "right")
    found = [np.zeros(0, dtype=np.int64)]
    for keep, start, end in zip(keeps.tolist(), starts.tolist(), ends.tolist()):
        if order is None:  # (the micrograph's rows a slice: no copy of their centres)
            near = (np.abs(centres[start:end] - centres[keep]) <= side).all(axis=1)
            found.append(start + np.flatnonzero(near))
        else:
            rows = order[start:end]
            found.append(rows[(np.abs(centres[rows] - centres[keep]) <= side).all(axis=1)])
    near = np.unique(np.concatenate(found))
    return near[forced[near] == NOT_FORCED]


def applied(forced: Forced, overridden: np.ndarray | None) -> OverridesSection:
    """The summary's section: the lines applied, the rows forced, those a forced keep rejected, those naming nothing."""
    from ...report.sections.overrides import Overrides as OverridesSection

    kept, rejected = int(np.count_nonzero(forced.rows == KEEP)), int(np.count_nonzero(forced.rows == REJECT))
    by_keeps = 0 if overridden is None else int(np.count_nonzero(overridden)) - kept - rejected
    return OverridesSection(forced.file, forced.applied, kept, rejected, by_keeps, forced.nothing, forced.pairs)
