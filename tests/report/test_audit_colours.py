"""The audit graph's legend (report.html): every verdict's colour told apart from every other at a glance.

A user's trial: three near-identical oranges (carried, running, entered; 5.4 CIEDE2000 apart at the closest), "not
run" and "no particles" 3 apart, "superseded" and "clean" 7.6. Oracle: CIEDE2000 (Sharma, Wu and Dalal 2005) written
here from the paper's equations, checked on the paper's own test pairs, of the fills the legend draws.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest

from cryodedup.report.audit_page import VERDICT_COLOURS, GraphJob, pipeline_svg

#: The least CIEDE2000 difference between two legend colours: about ten is "clearly a different colour" side by side
#: (2.3 is a just-noticeable difference); white and a mid grey are 12 apart.
LEAST = 10.0


def _lab(hex_colour: str) -> tuple[float, float, float]:
    """sRGB (IEC 61966-2-1) to CIELAB under D65."""
    rgb = [int(hex_colour[k : k + 2], 16) / 255 for k in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _ciede2000(lab1: tuple[float, ...], lab2: tuple[float, ...]) -> float:
    """ΔE00 (kL = kC = kH = 1), Sharma, Wu and Dalal (2005), equations 1-23."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0
    if c1p * c2p:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    big_dh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_mean = (h1p + h2p) / 2
    else:
        h_mean = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_mean - 30))
        + 0.24 * math.cos(math.radians(2 * h_mean))
        + 0.32 * math.cos(math.radians(3 * h_mean + 6))
        - 0.20 * math.cos(math.radians(4 * h_mean - 63))
    )
    d_theta = 30 * math.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_mean**7 / (cp_mean**7 + 25**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (big_dh / s_h) ** 2 + r_t * (dc / s_c) * (big_dh / s_h))


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # (the paper's Table 1: pairs 1, 2, 7, 17, 25 and 6)
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 3.1571, -77.2803), (50, 0, -82.7485), 2.8615),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((50, 2.5, 0), (50, 0, -2.5), 4.3065),
    ],
)
def test_the_colour_difference_is_the_papers(lab1, lab2, expected):
    assert _ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)


def test_the_lab_of_srgb_white_and_red_are_the_standards():
    assert _lab("#ffffff") == pytest.approx((100, 0, 0), abs=0.01)
    assert _lab("#ff0000") == pytest.approx((53.24, 80.09, 67.20), abs=0.02)


def test_every_colour_of_the_legend_is_told_apart_from_every_other():
    # The fills the legend draws in report.html's graph, in its order, each beside its words.
    svg = pipeline_svg([GraphJob("Refine3D/job029", "Refine3D", "redo", [], "")])
    legend = re.findall(r"<rect x='[0-9.]+' y='[0-9.]+' width='16' height='14' fill='(#[0-9a-f]{6})'", svg)
    assert legend == [fill for fill, _ in VERDICT_COLOURS.values()]
    names = dict(zip(legend, VERDICT_COLOURS))
    close = [
        (names[a], names[b], round(_ciede2000(_lab(a), _lab(b)), 1))
        for a, b in itertools.combinations(legend, 2)
        if _ciede2000(_lab(a), _lab(b)) < LEAST
    ]
    assert close == []
