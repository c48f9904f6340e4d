"""The particle job: remove duplicate particles (or picks), whatever their format.

:mod:`cryodedup.formats.particles` hands the inputs to their format's module, which reads
them into one :class:`~cryodedup.particle_set.ParticleSet`; this module decides which rows to keep
from that structure alone (or tells the STAR reader to decide while it scans:
:func:`one_pass`), hands the mask to the set's writer, and makes the summary and the pictures.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ...algo.audit import (
    check_halfsets,
    duplicate_criterion,
    halfset_audit,
    halfsets_by_micrograph,
    halfsets_report,
    symmetry_copies,
)
from ...algo.consensus import consensus_report, picks_per_group
from ...algo.dedup import (
    MAX_INPUTS,
    dedup,
    dedup_and_support_masks,
    nearest_neighbour_distances,
    popcount,
    scales_differ,
    stretched,
)
from ...algo.density import duplicate_density, rejected_as_duplicates
from ...algo.filaments import filament_summary
from ...algo.particle_names import collision_cause, name_collisions
from ...algo.priority import (
    PriorityCounts,
    Ties,
    count_without_score,
    input_levels,
    preference,
    preferred_inputs,
    priority_summary,
    scores_without_none,
    tied_groups,
)
from ...algo.same_image import images_for_the_core, same_image_pairs, same_image_summary, support_of_images
from ...algo.species import percentiles_within
from ...errors import CryodedupError
from ...formats.micrograph_lists import count_absent, find_image, search_roots
from ...formats.particles import read_particle_files
from ...formats.sniff import is_copick_config, is_glob, is_picker_output
from ...labels import input_labels
from ...options import ParticleOptions
from ...outputs import StrPath, all_outputs_at_once, warn_earlier_report
from ...particle_set import Log, OnePass, ParticleSet, StarFacts, Warn
from ...records import dataclass
from ...report.summary import report_rows
from ...resolve.datasets import check_shared_names, dataset_labels, separate_datasets
from ...threads import Background
from ..input_checks import check_centres, check_input_paths, refuse_angles_not_finite
from ..registration import apply_transforms, check_registration, refuse_transform_into_combined_output
from ..species import assign_species, decide_several_species, species_not_confirmable, species_summary

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ...report.particle_base import ParticleDetails
    from ...report.particle_figures import MicrographImage


T = TypeVar("T")


def _silent(message: str, level: str) -> None:
    pass


def read_inputs(inputs: list[Path], outdir: Path | None, options: ParticleOptions, warn: Warn, log: Log) -> ParticleSet:
    """The inputs read by the module of their format (all inputs must share one), after the paths are checked.

    ``outdir`` is None only for a copick project whose kept picks go back into it alone.
    The STAR reader asks :func:`one_pass` whether it decides while it scans.
    Scores that mean "none" (RELION's -999 figure of merit) are NaN in the set: not finite,
    they rank last, and the score-scale comparison and pictures leave them out.
    """
    check_input_paths(inputs)
    if len(inputs) > MAX_INPUTS:
        raise CryodedupError(
            f"{len(inputs)} inputs: at most {MAX_INPUTS}, since each pick records which inputs confirm it as one "
            "bit per input of a 64-bit mask; give one picker's files as one input (a folder or a quoted glob)"
        )
    particles = read_particle_files(inputs, outdir, options, warn, log, lambda facts: one_pass(options, facts))
    if particles.scores is not None:
        particles.scores = scores_without_none(particles.scores, particles.score_label)
    return particles


def one_pass(options: ParticleOptions, facts: StarFacts) -> OnePass | None:
    """Whether the STAR reader decides while it scans, and the rule: the one place this is decided.

    One pass makes a plain duplicate removal of one file, pictures included (their example
    micrographs decided again): no audit, half-set rewrite, orientations, consensus support,
    rank normalisation or ``--min-dist-z``, and no half-sets (their audit), filaments or
    subtomograms in the rows, each of which needs every pair of duplicates or a second look
    at the rows (docs/design.md section 5). ``facts``: what the reader found in the headers.
    """
    plain = not (options.audit or options.max_angle is not None or options.halfsets != "keep")
    plain = plain and options.min_support == 1 and options.score_normalize == "none" and options.min_dist_z is None
    plain = plain and facts.inputs == 1 and not (facts.halfsets or facts.filaments or facts.subtomograms)
    plain = plain and not (options.species_column or options.cross_species or options.species_min_dist)
    plain = plain and options.same_image != "reject"  # (rows of one image may be micrographs apart in the file)
    return OnePass(options.min_dist, options.remove_entirely, options.seed) if plain else None


#: Scores a picker gives its picks, each picker on its own scale (RELION's LoG about 0.1,
#: its template matching 0-3, topaz logits; CryoSPARC's blob and template pickers).
PICKER_SCORES = ("rlnAutopickFigureOfMerit", "pick_stats/ncc_score", "pick_stats/power")


def raw_picker_scores(particles: ParticleSet, options: ParticleOptions) -> str | None:
    """What to say when several inputs' particles are ranked by a picker's score as read, else None.

    Two pickers' figures of merit are not on one scale, so the picker with the larger
    numbers wins nearly every group of duplicates, whatever its picks are worth; several
    files of one picker's particles are (their distributions are compared:
    :func:`cryodedup.algo.dedup.scales_differ`).
    """
    label, n_inputs = particles.score_label, len(particles.inputs)  # (one input: no rows counted, 20 M instructions)
    if label not in PICKER_SCORES or particles.scores is None or options.score_normalize == "rank" or n_inputs < 2:
        return None
    n_ranked = int(np.count_nonzero(np.bincount(particles.input_of, minlength=n_inputs)))
    if n_ranked < 2:
        return None
    per_input = [particles.scores[particles.input_of == k] for k in range(n_inputs)]
    how = scales_differ(per_input, input_labels(particles.inputs))
    if how is None:  # one picker's particles in several files: one scale
        return None
    return (
        f"the {n_ranked} inputs' particles are ranked by {label} as read, a picker's figure of merit, and "
        f"their scores are on different scales ({how}): the input with the larger numbers wins nearly every "
        "group of duplicates; rank by a score all inputs share after classification "
        "(--score rlnMaxValueProbDistribution) or by each input's percentiles (--score-normalize rank)"
    )


def warn_inputs_apart(particles: ParticleSet, warn: Warn) -> None:
    """Warn about an input that shares no micrograph with the others.

    Picks are compared only on the same micrograph, so such an input can neither duplicate
    nor confirm another; most often its files are one picker's output given as several
    inputs, where one input (a folder or a quoted glob) was meant.
    """
    n_inputs = len(particles.inputs)
    if n_inputs < 2:
        return
    # present[k, g]: input k has a pick on micrograph g (one pass of the core, no sort of millions of ids)
    present = picks_per_group(particles.input_of, particles.groups, len(particles.mic_names), n_inputs).T > 0
    inputs_on = present.sum(axis=0)
    for k in range(n_inputs):
        mine = present[k]
        if mine.any() and not (inputs_on[mine] > 1).any():
            warn(
                f"{particles.inputs[k]} shares no micrograph with the other inputs, so none of its picks can "
                "duplicate or confirm theirs; if these are one picker's files, give them as one input "
                "(a folder or a quoted glob)"
            )


@dataclass
class Decision:
    """Which rows are kept, and why the others are not.

    ``suppressed_by`` is the kept-first duplicate of a row rejected as a duplicate (-1
    otherwise), None unless pictures need it; ``confirmed_by`` is, per row, the bitmask of inputs with a row within the
    minimum distance on its micrograph, its own input included (None with one input);
    ``unconfirmed`` marks the rows that no duplicate displaced but that too few inputs
    confirm (None without ``--min-support`` above 1); ``not_confirmable`` the rows that no
    duplicate displaced on micrographs fewer than ``--min-support`` inputs ran on (kept,
    or rejected with ``--uncovered reject``; None without ``--min-support`` above 1);
    ``covered`` whether input k ran on micrograph g (several inputs only);
    ``ranked_scores`` are the scores compared, when not as read (``--score-normalize
    rank``: percentiles within each input); ``levels`` each input's priority level and
    ``priority`` the groups each level decided (``DedupResult.priority``).
    """

    keep: np.ndarray
    suppressed_by: np.ndarray | None
    confirmed_by: np.ndarray | None
    unconfirmed: np.ndarray | None = None
    ranked_scores: np.ndarray | None = None
    not_confirmable: np.ndarray | None = None
    covered: np.ndarray | None = None
    #: Per row, the kept pick of another species that displaced it (--cross-species), else -1.
    displaced_by: np.ndarray | None = None
    #: Each input's priority level (``--prefer``; lower first), None without priorities.
    levels: np.ndarray | None = None
    #: The groups each level decided, as the core counted them (None without priorities).
    priority: PriorityCounts | None = None

    @property
    def duplicate(self) -> np.ndarray:
        """The rows rejected as duplicates by the distance rule (not those a consensus rejected)."""
        return rejected_as_duplicates(self.keep, self.unconfirmed, self.not_confirmable)

    @property
    def support(self) -> np.ndarray | None:
        """Number of distinct inputs confirming each row (its own included)."""
        return None if self.confirmed_by is None else popcount(self.confirmed_by)


def rank_percentiles(scores: np.ndarray, input_of: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Each score as its percentile among its own input's scores, in (0, 1], 1 best (NaN stays NaN)."""
    return percentiles_within(scores, input_of, higher_is_better)


