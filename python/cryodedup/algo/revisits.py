"""Holes imaged twice and positions exposed again, from the metadata alone (``--metadata``).

Two kinds, found before any image is read:

- a **revisited hole**: an EPU FoilHole (``FoilHole_<hole>_Data_...``) whose images come in two or
  more visits, a visit being a run of the hole's images with no other hole's image between them
  (in acquisition time). EPU takes several images per hole within seconds (each with its own
  time stamp), so "another time stamp" alone would name every multi-shot hole; another hole
  imaged between two of them means EPU left the hole and came back (a refill, a re-queued
  square, a second pass).
- an **acquisition exposed again**: an image whose specimen position (stage plus shift) lies
  within the beam of an image taken earlier (less than half the beam diameter from its
  centre, the rule of ``--no-images``): the beam had already hit where it was taken. Images
  whose beams only touch at their edges (shots of one hole, a beam wider than their spacing)
  are not named: every shot of such a session would be.
- an **acquisition at the same Navigator position**: SerialEM gives items added at the same raw
  stage position one ``SamePosId`` (formats/navigator.py); an acquisition whose Navigator item
  shares it with the item of an earlier acquisition was taken where that one was. Named when a
  ``.nav`` is given and the ``.mdoc`` names the item (``NavigatorLabel``); the images of one
  item (a multi-shot pattern, several holes by image shift) are not named against each other.

Both are information: a possible re-exposure whose images are the first to look at. The
image decision does not use them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .neighbours import nearest_pairs

__all__ = ["Revisit", "acquisition_times", "find_revisits", "same_position", "same_position_entries"]

#: EPU's data image name: the hole's id after ``FoilHole_`` (``FoilHole_5850127_Data_5798426_5798428_20221104_061329``).
EPU_HOLE = re.compile(r"(?:^|_)FoilHole_(\d+)_Data_")
#: EPU's time stamp at the end of the name (``_20221104_061329``; older EPU ``_20171201_1435``).
NAME_STAMP = re.compile(r"_(\d{8})_(\d{6}|\d{4})(?:$|_)")
#: Earlier images named per image exposed again: its nearest ones within the beam (as the pair search keeps).
NEAREST = 8
#: Distances computed at once between acquisitions at one Navigator position (a few MB of temporaries).
BLOCK = 1 << 18


@dataclass
class Revisit:
    """A later acquisition and the earlier one it repeats (acquisition indices), with why."""

    earlier: int
    later: int
    hole: str | None = None  # a revisited hole: EPU's FoilHole id
    distance_um: float | None = None  # an acquisition exposed again: how far from the earlier one
    images: int = 1  # a revisited hole: the images of the later visit
    same_pos_id: int | None = None  # at the same Navigator position: the SamePosId both items have


@dataclass
class Revisits:
    """The revisited holes and the acquisitions exposed again of a session."""

    holes: list[Revisit]
    exposed: list[Revisit]

    def summary(self, names: Sequence[str], times: Sequence[float | None], squares: Sequence[str]) -> dict[str, Any]:
        """The summary's entries: each revisit named, with both times and the grid square."""

        def pair(r: Revisit) -> dict[str, Any]:
            return _pair(r, names, times, squares)

        return {
            "revisited_holes": [{"hole": r.hole, **pair(r), "later_images": r.images} for r in self.holes],
            "exposed_again": [{**pair(r), "distance_um": round(r.distance_um or 0.0, 4)} for r in self.exposed],
        }


def _pair(r: Revisit, names: Sequence[str], times: Sequence[float | None], squares: Sequence[str]) -> dict[str, Any]:
    """A revisit's two acquisitions, named with their times, and the later one's grid square."""
    return {
        "square": squares[r.later],
        "earlier": names[r.earlier],
        "earlier_time": time_text(times[r.earlier]),
        "later": names[r.later],
        "later_time": time_text(times[r.later]),
    }


def time_text(seconds: float | None) -> str | None:
    """Seconds since 1970 as ``2022-11-04 11:13:29`` (UTC for EPU, the microscope's clock for SerialEM)."""
    if seconds is None or not np.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def acquisition_times(names: Sequence[str], recorded: Sequence[float | None]) -> list[float | None]:
    """Each acquisition's time: the metadata's, else the time stamp of an EPU name (read as UTC), else None."""
    out: list[float | None] = []
    for name, when in zip(names, recorded):
        stamp = NAME_STAMP.search(name) if when is None else None
        if stamp:
            digits = stamp.group(1) + stamp.group(2).ljust(6, "0")  # (HHMM: at 0 seconds)
            try:  # (int slices, not strptime: 50,000 names in 0.9 s, not 2.5 s)
                year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
                hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
                when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
            except ValueError:  # (digits that are no date: the name is not EPU's)
                when = None
        out.append(when)
    return out


def find_revisits(names: Sequence[str], times: Sequence[float | None], xy: np.ndarray, beam_um: float) -> Revisits:
    """The revisited holes (by name and time) and the acquisitions exposed again (by position and time)."""
    order = sorted((k for k, t in enumerate(times) if t is not None), key=lambda k: (times[k], names[k]))
    return Revisits(_hole_revisits(names, order), _exposed_again(times, xy, beam_um))


