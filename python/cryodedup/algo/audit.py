"""What duplicates did to a refinement: the half-set audit, half-sets per micrograph, symmetry copies.

A particle present twice, once in each half-set of a gold-standard refinement, correlates
the two half-maps and inflates the FSC. The audit counts the duplicate pairs that straddle
the halves (docs/design.md section 9):

- a **duplicate group** is the rows the decision joins: a rejected particle with the particle
  that suppressed it (the ``suppressed_by`` of the decision: its kept, better-ranked neighbour;
  in remove-entirely mode its nearest neighbour), and so on (a kept row with the rows it
  rejected). A **duplicate pair** is any two rows of one group: a group of k is k (k - 1) / 2
  pairs, whichever row was kept (issue 97: counting only the pairs with the row kept made the
  count depend on which row that was, and left copies across the halves uncounted);
- it **straddles** when its two particles are in different half-sets: a group of a rows in one
  half and b in the other has a b straddling pairs, what its copies add to the half-maps' shared
  noise (:mod:`cryodedup.algo.fsc`).

``--halfsets micrograph`` then gives the kept particles of one micrograph one half-set, so
that neighbours which escaped the minimum distance cannot straddle either (cisTEM's rule).
``--halfsets trim`` instead rejects the lowest-ranked kept particles of the larger half until the
halves differ by at most one (:func:`halfset_trim`): no particle changes half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CryodedupError
from ..particle_set import HalfSets, ParticleSet
from .dedup import SAME_CENTRE_A
from .same_image import all_distinct

__all__ = [
    "PAIRS_COUNTED",
    "TOP_MICROGRAPHS",
    "check_halfsets",
    "connected",
    "distance_pairs",
    "halfset_audit",
    "halfset_sizes",
    "halfset_trim",
    "halfsets_by_micrograph",
    "most_kept_on_a_micrograph",
    "read_halves",
    "straddling_per_micrograph",
    "symmetry_copies",
]

#: What ``--json``'s ``duplicate_pairs`` and ``straddling_pairs`` count (``pairs_counted``).
PAIRS_COUNTED = (
    "every two rows of one duplicate group (a kept row and the rows it rejected, joined by the decision); "
    "straddling: those in different half-sets (a group of a rows in one half and b in the other: a b)"
)

#: Micrographs listed by name in the summary, the most straddling pairs first.
TOP_MICROGRAPHS = 10


def duplicate_groups(suppressed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows in a duplicate group and each one's group (its smallest row), rows sorted by group, then row.

    The groups are the connected parts of the graph of ``suppressed_by`` (each rejected row joined to the row that
    suppressed it); rows in no pair are in none.
    """
    rows = np.flatnonzero(suppressed_by >= 0)
    other = suppressed_by[rows].astype(np.int64)
    if rows.size and (suppressed_by[other] < 0).all():  # (each suppressor kept: a group is one kept row's)
        kept = np.unique(other)
        members, root = np.concatenate([rows, kept]), np.concatenate([other, kept])
        least = np.full(suppressed_by.size, suppressed_by.size, dtype=np.int64)
        np.minimum.at(least, root, members)
        label = least[root]
        order = np.lexsort((members, label))
        return members[order].astype(np.int64), label[order]
    return connected(rows, other)