def decide(particles: ParticleSet, options: ParticleOptions, log: Log = _silent) -> Decision:
    """Which rows to keep: each species on its own, then (``--cross-species``) between species.

    One species (no species given) is decided by :func:`decide_species`, as it always was.
    """
    if particles.species is None:
        return decide_species(particles, options, log)
    return decide_several_species(particles, options, lambda rows, opts: decide_species(rows, opts, log))


def decide_species(particles: ParticleSet, options: ParticleOptions, log: Log = _silent) -> Decision:
    """Which rows of one species to keep.

    Duplicates are removed by score-ordered greedy suppression over all inputs; then, with
    ``min_support`` K > 1, a kept row on a micrograph that at least K inputs ran on stays
    kept only if rows of at least K distinct inputs (its own included, kept or suppressed)
    lie within ``min_dist``. Elsewhere it cannot be confirmed: it stays kept, or is rejected
    with ``--uncovered reject``.
    """
    n_inputs = len(particles.inputs)
    if options.min_support > n_inputs:
        inputs = "there is only 1 input" if n_inputs == 1 else f"there are only {n_inputs} inputs"
        raise CryodedupError(f"--min-support {options.min_support}: {inputs}; give each picker as its own input")
    scores, higher = particles.scores, particles.higher_is_better
    if options.score_normalize == "rank" and scores is not None:
        scores, higher = rank_percentiles(scores, particles.input_of, higher), True
    ranked = None if scores is particles.scores else scores
    mics = len(particles.mic_names)
    log(f"removing duplicates among {len(particles):,} particles on {mics:,} micrograph{'s' * (mics != 1)}", "info")
    if particles.decided is not None:  # decided while read, as read_inputs asked (one_pass)
        return Decision(particles.decided, None, None)
    if options.min_dist_z is not None and particles.centres.shape[1] != 3:
        raise CryodedupError(
            "--min-dist-z: these particles are 2-D (micrograph coordinates, no z); it is for subtomograms"
        )
    levels = priority_levels(particles, options)
    rule = _duplicate_rule(particles, options)
    rule["higher_is_better"] = higher
    groups, centres = particles.groups, particles.centres  # (the core walks micrographs that share an image as one)
    if n_inputs == 1:
        priorities = None if levels is None else np.zeros(len(particles), np.uint32)  # (one input: one level)
        result = dedup(groups, centres, scores, priorities=priorities, **rule)
        return Decision(
            result.keep, result.suppressed_by, None, ranked_scores=ranked, levels=levels, priority=result.priority
        )
    # Each input's level, looked up by the core through the rows' inputs (no array of a level per row).
    rule["input_priorities"] = levels
    result, confirmed_by = dedup_and_support_masks(groups, centres, scores, particles.input_of, **rule)
    confirmed_by = support_of_images(rule["images"], confirmed_by)  # (reject: one image's rows confirm as one)
    covered = coverage(particles, options.coverage)
    if options.min_support <= 1:
        return Decision(
            result.keep, result.suppressed_by, confirmed_by, None, ranked, None, covered, None, levels, result.priority
        )
    supported = popcount(confirmed_by) >= options.min_support
    confirmable = (covered.sum(axis=1) >= options.min_support)[particles.groups]
    not_confirmable = result.keep & ~confirmable
    keep = result.keep & (supported | (not_confirmable if options.uncovered == "keep" else False))
    unconfirmed = result.keep & confirmable & ~supported
    return Decision(
        keep,
        result.suppressed_by,
        confirmed_by,
        unconfirmed,
        ranked,
        not_confirmable,
        covered,
        None,
        levels,
        result.priority,
    )


