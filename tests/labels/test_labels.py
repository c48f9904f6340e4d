"""Labels for people: the shortest distinct tail of each path, values without None/False."""

from __future__ import annotations

from cryodedup.labels import distinct_labels, human


def test_shortest_distinct_paths():
    assert distinct_labels(["Select/job020/particles.star", "Select/job021/particles.star"]) == [
        "job020/particles.star",
        "job021/particles.star",
    ]
    assert distinct_labels(["a/log.star", "a/template.star"]) == ["log.star", "template.star"]
    # Same job number in two projects: the project tells them apart.
    assert distinct_labels(["/d/P1/J5/p.cs", "/d/P2/J5/p.cs", "/d/P2/J6/p.cs"]) == [
        "P1/J5/p.cs",
        "P2/J5/p.cs",
        "J6/p.cs",
    ]
    assert distinct_labels(["x.star", "sub/x.star"]) == ["x.star", "sub/x.star"]
    assert distinct_labels(["same.star", "same.star"]) == ["same.star", "same.star"]
    assert distinct_labels(["only/one.star"]) == ["one.star"]


def test_human_values():
    assert [human(v) for v in (None, False, True, 20.0, 0.5, 3, "x")] == ["-", "no", "yes", "20", "0.5", "3", "x"]


def test_human_lists():
    # A repeatable option not given (--metadata) showed as "[]" in the report's parameters.
    assert [human(v) for v in ([], (), ["a.xml", "b/"], [1.5, None])] == ["-", "-", "a.xml, b/", "1.5, -"]
    # A mapping option not given (--radius, per species) showed as "{}".
    assert [human(v) for v in ({}, {"ribo": 120.0, "proteasome": 80.5})] == ["-", "ribo: 120, proteasome: 80.5"]


def test_input_labels_keep_a_copick_users_name():
    # Cut alone, pytom/0 would read "0" (alice/1 and bob/1 need two parts): inputs keep one depth.
    from cryodedup.labels import input_labels

    assert distinct_labels(["alice/1", "bob/1", "pytom/0"]) == ["alice/1", "bob/1", "0"]
    assert input_labels(["alice/1", "bob/1", "pytom/0"]) == ["alice/1", "bob/1", "pytom/0"]
    # Two users alone: "1" and "0" told them apart, and the consensus rows read "1" and "0" (no user).
    assert input_labels(["alice/1", "pytom/0"]) == ["alice/1", "pytom/0"]
    assert input_labels(["/d/Select/job020/particles.star", "/d/Select/job021/particles.star", "/d/x/y.star"]) == [
        "job020/particles.star",
        "job021/particles.star",
        "x/y.star",
    ]
    assert input_labels(["/d/a.star", "/e/b.star"]) == ["a.star", "b.star"]
    assert input_labels(["same.star", "same.star"]) == ["same.star", "same.star"]


def test_counted_is_singular_for_one_only():
    from cryodedup.labels import counted

    assert [counted(n, "micrograph") for n in (0, 1, 2, 1500)] == [
        "0 micrographs",
        "1 micrograph",
        "2 micrographs",
        "1,500 micrographs",
    ]


def test_the_registration_row_counts_one_micrograph_and_says_tomogram_in_tomography():
    from cryodedup.report.sections.registration import RegisteredPair, Registration

    pair = RegisteredPair(("a.star", "b.star"), 20.0, 20.0, 1, 1, (10, 12), 0.5, 0.01, "one")
    registration = Registration((pair,), radius_A=20.0)
    assert "on 1 micrograph)" in registration.rows("micrograph")[0][1]
    assert "on 1 tomogram)" in registration.rows("tomogram")[0][1]


def test_the_tomogram_word_leaves_paths_and_file_names_as_they_are():
    # Inputs in a folder named micrographs, or a micrographs STAR, kept their names: "/data/tomograms/a.star".
    from cryodedup.report.summary import in_tomograms

    text = "/data/micrographs/a.star / micrographs_ctf.star: one frame (10 + 12 picks on 2 micrographs)"
    assert in_tomograms([("Registration", text)], "tomogram")[0][1] == (
        "/data/micrographs/a.star / micrographs_ctf.star: one frame (10 + 12 picks on 2 tomograms)"
    )
