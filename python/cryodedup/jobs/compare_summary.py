"""``cryodedup compare``'s and ``copick evaluation comparepicks``' summaries, each a :class:`~.shape.JobSummary`.

Their documents open with the keys every job's has (``verdict``, ``outputs``: none, ``timings``), then
the comparison's own (:mod:`cryodedup.report.comparison`), the CZII score, the warnings, the pictures.
Nothing is decided, so the verdict is ``compared``, of kind ``good``, its line the agreement (``nothing
compared``, ``warn``, where no pick was scored: its line says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..labels import counted
from ..report.compare_metric import CziiScore, czii_rows
from ..report.comparison import Comparison, ObjectComparison
from ..report.sections.base import Row
from ..report.sections.run import RunVerdict
from .shape import JobSummary, required

__all__ = ["CompareSummary", "CopickComparison"]


def _czii_words(czii: CziiScore | None) -> str:
    """What the opening line adds of ``--metric czii``'s score (empty: none asked for)."""
    if czii is None:
        return ""
    return f"; CZII score {'-' if czii.score is None else f'{czii.score:.3f}'}"


@dataclass(frozen=True)
class CompareSummary(JobSummary):
    """``cryodedup compare``'s summary: the comparison, ``--metric czii``'s score, the warnings, the pictures.

    ``czii``: :func:`~cryodedup.jobs.compare.czii_metric`'s score (None without
    ``--metric czii``); ``plots``: the files ``--plot-czii`` wrote (None: no picture asked for).
    """

    comparison: Comparison = required("comparison")
    czii: CziiScore | None = None
    warnings: tuple[str, ...] = ()
    plots: tuple[str, ...] | None = None

    @property
    def places(self) -> str:
        """What the compared micrographs are called: Tomograms or Micrographs."""
        return "Tomograms" if self.comparison.tomography else "Micrographs"

    def judged(self) -> RunVerdict:
        """``compared`` (``good``), its line the agreement; ``nothing compared`` (``warn``) where no pick was scored."""
        c = self.comparison
        if any(c.picks_scored):
            return RunVerdict("compared", "good", line=self.headline())
        unit = self.places.lower().rstrip("s")
        a, b = c.inputs
        if not any(c.picks):
            why = f"neither {a} nor {b} has picks"
        elif not all(c.picks):
            why = f"{a if not c.picks[0] else b} has no picks"
        elif not c.micrographs_shared:
            why = f"{a} and {b} share no {unit} ({c.micrographs:,} with picks, none covered by both)"
        else:
            why = f"no pick in the {unit}s scored over ({c.scored_over})"
        return RunVerdict("nothing compared", "warn", line=f"Nothing compared: {why}")

    def headline(self) -> str:
        """The line the verdict says: the agreement, the candidate's F-beta against a reference, the CZII score."""
        return self.comparison.headline() + _czii_words(self.czii)

    def rows(self) -> list[Row]:
        """The command's table: the comparison's rows, then the CZII score's."""
        return self.comparison.rows(self.places) + czii_rows(self.czii, self.places)

    def to_json(self) -> dict[str, Any]:
        """``--json``'s document: the shared keys, then the comparison's."""
        document = {**self.shared_json(), **self.comparison.to_json()}
        if self.czii is not None:
            document["czii"] = self.czii.to_json()
        document |= self.comparison.moved_json()
        document["warnings"] = list(self.warnings)
        if self.plots is not None:
            document["plots"] = list(self.plots)
        return document


@dataclass(frozen=True)
class CopickComparison(JobSummary):
    """``copick evaluation comparepicks``' summary: two pick sets of a project compared object by object.

    ``objects_without_picks``: the objects ``--copick-objects`` named that neither set has picks
    of; ``czii``, ``plots``: as :class:`CompareSummary`'s.
    """

    config: str = required("config")
    reference: str = required("reference")
    candidate: str = required("candidate")
    objects: tuple[ObjectComparison, ...] = required("objects")
    objects_without_picks: tuple[str, ...] = ()
    czii: CziiScore | None = None
    warnings: tuple[str, ...] = ()
    plots: tuple[str, ...] | None = None

    def headline(self) -> str:
        """The line the verdict says: each object's agreement (at most 3 named), the CZII score."""
        if not self.objects:
            return f"No object compared: neither {self.reference} nor {self.candidate} has picks of one"
        named = ", ".join(o.headline() for o in self.objects[:3])
        more = f", {len(self.objects) - 3:,} more" if len(self.objects) > 3 else ""
        return f"{counted(len(self.objects), 'object')} compared: {named}{more}{_czii_words(self.czii)}"

    def to_json(self) -> dict[str, Any]:
        """``--json``'s document: the shared keys, then the project's comparison."""
        document: dict[str, Any] = {
            **self.shared_json(),
            "config": self.config,
            "reference": self.reference,
            "candidate": self.candidate,
            "objects": [o.to_json() for o in self.objects],
            "objects_without_picks": list(self.objects_without_picks),
        }
        if self.czii is not None:
            document["czii"] = self.czii.to_json()
        document["warnings"] = list(self.warnings)
        if self.plots is not None:
            document["plots"] = list(self.plots)
        return document
