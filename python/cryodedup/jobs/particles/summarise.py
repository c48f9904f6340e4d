"""The particle job's summary of what it decided (the ``--json`` document)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...algo.audit import (
    duplicate_criterion,
    halfset_audit,
    halfsets_report,
    symmetry_copies,
)
from ...algo.consensus import consensus_report
from ...algo.density import duplicate_density
from ...algo.filaments import filament_summary
from ...algo.normalisation import normalisation
from ...algo.particle_names import collision_cause, name_collisions
from ...algo.priority import (
    Ties,
    count_without_score,
    priority_summary,
)
from ...algo.same_image import same_image_pairs, same_image_summary
from ...options import ParticleOptions
from ...particle_set import ParticleSet
from ..species import species_summary
from .decide import Decision, ranking_scores, ties_of
from .read import raw_picker_scores

if TYPE_CHECKING:
    pass


def ties_summary(ties: Ties) -> dict:
    """The summary's ``score.ties``: the groups the inputs' order decided, and what decides them instead."""
    return {
        "groups": ties.by_input_order,
        "decided_by": "input order",
        "message": f"{ties.by_input_order:,} groups tied on the score: decided by input order; --prefer chooses",
    }


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
    if decision.levels is not None and decision.preference is not None:
        levels = decision.preference
        n_inputs = len(particles.inputs)
        removed = (
            np.bincount(particles.input_of[~decision.keep], minlength=n_inputs) if options.remove_entirely else None
        )
        scored = ranking_scores(particles, decision)[0] is not None
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
    normalized = normalisation(options.score_normalize).summary
    if score_label and normalized:
        score["normalized"] = normalized
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


def timings(particles: ParticleSet, read: float, decide: float, write: float) -> dict:
    """Where the time goes, in seconds; decided and written while read (one pass), "read" holds all three."""
    one_pass = particles.decided is not None  # docs/design.md section 5
    return {"read": round(read, 3), "decide": round(decide, 3), "write": round(write, 3), "one_pass": one_pass}
