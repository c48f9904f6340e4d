"""Where each micrograph was taken, decided from the microscope's metadata (``--metadata``).

The metadata files are read by ``formats/microscope.py`` (an :class:`Acquisition` per image);
this module decides from them: each image's specimen position (stage position plus shift times
a calibration, given or inferred from how the multi-hole template repeats from one stage stop to
the next: :func:`~cryodedup.algo.shift_calibration.infer_calibration`), its grid square, the
beam diameter, and the holes imaged twice (``algo/revisits.py``, with a SerialEM Navigator's
positions when one is given): a :class:`Placement` (docs/developers/decisions/micrograph-metadata.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...algo.neighbours import linked_groups, linked_groups_of_pairs, nearest_pairs
from ...algo.revisits import Revisit, acquisition_times, find_revisits, same_position, same_position_entries
from ...algo.shift_calibration import infer_calibration
from ...errors import CryodedupError, InputFileError
from ...formats.microscope import (
    MAX_COORDINATE,
    Acquisition,
    match_to_micrographs,
    metadata_files,
    read_files,
    read_navigators,
)
from ...labels import counted
from ...paths import StrPath
from ...report.micrograph_sections import Metadata

if TYPE_CHECKING:
    from ...formats.navigator import Navigator, NavItem

__all__ = ["Placement", "linked_roots", "place"]

#: Stops farther apart than this (µm) with nothing between are in different grid squares
#: (a grid bar is about 25 µm wide; holes within a square are at most a few µm apart).
SQUARE_GAP_UM = 10.0
#: Pairs kept per micrograph by the metadata's candidates: its nearest within the beam diameter.
#: Memory stays a few pairs per micrograph however crowded the positions
#: (docs/developers/decisions/micrograph-metadata.md).
MOST_NEIGHBOURS = 8


# --- positions --------------------------------------------------------------------------------


@dataclass
class Positions:
    """The specimen position of each acquisition (µm) and how the calibration was found."""

    xy: np.ndarray  # (n, 2) µm
    calibration: float  # µm per shift unit
    how: str
    squares: np.ndarray  # (n,) grid square index
    square_names: list[str] = field(default_factory=list)
    calibration_warning: str | None = None  # the inferred calibration's stops disagree


def linked_roots(n: int, pairs: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each of ``n`` items, the lowest-ranked item linked to it by ``pairs`` (union-find).

    Where the items paired have ranks of their own (acquisition order), that item is each group's
    one lowest: found from the groups in a few array passes (a crowded metadata run pairs
    100,000 micrographs 400,000 times, 0.5 s in the loop below). Tied ranks keep the loop's
    order of joins.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    paired = np.unique(pairs)
    if len(np.unique(np.asarray(rank)[paired])) == len(paired):
        group = linked_groups_of_pairs(n, pairs)
        order = np.lexsort((rank, group))  # each group's items, its lowest rank first
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]] if n else order
        return first[group].astype(np.int64)
    return _linked_roots_joined(n, pairs, rank)


def _linked_roots_joined(n: int, pairs: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """:func:`linked_roots` pair by pair: the lower-ranked root (the earlier, at a tie) takes the other."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(
        0, len(pairs), 1 << 14
    ):  # as Python ints a slice at a time: a list of them all costs 130 B a pair
        for a, b in pairs[start : start + (1 << 14)].tolist():
            ra, rb = find(a), find(b)
            if ra != rb:
                first, second = (ra, rb) if rank[ra] <= rank[rb] else (rb, ra)
                parent[second] = first
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def specimen_positions(acquisitions: Sequence[Acquisition], calibration: float | None) -> Positions:
    """Stage position plus shift times the calibration (given, or inferred), per acquisition."""
    stage = np.array([a.stage_um for a in acquisitions], dtype=np.float64).reshape(-1, 2)
    shift = np.array([a.shift for a in acquisitions], dtype=np.float64).reshape(-1, 2)
    squares, names = grid_squares(acquisitions, stage)
    warning = None
    if calibration is None:
        calibration, how, warning = infer_calibration(stage, shift, squares)
    else:
        how = "given (--shift-calibration)"
    with np.errstate(all="ignore"):  # an overflow is refused below, by name, not printed as numpy's warning
        xy = stage + calibration * shift
    beyond = np.flatnonzero(~(np.abs(xy) <= MAX_COORDINATE).all(axis=1))
    if len(beyond):
        raise InputFileError(
            f"{acquisitions[beyond[0]].source}: the shift calibration {calibration:g} µm per unit ({how}) places "
            f"image {acquisitions[beyond[0]].name} at {xy[beyond[0]].tolist()} µm, beyond any stage "
            f"(±{MAX_COORDINATE:g} µm; {len(beyond)} images); give --shift-calibration UM_PER_UNIT"
        )
    return Positions(xy, calibration, how, squares, names, warning)