def _ranking_scores(particles: ParticleSet, decision: Decision) -> tuple[np.ndarray | None, bool]:
    """The scores the decision ranked by, and whether higher ranks first."""
    if decision.ranked_scores is not None:  # (--score-normalize rank: percentiles, higher first)
        return decision.ranked_scores, True
    return particles.scores, particles.higher_is_better


def _duplicate_rule(particles: ParticleSet, options: ParticleOptions) -> dict[str, Any]:
    """What makes two rows duplicates and which is kept, as the core's dedup takes it (but the score order).

    Refuses the rules that exclude each other: ``--same-image reject`` or ``--max-angle``
    with whole tubes, ``--max-angle`` without orientations or with orientations not finite.
    """
    # The half-set audit counts (rejected, suppressor) pairs (the core counts which priority decided a group).
    want_pairs = particles.halfsets is not None
    whole_tubes = particles.tubes is not None and options.filament_mode == "tube"
    images = images_for_the_core(particles.images, options.same_image)
    if images is not None and whole_tubes:
        raise CryodedupError(
            "--same-image reject compares segments, and --filament-mode tube compares whole tubes: "
            "give --filament-mode segment, or --same-image warn"
        )
    # Ties on the score between inputs are counted from the pairs (8 bytes per particle, as the masks).
    want_ties = ties_countable(particles, options, whole_tubes)
    rule: dict[str, Any] = {
        "min_dist": options.min_dist,
        "min_dist_z": options.min_dist_z,
        "remove_entirely": options.remove_entirely,
        "seed": options.seed,
        "want_suppressed_by": options.plot or want_pairs or want_ties,  # for pictures, the audit and the ties
        "tubes": particles.tubes,
        "whole_tubes": whole_tubes,
        "images": images,
    }
    if options.max_angle is not None:
        if particles.poses is None:
            raise CryodedupError(
                "--max-angle: the particles carry no orientations (rlnAngleRot/Tilt/Psi, alignments3D/pose)"
            )
        if whole_tubes:
            raise CryodedupError("--max-angle and --filament-mode tube exclude each other: tubes are compared whole")
        refuse_angles_not_finite(particles)
        rule.update(poses=particles.poses, pose_kind=particles.pose_kind, max_angle=options.max_angle)
        rule["sym"] = options.sym.upper()
    return rule


