"""The core's XML reader (``io/xml_texts.rs``, issue 92) against ElementTree (expat) as the oracle.

The core is cryodedup's one XML reader of EPU files. On every document here (the two real
EPU files, the synthetic one, the fuzzer's kept corpus, mutations of each, and documents
generated with each construct an XML reader must take, in text and attribute values, and
random mixes of them) it must give what ElementTree's tree gives: the same element texts
(ElementTree's ``.text``, found along the path of local names as the EPU reader walked the
tree), the same children, the same root; a document expat refuses must be refused, with
expat's own message, line and column on the broken files listed here. What the core refuses
that expat takes is only what it refuses by design, named so in its message (an entity
declared in a DOCTYPE, UTF-16 without a byte-order mark, an encoding it does not decode with
bytes beyond ASCII, a letter in a name beyond the tables of XML 1.0's first edition).
"""

from __future__ import annotations

import random
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryodedup import _core
from cryodedup.errors import CryodedupError
from cryodedup.formats import microscope
from cryodedup.formats.microscope import EPU_ELEMENTS, read_epu, read_metadata
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
CORPUS = sorted((Path(__file__).parents[2] / "fuzz" / "corpus" / "epu_xml").iterdir())
#: What the core refuses by design (expat may take it): each message says so.
BY_DESIGN = ("which this reader does not", "refused (entities are not expanded)")


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def child(node: ET.Element | None, names: list[str]) -> ET.Element | None:
    """The first descendant along the path of local names (the EPU reader's walk of the tree before issue 92)."""
    for name in names:
        node = next((c for c in node if local(c.tag) == name), None) if node is not None else None
    return node


def by_tree(data: bytes, paths: list[str]):
    """ElementTree's reading: ("ok", root, elements) or ("error", message, expat's or not)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        return "error", str(err), True
    except (LookupError, ValueError) as err:  # an encoding Python does not know, or a multi-byte one
        return "error", str(err), False
    nodes = [child(root, path.split("/")[1:]) if local(root.tag) == path.split("/")[0] else None for path in paths]
    return "ok", local(root.tag), [None if n is None else (n.text or "", len(n) > 0) for n in nodes]


def by_core(data: bytes, paths: list[str]):
    """The core's reading, in the same shape; the root's name is the first step of every path."""
    root = paths[0].split("/")[0]
    try:
        name, found = _core.element_texts(data, root, [p.split("/", 1)[1] for p in paths])
    except ValueError as err:
        return "error", str(err), True
    return "ok", name, found


def compare(data: bytes, paths: list[str], exact: bool = False) -> str | None:
    """What differs between the two readings of ``data`` (None: nothing); ``exact``: expat's message too."""
    tree, core = by_tree(data, paths), by_core(data, paths)
    if tree[0] == "ok":
        if core == tree or (core[0] == "error" and any(d in core[1] for d in BY_DESIGN)):
            return None
        return f"{data[:120]!r}: tree {tree}, core {core}"
    if core[0] != "error":
        return f"{data[:120]!r}: tree refuses ({tree[1]}), core takes it: {core}"
    if exact and tree[2] and core[1] != tree[1]:
        return f"{data[:120]!r}: tree says {tree[1]!r}, core {core[1]!r}"
    return None


PATHS = [f"MicroscopeImage/{p}" for p in EPU_ELEMENTS]


def variants(text: str, rng: random.Random):
    """The file as written, then edits a user, a tool or a broken disk could make, then random bytes in and out."""
    yield text
    for old, new in EDITS:
        yield text.replace(old, new, 1)
    for head in HEADS:
        yield head + text
    for _ in range(150):
        at = rng.randrange(len(text))
        if rng.random() < 0.5:
            yield text[:at] + text[at + 1 :]
        else:
            yield text[:at] + rng.choice("<>/&;:#x\"'= !?[]-0.e\nAZ\r\t") + text[at:]


