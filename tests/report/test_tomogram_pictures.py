"""Pictures and report of subtomograms: the distance drawn is the one decided with, tomograms named so.

Hand-worked case: on one tomogram, a pair 63 Å apart in z and a pair 51 Å apart in x, the
rest far apart. With --min-dist 40 --min-dist-z 120 the z pair is a duplicate (63/120 < 1)
and the x pair is not (51/40 > 1); in the decision's metric (z scaled by 40/120) the z pair
is 21 Å apart and the x pair 51 Å.
"""

from __future__ import annotations

import re

import pytest

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.jobs.particles import pictures as plots
from cryodedup.report.picks_figures import micrograph_picks
from helpers import write_star

R5 = ["rlnTomoName", "rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]
R5 += ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
R5 += ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
R5 += ["rlnMaxValueProbDistribution", "rlnTomoParticleName"]


def tomogram_star(path):
    centres = {
        "z_0": (0, 0, 0),
        "z_1": (0, 0, 63),
        "x_0": (500, 0, 0),
        "x_1": (551, 0, 0),
        "far_0": (0, 700, 0),
        "far_1": (700, 700, 300),
    }
    rows = [["t1", 0, 0, 0, 0, 0, 0, *xyz, 1.0 - k / 10, name] for k, (name, xyz) in enumerate(centres.items())]
    return write_star(path, R5, rows)


@pytest.fixture
def details_and_report(tmp_path, monkeypatch):
    captured = {}
    original = plots.rendered_particle_figures

    def spy(details, n_mics, find):
        captured["details"] = details
        return original(details, n_mics, find)

    monkeypatch.setattr(plots, "rendered_particle_figures", spy)
    options = ParticleOptions(min_dist=40.0, min_dist_z=120.0, plot=True, plot_mics=1)
    summary = remove_duplicate_particles([tomogram_star(tmp_path / "p.star")], tmp_path / "out", options)
    assert (summary.kept, summary.rejected) == (5, 1)  # z_1 only, by hand
    return captured["details"], (tmp_path / "out/report.html").read_text()


def test_nearest_neighbours_are_drawn_in_the_decisions_metric(details_and_report):
    details, _ = details_and_report
    (panel,) = plots.nn_histogram(details).panels
    heights, _ = panel.marks["distances"]  # 100 bins of 2 Å over 0-200 Å
    # By hand: z_0 and z_1 at 21 Å (bin 10), x_0 and x_1 at 51 Å (bin 25), far_0 and far_1
    # 700 Å or more from anything (the last bin).
    assert {int(b): int(h) for b, h in enumerate(heights) if h} == {10: 2, 25: 2, 99: 2}
    assert panel.marks["min_dist"] == 40.0
    # The z pair (21 Å scaled) lies within 40 Å; the x pair (51 Å) does not.
    assert panel.legend.labels == ["minimum distance 40 Å in x and y, 120 Å in z: 2 particles within it"]
    assert "z scaled by 40/120" in panel.xlabel


def test_example_tomogram_titled_with_both_distances(details_and_report):
    details, _ = details_and_report
    picture = micrograph_picks(details, 0, None)
    assert "picks seen along z (minimum distance 40 Å in x and y, 120 Å in z)" in picture.title


def test_report_names_tomograms_in_parameters_and_captions(details_and_report):
    _, report = details_and_report
    parameters = re.search(r"<h2>Parameters</h2>(.*?)<h2>", report, re.S).group(1)
    assert "coordinate pixel size (Å)" in parameters and "example tomograms drawn" in parameters
    assert "minimum distance along z (Å)" in parameters
    assert "micrograph" not in parameters.lower()
    assert "<h3>Example tomogram 1</h3>" in report
    # (the matching itself is not said: one input's tomograms matched by their paths, as by default)
    assert "Micrograph matching" not in report
