"""Agreement between inputs (pickers): which inputs confirm each pick, and how far they agree.

Agreement is the pairwise Jaccard index between inputs, overall and per micrograph. A pick
of input A is confirmed by input B when B has a pick within the minimum distance on the
same micrograph (``cryodedup.dedup.support_masks`` gives, per pick, the bitmask of the
inputs that confirm it, its own included).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from .labels import distinct_labels
from .particle_set import ParticleSet


def jaccard_matrices(
    confirmed_by: np.ndarray, input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int
) -> np.ndarray:
    """Pairwise agreement of inputs A and B on each group (README, "Consensus").

    With m(A,B) the picks of A that have a pick of B within the minimum distance, shared =
    (m(A,B) + m(B,A)) / 2 and J = shared / (|A| + |B| - shared); NaN when neither holds a
    pick there.

    Returns
    -------
    numpy.ndarray of float64, shape (n_groups, n_inputs, n_inputs)
    """
    return _jaccard_of(*_pair_counts(confirmed_by, input_of, groups, n_groups, n_inputs))


def _pair_counts(
    confirmed_by: np.ndarray, input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the picks of each input (n_groups, n_inputs) and m(a, b) (n_groups, n_inputs, n_inputs)."""
    size, matched, _ = _agreement_counts(confirmed_by, input_of, groups, None, n_groups, n_inputs)
    return size, matched


def picks_per_group(input_of: ArrayLike, groups: ArrayLike, n_groups: int, n_inputs: int) -> np.ndarray:
    """The picks of each input on each group, shape (n_groups, n_inputs), in one pass of the core."""
    size, _, _ = _agreement_counts(None, input_of, groups, None, n_groups, n_inputs)
    return size


def _agreement_counts(
    confirmed_by: np.ndarray | None,
    input_of: ArrayLike,
    groups: ArrayLike,
    keep: np.ndarray | None,
    n_groups: int,
    n_inputs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_pair_counts`, and per input its picks confirmed, kept alone and kept confirmed (n_inputs, 3).

    One pass of the core over the picks (``keep`` None: nothing counted as kept).
    """
    size, matched, per_input = _core.agreement_counts(
        np.ascontiguousarray(groups, dtype=np.uint32),
        np.ascontiguousarray(input_of, dtype=np.uint32),
        None if confirmed_by is None else np.ascontiguousarray(confirmed_by, dtype=np.uint64),
        None if keep is None else np.ascontiguousarray(keep, dtype=bool),
        n_groups,
        n_inputs,
    )
    return (
        size.reshape(n_groups, n_inputs).astype(np.float64),
        matched.reshape(n_groups, n_inputs, n_inputs).astype(np.float64),
        per_input.reshape(n_inputs, 3),
    )


def _jaccard_of(size: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The Jaccard matrices of :func:`jaccard_matrices` from the counts of :func:`_pair_counts`."""
    shared = (matched + matched.transpose(0, 2, 1)) / 2
    union = size[:, :, None] + size[:, None, :] - shared
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


def consensus_report(
    particles: ParticleSet,
    keep: np.ndarray,
    confirmed_by: np.ndarray,
    min_support: int,
    unconfirmed: np.ndarray | None = None,
) -> dict:
    """The agreement between the inputs of a ParticleSet, and the decision on it.

    Per input, the picks confirmed by another input, kept alone and kept confirmed, and
    rejected as unconfirmed (``unconfirmed``: no duplicate displaced them, too few inputs
    confirm them); the Jaccard matrix between inputs overall and per micrograph, and the ten
    micrographs where the inputs agree least.
    """
    n_inputs = len(particles.inputs)
    n_mics = len(particles.mic_names)
    size, matched, counts = _agreement_counts(
        confirmed_by, particles.input_of, particles.groups, keep, n_mics, n_inputs
    )
    rejected_unconfirmed = (
        np.zeros(n_inputs, dtype=np.int64)
        if unconfirmed is None
        else np.bincount(np.asarray(particles.input_of)[unconfirmed], minlength=n_inputs)
    )
    per_input = [
        {
            "file": name,
            "confirmed": int(c),
            "kept_alone": int(alone),
            "kept_confirmed": int(both),
            "rejected_unconfirmed": int(dropped),
        }
        for name, (c, alone, both), dropped in zip(particles.inputs, counts, rejected_unconfirmed)
    ]
    per_mic = _jaccard_of(size, matched)
    overall = _jaccard_of(size.sum(axis=0, keepdims=True), matched.sum(axis=0, keepdims=True))[0]
    agreement = mean_agreement(per_mic)
    defined = np.flatnonzero(~np.isnan(agreement))
    worst = defined[np.argsort(agreement[defined], kind="stable")][:10]
    return {
        "min_support": min_support,
        "per_input": per_input,
        "jaccard": _as_lists(overall),
        "jaccard_per_micrograph": dict(zip(particles.mic_names, _each_as_lists(per_mic))),
        "least_agreement": [
            {"micrograph": particles.mic_names[m], "mean_jaccard": round(float(agreement[m]), 4)} for m in worst
        ],
    }


def consensus_rows(consensus: dict) -> list[tuple[str, str]]:
    """The report of :func:`consensus_report` as (label, text) rows.

    Per input, its picks confirmed by another input, kept alone or confirmed, and (with a
    minimum support above 1) rejected as unconfirmed; the Jaccard index of each pair of
    inputs; the micrographs where they agree least.
    """
    labels = distinct_labels([i["file"] for i in consensus["per_input"]])
    k = consensus["min_support"]
    rows = [("Consensus", f"min support {k} of {len(labels)} inputs")]
    for label, i in zip(labels, consensus["per_input"]):
        text = (
            f"{i['confirmed']:,} confirmed by another input; kept {i['kept_confirmed']:,} confirmed, "
            f"{i['kept_alone']:,} alone"
        )
        if k > 1:
            text += f"; rejected {i['rejected_unconfirmed']:,} confirmed by fewer than {k} inputs"
        rows.append((f"  {label}", text))
    matrix = consensus["jaccard"]
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            value = matrix[a][b]
            rows.append((f"  Jaccard {labels[a]} / {labels[b]}", "n/a" if value is None else f"{value:.3f}"))
    worst = consensus["least_agreement"][:3]
    if worst:
        rows.append(("  Least agreement", "\n".join(f"{w['micrograph']} ({w['mean_jaccard']:.2f})" for w in worst)))
    return rows
