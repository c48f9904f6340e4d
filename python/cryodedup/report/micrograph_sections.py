"""The sections of the micrograph job's summary, typed: each with its rows and its part of the document.

The summary itself, :class:`~cryodedup.jobs.micrographs.summary.MicrographSummary`, is the job's
(``jobs/micrographs/summary.py``); these are what it holds and how each is said (the band, the
workers' reading, the particles split, the metadata, the thresholds, the margin, the verdict, the
timing), for the terminal's table, the report and the ``--json`` document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from ..report.sections import Section
from .analysis_rows import matching_text
from .sections.run import RunTimings, RunVerdict

__all__ = [
    "Band",
    "Margin",
    "Metadata",
    "MicrographTimings",
    "MicrographVerdict",
    "NullRule",
    "ParticleSplit",
    "Reading",
    "Thresholds",
    "WorkerReading",
    "reading_words",
    "revisit_rows",
]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]


#: A field's metadata: left out of the document when None (the run has none: no --metadata, no --particles ...).
_OPTIONAL = {"optional": True}


@dataclass(frozen=True)
class Band(Section):
    """The band of the spectra compared (Å): from ``highpass`` down to ``lowpass``."""

    key: ClassVar[str] = "band_A"

    lowpass: float
    highpass: float

    def rows(self, unit: str) -> list[Row]:
        """One row: the band, coarsest detail first."""
        return [("Band", f"{self.highpass:g} Å to {self.lowpass:g} Å")]


def reading_words(images: int, megabytes: float, rate: float | None) -> str:
    """What was read: images, megabytes and the rate (reading and binning), e.g. ``14 images, 3.1 MB, 60 MB/s ...``."""
    rate_text = f", {rate:,} MB/s read and binned" if rate else ""
    return f"{images:,} images, {megabytes:,} MB{rate_text}"


@dataclass(frozen=True)
class WorkerReading:
    """What one worker (``host:pid`` or a Dask worker) read: its shards, images, megabytes, seconds and rate."""

    worker: str
    shards: tuple[int, ...]
    images_read: int
    megabytes_read: float
    read_seconds: float
    read_MB_per_s: float | None

    def text(self, named: bool = True) -> str:
        """The worker's reading in words; ``named``: after the worker and its shards."""
        text = reading_words(self.images_read, self.megabytes_read, self.read_MB_per_s)
        if not named:
            return text
        shards = f"shard{'s' if len(self.shards) > 1 else ''} {', '.join(map(str, self.shards))}"
        return f"{self.worker} ({shards}): {text}"

    def to_json(self) -> dict[str, Any]:
        """Its fields in order, ``shards`` a list."""
        return {**asdict(self), "shards": list(self.shards)}


@dataclass(frozen=True)
class Reading(Section):
    """What each worker read, in the order of their first shard."""

    key: ClassVar[str] = "workers"

    workers: tuple[WorkerReading, ...]

    def rows(self, unit: str) -> list[Row]:
        """One row, a line per worker; a run in one process is not named by its host and process."""
        if len(self.workers) == 1 and len(self.workers[0].shards) == 1:
            return [("Read", self.workers[0].text(named=False))]
        return [("Read", "\n".join(w.text() for w in self.workers))]

    def to_json(self) -> list[dict[str, Any]]:
        """A list, one entry per worker."""
        return [w.to_json() for w in self.workers]


@dataclass(frozen=True)
class ParticleSplit(Section):
    """Where the ``--particles`` rows went: on kept, on rejected, on micrographs not in the input (with the kept).

    ``micrograph_matching``: how their micrographs were found among the inputs (the matcher's
    own record, as the particle job's; by CryoSPARC uid: ``mode`` and ``used``).
    """

    key: ClassVar[str] = "particles"

    on_kept_micrographs: int
    on_rejected_micrographs: int
    on_micrographs_not_in_input: int
    micrograph_matching: dict[str, Any]

    def rows(self, unit: str) -> list[Row]:
        """Two rows: where they went, and how their micrographs were matched."""
        text = f"{self.on_kept_micrographs:,} on kept, {self.on_rejected_micrographs:,} on rejected micrographs"
        if self.on_micrographs_not_in_input:
            text += f", {self.on_micrographs_not_in_input:,} on micrographs not in the input (with the kept)"
        matching = [(f"{unit.capitalize()} matching", matching_text(self.micrograph_matching))]
        return [("Particles", text), *(matching if self.micrograph_matching else [])]