EDITS = [
    ("<X>", "<X>&#49;"),
    ("<X>", "<X>&#x31;&#X31;"),
    ("<X>", "<X><!-- x -->"),
    ("<X>", "<X><![CDATA[1]]>"),
    ("<X>", "<X>1&amp;&lt;&gt;&quot;&apos;"),
    ("<X>", "<X>\r\n"),
    ("<X>", "<X> "),
    ("<X>", "<X><?pi x?>"),
    ("</X>", "<sub/>9</X>"),
    ("<Position>", "<Position><X>7e-6</X>"),
    ("<stage>", "<stage><Position/>"),
    ("<stage>", '<stage xmlns:q="urn:q"><q:Position><X>1</X><Y>2</Y></q:Position>'),
    ("<microscopeData>", "<microscopeData/><microscopeData>"),
    ("<BeamShift", "<BeamShift/><BeamShift"),
    ("<a:_x>", "<a:_x>&lt;"),
    ("<a:_x>", "<b:_x>"),
    ("<name>", '<name a=">" b="/>">'),
    ("<name>", "<name a='&#60;&amp;&#x9;\t\n'>"),
    ("<name>", "<name a='&foo;'>"),
    ("<name>", "<name a='1' a='2'>"),
    ("<name>", "<name a='1'b='2'>"),
    ("<name>", "<name a='<'>"),
    ("<name>", "<q:name>"),
    ("<name>", "<name xmlns:p='urn:i' xmlns:q='urn:i' p:a='1' q:a='2'>"),
    ("<name>", "<name xmlns:p=''>"),
    ("<name>", "<name xmlns:xml='urn:x'>"),
    ("<name>", "<name xmlns:p='&#125;'>"),
    ("<name>", "<xml:name>"),
    ("<name>", "<name\u00e9>"),
    ("</name>", "</nam>"),
    ("</name>", "</name >"),
    ("<name>", "<name>]]>"),
    ("<name>", "<name>\u0001"),
    ("<name>", "<name>\ufffe"),
    ("<name>", "<?pi x?><name>"),
    ("<name>", "<?xml x?><name>"),
    ("<name>", "<name>\0"),
    ("<name>", "<name>\u00e9\u4e2d"),
    ("<name>", "<name>&foo;"),
    ("<name>", "<name>&#0;"),
    ("<name>", "<name>&#xD800;"),
    ("<name>", "<name>&#x110000;"),
    ("<name>", "<name><!-- -- -->"),
    ("MicroscopeImage", "MicroscopeImages"),
    ("</MicroscopeImage>", "</MicroscopeImage><MicroscopeImage/>"),
    ("</MicroscopeImage>", "</MicroscopeImage>  \n<!-- end --><?pi?>"),
    ("</MicroscopeImage>", "</MicroscopeImage>x"),
]
HEADS = [
    '<?xml version="1.0" encoding="utf-8"?>\n',
    "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>",
    '<?xml version="1.0"?>',
    '<?xml version="1.1"?>',
    '<?xml version="1.0" encoding="latin-1"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<?xml version="1.0" encoding="us-ascii"?>',
    '<?xml version="1.0" encoding="windows-1252"?>',
    '<?xml version="1.0" encoding="utfm16"?>',
    '<?xml version="1.0" encoding="utf-16"?>',
    '<?xml encoding="utf-8"?>',
    "\ufeff",
    "\ufeff<?xml version='1.0' encoding='utf-8'?>\r\n",
    "<!DOCTYPE MicroscopeImage>",
    "<!DOCTYPE MicroscopeImage SYSTEM 'epu.dtd'>",
    "<!DOCTYPE MicroscopeImage PUBLIC '-//x//EN' 'epu.dtd' [<!-- c --><?p x?>]>\n",
    "<!DOCTYPE MicroscopeImage [<!ENTITY e 'x'>]>",
    "<!-- written by EPU -->\n",
    " ",
    " <?xml version='1.0'?>",
    "x",
]


def encoded(variant: str) -> bytes:
    """The bytes of a variant, in the encoding its declaration names when Python knows it."""
    for name in ("latin-1", "ISO-8859-1", "windows-1252"):
        if f'encoding="{name}"' in variant[:80]:
            return variant.encode(name, errors="replace")
    return variant.encode("utf-8", errors="surrogatepass")


