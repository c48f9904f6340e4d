"""Agreement between inputs (pickers): which inputs confirm each pick, and how far they agree.

Agreement is the pairwise Jaccard index between inputs, overall and per micrograph. A pick
of input A is confirmed by input B when B has a pick within the minimum distance on the
same micrograph (``cryodedup.algo.dedup.dedup_and_support_masks`` gives, per pick, the bitmask
of the inputs that confirm it, its own included).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..particle_set import ParticleSet
from .dedup import agreement_counts, popcount

__all__ = [
    "OUTCOMES",
    "Agreement",
    "InputFates",
    "consensus_report",
    "covered_jaccard",
    "input_pair_counts",
    "jaccard_matrices",
    "mean_agreement",
    "pick_outcomes",
]

#: What became of a pick under consensus. Every pick of an input has exactly one of these
#: fates, so per input they sum to its picks (docs/developers/decisions/consensus.md).
#: "confirmed": at least max(K, 2) inputs have a pick within the distance, its own included.
OUTCOMES = (
    "kept_confirmed",
    "kept_alone",
    "kept_not_confirmable",
    "rejected_duplicate",
    "rejected_unconfirmed",
    "rejected_not_confirmable",
)


def jaccard_matrices(
    confirmed_by: np.ndarray, input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int
) -> np.ndarray:
    """Pairwise agreement of inputs A and B on each group (docs/guides/pickers.md, "Consensus").

    With m(A,B) the picks of A that have a pick of B within the minimum distance, shared =
    (m(A,B) + m(B,A)) / 2 and J = shared / (|A| + |B| - shared); NaN when neither holds a
    pick there.

    Returns
    -------
    numpy.ndarray of float64, shape (n_groups, n_inputs, n_inputs)
    """
    return _jaccard_of(*pair_counts(confirmed_by, input_of, groups, n_groups, n_inputs))


def pair_counts(
    confirmed_by: np.ndarray, input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the picks of each input (n_groups, n_inputs) and m(a, b) (n_groups, n_inputs, n_inputs)."""
    size, matched, _ = agreement_counts(confirmed_by, input_of, groups, None, n_groups, n_inputs)
    return size, matched