@dataclass(frozen=True)
class Metadata(Section):
    """What ``--metadata`` gave: the acquisitions matched, the shift calibration, the beam, the revisits named.

    ``revisits``: the revisited holes, the acquisitions exposed again (and, with a .nav, those at
    the same Navigator position and how its items were linked), under their own keys at their
    place of the document (the entries as ``algo/revisits.py`` names them). ``crowded_micrographs``:
    those with more than ``most_neighbours`` others within the beam diameter (said when not 0).
    """

    key: ClassVar[str] = "metadata"

    files: int
    acquisitions: int
    micrographs_matched: int
    micrographs_unmatched: int
    acquisitions_unmatched: int
    shift_calibration_um_per_unit: float
    shift_calibration: str
    beam_diameter_um: float
    beam_diameter: str
    grid_squares: int
    revisits: Mapping[str, Any] = field(default_factory=dict)
    crowded_micrographs: int = 0
    most_neighbours: int = 0

    def rows(self, unit: str) -> list[Row]:
        """What was matched, the calibration and the beam diameter; then the revisits, a row each kind."""
        matched = (
            f"{self.acquisitions:,} acquisitions in {self.files:,} files; {self.micrographs_matched:,} micrographs "
            f"matched, {self.micrographs_unmatched:,} unmatched; {self.acquisitions_unmatched:,} acquisitions "
            f"without a micrograph; {self.grid_squares} grid square(s)"
        )
        return [
            ("Metadata", matched),
            # (after a comma: the sources say "given (--beam-diameter)", which brackets doubled)
            ("Shift calibration", f"{self.shift_calibration_um_per_unit:g} µm per unit, {self.shift_calibration}"),
            ("Beam diameter", f"{self.beam_diameter_um:g} µm, {self.beam_diameter}"),
            *revisit_rows(self.revisits),
        ]

    def to_json(self) -> dict[str, Any]:
        """Its counts and sources, the revisits' keys, and ``crowded_micrographs`` and ``most_neighbours`` if any."""
        after = ("revisits", "crowded_micrographs", "most_neighbours")
        document = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in after}
        document.update(self.revisits)
        if self.crowded_micrographs:
            document |= {"crowded_micrographs": self.crowded_micrographs, "most_neighbours": self.most_neighbours}
        return document


#: Revisits named one a line in the summary and the report (``--json`` lists them all).
REVISITS_SHOWN = 10


def revisit_rows(m: Mapping[str, Any]) -> list[Row]:
    """The revisited holes and acquisitions exposed again (from the metadata), each with both times and its square."""
    rows = []
    for key, title, what in (
        ("revisited_holes", "Revisited holes", revisited_hole),
        ("exposed_again", "Exposed again", exposed_again),
        ("same_navigator_position", "Same Navigator position", same_navigator_position),
    ):
        found = m.get(key) or []
        if found:
            lines = [what(r) for r in found[:REVISITS_SHOWN]]
            if len(found) > REVISITS_SHOWN:
                lines.append(f"... and {len(found) - REVISITS_SHOWN:,} more (--json lists them all)")
            rows.append(
                (title, f"{len(found):,} (look at these images first: a possible re-exposure)\n" + "\n".join(lines))
            )
    return rows


def revisited_hole(r: dict) -> str:
    """``FoilHole_12 in GridSquare_3: first 2024-01-01 10:00:00 (NAME), again 2024-01-01 11:30:00 (NAME, 4 images)``."""
    images = f", {r['later_images']} image{'' if r['later_images'] == 1 else 's'}"
    return (
        f"FoilHole_{r['hole']} in {r['square']}: first {r['earlier_time']} ({r['earlier']}), "
        f"again {r['later_time']} ({r['later']}{images})"
    )


def exposed_again(r: dict) -> str:
    """``NAME at TIME in SQUARE, 0.08 µm from NAME at TIME``."""
    return (
        f"{r['later']} at {r['later_time']} in {r['square']}: {r['distance_um']:g} µm from "
        f"{r['earlier']} at {r['earlier_time']}"
    )


