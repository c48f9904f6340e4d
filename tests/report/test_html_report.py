"""report.html: the page fits its window whatever the inputs' names (laid out by a real browser);
its pictures drawn while a page's files are written."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import threading

import pytest

from cryodedup import ParticleOptions
from cryodedup.report.canvas import Canvas
from cryodedup.report.html_report import Page, write_all, write_report

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


def test_the_pictures_are_drawn_while_the_pages_files_are_written(tmp_path):
    """A picture given as what draws it is drawn while the page's files are written on other threads
    (it waits here for a page's file to be under way); the files are those given, the report embeds it."""
    making = threading.Event()
    picture = b"\x89PNG not drawn before the page's file is made"

    def index() -> list[bytes]:
        making.set()
        return [b"window.CRYODEDUP_INDEX = ", b"{};\n"]

    def draw() -> bytes:
        assert making.wait(30), "the page's files are written only after the pictures"
        return picture

    files = [("micrographs.html", b"<!DOCTYPE html>"), ("micrographs/index.js", index)]
    out = tmp_path / "out"
    write_all(
        out,
        [("a.png", "A", draw)],
        "t",
        ParticleOptions(),
        [("Kept", "1")],
        False,
        page=Page(files, "micrographs", "p"),
    )
    assert (out / "a.png").read_bytes() == picture
    assert (out / "micrographs" / "index.js").read_bytes() == b"window.CRYODEDUP_INDEX = {};\n"
    assert base64.b64encode(picture).decode() in (out / "report.html").read_text()
