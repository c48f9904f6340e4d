"""--plot: the pictures hold the job's data (read back from the figures' artists), the
report embeds them, and the default path imports no plotting code."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

pytest.importorskip("matplotlib")

from cryodedup import MicrographOptions, ParticleOptions, find_duplicate_micrographs, remove_duplicate_particles  # noqa: E402
from cryodedup import plots  # noqa: E402
from cryodedup.synthetic import exposure, specimen_field, write_benchmark_file, write_mrc  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402


def details_of(tmp_path, n=3000):
    path = tmp_path / "p.star"
    write_benchmark_file(path, n, per_mic=300, seed=3)
    captured = {}
    original = plots.particle_figures

    def spy(details, n_mics, find):
        captured["details"] = details
        return original(details, n_mics, find)

    plots.particle_figures = spy
    try:
        summary = remove_duplicate_particles(
            [path], tmp_path / "out", ParticleOptions(score="rlnMaxValueProbDistribution", plot=True, plot_mics=2)
        )
    finally:
        plots.particle_figures = original
    return summary, captured["details"], path


def test_particle_pictures_show_the_decisions(tmp_path):
    summary, d, _ = details_of(tmp_path)
    names = {p.split("/")[-1] for p in summary["plots"]}
    assert names == {
        "example_micrograph_1.png",
        "example_micrograph_2.png",
        "nn_distances.png",
        "rejected_per_micrograph.png",
        "scores.png",
        "report.html",
    }
    # The first example is the micrograph with the most rejections; its markers are its picks.
    rejected = np.bincount(d.groups[~d.keep])
    mic = int(np.argmax(rejected))
    fig = plots.micrograph_picks(d, mic, None)
    circles = [p for p in fig.axes[0].patches if isinstance(p, Circle)]
    on_mic = d.groups == mic
    assert sum(c.get_gid() == "kept" for c in circles) == int((d.keep & on_mic).sum())
    assert sum(c.get_gid() == "rejected" for c in circles) == int((~d.keep & on_mic).sum()) == rejected.max()
    assert all(c.radius == d.min_dist / 2 for c in circles)
    (lines,) = [c for c in fig.axes[0].collections if c.get_gid() == "suppressed_by"]
    for segment, i in zip(lines.get_segments(), np.flatnonzero(~d.keep & on_mic)):
        assert np.allclose(segment, [d.centres[i], d.centres[d.suppressed_by[i]]])


def test_nearest_neighbour_histogram_counts(tmp_path):
    _, d, _ = details_of(tmp_path)
    fig = plots.nn_histogram(d)
    ax = fig.axes[0]
    heights = np.array([bar.get_height() for bar in ax.patches])
    # Independent nearest neighbours with scipy, micrograph by micrograph.
    expected = []
    for g in np.unique(d.groups):
        pts = d.centres[d.groups == g]
        if len(pts) > 1:
            expected += list(cKDTree(pts).query(pts, k=2)[0][:, 1])
    top = max(5 * d.min_dist, 200.0)
    counts, _ = np.histogram(np.clip(expected, 0, top), bins=100, range=(0, top))
    assert np.array_equal(heights, counts)
    (line,) = ax.get_lines()
    assert line.get_xdata()[0] == d.min_dist


def test_micrograph_pictures_and_report(tmp_path):
    rng = np.random.default_rng(3)
    field = specimen_field(rng, 1300, 1800, 6.0)
    write_mrc(tmp_path / "a.mrc", exposure(rng, field, 60, 60, 582, 818, 6.0), 6.0)
    write_mrc(tmp_path / "b.mrc", exposure(rng, field, 210, 260, 582, 818, 6.0, defocus=25000), 6.0)
    write_mrc(tmp_path / "c.mrc", exposure(rng, specimen_field(rng, 600, 900, 6.0), 0, 0, 582, 818, 6.0), 6.0)
    summary = find_duplicate_micrographs(
        sorted(tmp_path.glob("*.mrc")), tmp_path / "out", MicrographOptions(bin=2, plot=True)
    )
    assert [p.split("/")[-1] for p in summary["plots"]] == ["z_distribution.png", "pair_1.png", "report.html"]
    z = np.array([float(line.split(",")[4]) for line in (tmp_path / "out" / "pairs.csv").read_text().splitlines()[1:]])
    fig = plots.z_distribution(z, 8.0)
    assert sum(bar.get_height() for bar in fig.axes[0].patches) == len(z) == 3
    assert fig.axes[0].get_lines()[0].get_xdata()[0] == 8.0
    report = (tmp_path / "out" / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 2 and "http" not in report


def test_default_path_imports_no_plotting(tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 200, seed=1)
    code = (
        "import sys; from cryodedup.cli import main\n"
        f"try:\n    main(['particles', '{path}', '-o', '{tmp_path / 'out'}', '-q'])\n"
        "except SystemExit:\n    pass\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert (tmp_path / "out" / "particles_kept.star").exists()
