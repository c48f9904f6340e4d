"""``cryodedup particles BATCH... --update -o OUT``: each batch deduplicated against every particle kept so far.

The rule (docs/developers/decisions/particle-update.md): a particle kept by an earlier round is
never revoked (it may be in a downstream job already); a batch particle within the distance
rule of one kept before is rejected; the batch's other rows are then decided as a run on
them alone decides them. With the greedy rule (best first, a rejected row rejects nothing)
this is a fresh run in which every kept particle ranks above every new one: where a new
particle ranks above the kept one that rejected it, the round counts it (``would_have_won``).

A round is a runner around the plain job's stages (:func:`round_runner`): :func:`open_round`
opens the store, the stages run as :class:`ParticleRoundStages` (the plain ones, deciding with
:meth:`ParticleRound.decide` against the kept set and writing with :meth:`ParticleRound.write` the
round's files under temporary names), then :meth:`ParticleRound.commit` commits the round to the
store and puts its files in place, and :meth:`ParticleRound.section` is the summary's. The store is
``store.py``'s. RELION STAR batches append their kept rows to ``particles_kept.star``; CryoSPARC
``.cs``/``.csg`` batches their kept records to one numpy ``particles_kept.cs`` (every field of the
batch's group), in place where they fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ... import signals
from ...algo.dedup import DuplicateRule, Ranking, find_duplicates
from ...errors import CryodedupError
from ...formats.sniff import is_copick_config, is_cryosparc, is_dynamo_table, is_picker_output
from ...labels import counted
from ...outputs import AtomicOutputs, StrPath, hold_folder, output_batch, put_in_place, write_error
from ...particle_set import Log, ParticleSet
from ...report.sections import UpdateRound
from .. import shape
from ..store_db import DATABASE, StoreError, busy, file_digest, is_busy, sha256_bytes
from .decide import ParticleDecision, decide
from .job import PlainParticleStages
from .plan import DECISION_OPTIONS
from .read import Files, Source
from .stages import ParticleDecided, ParticleRead, Written
from .store import (
    RUNNING_FILES,
    DecisionRecord,
    KeptRows,
    KeptStore,
    RunningChange,
    StarHeader,
    decision_record,
)
from .store_open import open_store, repair_store

if TYPE_CHECKING:
    from ...formats.cryosparc.particles import CsWriter
    from ...formats.star.particle_writer import StarWriter
    from .overrides import Forced
    from .plan import Deciding, ParticlePlan
    from .summary import ParticleSummary

__all__ = ["repair", "round_runner"]

#: Each round's kept and rejected particles (round 1: round_0001_kept.star), left for downstream jobs.
ROUND_FILES = ("round_{:04d}_kept.star", "round_{:04d}_rejected.star")
#: Each round's record of its rejections (``--decisions``), of either kind.
ROUND_RECORD = "round_{:04d}_decisions.csv"
#: The same of CryoSPARC inputs: the stems of the files the plain run's writer writes (.cs, passthrough, .csg).
ROUND_STEMS = ("round_{:04d}_kept", "round_{:04d}_rejected")
#: The options only a round takes (besides :data:`.plan.DECISION_OPTIONS`), by field: the plain plan holds neither.
ROUND_OPTIONS = ("add_again", "repair")
#: The record's rule of a batch row within the distance of a particle an earlier round kept (one of
#: ``decide.RUNNERS_RULES``: the plain path's stages never give it), and the kept input the record names for it.
EARLIER_ROUND = 11
KEPT_EARLIER = "(kept by an earlier round)"
#: What a round takes, as its refusals name it.
TAKEN = "--update takes RELION particle STAR files or CryoSPARC .cs/.csg files"


def refuse_options(paths: list[Path], round_plan: RoundPlan) -> None:
    """Refuses in one line what an ``--update`` round does not support, before anything is read.

    The options a round refuses are the plan's (``RoundPlan.refused``); the inputs' kinds are here.
    """
    if round_plan.refused:
        flag, why = round_plan.refused[0]
        raise CryodedupError(f"--update cannot be given with {flag}: {why}")
    for path in paths:
        if is_copick_config(path) or is_picker_output(path) or is_dynamo_table(path):
            raise CryodedupError(f"{path}: {TAKEN} (this input is neither)")


def input_kind(paths: list[Path]) -> str:
    """The kind of a batch's files: "cs" (CryoSPARC .cs/.csg) or "star"; a batch of both is refused."""
    cs = [is_cryosparc(path) for path in paths]
    if any(cs) and not all(cs):
        star = paths[cs.index(False)]
        raise CryodedupError(f"{star}: not a CryoSPARC file, in a batch of .cs files: an --update batch is of one kind")
    return "cs" if all(cs) and cs else "star"


