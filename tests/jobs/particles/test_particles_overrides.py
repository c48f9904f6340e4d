"""``particles --overrides``: forced keeps and rejects, against a greedy walk written here (no cryodedup code).

The rows: the RELION 3.1 tutorial's template extraction, ``Extract/job012/particles.star``, as a
particle STAR written here of the template picks it extracted (``../shared/data`` holds AutoPick/job011's
2,038 picks on 5 micrographs with their figures of merit, not the extraction itself; the images are named
as Extract names them). The oracle: a forced keep is kept and rejects every row within 150 Å of it on its
micrograph; a forced reject rejects none; the others walk by score (ties by row), each kept where no
kept row lies within 150 Å. The plain run, an ``--update`` round (the rows in two batches) and
``--shard K/2`` with ``particles-merge`` keep the oracle's set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_particle_shards import shards_then_merge

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.formats.overrides import format_overrides
from helpers import one_error_line, shared_file, write_star

TEMPLATE = "picks/relion31-tutorial/AutoPick/job011/Movies"
EXTRACTED = "Extract/job012/particles.star"
LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnMicrographName", "rlnImageName"]
PSIZE, MIN_DIST = 0.885, 150.0
OPTIONS = {"min_dist": MIN_DIST, "score": "rlnAutopickFigureOfMerit", "decisions": True}


def tutorial_rows() -> list[list[str]]:
    """The template picks as particle rows: x, y, figure of merit, micrograph, image (numbered per micrograph)."""
    rows = []
    for path in sorted(shared_file(TEMPLATE).glob("*_autopick.star")):
        stem = path.name.removesuffix("_autopick.star")
        fields = [line.split() for line in path.read_text().splitlines()]
        picks = [f for f in fields if len(f) == 5 and f[0][0].isdigit()]
        for k, f in enumerate(picks, start=1):
            rows.append(
                [f[0], f[1], f[3], f"MotionCorr/job002/Movies/{stem}.mrc", f"{k:06d}@Extract/job012/Movies/{stem}.mrcs"]
            )
    return rows


def write_particles(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = [*LABELS, "rlnOpticsGroup"]
    return write_star(path, labels, [[*r, 1] for r in rows], optics=[[1, "opticsGroup1", 3.54, PSIZE]])


def the_rows(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    """``Extract/job012/particles.star`` under ``tmp_path`` (the shared copy, else written) and its rows."""
    rows = tutorial_rows()
    return write_particles(tmp_path / EXTRACTED, rows), rows


def oracle(rows, keep_names=(), reject_names=(), before=()) -> set[str]:
    """The names kept by a greedy walk with forced keeps first (all kept) and forced rejects out.

    ``before``: rows kept by an earlier round (never revoked; they reject what lies near them).
    """
    kept: list[list[str]] = []
    near_kept = [*before]

    def near(row, others) -> bool:
        x, y = float(row[0]) * PSIZE, float(row[1]) * PSIZE
        return any(
            o[3] == row[3] and (x - float(o[0]) * PSIZE) ** 2 + (y - float(o[1]) * PSIZE) ** 2 <= MIN_DIST**2
            for o in others
        )

    forced = [r for r in rows if r[4] in keep_names]
    kept += forced
    near_kept += forced
    order = sorted(range(len(rows)), key=lambda i: (-float(rows[i][2]), i))
    for i in order:
        row = rows[i]
        if row[4] in keep_names or row[4] in reject_names:
            continue
        if not near(row, near_kept):
            kept.append(row)
            near_kept.append(row)
    return {r[4] for r in kept}


def names_in(path: Path) -> set[str]:
    return {line.split()[4] for line in path.read_text().splitlines() if "@Extract" in line}


def forced_choice(rows) -> tuple[list[int], list[int]]:
    """20 rows the plain greedy rejects and 20 it keeps (seeded), by index."""
    plain = oracle(rows)
    rng = random.Random(100)
    rejected = [i for i, r in enumerate(rows) if r[4] not in plain]
    kept = [i for i, r in enumerate(rows) if r[4] in plain]
    return rng.sample(rejected, 20), rng.sample(kept, 20)


def overrides_of(path: Path, named: list[tuple[str, int, str, str]]) -> Path:
    path.write_text(format_overrides(named, [("mic_a.mrc", "mic_b.mrc", "distinct")]), newline="")
    return path


@pytest.mark.real_data
@pytest.mark.parametrize("shuffled", [False, True], ids=["as-picked", "micrographs-interleaved"])
def test_the_plain_run_keeps_the_greedy_walks_set_with_the_forced_rows(tmp_path, monkeypatch, shuffled):
    monkeypatch.chdir(tmp_path)
    _, rows = the_rows(tmp_path)
    if shuffled:  # (the rows of one micrograph apart in the file: the keeps' neighbours are searched unordered)
        random.Random(7).shuffle(rows)
        write_particles(tmp_path / EXTRACTED, rows)
    to_keep, to_reject = forced_choice(rows)
    named = [(EXTRACTED, i + 1, rows[i][4], "keep") for i in to_keep]
    named += [(EXTRACTED, i + 1, rows[i][4], "reject") for i in to_reject]
    overrides = overrides_of(tmp_path / "overrides.csv", named)
    summary = remove_duplicate_particles([EXTRACTED], "out", ParticleOptions(**OPTIONS, overrides=overrides))
    expected = oracle(rows, {rows[i][4] for i in to_keep}, {rows[i][4] for i in to_reject})
    assert names_in(tmp_path / "out/particles_kept.star") == expected
    assert expected != oracle(rows)  # (the overrides changed something)
    section = summary.to_json()["overrides"]
    assert (section["applied"], section["forced_kept"], section["forced_rejected"]) == (40, 20, 20)
    assert section["pair_lines"] == 1 and section["naming_nothing"] == []
    with open(tmp_path / "out/decisions.csv", newline="") as f:
        record = {r["particle"]: r for r in csv.DictReader(f)}
    for i in to_reject:
        assert record[rows[i][4]]["rule"] == "override" and record[rows[i][4]]["kept_particle"] == ""
    forced_names = {rows[i][4] for i in to_keep}
    by_forced = [r for r in record.values() if r["rule"] == "override" and r["kept_particle"]]
    assert len(by_forced) == section["rejected_by_forced"] > 0
    assert all(r["kept_particle"] in forced_names and float(r["distance_A"]) <= MIN_DIST for r in by_forced)


@pytest.mark.real_data
def test_two_forced_keeps_within_the_distance_are_both_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, rows = the_rows(tmp_path)
    plain = oracle(rows)
    # A kept row and a row it rejects (on one micrograph, within 150 Å): both forced kept.
    first = next(i for i, r in enumerate(rows) if r[4] in plain)
    x, y = float(rows[first][0]) * PSIZE, float(rows[first][1]) * PSIZE
    second = next(
        i
        for i, r in enumerate(rows)
        if i != first
        and r[3] == rows[first][3]
        and (float(r[0]) * PSIZE - x) ** 2 + (float(r[1]) * PSIZE - y) ** 2 <= MIN_DIST**2
    )
    named = [(EXTRACTED, k + 1, rows[k][4], "keep") for k in (first, second)]
    overrides = overrides_of(tmp_path / "overrides.csv", named)
    remove_duplicate_particles([EXTRACTED], "out", ParticleOptions(**OPTIONS, overrides=overrides))
    kept = names_in(tmp_path / "out/particles_kept.star")
    assert {rows[first][4], rows[second][4]} <= kept
    assert kept == oracle(rows, {rows[first][4], rows[second][4]})


@pytest.mark.real_data
def test_an_update_round_keeps_the_greedy_walks_set_with_the_forced_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, rows = the_rows(tmp_path)
    to_keep, to_reject = forced_choice(rows)
    # Two batches: the rows alternately (each micrograph's picks in both).
    halves = [[i for i in range(len(rows)) if i % 2 == b] for b in (0, 1)]
    batches = [
        write_particles(tmp_path / f"batch{b + 1}.star", [rows[i] for i in half]) for b, half in enumerate(halves)
    ]
    named = []
    for b, half in enumerate(halves):
        place = {i: k + 1 for k, i in enumerate(half)}
        named += [(f"batch{b + 1}.star", place[i], rows[i][4], "keep") for i in to_keep if i in place]
        named += [(f"batch{b + 1}.star", place[i], rows[i][4], "reject") for i in to_reject if i in place]
    overrides = overrides_of(tmp_path / "overrides.csv", named)
    keep_names, reject_names = {rows[i][4] for i in to_keep}, {rows[i][4] for i in to_reject}
    options = ParticleOptions(**OPTIONS, overrides=overrides, update=True)
    first = remove_duplicate_particles([batches[0].name], "out", options)
    round1 = oracle([rows[i] for i in halves[0]], keep_names, reject_names)
    assert names_in(tmp_path / "out/round_0001_kept.star") == round1
    # The lines of the other batch name nothing in this one: said, not refused.
    assert len(first.to_json()["overrides"]["naming_nothing"]) == sum(1 for n in named if n[0] == "batch2.star")
    remove_duplicate_particles([batches[1].name], "out", options)
    before = [r for r in rows if r[4] in round1]
    round2 = oracle([rows[i] for i in halves[1]], keep_names, reject_names, before)
    assert names_in(tmp_path / "out/round_0002_kept.star") == round2
    assert names_in(tmp_path / "out/particles_kept.star") == round1 | round2
    # The store records the file each round used (its SHA-256 by hashlib here, and the lines it applied).
    store = sqlite3.connect(next((tmp_path / "out").rglob("*.sqlite*")))
    used = dict(store.execute("SELECT key, value FROM meta WHERE key LIKE 'overrides_round_%'").fetchall())
    digest = hashlib.sha256(overrides.read_bytes()).hexdigest()
    applied = [sum(1 for n in named if n[0] == f"batch{b}.star") for b in (1, 2)]
    assert {k: json.loads(v) for k, v in used.items()} == {
        f"overrides_round_000{b}": {"file": str(overrides), "sha256": digest, "applied": applied[b - 1]} for b in (1, 2)
    }


@pytest.mark.real_data
def test_two_shards_merged_write_the_plain_runs_bytes(tmp_path, monkeypatch):
    star, rows = the_rows(tmp_path / "data")
    to_keep, to_reject = forced_choice(rows)
    named = [(str(star), i + 1, rows[i][4], "keep") for i in to_keep]
    named += [(str(star), i + 1, rows[i][4], "reject") for i in to_reject]
    overrides = overrides_of(tmp_path / "overrides.csv", named)
    whole = shards_then_merge([star], {**OPTIONS, "overrides": overrides}, tmp_path, monkeypatch, shards=2)
    expected = oracle(rows, {rows[i][4] for i in to_keep}, {rows[i][4] for i in to_reject})
    assert names_in(tmp_path / "one/Dedup/particles_kept.star") == expected
    assert whole.to_json()["overrides"]["applied"] == 40


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"particle,{EXTRACTED},3,000009@Extract/job012/Movies/x.mrcs,,keep",
            r"line 2: row 3 of .* is '000003@.*', not",
        ),
        (f"particle,{EXTRACTED},99999,n,,keep", r"line 2: row 99999 of .*, which has 2,038 rows: stale"),
        ("particle,Extract/job099/particles.star,3,n,,keep", r"line 2: input 'Extract/job099/particles.star' is not"),
        (f"particle,{EXTRACTED},3,n,,flip", r"line 2: action 'flip', expected keep or reject"),
        (f"particle,{EXTRACTED},3,n,keep", r"line 2: 5 fields, expected 6"),
    ],
)
def test_a_bad_override_is_refused_in_one_line_and_nothing_is_written(tmp_path, monkeypatch, line, message):
    monkeypatch.chdir(tmp_path)
    the_rows(tmp_path)
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("kind,input,row,name,partner,action\n" + line + "\n")
    with pytest.raises(CryodedupError, match=message):
        remove_duplicate_particles([EXTRACTED], "out", ParticleOptions(**OPTIONS, overrides=overrides))
    assert not (tmp_path / "out").exists()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryodedup",
            "particles",
            EXTRACTED,
            "-o",
            "cli",
            "--min-dist",
            "150",
            "--overrides",
            str(overrides),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and not (tmp_path / "cli").exists()
    assert "overrides.csv: line 2" in one_error_line(run.stderr)
    assert "Traceback" not in run.stderr
    document = json.loads(run.stdout)
    assert "overrides.csv: line 2" in str(document)


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"min_support": 2}, "--min-support 2: not taken together (a forced pick's support is not defined)"),
        ({"same_image": "reject"}, "--same-image reject: not taken together (a forced pick's image may lie"),
        ({"filament_mode": "tube"}, "--filament-mode tube: not taken together (tubes are kept or rejected whole"),
        ({"audit": True}, "--audit: not taken together (an audit writes no particle files"),
    ],
)
def test_overrides_with_a_rule_they_cannot_serve_are_refused(tmp_path, asked, message):
    overrides = tmp_path / "o.csv"
    overrides.write_text("kind,input,row,name,partner,action\n")
    with pytest.raises(CryodedupError, match=re.escape(f"--overrides with {message}")):
        ParticleOptions(overrides=overrides, **asked).check()
    with pytest.raises(CryodedupError, match="--overrides nothing.csv: no such file"):
        ParticleOptions(overrides=Path("nothing.csv")).check()


def test_forced_rows_decide_a_hand_worked_line(tmp_path, monkeypatch):
    # Five picks on a line 100 Å apart (2-D, 1 Å pixels), scores 5 4 3 2 1, --min-dist 150:
    # the walk keeps 1, 3, 5 (each rejects its neighbours). Forcing 2 kept and 5 rejected:
    # 2 kept rejects 1 and 3; then 4 is kept (nothing kept within 150 Å); 5 rejected.
    monkeypatch.chdir(tmp_path)
    rows = [[100.0 * k, 0.0, 6 - k, "m.mrc", f"{k:06d}@s.mrcs"] for k in range(1, 6)]
    write_star(tmp_path / "p.star", [*LABELS, "rlnOpticsGroup"], [[*r, 1] for r in rows], optics=[[1, "g", 1.0, 1.0]])
    overrides = overrides_of(
        tmp_path / "o.csv", [("p.star", 2, "000002@s.mrcs", "keep"), ("p.star", 5, "000005@s.mrcs", "reject")]
    )
    options = ParticleOptions(min_dist=150.0, score="rlnAutopickFigureOfMerit", decisions=True, overrides=overrides)
    remove_duplicate_particles(["p.star"], "out", options)
    kept = {line.split()[4] for line in (tmp_path / "out/particles_kept.star").read_text().splitlines() if "@s" in line}
    assert kept == {"000002@s.mrcs", "000004@s.mrcs"}
    with open(tmp_path / "out/decisions.csv", newline="") as f:
        rules = {r["particle"]: (r["rule"], r["kept_particle"]) for r in csv.DictReader(f)}
    assert rules == {
        "000001@s.mrcs": ("override", "000002@s.mrcs"),
        "000003@s.mrcs": ("override", "000002@s.mrcs"),
        "000005@s.mrcs": ("override", ""),
    }


@pytest.mark.parametrize("spelled", ["absolute", "link"])
def test_an_input_spelled_another_way_names_the_same_input(tmp_path, monkeypatch, spelled):
    # (a new user's trial: the file reached by another path was refused as 'not among the inputs')
    monkeypatch.chdir(tmp_path)
    rows = [[100.0 * k, 0.0, 6 - k, "m.mrc", f"{k:06d}@s.mrcs"] for k in range(1, 6)]
    write_star(tmp_path / "p.star", [*LABELS, "rlnOpticsGroup"], [[*r, 1] for r in rows], optics=[[1, "g", 1.0, 1.0]])
    (tmp_path / "link.star").symlink_to(tmp_path / "p.star")
    named = str(tmp_path / "p.star") if spelled == "absolute" else "link.star"
    overrides = overrides_of(tmp_path / "o.csv", [(named, 2, "000002@s.mrcs", "keep")])
    options = ParticleOptions(min_dist=150.0, score="rlnAutopickFigureOfMerit", overrides=overrides)
    remove_duplicate_particles(["p.star"], "out", options)
    kept = {line.split()[4] for line in (tmp_path / "out/particles_kept.star").read_text().splitlines() if "@s" in line}
    assert kept == {"000002@s.mrcs", "000004@s.mrcs"}  # (the hand-worked line above, 5 not forced: rejected by 4)


@pytest.mark.real_data
def test_dask_shards_write_the_plain_runs_bytes(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from cryodedup.jobs.particles.dask import run_on_dask
    from cryodedup.jobs.particles.plan import plan

    star, rows = the_rows(tmp_path / "data")
    to_keep, to_reject = forced_choice(rows)
    named = [(str(star), i + 1, rows[i][4], "keep") for i in to_keep]
    named += [(str(star), i + 1, rows[i][4], "reject") for i in to_reject]
    options = ParticleOptions(**OPTIONS, overrides=overrides_of(tmp_path / "overrides.csv", named))
    remove_duplicate_particles([star], tmp_path / "one", options)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        run_on_dask([star], tmp_path / "dask", plan(options), client, 3)
    for name in ("particles_kept.star", "particles_rejected.star", "decisions.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name
    expected = oracle(rows, {rows[i][4] for i in to_keep}, {rows[i][4] for i in to_reject})
    assert names_in(tmp_path / "dask/particles_kept.star") == expected


def _rules_oracle(rows, forced, d, entirely=False, max_angle=None, dropped=None, ellipse=None) -> set[int]:
    """The rows kept, by a walk written here: forced keeps kept and rejecting the rows within the rule of them, forced
    rejects out, the rows ``dropped`` (mask, edge) out unless forced; the rest by the rule, among themselves.

    ``rows``: (micrograph, x, y, score, psi) in Å; two rows are within the rule on one micrograph within ``d``
    and, with ``max_angle``, turned by at most it (rot = tilt = 0: the angle between them is that of their psi);
    with ``ellipse`` (semi-axes along x and y; every pose 0, z 0), within it instead of ``d``.
    """

    def close(a, b):
        (ma, xa, ya, _, pa), (mb, xb, yb, _, pb) = rows[a], rows[b]
        turn = abs(pa - pb) % 360
        near = (xa - xb) ** 2 + (ya - yb) ** 2 <= d * d
        if ellipse is not None:
            near = ((xa - xb) / ellipse[0]) ** 2 + ((ya - yb) / ellipse[1]) ** 2 <= 1
        return ma == mb and near and (max_angle is None or min(turn, 360 - turn) <= max_angle)

    n = len(rows)
    out = [k not in forced and dropped is not None and dropped[k] for k in range(n)]
    keeps = [k for k, keep in forced.items() if keep]
    blocked = [k not in forced and not out[k] and any(close(k, j) for j in keeps) for k in range(n)]
    rest = [k for k in range(n) if k not in forced and not out[k] and not blocked[k]]
    kept = set(keeps)
    if entirely:
        return kept | {k for k in rest if not any(j != k and close(k, j) for j in rest)}
    walked: list[int] = []
    for k in sorted(rest, key=lambda k: (-rows[k][3], k)):
        if not any(close(k, j) for j in walked):
            walked.append(k)
    return kept | set(walked)


@pytest.mark.parametrize("rule", ["remove-entirely", "max-angle", "mask-and-edge", "ellipsoid"])
@pytest.mark.parametrize("seed", range(3))
def test_forced_rows_with_another_rule_decide_as_a_walk_written_here(tmp_path, rule, seed):
    # 160 picks on two micrographs of 400 x 400 px of 1 Å, psi of 0, 10, 90 or 200 degrees; 12 forced kept, 12
    # forced rejected (seeded); --min-dist 30. The mask: x >= 100 px inside; --edge 20 Å. The ellipsoid: 50 x 15 x 15
    # Å, the picks at z 0 and every angle 0.
    import mrcfile
    import numpy as np

    from cryodedup.cli import main

    rng = np.random.default_rng(seed)
    rows = [
        (f"m{k % 2}.mrc", *rng.uniform(0, 399, 2).tolist(), float(rng.random()), float(rng.choice([0, 10, 90, 200])))
        for k in range(160)
    ]
    if rule == "ellipsoid":
        rows = [(m, x, y, s, 0.0) for m, x, y, s, _ in rows]
    lines = [f"{x:.4f} {y:.4f} {s:.6f} {m} {k + 1:06d}@s.mrcs 0 0 {p:g}" for k, (m, x, y, s, p) in enumerate(rows)]
    z = rule == "ellipsoid"
    lines = [f"{line} 0" if z else line for line in lines]
    rows = [(m, float(f"{x:.4f}"), float(f"{y:.4f}"), s, p) for m, x, y, s, p in rows]  # (as written)
    star = tmp_path / "p.star"
    star.write_text(
        "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnAutopickFigureOfMerit\n_rlnMicrographName\n"
        "_rlnImageName\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\n" + "_rlnCoordinateZ\n" * z + "\n".join(lines) + "\n"
    )
    chosen = rng.choice(160, 24, replace=False).tolist()
    forced = {k: j < 12 for j, k in enumerate(chosen)}
    named = [(str(star), k + 1, f"{k + 1:06d}@s.mrcs", "keep" if keep else "reject") for k, keep in forced.items()]
    overrides = overrides_of(tmp_path / "o.csv", named)
    args = ["particles", str(star), "-o", str(tmp_path / "out"), "--mic-psize", "1"]
    args += [] if rule == "ellipsoid" else ["--min-dist", "30"]  # (the ellipsoid replaces it)
    args += ["--score", "rlnAutopickFigureOfMerit", "--overrides", str(overrides), "--decisions", "--json", "-q"]
    dropped = None
    if rule == "remove-entirely":
        args += ["--remove-entirely"]
    elif rule == "max-angle":
        args += ["--max-angle", "30"]
    elif rule == "ellipsoid":
        args += ["--min-dist-ellipsoid", "50,15,15"]
    else:
        mask = np.zeros((400, 400), np.int8)
        mask[:, 100:] = 1
        for name in ("m0", "m1"):
            with mrcfile.new(tmp_path / f"{name}.mrc", data=np.zeros((400, 400), np.float32)) as mrc:
                mrc.voxel_size = 1.0
            with mrcfile.new(tmp_path / f"{name}_mask.mrc", data=mask) as mrc:
                mrc.voxel_size = 1.0
        (tmp_path / "masks").mkdir()
        for name in ("m0", "m1"):
            (tmp_path / f"{name}_mask.mrc").rename(tmp_path / "masks" / f"{name}_mask.mrc")
        args += ["--mask", str(tmp_path / "masks"), "--edge", "20", "--project-dir", str(tmp_path)]
        dropped = [x < 100 or min(x, y) < 20 or max(x, y) > 380 for _, x, y, _, _ in rows]
    code = main(args, standalone_mode=False)
    assert code in (0, None)
    ellipse = (50.0, 15.0) if rule == "ellipsoid" else None
    asked = (rule == "remove-entirely", 30.0 if rule == "max-angle" else None, dropped, ellipse)
    expected = _rules_oracle(rows, forced, 30.0, *asked)
    assert expected != _rules_oracle(rows, {}, 30.0, *asked)  # (the overrides changed something)
    kept = {
        int(line.split()[4][:6]) - 1
        for line in (tmp_path / "out/particles_kept.star").read_text().splitlines()
        if "@s.mrcs" in line
    }
    assert kept == expected
    with open(tmp_path / "out/decisions.csv", newline="") as f:
        record = {int(r["row"]) - 1: r["rule"] for r in csv.DictReader(f)}
    assert all(record[k] == "override" for k, keep in forced.items() if not keep)
