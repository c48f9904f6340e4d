"""The canvas's own helpers, against numpy's (the oracle)."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cryodedup.report.canvas import SCALE, TICK_TEXT, _distinct, font, font_path


def test_distinct_positions_are_numpys_unique_rows():
    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        xy = rng.integers(-5, 20, (n, 2)) / SCALE * rng.choice([1.0, 0.5, 1.3])
        if trial % 5 == 0:
            xy[0] = [-0.0, 0.0]  # signed zeros are one position, as for np.unique
            xy[-1] = [0.0, -0.0]
        expected = np.unique(np.round(xy * SCALE), axis=0)
        got = _distinct(xy)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_no_positions():
    assert _distinct(np.zeros((0, 2))).shape == (0, 2)


def _drawn_text(canvas_font, texts) -> np.ndarray:
    """Pixels of ``texts`` (text, x, y, anchor) drawn with ``canvas_font`` on a white RGB picture."""
    image = Image.new("RGB", (400, 120), "white")
    draw = ImageDraw.Draw(image)
    for text, x, y, anchor in texts:
        draw.text((x, y), text, font=canvas_font, fill=(34, 34, 34), anchor=anchor)
    return np.asarray(image)


def test_text_rendered_once_is_drawn_as_pillow_draws_it():
    # The same words at other fractions of a pixel, again at the same one, other anchors:
    # each drawn alone by a fresh Pillow font (the oracle) and by the font that keeps masks.
    texts = [("1,000", 20.0, 30.0, "mm"), ("1,000", 20.25, 30.5, "mm"), ("1,000", 90.25, 60.5, "mm")]
    texts += [("1,000", 150.0, 30.0, "lt"), ("x (Å)", 200.7, 80.2, "rm"), ("", 10.0, 10.0, "mm")]
    texts += [("kept: 163", 300.5, 90.0, "mb"), ("1,000", 20.0, 30.0, "mm")]
    kept = font(TICK_TEXT)
    for text in texts:
        fresh = ImageFont.truetype(str(font_path()), TICK_TEXT * SCALE)
        assert np.array_equal(_drawn_text(kept, [text]), _drawn_text(fresh, [text])), text
    fresh = ImageFont.truetype(str(font_path()), TICK_TEXT * SCALE)
    assert np.array_equal(_drawn_text(kept, texts), _drawn_text(fresh, texts))
