"""``--decisions`` (issue 67 item 2): ``decisions.csv``, one row per rejected particle, against a
brute force on random STAR, CryoSPARC and picker inputs (the partner kept, the one the walk
rejected it by, within the distance, the rule right), and a hand-worked case per rule."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import starfile
from hypothesis import HealthCheck, assume, given, settings
from test_particles_priority_oracle import LABELS, MIN_DIST, _row, brute_force, cases, star_rows, write_cs_inputs

from cryodedup import repair_particle_update
from cryodedup.jobs.particles import record as record_module
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.refined_and_picks import PSIZE, refined_2d_project, write_noise_micrographs
from fixtures.synthetic import write_benchmark_file
from helpers import missing_program, shared_file, write_star
from oracle import SAME_CENTRE, oracle, oracle_percentiles

settings_here = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_decisions(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def expected_rule(r: int, p: int, facts: dict, mode: str) -> str:
    """Why row ``r`` lost to ``p``, told from the rows themselves in the order the ranking compares them."""
    gap = math.dist(facts["coords"][r], facts["coords"][p])
    within = facts["groups"][r] == facts["groups"][p] and gap <= max(MIN_DIST, SAME_CENTRE)
    if mode == "reject" and not within:
        assert facts["images"][r] and facts["images"][r] == facts["images"][p]
        return "same image"
    if facts["levels"][p] < facts["levels"][r]:
        return "priority"
    a, b = facts["scores"][r], facts["scores"][p]
    if a == b or (math.isnan(a) and math.isnan(b)):
        return "row order" if facts["input"][r] == facts["input"][p] else "input order"
    return "score"


def check_record(record, keep, by, facts, mode, global_row, names=None):
    """Each rejected row once, its partner the brute force's suppressor (kept), the distance and the rule right."""
    rejected = sorted(j for j in range(len(keep)) if not keep[j])
    got = {global_row(d["input"], int(d["row"])): d for d in record}
    assert sorted(got) == rejected
    for r, d in got.items():
        p = global_row(d["kept_input"], int(d["kept_row"]))
        assert p == by[r] and keep[p]
        assert float(d["distance_A"]) == pytest.approx(math.dist(facts["coords"][r], facts["coords"][p]))
        assert d["rule"] == expected_rule(r, p, facts, mode)
        if names is not None:
            assert (d["particle"], d["kept_particle"]) == (names[r], names[p])


def input_rows(summary, sizes):
    """(input name, row from 1) -> the row's number among all inputs' rows."""
    starts = dict(zip((i["file"] for i in summary.to_json()["inputs"]), np.cumsum([0, *sizes]).tolist()))
    return lambda name, row: starts[name] + row - 1


@settings_here
@given(cases())
def test_star_record_agrees_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer, mode = case
    folder = tmp_path_factory.mktemp("star")
    texts = list(star_rows(inputs))
    paths = [
        write_star(folder / f"in{k}.star", LABELS, rows, optics=[[1, "og", 1.0, 1.0]]) for k, rows in enumerate(texts)
    ]
    options = ParticleOptions(min_dist=MIN_DIST, prefer=[str(p) for p in prefer], same_image=mode, decisions=True)
    summary = remove_duplicate_particles(paths, folder / "out", options)
    keep, by, facts = brute_force(inputs, prefer, mode)
    record = read_decisions(folder / "out" / "decisions.csv")
    names = [row[5] for rows in texts for row in rows]
    check_record(record, keep, by, facts, mode, input_rows(summary, [len(r) for r in inputs]), names)
    assert summary.to_json()["outputs"]["decisions"] == [str(folder / "out" / "decisions.csv")]


@settings_here
@given(cases())
def test_cs_record_agrees_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer, mode = case
    folder = tmp_path_factory.mktemp("cs")
    paths = write_cs_inputs(folder, inputs)
    names = [f"uid {5000 + j}" for j in range(sum(len(rows) for rows in inputs))]  # (CryoSPARC names a particle by uid)
    options = ParticleOptions(min_dist=MIN_DIST, prefer=[str(p) for p in prefer], same_image=mode, decisions=True)
    summary = remove_duplicate_particles(paths, folder / "out", options)
    negated = [[(*row[:5], row[5] if row[5] == -999.0 else -row[5]) for row in rows] for rows in inputs]
    keep, by, facts = brute_force(negated, prefer, mode, higher_is_better=False)
    record = read_decisions(folder / "out" / "decisions.csv")
    check_record(record, keep, by, facts, mode, input_rows(summary, [len(r) for r in inputs]), names)


