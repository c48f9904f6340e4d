"""``cryodedup select ORIGINAL... --subset FILE -o OUT``: the original's rows a subset names, and the rest.

The job has the one shape of every job (``jobs/shape.py``): :func:`select_plan` resolves the
options once, at the door; :class:`SelectStages` read the original (with its writer, as the
particle job reads it) and the subset (a particle file, or an index file and the file its
indices count), decide which original rows the subset names (``match.py``: uid, image name,
position), write them as the particle job writes its kept rows (``particles_selected*``) and
the others (``particles_deselected*``), byte for byte in the original's order, ``--take``'s
values put into the selected rows (``take.py``), and summarise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

import cryodedup._core as _core

from ...errors import CryodedupError, OptionError
from ...formats.indices import checked_indices, is_index_file, read_indices
from ...options import ParticleOptions
from ...options.select import SelectOptions
from ...outputs import all_outputs_at_once
from ...particle_set import Log, ParticleSet
from ...paths import StrPath
from ...report.sections.run import Outputs
from .. import shape
from ..particles.plan import ReadPlan, plan
from ..particles.read import read_inputs, silent
from .match import WAYS, Matched, match_rows
from .summary import NAMED, SelectSummary
from .take import write_taken
from .write import named_outputs, tilt_rows

__all__ = ["select_particles"]

_INDEX = WAYS.index("index")


@dataclass(frozen=True)
class SelectPlan:
    """``cryodedup select``'s plan: its inputs, how they are read, how rows are matched, what is taken."""

    originals: tuple[Path, ...]
    outdir: Path
    force: bool
    subset: Path
    #: The file an index file's indices count (None: the original).
    subset_of: Path | None
    index_of: str
    min_dist: float
    take: tuple[str, ...]
    ambiguous: bool
    read: ReadPlan


def select_plan(
    inputs: Iterable[StrPath], outdir: StrPath, options: SelectOptions, reading: ReadPlan, force: bool
) -> SelectPlan:
    """The options checked and resolved once: past the door, the stages read this plan alone.

    ``reading``: how the particle job reads (its options resolved by ``particles.plan.plan``).
    """
    options.check()
    originals = tuple(Path(p) for p in inputs)
    if not originals:
        raise OptionError("select takes the original particle files (ORIGINAL...) before its options")
    assert options.subset is not None  # (options.check's)
    subset = Path(options.subset)
    if options.subset_of is not None and not is_index_file(subset):
        raise OptionError(f"--subset-of counts the rows of an index file; {subset} is a particle file")
    if is_index_file(subset) and options.subset_of is None and len(originals) > 1:
        raise OptionError("an index file counts the rows of one file: name it with --subset-of")
    read = replace(reading, one_pass=None)  # (the rows are written once matched)
    return SelectPlan(
        originals,
        Path(outdir),
        force,
        subset,
        None if options.subset_of is None else Path(options.subset_of),
        options.index_of,
        float(options.min_dist),
        options.take_groups(),
        bool(options.ambiguous),
        read,
    )


class SelectRead(NamedTuple):
    """The read stage: the original's rows (with their writer), the subset's, and the subset rows named."""

    original: ParticleSet
    #: The subset's file read (None: an index file of the original's own rows).
    subset: ParticleSet | None
    #: The subset rows named, in the subset's order: an index file's rows (None: every row of ``subset``).
    which: np.ndarray | None


class SelectDecided(NamedTuple):
    """The decide stage: the original rows selected, and each subset row's match."""

    keep: np.ndarray
    matched: Matched