def sources():
    return {"synthetic": SYNTHETIC, **{p.name: p.read_text(encoding="utf-8") for p in REAL}}


@pytest.mark.parametrize("source", ["synthetic", *(p.name for p in REAL)])
def test_every_variant_reads_as_the_tree_reads_it(source):
    text = sources()[source]
    differ, taken = [], 0
    for variant in variants(text, random.Random(source)):
        data = encoded(variant)
        difference = compare(data, PATHS, exact=True)
        taken += by_core(data, PATHS)[0] == "ok"
        if difference:
            differ.append(difference)
    assert not differ, differ[:3]
    assert taken > 40, taken  # many variants are read: values were compared, not only refusals


def test_the_fuzzers_epu_corpus_reads_as_the_tree_reads_it():
    """The inputs the epu_xml fuzz target kept (fuzz/corpus/epu_xml, its crashes among them)."""
    differ = [d for case in CORPUS if (d := compare(case.read_bytes(), PATHS, exact=True))]
    assert CORPUS and not differ, differ[:3]


@pytest.mark.skipif(not REAL, reason=NO_SHARED_DATA)
def test_the_real_files_are_read_as_the_tree_reads_them():
    for path in REAL:
        tree, core = by_tree(path.read_bytes(), PATHS), by_core(path.read_bytes(), PATHS)
        assert tree == core and core[0] == "ok" and sum(f is not None for f in core[2]) >= 10, path


#: Broken documents and expat's message of each (ElementTree's ParseError): the core says the same.
BROKEN = [
    b"",
    b"  \n ",
    b"<a>",
    b"<a></b>",
    b"<a>\n<b>\n</c>",
    b"\xef\xbb\xbf<a></b>",
    b"<a><b></a>",
    b"<a/>x",
    b"<a/><b/>",
    b"<a></a></a>",
    b"</a>",
    b"<a></ a>",
    b"<a",
    b"<a b='1",
    b"<a></a",
    b"<a b='1' b='2'/>",
    b"<a\n\nb='1'\n c='2' b='3'/>",
    b"<a b='1'b='2'/>",
    b"<a b='<'/>",
    b"<a b=1/>",
    b"<a b='1'/ >",
    b"<a/ >",
    b"<p:a/>",
    b"<xmlns:a/>",
    b"<a:b:c xmlns:a='u'/>",
    b"<:a/>",
    b"<a :b='1'/>",
    b"<a b:='1'/>",
    b"<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
    b"<a xmlns:p='}'/>",
    b"<a xmlns:p='&#125;'/>",
    b"<a xmlns:xml='urn:x'/>",
    b"<a xmlns:xmlns='urn:x'/>",
    b"<a xmlns='http://www.w3.org/XML/1998/namespace'/>",
    b"<a xmlns:p='http://www.w3.org/2000/xmlns/'/>",
    b"<a xmlns:p=''/>",
    b"<a>&foo;</a>",
    b"<a b='&foo;'/>",
    b"<!DOCTYPE a SYSTEM 'x.dtd'><a>&e;</a>",
    b"<a>&amp</a>",
    b"<a>& b</a>",
    b"<a>&1;</a>",
    b"<a>&am",
    b"<a>&#0;</a>",
    b"<a b='&#0;'/>",
    b"<a>&#xZ;</a>",
    b"<a>&#x;</a>",
    b"<a>&#;</a>",
    b"<a>&#12a;</a>",
    b"<a>&#x110000;</a>",
    b"<a>&#xFFFE;</a>",
    b"<a>&#99999999999999999999;</a>",
    b"<a>]]></a>",
    b"<a>]>]]]></a>",
    b"<a><!-- -- --></a>",
    b"<a><!-- x ---></a>",
    b"<a><!-- x",
    b"<a><!-",
    b"<a/><!--",
    b"<a><![CDATA[x",
    b"<a><!x></a>",
    b"<a><!DOCTYPE a></a>",
    b"<a><?p x",
    b"<a><?pi!x?></a>",
    b"<a><?XML x?></a>",
    b"<a><?xml version='1.0'?></a>",
    b" <?xml version='1.0'?><a/>",
    b"<?xml version='1.0'?> <?xml version='1.0'?><a/>",
    b"<a/><?xml x?>",
    b"<?xml?><a/>",
    b"<?xml encoding='utf-8'?><a/>",
    b"<?xml version='1.0' standalone='maybe'?><a/>",
    b"<?xml version='1.0' standalone='yes' encoding='utf-8'?><a/>",
    b"<?xml version='1.0' encoding='utf-16'?><a/>",
    b"<?xml version='1.0' encoding='US-ASCII'?><a>\xe9</a>",
    b"<?xml version='1.0' encoding='utf8'?><a>\xc3\xa9</a>",
    b"<!DOCTYPE a",
    b"<!DOCTYPE a SYSTEM>",
    b"<!DOCTYPE a><!DOCTYPE a><a/>",
    b"<a/><!DOCTYPE a>",
    b"x<a/>",
    b"x <a/>",
    b"> <a/>",
    b"<a>\x01</a>",
    b"<a/>\x01",
    b"<a>\x01",
    b"<a\x01/>",
    b"<a><!-- \x01 --></a>",
    b"<a b='\x01'/>",
    b"<a>\xff</a>",
    b"<a>\xc3</a>",
    b"<a>\xed\xa0\x80</a>",
    b"<a>\xef\xbf\xbe</a>",
    b"<a>\xef\xbf\xbf</a>",
    b"<\xc2\xb7/>",
]