def same_navigator_position(r: dict) -> str:
    """``NAME at TIME (item 27, map 5-A) in SQUARE: same Navigator position (SamePosId N) as NAME at TIME (item 12)``.

    (Each item with the map it was drawn on, where known.)
    """

    def item(which: str) -> str:
        drawn_on = r[f"{which}_map"]
        return f"item {r[f'{which}_item']}" + (f", map {drawn_on}" if drawn_on else "")

    return (
        f"{r['later']} at {r['later_time']} ({item('later')}) in {r['square']}: {r['reason']} as "
        f"{r['earlier']} at {r['earlier_time']} ({item('earlier')}), {r['distance_um']:g} µm apart"
    )


@dataclass(frozen=True)
class NullRule:
    """How the z threshold was found: the rule, with the run's null (its median z and robust SD) where measured.

    Decided by the positions alone (``--no-images``): the rule ``distance`` and the beam's radius.
    """

    rule: str
    median: float | None = None
    robust_sd: float | None = None
    radius_um: float | None = None

    def to_json(self) -> dict[str, Any]:
        """``rule``, and ``median`` and ``robust_sd``, or ``radius_um``, where they apply."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Thresholds(Section):
    """What made a pair a duplicate: z and Pearson thresholds (and the z far above the null), or a distance.

    ``distance_um``: decided by the positions alone (``--no-images``), at most this far apart.
    """

    key: ClassVar[str] = "thresholds"

    z_from: NullRule
    z: float | None = None
    pearson: float | None = None
    z_far: float | None = None  # every binning's rule (far above the null: a duplicate whatever its Pearson)
    distance_um: float | None = None

    @property
    def rule(self) -> str:
        """The rule in words, as the ``Duplicate pairs`` row says it."""
        if self.distance_um is not None:
            return f"positions at most {self.distance_um:g} µm apart; NOT confirmed by images"
        rule = f"z >= {self.z:g}, Pearson >= {self.pearson:g}; z threshold: {self.z_from.rule}"
        if self.z_from.median is not None:
            rule += f"; null median {self.z_from.median:g}, robust SD {self.z_from.robust_sd:g}"
        return rule

    def rows(self, unit: str) -> list[Row]:
        """No row of its own: :attr:`rule` is said in the ``Duplicate pairs`` row, after their count."""
        return []

    def to_json(self) -> dict[str, Any]:
        """``z``, ``pearson``, ``z_from`` and ``z_far`` (every binning's rule); or ``distance_um`` and ``z_from``."""
        if self.distance_um is not None:
            return {"distance_um": self.distance_um, "z_from": self.z_from.to_json()}
        document: dict[str, Any] = {"z": self.z, "pearson": self.pearson, "z_from": self.z_from.to_json()}
        if self.z_far is not None:
            document["z_far"] = self.z_far
        return document


@dataclass(frozen=True)
class Margin(Section):
    """The run's margin: its weakest duplicate against its strongest other pair, joint scores (1: the boundary).

    ``radius_um``: decided by distance (``--no-images``), the joint score is this radius over the
    distance, said in µm. ``others``: the pairs scored that are not duplicates (the strongest
    of them has no joint score when none reached the Pearson test). Neither is in the document.
    """

    key: ClassVar[str] = "margin"

    weakest_duplicate: float | None
    strongest_other: float | None
    ratio: float | None
    others: int = 0
    radius_um: float | None = None
    #: The strongest other pair is marked uncertain (left to check, not cleared).
    strongest_uncertain: bool = False

    def rows(self, unit: str) -> list[Row]:
        """One row: both ends of the margin and their ratio, or (by distance) how far apart, in µm."""
        if self.radius_um is not None:
            return [("Margin", self._in_micrometres(self.radius_um))]
        weakest = "no duplicate" if self.weakest_duplicate is None else f"weakest duplicate {self.weakest_duplicate:g}"
        strongest = "no other pair" if self.strongest_other is None else f"strongest other {self.strongest_other:g}"
        if self.strongest_other is not None and self.strongest_uncertain:
            strongest += " (marked uncertain: check it)"
        if self.strongest_other is None and self.others > 0:  # (their peaks too low for a Pearson test)
            strongest = f"no other pair reached the Pearson test ({self.others:,} others, z too low)"
        ratio = f" (x{self.ratio:g})" if self.ratio is not None else ""
        return [("Margin", f"{weakest}, {strongest}{ratio}; joint score, 1 is the boundary")]

    def _in_micrometres(self, radius: float) -> str:
        """The margin of a run decided by distance alone: a joint score of 3e8 said two exposures coincide.

        The joint score is ``radius`` over the distance (the distance floored at 1e-9 µm).
        """

        def apart(joint: float) -> str:
            return f"{radius / joint:.3f} µm apart" if joint > 0 else "far apart"  # (0: rounded from a tiny score)

        weakest, strongest = self.weakest_duplicate, self.strongest_other
        farthest = "no duplicate" if weakest is None else f"farthest duplicate {apart(weakest)}"
        nearest = "no other pair" if strongest is None else f"nearest other pair {apart(strongest)}"
        return f"{farthest}, {nearest}; duplicates lie within the beam's radius, {radius:g} µm"

    def to_json(self) -> dict[str, Any]:
        """``weakest_duplicate``, ``strongest_other``, ``ratio``, and whether the strongest other is left to check."""
        return {
            "weakest_duplicate": self.weakest_duplicate,
            "strongest_other": self.strongest_other,
            "ratio": self.ratio,
            "strongest_other_uncertain": self.strongest_uncertain,
        }


@dataclass(frozen=True)
class MicrographVerdict(RunVerdict):
    """Whether the decision can be trusted, why not, the pairs left to check, and the line the summary opens with.

    A :class:`~.sections.run.RunVerdict` (``word``, ``kind``, ``line``, ``why``) made by :meth:`judged`:
    ``word`` NOT TRUSTED (kind ``bad``), ``check N pairs`` (``warn``: the pairs marked uncertain,
    left to check) or TRUSTED (``good``; ``warn`` once the line names warnings to check,
    :meth:`with_line`). Its own keys after: ``trusted`` (the decision's trust) and ``check``.
    """

    trusted: bool = True
    #: The pairs marked uncertain: left to check, so the verdict is not TRUSTED while there are any.
    check: int = 0

    @classmethod
    def judged(cls, trusted: bool, why: str | None = None, check: int = 0) -> MicrographVerdict:
        """The verdict of a decision: its word and kind from its trust and the pairs left to check."""
        if not trusted:
            return cls("NOT TRUSTED", "bad", why=why, trusted=False, check=check)
        if check:
            return cls(f"check {check:,} pair{'' if check == 1 else 's'}", "warn", why=why, check=check)
        return cls("TRUSTED", "good", why=why)

    def with_line(self, line: str, checks: bool) -> MicrographVerdict:
        """The verdict with the summary's opening line (made once every warning is said); ``checks``: it names some."""
        return replace(self, line=line, kind="warn" if checks and self.kind == "good" else self.kind)

    def rows(self, unit: str) -> list[Row]:
        """A row when the decision cannot be trusted, saying why, or has pairs left to check; none when trusted."""
        if not self.trusted:
            return [("Verdict", f"NOT TRUSTED: {self.why}")]
        if self.check:
            return [("Verdict", f"{self.word}: marked uncertain in pairs.csv; look at each before using the lists")]
        return []

    def to_json(self) -> dict[str, Any]:
        """``word``, ``kind``, ``line``, ``why``, then ``trusted`` (only where the word is TRUSTED) and ``check``.

        ``trusted`` is false where pairs are left to check, as the line's "check N pairs" says: a
        user's trial read ``"trusted": true`` beside "check 3 pairs" as nothing to look at.
        """
        return {**super().to_json(), "trusted": self.word == "TRUSTED", "check": self.check}


@dataclass(frozen=True)
class MicrographTimings(RunTimings):
    """The run's seconds by stage and whole (:class:`~.sections.run.RunTimings`), then the scoring's and its rate.

    ``scoring_seconds``: the time the rate counts (reading and scoring: not the report, not the
    writing); ``images_per_second``: the images read over it. A merge's are None: its shards read
    elsewhere (their rates are in ``workers``).
    """

    scoring_seconds: float | None = None
    images_per_second: float | None = None

    @classmethod
    def scored(cls, images_read: int, scoring: float | None) -> MicrographTimings:
        """The scoring's seconds and its rate (None: no image read, or scored elsewhere); the runner sets the rest."""
        if scoring is None:
            return cls(0.0)
        rate = round(images_read / scoring, 1) if images_read and scoring > 0 else None
        return cls(0.0, scoring_seconds=round(scoring, 3), images_per_second=rate)
