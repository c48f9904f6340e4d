"""cryodedup.report.figures: pictures made outside pyplot, so that a job may draw many."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import PIL.Image
from matplotlib.figure import Figure

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.report.figures import rendered, subplots, tight_png
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
    assert sum(p.endswith(".png") and "example_micrograph_" in p for p in summary.plots) == 25
    assert plt.get_fignums() == []


def test_a_figure_renders_as_pyplot_would():
    fig, (left, right) = subplots(1, 2, figsize=(4, 2))
    assert fig.get_size_inches().tolist() == [4, 2] and fig.axes == [left, right]
    fig.canvas.draw()  # the Agg canvas: pixels to read back, as the tests of the pictures do
    assert fig.canvas.buffer_rgba().shape[2] == 4


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_each_picture_is_drawn_once_and_cut_as_savefig_cuts_it(monkeypatch):
    # Issue 29: savefig(bbox_inches="tight") drew every picture twice, once to measure it.
    # Oracle: savefig's own tight PNG, the same picture within a pixel of its edges.
    def picture(legend_outside: bool) -> Figure:
        fig, ax = subplots(figsize=(7, 4))
        fig.subplots_adjust(bottom=0.12)
        ax.set(xlabel="distance (Å)", ylabel="particles", title="Nearest-neighbour distances")
        ax.bar(range(10), np.arange(10) ** 2, label="counts")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1) if legend_outside else None)
        return fig

    draws = []
    real_draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, renderer: draws.append(fig) or real_draw(fig, renderer))
    for outside in (False, True):
        draws.clear()
        ((_, _, png),) = rendered([("a.png", "A", picture(outside))])
        # Beside the axes, the legend is outside the figure: savefig's larger canvas, two draws more.
        assert len(draws) == (3 if outside else 1)
        expected = png_pixels(tight_png(picture(outside)))
        got = png_pixels(png)
        assert np.abs(np.array(got.shape) - expected.shape).max() <= 2
        rows, cols = min(got.shape[0], expected.shape[0]), min(got.shape[1], expected.shape[1])
        # Dark pixels (text, bars, axes) in the same places, to a pixel of rounding at the cut.
        dark_got, dark_expected = got[:rows, :cols].sum(-1) < 300, expected[:rows, :cols].sum(-1) < 300
        shifted = [np.roll(dark_expected, (dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert dark_got.sum() > 1000
        assert (dark_got & ~np.logical_or.reduce(shifted)).sum() < 0.01 * dark_got.sum()
