"""The micrograph report shows what the job asks the user to look at: the uncertain pairs, listed and drawn.

The uncertain pairs are found here from pairs.csv alone, by the rule the README states
(joint score min(z / T_z, Pearson / T_p) from 0.8 to 1.25, T_z and T_p the summary's
thresholds), and compared with the report's table and pictures.
"""

from __future__ import annotations

import csv
import html
import math
import re

import numpy as np
import pytest

pytest.importorskip("PIL")

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.jobs.micrographs.job import run_plain
from cryodedup.jobs.micrographs.plan import micrograph_plan
from cryodedup.jobs.micrographs.summary import micrograph_rows
from fixtures.synthetic import write_graded_reexposures


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """14 micrographs, 4 re-exposures of growing beam damage: one clear, one just over the boundary, two under."""
    folder = tmp_path_factory.mktemp("graded")
    truth = write_graded_reexposures(folder, np.random.default_rng(3), [2.0, 8.0, 10.0, 12.0])
    return folder, truth


def report_table(report: str, heading_start: str) -> list[list[str]]:
    """The rows (cells as text) of the report's table whose heading starts so."""
    part = report.split(f"<h2>{heading_start}", 1)[1].split("</table>", 1)[0]
    rows = part.split("<tr>")[2:]  # the header row first
    return [
        [html.unescape(c.split("</td>")[0].replace("<wbr>", "")) for c in re.split("<td[^>]*>", r)[1:]] for r in rows
    ]


def joint_score(z: float, pearson: float, dx: float, dy: float, t_z: float, t_p: float) -> float:
    """The joint score as docs/design.md section 4 defines it, at bin 1 with overlaps far from thin.

    min(z / T_z, r / T_p); with T_far = 1.5 T_z, a pair at zero shift (within 2 pixels) that
    reaches 0.8 is judged against T_far too, and any other pair under 1.25 whose z / T_far
    (with r > 0) reaches 0.8 takes that score.
    """
    joint = min(z / t_z, pearson / t_p)
    far = z / (1.5 * t_z) if pearson > 0 else -math.inf
    if max(abs(dx), abs(dy)) <= 2:
        return min(joint, far, pearson / t_p) if joint >= 0.8 else joint
    return far if far >= 0.8 and joint < far and joint < 1.25 else joint


@pytest.mark.slow
def test_uncertain_pairs_are_listed_and_drawn_as_pairs_csv_says(graded, tmp_path):
    folder, _truth = graded
    # --min-z 16 (T_far 24) puts the damaged re-exposures' z (22-28) about T_far: uncertain.
    options = MicrographOptions(plot=True, plot_pairs=2, min_z=16.0)
    s = find_duplicate_micrographs(sorted(folder.glob("*.mrc")), tmp_path / "out", options).to_json()
    t_z, t_p = s["thresholds"]["z"], s["thresholds"]["pearson"]
    expected = {}
    with open(tmp_path / "out" / "pairs.csv") as f:
        for r in csv.DictReader(f):
            pearson = float(r["pearson"]) if r["pearson"] else -math.inf
            shift = float(r["shift_x_px"]), float(r["shift_y_px"])
            joint = joint_score(float(r["z"]), pearson, *shift, t_z, t_p)
            if 0.8 <= joint < 1.25:
                pair = (r["name_a"].rsplit("/", 1)[-1], r["name_b"].rsplit("/", 1)[-1])
                expected[pair] = (joint, "duplicate" if joint >= 1 else "not a duplicate", float(r["pearson"]))
    # The set holds uncertain pairs on both sides of the boundary (else this test shows little).
    assert {d for _, d, _ in expected.values()} == {"duplicate", "not a duplicate"}
    assert s["uncertain_pairs"] == len(expected) >= 3
    (warning,) = [w for w in s["warnings"] if "uncertain" in w]
    assert warning.endswith("look at them before trusting the decision (report.html lists and draws them)")
    report = (tmp_path / "out" / "report.html").read_text()
    # Pairs left to check: the verdict's word and kind say so, and the page colours its line by that kind.
    assert (s["verdict"]["word"], s["verdict"]["kind"]) == (f"check {len(expected)} pairs", "warn")
    assert "<p class='verdict warn'>" in report
    rows = report_table(report, "Uncertain pairs")
    listed = {(r[0], r[1]): r for r in rows}
    assert set(listed) == set(expected)
    for pair, (joint, decision, pearson) in expected.items():
        row = listed[pair]
        assert row[-1] == decision
        assert float(row[-2]) == pytest.approx(joint, abs=1.5e-3)  # shown to 3 digits; pairs.csv rounds too
        assert float(row[3]) == pytest.approx(pearson, abs=6e-4)
    # Nearest the boundary first: |log joint| grows down the table.
    distance = [abs(math.log(float(r[-2]))) for r in rows]
    assert distance == sorted(distance)
    # The first --plot-pairs of them drawn, each titled by its pair and what was decided.
    drawn = sorted(
        name for name in (p.rsplit("/", 1)[-1] for p in s["outputs"]["plots"]) if name.startswith("uncertain_")
    )
    assert drawn == ["uncertain_1.png", "uncertain_2.png"]
    for k, row in enumerate(rows[:2]):  # the first two of the table, by name
        assert f"alt='uncertain_{k + 1}.png'" in report
        assert (
            f"<h3>Uncertain pair {k + 1}: {row[0]} and {row[1]}, {'a ' * (row[-1] == 'duplicate')}{row[-1]}</h3>"
            in report
        )
    assert (tmp_path / "out" / "uncertain_1.png").stat().st_size > 10_000


