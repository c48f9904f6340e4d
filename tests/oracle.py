"""Independent references for the tests: a brute-force dedup and a centre calculator that
reads STAR files with the starfile package (not cryodedup's reader)."""

from __future__ import annotations

import math

import numpy as np
import starfile

#: Centres closer than this (Å) are one centre: min_dist 0 means within it (docs/design.md section 2).
SAME_CENTRE = 1e-3


def radius(min_dist):
    """The distance within which two centres are duplicates: ``min_dist``, at least SAME_CENTRE."""
    return max(min_dist, SAME_CENTRE)


def oracle(groups, coords, scores, min_dist, higher_is_better=True, remove_entirely=False, levels=None, images=None):
    """Compares every pair; ranks by level (lower first, where given), then by score (best
    first, ties by row; a score that is not finite last). With ``images`` (0: none), two rows
    of one image more than SAME_CENTRE apart or on two micrographs are duplicates whatever
    their distance."""
    n = len(groups)
    r2 = radius(min_dist) ** 2

    def d2(i, j):
        return sum((a - b) ** 2 for a, b in zip(coords[i], coords[j]))

    def within(i, j):
        return groups[i] == groups[j] and d2(i, j) <= r2

    def twins(i, j):  # (on two micrographs, one image is the same particle twice wherever its rows lie)
        same = images is not None and images[i] != 0 and images[i] == images[j]
        return same and (d2(i, j) > SAME_CENTRE**2 or groups[i] != groups[j])

    def close(i, j):
        return within(i, j) or twins(i, j)

    keep = [True] * n
    by = [-1] * n
    if remove_entirely:
        for i in range(n):
            near = [(d2(i, j), j) for j in range(n) if j != i and within(i, j)]
            same = [j for j in range(n) if j != i and twins(i, j)]
            if near or same:
                keep[i], by[i] = False, min(near)[1] if near else same[0]
        return keep, by

    def rank_key(i):
        level = 0 if levels is None else levels[i]
        s = scores[i]
        if not math.isfinite(s):
            return (level, 1, 0.0, i)
        return (level, 0, -s if higher_is_better else s, i)

    for i in sorted(range(n), key=rank_key):
        if not keep[i]:
            continue
        for j in range(n):
            if j != i and keep[j] and by[j] == -1 and close(i, j) and rank_key(j) > rank_key(i):
                keep[j], by[j] = False, i
    return keep, by


