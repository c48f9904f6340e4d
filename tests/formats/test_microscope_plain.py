"""EPU XML read without ElementTree's tree (issue 43): the same acquisition or the same error.

``read_epu`` takes a plain, well-formed file's elements from the core's one-pass scan
(``_core.element_texts``), and any other file from ElementTree's tree as before. The oracle is
that tree: every file here, real, synthetic or mutated (a byte inserted or removed, entities,
comments, CDATA, declarations, namespaces, repeated and renamed elements and attributes),
must give what the tree gives, value for value, or the same error message. A file the scan
took that expat refuses would show here as a value where the tree gives an error.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats import microscope
from cryodedup.formats.microscope import Acquisition, read_epu, read_metadata
from fixtures.synthetic import EPU_XML
from helpers import NO_SHARED_DATA, SHARED_DATA

NAME = "FoilHole_1_Data_2_3_20221104_061329.xml"
SYNTHETIC = EPU_XML.format(
    psize_m=0.83e-10,
    when="2022-11-04T06:13:35.25+00:00",
    nx=5760,
    ny=4092,
    beam_m=0.65e-6,
    bx=0.1,
    by=-0.2,
    x_m=1e-5,
    y_m=2e-5,
)
REAL = sorted((SHARED_DATA / "epu").glob("*.xml")) if (SHARED_DATA / "epu").is_dir() else []


def outcome(path):
    """What read_epu gives, the acquisition or the error's message; read_metadata (all files at once) must agree."""
    try:
        single: Acquisition | str = read_epu(path)
    except CryodedupError as err:
        single = f"Error: {err}"
    try:
        batch: list[Acquisition] | str = read_metadata([path])
    except CryodedupError as err:
        batch = f"Error: {err}"
    assert batch == ([single] if isinstance(single, Acquisition) else single), (batch, single)
    return single


class NoScan:
    """The core's scan taking no file: every file read by ElementTree's tree (the reader before issue 43)."""

    def __getattr__(self, name):
        if name == "element_texts":
            return lambda data, root, paths: None
        if name == "element_texts_of_files":
            return lambda files, root, paths: [None] * len(files)
        raise AttributeError(name)


def by_tree(path):
    """What ElementTree's tree gives (the reader before issue 43)."""
    original = microscope._core
    microscope._core = NoScan()
    try:
        return outcome(path)
    finally:
        microscope._core = original


def variants(text: str, rng: random.Random):
    """The file as written, then mutations of it: edits a user, a tool or a broken disk could make."""
    yield text
    for old, new in [
        ("<X>", "<X>&#49;"),
        ("<X>", "<X><!-- x -->"),
        ("<X>", "<X><![CDATA[1]]>"),
        ("<X>", "<X>1&amp;"),
        ("<X>", "<X>\r\n"),
        ("<X>", "<X> "),
        ("</X>", "<sub/>9</X>"),
        ("<Position>", "<Position><X>7e-6</X>"),
        ("<stage>", "<stage><Position/>"),
        ("<stage>", '<stage xmlns:q="urn:q"><q:Position><X>1</X><Y>2</Y></q:Position>'),
        ("<microscopeData>", "<microscopeData/><microscopeData>"),
        ("<BeamShift", "<BeamShift/><BeamShift"),
        ("<a:_x>", "<a:_x>&lt;"),
        ("<a:_x>", "<b:_x>"),
        ("<name>", '<name a=">" b="/>">'),
        ("<name>", "<name a='1' a='2'>"),
        ("<name>", "<name a='1'b='2'>"),
        ("<name>", "<name a='<'>"),
        ("<name>", "<q:name>"),
        ("<name>", "<name xmlns:p='urn:i' xmlns:q='urn:i' p:a='1' q:a='2'>"),
        ("<name>", "<name xmlns:p=''>"),
        ("<name>", "<name xmlns:xml='urn:x'>"),
        ("<name>", "<xml:name>"),
        ("<name>", "<name\u00e9>"),
        ("</name>", "</nam>"),
        ("</name>", "</name >"),
        ("<name>", "<name>]]>"),
        ("<name>", "<name>\u0001"),
        ("<name>", "<name>\ufffe"),
        ("<name>", "<?pi x?><name>"),
        ("<name>", "<name>\0"),
        ("<name>", "<name>\u00e9\u4e2d"),
        ("MicroscopeImage", "MicroscopeImages"),
        ("</MicroscopeImage>", "</MicroscopeImage><MicroscopeImage/>"),
        ("</MicroscopeImage>", "</MicroscopeImage>  \n"),
    ]:
        yield text.replace(old, new, 1)
    for head in [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>",
        '<?xml version="1.0"?>',
        '<?xml version="1.0" encoding="latin-1"?>',
        '<?xml version="1.0" encoding="utfm16"?>',
        "\ufeff",
        "<!DOCTYPE MicroscopeImage>",
        " ",
    ]:
        yield head + text
    for _ in range(60):
        at = rng.randrange(len(text))
        if rng.random() < 0.5:
            yield text[:at] + text[at + 1 :]
        else:
            yield text[:at] + rng.choice("<>/&;:\"'= !?x0-.e\n") + text[at:]


