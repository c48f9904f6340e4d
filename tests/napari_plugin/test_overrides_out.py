"""overrides.csv as the plugin writes it: RFC 4180 (read back by the csv module), particles by input and row,
pairs after; an existing file refused unless forced; a file of another shape refused in one line."""

from __future__ import annotations

import csv

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.napari_plugin.overrides_out import overrides_text, read_overrides, write_overrides


def test_lines_are_sorted_and_quoted_as_rfc_4180(tmp_path):
    particles = [("b.star", 2, "x", "reject"), ("a.star", 10, 'a "quoted", name', "keep"), ("a.star", 9, "y", "keep")]
    text = overrides_text(particles, [("m1.mrc", "m2.mrc", "distinct")], ["a.star", "b.star"])
    assert text.splitlines()[1] == "particle,a.star,9,y,,keep"
    assert text.splitlines()[2] == 'particle,a.star,10,"a ""quoted"", name",,keep'
    path = tmp_path / "overrides.csv"
    write_overrides(path, text)
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [
            ["kind", "input", "row", "name", "partner", "action"],
            ["particle", "a.star", "9", "y", "", "keep"],
            ["particle", "a.star", "10", 'a "quoted", name', "", "keep"],
            ["particle", "b.star", "2", "x", "", "reject"],
            ["pair", "", "", "m1.mrc", "m2.mrc", "distinct"],
        ]
    assert read_overrides(path) == (sorted(particles), [("m1.mrc", "m2.mrc", "distinct")])
    with pytest.raises(CryodedupError, match="overrides.csv: exists"):
        write_overrides(path, text)
    write_overrides(path, "kind,input,row,name,partner,action\n", force=True)
    assert read_overrides(path) == ([], [])
    assert [p.name for p in tmp_path.iterdir()] == ["overrides.csv"]  # (no temporary left)


def test_a_line_of_another_shape_is_refused_naming_it(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("kind,input,row,name,partner,action\nparticle,a.star,1,x,,maybe\n")
    with pytest.raises(CryodedupError, match=r"o\.csv: line 2: action 'maybe', expected keep or reject"):
        read_overrides(path)
    path.write_text("kind,input\n")
    with pytest.raises(CryodedupError, match=r"o\.csv: line 1: header 'kind,input', expected"):
        read_overrides(path)
