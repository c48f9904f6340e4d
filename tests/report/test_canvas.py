"""The canvas's own helpers, against numpy's (the oracle)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from cryodedup.report.canvas import INK, SCALE, TICK_TEXT, Canvas, _distinct, _unique_rows, drop_spares, font, font_path


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


def _pillow_twin(canvas: Canvas) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A Pillow picture of the canvas's size and pixels, drawn by Pillow alone (the oracle)."""
    image = Image.frombuffer("RGBX", canvas.image.size, canvas.drawn.copy(), "raw", "RGBX", 0, 1)
    image.readonly = 0
    return image, ImageDraw.Draw(image)


def _drawn_bytes(image: Image.Image) -> np.ndarray:
    return np.frombuffer(image.tobytes("raw", "RGBX"), dtype=np.uint8)


def test_boxes_are_filled_as_pillow_fills_them():
    # Corners at fractions of a pixel, negative, past the edges, inside out; with and
    # without outlines, of the fill's colour or another: every byte as Pillow's.
    rng = np.random.default_rng(5)
    canvas = Canvas(23, 17)
    image, draw = _pillow_twin(canvas)
    colours = [(26, 150, 65), "#d7191c", (255, 255, 255), "#f2f2f2"]
    for _ in range(400):
        x0, y0 = rng.uniform(-8, 28, 2).round(int(rng.integers(0, 3)))
        x1, y1 = x0 + rng.uniform(-1, 20), y0 + rng.uniform(-1, 20)
        fill = colours[int(rng.integers(0, 4))]
        outline = [None, fill, colours[int(rng.integers(0, 4))]][int(rng.integers(0, 3))]
        try:
            canvas.rectangle((x0, y0, x1, y1), fill=fill, outline=outline)
        except ValueError:
            continue  # inside out: Pillow refuses it, as below
        s = SCALE
        draw.rectangle([x0 * s, y0 * s, x1 * s, y1 * s], fill=fill, outline=outline, width=s if outline else 0)
        assert np.array_equal(canvas.drawn.reshape(-1), _drawn_bytes(image)), (x0, y0, x1, y1, fill, outline)


def test_text_is_blended_as_pillow_draws_it():
    rng = np.random.default_rng(9)
    canvas = Canvas(120, 40)
    canvas.rectangle((0, 0, 60, 40), fill="#f2f2f2")
    image, draw = _pillow_twin(canvas)
    words = ["1,000", "kept: 163", "x (Å)", "", "a\nb", "rejected duplicate"]
    for k in range(120):
        text, size = words[k % len(words)], [TICK_TEXT, 15, 17][k % 3]
        x, y = rng.uniform(-20, 140), rng.uniform(-10, 50)
        anchor = ["mm", "lt", "rm", "mb", "lm"][k % 5]
        colour = [INK, (215, 25, 28), "#1a9641"][k % 3]
        canvas.text((x, y), text, size, anchor, colour)
        # Canvas.text's lines as Pillow draws them, one at a time (the oracle).
        lines = text.split("\n")
        step = size * 1.25
        top = y - {"t": 0.0, "m": step * len(lines) / 2, "b": step * len(lines)}[anchor[1]]
        for n, line in enumerate(lines):
            where = (x * SCALE, (top + step * (n + 0.5)) * SCALE)
            fresh = ImageFont.truetype(str(font_path()), size * SCALE)
            draw.text(where, line, font=fresh, fill=colour, anchor=anchor[0] + "m")
        assert np.array_equal(canvas.drawn.reshape(-1), _drawn_bytes(image)), (text, x, y, anchor)


def test_unique_rows_are_numpys():
    rng = np.random.default_rng(2)
    for _ in range(100):
        rows = rng.integers(-3, 4, (int(rng.integers(1, 60)), int(rng.integers(1, 5)))).astype(float)
        assert np.array_equal(_unique_rows(rows), np.unique(rows, axis=0))


def _scribbled(width: int, height: int) -> Canvas:
    canvas = Canvas(width, height)
    canvas.rectangle((3, 4, width / 2, height - 5), fill=(200, 30, 40), outline=INK)
    canvas.text((width / 2, height / 2), "room", TICK_TEXT)
    return canvas


def test_a_canvas_in_a_used_room_draws_as_a_new_one():
    # Oracle: the same picture on a canvas of new memory. The used room is larger, dirty,
    # and of another shape; whatever it held must not show.
    drop_spares()
    fresh = _scribbled(37, 23).png()
    big = _scribbled(90, 61)
    big.rectangle((0, 0, 90, 61), fill=(0, 0, 0))
    big.png_once()
    reused = _scribbled(37, 23)
    assert reused.png() == fresh
    with pytest.raises(AttributeError):  # an encoded canvas gave its room away: no drawing on it
        big.rectangle((0, 0, 1, 1), fill=INK)
    drop_spares()


def test_marks_are_drawn_as_pillow_draws_each_one():
    # Dots, rings, squares, crosses and circles by the dozen (set by the core from one shape
    # Pillow drew) at whole and half pixels, crowding, past every side of the picture, of
    # radii whose boxes fall on fractions of a pixel: every byte as Pillow's ImageDraw calls
    # drawing each mark where it lies (the oracle, the calls the canvas made before).
    rng = np.random.default_rng(11)
    for trial in range(60):
        canvas = Canvas(41, 29)
        canvas.rectangle((5, 5, 30, 20), fill="#f2f2f2")
        image, draw = _pillow_twin(canvas)
        kind = ["dot", "ring", "square", "cross", "circle"][trial % 5]
        radius = float(rng.choice([5.5, 3.0, 1.7, 0.8, 9.0, 2.25]))
        width = float(rng.choice([2.2, 1.0, 0.5, 1.6]))
        colour = ["#1a9641", (215, 25, 28), "#7b3294"][trial % 3]
        n = int(rng.integers(1, 40)) if trial % 4 else 3  # (a few: drawn one by one)
        xy = rng.uniform(-6, 47, (n, 2)).round(int(rng.integers(0, 2)))
        if kind == "dot":
            canvas.dots(xy, radius, colour)
        elif kind == "circle":
            canvas.circles(xy, radius, colour, width)
        else:
            canvas.markers(kind, xy, radius, colour, width)
        w = max(1, round(width * SCALE)) if kind != "dot" else 0
        r = radius * SCALE
        for x, y in np.unique(np.round(xy * SCALE), axis=0).tolist():
            box = (x - r, y - r, x + r, y + r)
            if kind == "dot":
                draw.ellipse(box, fill=colour)
            elif kind in ("ring", "circle"):
                draw.ellipse(box, outline=colour, width=w)
            elif kind == "square":
                draw.rectangle(box, outline=colour, width=w)
            else:
                draw.line([box[:2], box[2:]], fill=colour, width=w)
                draw.line([(box[0], box[3]), (box[2], box[1])], fill=colour, width=w)
        assert np.array_equal(canvas.drawn.reshape(-1), _drawn_bytes(image)), (kind, radius, width, n)