@pytest.mark.parametrize("data", BROKEN, ids=range(len(BROKEN)))
def test_a_broken_document_gets_expats_message_line_and_column(data):
    tree = by_tree(data, ["a/b"])
    assert tree[0] == "error" and tree[2], tree  # (a check of the list: expat refuses each)
    assert by_core(data, ["a/b"]) == tree


@pytest.mark.parametrize("data", BROKEN, ids=range(len(BROKEN)))
def test_read_epu_names_the_file_and_expats_message(tmp_path, data):
    path = tmp_path / NAME
    path.write_bytes(data)
    with pytest.raises(CryodedupError) as single:
        read_epu(path)
    with pytest.raises(CryodedupError) as batch:
        read_metadata([path])
    expected = f"{path}: not an XML file ({by_tree(data, ['a/b'])[1]})"
    assert str(single.value) == str(batch.value) == expected


#: Taken by expat, refused by the core by design, in one line that says so.
REFUSED_BY_DESIGN = {
    "an internal entity": b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
    "a parameter entity": b"<!DOCTYPE a [<!ENTITY % p ''> %p;]><a/>",
    "an attribute list": b"<!DOCTYPE a [<!ATTLIST a xmlns:p CDATA 'urn:p'>]><a><p:b/></a>",
    "UTF-16 without its mark": "<a/>".encode("utf-16-le"),
    "ISO-8859-2 beyond ASCII": "<?xml version='1.0' encoding='iso-8859-2'?><a>\u0141</a>".encode("iso-8859-2"),
    "a name beyond the first edition's letters": "<a\u0627/>".encode(),
}


@pytest.mark.parametrize("case", REFUSED_BY_DESIGN)
def test_what_the_core_refuses_by_design_it_says_in_one_line(case):
    data = REFUSED_BY_DESIGN[case]
    assert by_tree(data, ["a/b"])[0] == "ok"
    message = by_core(data, ["a/b"])[1]
    assert any(d in message for d in BY_DESIGN) and "\n" not in message, message


#: What an XML reader must take, each in EPU's own file: the texts are the tree's.
TAKEN = {
    "entities": ("<X>", "<X>&lt;&gt;&amp;&quot;&apos;"),
    "character references": ("<X>", "<X>&#49;&#x2E;&#x35;&#x10FFFF;&#13;"),
    "a comment": ("<X>", "<X>1<!-- x -->2"),
    "CDATA": ("<X>", "<X><![CDATA[1<&]]]>"),
    "a processing instruction": ("<X>", "<X>1<?pi x?>.5"),
    "references in attributes": ("<X>", "<X a='&#60;&amp;&#x9;\t' b=\"&quot;\">"),
    "a DOCTYPE": ("<MicroscopeImage", "<!DOCTYPE MicroscopeImage SYSTEM 'x.dtd' [<!-- -->]><MicroscopeImage"),
    "a declaration": ("<MicroscopeImage", "<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<MicroscopeImage"),
    "CRLF": ("><", ">\r\n<"),
    "CR": ("><", ">\r<"),
}