def ties_countable(particles: ParticleSet, options: ParticleOptions, whole_tubes: bool) -> bool:
    """Whether groups decided between inputs that tie on the score can be counted (issue 54, section 5).

    Several inputs ranked by a score, a kept row for each group (not ``--remove-entirely``)
    and rows ranked one by one (not whole tubes, ranked by their mean score).
    """
    several = len(particles.inputs) > 1 and particles.scores is not None
    return several and not options.remove_entirely and not whole_tubes


def ties_of(particles: ParticleSet, decision: Decision) -> Ties:
    """The groups decided between inputs tied on the score the decision ranked by (none where not counted)."""
    scores = _ranking_scores(particles, decision)[0]
    if decision.suppressed_by is None or scores is None or len(particles.inputs) < 2:
        return Ties(0, 0)
    return tied_groups(decision.suppressed_by, scores, particles.input_of, decision.levels)


def ties_summary(ties: Ties) -> dict:
    """The summary's ``score.ties``: the groups the inputs' order decided, and what decides them instead."""
    return {
        "groups": ties.by_input_order,
        "decided_by": "input order",
        "message": f"{ties.by_input_order:,} groups tied on the score: decided by input order; --prefer chooses",
    }


def priority_levels(particles: ParticleSet, options: ParticleOptions) -> np.ndarray | None:
    """Each input's priority level from ``--prefer`` (uint32, lower first), None without it.

    The rule that ranks before the score in the core (docs/design.md section 2); a row's
    level is its input's.
    """
    if not options.prefer:
        return None
    levels = preference(options.prefer, particles.inputs, particles.pick_sets, is_glob)
    return input_levels([held for _, held in levels], len(particles.inputs))


def coverage(particles: ParticleSet, rule: str) -> np.ndarray:
    """Whether input k ran on micrograph g, shape (n_micrographs, n_inputs).

    ``all`` (``--coverage all``): every input on every micrograph. ``auto``: as the inputs
    say (a picker's job names the micrographs it ran on); inputs that do not say are taken
    to have run on the micrographs they have rows on.
    """
    n_mics, n_inputs = len(particles.mic_names), len(particles.inputs)
    if rule == "all":
        return np.ones((n_mics, n_inputs), dtype=bool)
    if particles.coverage is not None:
        return particles.coverage
    return picks_per_group(particles.input_of, particles.groups, n_mics, n_inputs) > 0


def warn_not_confirmable(particles: ParticleSet, decision: Decision, options: ParticleOptions, warn: Warn) -> None:
    """Says how many picks could not be confirmed (too few inputs ran on their micrographs), and their fate."""
    if decision.not_confirmable is None or decision.covered is None or not decision.not_confirmable.any():
        return
    fate = "kept (--uncovered reject rejects them)" if options.uncovered == "keep" else "rejected (--uncovered reject)"
    if particles.species is not None:  # (coverage is each species' own: the inputs that hold it)
        return warn(species_not_confirmable(particles, decision.not_confirmable, options.min_support, fate))
    short = np.flatnonzero(decision.covered.sum(axis=1) < options.min_support)
    example = particles.mic_names[short[0]]
    warn(
        f"{int(decision.not_confirmable.sum()):,} picks lie on {len(short):,} of {len(particles.mic_names):,} "
        f"micrographs that fewer than {options.min_support} inputs ran on (e.g. {example}), so --min-support "
        f"{options.min_support} cannot be asked of them: {fate}"
    )


