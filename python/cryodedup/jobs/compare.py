"""``cryodedup compare A B``: how two pick sets relate, without deciding anything.

The agreement per micrograph (Jaccard at the radius, counted by the consensus's pairing), the
frame transform between them (:mod:`cryodedup.jobs.registration`), and with one input named
the reference, precision, recall and F-beta of the other by one-to-one matching within the
radius (:mod:`cryodedup.algo.matching`); ``--transform`` moves an input's centres first. Nothing is written.
Two pick sets of a copick project (``user/session``) are compared object by object, each run
as a micrograph (:func:`compare_copick_picks`, ``copick evaluation comparepicks``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..algo.consensus import jaccard_matrices
from ..algo.czii import (
    CHALLENGE_MULTIPLIER,
    CHALLENGE_RADII,
    CHALLENGE_WEIGHTS,
    ThresholdSweep,
    class_hits,
    class_scores,
    threshold_sweep,
    weighted_score,
)
from ..algo.dedup import DuplicateRule, dedup_and_support_masks
from ..algo.matching import f_beta, maximum_matching, pairs_within
from ..errors import CryodedupError, OptionError
from ..options import CompareOptions, ParticleOptions
from ..options.compare import czii_radius
from ..options.fields import shown_values
from ..options.species import DEFAULT_MIN_DIST, SpeciesDistances
from ..particle_set import Log, ParticleSet
from ..paths import StrPath
from ..report.compare_metric import Curve, CziiScore, SpeciesScore, Sweep, czii_rows, write_czii_report
from ..report.comparison import (
    Comparison,
    LeastAgreement,
    LeftOut,
    MicrographAgreement,
    ObjectComparison,
    ReferenceScores,
    Scores,
)
from ..report.html_report import Parameters
from ..report.sections.registration import MovedBy
from ..report.sections.run import Outputs, RunVerdict
from . import shape
from .compare_summary import CompareSummary, CopickComparison
from .input_checks import check_centres
from .particles.plan import ReadPlan, plan
from .particles.read import read_inputs
from .registration import apply_transforms, input_named, pair_registration

__all__ = ["compare_copick_picks", "compare_picks"]

#: Micrographs named in the summary as those where the inputs agree least.
LEAST = 10


@dataclass(frozen=True)
class CompareRun:
    """The compare job's options resolved once (:func:`compare_plan`): the typed values its steps read."""

    #: The input that is the truth (its path as given, or 1 or 2); None: none, nothing scored.
    reference: str | None
    #: A match's distance in Å (--radius, else the default 20 Å).
    radius: float
    #: --radius as given (None: --metric czii takes each challenge species' own).
    given_radius: float | None
    #: The micrographs scored: "shared" (those both inputs cover) or "all".
    over: str
    #: F-beta's beta (--beta, else 1; 4 with --metric czii).
    beta: float
    metric: str
    multiplier: float
    #: Each species' weight in the czii score: the challenge's, --weights' over them (1 for any other).
    weights: Mapping[str, float]
    #: The species --weights names.
    weights_named: tuple[str, ...]
    #: What the czii score divides by with --czii-weights all (None: the weights of the species scored).
    weight_total: float | None
    #: The options' values the plan was made from, by field, and those left at their defaults (report.html's table).
    given: Mapping[str, Any]
    at_default: frozenset[str]

    def weight_of(self, species: str) -> float:
        """A species' weight in the czii score."""
        return self.weights.get(species, 1.0)


def compare_plan(options: CompareOptions) -> CompareRun:
    """The compare job's options checked and resolved once: past its door, the steps read this plan alone."""
    options.check()
    given, at_default = shown_values(options)
    return CompareRun(
        reference=options.reference,
        radius=options.matching_radius(),
        given_radius=None if options.radius is None else float(options.radius),
        over=options.over,
        beta=options.resolved_beta(),
        metric=options.metric,
        multiplier=float(options.multiplier),
        weights={k: float(w) for k, w in {**CHALLENGE_WEIGHTS, **options.weights}.items()},
        weights_named=tuple(options.weights),
        weight_total=options.weight_total(),
        given=given,
        at_default=at_default,
    )


def _silent(message: str, level: str) -> None:
    """Discards the job's messages (the default ``log``)."""


