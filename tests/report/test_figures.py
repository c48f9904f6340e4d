"""cryodedup.report.figures: pictures made outside pyplot, so that a job may draw many."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("matplotlib")

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.report.figures import subplots
from fixtures.synthetic import write_benchmark_file


def test_a_job_drawing_many_pictures_leaves_pyplot_alone(tmp_path):
    # pyplot keeps every figure it made until it is closed and warns past 20: a run with
    # --plot-mics 25 (30 micrographs, so 25 of them drawn, and 8 more pictures) printed
    # matplotlib's RuntimeWarning and held every figure until the report was written.
    import matplotlib.pyplot as plt

    path = tmp_path / "p.star"
    write_benchmark_file(path, 6000, per_mic=200, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(plot=True, plot_mics=25))
    assert [str(w.message) for w in caught if "figures have been opened" in str(w.message)] == []
    assert sum(p.endswith(".png") and "example_micrograph_" in p for p in summary["plots"]) == 25
    assert plt.get_fignums() == []


def test_a_figure_renders_as_pyplot_would():
    fig, (left, right) = subplots(1, 2, figsize=(4, 2))
    assert fig.get_size_inches().tolist() == [4, 2] and fig.axes == [left, right]
    fig.canvas.draw()  # the Agg canvas: pixels to read back, as the tests of the pictures do
    assert fig.canvas.buffer_rgba().shape[2] == 4
