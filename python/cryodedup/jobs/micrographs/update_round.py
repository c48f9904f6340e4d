"""An ``--update`` round: a runner around the micrograph job's stages, against the store of what earlier rounds saw.

:func:`run_round` runs the job's stages (``job.MicrographStages``) as a :class:`MicrographRound`, which
overrides their hooks, with the plain runner (``shape.plain``), then commits the round to the store
(``update.py``), before the output batch
puts the round's outputs in place. The round opens the store once the inputs are listed
(:meth:`MicrographRound.prepare`: inputs inside the output folder refused, micrographs still being
written left for later, the outputs of earlier rounds replaced), copies the last round's
pairs.csv while it scores (``update_pairs.PairsCsv``, which writes the round's pairs.csv), scores only
the pairs the store has no score for (:func:`.update.score_update`, which opens the round's
transaction), and removes no pattern common to the images (the earlier rounds' scores stand).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, NoReturn

from ...errors import CryodedupError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout
from ...outputs import all_outputs_at_once, hold_folder
from ...paths import StrPath
from .. import shape
from .job import MicrographJob, MicrographStages, Say
from .plan import MicrographPlan, ScoringPlan
from .score import ProgressBar, ShardScores
from .summary import MicrographSummary
from .update import STORE, SeenStore, leave_for_later, open_store, refuse_inputs_inside, score_update
from .update_pairs import PairsCsv
from .write import PairRows, PreparedOutputs, prepare_outputs

__all__ = ["run_round"]

#: What runs a round's stages: the plain runner (the round's store opened by its stages, committed after).
_ROUNDS_RUNNER: shape.Runner[MicrographStages, MicrographSummary] = shape.plain


@all_outputs_at_once
def run_round(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    job: MicrographPlan,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    ready: Collection[str] | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
) -> MicrographSummary:
    """An ``--update`` round (``--watch`` runs one a look): the job's stages as the round's, then its commit.

    The round (:class:`MicrographRound`) opens the store once the inputs are listed and saves its
    new micrographs and pairs as it scores (``ready``: the new files that may be read, by default
    those whose image is all there); once the job has written its outputs under temporary names,
    the round is committed, and the output batch puts them in place after it. A round stopped
    before its commit is rolled back: the store and the outputs stay the previous round's.
    """
    round_ = MicrographRound(force, log=log, progress_factory=progress_factory, recorded=job.recorded, ready=ready)
    plan = MicrographJob(inputs, Path(outdir), job, particles, match_micrographs)
    try:
        try:
            summary = shape.run(plan, round_, _ROUNDS_RUNNER)
        except BaseException as error:
            round_.abandon(error)
        round_.commit()
    finally:
        round_.close()
    return summary


@dataclass
class MicrographRound(MicrographStages):
    """An ``--update`` round's stages (the job's, their hooks overridden), its store, and the commit that ends it.

    ``recorded``: the options' values the store records (``MicrographPlan.recorded``); ``ready``:
    the new files that may be read (``--watch``), by default every one whose image is all there.
    """

    #: No pattern removed: the earlier rounds' scores stand (a run in one go removes it).
    REMOVES_PATTERN: ClassVar[bool] = False

    recorded: Mapping[str, Any] = field(default_factory=dict)
    ready: Collection[str] | None = None
    store: SeenStore | None = None
    pairs_csv: PairsCsv | None = None
    # The copy of the last round's pairs.csv, made while the round scores: waited for when the round ends.
    _copying: ExitStack = field(default_factory=ExitStack)

    def prepare(
        self, mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, said: Say
    ) -> tuple[Micrographs, PreparedOutputs]:
        """As ``MicrographStages.prepare`` says: the store opened, the micrographs it has not seen that are whole.

        The outputs of earlier rounds are replaced; outputs in the way of a round that found no
        store of earlier rounds are refused saying so. The last round's pairs.csv is copied
        from now on, while the round scores (to append to).
        """
        refuse_inputs_inside(outdir, [*inputs, *mics.paths, *([particles] if particles else [])])
        # (the store read under the folder's lock: another round's commit between reads looked like damage)
        hold_folder(outdir)
        self.store = store = open_store(outdir, mics, self.force, said)
        mics = leave_for_later(mics, store, self.ready, said)
        outputs = _prepared(mics, outdir, inputs, particles, self.force, store)
        self.pairs_csv = PairsCsv(store.pairs_csv)
        self._copying.enter_context(self.pairs_csv.copying(outputs.paths[0]))
        return mics, outputs

    def layouts_known(self, paths: Collection[StrPath]) -> dict[str, MrcLayout] | None:
        """As ``MicrographStages.layouts_known`` says: the store's seen micrographs found in place."""
        assert self.store is not None, "prepared first"
        return self.store.known_layouts(paths)

    def score(self, plan: ScoringPlan, said: Say) -> list[ShardScores]:
        """As ``MicrographStages.score`` says: only the new pairs scored; saved in the round's transaction."""
        assert self.store is not None and self.pairs_csv is not None, "prepared first"
        scores = [score_update(plan, self.recorded, self.store, said, self.progress_factory)]
        self.pairs_csv.earlier = self.store.pairs_csv  # (None once the scores' options changed: a full run)
        return scores

    def write_pairs(self, paths: tuple[Path, Path], rows: PairRows, binning: int, psize: float) -> None:
        """As ``MicrographStages.write_pairs`` says: the last round's file appended to where it can be."""
        assert self.pairs_csv is not None, "prepared first"
        self.pairs_csv.write_pairs(paths, rows, binning, psize)

    def commit(self) -> None:
        """The round's transaction committed, with what its pairs.csv holds (its outputs written, not yet in place)."""
        if self.store is not None:
            self.store.commit(self.pairs_csv.written if self.pairs_csv else None)

    def abandon(self, error: BaseException) -> NoReturn:
        """A round stopped: its transaction rolled back (the previous round stays whole); raises ``error``."""
        if self.store is None:
            raise error
        self.store.abandon(error)

    def close(self) -> None:
        """The copy of the last round's pairs.csv waited for (the output batch removes it after), the store closed."""
        try:
            self._copying.close()
        finally:
            if self.store is not None:
                self.store.close()


def _prepared(
    mics: Micrographs,
    outdir: Path,
    inputs: Sequence[StrPath],
    particles: StrPath | None,
    force: bool,
    store: SeenStore,
) -> PreparedOutputs:
    """The outputs' paths, those of the earlier rounds replaced; in the way of a first round, refused saying so."""
    try:
        return prepare_outputs(mics, outdir, inputs, particles, force or store.loaded)
    except CryodedupError as error:
        if store.loaded or force:  # (with --force the store was set aside, not missing)
            raise
        raise type(error)(  # (its kind kept: an output in the way)
            f"{error} (--update found no store of an earlier round in {outdir / STORE}: "
            "--update --force starts one from every micrograph)"
        ) from None