def summarize(
    particles: ParticleSet, decision: Decision, options: ParticleOptions, halves: np.ndarray | None = None
) -> dict:
    """The summary of the decision: counts per input and in all, pixel sizes, shift, score.

    With half-sets in the input, the half-set audit; with symmetry-expanded copies, how
    many of each were kept; with ``halves`` (``--halfsets micrograph``), the new halves.
    """
    counts = particles.counts()
    kept = particles.counts(decision.keep)
    n_kept = int(np.count_nonzero(decision.keep))
    summary: dict = {
        "inputs": [
            {"file": name, "particles": int(n), "kept": int(k), "rejected": int(n - k)}
            for name, n, k in zip(particles.inputs, counts, kept)
        ],
        "particles": len(particles),
        "kept": n_kept,
        "rejected": len(particles) - n_kept,
        "micrographs": len(particles.mic_names),
        "tomography": particles.centres.shape[1] == 3,  # the "micrographs" are tomograms
        "pixel_sizes": particles.pixel_sizes,
        "shift": particles.shift,
        "score": _score_summary(particles, options),
    }
    ties = ties_of(particles, decision)
    if ties.by_input_order:
        summary["score"]["ties"] = ties_summary(ties)
    summary.update(particles.summary)
    if decision.levels is not None:
        levels = preference(options.prefer, particles.inputs, particles.pick_sets, is_glob)
        n_inputs = len(particles.inputs)
        removed = (
            np.bincount(particles.input_of[~decision.keep], minlength=n_inputs) if options.remove_entirely else None
        )
        scored = _ranking_scores(particles, decision)[0] is not None
        summary["priority"] = priority_summary(levels, n_inputs, decision.priority, removed, scored, ties.by_priority)
    if particles.species is not None:
        summary["species"] = species_summary(particles, decision, options)
    summary["duplicate_density"] = duplicate_density(
        particles.groups, decision.duplicate, particles.mic_names, particles.input_of, particles.inputs
    )
    if particles.tubes is not None:
        summary["filaments"] = filament_summary(particles.tube_column or "", particles.tubes, options.filament_mode)
    summary.update(_audits(particles, decision, options, halves))
    if decision.confirmed_by is not None:
        summary["consensus"] = consensus_report(
            particles,
            decision.keep,
            decision.confirmed_by,
            options.min_support,
            decision.unconfirmed,
            covered=decision.covered,
            not_confirmable=decision.not_confirmable,
            uncovered=options.uncovered,
            coverage=options.coverage,
        )
    return summary


def _score_summary(particles: ParticleSet, options: ParticleOptions) -> dict[str, str | int | None]:
    """The summary's ``score``: the column and order the rows were ranked by, and how the scores were compared."""
    score_label = particles.score_label
    score: dict[str, str | int | None] = {
        "column": score_label,
        "order": ("max" if particles.higher_is_better else "min") if score_label else f"random (seed {options.seed})",
    }
    if score_label and options.score_normalize == "rank":
        score["normalized"] = "rank: each input's scores as percentiles (1 best)"
    if raw_picker_scores(particles, options):
        score["scale"] = "compared as read across inputs, though the inputs' scores are on different scales"
    if without := count_without_score(particles.scores):
        score["without_score"] = without
    return score


def _name_collisions(particles: ParticleSet, keep: np.ndarray) -> tuple[dict, np.ndarray] | None:
    """The particle names kept for different particles of different inputs (issue 54, section 4), and their rows."""
    if particles.particle_names is None:
        return None
    return name_collisions(
        particles.particle_names, particles.inputs, particles.input_of, particles.groups, particles.centres, keep
    )


def _audits(
    particles: ParticleSet, decision: Decision, options: ParticleOptions, halves: np.ndarray | None
) -> dict[str, Any]:
    """The summary's checks of what was kept: half-sets, orientations, one image twice, symmetry copies."""
    audits: dict[str, Any] = {}
    if particles.halfsets is not None:
        assert decision.suppressed_by is not None, "decide() keeps the pairs when there are half-sets"
        criterion = duplicate_criterion(options.min_dist, options.max_angle, options.min_dist_z)
        images = particles.images
        pairs = same_image_pairs(images, particles.groups, particles.centres) if images is not None else None
        audits["halfset_audit"] = halfset_audit(particles, decision.suppressed_by, criterion, pairs)
    elif options.audit:
        audits["halfset_audit"] = {
            "column": None,
            "message": "the particles carry no half-sets (rlnRandomSubset 1/2, alignments3D/split 0/1): "
            "nothing to audit",
        }
    if halves is not None:
        audits["halfsets"] = halfsets_report(particles, decision.keep, halves)
    if options.max_angle is not None:
        audits["orientations"] = (
            f"duplicates only within {options.max_angle:g}° ({particles.pose_label}, symmetry {options.sym.upper()})"
        )
    collisions = _name_collisions(particles, decision.keep)
    cause = None if collisions is None else (collisions[1], collision_cause(collisions[0]))
    if particles.images is not None:
        audits["same_image"] = same_image_summary(
            particles.images, particles.groups, particles.centres, decision.keep, options.same_image, cause
        )
    if collisions is not None:  # (after extraction: the cause of an image kept twice, said there)
        audits["particle_names"] = {**collisions[0], "extracted": "cause" in audits.get("same_image", {})}
    if particles.sources is not None:
        audits["symmetry_expansion"] = symmetry_copies(particles.sources, particles.sources_label, decision.keep)
    return audits


