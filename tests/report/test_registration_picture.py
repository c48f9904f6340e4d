"""The registration picture (``registration.png`` with ``--plot``): the displacements between two inputs' picks."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("PIL")

from cryodedup.algo.registration import Displacements, vote_pairs
from cryodedup.cli import main
from cryodedup.jobs.particles import pictures as plots
from cryodedup.report.registration_figures import DISPLACEMENT_BINS
from picker_files import write_topaz

SHIFT_PX = (40.0, -25.0)  # input b's picks moved by this, in pixels of 1 Å


def _picks(seed: int = 3) -> tuple[list[tuple], list[tuple]]:
    """Two pickers' picks of 20 micrographs: b holds 70 % of a's picks moved by SHIFT_PX, and 30 of its own."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for m in range(20):
        xy = rng.uniform(200, 3800, size=(60, 2))
        a += [(f"mic_{m}", float(x), float(y), 1.0) for x, y in xy]
        shared = xy[rng.random(60) < 0.7] + SHIFT_PX
        own = rng.uniform(200, 3800, size=(30, 2))
        b += [(f"mic_{m}", float(x), float(y), 1.0) for x, y in np.vstack([shared, own])]
    return a, b


def test_the_picture_piles_the_pairs_up_at_the_planted_shift(tmp_path):
    a_rows, b_rows = _picks()
    a = np.array([(x, y) for _, x, y, _ in a_rows])
    b = np.array([(x, y) for _, x, y, _ in b_rows])
    ga = np.array([int(m.split("_")[1]) for m, *_ in a_rows])
    gb = np.array([int(m.split("_")[1]) for m, *_ in b_rows])
    i, j = vote_pairs(ga, gb, 20)
    pair = Displacements("b / a", 20.0, a[i] - b[j], None, -np.array(SHIFT_PX), "best: translation")
    details = SimpleNamespace(registration=lambda: [pair])
    picture = plots.registration_picture(details)  # type: ignore[arg-type]
    counts = picture.panels[0].marks["displacements"]
    reach = max(10 * 20.0, 1.6 * 40.0)
    edges = np.linspace(-reach, reach, DISPLACEMENT_BINS + 1)
    peak = np.unravel_index(int(np.argmax(counts)), counts.shape)
    centre = ((edges[peak[0]] + edges[peak[0] + 1]) / 2, (edges[peak[1]] + edges[peak[1] + 1]) / 2)
    assert np.allclose(centre, -np.array(SHIFT_PX), atol=reach / DISPLACEMENT_BINS)
    # The peak stands far above the chance pairs' cells (their mean over the non-empty ones).
    assert counts.max() > 10 * counts[counts > 0].mean()


def test_a_run_in_two_frames_draws_it_and_one_input_does_not(tmp_path):
    a_rows, b_rows = _picks()
    write_topaz(tmp_path / "a.txt", a_rows)
    write_topaz(tmp_path / "b.txt", b_rows)
    common = ["--mic-psize", "1", "--topaz-scale", "1", "--min-dist", "20", "--plot", "--json", "-q"]
    result = CliRunner().invoke(
        main,
        [
            "particles",
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.txt"),
            "-o",
            str(tmp_path / "two"),
            *common,
            "--registration",
            "warn",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["registration"]["pairs"][0]["frames"] == "two"
    assert (tmp_path / "two" / "registration.png").stat().st_size > 0
    assert "registration.png" in (tmp_path / "two" / "report.html").read_text()
    one = CliRunner().invoke(main, ["particles", str(tmp_path / "a.txt"), "-o", str(tmp_path / "one"), *common])
    assert one.exit_code == 0, one.output
    assert not (tmp_path / "one" / "registration.png").exists()
    ignored = CliRunner().invoke(
        main,
        [
            "particles",
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.txt"),
            "-o",
            str(tmp_path / "ign"),
            *common,
            "--registration",
            "ignore",
        ],
    )
    assert ignored.exit_code == 0, ignored.output
    assert not (tmp_path / "ign" / "registration.png").exists()


def test_an_empty_cell_is_a_count_of_zero_and_the_origin_shows_its_pile():
    """Two inputs in one frame: the pile at the origin stays visible (its circle is open) and no cell is a hole."""
    rng = np.random.default_rng(5)
    chance = rng.uniform(-200, 200, size=(300, 2))  # sparse: most cells of the panel hold no pair
    piled = rng.normal(0, 1.0, size=(200, 2))  # one frame: the pairs of one particle at the origin
    pair = Displacements("b / a", 20.0, np.vstack([chance, piled]), None, None, "best: translation")
    picture = plots.registration_picture(SimpleNamespace(registration=lambda: [pair]))  # type: ignore[arg-type]
    panel, image = picture.panels[0], picture.canvas.image.convert("RGB")
    x0, y0, x1, y1 = (2 * v for v in panel.box)  # (the canvas is drawn at twice the PNG's size)
    inside = np.asarray(image)[int(y0) + 4 : int(y1) - 4, int(x0) + 4 : int(x1) - 4]
    assert not (inside == 255).all(axis=2).any(), "an empty cell is drawn as a hole (white)"
    # The cell at the origin is the most counted: drawn in viridis' top colour, not under a marker.
    centre = (round(2 * float(panel.x(0.0))) + 3, round(2 * float(panel.y(0.0))) - 3)
    assert image.getpixel(centre) == (253, 231, 37)  # viridis at 1 (#fde725)
