"""Refusals whose advice is an option: each run as printed (the option read from the message as a user copies
it), and what it keeps checked against a hand-worked answer.

The table of tests/cli/test_advice.py covers the frames, scores and stores; these are the refusals of
``--select best-score``, ``--uncovered`` and the registration check's extent, which no test ran.
Picks lie on one micrograph along x at a 1 Å pixel, so each kept set is worked by hand from the rows.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]


def picks(path, rows):
    """A RELION picks STAR: (x, score) rows on micrograph m.mrc at y = 0."""
    return write_star(path, LABELS, [["m.mrc", x, 0, score] for x, score in rows])


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


def advised(text, pattern):
    """The option the message gives, split as a shell splits it."""
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return shlex.split(found.group(1))


def kept_x(folder):
    blocks = starfile.read(folder / "particles_kept.star", always_dict=True)
    return sorted(blocks["particles"]["rlnCoordinateX"].tolist())


def with_option(args, option):
    """``args`` with ``option`` (a flag and its value) in place of the same flag's, else added."""
    if option[0] in args:
        at = args.index(option[0])
        return [*args[:at], *option, *args[at + 2 :]]
    return [*args, *option]


def refused_then_both_advices_keep_the_ends(tmp_path, args, refusal):
    """``args`` refused saying ``refusal``; each advice (``--score-normalize rank``, ``--select most-particles``),
    run as printed, keeps the two ends at x 0 and 30 (the oracle worked by hand in each test)."""
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0 and refusal in text, text
    rank = advised(text, r"give (--score-normalize rank) \(")
    most = advised(text, r"or (--select most-particles)")
    for k, option in enumerate((rank, most)):
        status, done = run(*with_option(args, option), "-o", tmp_path / f"out{k}", "-q")
        assert status == 0, (option, done)
        assert kept_x(tmp_path / f"out{k}") == [0, 30], option


def test_best_score_on_scores_below_zero_runs_with_either_advice(tmp_path):
    # Three picks 15 Å apart at 20 Å: 0-15 and 15-30 are duplicates, 0-30 is not. The middle one has the worst
    # score (-3), so by hand both ways advised keep the two ends: the most particles ({0, 30}), and the best sum of
    # percentiles (the two ends' percentiles are each above the middle's).
    star = picks(tmp_path / "neg.star", [(0, -1.0), (15, -3.0), (30, -2.0)])
    args = ["particles", star, "--mic-psize", 1, "--min-dist", 20, "--select", "best-score"]
    refused_then_both_advices_keep_the_ends(tmp_path, args, "has values below 0")


def test_best_score_without_scores_runs_with_most_particles_advised(tmp_path):
    star = write_star(tmp_path / "none.star", LABELS[:3], [["m.mrc", x, 0] for x in (0, 15, 30)])
    args = ["particles", star, "--mic-psize", 1, "--min-dist", 20, "--select", "best-score"]
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0 and "these have none" in text, text
    option = advised(text, r"give (--select most-particles)")
    status, done = run(*with_option(args, option), "-o", tmp_path / "out", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "out") == [0, 30]  # (by hand: the largest set of picks no two within 20 Å)


def test_uncovered_at_support_one_runs_with_either_advice(tmp_path):
    # One picker's picks: dropping --uncovered runs (the advice that fits one input; --min-support 2 is refused
    # there, so it is named second, for several pickers). By hand at 20 Å: 0 (0.9) keeps 5 (0.8) out; 500 stays.
    one = picks(tmp_path / "one.star", [(0, 0.9), (5, 0.8), (500, 0.7)])
    args = ["particles", one, "--mic-psize", 1, "--min-dist", 20, "--uncovered", "reject"]
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0, text
    drop = advised(text, r"(drop --uncovered), or")
    assert drop == ["drop", "--uncovered"] and "--min-support 2 or more (several pickers' inputs)" in text, text
    status, refused = run(*with_option(args, ["--min-support", "2"]), "-o", tmp_path / "support", "-q")
    assert status != 0 and "there is only 1 input" in refused, refused  # (why that advice is for several pickers)
    at = args.index("--uncovered")
    status, done = run(*args[:at], *args[at + 2 :], "-o", tmp_path / "dropped", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "dropped") == [0, 500]
    # Two pickers: --min-support 2 as printed ("2 or more": the 2). By hand: 0 (a) and 5 (b) confirm each other,
    # a's 0.9 kept; 500 is b's alone, unconfirmed: rejected.
    a = picks(tmp_path / "a.star", [(0, 0.9)])
    b = picks(tmp_path / "b.star", [(5, 0.8), (500, 0.7)])
    pair = ["particles", a, b, "--mic-psize", 1, "--min-dist", 20, "--uncovered", "reject"]
    status, text = run(*pair, "-o", tmp_path / "refused2")
    assert status != 0, text
    support = advised(text, r"give (--min-support \d+) or more")
    status, done = run(*with_option(pair, support), "-o", tmp_path / "consensus", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "consensus") == [0]