@settings_here
@given(cases())
def test_picker_record_agrees_with_the_brute_force(tmp_path_factory, case):
    inputs, prefer, _ = case
    assume(all(inputs))  # a picker's folder without a pick is no picker output
    inputs = [[(mic, x, y, 0, 0, score) for mic, x, y, _, _, score in rows] for rows in inputs]
    folder = tmp_path_factory.mktemp("picks")
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit"]
    paths = []
    for k, rows in enumerate(inputs):
        paths.append(folder / f"Picker{k}")
        paths[-1].mkdir()
        for mic in (0, 1):
            mine = [[row[1], row[2], j, row[5]] for j, row in enumerate(rows) if row[0] == mic]
            if mine:
                write_star(paths[-1] / f"m{mic}_autopick.star", labels, mine, block="")
    # Rows are read input by input, then micrograph file by file within an input.
    order = sorted(range(sum(len(r) for r in inputs)), key=lambda j: (lambda k, row: (k, row[0], j))(*_row(inputs, j)))
    renumbered = [[row for j in order for k, row in [_row(inputs, j)] if k == i] for i in range(len(inputs))]
    options = ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0, prefer=[str(p) for p in prefer], decisions=True)
    summary = remove_duplicate_particles(paths, folder / "out", options)
    keep, by, facts = brute_force(renumbered, prefer, "warn")
    record = read_decisions(folder / "out" / "decisions.csv")
    check_record(record, keep, by, facts, "warn", input_rows(summary, [len(r) for r in inputs]))
    # Each pick named by its file and line: that line holds the pick's own number (its rlnClassNumber).
    starts = np.cumsum([0, *(len(rows) for rows in inputs)])
    number = {g: order[g] - starts[_row(inputs, order[g])[0]] for g in range(len(order))}
    at = input_rows(summary, [len(r) for r in inputs])
    for d in record:
        path, _, line = d["particle"].rpartition(": line ")
        assert (
            int(Path(path).read_text().splitlines()[int(line) - 1].split()[2]) == number[at(d["input"], int(d["row"]))]
        )


# --- by hand, a case per rule ---------------------------------------------------------------

HAND_LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnImageName", "rlnAutopickFigureOfMerit"]
HAND_LABELS += ["rlnOpticsGroup"]


def hand_run(tmp_path: Path, inputs: list[list[list]], labels=HAND_LABELS, **options) -> list[dict[str, str]]:
    """The inputs (rows of ``labels``, optics group 1 at 1 Å) decided with ``options``; the record's rows."""
    tmp_path.mkdir(exist_ok=True)
    paths = [
        write_star(tmp_path / f"{'abcd'[k]}.star", labels, rows, optics=[[1, "og", 1.0, 1.0]])
        for k, rows in enumerate(inputs)
    ]
    out = tmp_path / "out"
    remove_duplicate_particles(paths, out, ParticleOptions(decisions=True, **options))
    return read_decisions(out / "decisions.csv")


def brief(record: list[dict[str, str]]) -> list[tuple]:
    """(input, row, kept input, kept row, distance, rule) of each record row, file names without folders."""
    return [
        (Path(d["input"]).name, int(d["row"]), Path(d["kept_input"]).name, d["kept_row"], d["distance_A"], d["rule"])
        for d in record
    ]


