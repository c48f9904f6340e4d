"""The record (``--decisions``) and the page name each input, micrograph and image as the files mean them.

Quoted names: a STAR file quotes a name holding a space, and it is the text inside the quotes.

RELION writes a value holding a blank in double quotes (``escapeStringForSTAR``) and reads a
quoted field as the text inside (``nextTokenInSTAR``, src/strings.cpp); starfile, the oracle
here, reads it so too. ``decisions.csv`` (the core's one-pass record, its two-pass record and
the Python record) and the page's index name the image and the micrograph the file means:
``"000004@a b.mrcs"`` is image 4 of ``a b.mrcs``, written ``000004@a b.mrcs`` (not with the
quotes counted into its digits), and ``"m one.mrc"`` is the micrograph ``m one.mrc``.

File names that are not UTF-8 (Python holds them with surrogate escapes): every writer of
the record (the core's one-pass and two-pass records, Python's) writes the name in one stated
form, so that ``decisions.csv`` is UTF-8 (issue 99; docs/reference/outputs.md): each byte
that is not UTF-8 as ``\\xHH``, the oracle Python's ``bytes.decode("utf-8", "backslashreplace")``
of the bytes the test made the file with (``os.fsencode``).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import starfile

from cryodedup.formats.star import particles as particles_star
from cryodedup.jobs.particles import record as record_module
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from picker_files import cbox_text

#: Rows: micrograph field, x, y, image field, score; pairs 1 Å apart on each micrograph.
ROWS = [
    ('"m one.mrc"', 10.0, 10.0, '"000004@a b.mrcs"', 1.0),
    ('"m one.mrc"', 11.0, 10.0, '"000005@a b.mrcs"', 2.0),
    ("'m two.mrc'", 10.0, 10.0, "'12@c d.mrcs'", 1.0),
    ("'m two.mrc'", 11.0, 10.0, "'13@c d.mrcs'", 2.0),
    ("m3.mrc", 10.0, 10.0, '"one image.mrc"', 1.0),
    ("m3.mrc", 11.0, 10.0, "000007@e.mrcs", 2.0),
]


def _star(path: Path, rows: list[tuple[str, float, float, str, float]]) -> Path:
    head = "data_optics\nloop_\n_rlnOpticsGroup\n_rlnOpticsGroupName\n_rlnImagePixelSize\n"
    head += "_rlnMicrographPixelSize\n1 og 1.0 1.0\n\ndata_particles\nloop_\n"
    labels = [
        "rlnMicrographName",
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnImageName",
        "rlnAutopickFigureOfMerit",
        "rlnOpticsGroup",
    ]
    lines = [f"_{label}" for label in labels] + [f"{m} {x!r} {y!r} {image} {s!r} 1" for m, x, y, image, s in rows]
    path.write_text(head + "\n".join(lines) + "\n")
    return path


def _run(path: Path, out: Path, monkeypatch, route: str) -> None:
    """The job with --decisions and --plot by ``route``: the one-pass scan, the core's two-pass record, or Python's."""
    options = ParticleOptions(min_dist=5.0, score="rlnAutopickFigureOfMerit", decisions=True, plot=True)
    with monkeypatch.context() as patch:
        if route != "one pass":
            patch.setattr(particles_star, "start_split", lambda *args: None)
        if route == "python":
            patch.setattr(record_module, "start_core_record", lambda *args: None)
        remove_duplicate_particles([path], out, options)


def _page_names(out: Path) -> list[str]:
    text = (out / "micrographs" / "index.js").read_text()
    return json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))["names"]


@pytest.mark.parametrize("route", ["one pass", "two passes", "python"])
def test_quoted_names_are_recorded_as_starfile_reads_them(tmp_path, monkeypatch, route):
    path = _star(tmp_path / "in.star", ROWS)
    read = starfile.read(path, always_dict=True)["particles"]
    images, micrographs = read["rlnImageName"].tolist(), read["rlnMicrographName"].tolist()
    assert images[0] == "000004@a b.mrcs" and micrographs[2] == "m two.mrc"  # (the oracle unquotes)
    _run(path, tmp_path / "out", monkeypatch, route)
    with open(tmp_path / "out" / "decisions.csv", newline="", encoding="utf-8") as f:
        record = list(csv.DictReader(f))
    assert [int(d["row"]) for d in record] == [1, 3, 5]  # (each pair's first row: the lower score)
    for d in record:
        row, kept = int(d["row"]) - 1, int(d["kept_row"]) - 1
        assert (d["particle"], d["kept_particle"]) == (images[row], images[kept])
        assert d["micrograph"] == micrographs[row]
    assert _page_names(tmp_path / "out") == list(dict.fromkeys(micrographs))


def test_a_name_quoted_or_not_is_one_micrograph(tmp_path):
    # RELION reads "m3.mrc" and m3.mrc as one name: the two picks 1 Å apart are duplicates.
    rows = [('"m3.mrc"', 10.0, 10.0, "1@e.mrcs", 1.0), ("m3.mrc", 11.0, 10.0, "2@e.mrcs", 2.0)]
    path = _star(tmp_path / "in.star", rows)
    assert starfile.read(path, always_dict=True)["particles"]["rlnMicrographName"].nunique() == 1
    options = ParticleOptions(min_dist=5.0, score="rlnAutopickFigureOfMerit", decisions=True)
    summary = remove_duplicate_particles([path], tmp_path / "out", options)
    assert (summary.micrographs, summary.rejected) == (1, 1)


def _decisions_bytes(out: Path) -> list[list[bytes]]:
    """decisions.csv's rows as bytes, split at commas (none of this test's names holds one)."""
    return [line.split(b",") for line in (out / "decisions.csv").read_bytes().splitlines()[1:]]


@pytest.mark.parametrize("route", ["one pass", "two passes", "python"])
def test_an_input_whose_name_is_not_utf8_is_recorded_escaped_alike_by_every_writer(tmp_path, monkeypatch, route):
    path = Path(os.fsdecode(bytes(tmp_path) + b"/n\xff.star"))
    _star(path, ROWS)
    _run(path, tmp_path / "out", monkeypatch, route)
    (tmp_path / "out" / "decisions.csv").read_bytes().decode("utf-8")  # (UTF-8, whatever the names)
    rows = _decisions_bytes(tmp_path / "out")
    assert len(rows) == 3 and all(r[0] == r[4] == _told(bytes(tmp_path) + b"/n\xff.star") for r in rows)
    # Read back by the API (its columns): the name as the record states it.
    read = record_module.columns_of(record_module.RecordFile(tmp_path / "out" / "decisions.csv"))
    assert set(read["input"]) == {_told(bytes(path)).decode()}


def test_every_writer_writes_one_record_of_an_input_named_by_bytes_not_utf8(tmp_path, monkeypatch):
    # The three writers (the core's one-pass and two-pass records, Python's) agree byte for byte; the file is UTF-8.
    path = Path(os.fsdecode(bytes(tmp_path) + b"/in\xfe\xff.star"))
    _star(path, ROWS)
    written = []
    for route in ("one pass", "two passes", "python"):
        _run(path, tmp_path / route, monkeypatch, route)
        written.append((tmp_path / route / "decisions.csv").read_bytes())
    assert written[0] == written[1] == written[2]
    assert _told(bytes(path)) in written[0] and written[0].decode("utf-8").count("in\\xfe\\xff.star") == 6


def _told(name: bytes) -> bytes:
    """A name as decisions.csv states it: Python's backslashreplace of its bytes (the oracle), in UTF-8."""
    return name.decode("utf-8", "backslashreplace").encode()