@dataclass(frozen=True, eq=False)
class RoundPlan:
    """What an ``--update`` round takes of the options (:func:`open_round`, :class:`ParticleRound`).

    Built by the round's runner from the job's plan (:func:`_round_plan`): the plain plan holds no round.
    """

    #: The options given that a round does not support, (flag, why) each: the first is refused.
    refused: tuple[tuple[str, str], ...]
    #: The options that decide which particles are duplicates (marked ``affects=DECISION``), by name:
    #: the store's record of them (``store.decision_record``), which a later round's must match.
    decided_by: dict[str, Any]
    #: ``--add-again``: a batch's rows added though the kept set holds them.
    add_again: bool
    #: ``--decisions``: each round's record of its rejections.
    decisions: bool
    #: ``--repair``: refused with a batch (the command line calls ``update.repair`` alone).
    repair: bool


def _round_plan(plan: ParticlePlan) -> RoundPlan:
    """What the round takes of the job's plan: its refusals, and of the options' values (``plan.given``) the others."""
    given = plan.given
    decided_by = {name: given[name] for name in DECISION_OPTIONS}
    add_again, repair = (given[name] for name in ROUND_OPTIONS)
    return RoundPlan(_refused(plan), decided_by, add_again, plan.output.decisions, repair)


def _refused(plan: ParticlePlan) -> tuple[tuple[str, str], ...]:
    """The options given that an ``--update`` round does not support: (flag, why) each, in the order said.

    The store keeps each kept particle's micrograph, centre and score alone: an option that
    needs the whole set, orientations, images, species, a mask or micrograph sizes is refused.
    """
    read, deciding, output, registration = plan.read, plan.deciding, plan.output, plan.registration
    normalise, species, regions = deciding.score_normalize, read.species, deciding.regions
    refused = [
        (deciding.min_support > 1, f"--min-support {deciding.min_support}", "consensus needs every input's picks"),
        (deciding.remove_entirely, "--remove-entirely", "it would reject particles kept in earlier rounds"),
        (output.audit, "--audit", "it writes no particles to add"),
        (output.plot, "--plot", "pictures of one round are not drawn yet"),
        (
            deciding.normalisation.apply is not None,
            f"--score-normalize {normalise}",
            "percentiles depend on the whole set"
            if normalise == "rank"
            else "the scores are normalised within the whole set",
        ),
        (read.request.score_read.score == "none", "--score none", "a random order is not one across rounds"),
        (output.halfsets == "micrograph", "--halfsets micrograph", "it balances whole micrographs' halves"),
        (
            output.halfsets == "trim",
            "--halfsets trim",
            "it balances the whole set's halves, which a round holds in part: trim the running file in a run alone",
        ),
        (deciding.max_angle is not None, "--max-angle", "the store keeps centres, not orientations"),
        (deciding.own_frame, "--min-dist-ellipsoid", "the store keeps centres, not orientations"),
        (deciding.same_image == "reject", "--same-image reject", "the store keeps centres, not images"),
        (bool(species.names or species.column), "--species", "the store keeps one species"),
        (species.cross_species or bool(species.min_dist), "--cross-species", "the store keeps one species"),
        (bool(read.datasets), "--dataset", "micrographs are matched by name across rounds"),
        (bool(registration.transforms), "--transform", "the store keeps centres in one frame"),
        (regions is not None and regions.mask is not None, "--mask", "the store keeps no mask: mask each batch first"),
        (
            regions is not None and regions.edge is not None,
            "--edge",
            "the store keeps no micrograph sizes: cut each batch first",
        ),
    ]
    return tuple((flag, why) for given, flag, why in refused if given)