def test_score_input_order_and_row_order_by_hand(tmp_path):
    # min 10 Å. a: (0,0) 1.0, (5,0) 2.0, (100,0) 0.5, (200,0) 0.3, (203,0) 0.3; b: (1,0) 2.0, (103,0) 0.7.
    # (5,0) a2 ranks first (2.0, tied with b1, a first): rejects a1 (score, 5 Å) and b1 (tie, input order, 4 Å);
    # b2 (0.7) rejects a3 (0.5, score, 3 Å); a4 and a5 tie at 0.3 in one input: a4 first (row order, 3 Å).
    a = [[0, 0, 1.0], [5, 0, 2.0], [100, 0, 0.5], [200, 0, 0.3], [203, 0, 0.3]]
    b = [[1, 0, 2.0], [103, 0, 0.7]]
    rows = [
        [["m.mrc", x, y, f"{j + 1:06d}@{name}.mrcs", s, 1] for j, (x, y, s) in enumerate(rows)]
        for name, rows in (("a", a), ("b", b))
    ]
    assert brief(hand_run(tmp_path, rows, min_dist=10.0)) == [
        ("a.star", 1, "a.star", "2", "5.0", "score"),
        ("a.star", 3, "b.star", "2", "3.0", "score"),
        ("a.star", 5, "a.star", "4", "3.0", "row order"),
        ("b.star", 1, "a.star", "2", "4.0", "input order"),
    ]


def test_priority_and_random_order_by_hand(tmp_path):
    # b preferred: its (1,0) at 0.1 beats a's (0,0) at 5.0 (priority, 1 Å); without scores the
    # seeded random order decides a's (300,0) against a's (306,0): one of them, 6 Å.
    rows = [
        [["m.mrc", 0, 0, "000001@a.mrcs", 5.0, 1], ["m.mrc", 300, 0, "000002@a.mrcs", 1.0, 1]],
        [["m.mrc", 1, 0, "000001@b.mrcs", 0.1, 1], ["m.mrc", 306, 0, "000002@b.mrcs", 1.0, 1]],
    ]
    record = brief(hand_run(tmp_path / "p", rows, min_dist=10.0, prefer=[str(tmp_path / "p" / "b.star")]))
    assert record == [("a.star", 1, "b.star", "1", "1.0", "priority"), ("a.star", 2, "b.star", "2", "6.0", "priority")]
    record = brief(hand_run(tmp_path / "r", rows[:1], min_dist=400.0, score="none"))
    assert len(record) == 1 and record[0][4:] == ("300.0", "random order")


def test_same_image_and_remove_entirely_by_hand(tmp_path):
    # One image (000001@s) at (0,0) score 2 and refined apart to (50,0) score 1: with --same-image
    # reject the second loses to the first at 50 Å, beyond the 10 Å distance: "same image".
    rows = [[["m.mrc", 0, 0, "000001@s.mrcs", 2.0, 1], ["m.mrc", 50, 0, "000001@s.mrcs", 1.0, 1]]]
    record = brief(hand_run(tmp_path / "i", rows, min_dist=10.0, same_image="reject"))
    assert record == [("a.star", 2, "a.star", "1", "50.0", "same image")]
    # The same image named on two micrographs (a user's trial: a distance of 1,399 Å between centres on two
    # micrographs was given as if on one): no distance.
    rows = [[["m.mrc", 0, 0, "000001@s.mrcs", 2.0, 1], ["n.mrc", 50, 0, "000001@s.mrcs", 1.0, 1]]]
    record = brief(hand_run(tmp_path / "j", rows, min_dist=10.0, same_image="reject"))
    assert record == [("a.star", 2, "a.star", "1", "", "same image")]
    # Remove entirely: (0,0), (4,0) and (100,0): both close ones go, each naming the other, 4 Å.
    rows = [[["m.mrc", x, 0, f"00000{j + 1}@s.mrcs", 1.0, 1] for j, x in enumerate((0, 4, 100))]]
    record = brief(hand_run(tmp_path / "e", rows, min_dist=10.0, remove_entirely=True))
    assert record == [
        ("a.star", 1, "a.star", "2", "4.0", "remove entirely"),
        ("a.star", 2, "a.star", "1", "4.0", "remove entirely"),
    ]


def test_consensus_support_and_uncovered_by_hand(tmp_path):
    # Two inputs, --min-support 2: on m1 a's (0,0) and b's (3,0) confirm each other (b's lost on
    # the score, 3 Å); a's (500,0) has no b pick near it: rejected for support, no partner. On m2,
    # which b never picked, a's pick cannot be confirmed: rejected with --uncovered reject.
    rows = [
        [
            ["m1.mrc", 0, 0, "000001@a.mrcs", 2.0, 1],
            ["m1.mrc", 500, 0, "000002@a.mrcs", 2.0, 1],
            ["m2.mrc", 0, 0, "000003@a.mrcs", 2.0, 1],
        ],
        [["m1.mrc", 3, 0, "000001@b.mrcs", 1.0, 1]],
    ]
    record = hand_run(tmp_path, rows, min_dist=10.0, min_support=2, uncovered="reject")
    assert brief(record) == [
        ("a.star", 2, "", "", "", "consensus support"),
        ("a.star", 3, "", "", "", "uncovered micrograph"),
        ("b.star", 1, "a.star", "1", "3.0", "score"),
    ]
    assert record[0]["particle"] == "000002@a.mrcs" and record[2]["kept_particle"] == "000001@a.mrcs"


