"""A small drawing layer on Pillow for the particle job's pictures (``--plot``).

matplotlib's import alone costs about as much CPU as the whole 1M-particle job, and drawing
its pictures as much again; these pictures need boxes, ticks, text, steps, bars, markers and
an image. Everything is drawn at twice the size and scaled down (2 x 2 means), which smooths
lines and text. The text is DejaVu Sans, shipped in the package (``report/fonts``, with its
licence). Each picture keeps what it draws, by name (:class:`Panel.marks`),
for the tests to read back.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .._core import blend_mask, fill_box, halved_png_rows, stamp
from ..errors import printable
from ..formats import png

__all__ = [
    "INK",
    "KEPT_COLOUR",
    "MARKER_RADIUS",
    "REJECTED_COLOUR",
    "REVISIT_COLOUR",
    "SMALL_TEXT",
    "TEXT",
    "TICK_TEXT",
    "TITLE_TEXT",
    "Canvas",
    "Legend",
    "Panel",
    "Picture",
    "drop_spares",
    "font",
    "nice_ticks",
    "rgb",
    "text_width",
    "tick_labels",
    "viridis",
    "wrapped",
]

SCALE = 2  # drawn at twice the size, then scaled down: anti-aliased lines and text
TEXT, TICK_TEXT, TITLE_TEXT, SMALL_TEXT = 15, 14, 17, 14  # font sizes, pixels of the PNG
INK = (34, 34, 34)
WHITE_WORD = 0xFFFFFFFF  # a white drawn pixel (R, G, B and Pillow's padding byte, all 255)
KEPT_COLOUR, REJECTED_COLOUR = "#1a9641", "#d7191c"  # both jobs' palette
REVISIT_COLOUR = "#fdae61"  # an image the metadata says was taken where the beam had been (micrograph map)
#: viridis at 0, 0.1, ..., 1 (matplotlib's values), for the pair matrix.
VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151"]
VIRIDIS += ["#bddf26", "#fde725"]


def font_path() -> Path:
    """DejaVu Sans, shipped in the package with its licence (``fonts/LICENSE_DEJAVU``)."""
    return Path(__file__).parent / "fonts" / "DejaVuSans.ttf"


def _drawable(text: Any) -> Any:
    r"""One line of ``text`` as the font lays it out: :func:`printable`, a line break in it shown as ``\n``."""
    return printable(text).replace("\n", "\\n") if isinstance(text, str) else text


class _RenderOnceFont(ImageFont.FreeTypeFont):
    """A FreeType font that renders each text once: the same words at the same place of a pixel.

    Pillow lays out and rasterises a text each time it is drawn (FreeType's hinting and
    rasterising, most of what a picture's text costs); the pictures draw the same tick labels
    and legends many times (the example micrographs: the same axes thrice, two panels each).
    ``ImageDraw.text`` draws the mask ``getmask2`` returns, which depends only on its
    arguments (the text, its anchor and the fraction of a pixel it starts at), so a mask
    made once is drawn again: the same pixels.
    """

    KEPT = 1024  # masks at most (a few KB each); the oldest go first

    # Every text laid out is a name's printable form first: Raqm refuses a paragraph separator
    # (U+2029, U+0085, U+001C-U+001E, a line break inside a line) with "raqm_layout() failed".
    def getlength(self, text: Any, *args: Any, **kwargs: Any) -> float:
        return super().getlength(_drawable(text), *args, **kwargs)

    def getbbox(self, text: Any, *args: Any, **kwargs: Any) -> tuple[float, float, float, float]:
        return super().getbbox(_drawable(text), *args, **kwargs)

    def __init__(self, path: str, size: int) -> None:
        super().__init__(path, size)
        self._masks: dict[Any, tuple[Any, tuple[int, int]]] = {}

    def getmask2(self, text: Any, mode: str = "", *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, int]]:
        text = _drawable(text)
        try:
            key = (text, mode, args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # a list of features: not kept
            return super().getmask2(text, mode, *args, **kwargs)
        made = self._masks.get(key)
        if made is None:
            made = super().getmask2(text, mode, *args, **kwargs)
            if len(self._masks) >= self.KEPT:
                self._masks.pop(next(iter(self._masks)), None)  # (another thread may have taken it)
            self._masks[key] = made
        return made

    def mask_pixels(self, text: str, anchor: str, start: tuple[float, float], ink: int) -> tuple[np.ndarray, Any]:
        """The antialiased mask of one line as ``ImageDraw.text`` makes it (uint8 rows), and its offset."""
        key = ("pixels", text, anchor, start, ink)
        made = self._masks.get(key)
        if made is None:
            mask, offset = self.getmask2(text, "L", None, None, None, 0, anchor, ink, start, stroke_filled=True)
            # Copied into an array of ours (np.asarray of an Image would import PIL.ImageFile and logging).
            pixels = np.zeros((mask.size[1], mask.size[0]), dtype=np.uint8)
            if pixels.size:
                held = Image.frombuffer("L", mask.size, pixels, "raw", "L", 0, 1)
                held.readonly = 0
                held.im.paste(mask, (0, 0, *mask.size))
            made = (pixels, offset)
            self._masks[key] = made
        return made


@cache
def font(size: int) -> _RenderOnceFont:
    """The font at ``size`` pixels of the PNG (drawn at SCALE times)."""
    return _RenderOnceFont(str(font_path()), size * SCALE)


@lru_cache(maxsize=4096)
def _line_length(line: str, size: int) -> float:
    """Pillow's length of one line at ``size``, in drawn pixels (each line laid out once)."""
    return font(size).getlength(line)


def text_width(text: str, size: int = TEXT) -> float:
    """Width in PNG pixels of the widest line of ``text``."""
    return max(_line_length(line, size) for line in text.split("\n")) / SCALE


def wrapped(text: str, width: float, size: int = TEXT) -> str:
    """``text`` broken into lines no wider than ``width`` PNG pixels.

    Lines break at spaces, and inside a word (a long file name) only where the word alone is wider.
    """
    lines: list[str] = []
    for word in text.split(" "):
        line = f"{lines[-1]} {word}" if lines else word
        if lines and text_width(line, size) <= width:
            lines[-1] = line
            continue
        while text_width(word, size) > width and len(word) > 1:
            cut = max(n for n in range(1, len(word)) if n == 1 or text_width(word[:n], size) <= width)
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return "\n".join(lines)


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as a tuple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def viridis(value: float) -> tuple[int, int, int]:
    """The colour of ``value`` (0-1) on viridis, interpolated between its tenths."""
    at = min(max(value, 0.0), 1.0) * 10
    low = min(int(at), 9)
    a, b = np.array(rgb(VIRIDIS[low])), np.array(rgb(VIRIDIS[low + 1]))
    r, g, bl = np.round(a + (b - a) * (at - low)).astype(int).tolist()
    return r, g, bl


def nice_ticks(low: float, high: float, most: int = 7, integer: bool = False) -> np.ndarray:
    """Ticks within [low, high] at steps of 1, 2, 2.5 or 5 times a power of ten, at most ``most``.

    ``integer``: whole-number steps only (counts).
    """
    if not high > low:
        return np.array([low])
    for exponent in range(math.floor(math.log10((high - low) / most)) - 1, 20):
        for mantissa in (1, 2, 2.5, 5):
            step = mantissa * 10.0**exponent
            if integer and (step < 1 or not float(step).is_integer()):
                continue
            ticks = np.arange(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1) * step
            if len(ticks) <= most:
                return np.round(ticks, 12)
    return np.array([low, high])


def tick_labels(ticks: np.ndarray) -> list[str]:
    """Ticks as text, all with the decimals their step needs; thousands separated."""
    step = float(np.min(np.diff(ticks))) if len(ticks) > 1 else 1.0
    decimals = 0 if step >= 1 and all(float(t).is_integer() for t in ticks) else max(1, -math.floor(math.log10(step)))
    if decimals and not all(round(t, decimals) == round(t, decimals + 1) for t in ticks):
        decimals += 1  # steps of 2.5
    return [f"{t:,.{decimals}f}" for t in ticks]


@dataclass
class Legend:
    """Entries of a legend: (kind, colour, label).

    kind is patch, line, dashed, ring, cross, square, diamond, dot or dot_line.
    """

    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, kind: str, colour: str, label: str) -> None:
        """One more entry."""
        self.entries.append((kind, colour, label))

    @property
    def labels(self) -> list[str]:
        """The entries' texts."""
        return [label for _, _, label in self.entries]