@dataclass(frozen=True)
class ComparePlan:
    """``cryodedup compare``'s plan (made at :func:`compare_picks`): its inputs, how they are read and moved."""

    paths: tuple[Path, ...]
    #: How the inputs are read (the reading options resolved once) and ``--transform``'s moves.
    read: ReadPlan
    transform: tuple[str, ...]
    run: CompareRun
    #: ``--plot-czii``'s folder (None: no picture) and whether it may be overwritten.
    plot: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class ComparedInputs:
    """compare's read stage: the two inputs' rows, the inputs moved, the candidate's scores for czii's sweep."""

    particles: ParticleSet
    applied: tuple[MovedBy, ...]
    scores: np.ndarray | None
    higher: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Compared:
    """compare's decide stage: the comparison, ``--metric czii``'s score, and the warnings they add."""

    comparison: Comparison
    czii: CziiScore | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompareStages:
    """``cryodedup compare``'s stages (:class:`~.shape.Stages`): read two inputs, compare, write nothing."""

    log: Log = _silent

    def read(self, plan: ComparePlan) -> ComparedInputs:
        """The two inputs read, moved by ``--transform`` and checked; with czii, the candidate's scores read alone."""
        warnings: list[str] = []  # (said once the comparison stands: an error is said alone)
        particles = read_inputs(list(plan.paths), Path("."), plan.read, warnings.append, self.log, writes=False)
        applied = _moved(apply_transforms(particles, list(plan.transform)))
        check_centres(particles)
        scores, higher = None, True
        if plan.run.metric == "czii":
            scores, higher = _candidate_scores(list(plan.paths), particles, plan.run.reference, plan.read, self.log)
        return ComparedInputs(particles, applied, scores, higher, tuple(warnings))

    def decide(self, plan: ComparePlan, read: ComparedInputs) -> Compared:
        """The comparison and, with ``--metric czii``, the challenge's score."""
        run = plan.run
        compared = comparison(read.particles, run, read.applied)
        if run.metric != "czii":
            return Compared(compared, None)
        radius_of = partial(czii_radius, run.given_radius)
        czii = czii_metric(read.particles, run, radius_of, read.scores, read.higher)
        return Compared(compared, czii, tuple(_unused_weights(czii)))

    def write(self, plan: ComparePlan, read: ComparedInputs, decided: Compared) -> dict[str, list[str]]:
        """Nothing: compare decides nothing and writes no file (its picture is the report's)."""
        return {}

    def summarise(
        self, plan: ComparePlan, read: ComparedInputs, decided: Compared, written: dict[str, list[str]]
    ) -> CompareSummary:
        """The summary; its warnings said here, once the comparison stands."""
        warnings = (*read.warnings, *decided.warnings)
        for message in warnings:
            self.log(message, "warning")
        return CompareSummary(
            outputs=Outputs.of(written), comparison=decided.comparison, czii=decided.czii, warnings=warnings
        )

    def report(self, plan: ComparePlan, summary: CompareSummary, written: dict[str, list[str]]) -> CompareSummary:
        """The verdict (nothing decided: "compared", its line the agreement) and ``--plot-czii``'s page."""
        summary = replace(summary, verdict=summary.judged())
        if plan.plot is None or summary.czii is None:
            return summary
        shown = Parameters(dict(plan.run.given), plan.run.at_default)
        page = write_czii_report(plan.plot, summary.czii, "cryodedup compare", shown, summary.rows(), plan.force)
        return replace(summary, plots=tuple(page))


