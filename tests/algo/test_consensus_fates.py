"""Consensus counts per input: each pick has one fate, and the fates add up to the input's picks.

Hand-worked cases (every count below was worked out pick by pick, not by the code): two RELION
3.1 AutoPick jobs, A (LoG) on 5 micrographs and B (template) on all 24, at --min-support 2;
and three topaz pickers at --min-support 3 where one micrograph was seen by two of them only.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.algo.consensus import OUTCOMES as FATES
from cryodedup.cli import main
from cryodedup.jobs.particles import pictures as plots
from fixtures.autopick_jobs import LOG_LABELS, TEMPLATE_LABELS, coordinate_star, micrographs_star
from picker_files import write_topaz

PSIZE = 0.885  # Å per pixel: 50 Å is 56.5 pixels
MICS = [f"MotionCorr/job002/Movies/m{k:02d}.mrc" for k in range(24)]

# Per job, {micrograph index: [(x, y, figure of merit), ...]} in pixels. A ran on m00-m04
# only (its Select job); B on all 24. Micrographs without rows still get their (empty) file.
A_PICKS = {
    0: [(100, 100, 0.9), (1000, 1000, 0.8)],
    1: [(505, 500, 0.2)],
    3: [(300, 300, 0.5)],
}
B_PICKS = {
    0: [(110, 100, 0.5), (2000, 2000, 0.7)],
    1: [(500, 500, 0.95), (1500, 1500, 0.4), (1520, 1500, 0.3)],
    2: [(700, 700, 0.6)],
    5: [(100, 100, 0.5), (2000, 100, 0.6)],
    6: [(100, 100, 0.5), (130, 100, 0.6)],
    7: [(100, 100, 0.1), (1000, 1000, 0.2), (2000, 2000, 0.3)],
}
# By hand, at 50 Å and --min-support 2 (scores compared as read, best first):
# A (4 picks): m00 (100,100) beats B's (110,100) 9 Å away: kept, confirmed by B. m00
#   (1000,1000) and m03 (300,300): no B pick near, on micrographs both ran on: unconfirmed.
#   m01 (505,500): B's (500,500) scores higher: a duplicate.
# B (13 picks): m01 (500,500) kept, confirmed by A. Duplicates: m00 (110,100) of A's pick,
#   m01 (1520,1500) of (1500,1500), m06 (100,100) of (130,100) 26.5 Å away. Unconfirmed:
#   m00 (2000,2000), m01 (1500,1500), m02 (700,700). On m05-m07, which A never ran on: 2 + 1
#   + 3 = 6 not confirmable, kept (or rejected with --uncovered reject).
HAND = {
    "keep": {
        "AutoPick/job006": {"picks": 4, "kept_confirmed": 1, "rejected_duplicate": 1, "rejected_unconfirmed": 2},
        "AutoPick/job011": {
            "picks": 13,
            "kept_confirmed": 1,
            "kept_not_confirmable": 6,
            "rejected_duplicate": 3,
            "rejected_unconfirmed": 3,
        },
    },
}
HAND["reject"] = {
    "AutoPick/job006": HAND["keep"]["AutoPick/job006"],
    "AutoPick/job011": {
        **{k: v for k, v in HAND["keep"]["AutoPick/job011"].items() if k != "kept_not_confirmable"},
        "rejected_not_confirmable": 6,
    },
}


def with_zeros(counts: dict) -> dict:
    return {fate: counts.get(fate, 0) for fate in ("picks", *FATES)}


def two_relion31_jobs(root) -> None:
    """AutoPick/job006 (LoG, m00-m04 via a Select job) and AutoPick/job011 (template, m00-m23)."""
    for folder, star, mics in (
        ("CtfFind/job003", "micrographs_ctf.star", MICS),
        ("Select/job005", "micrographs_selected.star", MICS[:5]),
    ):
        (root / folder).mkdir(parents=True)
        (root / folder / star).write_text(micrographs_star(mics))
    for job, labels, star, picks, n_mics in (
        ("job006", LOG_LABELS, "Select/job005/micrographs_selected.star", A_PICKS, 5),
        ("job011", TEMPLATE_LABELS, "CtfFind/job003/micrographs_ctf.star", B_PICKS, 24),
    ):
        folder = root / "AutoPick" / job / "Movies"
        folder.mkdir(parents=True)
        (folder.parent / "coords_suffix_autopick.star").write_text(star + "\n")
        for m in range(n_mics):
            rows = [(x, y, fom, 1, 0.0) for x, y, fom in picks.get(m, [])]
            (folder / f"m{m:02d}_autopick.star").write_text(coordinate_star(labels, rows))


@pytest.mark.parametrize("uncovered", ["keep", "reject"])
def test_each_pick_has_one_fate_in_json_summary_and_bar_chart(tmp_path, monkeypatch, uncovered):
    monkeypatch.chdir(tmp_path)
    two_relion31_jobs(tmp_path)
    args = ["particles", "AutoPick/job006", "AutoPick/job011", "--min-dist", "50", "--min-support", "2"]
    args += ["--uncovered", uncovered]
    result = CliRunner().invoke(main, [*args, "-o", "Json", "--json"])
    assert result.exit_code == 0, result.output
    per_input = json.loads(result.stdout)["consensus"]["per_input"]
    want = {name: with_zeros(counts) for name, counts in HAND[uncovered].items()}
    assert {i["file"]: {k: i[k] for k in ("picks", *FATES)} for i in per_input} == want
    assert [i["micrographs"] for i in per_input] == [5, 24]
    # The terminal summary: each input's line gives each fate once.
    wide = {"COLUMNS": "400"}
    result = CliRunner().invoke(main, [*args, "-o", "Terminal"], env=wide)
    assert result.exit_code == 0, result.output
    fate = "kept 6 not confirmable" if uncovered == "keep" else "rejected 6 not confirmable"
    b_line = (
        "13 picks: kept 1 confirmed by 2 or more inputs, 6 not confirmable; rejected 3 as duplicates, "
        "3 confirmed by fewer than 2 inputs"
        if uncovered == "keep"
        else "13 picks: kept 1 confirmed by 2 or more inputs; rejected 3 as duplicates, "
        "3 confirmed by fewer than 2 inputs, 6 not confirmable"
    )
    assert "4 picks: kept 1 confirmed by 2 or more inputs; rejected 1 as duplicates, 2 confirmed by fewer than 2" in (
        result.output
    )
    assert b_line in result.output, result.output
    assert "6 picks on 19 of 24 micrographs" in result.output and fate.split()[0] in result.output
    # The bar chart: one bar per input, split by fate, its parts adding up to the input's picks.
    captured = {}
    original = plots.consensus_by_input

    def spy(details):
        captured["fig"] = original(details)
        return captured["fig"]

    monkeypatch.setattr(plots, "consensus_by_input", spy)
    options = ParticleOptions(min_dist=50.0, min_support=2, uncovered=uncovered, plot=True, plot_mics=0)
    remove_duplicate_particles(["AutoPick/job006", "AutoPick/job011"], "Plot", options)
    (panel,) = captured["fig"].panels
    for k, counts in enumerate(want.values()):
        bars = {fate: int(widths[k]) for fate, widths in panel.marks.items()}  # bar k: input k
        assert {fate: bars.get(fate, 0) for fate in FATES} == {fate: counts[fate] for fate in FATES}
        assert sum(bars.values()) == counts["picks"]


def test_support_below_k_on_a_micrograph_fewer_than_k_ran_on_is_not_confirmable(tmp_path):
    # Three topaz pickers at --min-support 3, 20 Å, 1 Å pixels. c has no rows on m1, so only
    # a and b ran there: K = 3 cannot be reached on m1, even by a pick b confirms.
    write_topaz(tmp_path / "a.txt", [("m1", 100.0, 100.0, 0.9), ("m2", 100.0, 100.0, 0.9), ("m2", 900.0, 900.0, 0.8)])
    write_topaz(tmp_path / "b.txt", [("m1", 105.0, 100.0, 0.1), ("m2", 104.0, 100.0, 0.5), ("m2", 905.0, 900.0, 0.2)])
    write_topaz(tmp_path / "c.txt", [("m2", 100.0, 104.0, 0.3), ("m2", 500.0, 500.0, 0.5)])
    options = ParticleOptions(min_dist=20.0, mic_psize=1.0, topaz_scale=1.0, min_support=3)
    paths = [tmp_path / f"{name}.txt" for name in "abc"]
    summary = remove_duplicate_particles(paths, tmp_path / "out", options)
    per_input = summary.to_json()["consensus"]["per_input"]
    # By hand. a: m1 (100,100) kept, b's pick within 5 Å (support 2) but on m1: not
    # confirmable; m2 (100,100) kept with b and c (support 3): confirmed; m2 (900,900) kept,
    # b only (support 2) where all three ran: unconfirmed. b: each pick a duplicate of a's.
    # c: (100,104) a duplicate of a's; (500,500) alone: unconfirmed.
    hand = [
        {"picks": 3, "kept_confirmed": 1, "kept_not_confirmable": 1, "rejected_unconfirmed": 1},
        {"picks": 3, "rejected_duplicate": 3},
        {"picks": 2, "rejected_duplicate": 1, "rejected_unconfirmed": 1},
    ]
    assert [{k: i[k] for k in ("picks", *FATES)} for i in per_input] == [with_zeros(h) for h in hand]
    # Confirmed by another input, whatever their fate: all of a's, b's, and c's (100,104).
    assert [i["confirmed"] for i in per_input] == [3, 3, 1]
    assert summary.kept == 2