def connected(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the graph of edges (``first``, ``second``) and each one's connected part (its smallest row).

    Rows sorted by part, then row.
    """
    if first.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nodes = np.unique(np.concatenate([first, second]).astype(np.int64))
    u, v = np.searchsorted(nodes, first), np.searchsorted(nodes, second)
    label = np.arange(nodes.size)
    while True:  # (each node takes its neighbours' least label, then its label's: the part's least, in few rounds)
        least = np.minimum(label[u], label[v])
        new = label.copy()
        np.minimum.at(new, u, least)
        np.minimum.at(new, v, least)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    order = np.lexsort((nodes, label))
    return nodes[order], nodes[label[order]]


def duplicate_pairs(suppressed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (first, second row) of rows within one duplicate group (:func:`duplicate_groups`), sorted."""
    rows, group = duplicate_groups(suppressed_by)
    if rows.size == 0:
        return rows, rows
    # (each row pairs with the rows after it in its group: the group's end less its place, less one)
    ends = np.searchsorted(group, group, side="right")
    after = ends - np.arange(rows.size) - 1
    first = np.repeat(np.arange(rows.size), after)
    step = np.arange(first.size) - np.repeat(np.cumsum(after) - after, after)
    a, b = rows[first], rows[first + 1 + step]
    n = np.int64(max(suppressed_by.size, 1))
    keys = np.sort(np.minimum(a, b) * n + np.maximum(a, b))
    return keys // n, keys % n


def distance_pairs(particles: ParticleSet, suppressed_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`duplicate_pairs` less the pairs of rows of one image at different centres or micrographs.

    ``--same-image reject`` makes those duplicates whatever their distance, even across
    micrographs; the audit counts them on their own (``same_image_pairs``), not as pairs
    within the minimum distance, and each pair left lies on one micrograph.
    """
    a, b = duplicate_pairs(suppressed_by)
    # (a group joined by one image across micrographs pairs rows of other images across them too: not one particle)
    one = particles.groups[a] == particles.groups[b]
    images = particles.images
    if images is None or a.size == 0 or all_distinct(images):
        return a[one], b[one]
    keys = images.keys
    apart = (particles.groups[a] != particles.groups[b]) | (
        np.linalg.norm(particles.centres[a] - particles.centres[b], axis=1) > SAME_CENTRE_A
    )
    same = keys[a] == keys[b]
    distance = one & ~(same & apart)
    return a[distance], b[distance]


def straddling_per_micrograph(
    particles: ParticleSet, suppressed_by: np.ndarray, pairs: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per micrograph id, the duplicate pairs that straddle the halves and those within one half.

    ``pairs``: the decision's :func:`distance_pairs`, when the caller has them.
    """
    assert particles.halfsets is not None
    a, b = distance_pairs(particles, suppressed_by) if pairs is None else pairs
    half = particles.halfsets.half
    across = half[a] != half[b]
    n_mics = len(particles.mic_names)
    mic = particles.groups[a]  # both of a pair are on one micrograph
    return np.bincount(mic[across], minlength=n_mics), np.bincount(mic[~across], minlength=n_mics)


@dataclass(frozen=True)
class HalfsetCounts:
    """The half-set audit's numbers (:func:`halfset_audit`); the summary's section words them.

    ``fraction``: of all particles, those in a straddling pair (not rounded); ``top_micrographs``:
    (name, straddling pairs, particles), the most straddling first, at most :data:`TOP_MICROGRAPHS`;
    ``same_image``: (pairs of rows of one image at different centres, those straddling), when the
    images were read.
    """

    duplicate_pairs: int
    straddling_pairs: int
    particles_straddling: int
    fraction: float
    micrographs_with_straddling: int
    top_micrographs: tuple[tuple[str, int, int], ...]
    same_image: tuple[int, int] | None = None


def halfset_audit(
    particles: ParticleSet,
    suppressed_by: np.ndarray,
    same_image: tuple[np.ndarray, np.ndarray] | None = None,
) -> HalfsetCounts:
    """The half-set audit of the input's duplicates: the pairs that straddle the halves, and where.

    ``same_image``: the pairs of rows of one particle image at different centres
    (:func:`cryodedup.algo.same_image.same_image_pairs`), counted on their own: one image in
    both half-sets is the worst duplicate, whatever became of it.
    """
    halfsets = particles.halfsets
    assert halfsets is not None
    a, b = distance_pairs(particles, suppressed_by)
    across = halfsets.half[a] != halfsets.half[b]
    involved = np.unique(np.concatenate([a[across], b[across]])).size
    straddling, _ = straddling_per_micrograph(particles, suppressed_by, (a, b))
    counts = np.bincount(particles.groups, minlength=len(particles.mic_names))
    worst = [int(m) for m in np.lexsort((np.arange(straddling.size), -straddling)) if straddling[m] > 0]
    images = None
    if same_image is not None:
        first, second = same_image
        images = (int(first.size), int(np.count_nonzero(halfsets.half[first] != halfsets.half[second])))
    n_across = int(np.count_nonzero(across))
    return HalfsetCounts(
        duplicate_pairs=int(a.size),
        straddling_pairs=n_across,
        particles_straddling=int(involved),
        fraction=involved / len(particles) if len(particles) else 0.0,
        micrographs_with_straddling=int(np.count_nonzero(straddling)),
        top_micrographs=tuple(
            (particles.mic_names[m], int(straddling[m]), int(counts[m])) for m in worst[:TOP_MICROGRAPHS]
        ),
        same_image=images,
    )


def halfsets_by_micrograph(groups: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """A half-set (0 or 1) for every row, the same for all kept rows of a micrograph.

    Micrographs are taken by their number of kept rows, largest first (ties by id), each
    into the half that holds fewer rows so far (ties: half 0). After each step the halves
    differ by at most the largest micrograph's count, and so at the end. Rejected rows get
    the half of their micrograph too; the writer leaves theirs as they were.
    """
    n_mics = int(groups.max()) + 1 if groups.size else 0
    kept = np.bincount(groups[keep], minlength=n_mics)
    half_of_mic = np.zeros(n_mics, dtype=np.int8)
    sizes = [0, 0]
    for mic in np.lexsort((np.arange(n_mics), -kept)):
        if kept[mic] == 0:
            break
        smaller = 0 if sizes[0] <= sizes[1] else 1
        half_of_mic[mic] = smaller
        sizes[smaller] += int(kept[mic])
    return half_of_mic[groups]


def halfset_trim(
    half: np.ndarray,
    keep: np.ndarray,
    scores: np.ndarray | None,
    higher_is_better: bool,
    seed: int,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """The kept rows to reject so that the kept halves differ by at most one (``--halfsets trim``), as a mask.

    The larger half (by its kept rows) loses ``larger - smaller - 1`` of its kept rows, the worst
    ranked first: the lowest score (the highest where lower is better), a row without a score (NaN)
    before any scored, and of tied scores the later row first (the dedup keeps the earlier of a tie).
    Without ``scores``, a seeded random choice: the larger half's kept rows, in row order, permuted by
    ``numpy.random.default_rng(seed).permutation``, the first of the permutation rejected. No row
    changes half: the halves of a refinement stay those it refined. ``fixed``: kept rows never trimmed (forced
    kept by ``--overrides``); the halves then differ by more where only fixed rows could go.
    """
    trimmed = np.zeros(keep.size, dtype=bool)
    sizes = halfset_sizes(half, keep)
    larger = int(sizes[1] > sizes[0])
    excess = sizes[larger] - sizes[1 - larger] - 1
    if excess <= 0:
        return trimmed
    movable = keep & (half == larger)
    if fixed is not None:
        movable &= ~fixed
    rows = np.flatnonzero(movable)
    excess = min(excess, rows.size)
    if scores is None:
        worst = rows[np.random.default_rng(seed).permutation(rows.size)[:excess]]
    else:
        score = np.asarray(scores, dtype=np.float64)[rows]
        scored = np.isfinite(score)
        ranked = np.where(scored, score if higher_is_better else -score, 0.0)
        # (lexsort: the last key first; unscored first, then the lowest rank, then the latest row)
        worst = rows[np.lexsort((-rows, ranked, scored))[:excess]]
    trimmed[worst] = True
    return trimmed


def halfset_sizes(half: np.ndarray, keep: np.ndarray) -> list[int]:
    """Kept rows in half 0 and in half 1."""
    return [int(v) for v in np.bincount(half[keep].astype(np.int64), minlength=2)[:2]]


def most_kept_on_a_micrograph(groups: np.ndarray, keep: np.ndarray) -> int:
    """The most kept rows on one micrograph (none split by ``--halfsets micrograph``)."""
    return int(np.bincount(groups[keep]).max()) if keep.any() else 0


def check_halfsets(particles: ParticleSet, mode: str = "micrograph") -> HalfSets:
    """The half-sets ``--halfsets micrograph`` reassigns (``trim`` balances): refused when the particles carry none."""
    if particles.halfsets is None:
        raise CryodedupError(
            f"--halfsets {mode}: the particles carry no half-set column (rlnRandomSubset with values 1 and 2, "
            "or CryoSPARC's alignments3D/split with 0 and 1); give the output of a refinement"
        )
    return particles.halfsets


def read_halves(values: np.ndarray, texts: Sequence[str], label: str, where: str) -> tuple[np.ndarray | None, str]:
    """Each row's half (0 or 1) from a column holding ``texts`` as numbers, or None and why not.

    A column with any other value (0 where RELION writes 1 and 2, NaN) is not a half-set
    assignment: None, with a warning for the user.
    """
    first, second = float(texts[0]), float(texts[1])
    valid = (values == first) | (values == second)
    if values.size and not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        return None, (
            f"{where}: {label} is {values[bad]:g} for particle {bad + 1}, expected {texts[0]} or {texts[1]}; "
            "no half-set audit"
        )
    return (values == second).astype(np.int8), ""


def symmetry_copies(sources: np.ndarray, keep: np.ndarray) -> tuple[int, tuple[tuple[int, int], ...]]:
    """How many copies of each symmetry-expanded source particle were kept.

    ``sources`` names the source of each row (CryoSPARC ``sym_expand/src_uid``, or the
    id of RELION's ``rlnImageName``: expanded copies share the image). Returns the sources,
    and (copies kept, sources with that many) by copies kept.
    """
    ids, inverse = np.unique(sources, return_inverse=True)
    kept_per_source = np.bincount(inverse.ravel()[keep], minlength=ids.size)
    copies, how_many = np.unique(kept_per_source, return_counts=True)
    return int(ids.size), tuple((int(c), int(h)) for c, h in zip(copies, how_many))