def _jaccard_of(size: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The Jaccard matrices of :func:`jaccard_matrices` from the counts of :func:`pair_counts`.

    ``size`` is (n_groups, n) or, counted for each pair, (n_groups, n, n): a's picks that
    b could have confirmed (:func:`species_pair_counts`).
    """
    shared = (matched + matched.transpose(0, 2, 1)) / 2
    pair_size = size if size.ndim == 3 else np.broadcast_to(size[:, :, None], matched.shape)
    union = pair_size + pair_size.transpose(0, 2, 1) - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, shared / np.where(union > 0, union, 1), np.nan)


def _as_lists(matrix: np.ndarray) -> list[list[float | None]]:
    """A matrix as nested lists of Python floats rounded to 4 decimals, None for NaN."""
    return _each_as_lists(matrix[None])[0]


def _each_as_lists(matrices: np.ndarray) -> list[list[list[float | None]]]:
    """:func:`_as_lists` of each matrix of a stack (g, n, n), in a few passes over all.

    A summary has one matrix per micrograph, tens of thousands: Python's ``round`` on each
    number would cost more than the numbers. ``rint(x * 1e4) / 1e4`` is the double nearest
    to the decimal that ``round(x, 4)`` gives unless ``x * 1e4`` lies next to a half, where
    the product's rounding may cross it: those few are rounded by ``round``.
    """
    scaled = matrices * 1e4
    rounded = (np.rint(scaled) / 1e4).astype(object)
    with np.errstate(invalid="ignore"):
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for at in zip(*np.nonzero(near_half)):
        rounded[at] = round(float(matrices[at]), 4)
    rounded[np.isnan(matrices)] = None
    return rounded.tolist()


def jaccard(confirmed_by: np.ndarray, input_of: np.ndarray, n_inputs: int) -> list[list[float | None]]:
    """The Jaccard matrix of :func:`jaccard_matrices` over all picks at once (None where undefined)."""
    zeros = np.zeros(len(input_of), dtype=np.int64)
    return _as_lists(jaccard_matrices(confirmed_by, input_of, zeros, 1, n_inputs)[0])


def mean_agreement(matrices: np.ndarray) -> np.ndarray:
    """Mean of the off-diagonal Jaccard indices of each group (NaN where none is defined)."""
    n_inputs = matrices.shape[1]
    off = matrices[:, ~np.eye(n_inputs, dtype=bool)]
    with warnings.catch_warnings():  # a group where no pair is defined: NaN, without the warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(off, axis=1) if off.size else np.full(len(matrices), np.nan)


def covered_jaccard(size: np.ndarray, matched: np.ndarray, covered: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Jaccard matrices on the micrographs both inputs of a pair ran on: per micrograph, and over them all.

    ``size`` (n_groups, n_inputs) and ``matched`` (n_groups, n_inputs, n_inputs) are the
    counts of :func:`pair_counts`; ``covered`` (n_groups, n_inputs) whether input k ran on
    micrograph g (None: all did). A micrograph one input of a pair never ran on says
    nothing of their agreement: its cell is NaN, and it is left out of their overall index.

    Returns
    -------
    per-micrograph (n_groups, n, n) and overall (n, n) matrices, float64, NaN where undefined
    """
    per_mic = _jaccard_of(size, matched)
    if covered is None:
        overall = _jaccard_of(size.sum(axis=0, keepdims=True), matched.sum(axis=0, keepdims=True))[0]
        return per_mic, overall
    both = covered[:, :, None] & covered[:, None, :]
    per_mic[~both] = np.nan
    # Per pair (a, b): a's picks and a's picks confirmed by b, on the micrographs both ran on.
    pair_size = size if size.ndim == 3 else np.broadcast_to(size[:, :, None], matched.shape)
    size_ab = (pair_size * both)[None].sum(axis=1)
    overall = _jaccard_of(size_ab, (matched * both)[None].sum(axis=1))[0]
    return per_mic, overall


def input_pair_counts(particles: ParticleSet, confirmed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pair_counts` of a ParticleSet's inputs; with several species, :func:`species_pair_counts`."""
    n_mics, n_inputs = len(particles.mic_names), len(particles.inputs)
    if particles.species is not None and len(particles.species_names) > 1:
        args = (particles.input_of, particles.groups, particles.species, n_mics, n_inputs)
        return species_pair_counts(confirmed_by, *args)
    return pair_counts(confirmed_by, particles.input_of, particles.groups, n_mics, n_inputs)


def species_pair_counts(
    confirmed_by: np.ndarray, input_of: ArrayLike, groups: ArrayLike, species: np.ndarray, n_groups: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pair_counts` within species: a pair of inputs compared on the species both hold.

    A ribosome input and a proteasome input never confirm each other's picks: counting
    them would make every such pair disagree. Per group, a's picks of the species b holds
    too (n_groups, n, n), and m(a, b) (n_groups, n, n).
    """
    n_species = int(species.max()) + 1 if len(species) else 1
    unit = np.asarray(groups, dtype=np.int64) * n_species + species
    size, matched, _ = agreement_counts(confirmed_by, input_of, unit, None, n_groups * n_species, n_inputs)
    size = size.reshape(n_groups, n_species, n_inputs)
    holds = size.sum(axis=0) > 0  # (species, input)
    common = (holds[:, :, None] & holds[:, None, :]).astype(np.float64)  # (species, a, b)
    pair_size = np.einsum("gsa,sab->gab", size, common)
    return pair_size, matched.reshape(n_groups, n_species, n_inputs, n_inputs).sum(axis=1)


@dataclass(frozen=True)
class InputFates:
    """One input under the consensus: the micrographs it ran on, its picks, their fates, those confirmed.

    The fates are :data:`OUTCOMES`, in order: they sum to its picks; ``confirmed``: its picks
    confirmed by another input whatever their fate.
    """

    file: str
    micrographs: int
    picks: int
    kept_confirmed: int
    kept_alone: int
    kept_not_confirmable: int
    rejected_duplicate: int
    rejected_unconfirmed: int
    rejected_not_confirmable: int
    confirmed: int


@dataclass(frozen=True)
class Agreement:
    """The agreement between the inputs and the decision on it (:func:`consensus_report`).

    ``not_covered``: the micrographs some input did not run on, and the inputs that did not;
    ``jaccard``: the inputs' neighbour agreement (None where undefined, 4 places), overall and
    ``jaccard_per_micrograph``; ``no_species_in_common``: the pairs of inputs with nothing to agree
    on; ``least_agreement``: (micrograph, mean agreement), the least first, at most ten.
    """

    min_support: int
    micrographs: int
    uncovered: str
    coverage: str
    not_covered: Mapping[str, list[str]]
    micrographs_not_confirmable: int
    per_input: tuple[InputFates, ...]
    jaccard: list[list[float | None]]
    no_species_in_common: tuple[tuple[int, int], ...]
    jaccard_per_micrograph: Mapping[str, list[list[float | None]]]
    least_agreement: tuple[tuple[str, float], ...]


def consensus_report(
    particles: ParticleSet,
    keep: np.ndarray,
    confirmed_by: np.ndarray,
    min_support: int,
    unconfirmed: np.ndarray | None = None,
    *,
    covered: np.ndarray | None = None,
    not_confirmable: np.ndarray | None = None,
    uncovered: str = "keep",
    coverage: str = "auto",
) -> Agreement:
    """The agreement between the inputs of a ParticleSet, and the decision on it.

    Per input, the micrographs it ran on (``covered``, n_micrographs x n_inputs; None: all
    of them), its picks, their fates (:data:`OUTCOMES`, which sum to its picks; see
    :func:`pick_outcomes` for ``unconfirmed`` and ``not_confirmable``, the latter kept, or
    rejected when ``uncovered`` is ``reject``) and its picks confirmed by another input
    whatever their fate; the Jaccard matrix between inputs overall and per micrograph on
    the micrographs both ran on, and the ten micrographs where the inputs agree least.
    """
    n_inputs = len(particles.inputs)
    n_mics = len(particles.mic_names)
    size, matched, counts = agreement_counts(confirmed_by, particles.input_of, particles.groups, None, n_mics, n_inputs)
    input_of = np.asarray(particles.input_of)
    fates = outcome_counts(pick_outcomes(keep, confirmed_by, unconfirmed, not_confirmable), input_of, n_inputs)
    ran_on = np.ones((n_mics, n_inputs), dtype=bool) if covered is None else covered
    per_input = tuple(
        InputFates(name, int(ran_on[:, k].sum()), int(fates[k].sum()), *_six(fates[k]), int(counts[k, 0]))
        for k, name in enumerate(particles.inputs)
    )
    apart: list[tuple[int, int]] = []  # (pairs of inputs holding no species in common: nothing to agree on)
    if particles.species is not None and len(particles.species_names) > 1:
        size, matched = input_pair_counts(particles, confirmed_by)
        common = size.sum(axis=0) > 0
        apart = [(a, b) for a in range(n_inputs) for b in range(a + 1, n_inputs) if not common[a, b] | common[b, a]]
    per_mic, overall = covered_jaccard(size, matched, covered)
    agreement = mean_agreement(per_mic)
    defined = np.flatnonzero(~np.isnan(agreement))
    worst = defined[np.argsort(agreement[defined], kind="stable")][:10]
    short = ran_on.sum(axis=1) < min_support
    return Agreement(
        min_support=min_support,
        micrographs=n_mics,
        uncovered=uncovered,
        coverage=coverage,
        not_covered={
            particles.mic_names[g]: [particles.inputs[k] for k in np.flatnonzero(~ran_on[g])]
            for g in np.flatnonzero(~ran_on.all(axis=1))
        },
        micrographs_not_confirmable=int(short.sum()) if min_support > 1 else 0,
        per_input=per_input,
        jaccard=_as_lists(overall),
        no_species_in_common=tuple(apart),
        jaccard_per_micrograph=dict(zip(particles.mic_names, _each_as_lists(per_mic))),
        least_agreement=tuple((particles.mic_names[m], round(float(agreement[m]), 4)) for m in worst),
    )


def _six(row: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """An input's counts of the six :data:`OUTCOMES`, as Python ints."""
    a, b, c, d, e, f = (int(n) for n in row)
    return a, b, c, d, e, f


def pick_outcomes(
    keep: np.ndarray,
    confirmed_by: np.ndarray,
    unconfirmed: np.ndarray | None = None,
    not_confirmable: np.ndarray | None = None,
) -> np.ndarray:
    """Each pick's fate, an index into :data:`OUTCOMES` (uint8).

    ``not_confirmable`` (picks no duplicate displaced, on a micrograph fewer than K inputs
    ran on) come first, whatever their support: at K > 2 such a pick may have another
    input's pick nearby, yet K cannot be reached there. A kept pick elsewhere either reached
    K (at K >= 2) or, at K = 1, is confirmed or alone by whether another input picked it.
    A rejected pick is unconfirmed (``unconfirmed``: too few inputs confirm it) or else a
    duplicate of a better-scored pick.

    A byte a pick throughout: at 10M picks the int64 steps took 300 MB at once, while the
    job's summary and its pictures (``--plot``) each count them.
    """
    alone = _fewer_than_two(confirmed_by).view(np.uint8)  # kept: 1 alone, 0 confirmed
    rejected = np.full(len(keep), 3, dtype=np.uint8)  # rejected: 3 a duplicate, 4 too few confirm it
    if unconfirmed is not None:
        rejected += np.asarray(unconfirmed, dtype=bool).view(np.uint8)
    outcomes = np.where(keep, alone, rejected)
    if not_confirmable is not None:  # 2 kept, 5 rejected, whatever the support
        short = np.asarray(not_confirmable, dtype=bool)
        np.copyto(outcomes, np.where(keep, np.uint8(2), np.uint8(5)), where=short)
    return outcomes


def _fewer_than_two(masks: np.ndarray) -> np.ndarray:
    """Whether each uint64 bitmask has fewer than two bits set (``popcount(masks) < 2``), a byte a mask."""
    masks = np.ascontiguousarray(masks, dtype="<u8")
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(masks) < 2
    return popcount(masks) < 2


def outcome_counts(outcomes: np.ndarray, input_of: np.ndarray, n_inputs: int) -> np.ndarray:
    """Per input, its picks of each fate of :data:`OUTCOMES`, shape (n_inputs, len(OUTCOMES))."""
    cells = input_of.astype(np.int64) * len(OUTCOMES) + outcomes
    return np.bincount(cells, minlength=n_inputs * len(OUTCOMES)).reshape(n_inputs, len(OUTCOMES))
