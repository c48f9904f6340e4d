"""The run's own: its verdict, its time, its files (:class:`Outputs`), its top-level values (:class:`Overview`).

The verdict and the time of every job (:class:`RunVerdict`, :class:`RunTimings`), the particle job's time
(:class:`ParticleTimings`).

(:class:`Overview` is no section: the document holds its values as keys of its own.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, NamedTuple

from .base import Row, Section
from .readers import ReadersFound

__all__ = ["Outputs", "Overview", "ParticleTimings", "RunTimings", "RunVerdict"]

#: A verdict's kinds, as the report colours them: nothing left to do, something to look at, something wrong.
VERDICT_KINDS = ("good", "warn", "bad")


@dataclass(frozen=True)
class RunVerdict(Section):
    """Every job's verdict: its word, its kind, the line the summary opens with, and why (every ``--json`` alike).

    ``word``: the verdict as the line's first words say it (``TRUSTED``, ``check 3 pairs``, ``NOT TRUSTED``, ``1
    refinement to redo`` ...); ``kind``: ``good`` (nothing left to look at), ``warn`` (something to check) or
    ``bad`` (the result cannot be used as it is); ``why``: what made it so, where the line does not say.
    A job's own verdict derives from this one and adds its keys after these.
    """

    key: ClassVar[str] = "verdict"

    word: str
    kind: str
    line: str = ""
    why: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in VERDICT_KINDS:
            raise ValueError(f"a verdict's kind is one of {', '.join(VERDICT_KINDS)}, not {self.kind!r}")

    def rows(self, unit: str) -> list[Row]:
        """None of its own: the line opens the summary (the job's rows say the rest)."""
        return []

    def to_json(self) -> dict[str, Any]:
        """``word``, ``kind``, ``line`` and ``why``, then the keys a job's own verdict adds."""
        return asdict(self)


@dataclass(frozen=True)
class RunTimings(Section):
    """Every job's time: the seconds of each stage it ran (read, decide, write, summarise, report) and of the whole.

    A job's own timings derive from this one and add their keys after these (the particle job's
    ``one_pass``, the micrograph job's scoring and its rate).
    """

    key: ClassVar[str] = "timings"

    seconds: float
    stages: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, stages: Mapping[str, float], seconds: float) -> RunTimings:
        """The timings of the stages run (seconds by stage, in order) and of the whole, to the millisecond."""
        return cls(round(seconds, 3), tuple((stage, round(s, 3)) for stage, s in stages.items()))

    def rows(self, unit: str) -> list[Row]:
        """None of its own: the job's time row says it."""
        return []

    def to_json(self) -> dict[str, Any]:
        """Each stage's seconds under its name, then ``seconds`` (the whole run), then a job's own keys."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("seconds", "stages")}
        return {**dict(self.stages), "seconds": self.seconds, **own}


@dataclass(frozen=True)
class ParticleTimings(RunTimings):
    """The particle job's time: each stage's seconds and the run's, and whether decided and written while read.

    ``one_pass``: the rows were decided and written as the scan read them (docs/design.md section 5):
    ``read`` then holds the deciding and most of the writing.
    """

    one_pass: bool = False

    def stage(self, name: str) -> float:
        """The seconds of the stage ``name`` (0 where it did not run)."""
        return dict(self.stages).get(name, 0.0)


@dataclass(frozen=True)
class Outputs(Section):
    """The files written, by subset (``kept``, ``rejected`` ...), in the writer's order; none with ``--audit``."""

    key: ClassVar[str] = "outputs"

    by_subset: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, written: dict[str, list[str]]) -> Outputs:
        """The section of the files a writer gives back, by subset."""
        return cls(tuple((subset, tuple(files)) for subset, files in written.items()))

    def files(self, subset: str) -> tuple[str, ...]:
        """The files of ``subset``; none when it was not written."""
        return next((files for name, files in self.by_subset if name == subset), ())

    def with_plots(self, drawn: Sequence[str]) -> Outputs:
        """These outputs and ``--plot``'s pictures and report.html, the last subset (``plots``)."""
        return Outputs((*self.by_subset, ("plots", tuple(drawn))))

    def rows(self, unit: str) -> list[Row]:
        """None of its own: the files rows say them with a copick project's writing (``report.summary.output_rows``)."""
        return []

    def to_json(self) -> dict[str, list[str]]:
        """The files by subset: ``{"kept": [...], "rejected": [...]}``."""
        return {subset: list(files) for subset, files in self.by_subset}


class Overview(NamedTuple):
    """The run's top-level values as the report says them: its counts, its distance and mode, its time, what was read.

    Not a section (the document holds them as keys of its own): the summary gives it
    (:meth:`~cryodedup.jobs.particles.summary.ParticleSummary.overview`), built from its fields.
    """

    particles: int
    kept: int
    rejected: int
    micrographs: int
    tomography: bool = False
    min_dist_A: float | None = None
    min_dist_z_A: float | None = None
    mode: str | None = None
    orientations: str | None = None
    seconds: float = 0.0
    micrograph_images: str | None = None
    read: ReadersFound = ReadersFound()

    @property
    def unit(self) -> str:
        """What the micrographs are: tomograms where the centres are 3-D."""
        return "tomogram" if self.tomography else "micrograph"
