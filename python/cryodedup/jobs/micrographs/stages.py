"""The stages of the micrograph job that what runs it chooses: which micrographs it screens, how it scores them.

The job (``job.py``'s ``run``) reads, places, plans, scores, decides and writes in one order,
whoever runs it. A plain run screens every micrograph listed and scores its pairs by its
runner (``job.PlainMicrographStages``); an ``--update`` round (``update_round.MicrographRound``, run by
``update_round.run_round``) screens those its store has not seen (and that are whole), scores only the
pairs the store has no score for, and appends to the last round's pairs.csv where it can; the
store is committed once the job is done. The job calls the stages it is given, and knows no
more of them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from ...formats.micrograph_lists import Micrographs
    from ...formats.mrc import MrcLayout
    from ...paths import StrPath
    from .plan import ScoringPlan
    from .score import ProgressBar, ShardScores
    from .write import PairsCsv, PreparedOutputs

__all__ = ["MicrographStages", "Say"]

#: A message and its level (``info``, ``warning``): said, and (warnings) kept for the summary.
Say = Callable[[str, str], None]


class MicrographStages(Protocol):
    """Which micrographs a run screens into which outputs, and how it scores their pairs."""

    @property
    def pairs_csv(self) -> PairsCsv | None:
        """pairs.csv across rounds (appended to where it can be, what it holds recorded); None: written whole."""

    def prepare(
        self, mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, said: Say
    ) -> tuple[Micrographs, PreparedOutputs]:
        """The micrographs it screens, of those listed (``mics``), and its outputs prepared (refused if in the way)."""

    def layouts_known(self, paths: Collection[StrPath]) -> dict[str, MrcLayout] | None:
        """Where the images of ``paths`` already known lie (their headers not read again), by path as listed."""

    def score(
        self, plan: ScoringPlan, said: Say, progress_factory: Callable[[int], ProgressBar] | None
    ) -> list[ShardScores]:
        """The scores of the plan's pairs."""