@pytest.mark.parametrize("source", ["synthetic", *(p.name for p in REAL)])
def test_plain_files_read_as_the_tree_reads_them(tmp_path, source):
    text = SYNTHETIC if source == "synthetic" else (SHARED_DATA / "epu" / source).read_text(encoding="utf-8")
    path = tmp_path / NAME
    differ, plain = [], 0
    for k, variant in enumerate(variants(text, random.Random(source))):
        data = variant.encode("latin-1" if "latin-1" in variant[:60] else "utf-8", errors="replace")
        path.write_bytes(data)
        got, expected = outcome(path), by_tree(path)
        plain += microscope._plain_elements(path) is not None
        if got != expected:
            differ.append((k, variant[:80], got, expected))
    assert not differ, differ[:3]
    assert plain > 20, plain  # many variants still plain: the fast path was compared, not skipped


def test_the_fuzzers_epu_corpus_reads_as_the_tree_reads_it(tmp_path):
    """The inputs the epu_xml fuzz target kept (fuzz/corpus/epu_xml, its crash among them)."""
    corpus = sorted((Path(__file__).parents[2] / "fuzz" / "corpus" / "epu_xml").iterdir())
    path = tmp_path / NAME
    differ = []
    for case in corpus:
        path.write_bytes(case.read_bytes())
        got, expected = outcome(path), by_tree(path)
        if got != expected:
            differ.append((case.name, got, expected))
    assert corpus and not differ, differ[:3]


@pytest.mark.skipif(not REAL, reason=NO_SHARED_DATA)
def test_real_files_take_the_plain_path():
    for path in REAL:
        assert microscope._plain_elements(path) is not None, path


#: Shapes of EPU's XML a .NET writer on Windows makes (Encoding.UTF8's byte-order mark, indented with \r\n), each
#: left to ElementTree's tree before issue 92's one parser, now read by the core's scan after XML's own steps.
WINDOWS_SHAPES = {
    "byte-order mark": lambda text: "\ufeff" + text,
    "mark and declaration": lambda text: '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n' + text,
    "indented with CRLF": lambda text: text.replace("><", ">\r\n  <"),
    "lone CR": lambda text: text.replace("><", ">\r<"),
    "mark and CRLF": lambda text: "\ufeff" + text.replace("><", ">\r\n<"),
}


@pytest.mark.parametrize("source", ["synthetic", *(p.name for p in REAL)])
@pytest.mark.parametrize("shape", WINDOWS_SHAPES)
def test_windows_shapes_take_the_cores_scan_and_read_as_the_tree_reads_them(tmp_path, source, shape):
    text = SYNTHETIC if source == "synthetic" else (SHARED_DATA / "epu" / source).read_text(encoding="utf-8")
    path = tmp_path / NAME
    path.write_bytes(WINDOWS_SHAPES[shape](text).encode("utf-8"))
    assert microscope._core.element_texts(path.read_bytes(), "MicroscopeImage", microscope.EPU_ELEMENTS) is None
    assert microscope._plain_elements(path) is not None  # (None on main: read by the tree)
    assert outcome(path) == by_tree(path) == outcome_of_text(tmp_path, text)


def outcome_of_text(tmp_path, text):
    """What read_epu gives for ``text`` as it is (no mark, \\n line ends): the same acquisition, the same source."""
    path = tmp_path / "plain" / NAME
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    got = outcome(path)
    return got if isinstance(got, str) else replace(got, source=tmp_path / NAME)


#: What still goes to the tree (measured on issue 92): none of it written by EPU's serialiser in the files seen.
TREE_SHAPES = {
    "an entity": ("<X>", "<X>1&amp;"),
    "a character reference": ("<X>", "<X>&#49;"),
    "a comment": ("<X>", "<X><!-- x -->"),
    "CDATA": ("<X>", "<X><![CDATA[1]]>"),
    "a processing instruction": ("<name>", "<?pi x?><name>"),
}


@pytest.mark.parametrize("shape", TREE_SHAPES)
def test_what_the_core_does_not_take_is_read_by_the_tree(tmp_path, shape):
    path = tmp_path / NAME
    path.write_text(SYNTHETIC.replace(*TREE_SHAPES[shape], 1), encoding="utf-8")
    assert microscope._plain_elements(path) is None
    assert outcome(path) == by_tree(path)