@pytest.mark.parametrize("case", TAKEN)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be-mark", "latin-1"])
def test_what_a_reader_must_take_is_read_as_the_tree_reads_it(case, encoding):
    text = SYNTHETIC.replace(*TAKEN[case], 1)
    if encoding == "latin-1":
        text = text.replace("&#x10FFFF;", "")
        data = ("<?xml version='1.0' encoding='latin-1'?>" + text.replace("<?xml", "<?pi")).encode("latin-1")
    elif encoding.startswith("utf-16"):
        text = text.replace("encoding='utf-8'", "encoding='UTF-16'")
        data = "\ufeff".encode("utf-16-be") + text.encode("utf-16-be") if "be" in encoding else text.encode("utf-16")
    else:
        data = text.encode(encoding)
    tree, core = by_tree(data, PATHS), by_core(data, PATHS)
    assert tree[0] == "ok" and core == tree


# --- generated documents: each construct, in text and attribute values, and random mixes ---

TEXT_PIECES = st.one_of(
    st.text(alphabet="0123456789.-+eE abc\u00e9\u4e2d\n\t\r>]", max_size=6),
    st.sampled_from(["&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&#49;", "&#x31;", "&#X4e2d;", "&#13;", "&#x9;"]),
    st.sampled_from(["<!-- c -->", "<!---->", "<![CDATA[<&>]]>", "<![CDATA[]]>", "<?pi x?>", "<?p?>", "\r\n"]),
    st.sampled_from(
        ["&", "&foo;", "&#0;", "&#x;", "<", "]]>", "<!-- -- -->", "<![CDATA[", "\x01", "\ufffe", "&#xD800;"]
    ),
)
VALUE_PIECES = st.one_of(
    st.text(alphabet="0123456789.ab \t\n\r>/=\u00e9", max_size=5),
    st.sampled_from(["&lt;", "&amp;", "&quot;", "&apos;", "&#60;", "&#x3C;", "&#9;", "&#10;", "&#13;"]),
    st.sampled_from(["<", "&", "&x;", "&#0;"]),
)
HEADS_GENERATED = st.sampled_from(
    [
        "",
        "<?xml version='1.0'?>",
        '<?xml version="1.0" encoding="UTF-8"?>\r\n',
        "<?xml version='1.0' encoding='us-ascii'?>",
        "<?xml version='1.0' encoding='latin-1'?>",
        "<!DOCTYPE MicroscopeImage>",
        "<!DOCTYPE MicroscopeImage [<!-- x -->]>\n",
        "<!-- c -->",
        "<?pi?>",
        "\ufeff",
    ]
)


