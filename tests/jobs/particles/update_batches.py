"""Batches of particles for the ``--update`` tests (RELION STAR, CryoSPARC .cs), and a brute-force oracle of the rule
over rounds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.synthetic import CS_EXTRACT_2D_FIELDS, _fill_extract_2d_rest, cs_micrograph_path, write_cs
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
OPTICS = [[1, "opticsGroup1", 1.0, 1.0]]
MIN_DIST = 20.0


def make_batch(path: Path, rng: np.random.Generator, mics: list[int], per_mic: int, optics=OPTICS) -> list[tuple]:
    """A batch of ``per_mic`` particles on each micrograph, written as STAR; its rows as (mic, x, y, score)."""
    rows = []
    for m in mics:
        for _ in range(per_mic):
            x, y = round(rng.uniform(0, 150), 2), round(rng.uniform(0, 150), 2)
            rows.append((f"mics/mic{m}.mrc", x, y, round(float(rng.uniform(0, 1)), 6)))
    write_star(path, LABELS, [[m, f"{x:.2f}", f"{y:.2f}", f"{s:.6f}", 1] for m, x, y, s in rows], optics=optics)
    return rows


def three_batches(folder: Path) -> list[Path]:
    """Three STAR batches of 60 particles on overlapping micrographs (1 and 2, 2 and 3, 3 and 1)."""
    rng = np.random.default_rng(5)
    paths = [folder / f"b{k}.star" for k in range(3)]
    for path, mics in zip(paths, [[1, 2], [2, 3], [3, 1]]):
        make_batch(path, rng, mics, 30)
    return paths


def run_round(batches: list[Path], outdir: Path, **options) -> dict:
    """One ``--update`` round (the job as the CLI and the API run it)."""
    opts = ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0, update=True, **options)
    return remove_duplicate_particles(batches, outdir, opts)


def oracle_rounds(batches: list[list[tuple]]) -> list[tuple[list[bool], int]]:
    """Each round's keep (per row) and the count of rejected rows that rank above the kept one that rejected them.

    By brute force: a row within MIN_DIST of a particle kept before is rejected, and counted when
    its score beats that of the best kept one within the distance; the others are decided
    greedily, best score first, a rejected row rejecting nothing.
    """
    kept: list[tuple] = []
    rounds = []

    def near(a: tuple, b: tuple) -> bool:
        return a[0] == b[0] and math.dist(a[1:3], b[1:3]) <= MIN_DIST

    for rows in batches:
        keep = [True] * len(rows)
        won = 0
        for i, row in enumerate(rows):
            blockers = [k for k in kept if near(row, k)]
            if blockers:
                keep[i] = False
                won += row[3] > max(k[3] for k in blockers)
        for i in sorted(range(len(rows)), key=lambda i: (-rows[i][3], i)):
            if keep[i]:
                for j in range(len(rows)):
                    if j != i and keep[j] and near(rows[i], rows[j]) and (-rows[j][3], j) > (-rows[i][3], i):
                        keep[j] = False
        kept += [row for row, k in zip(rows, keep) if k]
        rounds.append((keep, won))
    return rounds


def star_rows(path: Path) -> list[tuple]:
    """The particle rows of a STAR file written from :func:`make_batch` rows: (mic, x, y, score)."""
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == len(LABELS) and fields[0].startswith("mics/"):
            rows.append((fields[0], float(fields[1]), float(fields[2]), float(fields[3])))
    return rows


NX, NY, PSIZE = 4096, 4096, 1.0
#: Particles lie in a corner of 150 Å: within MIN_DIST of each other often enough.
SPREAD = 150.0


def make_cs_batch(
    path: Path, rng: np.random.Generator, mics: list[int], per_mic: int, stacks: str = "J5/extract"
) -> list[tuple]:
    """A batch of ``per_mic`` particles on each micrograph ``mics``, as a classic .cs; its rows as the oracle's.

    (mic, x, y, score, uid): the centre in Å as the reader computes it from the float32 fractions.
    ``stacks``: the folder of the particle stacks (a longer one: longer ``blob/path`` texts).
    """
    n = per_mic * len(mics)
    mic = np.repeat(mics, per_mic)
    out = np.zeros(n, dtype=CS_EXTRACT_2D_FIELDS)
    out["uid"] = rng.integers(1, 2**63, n, dtype=np.int64).astype(np.uint64)
    out["location/micrograph_uid"] = 10**6 + mic
    out["location/micrograph_path"] = [cs_micrograph_path(int(m)).encode() for m in mic]
    out["location/micrograph_shape"] = (NY, NX)
    out["location/center_x_frac"] = rng.uniform(0, SPREAD, n) / (NX * PSIZE)
    out["location/center_y_frac"] = rng.uniform(0, SPREAD, n) / (NY * PSIZE)
    out["location/micrograph_psize_A"] = PSIZE
    out["pick_stats/ncc_score"] = rng.uniform(0.1, 0.6, n)
    out["alignments2D/psize_A"] = out["blob/psize_A"] = 2.0
    out["alignments2D/error"] = rng.uniform(9e4, 1e5, n)
    out["blob/path"] = [f"{stacks}/mic{m}_particles.mrc".encode() for m in mic]
    out["blob/idx"] = np.arange(n) % per_mic
    _fill_extract_2d_rest(rng, out, np.searchsorted(np.unique(mic), mic), len(set(mics)))
    write_cs(path, out)
    x = out["location/center_x_frac"].astype(np.float64) * NX * PSIZE
    y = out["location/center_y_frac"].astype(np.float64) * NY * PSIZE
    score = out["pick_stats/ncc_score"].astype(np.float64)
    return [(int(m), float(a), float(b), float(s), int(u)) for m, a, b, s, u in zip(mic, x, y, score, out["uid"])]
