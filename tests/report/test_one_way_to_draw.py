"""One way to draw (issue 92): every picture on the Pillow canvas, no module of the package importing matplotlib."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")

from PIL import Image

import cryodedup
from cryodedup.pipelines.job_types import write_logfile_pdf
from cryodedup.report.canvas import font_path

PACKAGE = Path(cryodedup.__file__).parent


def _mentions_matplotlib(node: ast.AST) -> bool:
    """An import of matplotlib, or a look for it (``find_spec("matplotlib")``)."""
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "matplotlib" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "matplotlib"
    return isinstance(node, ast.Constant) and node.value == "matplotlib"


def test_no_module_of_the_package_imports_or_looks_for_matplotlib():
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _mentions_matplotlib(node)
    ]
    assert found == []


def test_the_font_is_shipped_in_the_package_with_its_licence():
    assert font_path().is_relative_to(PACKAGE) and font_path().stat().st_size > 100_000
    assert "Bitstream Vera" in (font_path().parent / "LICENSE_DEJAVU").read_text(encoding="utf-8")


#: A fresh interpreter in which importing matplotlib fails, as where it is not installed.
BLOCKED = (
    "import sys, importlib.abc\n"
    "class Blocked(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'matplotlib':\n"
    "            raise ImportError(name)\n"
    "sys.meta_path.insert(0, Blocked())\n"
    "from cryodedup.cli import main\n"
    "main(sys.argv[1:])\n"
)


def test_compare_draws_its_czii_picture_without_matplotlib(tmp_path):
    truth = [(100.0 * k, 100.0, None) for k in range(1, 11)]
    found = [(100.0 * k + 3, 100.0, 1.0 - k / 20) for k in range(1, 9)] + [(3000.0, 50.0, 0.1)]
    (tmp_path / "a.txt").write_text("image_name\tx_coord\ty_coord\n" + "".join(f"m\t{x}\t{y}\n" for x, y, _ in truth))
    (tmp_path / "b.txt").write_text(
        "image_name\tx_coord\ty_coord\tscore\n" + "".join(f"m\t{x}\t{y}\t{s}\n" for x, y, s in found)
    )
    args = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    args += ["--reference", "1", "--radius", "20", "--metric", "czii", "--plot-czii", str(tmp_path / "p"), "-q"]
    run = subprocess.run([sys.executable, "-c", BLOCKED, "compare", *args], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with Image.open(tmp_path / "p" / "czii_precision_recall.png") as picture:
        assert picture.width == 1240 and picture.height > 400
    assert "czii_precision_recall.png" in (tmp_path / "p" / "report.html").read_text(encoding="utf-8")


def _objects(pdf: bytes) -> dict[int, bytes]:
    """Each object of ``pdf`` by number, found through its cross-reference table (checked as it is read)."""
    xref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))
    assert pdf[xref:].startswith(b"xref\n0 ")
    count = int(pdf[xref:].split(b"\n")[1].split()[1])
    rows = pdf[xref:].split(b"\n")[3 : 2 + count]
    objects = {}
    for number, row in enumerate(rows, 1):
        offset = int(row.split()[0])
        head = f"{number} 0 obj\n".encode()
        assert pdf[offset:].startswith(head), (number, offset)
        objects[number] = pdf[offset + len(head) : pdf.index(b"\nendobj\n", offset)]
    return objects


def test_the_logfile_pdf_holds_the_summary_as_text_and_each_picture_as_its_pixels(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels[:10, :20]).convert("L").save(tmp_path / "b.png")
    summary = "Kept 8 of 10 (80 %) at 20 Å\\n\nwhere \u2264 is not Latin-1\n" + "word " * 60
    write_logfile_pdf(tmp_path / "logfile.pdf", "cryodedup (job)", summary, [tmp_path / "a.png", tmp_path / "b.png"])
    pdf = (tmp_path / "logfile.pdf").read_bytes()
    objects = _objects(pdf)
    assert re.search(rb"/Count 3 >>", objects[2])
    images = [body for body in objects.values() if body.startswith(b"<< /Type /XObject")]
    got = [zlib.decompress(body[body.index(b"stream\n") + 7 : body.rindex(b"\nendstream")]) for body in images]
    assert got == [pixels.tobytes(), np.repeat(np.asarray(Image.fromarray(pixels[:10, :20]).convert("L")), 3).tobytes()]
    text = b"".join(objects.values())
    assert b"(Kept 8 of 10 \\(80 %\\) at 20 \xc5\\\\n) Tj" in text  # (brackets and backslash escaped; Å in WinAnsi)
    assert b"(where ? is not Latin-1) Tj" in text
    if shutil.which("pdftotext"):  # poppler, a reader of its own
        read = subprocess.run(["pdftotext", str(tmp_path / "logfile.pdf"), "-"], capture_output=True, check=True)
        assert "Kept 8 of 10 (80 %) at 20 Å\\n" in read.stdout.decode() and read.stderr == b""
