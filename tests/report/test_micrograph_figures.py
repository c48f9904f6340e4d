"""The micrograph job's pictures and report: they hold the scores of the pairs (read back from the panels' marks)."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PIL")

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.report.micrograph_figures import z_against_pearson, z_distribution
from fixtures.synthetic import exposure, specimen_field, write_mrc


@pytest.mark.slow
def test_micrograph_pictures_and_report(tmp_path):
    rng = np.random.default_rng(3)
    field = specimen_field(rng, 1300, 1800, 6.0)
    write_mrc(tmp_path / "a.mrc", exposure(rng, field, 60, 60, 582, 818, 6.0), 6.0)
    write_mrc(tmp_path / "b.mrc", exposure(rng, field, 210, 260, 582, 818, 6.0, defocus=25000), 6.0)
    write_mrc(tmp_path / "c.mrc", exposure(rng, specimen_field(rng, 600, 900, 6.0), 0, 0, 582, 818, 6.0), 6.0)
    summary = find_duplicate_micrographs(
        sorted(tmp_path.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=2, plot=True)
    ).to_json()
    # These in this order, no position map (no metadata); a picture added later is its own test's.
    plots = [p.split("/")[-1] for p in summary["outputs"]["plots"]]
    known = ["z_distribution.png", "z_pearson.png", "pair_1.png", "report.html"]
    assert [name for name in plots if name in known] == known and "position_map.png" not in plots
    assert not [name for name in plots if name.startswith(("pair_", "uncertain_")) and name != "pair_1.png"]
    z = np.array([float(line.split(",")[4]) for line in (tmp_path / "out" / "pairs.csv").read_text().splitlines()[1:]])
    (panel,) = z_distribution(z, 8.0).panels
    counts, edges = panel.marks["z"]
    assert counts.sum() == len(z) == 3 and edges[0] == 0 and edges[-1] >= z.max()
    assert panel.marks["threshold"] == 8.0
    report = (tmp_path / "out" / "report.html").read_text()
    pngs = [name for name in plots if name.endswith(".png")]
    assert report.count("data:image/png;base64,") == len(pngs) and "http" not in report  # each PNG embedded
    assert plots[-1] == "pairs.html"  # (the page of every pair, linked from the report)
    # The table of flagged pairs: a.mrc then b.mrc (b is a moved 150 px down and 200 px right
    # of a at 6 Å: 1200 Å, 900 Å), named by the ends of their paths that tell them apart.
    table = report.split("Flagged pairs (1, highest z first)")[1].split("</table>")[0]
    cells = [c.split("</td>")[0] for c in re.split("<td[^>]*>", table)[1:]]
    assert cells[:2] == ["a.mrc", "b.mrc"]
    assert float(cells[2]) >= 8 and float(cells[3]) >= 0.3
    shift_x, shift_y = (float(v) for v in cells[5].split(","))
    assert abs(shift_x - 1200) <= 12 and abs(shift_y - 900) <= 12
    # Human labels, no None or False.
    assert "minimum z" in report and "target pixel size (Å)" in report
    assert ">None<" not in report and ">False<" not in report and ">True<" not in report


def test_z_against_pearson_shows_why_a_high_z_pair_is_not_flagged():
    z = np.array([3.0, 20.0, 30.0, 9.0, 6.0])
    r = np.array([np.nan, 0.1, 0.8, 0.5, 0.9])
    is_dup = (z >= 8) & (r >= 0.3)
    (panel,) = z_against_pearson(z, r, is_dup, 8.0, 0.3).panels
    assert np.allclose(panel.marks["not_duplicate"], [[20, 0.1], [6, 0.9]])
    assert np.allclose(panel.marks["duplicate"], [[30, 0.8], [9, 0.5]])
    assert panel.marks["min_z"] == 8.0 and panel.marks["min_pearson"] == 0.3
    assert "1 with z below 5 have none" in panel.title


def test_position_map_titles_count_in_the_singular_and_plural():
    # Two grid squares: one with one image pair joined, one with a single image ("1 duplicate pairs" was the title).
    from cryodedup.report.micrograph_figures import position_map

    xy = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    fig = position_map(
        xy,
        np.array([0, 0, 1]),
        ["GridSquare_1", "GridSquare_2"],
        np.array([[0, 1]]),
        np.array([False, True, False]),
        1.0,
    )
    titles = [panel.title for panel in fig.panels]
    assert titles == ["GridSquare_1: 2 images, 1 duplicate pair", "GridSquare_2: 1 image, 0 duplicate pairs"]
