"""Benchmark of ``compare --metric czii``'s scoring (issue 69 item 1) on 1M picks, in process.

Generates a challenge-like project: ``--picks`` picks in all, half the reference and half the
candidate, over ``--tomograms`` tomograms (630 x 630 x 184 nm, as the challenge's) and its six
species; the candidate finds 80 % of the reference picks (jittered by a quarter of the radius),
10 % of them twice, and adds 10 % strays; every candidate pick has a score. Then times

(a) the metric as ``compare`` computes it (:mod:`cryodedup.algo.czii`): every species' hits
    over all tomograms at once, the counts, and the threshold sweep;
(b) the same without the sweep;
(c) the challenge's own way, for comparison: a scipy KDTree per tomogram and species, the
    candidate's ``query_ball_tree`` on the reference's and a set of the hits (no sweep);
(d) the one-to-one matching ``compare`` already does (pairs within the radius, Hopcroft-Karp).

Usage: python benches/bench_czii.py [--picks N] [--tomograms T] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.spatial import KDTree

from cryodedup.algo.czii import CHALLENGE_RADII, class_hits, class_scores, threshold_sweep
from cryodedup.algo.matching import maximum_matching, pairs_within

SIZE = np.array([6300.0, 6300.0, 1840.0])  # Å


def project(n_picks: int, n_tomograms: int, seed: int = 0) -> dict:
    """Per species: reference and candidate centres (Å), tomograms, and the candidate's scores."""
    rng = np.random.default_rng(seed)
    per_species = n_picks // 2 // len(CHALLENGE_RADII)
    made = {}
    for name, radius in CHALLENGE_RADII.items():
        n_ref = int(per_species / 1.0)
        ref = rng.uniform(0, 1, (n_ref, 3)) * SIZE
        ref_t = rng.integers(0, n_tomograms, n_ref)
        found = rng.random(n_ref) < 0.8
        twice = found & (rng.random(n_ref) < 0.1)
        chosen = np.concatenate([np.flatnonzero(found), np.flatnonzero(twice)])
        n_stray = n_ref - len(chosen)  # (the candidate as many picks as the reference)
        cand = np.concatenate(
            [ref[chosen] + rng.normal(0, radius / 4, (len(chosen), 3)), rng.uniform(0, 1, (n_stray, 3)) * SIZE]
        )
        cand_t = np.concatenate([ref_t[chosen], rng.integers(0, n_tomograms, n_stray)])
        scores = np.concatenate([rng.uniform(0.3, 1, len(chosen)), rng.uniform(0, 0.6, n_stray)]).round(3)
        made[name] = (ref, ref_t, cand, cand_t, scores, radius * 0.5)
    return made


def ours(made: dict, sweep: bool) -> float:
    """The metric as compare computes it; returns a checksum (the sum of F4)."""
    total = 0.0
    for ref, ref_t, cand, cand_t, scores, threshold in made.values():
        hits = class_hits(ref, ref_t, cand, cand_t, threshold, scores if sweep else None)
        total += class_scores(hits.tp, hits.fp, hits.fn, 4.0).f_beta
        if sweep:
            threshold_sweep(hits, scores, 4.0)
    return total


def challenges(made: dict) -> float:
    """The challenge's way: a KDTree per tomogram and species, query_ball_tree, a set of the hits."""
    total = 0.0
    for ref, ref_t, cand, cand_t, _, threshold in made.values():
        tp = fp = fn = 0
        ref_order, cand_order = np.argsort(ref_t, kind="stable"), np.argsort(cand_t, kind="stable")
        ref_cut = np.searchsorted(ref_t[ref_order], np.arange(ref_t.max() + 2))
        cand_cut = np.searchsorted(cand_t[cand_order], np.arange(ref_t.max() + 2))
        for t in range(len(ref_cut) - 1):
            r = ref[ref_order[ref_cut[t] : ref_cut[t + 1]]]
            c = cand[cand_order[cand_cut[t] : cand_cut[t + 1]]]
            if not len(r) or not len(c):
                fp, fn = fp + len(c), fn + len(r)
                continue
            matched = KDTree(c).query_ball_tree(KDTree(r), r=threshold)
            hit = len({j for m in matched for j in m})
            tp, fp, fn = tp + hit, fp + len(c) - hit, fn + len(r) - hit
        total += class_scores(tp, fp, fn, 4.0).f_beta
    return total


def one_to_one(made: dict) -> int:
    """compare's one-to-one matching at the same distance."""
    matched = 0
    for ref, ref_t, cand, cand_t, _, threshold in made.values():
        pairs = pairs_within(cand, cand_t, ref, ref_t, threshold)
        matched += int((maximum_matching(len(cand), len(ref), pairs) >= 0).sum())
    return matched


def timed(work, repeat: int) -> tuple[float, float, object]:
    """The median wall and CPU seconds of ``repeat`` runs, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--tomograms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    made = project(args.picks, args.tomograms)
    n = sum(len(m[0]) + len(m[2]) for m in made.values())
    print(f"{n:,} picks ({n // 2:,} reference + candidate), {args.tomograms} tomograms, 6 species")
    rows = [
        ("czii, with the sweep", lambda: ours(made, True)),
        ("czii, without the sweep", lambda: ours(made, False)),
        ("the challenge's code's way (scipy KDTree, no sweep)", lambda: challenges(made)),
        ("one-to-one matching (compare's default)", lambda: one_to_one(made)),
    ]
    results = {}
    for label, work in rows:
        wall, cpu, result = timed(work, args.repeat)
        results[label] = result
        print(f"{label}: {wall:.2f} s (CPU {cpu:.2f} s), result {result}")
    same = abs(results[rows[0][0]] - results[rows[2][0]]) < 1e-9
    print(f"czii's F4 sum equals the challenge's way: {same}")


if __name__ == "__main__":
    main()