@all_outputs_at_once
def remove_duplicate_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = _silent,
    decided: list | None = None,
) -> dict:
    """Removes duplicate particles from RELION particle STAR files or CryoSPARC datasets.

    Parameters
    ----------
    inputs : list of path
        Particle STAR files (RELION 3.0 to 5, or files written by other tools in that
        format), or CryoSPARC ``.cs`` / ``.csg`` files. Several are deduplicated together.
    outdir : path or None
        Folder that receives ``particles_kept.star`` and ``particles_rejected.star``, or
        ``particles_kept.cs``, ``particles_rejected.cs`` (and ``.csg`` and passthrough
        files for a result group). None only with ``audit`` and without ``plot``, which
        write nothing.
    options : ParticleOptions
        Minimum distance, pixel size, shift, score and mode.
    force : bool
        Overwrite existing outputs.
    log : callable(message, level)
        Receives progress messages ("info") and warnings ("warning").
    decided : list, optional
        Receives the particles read and the decision, as ``(ParticleSet, Decision)``: for
        callers that return the rows (the Python API on a copick project, which writes no file).

    Returns
    -------
    dict
        The summary: counts, pixel sizes, shift and score used, outputs, time.
    """
    start = time.perf_counter()
    options = options or ParticleOptions()
    options.check()
    paths = [Path(p) for p in inputs]
    copick, into_project = _check_request(paths, outdir, options)
    # Without one (an audit) the readers' writers get the current folder, and are never called.
    outdir = Path(outdir if outdir is not None else ".")
    warnings: list[str] = []
    # Warnings are said once the checks that can stop the run have passed: none before an error.
    checked = False

    def warn(message: str) -> None:
        warnings.append(message)
        if checked:
            log(message, "warning")

    check_prefer(paths, copick, options, warn)
    # The plotting code loads on the other core while the core reads and decides.
    plotting = preload_plotting() if options.plot else None
    particles = _read_checked(paths, None if into_project else outdir, options, warn, log)
    warn_unused_options(particles, options, warn)
    refuse_transform_into_combined_output(particles, options)
    applied = apply_transforms(particles, options)
    registration = check_registration(particles, options, applied, warn)
    reassign = check_halfsets(particles, options.halfsets) is not None
    read_at = time.perf_counter()
    decision = decide(particles, options, log)
    checked = True
    for message in warnings:
        log(message, "warning")
    warn_not_confirmable(particles, decision, options, warn)
    if decided is not None:
        decided.append((particles, decision))
    decided_at = time.perf_counter()
    halves = halfsets_by_micrograph(particles.groups, decision.keep) if reassign else None
    details = None if plotting is None else picture_details(particles, decision, options, plotting)
    # Counted before the outputs are written: a one-pass scan's writer may still be busy.
    summary = summarize(particles, decision, options, halves)
    if registration is not None:
        summary["registration"] = registration
    outputs, write_seconds, pictures = _write(particles, decision.keep, halves, details, options, force, paths[0])
    if same_image := summary.get("same_image", {}).get("message"):
        warn(same_image)
    names = summary.get("particle_names")
    if names and not names["extracted"]:  # (before extraction: what RELION will do with them)
        warn(names["message"])
    summary["timings"] = _timings(particles, read_at - start, decided_at - read_at, write_seconds)
    summary["outputs"] = {subset: [str(p) for p in files] for subset, files in outputs.items()}
    summary["min_dist_A"] = options.min_dist
    if options.min_dist_z is not None:
        summary["min_dist_z_A"] = options.min_dist_z
    summary["mode"] = "remove entirely" if options.remove_entirely else "keep best of each group"
    summary["warnings"] = warnings
    summary["seconds"] = round(time.perf_counter() - start, 3)
    if details is not None:
        summary["plots"] = plot_particles(details, outdir, options, paths[0], force, summary, pictures)
    elif not options.audit:
        warn_earlier_report(outdir, warn)
    return summary


def warn_unused_options(particles: ParticleSet, options: ParticleOptions, warn: Warn) -> None:
    """Warns of an option given that these inputs give nothing to act on: the user believes it did something."""
    if options.topaz_scale is not None and "topaz" not in particles.summary.get("formats", []):  # (pickers' formats)
        warn("--topaz-scale was not used: it scales topaz's coordinates, and no input is topaz's")
    if options.filament_mode == "tube" and particles.tubes is None:
        warn("--filament-mode tube was not used: no input has filaments (a tube or filament id per segment)")
    if options.coverage != "auto" and options.min_support <= 1:
        warn(f"--coverage {options.coverage} was not used: it serves --min-support 2 or more (consensus)")


def _timings(particles: ParticleSet, read: float, decide: float, write: float) -> dict:
    """Where the time goes, in seconds; decided and written while read (one pass), "read" holds all three."""
    one_pass = particles.decided is not None  # docs/design.md section 5
    return {"read": round(read, 3), "decide": round(decide, 3), "write": round(write, 3), "one_pass": one_pass}