def test_a_centre_beyond_the_registration_grid_runs_with_the_check_ignored_as_advised(tmp_path):
    # A pick 2e8 Å out (beyond the check's ±1e8 Å grid) in one of two inputs: refused, naming --registration ignore.
    # Run as printed, by hand at 20 Å: 0 (0.9) keeps b's 5 (0.8) out; the far pick has no neighbour and stays.
    far = picks(tmp_path / "far.star", [(0, 0.9), (200_000_000, 0.5)])
    near = picks(tmp_path / "b.star", [(5, 0.8)])
    args = ["particles", far, near, "--mic-psize", 1, "--min-dist", 20]
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0 and "beyond ±1e8 Å" in text, text
    option = advised(text, r"give (--registration ignore)")
    status, done = run(*args, *option, "-o", tmp_path / "out", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "out") == [0, 200_000_000]


def test_the_tilt_series_pixel_typed_for_a_warptools_export_runs_with_the_pixel_advised(tmp_path):
    # A WarpTools export (.tomostar names): coordinates in the exported tomograms' 6 Å pixels, the tilt series' 1.5 Å
    # typed. Refused naming --mic-psize 6; run as printed, by hand at 15 Å: 100 and 102 px are 12 Å apart, one
    # group (0.9 kept over 0.8); 300 px is 1,200 Å away and stays.
    labels = ["rlnTomoName", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnOpticsGroup", "rlnLCCmax"]
    rows = [["TS_01.tomostar", x, 100, 50, 1, score] for x, score in ((100, 0.9), (102, 0.8), (300, 0.7))]
    optics = [[1, "og1", 1.5, 6.0]]
    optics_labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
    star = write_star(tmp_path / "warp.star", labels, rows, optics=optics, optics_labels=optics_labels)
    args = ["particles", star, "--mic-psize", 1.5, "--min-dist", 15, "--score", "rlnLCCmax"]
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0 and "a WarpTools export writes" in text, text
    option = advised(text, r"give (--mic-psize [0-9.]+)$")
    assert option == ["--mic-psize", "6"], text
    status, done = run(*with_option(args, option), "-o", tmp_path / "out", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "out") == [100, 300]


def test_angles_that_look_like_radians_are_compared_as_written_with_the_option_advised(tmp_path):
    # 100 picks whose angles all lie within ±π (radians by the look of them), 50 pairs 5 Å apart, pairs 1,000 Å
    # apart. Refused at --max-angle naming --insist-angles; run as printed, compared as written (degrees): every
    # pair's orientations lie within 10°, so by hand each pair keeps its better pick (the first, 0.9 over 0.1).
    rng = np.random.default_rng(5)
    labels = [*LABELS, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    rows = [
        ["m.mrc", 1000 * k + d, 0, score, *rng.uniform(0.6, 3.1, 3).round(3)]
        for k in range(50)
        for d, score in ((0, 0.9), (5, 0.1))
    ]
    star = write_star(tmp_path / "radians.star", labels, rows)
    args = ["particles", star, "--mic-psize", 1, "--min-dist", 10, "--max-angle", 10]
    status, text = run(*args, "-o", tmp_path / "refused")
    assert status != 0 and "radians written as degrees?" in text, text
    option = advised(text, r"give (--insist-angles) to compare them as written")
    status, done = run(*args, *option, "-o", tmp_path / "out", "-q")
    assert status == 0, done
    assert kept_x(tmp_path / "out") == [1000 * k for k in range(50)]


def test_best_score_on_a_lower_first_score_runs_with_either_advice(tmp_path):
    # Lower is better (--score-order min): the middle pick's 3 is the worst. By hand both ways advised keep the two
    # ends: the most particles ({0, 30}), and the best sum of percentiles (the ends rank above the middle).
    star = picks(tmp_path / "low.star", [(0, 1.0), (15, 3.0), (30, 2.0)])
    args = ["particles", star, "--mic-psize", 1, "--min-dist", 20, "--select", "best-score", "--score-order", "min"]
    refused_then_both_advices_keep_the_ends(tmp_path, args, "ranks lower first")
