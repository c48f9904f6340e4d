"""The CZII cryo-ET challenge's metric as published (Kaggle's metric), by brute force: every pair, no tree.

Rows are tuples; what the challenge says is written out, not taken from cryodedup.
"""

from __future__ import annotations

import math

import numpy as np

#: The challenge's radii (Å) and weights, as it published them.
RADII = {
    "apo-ferritin": 60.0,
    "beta-amylase": 65.0,
    "beta-galactosidase": 90.0,
    "ribosome": 150.0,
    "thyroglobulin": 130.0,
    "virus-like-particle": 135.0,
}
WEIGHTS = dict(zip(RADII, [1.0, 0.0, 2.0, 1.0, 2.0, 1.0]))


def described_counts(reference, candidate, threshold, tomograms=None):
    """One class, all ``tomograms`` (by default the reference's): rows (tomogram, (x, y, z)). TP: reference picks
    hit; FP: candidates - TP (all of a tomogram without reference picks)."""
    tp = fp = fn = 0
    for tomogram in {t for t, _ in reference} if tomograms is None else tomograms:
        refs = [np.asarray(c, float) for t, c in reference if t == tomogram]
        cands = [np.asarray(c, float) for t, c in candidate if t == tomogram]
        hit = {j for c in cands for j, r in enumerate(refs) if math.dist(c, r) <= threshold}
        tp, fp, fn = tp + len(hit), fp + len(cands) - len(hit), fn + len(refs) - len(hit)
    return tp, fp, fn


def described_metric(reference, candidate, radii, weights, multiplier=0.5, beta=4.0):
    """The challenge's score: rows (tomogram, class, centre). Candidates on a tomogram without reference picks (of
    any class) are left out; one without reference picks of a class: all its candidates of that class false."""
    tomograms = {t for t, _, _ in reference}
    per_class = {}
    for name in sorted({k for _, k, _ in reference}):
        refs = [(t, c) for t, k, c in reference if k == name]
        cands = [(t, c) for t, k, c in candidate if k == name and t in tomograms]
        tp = fp = fn = 0
        for tomogram in tomograms:
            r = [x for x in refs if x[0] == tomogram]
            c = [x for x in cands if x[0] == tomogram]
            if not r:
                fp += len(c)
                continue
            a, b, d = described_counts(r, c, radii[name] * multiplier)
            tp, fp, fn = tp + a, fp + b, fn + d
        precision = tp / (tp + fp) if tp + fp > 0 else 0
        recall = tp / (tp + fn) if tp + fn > 0 else 0
        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if precision + recall > 0 else 0.0
        per_class[name] = (tp, fp, fn, precision, recall, f)
    total = sum(weights[name] for name in per_class)
    score = sum(per_class[n][5] * weights[n] for n in per_class) / total if total else None
    return per_class, score


def challenge_code_score(per_class, weights):
    """The score as the challenge's own code sums it: each class's F-beta x ``weights.get(class, 1.0)``, over the
    sum of every weight given (``aggregate_fbeta / sum(weights.values())``), whichever classes were scored."""
    return sum(f * weights.get(name, 1.0) for name, (*_, f) in per_class.items()) / sum(weights.values())


def described_sweep(reference, candidate, threshold, tomograms, beta=4.0):
    """rows (tomogram, centre, score): at each score t a candidate has, the counts of those scoring >= t; the
    area as sklearn's average precision (sum of precision x recall gained), the best F-beta's threshold."""
    n = len(reference)
    points = []
    for t in sorted({s for _, _, s in candidate}, reverse=True):
        kept = [(g, c) for g, c, s in candidate if s >= t]
        tp, fp, _ = described_counts(reference, kept, threshold, tomograms)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n if n else 0.0
        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if precision + recall else 0.0
        points.append((t, precision, recall, f))
    area, before = 0.0, 0.0
    for _, precision, recall, _ in points:
        area, before = area + (recall - before) * precision, recall
    best = max(points, key=lambda p: p[3])  # (max keeps the first of equals: the highest threshold)
    return points, area, best


def random_project(seed):
    """Reference and candidate rows (tomogram, class, centre, score): candidates near references (some twice),
    strays, classes swapped, a tomogram only the candidate has, a class only the candidate has."""
    rng = np.random.default_rng(seed)
    names = list(RADII)[: rng.integers(2, 6)]
    reference, candidate = [], []
    for tomogram in range(rng.integers(2, 5)):
        for name in names:
            if rng.random() < 0.2:
                continue  # (no reference picks of this class here)
            for _ in range(rng.integers(0, 8)):
                centre = tuple(rng.uniform(0, 2000, 3).round(1))
                reference.append((tomogram, name, centre))
                for _ in range(rng.choice([0, 1, 1, 2, 3])):  # (0: missed; 2, 3: duplicates)
                    offset = rng.normal(0, RADII[name] * 0.3, 3).round(1)
                    other = name if rng.random() < 0.9 else names[rng.integers(len(names))]
                    candidate.append((tomogram, other, tuple(np.add(centre, offset)), float(rng.integers(0, 20))))
        for _ in range(rng.integers(0, 6)):
            candidate.append((tomogram, names[rng.integers(len(names))], tuple(rng.uniform(0, 2000, 3)), 3.0))
    candidate.append((99, names[0], (5.0, 5.0, 5.0), 1.0))  # (a tomogram the reference has no picks on)
    candidate.append((0, "not-a-challenge-class", (5.0, 5.0, 5.0), 1.0))  # (a class the reference has not)
    return reference, candidate