def _hole_revisits(names: Sequence[str], order: Sequence[int]) -> list[Revisit]:
    """Per EPU hole, each visit after its first, against the first image of its first visit."""
    holes = [(k, m.group(1)) for k in order if (m := EPU_HOLE.search(names[k]))]
    first_image: dict[str, int] = {}
    out: list[Revisit] = []
    previous, visit = None, None  # the hole of the image before, and the revisit it belongs to
    for k, hole in holes:
        if hole == previous:  # the same visit goes on
            if visit is not None:
                visit.images += 1
        elif hole in first_image:
            visit = Revisit(first_image[hole], k, hole=hole)
            out.append(visit)
        else:
            first_image[hole], visit = k, None
        previous = hole
    return out


def _exposed_again(times: Sequence[float | None], xy: np.ndarray, beam_um: float) -> list[Revisit]:
    """Each acquisition within the beam of an earlier one (its radius): against its nearest such, in time order."""
    timed = np.flatnonzero([t is not None for t in times])
    if len(timed) < 2:
        return []
    radius = beam_um / 2
    pairs, _ = nearest_pairs(xy[timed], radius, NEAREST)
    nearest: dict[int, tuple[float, int]] = {}
    for a, b in timed[pairs].tolist() if len(pairs) else []:
        ta, tb = times[a], times[b]
        assert ta is not None and tb is not None
        if ta == tb:  # (not one before the other)
            continue
        earlier, later = (a, b) if ta < tb else (b, a)
        distance = float(np.hypot(*(xy[a] - xy[b])))
        if distance < radius and (later not in nearest or (distance, earlier) < nearest[later]):
            nearest[later] = (distance, earlier)
    by_time = sorted(nearest, key=lambda k: (times[k], k))
    return [Revisit(nearest[k][1], k, distance_um=nearest[k][0]) for k in by_time]


def same_position(
    times: Sequence[float | None], xy: np.ndarray, same_pos_ids: Sequence[int], items: Sequence[str | None]
) -> list[Revisit]:
    """Each acquisition whose SamePosId an earlier acquisition of another Navigator item had, in time order.

    ``same_pos_ids``: per acquisition, its item's SamePosId (0: none, or not linked to an item);
    ``items``: its item's label. Each is named against the nearest of those earlier acquisitions
    (the same hole of a multi-shot pattern taken again), the earliest of equally near ones.
    Acquisitions without a time cannot be ordered and are passed over.
    """
    groups: dict[int, list[int]] = {}
    timed = [k for k, t in enumerate(times) if t is not None and same_pos_ids[k] > 0]
    for k in sorted(timed, key=lambda k: (times[k], k)):
        groups.setdefault(same_pos_ids[k], []).append(k)
    out: list[Revisit] = []
    for pos_id, members in groups.items():
        if len({items[k] for k in members}) > 1:
            out += _against_other_items(pos_id, np.array(members), times, xy, items)
    return sorted(out, key=lambda r: (times[r.later], r.later))


def _against_other_items(
    pos_id: int, members: np.ndarray, times: Sequence[float | None], xy: np.ndarray, items: Sequence[str | None]
) -> list[Revisit]:
    """Within one SamePosId's acquisitions (in time order), each against its nearest earlier one of another item.

    The distances are computed a block of rows at a time: a few MB however many acquisitions share the position.
    """
    when = np.array([times[k] for k in members], dtype=np.float64)
    _, item = np.unique(np.array([items[k] or "" for k in members]), return_inverse=True)
    where = xy[members]
    rows = max(1, BLOCK // len(members))
    out = []
    for start in range(0, len(members), rows):
        later = slice(start, start + rows)
        distance = np.hypot(*(where[later, None, :] - where[None, :, :]).transpose(2, 0, 1))
        other = (when[None, :] < when[later, None]) & (item[None, :] != item[later, None])
        distance[~other] = np.inf
        nearest = np.argmin(distance, axis=1)  # (the first of equals: the earliest)
        for row, j in enumerate(nearest.tolist()):
            if np.isfinite(distance[row, j]):
                k = start + row
                out.append(
                    Revisit(int(members[j]), int(members[k]), distance_um=float(distance[row, j]), same_pos_id=pos_id)
                )
    return out


def same_position_entries(
    found: Sequence[Revisit],
    names: Sequence[str],
    times: Sequence[float | None],
    squares: Sequence[str],
    items: Sequence[str | None],
    maps: Sequence[str | None],
) -> list[dict[str, Any]]:
    """The summary's entries of the acquisitions at the same Navigator position: both items, their maps."""
    return [
        {
            **_pair(r, names, times, squares),
            "same_pos_id": r.same_pos_id,
            "reason": f"same Navigator position (SamePosId {r.same_pos_id})",
            "earlier_item": items[r.earlier],
            "earlier_map": maps[r.earlier],
            "later_item": items[r.later],
            "later_map": maps[r.later],
            "distance_um": round(r.distance_um or 0.0, 4),
        }
        for r in found
    ]
