"""--plot: the pictures hold the job's data (read back from what each panel drew), the
report embeds them, the default path imports no plotting code, and --plot no matplotlib."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

pytest.importorskip("PIL")

import PIL.Image
from click.testing import CliRunner

from cryodedup import (
    ParticleOptions,
    _core,
    remove_duplicate_particles,
)
from cryodedup.algo.dedup import dedup, nearest_neighbour_distances
from cryodedup.cli import main
from cryodedup.formats.mrc import binned_image
from cryodedup.jobs.particles import pictures as plots
from cryodedup.report import canvas, micrograph_figures, particle_charts, picks_figures
from fixtures.pictures import capture_pictures
from fixtures.synthetic import write_benchmark_file, write_mrc
from helpers import write_star
from picker_files import write_topaz


def details_of(tmp_path, n=3000, min_dist=20.0):
    path = tmp_path / "p.star"
    write_benchmark_file(path, n, per_mic=300, seed=3)
    return run_with_spy(
        path,
        tmp_path / "out",
        ParticleOptions(min_dist=min_dist, score="rlnMaxValueProbDistribution", plot=True, plot_mics=2),
    )


def run_with_spy(path, outdir, options):
    """Runs the particle job and returns (summary, the details given to the pictures, path)."""
    summary, details, _ = run_with_spy_inputs([path], outdir, options)
    return summary, details, path


def run_with_spy_inputs(paths, outdir, options):
    """:func:`run_with_spy` for several inputs."""
    captured = {}
    original = plots.rendered_particle_figures

    def spy(details, n_mics, find):
        captured["details"] = details
        return original(details, n_mics, find)

    plots.rendered_particle_figures = spy
    try:
        summary = remove_duplicate_particles(paths, outdir, options)
    finally:
        plots.rendered_particle_figures = original
    return summary, captured["details"], paths


#: The pictures of a job on one scored input without an outlier, and those it must not draw (a
#: picture added to the registry later is checked by its own test, not listed here).
DRAWN_FOR_ONE_SCORED_INPUT = {
    "duplicate_fraction.png",
    "example_micrograph_1.png",
    "example_micrograph_2.png",
    "nn_distances.png",
    "rejected_per_micrograph.png",
    "scores.png",
}
NOT_DRAWN_FOR_ONE_SCORED_INPUT = {
    "example_micrograph_3.png",
    "duplicate_outlier.png",
    "inputs.png",
    "halfset_pairs.png",
    "consensus.png",
    "agreement.png",
    "registration.png",
}


def test_particle_pictures_show_the_decisions(tmp_path):
    summary, d, _ = details_of(tmp_path)
    names = {p.split("/")[-1] for p in summary.plots}
    assert DRAWN_FOR_ONE_SCORED_INPUT | {"report.html"} <= names and not names & NOT_DRAWN_FOR_ONE_SCORED_INPUT
    # The first example is the micrograph with the most rejections: kept picks in one panel,
    # rejected picks in the other, each with a line to the pick kept instead.
    rejected = np.bincount(d.groups[~d.keep])
    mic = int(np.argmax(rejected))
    picture = picks_figures.micrograph_picks(d, mic, None)
    on_mic = d.groups == mic
    ax_kept, ax_rejected = picture.panels
    assert np.allclose(ax_kept.marks["kept"], d.centres[d.keep & on_mic])
    assert np.allclose(ax_rejected.marks["rejected"], d.centres[~d.keep & on_mic])
    assert len(ax_rejected.marks["rejected"]) == rejected.max()
    assert "rejected" not in ax_kept.marks and "kept" not in ax_rejected.marks
    segments = ax_rejected.marks["suppressed_by"]
    assert len(segments) == rejected.max()
    # The job decided in one pass, which kept the pairs the pictures asked for: the lines are
    # the whole file's decision's (its pairs as the two passes keep them).
    assert summary.to_json()["timings"]["one_pass"]
    whole = dedup(d.groups, d.centres, d.scores, min_dist=d.min_dist, higher_is_better=d.particles.higher_is_better)
    assert np.array_equal(whole.keep, d.keep) and np.array_equal(whole.suppressed_by, d.suppressed_by)
    for segment, i in zip(segments, np.flatnonzero(~d.keep & on_mic)):
        assert np.allclose(segment, [d.centres[i], d.centres[whole.suppressed_by[i]]])


@pytest.mark.parametrize("min_dist", [1.0, 400.0])
def test_picks_are_legible_at_any_minimum_distance(tmp_path, min_dist):
    _, d, _ = details_of(tmp_path, min_dist=min_dist)
    mic = int(np.argmax(np.bincount(d.groups[~d.keep])))
    picture = picks_figures.micrograph_picks(d, mic, None)
    # Markers of a fixed size: at least 5 points wide at 110 dpi, whatever the distance.
    assert 2 * canvas.MARKER_RADIUS >= 5 / 72 * 110
    for panel, gid in zip(picture.panels, ("kept", "rejected")):
        assert len(panel.marks[gid])
        assert panel.legend.entries == []  # the legend sits outside the data
    assert "kept pick" in picture.legend.labels
    # A circle of half the minimum distance only where it shows beyond the marker: 0.5 Å on a
    # 6 000 Å wide micrograph is a speck; 200 Å is about 19 display pixels.
    circles = picture.panels[0].marks.get("half_min_dist")
    if min_dist == 1.0:
        assert circles is None
    else:
        centres, radius = circles
        assert len(centres) == int((d.keep & (d.groups == mic)).sum()) and radius == 200.0
    assert picture.png().startswith(b"\x89PNG")  # renders


def bright_pixels(rgb: np.ndarray, box) -> np.ndarray:
    """Centre (PNG pixels: column, row) of the white pixels inside ``box`` (left, top, right, bottom)."""
    rows, cols = np.nonzero(np.all(rgb > 235, axis=2))
    x0, y0, x1, y1 = box
    inside = (cols > x0 + 1) & (cols < x1 - 1) & (rows > y0 + 1) & (rows < y1 - 1)
    assert inside.sum() > 10
    return np.array([cols[inside].mean(), rows[inside].mean()])


def blob(ny, nx, row, col, sigma):
    yy, xx = np.mgrid[0:ny, 0:nx]
    rng = np.random.default_rng(0)
    return (100 * np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * sigma**2)) + rng.normal(0, 1, (ny, nx))).astype(
        np.float32
    )


def test_a_pick_on_a_bright_feature_is_drawn_on_it(tmp_path):
    # A 360 x 240 pixel micrograph (2 Å) with a bright spot at column 250, row 40 of the MRC,
    # picked at rlnCoordinateX 250, rlnCoordinateY 40: RELION's picker and extraction both put
    # row r of the MRC at rlnCoordinateY r, and show row 0 (y = 0) at the top.
    (tmp_path / "mics").mkdir()
    write_mrc(tmp_path / "mics" / "m.mrc", blob(240, 360, 40, 250, 8), 2.0)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
    rows = [[250, 40, "mics/m.mrc", 1, 0.9], [252, 41, "mics/m.mrc", 1, 0.5], [60, 200, "mics/m.mrc", 1, 0.4]]
    star = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 2.0, 2.0]])
    summary, d, _ = run_with_spy(star, tmp_path / "out", ParticleOptions(min_dist=20, plot=True, plot_mics=1))
    assert "micrograph_images" not in summary.to_json()  # found from the folder above the input
    image = picks_figures.display_image(*binned_image(tmp_path / "mics" / "m.mrc", picks_figures.DISPLAY_WIDTH))
    picture = picks_figures.micrograph_picks(d, 0, image)
    pixels = picture.pixels()
    for panel in picture.panels:
        # The markers are green and red: the white is the image's spot.
        spot = bright_pixels(pixels, panel.box)
        (pick,) = panel.xy(np.array([[250 * 2.0, 40 * 2.0]]))
        assert np.hypot(*(spot - pick)) < 4, (spot, pick)
        assert panel.y(0) < panel.y(100)  # y = 0 at the top (rows grow downwards)
    # The micrograph-pair pictures show their images the same way: row 10 near the top.
    a = blob(100, 120, 10, 70, 4)
    pair = micrograph_figures.pair_figure(a, a, 0, 0, "same")
    pixels = pair.pixels()
    for panel in pair.panels:
        spot = bright_pixels(pixels, panel.box)
        (pick,) = panel.xy(np.array([[70.0, 10.0]]))
        assert np.hypot(*(spot - pick)) < 4, (spot, pick)


def test_the_summary_and_report_say_when_images_are_not_found(tmp_path):
    (tmp_path / "data" / "mics").mkdir(parents=True)
    write_mrc(tmp_path / "data" / "mics" / "m.mrc", blob(240, 360, 40, 250, 8), 2.0)
    (tmp_path / "job").mkdir()
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
    rows = [[250, 40, "mics/m.mrc", 1, 0.9], [252, 41, "mics/m.mrc", 1, 0.5]]
    star = write_star(tmp_path / "job" / "p.star", labels, rows, optics=[[1, "og1", 2.0, 2.0]])
    summary = remove_duplicate_particles([star], tmp_path / "out", ParticleOptions(plot=True))
    note = summary.micrograph_images
    assert "1 of 1 micrograph images not found; 1 of 1 examples drawn on a blank frame" in note
    assert "mics/m.mrc" in note and "--project-dir" in note
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Micrograph images" in report and "--project-dir" in report
    result = CliRunner().invoke(main, ["particles", str(star), "-o", str(tmp_path / "out"), "--plot", "--force"])
    assert result.exit_code == 0, result.output
    looked_for = note.splitlines()[1]  # "first looked for: PATH", whole on one line of the table
    assert "Micrograph images" in result.stderr and looked_for in result.stderr
    summary = remove_duplicate_particles(
        [star], tmp_path / "out2", ParticleOptions(plot=True, project_dir=tmp_path / "data")
    )
    assert "micrograph_images" not in summary.to_json()


def test_an_unreadable_image_is_drawn_on_a_blank_frame_that_says_so(tmp_path, monkeypatch):
    # A micrograph file cut short (a copy interrupted): found, but not an image.
    (tmp_path / "mics").mkdir()
    write_mrc(tmp_path / "mics" / "m.mrc", blob(240, 360, 40, 250, 8), 2.0)
    whole = (tmp_path / "mics" / "m.mrc").read_bytes()
    (tmp_path / "mics" / "m.mrc").write_bytes(whole[: len(whole) // 3])
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
    rows = [[250, 40, "mics/m.mrc", 1, 0.9], [252, 41, "mics/m.mrc", 1, 0.5]]
    star = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 2.0, 2.0]])
    drawn = capture_pictures(monkeypatch)
    summary = remove_duplicate_particles([star], tmp_path / "out", ParticleOptions(min_dist=20, plot=True))
    assert "micrograph_images" not in summary.to_json()  # the file is there: not one of the missing
    (example,) = [picture for name, _, picture in drawn if name.startswith("example_")]
    assert "image unreadable" in example.title and "image not found" not in example.title


def test_nearest_neighbour_histogram_counts(tmp_path):
    _, d, _ = details_of(tmp_path)
    (panel,) = plots.nn_histogram(d).panels
    heights, edges = panel.marks["distances"]
    # Independent nearest neighbours with scipy, micrograph by micrograph.
    expected = []
    for g in np.unique(d.groups):
        pts = d.centres[d.groups == g]
        if len(pts) > 1:
            expected += list(cKDTree(pts).query(pts, k=2)[0][:, 1])
    top = max(5 * d.min_dist, 200.0)
    counts, _ = np.histogram(np.clip(expected, 0, top), bins=100, range=(0, top))
    assert np.array_equal(heights, counts) and np.allclose(edges, np.linspace(0, top, 101))
    assert panel.marks["min_dist"] == d.min_dist
    # How many lie within the minimum distance, in words (one pair is no visible bar).
    within = sum(e <= d.min_dist for e in expected)
    assert f"minimum distance {d.min_dist:g} Å: {within:,} particles within it" in panel.legend.labels


def test_the_count_within_each_species_distance_counts_its_own_species_only(tmp_path):
    # Each species has its own minimum distance, and the rule compares picks of one species: a
    # count of distances to any species was wrong (a trial: 17 said, 15 true). Here a pair of one
    # species 30 Å apart (a duplicate at its 40 Å) and a pair of two species 5 Å apart (none).
    path = tmp_path / "p.star"
    rows = "m.mrc 100 100 1\nm.mrc 130 100 1\nm.mrc 500 500 1\nm.mrc 505 500 2\n"
    path.write_text(f"data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnClassNumber\n{rows}")
    options = ParticleOptions(
        plot=True, plot_mics=0, mic_psize=1.0, species_column="rlnClassNumber", species_min_dist={"1": 40, "2": 20}
    )
    summary, d, _ = run_with_spy(path, tmp_path / "out", options)
    assert summary.rejected == 1
    (panel,) = plots.nn_histogram(d).panels
    within = [label for label in panel.legend.labels if "within it" in label]
    assert within == ["1: minimum distance 40 Å, 2 of 3 within it", "2: minimum distance 20 Å, 0 of 1 within it"]


def test_scores_are_drawn_as_compared(tmp_path):
    # Two pickers on different scales, compared as percentiles: the score picture shows the
    # percentiles the decision used (1 best), not the raw scores side by side.
    rng = np.random.default_rng(5)
    for name, scale in (("a.txt", 0.1), ("b.txt", 3.0)):
        rows = [("m", *rng.uniform(0, 400, 2).tolist(), scale * rng.random()) for _ in range(50)]
        write_topaz(tmp_path / name, rows)
    options = ParticleOptions(mic_psize=1, topaz_scale=1, score_normalize="rank", plot=True, plot_mics=1)
    _, details, _ = run_with_spy_inputs([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "out", options)
    assert details.scores.min() > 0 and details.scores.max() <= 1
    assert np.array_equal(np.argsort(details.scores[:50]), np.argsort(details.particles.scores[:50]))
    (panel,) = plots.score_distributions(details).panels
    assert panel.xlabel == "score: percentile within its input (1 best)"
    # Each histogram counts its subset's scores (60 bins from the lowest to the highest of all).
    s = details.scores
    for name, subset in (("kept", details.keep), ("rejected", ~details.keep)):
        counts, _ = panel.marks[name]
        bins = np.minimum(((s[subset] - s.min()) / (s.max() - s.min()) * 60).astype(int), 59)
        assert counts.tolist() == np.bincount(bins, minlength=60).tolist()


def test_score_axis_is_cut_to_percentiles_only_when_a_few_outliers_stretch_it():
    # 0, 1, ..., 99 and one score of 10000: numpy's 1st and 99th percentiles of these 101
    # values are the values ranked 1 and 99 (1.0 and 99.0); 98 is under half of 10000, so
    # the axis is cut there and 0 and 10000 lie beyond it.
    assert particle_charts.score_axis(np.r_[np.arange(100.0), 10000.0]) == (1.0, 99.0, 2)
    # Evenly spread scores: the percentiles span nearly all; the axis is the whole range.
    assert particle_charts.score_axis(np.arange(101.0)) == (0.0, 100.0, 0)
    assert particle_charts.score_axis(np.full(5, 3.0)) == (3.0, 3.0, 0)  # one value (a bin is made around it)
    assert particle_charts.score_axis(np.zeros(0)) == (0.0, 1.0, 0)


def test_score_picture_counts_the_scores_beyond_its_axis_in_the_end_bins(tmp_path):
    _, details, _ = details_of(tmp_path, n=600)
    n = len(details.keep)
    scores = np.linspace(0.0, 1.0, n)
    scores[[3, 7]] = [-50.0, 80.0]  # two outliers stretch the axis 130 times
    details.compared_scores = scores
    (panel,) = plots.score_distributions(details).panels
    assert "1st to 99th percentile" in panel.xlabel and "2 scores beyond the axis" in panel.title
    lo, hi = np.percentile(scores, [1, 99])
    for name, subset in (("kept", details.keep), ("rejected", ~details.keep)):
        counts, edges = panel.marks[name]
        assert edges[0] == pytest.approx(lo) and edges[-1] == pytest.approx(hi)
        assert counts.sum() == subset.sum()  # every score counted, the outliers in the end bins
        inside = scores[subset & (scores >= lo) & (scores <= hi)]
        assert counts[0] == np.count_nonzero(inside < edges[1]) + np.count_nonzero(scores[subset] < lo)
        assert counts[-1] == np.count_nonzero(inside >= edges[-2]) + np.count_nonzero(scores[subset] > hi)


@pytest.mark.parametrize("dim", [2, 3])
def test_nearest_neighbour_distances_match_scipy(dim):
    # Spread picks, copies at one centre, and a micrograph with a single pick (inf).
    rng = np.random.default_rng(dim)
    groups = rng.integers(0, 6, 4000)
    centres = rng.uniform(0, 4000, (4000, dim))
    centres[::40] = 123.0
    groups[7] = 99
    got = nearest_neighbour_distances(groups, centres)
    assert got[7] == np.inf
    for g in np.unique(groups[groups != 99]):
        on = np.flatnonzero(groups == g)
        want = cKDTree(centres[on]).query(centres[on], k=2)[0][:, 1]
        np.testing.assert_allclose(got[on], want, rtol=1e-12, atol=0)
    assert (got[::40][groups[::40] != 99] == 0).all()
    # A scan's uint32 micrograph ids go to the core as they are (no int64 copy), to the same distances.
    narrow = _core.nearest_distances(groups.astype(np.uint32), np.ascontiguousarray(centres))
    np.testing.assert_array_equal(narrow, got)


def matplotlib_modules_of_job(arguments: list[str]) -> list[str]:
    """The matplotlib modules loaded by ``cryodedup particles ARGUMENTS`` in a fresh interpreter."""
    code = (
        "import sys; from cryodedup.cli import main\n"
        f"try:\n    main(['particles', *{arguments!r}])\n"
        "except SystemExit:\n    pass\n"
        "print(repr(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out)


def test_default_path_imports_no_plotting(tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 200, seed=1)
    assert matplotlib_modules_of_job([str(path), "-o", str(tmp_path / "out"), "-q"]) == []
    assert (tmp_path / "out" / "particles_kept.star").exists()


def test_consensus_pictures(tmp_path):
    # Two topaz pickers on one micrograph: a's (100, 100) and b's (105, 100) are 5 Å apart,
    # a's (500, 500) is alone. Kept: one of the pair (confirmed) and a's lone pick.
    for name, rows in (("a", [(100.0, 100.0, 0.9), (500.0, 500.0, 0.5)]), ("b", [(105.0, 100.0, 0.1)])):
        lines = ["image_name\tx_coord\ty_coord\tscore"] + [f"m\t{x}\t{y}\t{s}" for x, y, s in rows]
        (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n")
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, plot=True, plot_mics=0)
    summary = remove_duplicate_particles([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "out", options)
    assert {"consensus.png", "agreement.png"} <= {p.split("/")[-1] for p in summary.plots}
    report = (tmp_path / "out/report.html").read_text()
    # a: 2 picks, b: 1, one pair shared: J = 1 / (2 + 1 - 1) = 0.5, in --json; no consensus was
    # asked and the inputs agree, so the report's table leaves it out; the per-micrograph matrices too.
    assert summary.to_json()["consensus"]["jaccard"][0][1] == 0.5
    assert "Neighbour agreement a.txt / b.txt" not in report and "jaccard_per_micrograph" not in report
    captured = {}
    original = plots.consensus_by_input

    def spy(details):
        captured["fig"] = original(details)
        return captured["fig"]

    plots.consensus_by_input = spy
    try:
        remove_duplicate_particles([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "again", options)
    finally:
        plots.consensus_by_input = original
    (panel,) = captured["fig"].panels
    # Each input's bar holds all its picks: a 1 kept confirmed + 1 kept alone, b 1 duplicate.
    bars = {fate: panel.marks[fate].tolist() for fate in ("kept_confirmed", "kept_alone", "rejected_duplicate")}
    assert bars == {"kept_confirmed": [1, 0], "kept_alone": [1, 0], "rejected_duplicate": [0, 1]}


def test_picks_rejected_for_lack_of_support_are_drawn_apart_from_duplicates(tmp_path):
    # As above, with --min-support 2: b's (105, 100) is a duplicate of a's (100, 100); a's
    # (500, 500) is no duplicate but no other input picked it, so it goes for lack of support.
    for name, rows in (("a", [(100.0, 100.0, 0.9), (500.0, 500.0, 0.5)]), ("b", [(105.0, 100.0, 0.1)])):
        write_topaz(tmp_path / f"{name}.txt", [("m", x, y, s) for x, y, s in rows])
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, min_support=2, plot=True, plot_mics=1)
    _, d = run_with_spy_inputs([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "out", options)[:2]
    picture = picks_figures.micrograph_picks(d, 0, None)
    ax_rejected = picture.panels[1]
    assert ax_rejected.marks["rejected"].tolist() == [[105.0, 100.0]]
    assert ax_rejected.marks["unconfirmed"].tolist() == [[500.0, 500.0]]
    assert ax_rejected.title == "rejected: 2 (duplicates: 1, unconfirmed: 1)"
    assert "rejected: too few inputs picked it (--min-support)" in picture.legend.labels


def test_a_micrograph_known_by_its_stem_is_drawn_from_its_mrc_file(tmp_path, monkeypatch):
    # topaz names micrograph stem_mic (stem_mic.mrc) by its stem: the picture finds stem_mic.mrc in the project folder
    # (a name no folder above tmp_path holds: the search walks up to the root).
    monkeypatch.chdir(tmp_path)
    write_mrc(tmp_path / "stem_mic.mrc", np.zeros((100, 100), dtype=np.float32), 1.0)
    write_topaz(tmp_path / "a.txt", [("stem_mic", 10.0, 20.0, 0.5), ("stem_mic", 12.0, 20.0, 0.4)])
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, plot=True, plot_mics=1)
    summary = remove_duplicate_particles([tmp_path / "a.txt"], tmp_path / "out", options)
    assert "micrograph_images" not in summary.to_json()
    (tmp_path / "stem_mic.mrc").unlink()
    summary = remove_duplicate_particles([tmp_path / "a.txt"], tmp_path / "again", options)
    assert f"first looked for: {tmp_path / 'stem_mic.mrc'}" in summary.micrograph_images


# --- The report: the summary as a table, pictures with whole-number counts -----------------------

LONG_NAME = "MotionCorr/job002/Movies/GridSquare_29306837/Data/FoilHole_{}_Data_29308236_29308238_20221104_061329.mrc"


def write_refinements(tmp_path):
    """Two Refine3D jobs' run_data.star (one file name), on micrographs with EPU-long paths:
    on each micrograph a particle of job040 and its copy in job041 5 Å away, in the other half."""
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnRandomSubset"]
    labels.append("rlnMaxValueProbDistribution")
    paths = []
    for job, (dx, half, score) in {"job040": (0, 1, 0.9), "job041": (5, 2, 0.5)}.items():
        rows = [[100 + dx, 100, LONG_NAME.format(29310345 + m), 1, half, score] for m in range(4)]
        (tmp_path / "Refine3D" / job).mkdir(parents=True)
        paths.append(
            write_star(tmp_path / "Refine3D" / job / "run_data.star", labels, rows, optics=[[1, "og1", 1.0, 1.0]])
        )
    return paths


def test_the_report_summary_is_the_terminal_table_with_the_verdict_highlighted(tmp_path):
    paths = write_refinements(tmp_path)
    options = ParticleOptions(plot=True, plot_mics=1, project_dir=tmp_path)
    summary = remove_duplicate_particles(paths, tmp_path / "out", options)
    report = (tmp_path / "out" / "report.html").read_text()
    summary_table = report.split("<h2>Summary</h2>")[1].split("</table>")[0]
    listed_rows = [
        (row.split("</th>")[0].split(">")[-1], re.split("<td[^>]*>", row)[1].split("</td>")[0].replace("<wbr>", ""))
        for row in summary_table.split("<tr")[1:]
    ]
    rows = dict(listed_rows[::-1])  # a label used twice (an input's rows): its first row
    # Human labels and units, not the --json keys ("timings: read 0.03, ...").
    assert (
        rows["Particles in"] == "8" and rows["Rejected"] == "4 (50.0 %)" and rows["Minimum distance"].startswith("20 Å")
    )
    assert rows["job040/run_data.star"] == "4 in, 4 kept, 0 rejected"  # a row under "Particles in"
    assert rows["Time"].endswith(" s") or " s (" in rows["Time"]
    for dump in ("timings", "one pass", "pixel sizes", "halfset audit", "{", "None"):
        assert dump not in summary_table
    # The verdict highlighted: 4 pairs straddle (one per micrograph).
    assert "<tr class='bad'><th>Half-set audit</th>" in summary_table
    assert rows["Half-set audit"].startswith("4 duplicate pairs within 20 Å straddle the half-sets")
    # Micrographs named by the end of their paths (whole in --json), never cut in the middle.
    listed = rows["Most straddling (4 micrographs)"].splitlines()
    assert listed[0] == "FoilHole_29310345_Data_29308236_29308238_20221104_061329.mrc: 1 (of 2 particles)"
    assert summary.to_json()["halfset_audit"]["top_micrographs"][0]["micrograph"] == LONG_NAME.format(29310345)
    assert rows["Micrograph images"].startswith("4 of 4 micrograph images not found; 1 of 1 examples")
    # Without half-set pairs across: green.
    ok = remove_duplicate_particles(paths[:1], tmp_path / "one", options)
    assert ok.to_json()["halfset_audit"]["straddling_pairs"] == 0
    assert "<tr class='good'><th>Half-set audit</th>" in (tmp_path / "one" / "report.html").read_text()


def test_nearest_neighbour_histogram_of_lone_particles(tmp_path):
    # One particle per micrograph: no distances; the picture says so and counts from 0, not
    # from the -0.05 matplotlib gives an all-zero histogram.
    path = tmp_path / "p.star"
    rows = "".join(f"m{i}.mrc {100 + i} 200\n" for i in range(5))
    path.write_text(f"data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n{rows}")
    _, d, _ = run_with_spy(path, tmp_path / "out", ParticleOptions(plot=True, plot_mics=0, mic_psize=1.0))
    (panel,) = plots.nn_histogram(d).panels
    assert panel.ylim == (0.0, 1.0) and panel.yticks.min() == 0
    assert any("holds two particles" in text for text in panel.texts)


def whole_numbers(ticks) -> bool:
    return all(float(t).is_integer() for t in ticks)


def test_counts_have_whole_number_ticks(tmp_path):
    # Four micrographs, each with one pair across the halves: counts of 0 to 4 would get ticks of 0.5.
    paths = write_refinements(tmp_path)
    _, d, _ = run_with_spy_inputs(paths, tmp_path / "out", ParticleOptions(plot=True, plot_mics=0))
    assert whole_numbers(plots.rejected_fraction(d).panels[0].yticks)
    left, right = plots.halfset_pairs(d).panels
    assert whole_numbers(left.yticks) and whole_numbers(left.xticks) and whole_numbers(right.xticks)
    assert whole_numbers(plots.agreement(d).panels[-1].yticks)
    assert whole_numbers(plots.nn_histogram(d).panels[0].yticks)
    # What the half-set picture draws, against a count by hand: each of the 4 micrographs
    # holds one pair, its two particles in different halves (job040 half 1, job041 half 2).
    assert left.marks["across"].tolist() == [1, 1, 1, 1]
    assert right.marks["across"].tolist() == [1, 1, 1, 1] and right.marks["within"].tolist() == [0, 0, 0, 0]


def agreement_of(tmp_path, pickers):
    tmp_path.mkdir()
    for name, rows in pickers.items():
        write_topaz(tmp_path / f"{name}.txt", [("m", x, y, 1.0) for x, y in rows])
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, plot=True, plot_mics=0)
    _, d, _ = run_with_spy_inputs([tmp_path / f"{n}.txt" for n in pickers], tmp_path / "out", options)
    return plots.agreement(d)


def test_the_agreement_picture_spends_nothing_on_the_diagonal(tmp_path):
    a, b, c = [(100, 100), (500, 500)], [(105, 100)], [(100, 104), (500, 503), (900, 900)]
    # By hand, at 20 Å: a-b share a's first pick (J = 1 / (2 + 1 - 1) = 0.5); a-c share two
    # (J = 2 / (2 + 3 - 2) = 0.67); b-c share one (J = 1 / (1 + 3 - 1) = 0.33).
    picture = agreement_of(tmp_path / "two", {"a": a, "b": b})
    (panel,) = picture.panels  # two inputs: one number, marked on the histogram; no 2 x 2 matrix of ones
    assert panel.marks["overall"] == pytest.approx(0.5)
    picture = agreement_of(tmp_path / "three", {"a": a, "b": b, "c": c})
    matrix, _ = picture.panels
    cells = matrix.marks["pair_matrix"]
    assert cells.shape == (2, 2) and np.isnan(cells).tolist() == [[False, True], [False, False]]
    assert np.allclose(np.nan_to_num(cells, nan=-1), [[0.5, -1], [2 / 3, 1 / 3]])
    assert sorted(matrix.texts) == ["0.33", "0.50", "0.67"]


def test_a_note_naming_long_inputs_stays_inside_its_picture(tmp_path):
    # Two crYOLO-like pickers that ran on different micrographs, with file names as long as
    # napari-boxmanager's: the "no micrograph in common" note once ran off the right edge.
    names = [
        "napari-boxmanager__TcdA1-0018_frames_sum_picked_by_a_long_model",
        "napari-boxmanager__TcdA1-0019_frames_sum_b",
    ]
    for k, name in enumerate(names):
        write_topaz(tmp_path / f"{name}.txt", [(f"mic{k}", 100.0 + 50 * j, 100.0, 1.0) for j in range(3)])
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, plot=True, plot_mics=0)
    _, d, _ = run_with_spy_inputs([tmp_path / f"{n}.txt" for n in names], tmp_path / "out", options)
    picture = plots.agreement(d)
    (panel,) = picture.panels
    (note,) = [t for t in panel.texts if "in common" in t]
    width = panel.box[2] - panel.box[0]
    assert all(canvas.text_width(line) <= width for line in note.split("\n"))
    assert note.replace("\n", " ").replace(" ", "") == f"{names[0]}.txtand{names[1]}.txt:nomicrographincommon"


def test_wrapped_text_fits_and_loses_nothing():
    text = "a short start then_one_word_far_too_long_for_the_width_given_here and an end"
    for width in (40, 90, 200, 1000):
        lines = canvas.wrapped(text, width).split("\n")
        assert all(canvas.text_width(line) <= width or len(line) == 1 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert canvas.wrapped("fits", 1000) == "fits"


def test_plot_draws_the_particle_pictures_without_importing_matplotlib(tmp_path):
    # matplotlib's import alone costs about as much CPU as the whole 1M-particle job: the
    # particle job's pictures are drawn with Pillow (the font shipped in the package).
    path = tmp_path / "p.star"
    write_benchmark_file(path, 2000, per_mic=200, seed=1)
    assert matplotlib_modules_of_job([str(path), "-o", str(tmp_path / "out"), "-q", "--plot", "--plot-mics", "2"]) == []
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert set(pngs) >= DRAWN_FOR_ONE_SCORED_INPUT and not set(pngs) & NOT_DRAWN_FOR_ONE_SCORED_INPUT
    for name in pngs:  # real PNGs of the size drawn
        with PIL.Image.open(tmp_path / "out" / name) as image:
            assert image.format == "PNG" and image.width >= 700


def test_rejected_fraction_counts_micrographs_by_hand(tmp_path):
    _, d, _ = details_of(tmp_path)
    (panel,) = plots.rejected_fraction(d).panels
    counts, edges = panel.marks["fractions"]
    want = np.zeros(50, dtype=int)
    for g in set(d.groups.tolist()):  # micrograph by micrograph, as a loop
        on = [k for k in range(len(d.groups)) if d.groups[k] == g]
        fraction = sum(not d.keep[k] for k in on) / len(on)
        want[min(int(fraction * 50), 49)] += 1
    assert counts.tolist() == want.tolist() and edges[0] == 0 and edges[-1] == 1
    assert panel.title == f"Rejected per micrograph ({len(d.mic_names):,} micrographs)"


@pytest.mark.parametrize(
    ("low", "high", "integer", "want"),
    [
        (0, 200, False, [0, 50, 100, 150, 200]),
        (0, 1, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 4.2, True, [0, 1, 2, 3, 4]),
        (0, 1.05, True, [0, 1]),
        (0, 6650, False, [0, 1000, 2000, 3000, 4000, 5000, 6000]),
    ],
)
def test_ticks_fall_on_round_numbers(low, high, integer, want):
    from cryodedup.report.canvas import nice_ticks, tick_labels

    ticks = nice_ticks(low, high, integer=integer)
    assert np.allclose(ticks, want)
    labels = tick_labels(ticks)
    assert labels[0] == ("0.0" if want[1] < 1 else "0") and len(set(labels)) == len(labels)


def test_a_blank_frame_spans_the_field_every_micrograph_picked(tmp_path):
    # Images not found: one micrograph holds one pick near its corner, another picks across
    # the field. The lone pick's frame is the field the picks of all micrographs reach (to
    # 4000 Å and 3000 Å, plus the 5 % margin), not a strip ending at the pick.
    rows = [("lone", 300.0, 200.0, 1.0)] + [("full", 100.0 + 390 * k, 100.0 + 290 * k, 1.0) for k in range(11)]
    write_topaz(tmp_path / "picks.txt", rows)
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, plot=True, plot_mics=2)
    _, d, _ = run_with_spy_inputs([tmp_path / "picks.txt"], tmp_path / "out", options)
    lone = d.mic_names.index("lone")
    kept, _ = picks_figures.micrograph_picks(d, lone, None).panels
    high = np.array([100.0 + 3900, 100.0 + 2900])
    assert kept.xlim == pytest.approx((0.0, high[0] * 1.05)) and sorted(kept.ylim) == pytest.approx(
        [0.0, high[1] * 1.05]
    )


def test_force_removes_the_pictures_of_the_earlier_report_and_nothing_else(tmp_path):
    """Fewer example micrographs over an earlier report: its extra pictures go (issue 58, item 6)."""
    path = tmp_path / "p.star"
    write_benchmark_file(path, 1200, per_mic=300, seed=3)
    out = tmp_path / "out"
    remove_duplicate_particles([path], out, ParticleOptions(plot=True, plot_mics=3))
    assert (out / "example_micrograph_3.png").is_file()
    mine = [out / "example_micrograph_9.png", out / "my_notes.png", out / "notes.txt"]  # (no report named them)
    for file in mine:
        file.write_bytes(b"the user's")
    drawn = sorted(p.name for p in out.glob("*.png"))
    remove_duplicate_particles([path], out, ParticleOptions(plot=True, plot_mics=1), force=True)
    report = (out / "report.html").read_text()
    now = sorted(p.name for p in out.glob("*.png"))
    assert now == sorted(set(re.findall(r"<img alt='([^']*)'", report)) | {"example_micrograph_9.png", "my_notes.png"})
    assert "example_micrograph_2.png" in drawn and "example_micrograph_3.png" in drawn
    assert not (out / "example_micrograph_2.png").exists() and not (out / "example_micrograph_3.png").exists()
    assert all(file.read_bytes() == b"the user's" for file in mine)