def test_two_inputs_whose_names_are_not_utf8_each_recorded_escaped(tmp_path):
    paths = [_star(Path(os.fsdecode(bytes(tmp_path) + name)), ROWS) for name in (b"/a\xff.star", b"/b\xfe.star")]
    options = ParticleOptions(min_dist=5.0, score="rlnAutopickFigureOfMerit", decisions=True)
    remove_duplicate_particles(paths, tmp_path / "out", options)
    names = {_told(bytes(tmp_path) + b"/a\xff.star"), _told(bytes(tmp_path) + b"/b\xfe.star")}
    rows = _decisions_bytes(tmp_path / "out")
    assert {r[0] for r in rows} == names and {r[4] for r in rows} <= names


def test_a_picker_file_whose_name_is_not_utf8_names_its_picks_escaped(tmp_path):
    # A picker's file names its picks (file and line) and its micrograph (the file's stem).
    path = Path(os.fsdecode(bytes(tmp_path) + b"/mic\xff_1.cbox"))
    path.write_text(cbox_text([(10, 10, 50, 50, 0.5), (12, 10, 50, 50, 0.9), (200, 200, 50, 50, 0.3)]))
    options = ParticleOptions(min_dist=5.0, mic_psize=1.0, decisions=True)
    remove_duplicate_particles([path], tmp_path / "out", options)
    ((name, row, particle, micrograph, kept, kept_row, kept_particle, *_),) = _decisions_bytes(tmp_path / "out")
    assert name == kept == _told(bytes(path)) and micrograph == b"mic\\xff_1" and (row, kept_row) == (b"1", b"2")
    assert (particle, kept_particle) == (_told(bytes(path)) + b": line 20", _told(bytes(path)) + b": line 21")


def test_a_quoted_micrograph_name_is_found_in_the_micrographs_star(tmp_path):
    # The micrographs STAR's names are read unquoted (as RELION reads them): a particle's quoted
    # name is that name too. On main '"m one.mrc"' was not in mics.star, and the run refused.
    (tmp_path / "mics.star").write_text(
        "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n1 2.0\n\n"
        'data_micrographs\nloop_\n_rlnMicrographName\n_rlnOpticsGroup\n"m one.mrc" 1\nm2.mrc 1\n'
    )
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnAutopickFigureOfMerit\n"
        '"m one.mrc" 10 10 1\n"m one.mrc" 12 10 2\nm2.mrc 10 10 1\n'
    )
    options = ParticleOptions(min_dist=5.0, micrographs=str(tmp_path / "mics.star"))
    summary = remove_duplicate_particles([tmp_path / "p.star"], tmp_path / "out", options)
    assert (summary.micrographs, summary.rejected) == (2, 1)  # (4 Å apart at 2 Å a pixel: within 5 Å)