@pytest.mark.slow
def test_report_parameters_and_time_read_as_they_are(graded, tmp_path):
    folder, _truth = graded
    s = run_plain(sorted(folder.glob("*.mrc")), tmp_path / "out", micrograph_plan(MicrographOptions(plot=True)))
    report = (tmp_path / "out" / "report.html").read_text()
    assert "[]" not in report  # --metadata not given: "-", as every option not given
    assert re.search(r"<th>metadata</th><td>-</td>", report)
    # The time's rate divides out: images read over the seconds they took to read and score.
    time_text = dict(micrograph_rows(s))["Time"]
    # (a rate of 1,000 images/s or more is written with a thousands comma, as every count is)
    found = re.fullmatch(r"([\d.]+) s \((\d+) images read and scored in ([\d.]+) s: ([\d.,]+) images/s\)", time_text)
    assert found, time_text
    total, images, scoring, rate = (float(g.replace(",", "")) for g in found.groups())
    assert images == 14 and scoring <= total
    # (each number rounded as shown: the seconds to 0.01 s or two digits below 0.1 s, the rate to 0.1)
    assert rate == pytest.approx(images / scoring, rel=0.05)


def test_a_new_picture_is_drawn_and_shown_in_the_report(graded, tmp_path):
    # A toy picture declared in one entry of the registry: the pairs' z, sorted.
    from cryodedup.jobs.micrographs import pictures
    from cryodedup.report.canvas import Canvas, Panel, Picture

    drawn = {}

    def sorted_z(figures):
        drawn["z"] = np.sort(figures.scores.z)
        canvas = Canvas(400, 300)
        panel = Panel(canvas, (60, 20, 380, 260), (0, max(len(drawn["z"]) - 1, 1)), (0, drawn["z"].max()))
        canvas.line(list(map(tuple, panel.xy(np.column_stack([np.arange(len(drawn["z"])), drawn["z"]])))), "#000000")
        panel.ticks_x()
        panel.frame()
        return Picture(canvas, [panel])

    toy = pictures.MicrographPicture("sorted_z.png", "Sorted z (toy)", sorted_z, lambda figures: True)
    pictures.MICROGRAPH_PICTURES.append(toy)
    try:
        folder, _truth = graded
        options = MicrographOptions(plot=True, plot_pairs=0)
        find_duplicate_micrographs(sorted(folder.glob("*.mrc")), tmp_path / "out", options)
    finally:
        pictures.MICROGRAPH_PICTURES.remove(toy)
    assert (tmp_path / "out" / "sorted_z.png").stat().st_size > 1000
    assert "Sorted z (toy)" in (tmp_path / "out" / "report.html").read_text()
    with open(tmp_path / "out" / "pairs.csv") as f:
        z = sorted(float(row["z"]) for row in csv.DictReader(f))
    np.testing.assert_allclose(drawn["z"], z, atol=0.0051)  # (pairs.csv writes 2 decimals)


def test_report_parameters_say_what_the_run_made_of_the_options_left_to_it(graded, tmp_path):
    # The oracle: the MRC header's pixel size (mrcfile), the options' documented rules: the bin
    # rounded from --target-psize 12, the band 4 and 25 binned pixels, every pair up to 200
    # micrographs; a bare "-" or "auto" beside the summary's binning and band told another story.
    import mrcfile

    folder, _truth = graded
    paths = sorted(folder.glob("*.mrc"))
    with mrcfile.open(paths[0], header_only=True) as mrc:
        psize = float(mrc.voxel_size.x)
    binning = max(1, round(12.0 / psize))
    find_duplicate_micrographs(paths, tmp_path / "out", MicrographOptions(plot=True))
    report = (tmp_path / "out" / "report.html").read_text()
    part = report.split("<h2>Parameters</h2>", 1)[1].split("<h2>", 1)[0]
    shown = {
        html.unescape(k): html.unescape(re.sub("<[^>]+>", "", v))
        for k, v in re.findall(r"<th>(.*?)</th><td>(.*?)</td>", part)
    }
    assert shown["pixel size (Å)"] == f"not given: {psize:g}"
    assert shown["binning"] == f"not given: {binning} ({binning * psize:g} Å per pixel)"
    # (to 0.1 Å, as the summary's band row gives it)
    assert shown["low-pass (Å)"] == f"not given: {round(4 * binning * psize, 1):g}"
    assert shown["high-pass (Å)"] == f"not given: {round(25 * binning * psize, 1):g}"
    assert shown["candidates"] == "auto: all"
    assert shown["acquisition order"].startswith("auto: ") and "natural" in shown["acquisition order"]
    assert shown["target pixel size (Å)"] == "12"  # (an option the run took as given: as given)
