"""The micrograph job's summary, typed: what was read, compared, decided and written, field by field.

:class:`MicrographSummary` is the summary the job's stages (``job.MicrographStages``)
and ``micrographs-merge`` return: the terminal's table and the report (:func:`micrograph_rows`),
the verdict line and the pictures read its fields by name; :meth:`~MicrographSummary.to_json`
gives the ``--json`` document (and the Python API's return,
:func:`~cryodedup.find_duplicate_micrographs`), its keys in the order of the fields, at the
edges alone. Its sections (how each is said) are ``report/micrograph_sections.py``'s; a shard's
summary is ``shard_record.ShardSummary`` (a runner's: the plain path knows no shard).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ...labels import counted
from ...report.micrograph_sections import (
    Band,
    Margin,
    Metadata,
    MicrographVerdict,
    NullRule,
    ParticleSplit,
    Reading,
    Thresholds,
)
from ...report.sections import Section
from ...report.sections.run import Outputs, RunTimings
from ..shape import JobSummary
from .overrides import PairsOverridden

__all__ = ["MicrographSummary", "micrograph_rows"]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]

#: A field's metadata: left out of the document when None (the run has none: no --metadata, no --particles ...).
_OPTIONAL = {"optional": True}


#: A summary's verdict until its decision gives one.
_TRUSTED = MicrographVerdict.judged(True)


@dataclass(frozen=True)
class MicrographSummary(JobSummary):
    """The micrograph job's summary: the ``--json`` document, its keys in this order.

    A :class:`~..shape.JobSummary`: ``verdict`` (:class:`~...report.micrograph_sections.MicrographVerdict`),
    ``outputs`` (the files written by subset: ``pairs``, ``duplicates``, ``kept``, ``rejected``, with
    ``--particles`` ``particles_on_kept`` and ``particles_on_rejected``, with ``--plot`` ``plots``) and
    ``timings`` (:class:`~...report.micrograph_sections.MicrographTimings`: each stage's seconds, the
    whole's, the scoring's and its rate) open the document; then these fields in order, one marked
    ``_OPTIONAL`` left out when None.
    """

    verdict: MicrographVerdict | None = _TRUSTED
    outputs: Outputs | None = None
    timings: RunTimings | None = None

    inputs: list[str] = field(default_factory=list)  # the micrographs as given (files, folders, lists)
    micrographs: int = 0
    unreadable: list[str] = field(default_factory=list)  # skipped (--skip-unreadable, --watch)
    order: str = ""  # the acquisition order's rule
    root: str | None = None  # the folder the listed files were found under
    pixel_size_A: float = 0.0
    pixel_size_insisted: str | None = field(default=None, metadata=_OPTIONAL)  # --insist-psize: what contradicted it
    bin: int = 1
    binned_pixel_size_A: float = 0.0
    band_A: Band = Band(0.0, 0.0)
    candidates: str = ""  # how the pairs were chosen: window, pattern, all, metadata
    reach: int = 0  # the most images apart a pair's two are, in acquisition order
    pairs_scored: int = 0
    duplicate_pairs: int = 0
    kept: int = 0
    rejected: int = 0
    shards: int = 1
    workers: Reading = Reading(())
    warnings: list[str] = field(default_factory=list)
    images_read: int = 0
    confirmed_by_images: bool = True  # False: --no-images, decided by the positions alone
    thresholds: Thresholds = Thresholds(NullRule("--min-z"))
    uncertain_pairs: int = 0
    margin: Margin = Margin(None, None, None)
    # How many pairs each rule of every binning changed.
    reconsidered: dict[str, int] | None = field(default=None, metadata=_OPTIONAL)
    metadata: Metadata | None = field(default=None, metadata=_OPTIONAL)  # --metadata
    particles: ParticleSplit | None = field(default=None, metadata=_OPTIONAL)  # --particles
    # --overrides: the file, its pair lines applied and those naming a micrograph not in the inputs.
    overrides: PairsOverridden | None = field(default=None, metadata=_OPTIONAL)
    # What a re-exposure of the images would score (power.Power: z, its interval, images read), where estimated.
    power: dict[str, Any] | None = field(default=None, metadata=_OPTIONAL)
    # The pairs standing out over the null (standout.StandingOut), where the decision cannot be trusted.
    standing_out: list[dict[str, Any]] | None = field(default=None, metadata=_OPTIONAL)

    @property
    def judged(self) -> MicrographVerdict:
        """The verdict (a summary is made with one: ``None`` is the shared field's type only)."""
        assert self.verdict is not None, "a micrograph summary has its verdict"
        return self.verdict

    def files(self) -> list[str]:
        """Every file written, subset after subset (the pictures last)."""
        return [] if self.outputs is None else [f for _, files in self.outputs.by_subset for f in files]

    def to_json(self) -> dict[str, Any]:
        """The document ``--json`` prints (and the Python API returns): the shared keys, then the fields in order."""
        document = self.shared_json()
        shared = {f.name for f in fields(JobSummary)}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in shared and (value is not None or "optional" not in f.metadata):
                document[f.name] = value.to_json() if isinstance(value, Section) or f.name == "overrides" else value
        return document


def micrograph_rows(s: MicrographSummary) -> list[Row]:
    """The micrograph job's (or merge's) summary as rows.

    The time row says the run's time so far and the scoring's rate (the report, written by the
    last stage, says the time of the stages before it); none without timings (a summary made by hand).
    """
    if s.confirmed_by_images:
        image_rows = [
            ("Binning", f"{s.bin} ({s.pixel_size_A:g} Å to {s.binned_pixel_size_A:g} Å per pixel)"),
            *s.band_A.rows("micrograph"),
        ]
    else:
        image_rows = [("Images", "not read (--no-images): no pair was confirmed by its images")]
    reach = "" if s.candidates == "metadata" else f"; up to {s.reach:,} images apart"
    unreadable = f" ({len(s.unreadable)} unreadable, skipped)" if s.unreadable else ""
    rows = [
        ("Micrographs", f"{s.micrographs:,}{unreadable}"),
        *(s.metadata.rows("micrograph") if s.metadata else []),
        ("Acquisition order", s.order),
        *([("Files found under", s.root)] if s.root else []),
        *image_rows,
        *([("Pixel size", s.pixel_size_insisted)] if s.pixel_size_insisted else []),
        ("Pairs scored", f"{s.pairs_scored:,} ({s.candidates}{reach})"),
        ("Duplicate pairs", f"{s.duplicate_pairs:,} ({s.thresholds.rule})"),
        *margin_rows(s),
        *([("Overrides", _overrides_row(s.overrides))] if s.overrides else []),
        ("Kept", f"{s.kept:,}"),
        ("Rejected", f"{s.rejected:,} (later exposures of an area)"),
        *(s.particles.rows("micrograph") if s.particles else []),
        *s.workers.rows("micrograph"),
        ("Outputs", "\n".join(s.files())),
    ]
    if s.timings is not None:
        from ...report.summary import micrograph_time  # (the report's module: loaded when the rows are made)

        rows.append(("Time", micrograph_time(s.images_read, s.timings)))
    return rows


def _overrides_row(overrides: PairsOverridden) -> str:
    """``--overrides``: the pair lines applied, and those naming nothing in the inputs."""
    text = f"{counted(overrides.applied, 'pair line')} of {overrides.file} applied"
    nothing = len(overrides.nothing)
    return text + (f"; {counted(nothing, 'line')} naming nothing in the inputs" if nothing else "")


def margin_rows(s: MicrographSummary) -> list[Row]:
    """The run's margin (weakest duplicate against strongest other pair), its uncertain pairs, its verdict."""
    uncertain = f"{counted(s.uncertain_pairs, 'pair')} left to check (pairs.csv: uncertain = 1)"
    return [
        *s.margin.rows("micrograph"),
        *([("Uncertain", uncertain)] if s.uncertain_pairs else []),
        *s.judged.rows("micrograph"),
    ]
