"""The CZII cryo-ET object identification challenge's metric, on arrays; its score threshold swept.

As the challenge published it (Kaggle, "CZII - CryoET Object Identification"): per class and
per tomogram, a candidate pick hits a reference pick within the class's radius x a multiplier
(0.5; the distance at most that, inclusive); the true positives are the reference picks hit by
any candidate, the false positives the candidates less the true positives (two hits on one
reference pick: one of them false), the misses the reference picks less the true positives.
They are summed over the tomograms before a class is scored by F-beta (beta 4), and the
classes weighted into one score. Unlike the one-to-one matching (:mod:`.matching`), one
candidate may hit several reference picks: the challenge counts each (its false positives can
then fall below 0, as its own code's do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .matching import f_beta, pairs_within

__all__ = [
    "CHALLENGE_BETA",
    "CHALLENGE_MULTIPLIER",
    "CHALLENGE_RADII",
    "CHALLENGE_WEIGHTS",
    "ThresholdSweep",
    "class_hits",
    "class_scores",
    "threshold_sweep",
    "weighted_score",
]

#: The challenge's particle radii in Å.
CHALLENGE_RADII = {
    "apo-ferritin": 60.0,
    "beta-amylase": 65.0,
    "beta-galactosidase": 90.0,
    "ribosome": 150.0,
    "thyroglobulin": 130.0,
    "virus-like-particle": 135.0,
}
#: The challenge's weights of its classes (beta-amylase not scored); any other class weighs 1.
CHALLENGE_WEIGHTS = {
    "apo-ferritin": 1.0,
    "beta-amylase": 0.0,
    "beta-galactosidase": 2.0,
    "ribosome": 1.0,
    "thyroglobulin": 2.0,
    "virus-like-particle": 1.0,
}
CHALLENGE_BETA = 4.0
CHALLENGE_MULTIPLIER = 0.5

#: A hit's distance is compared exactly; the neighbour search (micrographs laid side by side,
#: whose sums round) looks this fraction farther so that a hit at exactly the threshold is found.
_SEARCH_MARGIN = 1e-6


@dataclass
class ClassHits:
    """One class's hits over every tomogram scored.

    ``best_score``: per reference pick, the highest score of the candidates that hit it (NaN
    where none does, or without scores); ``nearest``: per reference pick, the distance in Å to
    the nearest candidate that hits it (NaN where none does).
    """

    references: int
    candidates: int
    hit: np.ndarray  # bool per reference pick
    best_score: np.ndarray
    nearest: np.ndarray

    @property
    def tp(self) -> int:
        """True positives: the reference picks hit."""
        return int(np.count_nonzero(self.hit))

    @property
    def fp(self) -> int:
        """False positives: the candidates less the true positives."""
        return self.candidates - self.tp

    @property
    def fn(self) -> int:
        """Misses: the reference picks not hit."""
        return self.references - self.tp


def class_hits(
    reference: np.ndarray,
    reference_tomograms: np.ndarray,
    candidate: np.ndarray,
    candidate_tomograms: np.ndarray,
    threshold: float,
    candidate_scores: np.ndarray | None = None,
) -> ClassHits:
    """Which reference picks of one class the candidates hit, tomogram by tomogram (centres in Å, (n, 2 or 3))."""
    n_ref = len(reference)
    nearest = np.full(n_ref, np.nan)
    best = np.full(n_ref, np.nan)
    hit = np.zeros(n_ref, dtype=bool)
    search = threshold * (1 + _SEARCH_MARGIN) + _SEARCH_MARGIN
    pairs = pairs_within(candidate, candidate_tomograms, reference, reference_tomograms, search)
    c, r = pairs[:, 0], pairs[:, 1]
    distance = np.sqrt(((candidate[c] - reference[r]) ** 2).sum(axis=1))
    within = distance <= threshold
    c, r, distance = c[within], r[within], distance[within]
    hit[r] = True
    nearest[hit] = np.inf
    np.minimum.at(nearest, r, distance)
    if candidate_scores is not None:
        best[hit] = -np.inf
        np.maximum.at(best, r, candidate_scores[c])
    return ClassHits(n_ref, len(candidate), hit, best, nearest)


@dataclass(frozen=True)
class ClassScores:
    """A class's precision, recall and F-beta."""

    precision: float
    recall: float
    f_beta: float


def class_scores(tp: int, fp: int, fn: int, beta: float) -> ClassScores:
    """Precision, recall (0 where undefined, as the challenge) and F-beta of summed counts."""
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    return ClassScores(precision, recall, f_beta(precision, recall, beta))


def weighted_score(f_betas: dict[str, float], weights: dict[str, float], total: float | None = None) -> float | None:
    """The sum of each class's F-beta x its weight over the sum of their weights; None when they weigh 0.

    ``total``: what to divide by instead. The challenge's code divides by the sum of all its
    classes' weights (7), whichever classes the solution has: a project of two classes, each
    scored 1, scores (1 + 1) / 7 there (``compare --czii-weights all``).
    """
    total = sum(weights[name] for name in f_betas) if total is None else total
    return sum(f * weights[name] for name, f in f_betas.items()) / total if total > 0 else None


@dataclass(frozen=True)
class ThresholdSweep:
    """The metric at each score threshold (highest first), its average precision, and its best F-beta's threshold."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f_beta: np.ndarray
    average_precision: float
    #: The threshold of the best F-beta (the highest of equals), and that F-beta (NaN: no threshold).
    best_threshold: float
    best_f_beta: float


def threshold_sweep(hits: ClassHits, candidate_scores: np.ndarray, beta: float) -> ThresholdSweep:
    """The metric with only the candidates scoring at least t kept, for each t a candidate scores.

    A reference pick is hit at t when its best hitter scores at least t (``hits.best_score``).
    Returns the thresholds (highest first), the precision, recall and F-beta at each, the area
    under the precision-recall curve as average precision (sum of precision x the recall
    gained, ties of score one step: sklearn's and topaz's ``precision_recall_curve``), and the
    threshold of the best F-beta (the highest of equals).
    """
    thresholds = np.unique(candidate_scores)[::-1]
    kept = np.searchsorted(np.sort(-candidate_scores), -thresholds, side="right")
    best = hits.best_score[hits.hit]
    tp = np.searchsorted(np.sort(-best), -thresholds, side="right")
    precision = np.where(kept > 0, tp / np.maximum(kept, 1), 0.0)
    recall = tp / hits.references if hits.references else np.zeros(len(thresholds))
    b2 = beta * beta
    denominator = b2 * precision + recall
    score = np.where(denominator > 0, (1 + b2) * precision * recall / np.where(denominator > 0, denominator, 1), 0.0)
    gained = np.diff(np.concatenate([[0.0], recall]))
    at = int(np.argmax(score)) if len(score) else -1
    return ThresholdSweep(
        thresholds=thresholds,
        precision=precision,
        recall=recall,
        f_beta=score,
        average_precision=float((gained * precision).sum()),
        best_threshold=float(thresholds[at]) if at >= 0 else float("nan"),
        best_f_beta=float(score[at]) if at >= 0 else float("nan"),
    )