@dataclass
class ParticleRound:
    """One ``--update`` round: its store, what its decision met, and its files until they are committed.

    What the round's stages (:class:`ParticleRoundStages`) decide against and write into; then its
    runner's :meth:`commit` (or :meth:`discard`) and :meth:`section`.
    """

    outdir: Path
    store: KeptStore
    force: bool
    #: What the round takes of the options: the decision's record, --add-again, --decisions.
    plan: RoundPlan
    kind: str = "star"
    record: DecisionRecord | None = None
    header: tuple[bytes, bytes] = (b"", b"")
    #: Per batch row, the distance (Å) to the kept particle that rejected it, else NaN (``--decisions``' record).
    distance: np.ndarray | None = None
    #: The batch's particles on micrographs the store holds kept ones of, and those the store held there.
    kept_before_here: int = 0
    rejected_by_kept: int = 0
    would_have_won: int = 0
    number: int = 0
    #: The batch's digest (its files' SHA-256), and whether it is the store's last round's given again.
    batch: str = ""
    redo: bool = False
    #: A STAR store's running file's header's SHA-256 and the text after its rows (for its first round).
    star_header: StarHeader | None = None
    #: ``--decisions``: writes the round's record to a path (a round file as the others: stored, put back).
    write_record: Callable[[Path], None] | None = None
    #: ``--overrides`` matched to the batch (None: not given): the store records the file the round used.
    overrides: Forced | None = None
    #: The round written, not yet committed: its kept rows, its files (final: temporary), the running file's change.
    pending: tuple[KeptRows, dict[Path, Path], RunningChange] | None = None

    def commit(self) -> None:
        """The round written committed to the store, the running file changed, its files put in place (none: done)."""
        if self.pending is not None:
            kept, files, change = self.pending
            self.pending = None
            _commit_and_place(self, kept, files, change)

    def discard(self) -> None:
        """The temporary files of a round written and not committed removed (a job stopped between)."""
        if self.pending is not None:
            _discard(self.pending[1])
            self.pending = None

    def section(self, summary: ParticleSummary) -> UpdateRound:
        """The summary's ``update``: the round, the running kept set, and what the kept particles decided."""
        return _section(self, summary.kept, summary.particles)


def open_round(source: Source, outdir: StrPath | None, round_plan: RoundPlan, force: bool, log: Log) -> ParticleRound:
    """The round of an ``--update`` run: the options refused first, then the store opened (the folder locked)."""
    if round_plan.repair:  # (the command line calls repair() itself, with no batch)
        raise CryodedupError(
            "--repair reads no batch and adds no round: give -o OUTDIR --update --repair alone (in Python: "
            "cryodedup.repair_particle_update(outdir))"
        )
    if not isinstance(source, Files):
        raise CryodedupError("--update takes particle files and an output folder; particles in memory have no kept set")
    paths = source.paths
    refuse_options(paths, round_plan)
    if outdir is None:
        raise CryodedupError("--update needs an output folder (-o): it keeps the kept set there")
    outdir = Path(outdir)
    kind = input_kind(paths)
    running = os.path.realpath(outdir / RUNNING_FILES[kind])
    for path in paths:
        if os.path.realpath(path) == running:
            raise CryodedupError(f"{path}: the running kept file of --update into {outdir}; give the new batch only")
    hold_folder(outdir)  # (the store is read, finished and written under the folder's lock)
    return ParticleRound(outdir, open_store(outdir, force, log, kind), force, round_plan, kind)


@dataclass(frozen=True)
class ParticleRoundStages(PlainParticleStages):
    """The particle job's stages in an ``--update`` round: decided against the kept set, written as its files."""

    round: ParticleRound = shape.required("round")

    def decide_rows(self, read: ParticleRead) -> ParticleDecision:
        """The batch's decision: rows near a kept particle rejected, the others decided as a plain run decides them.

        ``read.regions``: None (a round refuses ``--mask`` and ``--edge``: the store keeps no mask).
        """
        assert read.regions is None, "a round refuses --mask and --edge"
        return _decide(self.round, read.particles, read.job.deciding, self.log, read.forced)

    def write_rows(self, read: ParticleRead, decided: ParticleDecided) -> Written:
        """The round's files (and ``--decisions``' record) under temporary names; the round's commit places them."""
        particles, decision = read.particles, decided.decision
        record = _record(self.round, particles, decision, read.job.deciding)
        return Written(_write(self.round, particles, decision.keep), record)


def round_runner(plan: ParticlePlan, stages: PlainParticleStages) -> shape.Ran[Any, Any, Any, ParticleSummary]:
    """An ``--update`` round: the store opened, the job's stages run as the round's, the round committed.

    The job's own refusals come first, as a plain run says them; then the round's
    (:func:`open_round`: the options the plan's round refuses, the output folder locked,
    the store checked). The round's files are written by the stages under temporary names and put
    in place once the store has the round; a job stopped before removes them. The summary gets
    the round's section.
    """
    source, outdir = stages.source, stages.outdir
    source.check(outdir, plan.read)
    round_ = open_round(source, outdir, _round_plan(plan), stages.force, stages.log)
    in_round: shape.Stages[ParticlePlan, Any, Any, Any, ParticleSummary] = stages.around(
        ParticleRoundStages, round=round_
    )
    try:
        ran = shape.plain(plan, in_round)
        round_.commit()
    finally:
        round_.discard()
    return replace(ran, summary=replace(ran.summary, update=round_.section(ran.summary)))