def compare_picks(
    inputs: Iterable[StrPath],
    options: CompareOptions,
    reading: ParticleOptions | None = None,
    log: Log = _silent,
    plot: StrPath | None = None,
    force: bool = False,
) -> CompareSummary:
    """Compares two pick sets (any inputs the particle job reads); ``reading``: how they are read.

    Returns the summary: per micrograph the picks of each, their Jaccard and one-to-one
    matches; the registration; with ``options.reference``, precision, recall and F-beta.
    ``plot``: ``--plot-czii``'s folder (its picture and report.html; ``force``: overwritten).
    The door: the options become the plan here, once; then the stages run (:func:`~cryodedup.jobs.shape.run`).
    """
    run = compare_plan(options)
    reading = reading or ParticleOptions()
    reading.registration = "ignore"
    reading.score = "none"  # (nothing is ranked: the readers' warnings of a missing score do not apply)
    reading.check()
    paths = tuple(Path(p) for p in inputs)
    if len(paths) != 2:
        raise OptionError(f"compare takes two inputs (two pickers' outputs or particle files), got {len(paths)}")
    where = None if plot is None else Path(plot)
    the_plan = ComparePlan(paths, plan(reading).read, tuple(reading.transform), run, where, force)
    stages: shape.Stages[ComparePlan, ComparedInputs, Compared, dict[str, list[str]], CompareSummary]
    stages = CompareStages(log)
    return shape.run(the_plan, stages)


@dataclass(frozen=True)
class CopickComparePlan:
    """``copick evaluation comparepicks``' plan (made at :func:`compare_copick_picks`): the sets, the radii."""

    config: Path
    reference: str
    candidate: str
    #: ``--radius`` for the objects it does not name (None: each its own radius), and each object it names.
    default: float | None
    by_object: dict[str, float]
    #: ``--copick-objects`` as given (None: every particle object either set has picks of).
    objects: str | None
    read: ReadPlan
    transform: tuple[str, ...]
    #: The comparison's values, without a radius: each object's is put in (:meth:`for_object`).
    run: CompareRun
    plot: Path | None = None
    force: bool = False

    def for_object(self, radius: float) -> CompareRun:
        """The run of one object, compared within ``radius`` Å."""
        return replace(self.run, radius=radius, given_radius=radius)


@dataclass(frozen=True)
class CopickCompareStages:
    """``copick evaluation comparepicks``' stages: read the two pick sets, compare each object, write nothing."""

    log: Log = _silent

    def read(self, plan: CopickComparePlan) -> ComparedInputs:
        """The two pick sets read (each object a species, each run a micrograph), moved by ``--transform``, checked."""
        from ..formats.copick import read_copick_pick_sets

        warnings: list[str] = []

        def warn(message: str) -> None:
            warnings.append(message)
            self.log(message, "warning")

        request, default = plan.read.request, plan.default
        particles = read_copick_pick_sets(
            plan.config,
            [plan.reference, plan.candidate],
            replace(
                request.copick,
                sized=frozenset(plan.by_object),
                unsized_at=float(DEFAULT_MIN_DIST if default is None else default),
            ),
            request.score_read,
            request.row_read.orientations,
            warn,
            self.log,
        )
        applied = _moved(apply_transforms(particles, list(plan.transform)))
        check_centres(particles)
        absent = [name for name in plan.by_object if name not in particles.species_names]
        if absent:
            warn(f"--radius {absent[0]}=...: no picks of {absent[0]!r} in either pick set, so it is not compared")
        scores = None if particles.scores is None else np.asarray(particles.scores)
        return ComparedInputs(particles, applied, scores, particles.higher_is_better, tuple(warnings))

    def decide(self, plan: CopickComparePlan, read: ComparedInputs) -> CopickCompared:
        """Each object compared at its radius; with ``--metric czii``, the challenge's score over them all."""
        particles = read.particles
        species = np.asarray(particles.species)
        compared = []
        for k, name in enumerate(particles.species_names):
            at = plan.by_object.get(name, plan.default)
            radius = at if at is not None else particles.species_radii.get(name, float(DEFAULT_MIN_DIST))
            rows = particles.rows(np.flatnonzero(species == k))
            compared.append(ObjectComparison(name, comparison(rows, plan.for_object(radius), read.applied)))
        if plan.run.metric != "czii":
            return CopickCompared(tuple(compared), None)
        radius_of = _czii_radius(particles, plan.default, plan.by_object)
        czii = czii_metric(particles, plan.run, radius_of, read.scores, read.higher)
        warnings = tuple(_unused_weights(czii))
        for message in warnings:
            self.log(message, "warning")
        return CopickCompared(tuple(compared), czii, warnings)

    def write(self, plan: CopickComparePlan, read: ComparedInputs, decided: CopickCompared) -> dict[str, list[str]]:
        """Nothing: nothing is decided, no file written into the project (its picture is the report's)."""
        return {}

    def summarise(
        self, plan: CopickComparePlan, read: ComparedInputs, decided: CopickCompared, written: dict[str, list[str]]
    ) -> CopickComparison:
        """The summary: the objects compared, those named without picks, the czii score, the warnings."""
        named = {n.strip() for n in (plan.objects or "").split(",") if n.strip()}
        return CopickComparison(
            outputs=Outputs.of(written),
            config=str(plan.config),
            reference=plan.reference,
            candidate=plan.candidate,
            objects=decided.objects,
            objects_without_picks=tuple(sorted(named - set(read.particles.species_names))),
            czii=decided.czii,
            warnings=(*read.warnings, *decided.warnings),
        )

    def report(
        self, plan: CopickComparePlan, summary: CopickComparison, written: dict[str, list[str]]
    ) -> CopickComparison:
        """The verdict (nothing decided: "compared", its line the objects' agreement) and ``--plot-czii``'s page."""
        word, kind = ("compared", "good") if summary.objects else ("nothing compared", "warn")
        summary = replace(summary, verdict=RunVerdict(word, kind, line=summary.headline()))
        if plan.plot is None or summary.czii is None:
            return summary
        shown = Parameters(dict(plan.run.given), plan.run.at_default)
        rows = czii_rows(summary.czii, "Runs")
        title = "copick evaluation comparepicks"
        return replace(summary, plots=tuple(write_czii_report(plan.plot, summary.czii, title, shown, rows, plan.force)))


