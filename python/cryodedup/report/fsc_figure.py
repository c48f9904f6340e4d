"""A refinement's FSC drawn for the audit's report.html: as refined, predicted without its duplicates, and 0.143.

An inline SVG, as the page's pipeline graph is (no script, no picture file): the curve as read
(solid), the curve predicted without the duplicates across the half-sets (dashed), the 0.143 line,
and each crossing marked with its resolution. The x axis is spatial frequency (1/Å), labelled in Å.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["fsc_svg"]

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 620, 316, 48, 16, 44, 40
_Y_LOW, _Y_HIGH = -0.1, 1.05
_AS_REFINED, _WITHOUT, _LINE = "#2b6cb0", "#dd6b20", "#888"


def fsc_svg(
    title: str,
    subtitle: str,
    frequency: Sequence[float],
    fsc: Sequence[float],
    without: Sequence[float],
    crossings: tuple[float | None, float | None],
    threshold: float = 0.143,
) -> str:
    """The figure: ``fsc`` and ``without`` against ``frequency`` (1/Å), ``crossings`` (Å) as refined and without.

    ``title`` (bold) and ``subtitle`` (the curve's file) head it on two lines.
    """
    top = max(frequency) or 1.0
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(s: float) -> float:
        return _LEFT + width * s / top

    def y(c: float) -> float:
        c = min(max(c, _Y_LOW), _Y_HIGH)
        return _TOP + height * (_Y_HIGH - c) / (_Y_HIGH - _Y_LOW)

    def path(values: Sequence[float]) -> str:
        return " ".join(
            f"{'M' if k == 0 else 'L'}{x(s):.1f},{y(c):.1f}" for k, (s, c) in enumerate(zip(frequency, values))
        )

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' viewBox='0 0 {_W} {_H}' "
        f"font-family='sans-serif' font-size='11' role='img' aria-label='{html.escape(title, quote=True)}'>",
        f"<text x='{_LEFT}' y='16' font-weight='bold' font-size='12'>{html.escape(title)}</text>",
        f"<text x='{_LEFT}' y='32' fill='#444'>{html.escape(subtitle)}</text>",
        f"<rect x='{_LEFT}' y='{_TOP}' width='{width}' height='{height}' fill='none' stroke='#555'/>",
    ]
    for c in (0.0, 0.5, 1.0):
        parts.append(f"<line x1='{_LEFT - 4}' x2='{_LEFT}' y1='{y(c):.1f}' y2='{y(c):.1f}' stroke='#555'/>")
        parts.append(f"<text x='{_LEFT - 6}' y='{y(c) + 4:.1f}' text-anchor='end'>{c:g}</text>")
    for k in range(1, 6):  # (ticks in Å at even steps of frequency)
        s = top * k / 5
        parts.append(
            f"<line x1='{x(s):.1f}' x2='{x(s):.1f}' y1='{_TOP + height}' y2='{_TOP + height + 4}' stroke='#555'/>"
        )
        parts.append(f"<text x='{x(s):.1f}' y='{_TOP + height + 16}' text-anchor='middle'>{1 / s:.3g}</text>")
    parts.append(f"<text x='{_LEFT + width / 2}' y='{_H - 6}' text-anchor='middle'>resolution (Å)</text>")
    parts.append(
        f"<line x1='{_LEFT}' x2='{_LEFT + width}' y1='{y(threshold):.1f}' y2='{y(threshold):.1f}' stroke='{_LINE}' "
        f"stroke-dasharray='2,3'/><text x='{_LEFT + width - 4}' y='{y(threshold) - 4:.1f}' text-anchor='end' "
        f"fill='{_LINE}'>{threshold:g}</text>"
    )
    parts.append(f"<path d='{path(fsc)}' fill='none' stroke='{_AS_REFINED}' stroke-width='1.8'/>")
    parts.append(
        f"<path d='{path(without)}' fill='none' stroke='{_WITHOUT}' stroke-width='1.8' stroke-dasharray='6,4'/>"
    )
    legend = [("as refined", _AS_REFINED, crossings[0], ""), ("without its duplicates", _WITHOUT, crossings[1], "6,4")]
    for k, (words, colour, crossing, dash) in enumerate(legend):
        ly = _TOP + 14 + 16 * k
        said = f"{words}: {crossing:.2f} Å" if crossing is not None else f"{words}: no crossing"
        parts.append(
            f"<line x1='{_LEFT + width - 200}' x2='{_LEFT + width - 176}' y1='{ly - 4}' y2='{ly - 4}' "
            f"stroke='{colour}' stroke-width='1.8' stroke-dasharray='{dash or 'none'}'/>"
            f"<text x='{_LEFT + width - 170}' y='{ly}'>{html.escape(said)}</text>"
        )
        if crossing is not None and 1 / crossing <= top:
            parts.append(f"<circle cx='{x(1 / crossing):.1f}' cy='{y(threshold):.1f}' r='3.5' fill='{colour}'/>")
    parts.append("</svg>")
    return "".join(parts)
