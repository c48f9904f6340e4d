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
import time
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
from ..report.compare_metric import Curve, CziiScore, SpeciesScore, Sweep
from ..report.comparison import (
    CompareSummary,
    Comparison,
    CopickComparison,
    LeastAgreement,
    LeftOut,
    MicrographAgreement,
    ObjectComparison,
    ReferenceScores,
    Scores,
)
from ..report.sections.registration import MovedBy
from .input_checks import check_centres
from .particles.plan import ReadPlan, plan
from .particles.read import read_inputs
from .registration import apply_transforms, input_named, pair_registration

__all__ = ["compare_copick_picks", "compare_picks", "compare_plan"]

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


def compare_picks(
    inputs: Iterable[StrPath], options: CompareOptions, reading: ParticleOptions | None = None, log: Log = _silent
) -> CompareSummary:
    """Compares two pick sets (any inputs the particle job reads); ``reading``: how they are read.

    Returns the summary: per micrograph the picks of each, their Jaccard and one-to-one
    matches; the registration; with ``options.reference``, precision, recall and F-beta.
    """
    start = time.perf_counter()
    run = compare_plan(options)
    reading = reading or ParticleOptions()
    reading.registration = "ignore"
    reading.score = "none"  # (nothing is ranked: the readers' warnings of a missing score do not apply)
    reading.check()
    paths = [Path(p) for p in inputs]
    if len(paths) != 2:
        raise OptionError(f"compare takes two inputs (two pickers' outputs or particle files), got {len(paths)}")
    warnings: list[str] = []  # (said once the comparison stands: an error is said alone)
    read = plan(reading).read  # (the reading options resolved once)
    particles = read_inputs(paths, Path("."), read, warnings.append, log, writes=False)
    applied = _moved(apply_transforms(particles, reading.transform))
    check_centres(particles)
    compared = comparison(particles, run, applied)
    czii = None
    if run.metric == "czii":
        scores, higher = _candidate_scores(paths, particles, run.reference, read, log)
        czii = czii_metric(particles, run, partial(czii_radius, run.given_radius), scores, higher)
        warnings.extend(_unused_weights(czii))
    for message in warnings:
        log(message, "warning")
    return CompareSummary(compared, czii, tuple(warnings), round(time.perf_counter() - start, 3))


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
) -> CopickComparison:
    """Compares two pick sets of a copick project (``user/session``), each particle object on its own.

    ``candidate`` is scored against ``reference`` (precision, recall, F-beta). ``radius``: a
    match's distance in Å, by default each object's radius (20 Å for an object without one);
    a dict (or ``--radius``'s ``NAME=Å`` pairs) gives named objects their own, the others theirs;
    ``objects``: those compared, names separated by commas (by default every particle object
    either set has picks of); ``transform``: ``--transform``'s, a set's centres moved first;
    ``over``: the runs scored, "shared" (those both sets have picks on) or "all"; ``metric``,
    ``multiplier``, ``weights``, ``czii_weights``: :class:`~cryodedup.options.CompareOptions`' (with "czii", the
    challenge's score over every object, each at its radius x ``multiplier``: ``czii``).
    Returns per object what :func:`compare_picks` returns, the project's runs as its micrographs.
    """
    from ..formats.copick import read_copick_pick_sets

    start = time.perf_counter()
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
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        log(message, "warning")

    # (czii's sweep reads the scores: copick's points carry one each, or none read as NaN)
    reading = ParticleOptions(
        score="auto" if metric == "czii" else "none", copick_objects=objects, transform=list(transform)
    )
    request = plan(reading).read.request
    particles = read_copick_pick_sets(
        Path(config),
        [reference, candidate],
        replace(
            request.copick,
            sized=frozenset(by_object),
            unsized_at=float(DEFAULT_MIN_DIST if default is None else default),
        ),
        request.score_read,
        request.row_read.orientations,
        warn,
        log,
    )
    applied = _moved(apply_transforms(particles, reading.transform))
    check_centres(particles)
    species = np.asarray(particles.species)
    compared = []
    absent = [name for name in by_object if name not in particles.species_names]
    if absent:
        warn(f"--radius {absent[0]}=...: no picks of {absent[0]!r} in either pick set, so it is not compared")
    radii = {}
    for k, name in enumerate(particles.species_names):
        at = by_object.get(name, default)
        radii[name] = at if at is not None else particles.species_radii.get(name, float(DEFAULT_MIN_DIST))
        run = compare_plan(CompareOptions(reference=reference, radius=radii[name], **how))
        compared.append(ObjectComparison(name, comparison(particles.rows(np.flatnonzero(species == k)), run, applied)))
    named = sorted({n.strip() for n in (objects or "").split(",") if n.strip()} - set(particles.species_names))
    czii = None
    if metric == "czii":
        czii = _copick_czii(particles, compare_plan(CompareOptions(reference=reference, **how)), default, by_object)
        for message in _unused_weights(czii):
            warn(message)
    seconds = round(time.perf_counter() - start, 3)
    return CopickComparison(
        str(config), reference, candidate, tuple(compared), tuple(named), czii, tuple(warnings), seconds
    )


def _copick_czii(
    particles: ParticleSet, run: CompareRun, default: float | None, by_object: dict[str, float]
) -> CziiScore:
    """The CZII score of a copick project's pick sets, each object at its radius (:func:`_czii_radius`)."""
    scores = None if particles.scores is None else np.asarray(particles.scores)
    radius_of = _czii_radius(particles, default, by_object)
    return czii_metric(particles, run, radius_of, scores, particles.higher_is_better)


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
    total = run.weight_total  # (--czii-weights all: the challenge's code's denominator)
    score = weighted_score({c.species: f for c, f in classes}, {c.species: c.weight for c, _ in classes}, total)
    not_scored = sorted(set(run.weights_named) - {c.species for c, _ in classes})  # (a misspelt name, say)
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
    """A warning naming the ``--weights`` of species the reference has no picks of (a misspelt name, say)."""
    unused, scored = czii.weights_not_scored, [c.species for c in czii.species]
    if not unused:
        return []
    close = [match for name in unused for match in difflib.get_close_matches(name, scored, n=1)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return [
        f"--weights names {', '.join(unused)}, which the reference has no picks of{hint}: its species are "
        f"{', '.join(scored) or 'none'}; those weights are not used"
    ]


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