@dataclass(frozen=True)
class CopickCompared:
    """comparepicks' decide stage: each object's comparison, the czii score, and the warnings it adds."""

    objects: tuple[ObjectComparison, ...]
    czii: CziiScore | None
    warnings: tuple[str, ...] = ()


def compare_copick_picks(
    config: StrPath,
    reference: str,
    candidate: str,
    radius: float | SpeciesDistances | dict[str, float] | None = None,
    beta: float | None = None,
    objects: str | None = None,
    transform: Sequence[str] = (),
    log: Log = _silent,
    over: str = "shared",
    metric: str = "matching",
    multiplier: float = CHALLENGE_MULTIPLIER,
    weights: dict[str, float] | None = None,
    czii_weights: str = "present",
    plot: StrPath | None = None,
    force: bool = False,
) -> CopickComparison:
    """Compares two pick sets of a copick project (``user/session``), each particle object on its own.

    ``candidate`` is scored against ``reference`` (precision, recall, F-beta). ``radius``: a
    match's distance in Å, by default each object's radius (20 Å for an object without one);
    a dict (or ``--radius``'s ``NAME=Å`` pairs) gives named objects their own, the others theirs;
    ``objects``: those compared, names separated by commas (by default every particle object
    either set has picks of); ``transform``: ``--transform``'s, a set's centres moved first;
    ``over``: the runs scored, "shared" (those both sets have picks on) or "all"; ``metric``,
    ``multiplier``, ``weights``, ``czii_weights``: :class:`~cryodedup.options.CompareOptions`' (with "czii", the
    challenge's score over every object, each at its radius x ``multiplier``: ``czii``); ``plot``,
    ``force``: ``--plot-czii``'s folder and whether it may be overwritten.
    Returns per object what :func:`compare_picks` returns, the project's runs as its micrographs.
    The door: the values checked and made the plan here, once; then the stages run.
    """
    default, by_object = _object_radii(radius)
    how: dict[str, Any] = {
        "beta": beta,
        "over": over,
        "metric": metric,
        "multiplier": multiplier,
        "weights": weights or {},
        "czii_weights": czii_weights,
    }
    for at in (default, *by_object.values()):
        at_default = float(DEFAULT_MIN_DIST) if at is None else at
        CompareOptions(reference=reference, radius=at_default, **how).check()
    if candidate == reference:
        raise OptionError(f"--reference and --candidate name one pick set, {reference}: give two to compare")
    # (czii's sweep reads the scores: copick's points carry one each, or none read as NaN)
    reading = ParticleOptions(
        score="auto" if metric == "czii" else "none", copick_objects=objects, transform=list(transform)
    )
    the_plan = CopickComparePlan(
        config=Path(config),
        reference=reference,
        candidate=candidate,
        default=default,
        by_object=by_object,
        objects=objects,
        read=plan(reading).read,
        transform=tuple(reading.transform),
        run=compare_plan(CompareOptions(reference=reference, **how)),
        plot=None if plot is None else Path(plot),
        force=force,
    )
    stages: shape.Stages[CopickComparePlan, ComparedInputs, CopickCompared, dict[str, list[str]], CopickComparison]
    stages = CopickCompareStages(log)
    return shape.run(the_plan, stages)