def grid_squares(acquisitions: Sequence[Acquisition], stage: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A grid square index per acquisition: EPU's GridSquare folder, else stops linked within 10 µm."""
    if acquisitions and all(a.square for a in acquisitions):
        names = sorted({a.square for a in acquisitions if a.square})
        index = {n: k for k, n in enumerate(names)}
        return np.array([index[a.square] for a in acquisitions if a.square], dtype=np.int64), names
    groups = linked_groups(stage, SQUARE_GAP_UM)
    return groups, [f"area {k + 1}" for k in range(int(groups.max()) + 1 if len(groups) else 0)]


def beam_diameter(acquisitions: Sequence[Acquisition], given: float | None) -> tuple[float, str]:
    """The beam diameter (µm) for the candidates: given, else the metadata's, else the camera field's diagonal.

    Two images share pixels only when their centres are closer than the field's diagonal, and
    the beam, which covers the field, is wider still: either keeps every overlapping pair.
    """
    if given is not None:
        return given, "given (--beam-diameter)"
    diameters = [a.beam_diameter_um for a in acquisitions if a.beam_diameter_um]
    if diameters:
        return float(np.median(diameters)), "the metadata's BeamDiameter" + _unrecorded(acquisitions, "BeamDiameter")
    fields = [math.hypot(*a.field_px) * a.psize_A / 1e4 for a in acquisitions if a.field_px is not None and a.psize_A]
    if fields:
        how = "the camera field's diagonal (no BeamDiameter in the metadata)"
        return float(np.median(fields)), how + _unrecorded(acquisitions, "BeamDiameter", "pixel size")
    how = "1 µm (no beam diameter or field size in the metadata; give --beam-diameter)"
    return 1.0, how + _unrecorded(acquisitions, "BeamDiameter", "pixel size")


def _unrecorded(acquisitions: Sequence[Acquisition], *names: str) -> str:
    """``; BeamDiameter 0 (not recorded) in 3 of 40 acquisitions, e.g. FILE``: the fallbacks a 0 caused, if any."""
    said = []
    for name in names:
        zero = [a for a in acquisitions if name in a.unrecorded]
        if zero:
            said.append(
                f"{name} 0 (not recorded) in {len(zero)} of {len(acquisitions)} acquisitions, e.g. {zero[0].source}"
            )
    return "".join(f"; {s}" for s in said)


@dataclass
class Placement:
    """The micrographs placed on the specimen by their metadata."""

    files: int
    acquisitions: int
    index: np.ndarray  # per micrograph, its acquisition (-1: none)
    xy: np.ndarray  # per micrograph, µm (NaN: no metadata)
    times: np.ndarray  # per micrograph, seconds since 1970 (NaN: none)
    squares: np.ndarray  # per micrograph, grid square index (-1: none)
    square_names: list[str]
    calibration: float
    calibration_how: str
    beam_diameter: float
    beam_how: str
    crowded: int = 0  # micrographs with more than MOST_NEIGHBOURS others within the beam diameter
    calibration_warning: str | None = None  # the stops that inferred the calibration disagree
    # The revisited holes and acquisitions exposed again (the summary's entries, revisits.py), and
    # those whose two images are both micrographs: (earlier, later) micrograph indices, for the map.
    revisits: dict[str, Any] = field(default_factory=dict)
    revisit_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    navigator_warning: str | None = None  # acquisitions a given .nav could not be linked to

    @property
    def matched(self) -> np.ndarray:
        """Which micrographs have metadata."""
        return self.index >= 0

    def summary(self) -> Metadata:
        """The summary's ``metadata`` section."""
        matched = int(self.matched.sum())
        return Metadata(
            files=self.files,
            acquisitions=self.acquisitions,
            micrographs_matched=matched,
            micrographs_unmatched=int(len(self.index) - matched),
            acquisitions_unmatched=self.acquisitions - len(set(self.index[self.matched].tolist())),
            shift_calibration_um_per_unit=round(self.calibration, 6),
            shift_calibration=self.calibration_how,
            beam_diameter_um=round(self.beam_diameter, 4),
            beam_diameter=self.beam_how,
            grid_squares=len(self.square_names),
            revisits=self.revisits,
            crowded_micrographs=self.crowded,
            most_neighbours=MOST_NEIGHBOURS,
        )

    def crowding(self) -> str | None:
        """The warning when the candidates were capped (``pairs_within``), else None."""
        if not self.crowded:
            return None
        return (
            f"{counted(self.crowded, 'micrograph')} {'has' if self.crowded == 1 else 'have'} more than "
            f"{MOST_NEIGHBOURS} others within the beam diameter "
            f"({self.beam_diameter:g} µm): each is paired with its {MOST_NEIGHBOURS} nearest only "
            "(are the positions right? see shift_calibration and beam_diameter)"
        )

    def pairs_within(self, reach: float) -> np.ndarray:
        """Pairs of micrographs (input indices, i < j) whose positions are at most ``reach`` µm apart.

        A pair is kept when one of the two is among the ``MOST_NEIGHBOURS`` nearest of the other:
        a re-exposure is its original's nearest, and a few pairs per micrograph bound the memory
        however crowded the positions. How many micrographs had more is kept in ``crowded``.
        """
        placed = np.flatnonzero(self.matched)
        xy = self.xy if len(placed) == len(self.xy) else self.xy[placed]
        found, self.crowded = nearest_pairs(xy, reach, MOST_NEIGHBOURS)
        np.take(placed, found, out=found)  # in place: no second copy of the pairs
        return found.reshape(-1, 2)

    def distance(self, pairs: np.ndarray) -> np.ndarray:
        """The distance (µm) between the positions of each pair; NaN without metadata."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        out = np.empty(len(pairs))
        for start in range(0, len(pairs), 1 << 16):  # a slice at a time: no temporaries the size of all pairs
            part = pairs[start : start + (1 << 16)]
            out[start : start + len(part)] = np.hypot(*(self.xy[part[:, 0]] - self.xy[part[:, 1]]).T)
        return out


def place(
    names: Sequence[str], paths: Sequence[StrPath], calibration: float | None, diameter: float | None
) -> Placement:
    """Reads the metadata ``paths`` and places each micrograph of ``names`` by its file name."""
    files = metadata_files(paths)
    acquisitions = read_files(files)  # (not read_metadata: the files found are not searched and checked again)
    navigators = read_navigators(files)
    if not acquisitions:
        raise CryodedupError(
            "--metadata: no acquisition in the files given"
            + (" (a Navigator .nav places no image: give the .mdoc files of the movies too)" if navigators else "")
        )
    index = match_to_micrographs(names, acquisitions)
    matched = index >= 0
    if names and not matched.any():  # (said before a calibration that none of them would use)
        raise CryodedupError(
            f"--metadata: none of the {len(acquisitions)} acquisitions matches a micrograph by file name "
            f"(micrograph {Path(names[0]).name}; acquisition {acquisitions[0].name}, of {acquisitions[0].source})"
        )
    positions = specimen_positions(acquisitions, calibration)
    xy = np.full((len(names), 2), np.nan)
    xy[matched] = positions.xy[index[matched]]
    times = np.full(len(names), np.nan)
    known = np.array([a.time if a.time is not None else np.nan for a in acquisitions])
    times[matched] = known[index[matched]]
    squares = np.full(len(names), -1, dtype=np.int64)
    squares[matched] = positions.squares[index[matched]]
    beam, beam_how = beam_diameter(acquisitions, diameter)
    revisits, revisit_pairs, navigator_warning = _revisits(acquisitions, positions, beam, index, navigators)
    return Placement(
        len(files),
        len(acquisitions),
        index,
        xy,
        times,
        squares,
        positions.square_names,
        positions.calibration,
        positions.how,
        beam,
        beam_how,
        calibration_warning=positions.calibration_warning,
        revisits=revisits,
        revisit_pairs=revisit_pairs,
        navigator_warning=navigator_warning,
    )


def _revisits(
    acquisitions: Sequence[Acquisition],
    positions: Positions,
    beam: float,
    index: np.ndarray,
    navigators: Sequence[Navigator],
) -> tuple[dict[str, Any], np.ndarray, str | None]:
    """The revisits named (the summary's entries), the micrograph pairs among them, what a .nav could not link.

    With a .nav, the acquisitions at the same Navigator position too: their entries only then.
    """
    names = [a.name for a in acquisitions]
    times = acquisition_times(names, [a.time for a in acquisitions])
    found = find_revisits(names, times, positions.xy, beam)
    squares = [positions.square_names[q] for q in positions.squares.tolist()]
    summary = found.summary(names, times, squares)
    named = found.holes + found.exposed
    warning = None
    if navigators:  # (the summary's keys only then: a run without a .nav says what it said before)
        from ...formats.navigator import link

        links = link([a.nav_label for a in acquisitions], navigators)
        same, summary["same_navigator_position"] = _same_navigator_position(
            links.items, navigators, times, positions, names, squares
        )
        summary["navigator"] = links.summary()
        named += same
        warning = links.warning()
    micrograph = np.full(len(acquisitions), -1, dtype=np.int64)
    micrograph[index[index >= 0]] = np.flatnonzero(index >= 0)
    pairs = np.array([(micrograph[r.earlier], micrograph[r.later]) for r in named], dtype=np.int64).reshape(-1, 2)
    # (a hole's revisit and its first image exposed again are often one pair: drawn once)
    return summary, np.unique(pairs[(pairs >= 0).all(axis=1)], axis=0), warning


def _same_navigator_position(
    items: Sequence[NavItem | None],
    navigators: Sequence[Navigator],
    times: Sequence[float | None],
    positions: Positions,
    names: Sequence[str],
    squares: Sequence[str],
) -> tuple[list[Revisit], list[dict[str, Any]]]:
    """The acquisitions (linked to ``items``) at a SamePosId an earlier one's item had, and their summary entries."""
    from ...formats.navigator import map_labels

    labels = [None if item is None else item.label for item in items]
    maps = map_labels(navigators)
    drawn_on = [None if item is None else maps.get(item.drawn_id) for item in items]
    same = same_position(times, positions.xy, [0 if item is None else item.same_pos_id for item in items], labels)
    return same, same_position_entries(same, names, times, squares, labels, drawn_on)