@dataclass
class SelectStages:
    """``cryodedup select``'s stages (:class:`~.shape.Stages`): read, match, write, summarise, report."""

    log: Log = silent
    warnings: list[str] = field(default_factory=list)

    def read(self, plan: SelectPlan) -> SelectRead:
        """The original read with its writer; the subset read (a particle file, or an index file and its rows)."""
        warn = self.warnings.append
        original = read_inputs(list(plan.originals), plan.outdir, plan.read, warn, self.log)
        if not is_index_file(plan.subset):
            subset = read_inputs([plan.subset], plan.outdir, plan.read, warn, self.log, writes=False)
            return SelectRead(original, subset, None)
        indices = read_indices(plan.subset)
        of = plan.subset_of
        counted = None if of is None else read_inputs([of], plan.outdir, plan.read, warn, self.log, writes=False)
        counts = original if counted is None else counted
        named = str(plan.originals[0] if of is None else of)
        if plan.index_of in ("particles", "particles-sorted"):
            by_name = plan.index_of == "particles-sorted"
            indices = tilt_rows(Path(named), plan.subset, indices, len(counts), by_name)
        else:
            indices = checked_indices(plan.subset, indices, len(counts), named)
        return SelectRead(original, counted, indices)

    def decide(self, plan: SelectPlan, read: SelectRead) -> SelectDecided:
        """Each subset row's original row; the ambiguous refused unless ``--ambiguous``; the rows selected."""
        if read.subset is None:
            assert read.which is not None
            way = np.full(len(read.which), _INDEX, dtype=np.int64)
            matched = Matched(read.which, way, np.zeros(0, dtype=np.int64))
        else:
            matched = match_rows(read.original, read.subset, plan.min_dist, read.which)
        if len(matched.ambiguous) and not plan.ambiguous:
            first = _row_names(read, matched.ambiguous[:1])[0]
            raise CryodedupError(
                f"{plan.subset}: {len(matched.ambiguous):,} rows matched ambiguously by position (first: {first}): "
                f"two original rows within --min-dist {plan.min_dist:g} Å of one, or the other way round; give a "
                "smaller --min-dist, or --ambiguous to let the one-to-one matching choose"
            )
        keep = np.zeros(len(read.original), dtype=bool)
        keep[matched.partner[matched.partner >= 0]] = True
        _core.release_freed()  # (the matching's freed arrays not held through the write: 40 MB of a 1M-row run)
        return SelectDecided(keep, matched)

    def write(self, plan: SelectPlan, read: SelectRead, decided: SelectDecided) -> dict[str, list[str]]:
        """The selected and deselected rows, as the particle job writes kept and rejected; ``--take``'s values in."""
        writer = named_outputs(read.original, plan.outdir)
        if plan.take:
            if read.subset is None:
                raise CryodedupError("--take takes values from a subset file: an index file of the original has none")
            taken = write_taken(
                writer, decided.keep, read.original, read.subset, decided.matched, read.which, plan.take, plan.force
            )
            return taken
        written = writer.write(decided.keep, plan.force)
        return {
            {"kept": "selected", "rejected": "deselected"}.get(subset, subset): [str(p) for p in files]
            for subset, files in written.items()
        }

    def summarise(
        self, plan: SelectPlan, read: SelectRead, decided: SelectDecided, written: dict[str, list[str]]
    ) -> SelectSummary:
        """The counts: the subset rows matched each way, by nothing and ambiguously; the rows selected."""
        matched = decided.matched
        unmatched = np.flatnonzero(matched.partner < 0)
        n_subset = len(matched.partner)
        if not n_subset:
            self.warnings.append(f"{plan.subset} names no rows: nothing selected, every row deselected")
        elif len(unmatched):
            self.warnings.append(
                f"{len(unmatched):,} of {n_subset:,} rows of {plan.subset} matched no row of the original (first: "
                f"{_row_names(read, unmatched[:1])[0]}): they are not in the selection"
            )
        for message in self.warnings:
            self.log(message, "warning")
        return SelectSummary(
            outputs=Outputs.of(written),
            original=tuple(str(p) for p in plan.originals),
            subset=str(plan.subset),
            subset_rows=n_subset,
            original_rows=len(read.original),
            selected=int(np.count_nonzero(decided.keep)),
            matched=matched.counts(),
            unmatched=len(unmatched),
            unmatched_named=tuple(_row_names(read, unmatched[:NAMED])),
            ambiguous=len(matched.ambiguous),
            ambiguous_named=tuple(_row_names(read, matched.ambiguous[:NAMED])),
            min_dist=plan.min_dist,
            taken=plan.take,
            warnings=tuple(self.warnings),
        )

    def report(self, plan: SelectPlan, summary: SelectSummary, written: dict[str, list[str]]) -> SelectSummary:
        """The verdict."""
        return replace(summary, verdict=summary.judged())


def default_reading() -> ReadPlan:
    """How ``select`` reads by default: as the particle job, no registration or score (rows matched, not ranked)."""
    reading = ParticleOptions(registration="ignore", score="none")
    reading.check()
    return plan(reading).read


def _row_names(read: SelectRead, rows: np.ndarray) -> list[str]:
    """Subset rows (positions among those named) as the user finds them: the row from 1, and its image or uid."""
    subset = read.subset if read.subset is not None else read.original
    at = rows if read.which is None else read.which[rows]
    texts = [f"row {int(r) + 1}" for r in at]
    namer = subset.images.names if subset.images is not None else subset.row_names
    if namer is None or not len(at):
        return texts
    return [f"{t} ({n})" for t, n in zip(texts, namer(np.asarray(at)))]


def select_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath,
    options: SelectOptions,
    reading: ReadPlan | None = None,
    log: Log = silent,
    force: bool = False,
) -> SelectSummary:
    """Writes the rows of ``inputs`` that ``options.subset`` names (``particles_selected*``) and the rest.

    ``reading``: how the inputs are read, the particle job's reading options resolved
    (``particles.plan.plan``, no registration or score; None: :func:`default_reading`). The door:
    the options become the plan here, once; then the stages run (:func:`~..shape.run`), their
    outputs appearing together or not at all.
    """
    the_plan = select_plan(inputs, outdir, options, reading or default_reading(), force)
    stages: shape.Stages[SelectPlan, SelectRead, SelectDecided, dict[str, list[str]], SelectSummary]
    stages = SelectStages(log)
    return all_outputs_at_once(shape.run)(the_plan, stages)