def _czii_radius(particles: ParticleSet, default: float | None, by_object: dict[str, float]) -> Callable[[str], float]:
    """Each copick object's radius in the CZII metric: ``--radius``'s, else the challenge's for its species.

    The challenge scores its species at its own radii, whatever a project's config says (its
    metric's ``particle_radius``); any other object at its copick radius, and one without a
    radius is refused naming ``--radius NAME=Å`` (a silent 20 Å would score it at the wrong distance).
    """

    def radius_of(name: str) -> float:
        at = by_object.get(name, default)
        if at is None:
            at = CHALLENGE_RADII.get(name, particles.species_radii.get(name))
        if at is None:
            raise CryodedupError(
                f"--metric czii: object {name!r} has no radius in the copick config and is no species the CZII "
                f"challenge scores: give its radius with --radius {name}=Å"
            )
        return float(at)

    return radius_of


def _moved(applied: list[dict[str, str]]) -> tuple[MovedBy, ...]:
    """The inputs ``--transform`` moved, as the registration names them."""
    return tuple(MovedBy(**moved) for moved in applied)


def _object_radii(radius: float | SpeciesDistances | dict[str, float] | None) -> tuple[float | None, dict[str, float]]:
    """``--radius`` as a distance for the objects not named (None: their own radius) and each named object's."""
    if isinstance(radius, SpeciesDistances):
        return radius.default, dict(radius.by_species)
    if isinstance(radius, dict):
        return None, dict(radius)
    return radius, {}


