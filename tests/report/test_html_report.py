"""report.html: the page fits its window whatever the inputs' names (laid out by a real browser)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from cryodedup.report.canvas import Canvas
from cryodedup.report.html_report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Two picker files' names as crYOLO and RELION write them: the summary's "Neighbour agreement A / B" row.
A = "napari-boxmanager__TcdA1-0018_frames_sum.cbox"
B = "3dem__20170629_00049_frameImage_autopick.star"


def page_widths(html_path, tmp_path, window_width):
    """(scroll width, client width) of the page as chromium lays it out in a window that wide."""
    probe = tmp_path / "probe.html"
    script = (
        "<script>document.title=document.documentElement.scrollWidth+','+document.documentElement.clientWidth</script>"
    )
    probe.write_text(html_path.read_text().replace("</body>", script + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", f"--window-size={window_width},800", "--dump-dom", probe.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    scroll, client = re.search(r"<title>(\d+),(\d+)</title>", dom).groups()
    return int(scroll), int(client)


def long_named_report(path):
    canvas = Canvas(1200, 400)  # a picture as wide as the page's widest
    summary = [
        ("Particles in", "315"),
        (f"  {A}", "120 in, 120 kept, 0 rejected"),
        (f"  Neighbour agreement {A} / {B}", "n/a (on the micrographs both ran on)"),
        (
            "Warnings",
            f"/data/picks/{A} shares no micrograph with the other inputs, so none of its picks can duplicate theirs",
        ),
    ]
    # A table of pairs as the micrograph report writes it: seven columns, long names.
    header = ("first acquisition", "later acquisition", "z (SDs of the map)", "Pearson", "overlap (of the area)")
    header += ("shift x, y (Å)", "shift x, y (micrograph px)")
    pairs = [(A, B, "126.8", "0.51", "89%", "625, -197", "57, -18")] * 3
    write_report(
        path,
        "cryodedup particles",
        {"min_dist": 20},
        summary,
        [("a.png", "A", canvas.png())],
        [("Pairs", header, pairs)],
    )


def test_the_summary_may_wrap_its_labels(tmp_path):
    # Without a browser: the label column neither refuses to wrap nor lets a path without
    # spaces (nothing to break at otherwise) widen it; a bordered picture stays inside 100 %.
    path = tmp_path / "report.html"
    long_named_report(path)
    style = re.search(r"<style>(.*)</style>", path.read_text()).group(1)
    th = re.search(r"(?:^|\})th\{([^}]*)\}", style).group(1)
    img = re.search(r"(?:^|\})img\{([^}]*)\}", style).group(1)
    assert "nowrap" not in th and "overflow-wrap:anywhere" in th
    assert "box-sizing:border-box" in img


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium to lay the page out")
@pytest.mark.parametrize("window_width", [390, 800, 1200])  # a phone's width too
def test_a_report_with_long_input_names_fits_its_window(tmp_path, window_width):
    path = tmp_path / "report.html"
    long_named_report(path)
    scroll, client = page_widths(path, tmp_path, window_width)
    assert scroll <= client, f"the page is {scroll} px wide in a {client} px window"