def repair(outdir: StrPath | None, force: bool = False) -> list[tuple[Path, str]]:
    """``--update --repair``: the files of ``outdir``'s rounds written again from its store where missing or stale.

    No batch is read and no round added. Returns (path, "missing" or "stale") of each file
    written (none: the folder is as the rounds left it). Under the output folder's lock.
    """
    if outdir is None:
        raise CryodedupError("--repair needs the output folder (-o) of earlier --update rounds")
    if force:
        raise CryodedupError("--repair writes the store's files again, --force starts the store anew: give one of them")
    outdir = Path(outdir)
    if not os.path.isdir(outdir):
        raise CryodedupError(f"{outdir}: no such folder; --repair rewrites the files of an --update output folder")
    with output_batch():
        hold_folder(outdir)
        written = repair_store(outdir)
    return [(outdir / name, why) for name, why in written]


def refuse_rows(particles: ParticleSet) -> StarWriter | CsWriter:
    """Refuses what the rows hold that a round does not support; the set's writer (STAR or .cs)."""
    writer = particles.writer
    if type(writer).__name__ not in ("StarWriter", "CsWriter"):  # (by name: a round loads only its own format)
        raise CryodedupError(f"{particles.inputs[0]}: {TAKEN} (this input is neither)")
    if particles.scores is None:
        raise CryodedupError(
            f"{particles.inputs[0]}: no score to rank by (--score auto found none): --update ranks new particles "
            f"against kept ones by a score; {_score_advice(writer)}"
        )
    if particles.tubes is not None:
        raise CryodedupError(f"{particles.inputs[0]}: filaments (a tube per segment): --update keeps no tubes")
    return cast("StarWriter | CsWriter", writer)


def _score_advice(writer: object) -> str:
    """What ``--score`` may name: the columns every STAR input has that may rank particles."""
    from ...formats.star.particle_table import shared_score_columns  # (an error's advice alone reads it)

    parts = getattr(writer, "parts", None)  # (a StarWriter's inputs; a .cs group has fields, not columns)
    if not parts:
        return "name the column with --score"
    shared = shared_score_columns(parts)
    if shared:
        return f"name the column with --score COLUMN (of theirs: {', '.join(shared[:4])})"
    return "no column of theirs may rank them"


def outranks(new: np.ndarray, kept: np.ndarray, higher: bool) -> np.ndarray:
    """Whether each new score ranks above its kept one (a score not finite ranks last)."""
    better = new > kept if higher else new < kept
    return np.isfinite(new) & (better | ~np.isfinite(kept))


