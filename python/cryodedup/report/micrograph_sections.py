"""The micrograph job's summary, typed: what was read, compared, decided and written, field by field.

:class:`MicrographSummary` is the summary :func:`~cryodedup.jobs.micrographs.job.screen_micrographs`
and ``micrographs-merge`` return: the terminal's table and the report
(:func:`~cryodedup.report.summary.micrograph_rows`), the verdict line and the pictures read its
fields by name; :meth:`~MicrographSummary.to_json` gives the ``--json`` document (and the
Python API's return, :func:`~cryodedup.find_duplicate_micrographs`), its keys in the order of the
fields, at the edges alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["MicrographSummary", "Timing"]


#: A field's metadata: left out of the document when None (the run has none: no --metadata, no --particles ...).
_OPTIONAL = {"optional": True}


@dataclass(frozen=True)
class Timing:
    """The run's seconds, the scoring's (the rate's time: not the report, not the writing) and its images' rate.

    A merge's scoring and rate are None: its shards read elsewhere (their rates are in ``workers``).
    """

    seconds: float
    scoring_seconds: float | None = None
    images_per_second: float | None = None

    def to_json(self) -> dict[str, Any]:
        """``seconds``, ``scoring_seconds`` and ``images_per_second``: keys of the document itself."""
        return {
            "seconds": self.seconds,
            "scoring_seconds": self.scoring_seconds,
            "images_per_second": self.images_per_second,
        }


@dataclass(frozen=True)
class MicrographSummary:
    """The micrograph job's summary: the ``--json`` document, its keys in this order.

    A field marked ``_OPTIONAL`` is left out when None; ``timing`` (None while the job still
    runs: the report is written before the end) stands as its own keys at the document's end.
    """

    inputs: list[str] = field(default_factory=list)  # the micrographs as given (files, folders, lists)
    micrographs: int = 0
    unreadable: list[str] = field(default_factory=list)  # skipped (--skip-unreadable, --watch)
    order: str = ""  # the acquisition order's rule
    root: str | None = None  # the folder the listed files were found under
    pixel_size_A: float = 0.0
    pixel_size_insisted: str | None = field(default=None, metadata=_OPTIONAL)  # --insist-psize: what contradicted it
    bin: int = 1
    binned_pixel_size_A: float = 0.0
    band_A: dict[str, float] = field(default_factory=dict)
    candidates: str = ""  # how the pairs were chosen: window, pattern, all, metadata
    reach: int = 0  # the most images apart a pair's two are, in acquisition order
    pairs_scored: int = 0
    duplicate_pairs: int = 0
    kept: int = 0
    rejected: int = 0
    outputs: list[str] = field(default_factory=list)
    shards: int = 1
    workers: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    images_read: int = 0
    confirmed_by_images: bool = True  # False: --no-images, decided by the positions alone
    thresholds: dict[str, Any] = field(default_factory=dict)
    uncertain_pairs: int = 0
    margin: dict[str, Any] = field(default_factory=dict)
    reconsidered: dict[str, int] | None = field(
        default=None, metadata=_OPTIONAL
    )  # how many pairs each rule of every binning changed
    verdict: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = field(default=None, metadata=_OPTIONAL)  # --metadata
    particles: dict[str, Any] | None = field(default=None, metadata=_OPTIONAL)  # --particles: where their rows went
    plots: list[str] | None = field(default=None, metadata=_OPTIONAL)  # --plot: the pictures and report.html written
    timing: Timing | None = None

    def to_json(self) -> dict[str, Any]:
        """The document ``--json`` prints (and the Python API returns): the fields in order, the optional left out."""
        document: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "timing":
                document.update(value.to_json() if value is not None else {})
            elif value is not None or not f.metadata.get("optional"):
                document[f.name] = value
        return document