@st.composite
def documents(draw):
    """An EPU file with generated texts and attribute values in the elements read, in one of several encodings."""
    text = SYNTHETIC
    for tag in draw(st.lists(st.sampled_from(["X", "Y", "a:_x", "numericValue", "acquisitionDateTime", "a:width"]))):
        content = "".join(draw(st.lists(TEXT_PIECES, max_size=4)))
        value = "".join(draw(st.lists(VALUE_PIECES, max_size=3)))
        quote = draw(st.sampled_from("'\""))
        text = text.replace(f"<{tag}>", f"<{tag} v={quote}{value}{quote}>{content}", 1)
    text = draw(HEADS_GENERATED) + text
    how = draw(st.sampled_from(["utf-8", "utf-16", "declared"]))
    if how == "utf-16" and not text.startswith(("\ufeff", "<?xml")):
        return text.encode("utf-16")
    if how == "declared" and "latin-1" in text[:60]:
        return text.encode("latin-1", errors="replace")
    return text.encode("utf-8", errors="surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_read_as_the_tree_reads_them(data):
    assert compare(data, PATHS, exact=True) is None


# --- a start tag of 100,000 attributes (issue 99: the reader was quadratic in them) -------------

CROWDED = {
    "attributes": lambda k: f"attr{k}='{k}'",
    "namespace declarations": lambda k: f"xmlns:p{k}='urn:{k}'",
    "prefixed attributes": lambda k: f"xmlns:p{k}='urn:{k}'" if k < 1000 else f"p{k % 1000}:a{k}='1'",
}


def crowded_epu(attribute, count: int = 100_000, tail: str = "") -> bytes:
    """The synthetic EPU file, its root's start tag holding ``count`` attributes and ``tail``."""
    extra = "".join(" " + attribute(k) for k in range(count)) + tail
    return SYNTHETIC.replace("<MicroscopeImage", "<MicroscopeImage" + extra, 1).encode()


@pytest.mark.parametrize("kind", CROWDED)
def test_a_tag_of_100000_attributes_is_read_in_under_a_second_as_the_tree_reads_it(kind):
    data = crowded_epu(CROWDED[kind])
    assert len(data) > 1_400_000
    started = time.perf_counter()
    core = by_core(data, PATHS)
    took = time.perf_counter() - started
    assert core[0] == "ok" and core == by_tree(data, PATHS)
    assert took < 1.0, f"{took:.2f} s"


@pytest.mark.parametrize(
    ("kind", "tail"),
    [("attributes", " attr99999='x'"), ("prefixed attributes", " p3:a1003='2'"), ("attributes", " q:a='1'")],
)
def test_a_repeat_or_unbound_prefix_at_the_end_of_100000_attributes_is_expats(kind, tail):
    data = crowded_epu(CROWDED[kind], tail=tail)
    assert by_tree(data, PATHS)[0] == "error"
    assert compare(data, PATHS, exact=True) is None


# --- the EPU reader on what a .NET writer on Windows makes, and on file kinds -------------------

WINDOWS_SHAPES = {
    "byte-order mark": lambda text: "\ufeff" + text,
    "mark and declaration": lambda text: '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n' + text,
    "indented with CRLF": lambda text: text.replace("><", ">\r\n  <"),
    "lone CR": lambda text: text.replace("><", ">\r<"),
    "mark and CRLF": lambda text: "\ufeff" + text.replace("><", ">\r\n<"),
}


@pytest.mark.parametrize("source", ["synthetic", *(p.name for p in REAL)])
@pytest.mark.parametrize("shape", WINDOWS_SHAPES)
def test_windows_shapes_give_the_acquisition_of_the_plain_file(tmp_path, source, shape):
    text = sources()[source]
    (tmp_path / "plain").mkdir()
    plain, shaped = tmp_path / "plain" / NAME, tmp_path / NAME
    plain.write_text(text, encoding="utf-8")
    shaped.write_bytes(WINDOWS_SHAPES[shape](text).encode("utf-8"))
    expected = read_epu(plain)
    assert read_epu(shaped) == read_metadata([shaped])[0] == type(expected)(**{**vars(expected), "source": shaped})


def test_a_file_that_is_no_regular_file_is_named(tmp_path):
    folder = tmp_path / NAME
    folder.mkdir()
    with pytest.raises(CryodedupError, match=NAME):
        read_epu(folder)
    assert microscope._core.element_texts_of_files([folder], "MicroscopeImage", EPU_ELEMENTS) == [None]


@pytest.mark.parametrize("data", [b"\0<a/>", b"\0<a><b/></a>", b"\0<\0"])
def test_a_nul_before_a_document_is_not_called_utf16(data):
    # Issue 99: "\0<a/>" was refused as "UTF-16 without a byte-order mark"; expat refuses it as a broken token.
    assert by_tree(data, ["a/b"])[0] == "error"
    refusal = by_core(data, ["a/b"])
    assert refusal[0] == "error" and "UTF-16" not in refusal[1] and refusal[1].endswith("line 1, column 0")
