"""The duplicate density's section: the micrographs whose duplicates stand out (:mod:`cryodedup.algo.density`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

from ...algo.density import MIN_DUPLICATES, MIN_EXCESS, OUTLIER_SDS, Density, DensityOutlier
from ...labels import counted
from .base import Row, Section

__all__ = ["NAMED", "DuplicateDensity"]

#: Duplicate-density outliers named in the summary's table and drawn in the report (``--json`` lists them all).
NAMED = 10


@dataclass(frozen=True)
class DuplicateDensity(Section):
    """The micrographs with too many duplicates: the rule's numbers (``found``, the algorithm's) and the outliers."""

    key: ClassVar[str] = "duplicate_density"

    found: Density

    def highlight(self) -> dict[str, str]:
        """Its row as a warning, when micrographs lie out."""
        return {"Duplicate outliers": "warn"} if self.found.outliers else {}

    def rows(self, unit: str) -> list[Row]:
        """One row naming the outlying micrographs (tomograms: ``unit``), the rule and its numbers; none without."""
        found = self.found
        if not found.outliers:
            return []
        return [("Duplicate outliers", "\n".join([self._head(unit), *self._lines()]))]

    def _head(self, unit: str) -> str:
        """How many stand out of how many, against what: each set of inputs' micrographs, or the median and spread."""
        found = self.found
        if found.cohorts is not None:  # each compared with the micrographs picked by the same inputs
            return (
                f"{len(found.outliers):,} of {found.micrographs_with_picks:,} {unit}s with a duplicate fraction far "
                f"above that of the {unit}s with the same inputs: a picker stacking picks there? look at them\n"
                f"(median + max({OUTLIER_SDS:g} robust SD, {MIN_EXCESS:g}) of each set of inputs' {unit}s; "
                f"at least {MIN_DUPLICATES} duplicates)"
            )
        assert found.threshold is not None and found.median is not None and found.robust_sd is not None, "outliers"
        return (
            f"{len(found.outliers):,} of {found.micrographs_with_picks:,} {unit}s with a duplicate fraction above "
            f"{found.threshold:.2f}: a picker stacking picks there? look at them\n"
            f"(median {found.median:.2f} + max({OUTLIER_SDS:g} robust SD {found.robust_sd:.3f}, "
            f"{MIN_EXCESS:g}); at least {MIN_DUPLICATES} duplicates)"
        )

    def _lines(self) -> list[str]:
        """The outliers, one a line, the first :data:`NAMED`."""
        outliers = self.found.outliers
        lines = [
            f"{e.micrograph}: {e.fraction:.0%} ({e.duplicates:,} of {counted(e.picks, 'pick')}"
            + (f"; above {e.threshold:.2f})" if e.threshold is not None else ")")
            for e in outliers[:NAMED]
        ]
        if len(outliers) > NAMED:
            lines.append(f"and {len(outliers) - NAMED:,} more (all in --json: duplicate_density)")
        return lines

    def micrographs_listed(self) -> tuple[str, ...]:
        """The outlying micrographs."""
        return tuple(e.micrograph for e in self.found.outliers)

    def with_micrographs_named(self, shown: Mapping[str, str]) -> DuplicateDensity:
        """The section with its outliers named as ``shown`` names them."""
        named = tuple(replace(e, micrograph=shown.get(e.micrograph, e.micrograph)) for e in self.found.outliers)
        return replace(self, found=replace(self.found, outliers=named))

    def to_json(self) -> dict[str, Any]:
        """The rule and its numbers; ``cohorts`` (several); ``micrographs_with_picks``, ``outliers``."""
        found = self.found
        document: dict[str, Any] = {
            "rule": found.rule,
            "median": found.median,
            "robust_sd": found.robust_sd,
            "threshold": found.threshold,
        }
        if found.cohorts is not None:
            document["cohorts"] = [{**asdict(c), "inputs": list(c.inputs)} for c in found.cohorts]
        document["micrographs_with_picks"] = found.micrographs_with_picks
        document["outliers"] = [_outlier(e) for e in found.outliers]
        return document


def _outlier(e: DensityOutlier) -> dict[str, Any]:
    """An outlier in the document: its threshold only among cohorts."""
    entry = asdict(e)
    if e.threshold is None:
        del entry["threshold"]
    return entry