def _check_request(paths: list[Path], outdir: StrPath | None, options: ParticleOptions) -> tuple[bool, bool]:
    """Refuses a job that cannot run before anything is read.

    Returns whether the input is a copick project, and whether its kept picks go back into it.
    """
    if not paths:
        raise CryodedupError("no input files given")
    copick = len(paths) == 1 and is_copick_config(paths[0])
    # A copick project takes its kept picks back; an output folder is then for the STAR files.
    into_project = outdir is None and not options.plot and copick
    if outdir is None and not (options.audit and not options.plot) and not into_project:
        raise CryodedupError("outdir: an output folder is needed (only audit=True without plot=True writes nothing)")
    return copick, into_project


def _read_checked(
    paths: list[Path], outdir: Path | None, options: ParticleOptions, warn: Warn, log: Log
) -> ParticleSet:
    """The inputs read, their species assigned, and what they hold checked before anything is decided."""
    particles = read_inputs(paths, outdir, options, warn, log)
    assert particles.writer is not None, "every reader of files gives the set a writer"
    labels = _datasets(paths, particles, options, warn)
    check_shared_names(particles, labels)
    assign_species(particles, options)
    if is_picker_output(paths[0]):
        warn_inputs_apart(particles, warn)
    elif raw := raw_picker_scores(particles, options):
        warn(raw)  # (picker inputs: their reader says it, naming each picker's score)
    if particles.decided is None:  # (a one-pass scan decided every row: its core refused these already)
        check_centres(particles)
    return particles


def _datasets(paths: list[Path], particles: ParticleSet, options: ParticleOptions, warn: Warn) -> list[str] | None:
    """Each input's dataset (``--dataset``), its micrographs kept apart from other datasets'; None without it."""
    if not options.datasets:
        return None
    if particles.pick_sets or len(particles.inputs) != len(paths):
        raise CryodedupError("--dataset labels input files; a copick project's pick sets are one dataset")
    labels = dataset_labels(options.datasets, paths, is_glob)
    if len(set(labels)) < 2:
        warn("--dataset decides nothing here: every input is of one dataset")
    particles.summary["datasets"] = separate_datasets(particles, labels)
    return labels


def _write(
    particles: ParticleSet,
    keep: np.ndarray,
    halves: np.ndarray | None,
    details: ParticleDetails | None,
    options: ParticleOptions,
    force: bool,
    first_input: Path,
) -> tuple[dict[str, list[Path]], float, Pictures | None]:
    """The kept and rejected rows written (none with ``--audit``), and with ``details`` the pictures drawn meanwhile.

    Returns the outputs by subset, the seconds the writing took, and the pictures.
    """
    if options.audit:
        return {"kept": [], "rejected": []}, 0.0, None
    if details is None:
        return (*_timed_write(particles, keep, force, halves), None)
    # The core writes the outputs (Python's lock released) while the pictures are drawn.
    writing = _in_background(_timed_write, particles, keep, force, halves)
    try:
        pictures = draw_pictures(details, options, first_input)
    finally:
        outputs, write_seconds = writing.result()
    return outputs, write_seconds, pictures


def check_prefer(paths: list[Path], copick: bool, options: ParticleOptions, warn: Warn) -> None:
    """Refuses, before reading, a ``--prefer`` that names no input; warns that ``--remove-entirely`` ignores it.

    A copick project's pick sets, which ``--prefer`` names there, are known once read.
    """
    if not options.prefer:
        return
    if not copick:
        preferred_inputs(options.prefer, paths, is_glob)
        if len(paths) == 1:
            warn("--prefer decides nothing with one input: every particle is of that input")
    if options.remove_entirely:
        warn(
            "--prefer decides nothing with --remove-entirely: every particle that has a duplicate is removed, "
            "preferred or not"
        )


def picture_details(
    particles: ParticleSet, decision: Decision, options: ParticleOptions, plotting: threading.Thread
) -> ParticleDetails:
    """What the pictures show of the decision; its nearest-neighbour distances and score histogram counted on threads.

    Both start here, before the summary and the example images' look-up, which run on the
    main thread alone: the other core counts meanwhile (issue 43).
    """
    plotting.join()
    from ...report.particle_base import ParticleDetails, nn_histogram_top
    from ...report.particle_figures import score_counts

    details = ParticleDetails(
        particles,
        decision.keep,
        decision.suppressed_by,
        options.min_dist,
        decision.confirmed_by,
        compared_scores=decision.ranked_scores,
        covered=decision.covered,
        unconfirmed=decision.unconfirmed,
        not_confirmable=decision.not_confirmable,
        min_support=options.min_support,
        min_dist_z=options.min_dist_z,
        seed=options.seed,
        remove_entirely=options.remove_entirely,
        nn_distances=_in_background(
            nearest_neighbour_distances,
            particles.groups,
            stretched(particles.centres, options.min_dist, options.min_dist_z),
            nn_histogram_top(options.min_dist),
        ).result,
    )
    if details.scores is not None:
        details.score_counts = Background(score_counts, details, name="cryodedup-scores").result
    return details


