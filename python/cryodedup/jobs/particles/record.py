"""The record of every rejection (``--decisions``, ``decisions.csv``): who lost to whom, how far, and by which rule.

The partner of each rejected row is the one the core named when it rejected it
(``ParticleDecision.suppressed_by``; across species ``displaced_by``): nothing here searches for a
neighbour. What is worked out here is only what the partner already says: the distance
between the two centres, the angle between their orientations (``--max-angle``, by the core's
own test) and which rule ranked the partner first, read from the ranking's keys (priority
level, score, input, row), in the order the core compares them.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import cryodedup._core as _core

from ...algo.dedup import SAME_CENTRE_A
from ...particle_set import NumberedNames, ParticleSet
from .decide import DECISIONS_FILE, REJECTION_RULES, ParticleDecision, Rule, ranking_scores
from .regions import AT_EDGE, OUTSIDE_MASK

if TYPE_CHECKING:
    from .plan import Deciding

__all__ = [
    "DECISIONS_FILE",
    "RULES",
    "CoreRecord",
    "RecordFile",
    "Rejections",
    "Rule",
    "columns_of",
    "rejections",
    "row_ids",
    "start_core_record",
    "table",
    "write_decisions",
]


#: The rules as the record names them (:class:`~.decide.Rule` indexes this).
RULES = REJECTION_RULES


@dataclass(frozen=True)
class Rejections:
    """Each rejected row (in input order) with its partner, their distance and angle, and the rule.

    ``partners``: the row it lost to (-1: none, or a particle outside the set);
    ``distance``: Å between the two centres (NaN without a partner in the set or with one on
    another micrograph, but for one outside the set: ``rejections``' ``beyond``); ``angle``: degrees between their
    orientations (None without ``--max-angle``); ``rule``: an index into :data:`RULES`.
    """

    rows: np.ndarray
    partners: np.ndarray
    distance: np.ndarray
    angle: np.ndarray | None
    rule: np.ndarray


@dataclass(frozen=True)
class RecordFile:
    """The record the core wrote while it scanned the rows (one STAR file in one pass): its file, read when asked."""

    path: Path


@dataclass(frozen=True)
class CoreRecord:
    """The record the core is writing on a thread of its own (a job decided in two passes): its scratch file."""

    path: Path
    writing: _core.RecordWriting

    def finish(self) -> Path:
        """Waits until the core has written the record (raises its write error): its file."""
        self.writing.finish()
        return self.path


#: A row without a partner, as the core's record takes it (uint32).
_NO_PARTNER = np.uint32(2**32 - 1)


def start_core_record(particles: ParticleSet, record: Rejections, path: Path) -> CoreRecord | None:
    """The record of ``record`` written to ``path`` by the core on its own thread; None where it does not name rows.

    The bytes are those :func:`table` and :func:`write_decisions` write.

    The core names a row by its image, from the runs the scan keeps (:attr:`Images.stacks`),
    by a text and a number (:class:`NumberedNames`: CryoSPARC's uids, picker files' lines),
    or not at all (no image column): other names of rows (a subset's, a merge of particles
    and picks), images without the runs' names, inputs whose rows interleave, or rows beyond
    32-bit numbers are written by :func:`write_decisions`.
    """
    if particles.pick_sets:
        return None  # (copick: its record names each pick's object, a column the core's record has not)
    images = particles.images
    inputs = np.asarray(particles.input_of)
    numbered = particles.row_names if isinstance(particles.row_names, NumberedNames) else None
    if particles.row_names is not None and numbered is None:
        return None
    if numbered is None and images is not None and images.stacks is None:
        return None
    if inputs.size >= _NO_PARTNER or (inputs.size and not bool((inputs[1:] >= inputs[:-1]).all())):
        return None
    counts = np.bincount(inputs, minlength=len(particles.inputs))
    bounds = [0, *np.cumsum(counts).tolist()]
    partners = np.where(record.partners >= 0, record.partners, _NO_PARTNER).astype(np.uint32)
    named = None
    if numbered is not None:
        images, named_by = None, _numbered(numbered, record.rows, partners)
    else:
        named_by = None
    if images is not None and images.stacks is not None:
        data, ends, prefixes = images.stacks
        named = _core.RecordImages(
            np.ascontiguousarray(images.runs, np.uint64),
            np.ascontiguousarray(images.indices, np.uint32),
            data,
            np.ascontiguousarray(ends, dtype=np.uint64),
            np.ascontiguousarray(prefixes, dtype=np.uint8),
        )
    writing = _core.write_decisions(
        path,
        [os.fsencode(str(name)) for name in particles.inputs],  # (a file name not UTF-8: its bytes)
        bounds,
        record.rows.astype(np.uint32),
        partners,
        np.asarray(particles.groups)[record.rows].astype(np.uint32),
        [os.fsencode(str(name)) for name in particles.mic_names],
        np.ascontiguousarray(record.distance, dtype=np.float64),
        None if record.angle is None else np.ascontiguousarray(record.angle, dtype=np.float64),
        record.rule.astype(np.uint8),
        list(RULES),
        [""] * len(RULES),  # (each rule's kept input without a partner: none is given in the plain path)
        named,
        named_by,
    )
    return CoreRecord(path, writing)


def _numbered(names: NumberedNames, rows: np.ndarray, partners: np.ndarray) -> _core.RecordNumbered:
    """The rows' and partners' numbered names, as the core takes them (a partner's text 2**32 - 1: none)."""
    has = partners != _NO_PARTNER
    texts, which, numbers = names.numbered(np.concatenate([rows, partners[has].astype(np.int64)]))
    partner_texts = np.full(partners.size, _NO_PARTNER, dtype=np.uint32)
    partner_numbers = np.zeros(partners.size, dtype=np.uint64)
    partner_texts[has], partner_numbers[has] = which[rows.size :], numbers[rows.size :]
    return _core.RecordNumbered(
        [os.fsencode(str(t)) for t in texts],
        np.ascontiguousarray(which[: rows.size], dtype=np.uint32),
        np.ascontiguousarray(numbers[: rows.size], dtype=np.uint64),
        partner_texts,
        partner_numbers,
    )


def columns_of(record: dict[str, list | np.ndarray] | RecordFile) -> dict[str, list | np.ndarray]:
    """The record's columns, as :func:`table` makes them: read back from the file where the core wrote one (the API)."""
    if not isinstance(record, RecordFile):
        return record
    with open(record.path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = csv.reader(f)
        header = next(rows)
        fields = list(zip(*rows)) or [() for _ in header]
    return {name: _column(name, values) for name, values in zip(header, fields)}


def _column(name: str, texts: tuple[str, ...]) -> list | np.ndarray:
    """One column of the record read back: numbers as :func:`table` holds them (no partner: -1, NaN), texts as texts."""
    if name in ("row", "kept_row"):
        return np.array([int(t) if t else -1 for t in texts], dtype=np.int64)
    if name in ("distance_A", "angle_deg"):
        return np.array([float(t) if t else np.nan for t in texts], dtype=np.float64)
    if name in ("particle", "kept_particle"):
        return list(texts)
    return np.asarray(texts, dtype=object)


def rejections(
    particles: ParticleSet,
    decision: ParticleDecision,
    asked: Deciding,
    measured: bool = True,
    beyond: tuple[int, np.ndarray] | None = None,
) -> Rejections:
    """The rejected rows of ``decision``, each with the partner the core gave and the rule that decided.

    ``measured``: their distances and angles too (the page of every micrograph, which measures
    its own, asks none: at 10M a million pairs' centres gathered). ``beyond``: the rows a runner's
    rule (``decide.RUNNERS_RULES``) rejected for a particle outside the set, no partner: the rule's
    number, and per row the distance (Å) to that particle, NaN for a row it did not reject.
    """
    rows = np.flatnonzero(~decision.keep)
    partners = np.full(rows.size, -1, dtype=np.int64)
    rule = np.full(rows.size, -1, dtype=np.int8)
    if decision.suppressed_by is not None:
        partners = decision.suppressed_by[rows].astype(np.int64)
    rule[partners >= 0] = _duplicate_rules(particles, decision, asked, rows[partners >= 0], partners[partners >= 0])
    # Rules that decide after the duplicates (they override: a row the distance kept).
    for mask, because in (
        (decision.unconfirmed, Rule.CONSENSUS_SUPPORT),
        (decision.not_confirmable, Rule.UNCOVERED_MICROGRAPH),
    ):
        if mask is not None:
            rule[mask[rows]] = because
    if decision.displaced_by is not None:
        displaced = decision.displaced_by[rows] >= 0
        partners[displaced] = decision.displaced_by[rows][displaced]
        rule[displaced] = Rule.CROSS_SPECIES_OVERLAP
    distance = np.full(rows.size, np.nan)
    # (a partner on another micrograph, one particle image named twice there: no distance between them)
    if measured:
        has = (partners >= 0) & (particles.groups[rows] == particles.groups[np.maximum(partners, 0)])
        centres = particles.centres
        distance[has] = np.sqrt(((centres[rows[has]] - centres[partners[has]]) ** 2).sum(axis=1))
    if beyond is not None:
        number, far = beyond
        outside = ~np.isnan(far[rows])
        rule[outside] = number
        distance[outside] = far[rows][outside]
    if decision.overridden is not None:  # (--overrides: forced rejected, or within the distance of a forced keep)
        rule[decision.overridden[rows]] = Rule.OVERRIDE
    if decision.regions is not None:  # (rejected before the dedup: no partner)
        dropped = decision.regions.dropped[rows]
        rule[dropped == OUTSIDE_MASK] = Rule.OUTSIDE_THE_MASK
        rule[dropped == AT_EDGE] = Rule.AT_THE_EDGE
    if decision.trimmed is not None:  # (kept by every rule above, then trimmed from the larger half: no partner)
        rule[decision.trimmed[rows]] = Rule.HALFSET_TRIM
    assert (rule >= 0).all(), "every rejected row has a rule"
    angle = _angles(particles, asked, rows, partners) if measured else None
    return Rejections(rows, partners, distance, angle, rule)


def _duplicate_rules(
    particles: ParticleSet, decision: ParticleDecision, asked: Deciding, rows: np.ndarray, partners: np.ndarray
) -> np.ndarray:
    """The rule by which each of ``rows`` lost to its partner (a duplicate's suppressor), as the core ranked them."""
    if asked.remove_entirely:
        return np.full(rows.size, Rule.REMOVE_ENTIRELY, dtype=np.int8)
    if particles.tubes is not None and asked.filament_mode == "tube":
        return np.full(rows.size, Rule.WHOLE_TUBE, dtype=np.int8)
    rule = np.full(rows.size, Rule.SCORE, dtype=np.int8)
    inputs = np.asarray(particles.input_of)
    scores = ranking_scores(particles, decision)[0]
    if asked.select != "greedy":  # (a set was weighed: no one ranking decided the pair)
        rule[:] = Rule.BEST_SELECTION
    elif scores is None:
        rule[:] = Rule.RANDOM_ORDER
    else:
        ours, theirs = scores[rows], scores[partners]
        tied = (ours == theirs) | (~np.isfinite(ours) & ~np.isfinite(theirs))  # (no score ranks last: a tie)
        rule[tied] = np.where(inputs[rows[tied]] == inputs[partners[tied]], Rule.ROW_ORDER, Rule.INPUT_ORDER)
    if decision.levels is not None:
        rule[decision.levels[inputs[partners]] < decision.levels[inputs[rows]]] = Rule.PRIORITY
    if asked.joins_images:
        rule[~_within_distance(particles, asked, rows, partners)] = Rule.SAME_IMAGE
    return rule


def _within_distance(particles: ParticleSet, asked: Deciding, rows: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Whether each pair lies within the distance rule (on one micrograph, within each row's species' distance)."""
    d, dz = _distances(particles, asked, rows)
    delta = particles.centres[rows] - particles.centres[partners]
    if delta.shape[1] == 3:
        delta[:, 2] *= np.divide(
            d, dz, out=np.ones_like(d), where=dz != d
        )  # (the ellipsoid of --min-dist-z as the core's sphere: algo.dedup.stretched)
    radius = np.maximum(d, SAME_CENTRE_A)
    same_micrograph = particles.groups[rows] == particles.groups[partners]
    within = same_micrograph & ((delta**2).sum(axis=1) <= radius**2)
    if asked.own_frame and particles.poses is not None:
        _within_ellipsoids(particles, asked, rows, partners, within)
    return within


def _within_ellipsoids(
    particles: ParticleSet, asked: Deciding, rows: np.ndarray, partners: np.ndarray, within: np.ndarray
) -> None:
    """``within`` set, for the rows of a species with ``--min-dist-ellipsoid``, by its rule (the core's own test)."""
    assert particles.poses is not None
    if particles.species is None:
        ellipsoids, species = [asked.distance.ellipsoid], np.zeros(rows.size, dtype=np.int64)
    else:
        ellipsoids, species = asked.distances.ellipsoids, particles.species[rows]
    poses = np.ascontiguousarray(particles.poses, dtype=np.float64)
    centres = np.ascontiguousarray(particles.centres, dtype=np.float64)
    for s, axes in enumerate(ellipsoids):
        of = np.flatnonzero((species == s) & (particles.groups[rows] == particles.groups[partners]))
        if axes is None or not of.size:
            continue
        rule = _core.EllipsoidRule(poses, float(axes[0]), float(axes[1]), float(axes[2]), particles.pose_kind)
        within[of] = _core.ellipsoid_conflicts(
            rule, centres, rows[of].astype(np.uint32), partners[of].astype(np.uint32)
        )


def _distances(particles: ParticleSet, asked: Deciding, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's minimum distance and its distance along z (its species', else the options'; z: d without one)."""
    if particles.species is None:
        d = np.full(rows.size, float(asked.distance.min_dist))
        return d, d if asked.distance.min_dist_z is None else np.full(rows.size, float(asked.distance.min_dist_z))
    species = particles.species[rows]
    d = np.asarray(asked.distances.by_species, dtype=np.float64)[species]
    along_z = [np.nan if z is None else z for z in asked.distances.z_of_species]
    dz = np.asarray(along_z, dtype=np.float64)[species]
    return d, np.where(np.isnan(dz), d, dz)


def _angles(particles: ParticleSet, asked: Deciding, rows: np.ndarray, partners: np.ndarray) -> np.ndarray | None:
    """The angle (degrees) between each row's orientation and its partner's under ``--sym`` (None: no --max-angle)."""
    if asked.max_angle is None or particles.poses is None:
        return None
    angles = np.full(rows.size, np.nan)
    has = partners >= 0
    pose = _core.PoseRule(
        np.ascontiguousarray(particles.poses, dtype=np.float64),
        particles.pose_kind,
        float(asked.max_angle),
        asked.sym.upper(),
        particles.pose_convention,
    )
    angles[has] = _core.pose_angles(pose, rows[has].astype(np.uint32), partners[has].astype(np.uint32))
    return angles


def _rows_within_inputs(particles: ParticleSet, rows: np.ndarray) -> np.ndarray:
    """Each of ``rows``' place within its input, from 1 (the k-th particle of that input, in its order)."""
    if len(particles.inputs) == 1:  # (its place in the set: no sort of every row, 160 MB at 10M)
        return np.asarray(rows, dtype=np.int64) + 1
    inputs = np.asarray(particles.input_of)
    counts = np.bincount(inputs, minlength=len(particles.inputs))
    # Rows of one input keep their order, so a row's place is how many rows of its input come before it.
    order = np.argsort(inputs, kind="stable")
    place = np.empty(inputs.size, dtype=np.int64)
    place[order] = np.arange(inputs.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return place[rows] + 1


def row_ids(particles: ParticleSet, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each of ``rows`` as ``decisions.csv`` names it: its row within its input (from 1) and its particle name."""
    return _rows_within_inputs(particles, rows), _names(particles, rows)


def _names(particles: ParticleSet, rows: np.ndarray) -> list[str]:
    """What the inputs name each of ``rows`` (CryoSPARC: uid; picks: file and line; else its image), else ''."""
    if rows.size == 0:
        return []
    if particles.row_names is not None:
        return particles.row_names(rows)
    return [""] * rows.size if particles.images is None else particles.images.names(rows)


def _objects(
    particles: ParticleSet, rows: np.ndarray, partners: np.ndarray, has: np.ndarray, column: str = "object"
) -> dict[str, np.ndarray]:
    """copick: each of ``rows``' object (its pickable object's name; '' where it has no partner), as ``column``.

    A copick project's picks of several objects share their runs and pick sets: without the object a
    rejected pick and its partner could not be told (across objects, ``--cross-species``, they differ).
    Other inputs: no column.
    """
    if not particles.pick_sets or particles.species is None:
        return {}
    names = np.asarray(particles.species_names, dtype=object)[np.asarray(particles.species)[rows]]
    if rows is partners:
        names = np.where(has, names, "")
    return {column: names}


def table(particles: ParticleSet, record: Rejections) -> dict[str, list | np.ndarray]:
    """The record's columns, in the order of ``decisions.csv`` (a DataFrame's, in the API)."""
    has = record.partners >= 0
    partners = np.where(has, record.partners, 0)
    inputs = np.asarray(particles.input_of)
    names = np.asarray(particles.inputs, dtype=object)
    place = _rows_within_inputs(particles, np.concatenate([record.rows, partners]))
    all_names = particles.names_of(np.concatenate([record.rows, partners[has]]))
    partner_names = [""] * record.rows.size
    for k, name in zip(np.flatnonzero(has).tolist(), all_names[record.rows.size :]):
        partner_names[k] = name
    columns: dict[str, list | np.ndarray] = {
        "input": names[inputs[record.rows]],
        "row": place[: record.rows.size],
        "particle": all_names[: record.rows.size],
        "micrograph": np.asarray(particles.mic_names, dtype=object)[particles.groups[record.rows]],
        **_objects(particles, record.rows, partners, has),
        "kept_input": np.where(has, names[inputs[partners]], ""),
        "kept_row": np.where(has, place[record.rows.size :], -1),
        "kept_particle": partner_names,
        **_objects(particles, partners, partners, has, "kept_object"),
        "distance_A": record.distance,
    }
    if record.angle is not None:
        columns["angle_deg"] = record.angle
    columns["rule"] = np.asarray(RULES, dtype=object)[record.rule]
    return columns


def write_decisions(path: Path, columns: dict[str, list | np.ndarray]) -> None:
    """Writes the record as CSV (RFC 4180): a header line, then a row per rejected particle (empty: no partner).

    Fields are joined by hand (the csv module took 2.4 times as long at 100,000 rows); a text
    column with a comma, a quote or a line break anywhere is quoted field by field as csv would.
    The rows are made :data:`ROWS_AT_ONCE` at a time: the texts of a million rows' fields held
    at once were 400 MB at 10M particles.
    """
    n = len(next(iter(columns.values()), []))
    with open(path, "w", newline="", encoding="utf-8") as f:  # (a name not UTF-8: its bytes escaped, _texts)
        f.write(",".join(columns) + "\n")
        for start in range(0, n, ROWS_AT_ONCE):
            fields = [_texts(values[start : start + ROWS_AT_ONCE]) for values in columns.values()]
            f.writelines(",".join(row) + "\n" for row in zip(*fields))


#: Rows of the record made into text at once (:func:`write_decisions`).
ROWS_AT_ONCE = 50_000


def _texts(values: list | np.ndarray) -> list[str]:
    """A column's fields: numbers by ``repr`` (shortest exact), no partner's empty; texts quoted where need be."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return ["" if v != v else repr(v) for v in values.tolist()]  # (v != v: NaN, no partner)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return ["" if v < 0 else str(v) for v in values.tolist()]  # (kept_row -1: no partner)
    texts = [str(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
    joined = "\0".join(texts)
    if not joined.isascii() and _SURROGATE.search(joined):
        texts = [escaped_name(t) for t in texts]
    if any(c in joined for c in ',"\n\r'):
        return [_quoted(t) for t in texts]
    return texts


#: Python's surrogate escapes: the bytes of a file name that are not UTF-8, as ``os.fsdecode`` holds them.
_SURROGATE = re.compile("[\udc80-\udcff]")


def escaped_name(text: str) -> str:
    r"""A name as ``decisions.csv`` writes it, UTF-8 whatever the file system holds (docs/reference/outputs.md).

    Each byte that is not part of valid UTF-8 (held by Python's surrogate escapes) as ``\xHH``, two lowercase hex
    digits: ``bytes.decode("utf-8", "backslashreplace")``, as the core's writers escape it.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _quoted(text: str) -> str:
    """A CSV field: quoted (its quotes doubled) where it holds a comma, a quote or a line break."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text