def test_cross_species_overlap_by_hand(tmp_path):
    # Species A (radius 10) at (0,0) score 0.9 (its top percentile) and species B (radius 10) at
    # (15,0) score 0.1 with a better B pick far away: spheres overlap (15 < 20); A's pick ranks
    # above B's lower one, which is displaced across species at 15 Å.
    labels = [*HAND_LABELS, "rlnClassNumber"]
    rows = [
        [
            ["m.mrc", 0, 0, "000001@s.mrcs", 0.9, 1, 1],
            ["m.mrc", 15, 0, "000002@s.mrcs", 0.1, 1, 2],
            ["m.mrc", 900, 0, "000003@s.mrcs", 0.5, 1, 2],
            ["m.mrc", 600, 0, "000004@s.mrcs", 0.2, 1, 1],
        ]
    ]
    record = hand_run(
        tmp_path,
        rows,
        labels,
        min_dist=5.0,
        species_column="rlnClassNumber",
        cross_species=True,
        radius={"1": 10.0, "2": 10.0},
    )
    assert brief(record) == [("a.star", 2, "a.star", "1", "15.0", "cross-species overlap")]


def test_angle_with_max_angle_by_hand(tmp_path):
    # Two views 5 Å apart, psi 0 and 30: within --max-angle 40, the worse one rejected, 30 degrees apart.
    labels = [*HAND_LABELS, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    rows = [[["m.mrc", 0, 0, "000001@s.mrcs", 2.0, 1, 0, 0, 0], ["m.mrc", 5, 0, "000002@s.mrcs", 1.0, 1, 0, 0, 30]]]
    record = hand_run(tmp_path, rows, labels, min_dist=10.0, max_angle=40.0)
    assert [(d["row"], d["kept_row"], d["rule"]) for d in record] == [("2", "1", "score")]
    assert float(record[0]["angle_deg"]) == pytest.approx(30.0)


def _two_rounds(tmp_path):
    first = write_star(
        tmp_path / "b1.star", HAND_LABELS, [["m.mrc", 0, 0, "000001@s.mrcs", 1.0, 1]], optics=[[1, "og", 1.0, 1.0]]
    )
    second = write_star(
        tmp_path / "b2.star",
        HAND_LABELS,
        [["m.mrc", 4, 0, "000002@s.mrcs", 3.0, 1], ["m.mrc", 90, 0, "000003@s.mrcs", 1.0, 1]],
        optics=[[1, "og", 1.0, 1.0]],
    )
    return first, second


def test_earlier_round_by_hand(tmp_path):
    # Round 1 keeps (0,0); round 2's (4,0), better scored, is rejected by it (4 Å), never revoking it.
    out = tmp_path / "out"
    for batch in _two_rounds(tmp_path):
        summary = remove_duplicate_particles([batch], out, ParticleOptions(min_dist=10.0, update=True, decisions=True))
    assert summary.to_json()["outputs"]["decisions"] == [str(out / "round_0002_decisions.csv")]
    assert read_decisions(out / "round_0001_decisions.csv") == []
    record = read_decisions(out / "round_0002_decisions.csv")
    assert [(d["row"], d["kept_input"], d["kept_row"], d["distance_A"], d["rule"]) for d in record] == [
        ("1", "(kept by an earlier round)", "", "4.0", "earlier round")
    ]


def test_a_round_s_record_is_kept_by_its_store_and_put_back(tmp_path):
    # The record is one of the round's files: stored with them, so a stop after the commit (here: the file
    # gone) is made good by --repair, byte for byte; --force sets it aside with the other round files.
    out = tmp_path / "out"
    for batch in _two_rounds(tmp_path):
        remove_duplicate_particles([batch], out, ParticleOptions(min_dist=10.0, update=True, decisions=True))
    path = out / "round_0002_decisions.csv"
    written = path.read_bytes()
    path.unlink()
    assert repair_particle_update(out) == [(path, "missing")]
    assert path.read_bytes() == written
    first, _ = _two_rounds(tmp_path)
    remove_duplicate_particles([first], out, ParticleOptions(min_dist=10.0, update=True, decisions=True), force=True)
    assert (out / "rounds_before_force_1" / "round_0002_decisions.csv").read_bytes() == written


def test_an_earlier_record_left_in_the_folder_is_warned_of(tmp_path):
    # A user's trial: a run with --force but without --decisions left the earlier decisions.csv beside
    # outputs it no longer describes, silently.
    batch = write_star(
        tmp_path / "b.star", HAND_LABELS, [["m.mrc", 0, 0, "000001@s.mrcs", 1.0, 1]], optics=[[1, "og", 1.0, 1.0]]
    )
    out = tmp_path / "out"
    remove_duplicate_particles([batch], out, ParticleOptions(min_dist=10.0, decisions=True))
    said = []
    remove_duplicate_particles(
        [batch], out, ParticleOptions(min_dist=20.0), force=True, log=lambda m, lv: said.append(m)
    )
    assert any("decisions.csv is an earlier run's" in m for m in said)


def test_decisions_with_audit_refused():
    with pytest.raises(Exception, match="--audit rejects no particle"):
        ParticleOptions(audit=True, decisions=True).check()


def test_the_api_returns_the_record_as_a_data_frame():
    # A RELION table in memory: (0,0) 1.0 and (6,0) 2.0 within 10 Å, (90,0) alone. The worse
    # loses to the better on the score, 6 Å; without decisions= the API returns two things as before.
    import pandas as pd

    from cryodedup import remove_duplicates

    frame = pd.DataFrame(
        {
            "rlnMicrographName": ["m.mrc"] * 3,
            "rlnCoordinateX": [0.0, 6.0, 90.0],
            "rlnCoordinateY": [0.0, 0.0, 0.0],
            "rlnImageName": ["000001@s.mrcs", "000002@s.mrcs", "000003@s.mrcs"],
            "rlnAutopickFigureOfMerit": [1.0, 2.0, 0.5],
        }
    )
    kept, rejected, record = remove_duplicates(frame, min_dist=10.0, mic_psize=1.0, decisions=True)
    assert list(kept["rlnCoordinateX"]) == [6.0, 90.0] and list(rejected["rlnCoordinateX"]) == [0.0]
    assert record[["row", "particle", "kept_row", "kept_particle", "distance_A", "rule"]].values.tolist() == [
        [1, "000001@s.mrcs", 2, "000002@s.mrcs", 6.0, "score"]
    ]
    assert len(remove_duplicates(frame, min_dist=10.0, mic_psize=1.0)) == 2


def test_the_csv_reads_back_as_written_with_commas_quotes_and_no_partner(tmp_path):
    from cryodedup.jobs.particles.record import write_decisions

    columns = {
        "input": np.array(['a,"b".star', "c.star"], dtype=object),
        "kept_row": np.array([3, -1]),
        "distance_A": np.array([0.1 + 0.2, np.nan]),
        "rule": ["score", "consensus support"],
    }
    write_decisions(tmp_path / "d.csv", columns)
    assert read_decisions(tmp_path / "d.csv") == [
        {"input": 'a,"b".star', "kept_row": "3", "distance_A": "0.30000000000000004", "rule": "score"},
        {"input": "c.star", "kept_row": "", "distance_A": "", "rule": "consensus support"},
    ]


TUTORIAL = "picks/relion31-tutorial"


@pytest.mark.real_data
@pytest.mark.parametrize("normalize", ["none", pytest.param("rank", marks=pytest.mark.slow)])
def test_the_real_tutorial_two_picker_merge_agrees_with_the_brute_force(tmp_path, normalize):
    # The RELION 3.1 tutorial's template (job011) and LoG (job006) pickers on their 5 shared
    # micrographs, merged at 100 Å: the record against tests/oracle.py on the picks as the
    # files hold them (each picker's files in name order, rows in file order, 0.885 Å a pixel).
    folders = [shared_file(f"{TUTORIAL}/AutoPick/{job}/Movies") for job in ("job011", "job006")]
    micrographs = shared_file(f"{TUTORIAL}/CtfFind/job003/micrographs_ctf.star")
    options = ParticleOptions(micrographs=micrographs, min_dist=100.0, decisions=True, score_normalize=normalize)
    summary = remove_duplicate_particles(folders, tmp_path / "out", options)
    picks = [
        (k, path.name, xys)
        for k, folder in enumerate(folders)
        for path in sorted(folder.glob("*.star"))
        for xys in _autopick_rows(path)
    ]
    groups = [name for _, name, _ in picks]
    coords = [(x * 0.885, y * 0.885) for _, _, (x, y, _) in picks]
    scores = [s for _, _, (_, _, s) in picks]
    if normalize == "rank":  # (percentiles within each input: docs/design.md section 13)
        scores = list(oracle_percentiles(scores, [k for k, _, _ in picks]))
    keep, by = [True] * len(picks), [-1] * len(picks)
    for name in set(groups):  # (micrograph by micrograph: the brute force is O(n^2))
        rows = [j for j, g in enumerate(groups) if g == name]
        kept, suppressors = oracle([0] * len(rows), [coords[j] for j in rows], [scores[j] for j in rows], 100.0)
        for j, k, b in zip(rows, kept, suppressors):
            keep[j], by[j] = k, -1 if b < 0 else rows[b]
    facts = {"input": [k for k, _, _ in picks], "groups": groups, "coords": coords, "scores": scores}
    facts |= {"levels": [0] * len(picks), "images": [0] * len(picks)}
    record = read_decisions(tmp_path / "out" / "decisions.csv")
    sizes = [sum(k == i for k, _, _ in picks) for i in range(2)]
    assert sum(not k for k in keep) > 100 and summary.rejected == len(record)
    check_record(record, keep, by, facts, "warn", input_rows(summary, sizes))


def _autopick_rows(path: Path) -> list[tuple[float, float, float]]:
    """(x, y, figure of merit) of each row of a RELION AutoPick file, its columns found by their labels."""
    lines = path.read_text().splitlines()
    labels = [line.split()[0] for line in lines if line.startswith("_rln")]
    x, y, fom = (labels.index(f"_{name}") for name in ("rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"))
    rows = [line.split() for line in lines if line.strip() and line.split()[0][0] in "-0123456789"]
    return [(float(w[x]), float(w[y]), float(w[fom])) for w in rows if len(w) == len(labels)]


def test_whole_tube_by_hand(tmp_path):
    # --filament-mode tube, 10 Å: tube 1's segments (0,0) and (0,50) at score 1 run 3 Å beside
    # tube 2's (3,0) and (3,50) at score 2; tube 1 goes whole, each segment naming the segment of
    # tube 2 that displaced it, 3 Å away. A lone segment of tube 3 at (500,0) stays.
    labels = [*HAND_LABELS, "rlnHelicalTubeID"]
    segments = [(0, 0, 1.0, 1), (0, 50, 1.0, 1), (3, 0, 2.0, 2), (3, 50, 2.0, 2), (500, 0, 1.0, 3)]
    rows = [[["m.mrc", x, y, f"{j + 1:06d}@s.mrcs", s, 1, t] for j, (x, y, s, t) in enumerate(segments)]]
    record = brief(hand_run(tmp_path, rows, labels, min_dist=10.0, filament_mode="tube"))
    assert record == [
        ("a.star", 1, "a.star", "3", "3.0", "whole tube"),
        ("a.star", 2, "a.star", "4", "3.0", "whole tube"),
    ]


def test_the_record_changes_no_summary_with_remove_entirely(tmp_path):
    # Two inputs removed entirely: --decisions (as --plot) asks the core for each row's nearest
    # duplicate, which is no kept row: the summary counted it as a group tied on the score
    # (a: (0,0) 1.0; b: (1,0) 1.0, 1 Å apart at 10 Å). Nothing is kept, so no tie was decided.
    rows = [[["m.mrc", 0, 0, "000001@a.mrcs", 1.0, 1]], [["m.mrc", 1, 0, "000001@b.mrcs", 1.0, 1]]]
    paths = [
        write_star(tmp_path / f"{k}.star", HAND_LABELS, r, optics=[[1, "og", 1.0, 1.0]]) for k, r in enumerate(rows)
    ]
    summaries = [
        remove_duplicate_particles(
            paths, tmp_path / f"out{d}", ParticleOptions(min_dist=10.0, remove_entirely=True, decisions=d)
        )
        for d in (False, True)
    ]
    assert "ties" not in summaries[1].to_json()["score"] and summaries[0].score == summaries[1].score


def test_the_re_extraction_merge_record_agrees_with_the_brute_force(tmp_path, monkeypatch):
    # Issue 67 item 2: Refine3D's particles joined with their re-extraction by RELION itself
    # (relion_preprocess --reextract_data_star --recenter: coordinates moved by whole pixels,
    # origins left with the remainder, images at another pixel size). Every re-extracted row is
    # its refined row again: decisions.csv must name that row as its partner, at the distance
    # the files' centres give (X x 1.06 - rlnOriginXAngst, read by starfile), by input order
    # (the two rows carry the same scores), as the brute force says.
    if shutil.which("relion_preprocess") is None:
        missing_program(
            "RELION is not installed (relion_preprocess): apt-get install relion",
            required_by="CRYODEDUP_REQUIRE_RELION",
        )
    project = refined_2d_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    write_noise_micrographs(tmp_path)
    _relion(
        "relion_preprocess", "--i", project.micrographs, "--reextract_data_star", project.refined, "--recenter",
        "--part_star", "Extract/job052/particles.star", "--part_dir", "Extract/job052/", "--extract",
        "--extract_size", "64", "--scale", "32", "--norm", "--bg_radius", "12",
    )  # fmt: skip
    inputs = [project.refined, "Extract/job052/particles.star"]
    options = ParticleOptions(min_dist=30.0, micrographs=Path(project.micrographs), decisions=True)
    summary = remove_duplicate_particles(inputs, "Dedup/job060", options)
    tables = [starfile.read(path)["particles"] for path in inputs]
    assert len(tables[1]) == len(tables[0]) == len(project.refined_rows)
    rows_ = [row for table in tables for row in table.itertuples(index=False)]
    groups = [row.rlnMicrographName for row in rows_]
    coords = [
        (row.rlnCoordinateX * PSIZE - row.rlnOriginXAngst, row.rlnCoordinateY * PSIZE - row.rlnOriginYAngst)
        for row in rows_
    ]
    scores = [float(row.rlnAutopickFigureOfMerit) for row in rows_]
    keep, by = oracle(groups, coords, scores, 30.0)
    n = len(tables[0])
    assert keep == [True] * n + [False] * n and all(abs(by[n + k] - k) == 0 for k in range(n))
    facts = {"input": [0] * n + [1] * n, "groups": groups, "coords": coords, "scores": scores}
    facts |= {"levels": [0] * (2 * n), "images": [0] * (2 * n)}
    record = read_decisions(tmp_path / "Dedup/job060/decisions.csv")
    assert summary.rejected == len(record) == n
    check_record(record, keep, by, facts, "warn", input_rows(summary, [n, n]))
    assert {d["rule"] for d in record} == {"input order"}
    assert max(float(d["distance_A"]) for d in record) < 0.01


def _relion(*args: str) -> None:
    done = subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def test_the_record_made_a_few_rows_at_a_time_is_the_record_made_at_once(tmp_path, monkeypatch):
    # decisions.csv is made ROWS_AT_ONCE rows at a time (the texts of a million rows at once were
    # 400 MB): against the whole record made in one piece, and one row a line per rejection.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 3000, per_mic=100, seed=5)
    options = ParticleOptions(min_dist=25.0, score="rlnMaxValueProbDistribution", decisions=True)
    monkeypatch.setattr(record_module, "ROWS_AT_ONCE", 10**9)
    summary = remove_duplicate_particles([path], tmp_path / "whole", options)
    monkeypatch.setattr(record_module, "ROWS_AT_ONCE", 7)
    remove_duplicate_particles([path], tmp_path / "pieces", options)
    whole = (tmp_path / "whole" / "decisions.csv").read_bytes()
    assert (tmp_path / "pieces" / "decisions.csv").read_bytes() == whole
    assert whole.count(b"\n") == summary.rejected + 1 > 7 * 3