def comparison(particles: ParticleSet, run: CompareRun, applied: tuple[MovedBy, ...] = ()) -> Comparison:
    """The comparison of a set's two inputs (see :func:`compare_picks`); ``applied``: the inputs ``--transform`` moved.

    Scored over the micrographs both inputs cover (``run.over`` "shared": a micrograph one
    input never ran on says nothing of how well it picks), or over every one (``all``); the
    summary says what was left out. The Jaccard index is the one-to-one matching's,
    matched / (|A| + |B| - matched); the consensus's count (picks with a pick of the other
    within the radius, the two sides averaged) is the ``neighbour_agreement``.
    """
    radius = run.radius
    n_mics = len(particles.mic_names)
    groups = np.asarray(particles.groups).astype(np.int64)
    input_of = np.asarray(particles.input_of)
    rows_a, rows_b = np.flatnonzero(input_of == 0), np.flatnonzero(input_of == 1)
    centres = np.asarray(particles.centres)
    pairs = pairs_within(centres[rows_a], groups[rows_a], centres[rows_b], groups[rows_b], radius)
    partner = maximum_matching(len(rows_a), len(rows_b), pairs)
    picks = np.stack([np.bincount(groups[rows_a], minlength=n_mics), np.bincount(groups[rows_b], minlength=n_mics)])
    matched = np.bincount(groups[rows_a][partner >= 0], minlength=n_mics)
    covered = picks.T > 0 if particles.coverage is None else np.asarray(particles.coverage) | (picks.T > 0)
    shared: np.ndarray = np.asarray(covered.all(axis=1))
    scored: np.ndarray = shared if run.over == "shared" else picks.sum(axis=0) > 0
    picks_scored = picks[:, scored].sum(axis=1)
    n_matched = int(matched[scored].sum())
    reference = None if run.reference is None else input_named(run.reference, particles, "--reference")
    beta = run.beta

    def scores(n: int, counts: np.ndarray) -> Scores | None:
        """The candidate's scores of ``n`` matches of ``counts`` picks (each input's), with a reference."""
        return None if reference is None else _scores(n, counts[1 - reference], counts[reference], beta)

    per_mic = np.array([_jaccard(int(matched[g]), picks[0, g], picks[1, g]) for g in range(n_mics)])
    defined = np.flatnonzero(scored & picks.all(axis=0))
    worst = defined[np.argsort(per_mic[defined], kind="stable")][:LEAST]
    registered = pair_registration(particles, 0, 1, radius)
    return Comparison(
        inputs=(particles.inputs[0], particles.inputs[1]),
        radius_A=radius,
        picks=(len(rows_a), len(rows_b)),
        micrographs=int(np.count_nonzero(picks.sum(axis=0))),
        micrographs_shared=int(np.count_nonzero(shared)),
        scored_over=run.over,
        micrographs_scored=int(np.count_nonzero(scored)),
        picks_scored=(int(picks_scored[0]), int(picks_scored[1])),
        jaccard=_rounded(_jaccard(n_matched, *picks_scored)),
        matched=n_matched,
        unmatched=(int(picks_scored[0] - n_matched), int(picks_scored[1] - n_matched)),
        neighbour_agreement=_rounded(_neighbour_agreement(particles, scored, radius)),
        registration=registered,
        pixel_sizes=particles.pixel_sizes,
        tomography=centres.shape[1] == 3,
        left_out=_left_out(picks, scored),
        reference=None
        if reference is None
        else ReferenceScores(
            particles.inputs[reference], beta, _reference_scores(picks, picks_scored, n_matched, reference, beta)
        ),
        per_micrograph=tuple(
            MicrographAgreement(
                micrograph=particles.mic_names[g],
                picks=(int(picks[0, g]), int(picks[1, g])),
                shared=bool(shared[g]),
                jaccard=_rounded(_jaccard(int(matched[g]), picks[0, g], picks[1, g])),
                matched=int(matched[g]),
                unmatched=(int(picks[0, g] - matched[g]), int(picks[1, g] - matched[g])),
                scores=scores(int(matched[g]), picks[:, g]),
            )
            for g in np.flatnonzero(picks.sum(axis=0))
        ),
        least_agreement=tuple(LeastAgreement(particles.mic_names[g], _rounded(per_mic[g])) for g in worst),
        transforms_applied=applied,
    )


def _reference_scores(picks: np.ndarray, scored: np.ndarray, matched: int, reference: int, beta: float) -> Scores:
    """The candidate's scores against input ``reference`` over the ``scored`` picks (each input's).

    A candidate that picked nothing at all found none of the reference's picks: recall 0 of all
    of them (not undefined because no micrograph is shared).
    """
    candidate, every = 1 - reference, picks.sum(axis=1)
    if every[candidate] == 0 and every[reference] > 0:
        return _scores(0, 0, int(every[reference]), beta)
    return _scores(matched, int(scored[candidate]), int(scored[reference]), beta)


def _left_out(picks: np.ndarray, scored: np.ndarray) -> LeftOut | None:
    """The micrographs with picks not ``scored``, and each input's picks on them; None where none is left out."""
    left_out = picks[:, ~scored].sum(axis=1)
    if not left_out.any():
        return None
    return LeftOut(int(np.count_nonzero((picks.sum(axis=0) > 0) & ~scored)), (int(left_out[0]), int(left_out[1])))


def _jaccard(matched: int, n_a: int, n_b: int) -> float:
    """The Jaccard index of two pick sets matched one to one: matched / (|A| + |B| - matched); NaN of two empty."""
    union = int(n_a) + int(n_b) - matched
    return matched / union if union else float("nan")


def _neighbour_agreement(particles: ParticleSet, scored: np.ndarray, radius: float) -> float:
    """The consensus's agreement over the ``scored`` micrographs: picks with a pick of the other within the radius.

    (m(A,B) + m(B,A)) / 2 over |A| + |B| less that (``jaccard_matrices``): what the particle
    job's consensus and its report's agreement picture count; above the one-to-one Jaccard where
    one pick neighbours several.
    """
    groups = np.asarray(particles.groups).astype(np.int64)
    input_of = np.asarray(particles.input_of)
    _, confirmed_by = dedup_and_support_masks(
        groups, particles.centres, input_of, DuplicateRule(radius), want_suppressed_by=False
    )
    counted = scored[groups].astype(np.int64)  # (group 1: the scored micrographs; 0: the others)
    return float(jaccard_matrices(confirmed_by, input_of, counted, 2, 2)[1, 0, 1])