class Canvas:
    """A white picture of ``width`` x ``height`` PNG pixels, drawn at SCALE times.

    Pillow draws into ``drawn``, a numpy array the canvas owns (RGBX: Pillow's own storage
    of RGB, 4 bytes a pixel), so that the core can halve and filter the pixels where they
    lie (:meth:`png`) instead of Pillow copying them out.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = int(width), int(height)
        size = (self.width * SCALE, self.height * SCALE)
        #: The drawn pixels, a 32-bit word each (Pillow's 4 bytes), painted by the core too.
        self._room = _room_for(size[0] * size[1])
        self.words = self._room[: size[0] * size[1]].reshape(size[1], size[0])
        fill_box(self.words, 0, 0, size[0] - 1, size[1] - 1, WHITE_WORD)
        self.drawn = self.words.view(np.uint8).reshape(size[1], size[0], 4)
        self.image = Image.frombuffer("RGBX", size, self.drawn, "raw", "RGBX", 0, 1)
        # frombuffer marks every image it maps read-only (it may map bytes); this buffer is
        # writable, so drawing goes into it instead of into a copy Pillow would make.
        self.image.readonly = 0
        self.draw = ImageDraw.Draw(self.image)
        self._inks: dict[Any, int] = {}

    def ink(self, colour: Any) -> int:
        """Pillow's ink of ``colour`` for this picture (what its drawing functions paint)."""
        ink = self._inks.get(colour)
        if ink is None:
            made = self.draw._getink(colour)[0]
            assert made is not None, "a colour given gives an ink"
            ink = self._inks[colour] = made
        return ink

    # Every coordinate below is in PNG pixels (x right, y down).

    def line(self, points: list[tuple[float, float]], colour: Any, width: float = 1.0) -> None:
        """A line through ``points``, ``width`` pixels wide."""
        self.draw.line([(x * SCALE, y * SCALE) for x, y in points], fill=colour, width=max(1, round(width * SCALE)))

    def dashed(self, start: tuple[float, float], end: tuple[float, float], colour: Any, width: float = 1.5) -> None:
        """A dashed straight line (dashes of 6 pixels, gaps of 3)."""
        length = math.hypot(end[0] - start[0], end[1] - start[1])
        for a in np.arange(0, length, 9.0):
            b = min(a + 6.0, length)
            p, q = a / max(length, 1e-9), b / max(length, 1e-9)
            self.line([_along(start, end, p), _along(start, end, q)], colour, width)

    def rectangle(self, box: tuple[float, float, float, float], fill: Any = None, outline: Any = None) -> None:
        """A rectangle (left, top, right, bottom), filled or outlined (1 pixel).

        Filled by the core (Pillow fills a pixel at a time): the pixels Pillow's
        ``rectangle`` fills, the corners truncated to whole pixels as it truncates them.
        """
        x0, y0, x1, y1 = (v * SCALE for v in box)
        if fill is None or x1 < x0 or y1 < y0:  # (Pillow refuses a box turned inside out)
            self.draw.rectangle([x0, y0, x1, y1], fill=fill, outline=outline, width=SCALE if outline else 0)
            return
        fill_box(self.words, int(x0), int(y0), int(x1), int(y1), self.ink(fill))
        if outline is not None and self.ink(outline) != self.ink(fill):  # as Pillow: none in the fill's colour
            self.draw.rectangle([x0, y0, x1, y1], outline=outline, width=SCALE)

    def polygon(self, points: np.ndarray, fill: Any) -> None:
        """A filled shape of ``points`` (rows x, y)."""
        self.draw.polygon([(x * SCALE, y * SCALE) for x, y in points], fill=fill)

    def text(self, xy: tuple[float, float], text: str, size: int = TEXT, anchor: str = "mm", colour: Any = INK) -> None:
        """Text at ``xy``; ``anchor`` as Pillow's (l/m/r, t/m/b) for the block of lines."""
        lines = printable(text).split("\n")  # (a name from a file: a control character no font lays out)
        step = size * 1.25
        top = xy[1] - {"t": 0.0, "m": step * len(lines) / 2, "b": step * len(lines)}[anchor[1]]
        ink = self.ink(colour)
        for k, line in enumerate(lines):
            x, y = xy[0] * SCALE, (top + step * (k + 0.5)) * SCALE
            # As ImageDraw.text draws a line: its mask made at the fraction of a pixel the
            # line starts at, placed at the whole pixel; blended by the core, which leaves
            # the mask's empty pixels alone (Pillow blends every byte of the mask's box).
            mask, offset = font(size).mask_pixels(line, anchor[0] + "m", (math.modf(x)[0], math.modf(y)[0]), ink)
            blend_mask(self.words, mask, int(x) + offset[0], int(y) + offset[1], ink)

    def vertical_text(self, xy: tuple[float, float], text: str, size: int = TEXT) -> None:
        """Text turned a quarter left (a y label), centred on ``xy``."""
        text = printable(text)
        box = font(size).getbbox(text)
        label = Image.new("L", (int(box[2]) + 4, int(size * 1.4 * SCALE)), 0)
        ImageDraw.Draw(label).text((2, label.height / 2), text, font=font(size), fill=255, anchor="lm")
        turned = label.rotate(90, expand=True)
        corner = (round(xy[0] * SCALE - turned.width / 2), round(xy[1] * SCALE - turned.height / 2))
        self.image.paste(Image.new("RGB", turned.size, INK), corner, turned)

    def paste(self, pixels: Image.Image, box: tuple[float, float, float, float]) -> None:
        """An image stretched over ``box``."""
        x0, y0, x1, y1 = (round(v * SCALE) for v in box)
        self.image.paste(pixels.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), (x0, y0))

    def legend(self, legend: Legend, xy: tuple[float, float], columns: int = 1, anchor: str = "lt") -> None:
        """The legend's entries in ``columns`` columns; ``anchor``: which corner (l/m/r, t/b) ``xy`` is."""
        entries = legend.entries
        if not entries:
            return
        widths = [34 + text_width(label, SMALL_TEXT) + 18 for _, _, label in entries]
        rows = math.ceil(len(entries) / columns)
        column_widths = [max(widths[c::columns]) for c in range(columns)]
        total_w, total_h = sum(column_widths), rows * 21
        x0 = xy[0] - {"l": 0, "m": total_w / 2, "r": total_w}[anchor[0]]
        y0 = xy[1] - (total_h if anchor[1] == "b" else 0)
        for k, (kind, colour, label) in enumerate(entries):
            x = x0 + sum(column_widths[: k % columns])
            y = y0 + 21 * (k // columns) + 10
            self.glyph(kind, colour, (x + 14, y))
            self.text((x + 32, y), label, SMALL_TEXT, "lm")

    def glyph(self, kind: str, colour: str, xy: tuple[float, float]) -> None:
        """A legend's sample of a mark, centred on ``xy``."""
        x, y = xy
        if kind == "patch":
            self.rectangle((x - 10, y - 6, x + 10, y + 6), fill=colour)
        elif kind == "line":
            self.line([(x - 12, y), (x + 12, y)], colour, 2)
        elif kind == "dashed":
            self.dashed((x - 12, y), (x + 12, y), colour, 1.5)
        elif kind == "circle":
            self.circles(np.array([[x, y]]), 9.0, rgb(colour), 0.8)
        elif kind == "dot":
            self.dots(np.array([[x, y]]), 3.0, rgb(colour))
        elif kind == "dot_line":
            self.line([(x - 12, y), (x + 12, y)], "#ffbf00", 2)
            self.dots(np.array([[x, y]]), 3.0, rgb(colour))
        else:
            self.markers(kind, np.array([[x, y]]), MARKER_RADIUS, rgb(colour))

    # The marks below come by the thousand (an example micrograph's picks, a dot per
    # micrograph): each is the same shape wherever it lies, so Pillow draws one (the call
    # ImageDraw makes, with the colour's ink found once) and the core sets it at every place
    # (:func:`_marks`), without Python's lock.

    def dots(self, xy: np.ndarray, radius: float, colour: Any) -> None:
        """Filled discs of ``radius`` on each row of ``xy``."""
        self._marks(xy, radius, self.ink(colour), 0, _disc)

    def markers(self, kind: str, xy: np.ndarray, radius: float, colour: Any, width: float = 2.2) -> None:
        """Rings, crosses, squares, diamonds or triangles of ``radius`` centred on each row of ``xy``."""
        w = max(1, round(width * SCALE))
        mark = {"ring": _ring, "square": _square_outline, "diamond": _diamond, "triangle": _triangle}.get(kind, _cross)
        self._marks(xy, radius, self.ink(colour), w, mark)

    def circles(self, xy: np.ndarray, radius: float, colour: Any, width: float = 1.0) -> None:
        """Circles of ``radius`` PNG pixels around each row of ``xy``."""
        self._marks(xy, radius, self.ink(colour), max(1, round(width * SCALE)), _ring)

    def _marks(self, xy: np.ndarray, radius: float, ink: int, width: int, mark: Mark) -> None:
        """``mark`` of ``radius`` and line ``width`` (drawn pixels) centred on each distinct position of ``xy``.

        Pillow truncates a box's corners to whole pixels towards zero: a mark is the same
        mark moved only where its box lies right of and below the picture's corner, so a
        mark whose box reaches past the left or top side is drawn by Pillow itself (as is
        a lone mark: a legend's sample).
        """
        at = _distinct(xy)
        r = radius * SCALE
        inside = (at[:, 0] >= r) & (at[:, 1] >= r)
        if np.count_nonzero(inside) < STAMPED_AT_LEAST:
            inside[:] = False
        for x, y in at[~inside].tolist():
            mark(self.draw.draw, _square(x, y, radius), ink, width)
        if inside.any():
            shape, centre = _mark_shape(radius, width, mark)
            stamp(self.words, shape, (at[inside] - centre).astype(np.int64), ink)

    def colour_bar(
        self, box: tuple[float, float, float, float], ticks: np.ndarray, labels: list[str], title: str
    ) -> None:
        """Viridis from 0 (bottom) to 1 (top) in ``box``, ticked at ``ticks`` (0-1) with ``labels``, titled."""
        x0, y0, x1, y1 = box
        steps = 100
        for s in range(steps):
            top = y1 - (s + 1) * (y1 - y0) / steps
            self.rectangle((x0, top, x1, top + (y1 - y0) / steps + 0.5), fill=viridis((s + 0.5) / steps))
        self.rectangle(box, outline=INK)
        for tick, label in zip(ticks.tolist(), labels):
            y = y1 - tick * (y1 - y0)
            self.line([(x1, y), (x1 + 5, y)], INK)
            self.text((x1 + 8, y), label, TICK_TEXT, "lm")
        self.vertical_text((x1 + 60, (y0 + y1) / 2), title)

    def segments(self, starts: np.ndarray, ends: np.ndarray, colour: Any, width: float = 1.2) -> None:
        """A line from each row of ``starts`` to the same row of ``ends`` (each drawn line once)."""
        both: Any = _unique_rows(np.round(np.hstack([starts, ends]) * SCALE)) if len(starts) else []
        for x0, y0, x1, y1 in both:
            self.draw.line([(x0, y0), (x1, y1)], fill=colour, width=max(1, round(width * SCALE)))

    def clear_outside(self, boxes: list[tuple[float, float, float, float]]) -> None:
        """White outside ``boxes`` (a row of them, one top and bottom): marks are cut at a panel's side."""
        top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
        white = (255, 255, 255)
        self.rectangle((0, 0, self.width, top - 0.5), fill=white)
        self.rectangle((0, bottom, self.width, self.height), fill=white)
        edges = [0.0] + [v for b in sorted(boxes) for v in (b[0], b[2])] + [float(self.width)]
        for left, right in zip(edges[::2], edges[1::2]):  # the strips left of, between and right of the boxes
            if right > left:
                self.rectangle((left, top, right - 0.5, bottom), fill=white)

    def png(self) -> bytes:
        """The picture scaled down (each pixel the mean of the 2 x 2 drawn) and compressed.

        The mean of each 2 x 2 block smooths edges as well as a LANCZOS resize here, at a
        fifth of its cost. The core halves the drawn pixels and filters the rows in one pass
        (the same pixels as Pillow's ``reduce(2)``, at a tenth of its cost with the copy out
        of Pillow), :mod:`cryodedup.formats.png` compresses them; both let go of Python's
        lock, so pictures can be encoded on threads.
        """
        return png.encode_rows(halved_png_rows(self.drawn), self.width, channels=3)

    def png_once(self) -> bytes:
        """:meth:`png`, then the room of the drawn pixels given to a later canvas: this one is done with."""
        data = self.png()
        with _SPARE_LOCK:
            _SPARE.append(self._room)
        del self._room, self.words, self.drawn, self.image, self.draw  # (drawing on would fail loudly)
        return data


#: Rooms (flat words) of the drawn pixels of canvases already encoded (:meth:`Canvas.png_once`),
#: for later canvases of that size or smaller: a new 15 MB canvas costs 3,800 page faults
#: (8-30 ms), a used room only its repainting white. Emptied by :func:`drop_spares` when a
#: job's pictures are done.
_SPARE: list[np.ndarray] = []
_SPARE_LOCK = threading.Lock()


def _room_for(words: int) -> np.ndarray:
    """Flat room for at least ``words`` drawn pixels: the smallest spare one that holds them, else new."""
    with _SPARE_LOCK:
        fits = [k for k, room in enumerate(_SPARE) if room.size >= words]
        if fits:
            return _SPARE.pop(min(fits, key=lambda k: _SPARE[k].size))
    return np.empty(words, dtype=np.uint32)


def drop_spares() -> None:
    """Lets go of the spare rooms (:func:`_room_for`) kept for new canvases."""
    with _SPARE_LOCK:
        _SPARE.clear()


MARKER_RADIUS = 5.5  # PNG pixels: a 7-point marker at 110 dpi, as before


def _along(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def _square(x: float, y: float, radius: float) -> tuple[float, float, float, float]:
    r = radius * SCALE
    return x - r, y - r, x + r, y + r


#: A mark as Pillow draws it: ``mark(draw, box, ink, width)`` on an ``ImagingDraw``.
Mark = Callable[[Any, tuple[float, float, float, float], int, int], None]

#: Fewer marks than this are drawn by Pillow one by one (a stamp's shape costs a few of them).
STAMPED_AT_LEAST = 8


def _disc(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    draw.draw_ellipse(box, ink, 1)


def _ring(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    draw.draw_ellipse(box, ink, 0, width)


def _square_outline(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    draw.draw_rectangle(box, ink, 0, width)  # (ImageDraw.rectangle(outline=..., width=...))


def _diamond(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    corners = [(x, box[1]), (box[2], y), (x, box[3]), (box[0], y)]
    for a, b in zip(corners, corners[1:] + corners[:1]):  # (each side a stroke, as the cross's)
        draw.draw_lines([a, b], ink, width)


def _triangle(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    corners = [((box[0] + box[2]) / 2, box[1]), (box[2], box[3]), (box[0], box[3])]  # (point up)
    for a, b in zip(corners, corners[1:] + corners[:1]):  # (each side a stroke, as the diamond's)
        draw.draw_lines([a, b], ink, width)


def _cross(draw: Any, box: tuple[float, float, float, float], ink: int, width: int) -> None:
    draw.draw_lines([box[:2], box[2:]], ink, width)  # (ImageDraw.line(..., width=...), each stroke)
    draw.draw_lines([(box[0], box[3]), (box[2], box[1])], ink, width)


def _mark_shape(radius: float, width: int, mark: Mark) -> tuple[np.ndarray, int]:
    """The pixels ``mark`` sets (uint8, 255) drawn by Pillow around a centre at whole pixels, and that centre.

    Every box corner lies right of and below the shape's corner, where Pillow's truncation
    is a floor: set at a mark's place the shape is the mark Pillow draws there.
    """
    centre = math.ceil(radius * SCALE) + width + 2
    size = 2 * centre + 1
    pixels = np.zeros((size, size), dtype=np.uint8)
    shape = Image.frombuffer("L", (size, size), pixels, "raw", "L", 0, 1)
    shape.readonly = 0  # (drawn into pixels, as the canvas is)
    mark(ImageDraw.Draw(shape).draw, _square(centre, centre, radius), 255, width)
    return pixels, centre


def _distinct(xy: np.ndarray) -> np.ndarray:
    """The drawing positions of ``xy`` (PNG pixels), each once: a dense cluster costs what it shows.

    Sorted by x, then y, as ``np.unique(..., axis=0)`` gives them (:func:`_unique_rows`).
    """
    if len(xy) == 0:
        return np.empty((0, 2))
    return _unique_rows(np.round(np.asarray(xy, dtype=float).reshape(-1, 2) * SCALE))


def _unique_rows(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of ``rows`` (no NaN), sorted as ``np.unique(rows, axis=0)`` sorts them.

    Without its import of ``numpy.ma`` (45 M instructions, 5-15 ms of a ``--plot`` run).
    """
    ordered = rows[np.lexsort(rows.T[::-1])]
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    return ordered[new]


class Panel:
    """A plot box of a canvas: data limits, ticks, labels, and what was drawn in it by name.

    ``box``: left, top, right, bottom in PNG pixels. ``flip_y``: y grows downwards (a
    micrograph: row 0 at the top).
    """

    def __init__(
        self,
        canvas: Canvas,
        box: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        flip_y: bool = False,
    ) -> None:
        self.canvas, self.box = canvas, box
        self.xlim, self.ylim, self.flip_y = (float(xlim[0]), float(xlim[1])), (float(ylim[0]), float(ylim[1])), flip_y
        self.title = self.xlabel = self.ylabel = ""
        self.xticks: np.ndarray = np.array([])
        self.xtick_labels: list[str] = []
        self.yticks: np.ndarray = np.array([])
        self.texts: list[str] = []
        self.legend = Legend()
        #: What was drawn, by name: the data behind each mark (counts, bars, centres, lines).
        self.marks: dict[str, Any] = {}

    def x(self, value: Any) -> Any:
        """Data x to PNG pixels."""
        x0, _, x1, _ = self.box
        return x0 + (np.asarray(value, dtype=float) - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (x1 - x0)

    def y(self, value: Any) -> Any:
        """Data y to PNG pixels."""
        _, y0, _, y1 = self.box
        t = (np.asarray(value, dtype=float) - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return y0 + t * (y1 - y0) if self.flip_y else y1 - t * (y1 - y0)

    def xy(self, points: np.ndarray) -> np.ndarray:
        """Data points (rows x, y) in PNG pixels."""
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        return np.column_stack([self.x(points[:, 0]), self.y(points[:, 1])])

    def frame(self) -> None:
        """The box's four sides, drawn last over the marks."""
        self.canvas.rectangle(self.box, outline=INK)

    def ticks_x(
        self,
        ticks: np.ndarray | None = None,
        labels: list[str] | None = None,
        integer: bool = False,
        size: int = TICK_TEXT,
        turned: bool = False,
    ) -> float:
        """Ticks under the box (round numbers unless given); ``integer``: whole numbers only.

        ``turned``: each label turned a quarter left, its end at its tick (names too long to
        stand side by side). Returns the height the labels take under the ticks.
        """
        most = max(2, min(9, int((self.box[2] - self.box[0]) / 80)))  # room for each label
        self.xticks = nice_ticks(*self.xlim, most, integer) if ticks is None else np.asarray(ticks)
        labels = tick_labels(self.xticks) if labels is None else labels
        self.xtick_labels = list(labels)
        bottom = self.box[3]
        for t, label in zip(self.xticks, labels):
            x = float(self.x(t))
            self.canvas.line([(x, bottom), (x, bottom + 5)], INK)
            if turned:
                self.canvas.vertical_text((x, bottom + 8 + text_width(label, size) / 2), label, size)
            else:
                self.canvas.text((x, bottom + 8), label, size, "mt")
        return max((text_width(label, size) for label in labels), default=0.0) if turned else size * 1.25

    def ticks_y(self, ticks: np.ndarray | None = None, labels: list[str] | None = None, integer: bool = False) -> float:
        """Ticks on the left side; returns the width of their widest label."""
        lo, hi = sorted(self.ylim)
        most = max(2, min(9, int((self.box[3] - self.box[1]) / 45)))  # a short panel: fewer
        self.yticks = nice_ticks(lo, hi, most, integer) if ticks is None else np.asarray(ticks)
        labels = tick_labels(self.yticks) if labels is None else labels
        left = self.box[0]
        for t, label in zip(self.yticks, labels):
            y = float(self.y(t))
            self.canvas.line([(left - 5, y), (left, y)], INK)
            self.canvas.text((left - 8, y), label, TICK_TEXT, "rm")
        return max((text_width(label, TICK_TEXT) for label in labels), default=0.0)

    def labels(
        self,
        title: str,
        xlabel: str,
        ylabel: str,
        title_size: int = TITLE_TEXT,
        ylabel_gap: float = 0,
        xlabel_gap: float = 0,
    ) -> None:
        """The title above the box, the x label below its ticks (``xlabel_gap`` lower), the y label left of them."""
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        x0, y0, x1, y1 = self.box
        if title:
            self.canvas.text(((x0 + x1) / 2, y0 - 8), title, title_size, "mb")
        if xlabel:
            self.canvas.text(((x0 + x1) / 2, y1 + 28 + xlabel_gap), xlabel, TEXT, "mt")
        if ylabel:
            self.canvas.vertical_text((x0 - ylabel_gap - 22, (y0 + y1) / 2), ylabel)

    def note(self, text: str, at: tuple[float, float] = (0.5, 0.5)) -> None:
        """Text at a fraction of the box (0, 0 the bottom left)."""
        x0, y0, x1, y1 = self.box
        text = wrapped(text, (x1 - x0) - 20)  # a long input name stays inside the box
        self.texts.append(text)
        self.canvas.text((x0 + at[0] * (x1 - x0), y1 - at[1] * (y1 - y0)), text, TEXT, "mm")

    def steps(self, name: str, counts: np.ndarray, edges: np.ndarray, colour: str, fill: bool = False) -> None:
        """A histogram as one outline (or filled shape) of its bins."""
        self.marks[name] = (np.asarray(counts), np.asarray(edges))
        xs = self.x(np.repeat(edges, 2)[1:-1])
        ys = self.y(np.repeat(counts, 2))
        base = float(self.y(max(self.ylim[0], 0)))
        if fill:
            outline = np.column_stack([np.r_[xs[0], xs, xs[-1]], np.r_[base, ys, base]])
            self.canvas.polygon(outline, rgb(colour))
        else:
            self.canvas.line(list(zip(xs.tolist(), ys.tolist())), rgb(colour), 2.5)

    def vline(self, name: str, x: float, colour: str, width: float = 2.0, dashed: bool = False) -> None:
        """A vertical line across the box at data ``x``."""
        self.marks[name] = float(x)
        px = float(self.x(x))
        ends = ((px, self.box[1]), (px, self.box[3]))
        if dashed:
            self.canvas.dashed(*ends, rgb(colour), width)
        else:
            self.canvas.line(list(ends), rgb(colour), width)

    def hbars(
        self, name: str, rows: np.ndarray, widths: np.ndarray, left: np.ndarray, colour: str, h: float = 0.8
    ) -> None:
        """Horizontal bars from ``left`` to ``left + widths`` at data rows ``rows``."""
        self.marks[name] = np.asarray(widths)
        for row, w, start in zip(rows, widths, left):
            if w > 0:
                box = (self.x(start), self.y(row - h / 2), self.x(start + w), self.y(row + h / 2))
                self.canvas.rectangle(_ordered(box), fill=rgb(colour))

    def columns(self, name: str, heights: np.ndarray, colour: str) -> None:
        """One bar of width 1 per value at x = 0, 1, ...: one shape however many."""
        self.marks[name] = np.asarray(heights)
        if len(heights) and np.any(heights > 0):
            edges = np.arange(len(heights) + 1) - 0.5
            xs = self.x(np.repeat(edges, 2))
            ys = self.y(np.r_[0, np.repeat(heights, 2), 0])
            self.canvas.polygon(np.column_stack([xs, ys]), rgb(colour))

    def place_legend(self, where: str) -> None:
        """The panel's legend inside the box: ``upper center``, ``upper right``, ``upper left``, or ``best``.

        ``best``: the upper corner over the lower of the drawn histograms' halves.
        """
        x0, y0, x1, _ = self.box
        if where == "best":
            where = "upper right" if self._taller_left() else "upper left"
        x, anchor = {
            "upper center": ((x0 + x1) / 2, "mt"),
            "upper right": (x1 - 8, "rt"),
            "upper left": (x0 + 8, "lt"),
        }[where]
        widths = [34 + text_width(label, SMALL_TEXT) + 18 for label in self.legend.labels]
        w, h = max(widths, default=0), 21 * len(widths)
        left = x - {"l": 0, "m": w / 2, "r": w}[anchor[0]]
        self.canvas.rectangle((left - 4, y0 + 6, left + w, y0 + 12 + h), fill=(255, 255, 255), outline=(204, 204, 204))
        self.canvas.legend(self.legend, (x, y0 + 9), anchor=anchor)

    def _taller_left(self) -> bool:
        """Whether the histograms drawn rise higher in the left half of the box than in the right."""
        middle = (self.xlim[0] + self.xlim[1]) / 2
        left = right = 0.0
        for mark in self.marks.values():
            if isinstance(mark, tuple) and len(mark) == 2 and isinstance(mark[1], np.ndarray):
                counts, edges = mark
                if len(counts):
                    centres = (edges[:-1] + edges[1:]) / 2
                    left = max(left, float(counts[centres < middle].max(initial=0)))
                    right = max(right, float(counts[centres >= middle].max(initial=0)))
        return left > right


def _ordered(box: tuple[Any, Any, Any, Any]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@dataclass
class Picture:
    """A drawn picture: its canvas, its panels (what each shows) and its own title and legend."""

    canvas: Canvas
    panels: list[Panel]
    title: str = ""
    legend: Legend = field(default_factory=Legend)

    def png(self) -> bytes:
        """The picture as PNG bytes."""
        return self.canvas.png()

    def png_once(self) -> bytes:
        """The picture as PNG bytes, its pixels then reused by a later picture (:meth:`Canvas.png_once`)."""
        return self.canvas.png_once()

    def pixels(self) -> np.ndarray:
        """The picture as the PNG holds it (rows, columns, RGB)."""
        return np.asarray(Image.open(io.BytesIO(self.png())).convert("RGB"))
