"""What an ``--update`` round of the particle job refuses of its options, beside their own checks.

A round decides each batch against the particles kept by earlier rounds, from a store that
keeps their centres and scores alone: an option that needs the whole set, orientations,
images, species, a mask or micrograph sizes is refused before anything is read. The job's
plan (``jobs/particles/plan.py``) asks :func:`refused_by_update` once; the round says the
first refusal (``jobs/particles/update.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .particles import ParticleOptions

__all__ = ["refused_by_update"]


def refused_by_update(options: ParticleOptions) -> tuple[tuple[str, str], ...]:
    """The options given that an ``--update`` round does not support: (flag, why) each, in the order said."""
    from ..algo.normalisation import normalisation  # (as the plan's one-pass check: loaded when a job runs)

    normalise = options.score_normalize
    refused = [
        (options.min_support > 1, f"--min-support {options.min_support}", "consensus needs every input's picks"),
        (options.remove_entirely, "--remove-entirely", "it would reject particles kept in earlier rounds"),
        (options.audit, "--audit", "it writes no particles to add"),
        (options.plot, "--plot", "pictures of one round are not drawn yet"),
        (
            normalisation(normalise).apply is not None,
            f"--score-normalize {normalise}",
            "percentiles depend on the whole set"
            if normalise == "rank"
            else "the scores are normalised within the whole set",
        ),
        (options.score == "none", "--score none", "a random order is not one across rounds"),
        (options.halfsets != "keep", f"--halfsets {options.halfsets}", "it balances whole micrographs' halves"),
        (options.max_angle is not None, "--max-angle", "the store keeps centres, not orientations"),
        (options.own_frame, "--min-dist-ellipsoid", "the store keeps centres, not orientations"),
        (options.same_image == "reject", "--same-image reject", "the store keeps centres, not images"),
        (bool(options.species or options.species_column), "--species", "the store keeps one species"),
        (options.cross_species or bool(options.species_min_dist), "--cross-species", "the store keeps one species"),
        (bool(options.datasets), "--dataset", "micrographs are matched by name across rounds"),
        (bool(options.transform), "--transform", "the store keeps centres in one frame"),
        (options.mask is not None, "--mask", "the store keeps no mask: mask each batch first"),
        (options.edge is not None, "--edge", "the store keeps no micrograph sizes: cut each batch first"),
    ]
    return tuple((flag, why) for given, flag, why in refused if given)