def _scores(matched: int, predicted: int, truth: int, beta: float) -> Scores:
    """Precision, recall and F-beta of ``predicted`` picks against ``truth`` picks, ``matched`` one to one."""
    precision = matched / predicted if predicted else None
    recall = matched / truth if truth else None
    score = f_beta(precision or 0.0, recall or 0.0, beta) if predicted or truth else None
    return Scores(_rounded(precision), _rounded(recall), _rounded(score))


def _rounded(value: float | None) -> float | None:
    """A fraction to 4 decimals; None where undefined (NaN)."""
    return None if value is None or np.isnan(value) else round(float(value), 4)


#: The points of a precision-recall curve the summary carries per species (thinned evenly beyond).
CURVE_POINTS = 1000


def _candidate_scores(
    paths: list[Path], particles: ParticleSet, reference: str | None, reading: ReadPlan, log: Log
) -> tuple[np.ndarray | None, bool]:
    """The candidate's own scores for czii's sweep, per row of ``particles`` (NaN on the reference's), and their order.

    The two inputs are read without scores (a reference without any would make the readers drop
    the candidate's too); the candidate is read again alone with its own. None where it has none,
    or where its rows do not come back as they were.
    """
    assert reference is not None  # (compare_plan's check: czii names one)
    candidate = 1 - input_named(reference, particles, "--reference")
    request = reading.request
    scored = replace(request.score_read, score="auto")
    alone = replace(reading, request=replace(request, score_read=scored, moves_inputs=False))
    ignored: list[str] = []  # (a candidate without scores is said by the summary: not swept)
    read = read_inputs([paths[candidate]], Path("."), alone, ignored.append, log, writes=False)
    rows = np.flatnonzero(np.asarray(particles.input_of) == candidate)
    names = [read.mic_names[g] for g in np.asarray(read.groups)]
    if (
        read.scores is None
        or len(names) != len(rows)
        or names != [particles.mic_names[g] for g in np.asarray(particles.groups)[rows]]
    ):
        return None, True
    scores = np.full(len(particles.groups), np.nan)
    scores[rows] = read.scores
    return scores, read.higher_is_better