def blocked_by_kept(
    particles: ParticleSet, kept: tuple[np.ndarray, np.ndarray, np.ndarray], rule: Deciding
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch's rows within the distance of a kept particle, whether each of those ranks above it, and how far (Å).

    The core decides the kept rows and the batch together, the kept ones at a priority above
    every new one: each new row with a kept one within the distance is rejected by the best
    ranked of them (``suppressed_by``), with the distance rule of a plain run.
    """
    which, centres, scores = kept
    n_kept, n = len(which), len(particles)
    blocked, distance = np.zeros(n, dtype=bool), np.full(n, np.nan)
    if n_kept == 0:
        return blocked, np.zeros(0, dtype=bool), distance
    assert particles.scores is not None
    # Only the batch's rows on micrographs with kept particles: the others have none near them.
    near = np.flatnonzero(np.isin(particles.groups, np.unique(which)))
    groups = np.concatenate([which, particles.groups[near].astype(np.int64)])
    both = np.concatenate([centres, particles.centres[near]])
    ranked = np.concatenate([scores, particles.scores[near]])
    levels = np.concatenate([np.zeros(n_kept, np.uint32), np.ones(len(near), np.uint32)])
    ranking = Ranking(ranked, particles.higher_is_better, levels)
    # (greedy, whatever --select: the kept particles rank first and stay; the best selection chooses among the rest)
    greedy = replace(rule.duplicate_rule, selection="greedy")
    result = find_duplicates(groups, both, greedy, ranking, True)
    assert result.suppressed_by is not None
    by = result.suppressed_by[n_kept:]
    rejected = (by >= 0) & (by < n_kept)
    blocked[near[rejected]] = True
    won = outranks(particles.scores[near[rejected]], scores[by[rejected]], particles.higher_is_better)
    gap = particles.centres[near[rejected]] - centres[by[rejected]]
    distance[near[rejected]] = np.sqrt((gap**2).sum(axis=1))
    return blocked, won, distance


def _decide(
    round_: ParticleRound, particles: ParticleSet, rule: Deciding, log: Log, overrides: Forced | None = None
) -> ParticleDecision:
    """:meth:`ParticleRound.decide`.

    ``overrides``: ``--overrides`` matched to the batch (its forced rows: no particle kept before rejects
    them), which the round records.
    """
    round_.overrides = overrides
    forced = None if overrides is None else overrides.rows
    round_plan = round_.plan
    writer = refuse_rows(particles)
    dims = particles.centres.shape[1]
    record = decision_record(
        round_plan.decided_by, particles.score_label, particles.higher_is_better, dims, round_.kind
    )
    round_.store.check_record(record)
    round_.record = record
    if round_.kind == "cs":
        _check_fields(round_, particles)
        inputs = [Path(p) for p in cast("CsWriter", writer).inputs]
    else:
        round_.header = cast("StarWriter", writer).header_and_footer()
        _check_header(round_, particles)
        inputs = [p.path for p in cast("StarWriter", writer).parts]
    store = round_.store
    round_.batch = _batch_digest(inputs)
    round_.redo = store.round > 0 and round_.batch == store.last_batch
    if round_.redo and round_plan.add_again:
        round_.redo = False  # (its rows added again: each the duplicate of itself, a round of its own)
    if round_.redo:  # (a retry after a stop, or a run again: either way the set stays as it is)
        log(
            f"this batch is round {store.round}'s, given again: its rows are already in the kept set; its files are "
            "put in place and nothing is added (--add-again adds its rows again)",
            "warning",
        )
    kept = store.rows_on(particles.mic_names, skip=store.round if round_.redo else 0)
    round_.kept_before_here = len(kept[0])
    if not round_plan.add_again:
        _refuse_rows_kept_already(particles, kept)
    blocked, won, distance = blocked_by_kept(particles, kept, rule)
    if forced is not None:  # (a forced keep is kept beside a kept particle; a forced reject is the file's)
        unforced = forced[np.flatnonzero(blocked)] == 0
        won = won[unforced]
        blocked[np.flatnonzero(blocked)[~unforced]] = False
        distance[forced != 0] = np.nan
    round_.rejected_by_kept, round_.would_have_won = int(blocked.sum()), int(won.sum())
    round_.distance = distance
    rest = np.flatnonzero(~blocked)
    decision = decide(particles.rows(rest), rule, log, forced=None if forced is None else forced[rest])
    keep = np.zeros(len(particles), dtype=bool)
    keep[rest] = decision.keep
    return ParticleDecision(
        keep,
        _in_batch_rows(decision.suppressed_by, rest, len(particles)),
        None,
        unconfirmed=_in_batch_mask(decision.unconfirmed, rest, len(particles)),
        not_confirmable=_in_batch_mask(decision.not_confirmable, rest, len(particles)),
        levels=decision.levels,
        priority=decision.priority,
        preference=decision.preference,
        selection=decision.selection,
        ties=decision.ties,  # (the same pairs, numbered in the batch)
        normalisation=decision.normalisation,
        overridden=_in_batch_mask(decision.overridden, rest, len(particles)),
    )


def _in_batch_mask(mask: np.ndarray | None, rest: np.ndarray, n: int) -> np.ndarray | None:
    """A mask of the rows ``rest`` as one of the whole batch (False for a row a kept one blocked)."""
    if mask is None:
        return None
    whole = np.zeros(n, dtype=bool)
    whole[rest] = mask
    return whole


def _refuse_rows_kept_already(particles: ParticleSet, kept: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Refuses a batch some of whose rows are kept particles already: the same micrograph, centre and score.

    A batch given again (a round re-run, a batch file that grew) would otherwise be said as "0
    of N kept", each row rejected as the duplicate of itself; ``--add-again`` adds it anyway.
    """
    which, centres, scores = kept
    n_kept = len(which)
    if n_kept == 0:
        return
    assert particles.scores is not None
    near = np.flatnonzero(np.isin(particles.groups, np.unique(which)))
    groups = np.concatenate([which, particles.groups[near].astype(np.int64)])
    levels = np.concatenate([np.zeros(n_kept, np.uint32), np.ones(len(near), np.uint32)])
    ranking = Ranking(np.concatenate([scores, particles.scores[near]]), particles.higher_is_better, levels)
    # At --min-dist 0: the rows at a kept particle's centre (within 0.001 Å), each paired with it.
    same = find_duplicates(
        groups, np.concatenate([centres, particles.centres[near]]), DuplicateRule(0.0), ranking, True
    )
    assert same.suppressed_by is not None
    by = same.suppressed_by[n_kept:]
    at_kept = (by >= 0) & (by < n_kept)
    copies = int(np.count_nonzero(particles.scores[near[at_kept]] == scores[by[at_kept]]))
    if copies:
        raise CryodedupError(
            f"{particles.inputs[0]}: {copies:,} of its {len(particles):,} rows are already in the kept set (a kept "
            "particle's micrograph, centre and score): this batch, or part of it, was added by an earlier round; "
            "give only new particles, or --add-again to add it anyway"
        )


def _in_batch_rows(suppressed_by: np.ndarray | None, rest: np.ndarray, n: int) -> np.ndarray | None:
    """The decision's suppressors (rows of ``rest``) as rows of the whole batch; -1 for a row a kept one blocked.

    (The half-set audit pairs a rejected row with its suppressor: one kept by an earlier round is
    not a row of this batch, so those rows are not paired.)
    """
    if suppressed_by is None:
        return None
    whole = np.full(n, -1, dtype=np.int64)
    whole[rest] = np.where(suppressed_by >= 0, rest[np.maximum(suppressed_by, 0)], -1)
    return whole


def _batch_digest(paths: list[Path]) -> str:
    """The SHA-256 of the batch's files' SHA-256, in order: the same batch given again is known by it."""
    return hashlib.sha256("\n".join(file_digest(path) or "" for path in paths).encode()).hexdigest()


def _check_header(round_: ParticleRound, particles: ParticleSet) -> None:
    """Refuses a batch whose header (optics table, columns) or what follows its rows is not the running file's."""
    prefix, suffix = round_.header
    mine = StarHeader(sha256_bytes(prefix), suffix.hex())
    stored = round_.store.star_header
    round_.star_header = mine
    if stored is None or round_.store.running is None:
        return
    if mine != stored:
        part = (
            "header (optics table and columns)" if mine.prefix_sha256 != stored.prefix_sha256 else "text after the rows"
        )
        raise CryodedupError(
            f"{particles.inputs[0]}: its {part} is not that of {round_.store.running_path}, which --update appends "
            "rows to; give batches of one header, or another output folder"
        )


def _check_fields(round_: ParticleRound, particles: ParticleSet) -> None:
    """Refuses a .cs batch whose fields are not those of the running .cs file (its rows are added to it)."""
    running = round_.store.running_path
    if round_.store.running is None:
        return
    try:
        want = set(_fields_of(running))
    except OSError as err:
        raise CryodedupError(f"{running}: cannot be read ({err.strerror}); --update adds rows to it") from None
    have = set(cast("CsWriter", particles.writer).group.fields)
    if have != want:
        differ = sorted(have ^ want)
        listed = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
        raise CryodedupError(
            f"{particles.inputs[0]}: its fields are not those of {running} (differing: {listed}), which --update "
            "adds rows to; give batches of one job's fields, or another output folder"
        )


def _fields_of(path: Path) -> list[str]:
    """The fields of the running .cs: from a numpy file's header alone (its rows were checked as they were added)."""
    from ...formats.cryosparc.dataset import NUMPY_MAGIC, CsFile

    with open(path, "rb") as f:
        if f.read(len(NUMPY_MAGIC)) == NUMPY_MAGIC:
            f.seek(0)
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return list(header(f)[2].names or ())
    return CsFile.load(path).fields


def _record(round_: ParticleRound, particles: ParticleSet, decision: ParticleDecision, rule: Deciding) -> dict | None:
    """``--decisions``: its columns, written among the round's files (stored, put back); None without it."""
    if not round_.plan.decisions:
        return None
    from .record import rejections, table, write_decisions  # (loaded for --decisions only)

    assert round_.distance is not None
    rejected = rejections(particles, decision, rule, beyond=(EARLIER_ROUND, round_.distance))
    columns = table(particles, rejected)
    columns["kept_input"] = np.where(rejected.rule == EARLIER_ROUND, KEPT_EARLIER, columns["kept_input"])
    round_.write_record = lambda path: write_decisions(path, columns)
    return columns


def _write(round_: ParticleRound, particles: ParticleSet, keep: np.ndarray) -> dict[str, list[str]]:
    """The round's kept and rejected files (and record) written under temporary names: the outputs by subset.

    :meth:`ParticleRound.commit` then commits the round (one transaction), changes the running file,
    renames the files and marks the round placed; signals wait from the commit to the end. A
    stop or a failure after the commit leaves files the next run puts in place from the store
    (the same batch given again does only that). A batch given again is put in place here.
    """
    writer = refuse_rows(particles)
    store = round_.store
    assert particles.scores is not None and round_.record is not None
    if round_.redo:
        subsets = _finish_again(round_, writer, int(keep.sum()))
    else:
        round_.number = store.next_round()
        write = _write_cs_round if round_.kind == "cs" else _write_star_round
        rows = np.flatnonzero(keep)
        kept = KeptRows(particles.groups[rows], particles.mic_names, particles.centres[rows], particles.scores[rows])
        subsets = write(round_, writer, keep, kept)  # type: ignore[arg-type]
    record = round_.outdir / ROUND_RECORD.format(round_.number)
    if round_.write_record is not None and (round_.pending is not None or os.path.lexists(record)):
        subsets["decisions"] = [record]  # (a batch given again: where its round recorded them)
    outputs = {**subsets, "running": [store.running_path]}
    return {subset: [str(p) for p in files] for subset, files in outputs.items()}


def _round_outputs(round_: ParticleRound, paths: list[Path], inputs: list[Path]) -> dict[Path, Path]:
    """The round files' temporary names (the output folder locked, existing files refused without --force)."""
    return AtomicOutputs(paths, force=round_.force, inputs=inputs).temporary


def _commit_and_place(round_: ParticleRound, kept: KeptRows, files: dict[Path, Path], change: RunningChange) -> None:
    """The round committed to the store, the running file changed, the round files renamed, the round marked placed.

    Signals wait from the commit on: the round's files appear with it (a kill is the next run's to finish).
    """
    store, outdir = round_.store, round_.outdir
    assert round_.record is not None
    named = {os.path.relpath(final, outdir): tmp for final, tmp in files.items()}
    try:
        with signals.deferred():
            store.commit(
                round_.number, round_.batch, round_.record, kept, named, change, round_.star_header, _used(round_)
            )
            try:
                store.apply(change)
                put_in_place([(tmp, final) for final, tmp in files.items()])
                store.mark_placed()
            except (OSError, sqlite3.Error, CryodedupError, StoreError) as err:
                why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                raise CryodedupError(
                    f"{outdir}: round {round_.number} is in the --update store, but its files could not all be put "
                    f"in place ({why}); the same command again puts them in place from the store"
                ) from None
    finally:
        _discard(files)


def _used(round_: ParticleRound) -> str | None:
    """The ``--overrides`` file the round used, as the store records it (JSON: file, SHA-256, lines applied)."""
    if round_.overrides is None:
        return None
    used = {
        "file": round_.overrides.file,
        "sha256": file_digest(Path(round_.overrides.file)),
        "applied": round_.overrides.applied,
    }
    return json.dumps(used)


def _record_file(round_: ParticleRound, files: dict[Path, Path]) -> dict[Path, Path]:
    """``--decisions``: the round's record written under a temporary name, to be committed with its files."""
    if round_.write_record is None:
        return {}
    path = round_.outdir / ROUND_RECORD.format(round_.number)
    try:
        tmp = _round_outputs(round_, [path], [])
    except BaseException:
        _discard(files)
        raise
    try:
        round_.write_record(tmp[path])
    except BaseException as err:
        _discard({**files, **tmp})
        if isinstance(err, OSError):
            raise write_error(err, {**files, **tmp}) from None
        raise
    return tmp


def _finish_again(round_: ParticleRound, writer: StarWriter | CsWriter, kept: int) -> dict[str, list[Path]]:
    """The batch is the store's last round's: that round's files put in place from the store, nothing added."""
    store = round_.store
    round_.number = store.round
    stored = store.round_kept()
    if kept != stored:
        raise CryodedupError(
            f"{store.folder}: this batch is round {store.round}'s, which kept {counted(stored, 'particle')}, but "
            f"decides {kept:,} now; give the next batch, or start anew with --update --force"
        )
    with signals.deferred():
        try:
            store.finish_round()
            store.mark_placed()
        except (OSError, sqlite3.Error) as err:
            if is_busy(err):
                raise busy(store.folder / DATABASE) from None
            raise CryodedupError(
                f"{round_.outdir}: cannot put round {store.round}'s files in place from the store "
                f"({err.strerror if isinstance(err, OSError) else err}); run again once it can be written"
            ) from None
        signals.outputs_placed()
    if round_.kind == "cs":
        return _cs_subsets(_cs_files(round_, cast("CsWriter", writer)))
    kept_path, rejected_path = (round_.outdir / name.format(round_.number) for name in ROUND_FILES)
    return {"kept": [kept_path], "rejected": [rejected_path]}


def _write_star_round(
    round_: ParticleRound, writer: StarWriter, keep: np.ndarray, kept: KeptRows
) -> dict[str, list[Path]]:
    """The round's STAR files; their kept rows appended to the running file (the first round's: the file whole)."""
    kept_path, rejected_path = (round_.outdir / name.format(round_.number) for name in ROUND_FILES)
    tmp = _round_outputs(round_, [kept_path, rejected_path], [p.path for p in writer.parts])
    try:
        writer.write_into(keep, {writer.kept_path: tmp[kept_path], writer.rejected_path: tmp[rejected_path]})
        data = tmp[kept_path].read_bytes()
    except BaseException as err:
        _discard(tmp)
        if isinstance(err, OSError):
            raise write_error(err, tmp) from None
        raise
    prefix, suffix = round_.header
    running = round_.store.running
    if running is None:
        change = RunningChange(True, 0, data)
    else:
        rows = data[len(prefix) :]
        source = (os.path.relpath(kept_path, round_.outdir), len(prefix))
        change = RunningChange(
            False, running.size - len(suffix), rows, b"", len(prefix), sha256_bytes(prefix), source=source
        )
    round_.pending = kept, {**tmp, **_record_file(round_, tmp)}, change
    return {"kept": [kept_path], "rejected": [rejected_path]}


def _discard(tmp: dict[Path, Path]) -> None:
    """Removes the round's temporary files (one that cannot be: the next run into the folder removes it)."""
    for path in tmp.values():
        with suppress(OSError):
            os.unlink(path)


def _cs_files(round_: ParticleRound, writer: CsWriter) -> CsWriter:
    """The writer of the round's .cs files (its stems: round_NNNN_kept, round_NNNN_rejected)."""
    from ...formats.cryosparc.particles import CsWriter

    stems = (ROUND_STEMS[0].format(round_.number), ROUND_STEMS[1].format(round_.number))
    return CsWriter(writer.group, round_.outdir, writer.inputs, stems)


def _cs_subsets(files: CsWriter) -> dict[str, list[Path]]:
    return {"kept": files.paths[files.stems[0]], "rejected": files.paths[files.stems[1]]}


def _write_cs_round(round_: ParticleRound, writer: CsWriter, keep: np.ndarray, kept: KeptRows) -> dict[str, list[Path]]:
    """The round's .cs files, as the plain run writes its outputs; its kept rows added to the running .cs.

    The running file holds every field of the batch's group in one numpy .cs (a .csg's
    passthrough files joined), as a plain run of several inputs writes them: the kept records
    are appended in place where they fit its fields' types, else (a longer text, a CSDAT file)
    the file is written anew with them.
    """
    files = _cs_files(round_, writer)
    tmp = _round_outputs(round_, files.outputs, writer.inputs)
    try:
        files.write_into(keep, tmp)
        change = _cs_change(round_, writer, keep)
    except BaseException as err:
        _discard(tmp)
        if isinstance(err, OSError):
            raise write_error(err, tmp) from None
        raise
    round_.pending = kept, {**tmp, **_record_file(round_, tmp)}, change
    return _cs_subsets(files)


def _cs_change(round_: ParticleRound, writer: CsWriter, keep: np.ndarray) -> RunningChange:
    """How the round changes the running .cs: its records appended in place where they fit, else the file anew."""
    from ...formats.cryosparc.dataset import CsFile, append_rows, appendable, flatten

    group, running = writer.group, round_.store.running
    before = round_.store.running_path if running is not None else None
    rows, encoding, data = np.flatnonzero(keep), group.files[0].encoding, group.files[0].data
    if before is not None and running is not None and encoding == "numpy":
        # One numpy file: its kept records as they are (each field cast by name where it fits the running
        # file's); a group of files: joined (cryosparc-tools, each text as wide as its longest).
        one = len(group.files) == 1 and isinstance(data, np.ndarray)
        records = data[rows] if one else flatten(group).take(rows).to_records(fixed=True)
        in_place = appendable(before, records)
        if in_place is not None:
            header, added = in_place
            return RunningChange(False, running.size, added, header, len(header), sha256_bytes(header))
    from cryosparc.dataset import Dataset

    path = round_.outdir / f".{round_.store.running_path.name}.new.{os.getpid()}.tmp"  # (a .cs store's)
    try:
        added = flatten(group).take(rows)
        if before is None:
            CsFile(added, encoding).save(path)
        elif encoding != "numpy" or not append_rows(before, added.to_records(fixed=True), path):
            CsFile(Dataset.append_many(CsFile.load(before).dataset(), added), encoding).save(path)
        return RunningChange(True, 0, path.read_bytes())
    finally:
        if os.path.lexists(path):
            os.unlink(path)


def _section(round_: ParticleRound, kept: int, particles: int) -> UpdateRound:
    """:meth:`ParticleRound.section`."""
    store = round_.store
    before = store.kept - kept
    won = round_.would_have_won
    message = (
        f"round {round_.number}: {kept:,} of {particles:,} new particles kept; {store.running_path} holds "
        f"{store.kept:,} ({before:,} before)\n{round_.rejected_by_kept:,} rejected as within the distance of a "
        f"particle kept before (never revoked), {won:,} of them ranked above it"
    )
    return UpdateRound(
        round=round_.number,
        running_file=str(store.running_path),
        store=str(store.folder),
        kept_before=before,
        kept_before_on_these_micrographs=round_.kept_before_here,
        running_kept=store.kept,
        rejected_by_kept=round_.rejected_by_kept,
        would_have_won=won,
        message=message,
    )