def star_centres(path, mic_psize=None, shift=True):
    """Particle table, centres in Å and micrograph names of a RELION 3.1 STAR, computed
    with starfile and numpy: centre = coordinate x micrograph pixel size - origin (Å)."""
    data = starfile.read(path, always_dict=True)
    particles = data["particles"]
    if mic_psize is None:
        optics = data["optics"].set_index("rlnOpticsGroup")
        mic_psize = optics.loc[particles["rlnOpticsGroup"], "rlnMicrographPixelSize"].to_numpy()
    centres = np.stack([particles[f"rlnCoordinate{a}"].to_numpy(float) * mic_psize for a in "XY"], axis=1)
    if shift:
        centres -= particles[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy(float)
    return particles, centres, particles["rlnMicrographName"].to_numpy()


def oracle_by_group(groups, centres, scores, min_dist, higher_is_better=True):
    """The greedy rule with a full distance matrix per micrograph: for files of thousands."""
    keep = np.ones(len(groups), dtype=bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        d2 = ((centres[idx, None, :] - centres[None, idx, :]) ** 2).sum(-1)
        s = np.asarray(scores, dtype=float)[idx]
        key = np.where(np.isnan(s), np.inf, -s if higher_is_better else s)
        suppressed = np.zeros(len(idx), dtype=bool)
        for r in np.lexsort((np.arange(len(idx)), key)):
            if suppressed[r]:
                continue
            close = d2[r] <= radius(min_dist) ** 2
            close[r] = False
            suppressed |= close
        keep[idx] = ~suppressed
    return keep


def oracle_support(groups, coords, inputs, min_dist, images=None):
    """Consensus support by brute force: for each pick, the set of inputs of all picks of
    its micrograph within min_dist (itself included), counted. With ``images`` (0: none,
    ``--same-image reject``), a pick's image is one particle: the picks within min_dist of
    any row of its image count, on any micrograph."""
    groups, coords, inputs = np.asarray(groups), np.asarray(coords, dtype=float), np.asarray(inputs)
    n = len(groups)
    near = np.zeros((n, n), dtype=bool)
    for i in range(n):
        close = ((coords - coords[i]) ** 2).sum(axis=1) <= radius(min_dist) ** 2
        near[i] = (groups == groups[i]) & close
    if images is not None:
        images = np.asarray(images)
        for i in np.flatnonzero(images != 0):
            near[i] |= near[images == images[i]].any(axis=0)
    return np.array([len(set(inputs[near[i]].tolist())) for i in range(n)], dtype=np.int64)


def oracle_filaments(groups, tubes, coords, scores, min_dist, whole_tubes=False):
    """Filament rules by brute force (docs/design.md section 8), higher scores better.

    Segment mode: the greedy rule of :func:`oracle` where two rows of one non-zero tube are
    never close. Tube mode: tubes of a micrograph ranked by mean score (ties by first row),
    each rejected whole when more than half its rows lie within ``min_dist`` of a row of a
    kept tube, else kept whole. Tube 0 is a tube of one row.
    """
    n = len(groups)
    tube_key = [(groups[i], tubes[i]) if tubes[i] else (groups[i], "row", i) for i in range(n)]

    def close(i, j):
        if groups[i] != groups[j] or tube_key[i] == tube_key[j]:
            return False
        return sum((a - b) ** 2 for a, b in zip(coords[i], coords[j])) <= min_dist * min_dist

    if not whole_tubes:
        keep = [True] * n
        for i in sorted(range(n), key=lambda i: (-scores[i], i)):
            if keep[i]:
                for j in range(n):
                    if keep[j] and close(i, j) and (-scores[j], j) > (-scores[i], i):
                        keep[j] = False
        return keep
    rows_of = {}
    for i in range(n):
        rows_of.setdefault(tube_key[i], []).append(i)
    ranked = sorted(rows_of.values(), key=lambda rows: (-sum(scores[i] for i in rows) / len(rows), rows[0]))
    keep, kept_rows = [True] * n, []
    for rows in ranked:
        covered = sum(any(close(i, j) for j in kept_rows) for i in rows)
        if 2 * covered > len(rows):
            for i in rows:
                keep[i] = False
        else:
            kept_rows += rows
    return keep


def oracle_percentiles(scores, by):
    """Each score's percentile within its own ``by`` by counting, higher better: (worse + equal / 2) / count,
    its own score among the equal; a score that is not finite is none: NaN, and not counted."""
    scores, by = np.asarray(scores, dtype=float), np.asarray(by)
    out = np.full(len(scores), np.nan)
    for i in range(len(scores)):
        if not math.isfinite(scores[i]):
            continue
        mine = [j for j in range(len(scores)) if by[j] == by[i] and math.isfinite(scores[j])]
        worse = sum(scores[j] < scores[i] for j in mine)
        equal = sum(scores[j] == scores[i] for j in mine)
        out[i] = (worse + equal / 2) / len(mine)
    return out


def oracle_species(groups, coords, species, scores, min_dists, radii, overlap, levels=None):
    """Several species by brute force (docs/design.md section 13), higher scores better: each species
    deduplicated on its own at its distance (:func:`oracle`), then the survivors walked best first by
    level (lower first, where given), then their percentile within their species (no score last, ties by
    row), each kept pick displacing the picks of other species closer than (r_a + r_b) x overlap.
    Returns keep and, per row, the displacing row or -1."""
    n = len(groups)
    keep = [False] * n
    for s in sorted(set(species)):
        rows = [i for i in range(n) if species[i] == s]
        kept, _ = oracle(
            [groups[i] for i in rows],
            [coords[i] for i in rows],
            [scores[i] for i in rows],
            min_dists[s],
            levels=None if levels is None else [levels[i] for i in rows],
        )
        for i, k in zip(rows, kept):
            keep[i] = k
    pct = oracle_percentiles(scores, species)

    def rank_key(i):
        level = 0 if levels is None else levels[i]
        return (level, math.isnan(pct[i]), -pct[i] if not math.isnan(pct[i]) else 0.0, i)

    order = sorted(range(n), key=rank_key)
    displaced = [-1] * n
    for i in order:
        if not keep[i] or displaced[i] >= 0:
            continue
        for j in range(n):
            if j == i or not keep[j] or displaced[j] >= 0 or species[j] == species[i] or groups[j] != groups[i]:
                continue
            d2 = sum((a - b) ** 2 for a, b in zip(coords[i], coords[j]))
            if d2 < ((radii[species[i]] + radii[species[j]]) * overlap) ** 2:
                displaced[j] = i
    return [k and d < 0 for k, d in zip(keep, displaced)], displaced


def oracle_priority(levels, keep, by, scores=None, higher_is_better=True):
    """The groups a brute-force decision's priority levels decided: (groups, by priority,
    against the score). A group is a kept row and the rows it suppressed; priority decided it
    when one of those has a higher level than the kept row, against the score when such a
    row also has a strictly better score (a real one; a tie is not against it, issue 54). Without ``scores``,
    against the score is 0."""
    decided = {}  # kept row -> [by priority, against the score]
    sign = 1.0 if higher_is_better else -1.0
    for row, kept_by in enumerate(by):
        if keep[row] or kept_by < 0:
            continue
        group = decided.setdefault(kept_by, [False, False])
        if levels[row] > levels[kept_by]:
            group[0] = True
            if scores is not None and math.isfinite(scores[row]):
                theirs, ours = sign * scores[row], sign * scores[kept_by]
                group[1] |= not math.isfinite(ours) or theirs > ours
    return len(decided), sum(g[0] for g in decided.values()), sum(g[1] for g in decided.values())