def czii_metric(
    particles: ParticleSet,
    run: CompareRun,
    radius_of: Callable[[str], float],
    scores: np.ndarray | None,
    higher: bool = True,
) -> CziiScore:
    """The CZII challenge's score of the candidate against ``run.reference`` (:mod:`cryodedup.algo.czii`).

    Each species the reference has picks of is scored at ``radius_of(name)`` x the multiplier,
    over the tomograms the reference has picks on (the challenge's: the experiments of its
    solution), or every one with ``--over all``; the candidate's picks elsewhere are left out.
    With ``scores`` on every candidate pick (the rows of ``particles``), the score threshold is
    swept (picks kept at or above it; at or below it where a lower score is better, ``higher`` False).
    """
    if run.reference is None:
        raise CryodedupError("--metric czii scores one input against the other: name the truth with --reference")
    reference = input_named(run.reference, particles, "--reference")
    beta = run.beta
    input_of = np.asarray(particles.input_of)
    groups = np.asarray(particles.groups).astype(np.int64)
    species = np.zeros(len(groups), dtype=np.int64) if particles.species is None else np.asarray(particles.species)
    names = list(particles.species_names) or ["picks"]
    is_reference = input_of == reference
    tomograms = np.unique(groups[is_reference]) if run.over != "all" else np.unique(groups)
    scored = np.isin(groups, tomograms)
    centres = np.asarray(particles.centres, dtype=np.float64)
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64) * (1 if higher else -1)  # (swept as higher is better)
    sweeps = scores is not None and bool(np.isfinite(scores[~is_reference & scored]).all())
    classes = []
    for k in np.unique(species[is_reference]):
        name = names[int(k)]
        ref = np.flatnonzero(is_reference & (species == k))
        cand = np.flatnonzero(~is_reference & scored & (species == k))
        radius = float(radius_of(name))
        threshold = radius * run.multiplier
        cand_scores = scores[cand] if sweeps and scores is not None else None
        hits = class_hits(centres[ref], groups[ref], centres[cand], groups[cand], threshold, cand_scores)
        counted = class_scores(hits.tp, hits.fp, hits.fn, beta)
        one = SpeciesScore(
            species=name,
            radius_A=radius,
            threshold_A=threshold,
            weight=run.weight_of(name),
            references=hits.references,
            candidates=hits.candidates,
            tp=hits.tp,
            fp=hits.fp,
            fn=hits.fn,
            precision=_rounded(counted.precision),
            recall=_rounded(counted.recall),
            f_beta=_rounded(counted.f_beta),
            localisation_error_A=_rounded(float(np.mean(hits.nearest[hits.hit]))) if hits.tp else None,
            sweep=(
                _sweep_summary(threshold_sweep(hits, cand_scores, beta), 1 if higher else -1)
                if cand_scores is not None and len(cand_scores)
                else None
            ),
        )
        classes.append((one, counted.f_beta))
    not_scored = sorted(set(run.weights_named) - {c.species for c, _ in classes})  # (a misspelt name, say)
    total = run.weight_total  # (--czii-weights all: the challenge's code's denominator)
    if total is not None:  # (a weight of no challenge species and nothing scored is used nowhere: not divided by)
        total -= sum(run.weight_of(name) for name in not_scored if name not in CHALLENGE_WEIGHTS)
    score = weighted_score({c.species: f for c, f in classes}, {c.species: c.weight for c, _ in classes}, total)
    return CziiScore(
        beta=beta,
        multiplier=run.multiplier,
        tomograms_scored=len(tomograms),
        scored_over="all" if run.over == "all" else "reference",
        score=_rounded(score),
        swept=sweeps,
        higher_is_better=higher,
        species=tuple(c for c, _ in classes),
        weights_not_scored=tuple(not_scored),
        divided_by=total if total is not None else sum(c.weight for c, _ in classes),
        weights_over="all" if total is not None else "present",
    )


def _unused_weights(czii: CziiScore) -> list[str]:
    """A warning naming the ``--weights`` of species the reference has no picks of (a misspelt name, say).

    With ``--czii-weights all`` a challenge species' weight is used, scored 0, in what the score divides by (as
    the challenge's code does): said so; any other such weight is used nowhere (issue 99: it was divided by).
    """
    named, scored = czii.weights_not_scored, [c.species for c in czii.species]
    divided = [name for name in named if czii.weights_over == "all" and name in CHALLENGE_WEIGHTS]
    unused = [name for name in named if name not in divided]
    said = []
    if divided:
        said.append(
            f"--weights names {', '.join(divided)}, which the reference has no picks of: scored 0, "
            f"{'its weight' if len(divided) == 1 else 'their weights'} counted in what --czii-weights all divides by"
        )
    if unused:
        close = [match for name in unused for match in difflib.get_close_matches(name, scored, n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        said.append(
            f"--weights names {', '.join(unused)}, which the reference has no picks of{hint}: its species are "
            f"{', '.join(scored) or 'none'}; those weights are not used"
        )
    return said


def _sweep_summary(sweep: ThresholdSweep, sign: int) -> Sweep:
    """A species' sweep for the summary: its area, best threshold, and its curve (at most CURVE_POINTS points).

    ``sign``: -1 where the scores were swept negated (a lower score better): thresholds as the scores read.
    """
    n = len(sweep.thresholds)
    at = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(np.int64))
    best = int(np.flatnonzero(sweep.thresholds == sweep.best_threshold)[0])
    return Sweep(
        average_precision=_rounded(sweep.average_precision),
        best_threshold=sign * float(sweep.best_threshold),
        best_f_beta=_rounded(sweep.best_f_beta),
        best_precision=_rounded(float(sweep.precision[best])),
        best_recall=_rounded(float(sweep.recall[best])),
        thresholds=n,
        curve=Curve(
            threshold=tuple(sign * float(t) for t in sweep.thresholds[at]),
            precision=tuple(_rounded(float(v)) for v in sweep.precision[at]),
            recall=tuple(_rounded(float(v)) for v in sweep.recall[at]),
        ),
    )
