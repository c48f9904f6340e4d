"""cryodedup.formats.overrides: the overrides file, read against hand-written files and written as RFC 4180 says."""

from __future__ import annotations

import pytest

from cryodedup.errors import InputFileError
from cryodedup.formats.overrides import (
    Overrides,
    PairOverride,
    ParticleOverride,
    format_overrides,
    read_overrides,
)

HEADER = "kind,input,row,name,partner,action\n"


def test_particles_and_pairs_are_read_with_their_lines(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text(
        HEADER
        + "particle,Extract/job012/particles.star,7,000007@Extract/job012/a.mrcs,,keep\n"
        + "\n"
        + 'particle,"a,b.star",12,"name ""q""",,reject\n'
        + "pair,,,mic_1.mrc,mic_2.mrc,distinct\n"
        + "pair,,,mic_3.mrc,mic_4.mrc,duplicate\n"
    )
    read = read_overrides(path)
    assert read.particles == (
        ParticleOverride("Extract/job012/particles.star", 7, "000007@Extract/job012/a.mrcs", True, 2),
        ParticleOverride("a,b.star", 12, 'name "q"', False, 4),
    )
    assert read.pairs == (
        PairOverride("mic_1.mrc", "mic_2.mrc", False, 5),
        PairOverride("mic_3.mrc", "mic_4.mrc", True, 6),
    )
    assert len(read) == 4 and read.path == path


def test_a_quoted_line_break_counts_its_lines(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(b'kind,input,row,name,partner,action\r\nparticle,x,1,"a\r\nb",,keep\r\nparticle,x,2,c,,nope\r\n')
    with pytest.raises(InputFileError, match=r"o\.csv: line 4: action 'nope', expected keep or reject"):
        read_overrides(path)


def test_a_byte_order_mark_and_crlf_are_read(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(b"\xef\xbb\xbfkind,input,row,name,partner,action\r\npair,,,a,b,distinct\r\n")
    assert read_overrides(path).pairs == (PairOverride("a", "b", False, 2),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", r"line 1: empty; expected the header"),
        ("kind,input,row,name,action\n", r"line 1: header 'kind,input,row,name,action', expected"),
        (HEADER + "particle,x,1,n,,keep,extra\n", r"line 2: 7 fields, expected 6"),
        (HEADER + "particle,x,1,n,keep\n", r"line 2: 5 fields, expected 6"),
        (HEADER + "micrograph,x,1,n,,keep\n", r"line 2: kind 'micrograph', expected particle or pair"),
        (HEADER + "particle,x,1,n,,flip\n", r"line 2: action 'flip', expected keep or reject"),
        (HEADER + "pair,,,a,b,same\n", r"line 2: action 'same', expected duplicate or distinct"),
        (HEADER + "particle,,1,n,,keep\n", r"line 2: a particle without its input"),
        (HEADER + "particle,x,0,n,,keep\n", r"line 2: row '0', expected the particle's row from 1"),
        (HEADER + "particle,x,1.5,n,,keep\n", r"line 2: row '1.5'"),
        (HEADER + "particle,x,-1,n,,keep\n", r"line 2: row '-1'"),
        (HEADER + "particle,x,1,n,p,keep\n", r"line 2: partner 'p' on a particle line"),
        (HEADER + "pair,x,,a,b,distinct\n", r"line 2: input or row on a pair line"),
        (HEADER + "pair,,,a,a,distinct\n", r"line 2: a pair needs two different micrographs"),
        (HEADER + "pair,,,a,,distinct\n", r"line 2: a pair needs two different micrographs"),
        (HEADER + "particle,x,1,n,,keep\nparticle,x,1,n,,reject\n", r"line 3: contradicts line 2 \(keep\)"),
        (HEADER + "particle,x,1,n,,keep\nparticle,x,1,m,,keep\n", r"line 3: contradicts line 2"),
        (HEADER + "pair,,,a,b,distinct\npair,,,b,a,duplicate\n", r"line 3: contradicts line 2 \(distinct\)"),
        (HEADER + 'particle,"x,1,n,,keep\n', r"expected CSV \(RFC 4180\)"),
    ],
)
def test_a_malformed_file_is_refused_in_one_line_naming_its_line(tmp_path, body, message):
    path = tmp_path / "o.csv"
    path.write_text(body)
    with pytest.raises(InputFileError, match=message) as caught:
        read_overrides(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))


def test_a_line_repeated_alike_counts_once(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(HEADER + "particle,x,1,n,,keep\nparticle,x,1,n,,keep\npair,,,a,b,distinct\npair,,,b,a,distinct\n")
    read = read_overrides(path)
    assert [p.line for p in read.particles] == [2] and [p.line for p in read.pairs] == [4]


def test_a_file_that_is_not_text_or_not_there_is_refused(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(b"kind,input\xff\n")
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_overrides(path)
    with pytest.raises(InputFileError, match="cannot be read"):
        read_overrides(tmp_path / "none.csv")


def test_the_text_written_is_rfc_4180_as_written_by_hand():
    text = format_overrides([("in,put.star", 3, 'a"b', "reject")], [("m1", "m2", "duplicate")])
    assert text == (
        'kind,input,row,name,partner,action\r\nparticle,"in,put.star",3,"a""b",,reject\r\npair,,,m1,m2,duplicate\r\n'
    )
    with pytest.raises(ValueError, match="flip"):
        format_overrides([("x", 1, "n", "flip")])


def test_what_is_written_reads_back(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text(format_overrides([("x y.star", 9, "line\nbreak", "keep")], [("a", "b", "distinct")]), newline="")
    assert read_overrides(path) == Overrides(
        path, (ParticleOverride("x y.star", 9, "line\nbreak", True, 2),), (PairOverride("a", "b", False, 4),)
    )