def _timed_write(
    particles: ParticleSet, keep: np.ndarray, force: bool, halves: np.ndarray | None
) -> tuple[dict[str, list[Path]], float]:
    """The set's writer's outputs, and the seconds it took."""
    assert particles.writer is not None, "every reader of files gives the set a writer"
    if particles.species is not None and hasattr(particles.writer, "species"):  # (STAR: a file per species too)
        particles.writer.species = (particles.species, particles.species_names)
    start = time.perf_counter()
    outputs = particles.writer.write(keep, force, halves)
    return outputs, time.perf_counter() - start


def preload_plotting() -> threading.Thread:
    """The import of the particle pictures' modules, started on a thread."""
    from ...report import preload

    return preload.start("cryodedup.report.particle_figures", "cryodedup.report.html_report")


def _in_background(work: Callable[..., T], *args: Any) -> Background[T]:
    """``work(*args)`` on a thread of its own (for work in the core, which lets go of Python's lock)."""
    return Background(work, *args)


@dataclass
class Pictures:
    """The particle job's pictures, rendered (name, caption, PNG bytes), and the example images not found.

    ``absent``: how many micrographs have no image file, counted on a thread while the
    pictures were drawn; set whenever an example's image was not found (the summary says so).
    """

    pngs: list[tuple[str, str, bytes]]
    missing: list[str]
    absent: Callable[[], int] | None = None


def draw_pictures(details: ParticleDetails, options: ParticleOptions, first_input: Path) -> Pictures:
    """The particle job's pictures (``--plot``), rendered."""
    from ...report import particle_figures as plots

    def find_micrograph(name: str) -> Path:
        return find_image(name, first_input, options.project_dir)

    images = drawn_images(details, options.plot_mics, find_micrograph)
    absent = None
    examples = plots.micrographs_to_show(details, options.plot_mics)
    if plots.missing_examples(details, examples, images):  # (the summary says how many are absent)
        roots = search_roots(first_input, options.project_dir)
        absent = Background(count_absent, details.mic_names, roots, name="cryodedup-absent").result
    return Pictures(*plots.rendered_particle_figures(details, options.plot_mics, images), absent=absent)


def drawn_images(
    details: ParticleDetails, n_mics: int, find_micrograph: Callable[[str], Path]
) -> dict[int, MicrographImage]:
    """The images of the micrographs the pictures draw, read here: the report draws arrays and opens no file.

    ``find_micrograph(name)`` gives the path of a micrograph's image file, or the path looked
    for in vain. A file that cannot be read is drawn as a blank frame: a picture is not worth
    failing the job for.
    """
    from ...formats.mrc import binned_image
    from ...report.particle_figures import DISPLAY_WIDTH, MicrographImage, micrographs_drawn

    images = {}
    for mic in micrographs_drawn(details, n_mics):
        path = find_micrograph(details.mic_names[mic])
        if not path.exists():
            images[mic] = MicrographImage(missing=str(path))
            continue
        try:
            images[mic] = MicrographImage(*binned_image(path, DISPLAY_WIDTH))
        except Exception:  # any unreadable file: the picture goes without its image, and says so
            images[mic] = MicrographImage(unreadable=True)
    return images


def plot_particles(
    details: ParticleDetails,
    outdir: Path,
    options: ParticleOptions,
    first_input: Path,
    force: bool,
    summary: dict,
    pictures: Pictures | None = None,
) -> list[str]:
    """The particle job's pictures (drawn here unless given) and report (``--plot``).

    When example micrographs' image files are not found, the summary says so and how to
    point at them.
    """
    from ...report import particle_figures as plots

    pictures = pictures or draw_pictures(details, options, first_input)
    missing = pictures.missing
    if missing:
        n_examples = len(plots.micrographs_to_show(details, options.plot_mics))
        # All counted: none found says the paths start from another folder, a few that files are gone.
        assert pictures.absent is not None, "draw_pictures counts them whenever an example's image is missing"
        absent = pictures.absent()
        summary["micrograph_images"] = (  # one line each, so that the path stays whole in a table
            f"{absent:,} of {len(details.mic_names):,} micrograph images not found; {len(missing)} of "
            f"{n_examples} examples drawn on a blank frame\nfirst looked for: {missing[0]}\n"
            "if the images exist, give the folder their paths start from with --project-dir"
        )
    return write_report(details, outdir, options, pictures, summary, force)


def write_report(
    details: ParticleDetails, outdir: Path, options: ParticleOptions, pictures: Pictures, summary: dict, force: bool
) -> list[str]:
    """The pictures and report.html (the summary's rows, the options) in ``outdir``; their paths."""
    from ...report import html_report

    parameters = {k: v for k, v in vars(options).items() if k != "plot"}
    rows, highlight = report_rows(summary)
    return html_report.write_all(
        outdir, pictures.pngs, "cryodedup particles", parameters, rows, force, highlight=highlight, unit=details.unit
    )
