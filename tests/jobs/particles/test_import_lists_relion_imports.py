"""Import lists written as RELION 5's Import job imports them (issue 64 item 3).

Every list the job writes is imported by RELION 5's import, ported in tests/relion_import.py
(``import_coordinates.cpp`` and ``MetaDataTable::append``), and the picks it imports are the
kept ones. Lists merged whose files differ in columns are written one list per input; an input
list whose own files differ is refused, as RELION refuses it; a list in tilt-series pixels is put
in the centred frame on ``size / 2``, as RELION's C++ jobs place the imported pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_particles_import_lists import import_list, relion_table, run, write

from relion_import import (
    RelionError,
    import_coordinates,
    position_angstrom,
    read_star,
    relion4_import_particles,
    relion5_particle_names,
)

CORNER = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
CENTRED = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
PSIZE, SIZE = 1.35, (4000, 4000, 2000)


def tomograms_star(path: Path) -> Path:
    labels = ["rlnTomoName", "rlnTomoTiltSeriesPixelSize", "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ"]
    return write(path, relion_table(labels, [[name, PSIZE, *SIZE] for name in ("TS_01", "TS_02")], "global"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELION project folder, the current directory (RELION opens the listed files from there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def imported(project: Path, outdir: str, subset: str) -> list[tuple[str, tuple[float, ...]]]:
    """Every list of ``subset`` the run wrote, imported by RELION's import: (tomogram, x y z in pixels) per pick.

    RelionError (the test fails) where RELION's import would stop on a list.
    """
    lists = sorted((project / outdir).glob(f"{subset}_import_list*.star"))
    assert lists, f"no {subset} list written"
    picks = []
    for path in lists:
        table = import_coordinates(path, project)
        picks += [(row["rlnTomoName"], tuple(round(float(row[c]), 4) for c in CORNER)) for row in table.rows]
    return sorted(picks)


def two_pickers(project: Path) -> tuple[Path, Path, list[tuple[str, tuple[float, ...], float]]]:
    """A template matcher's list (STAR files with a score) and a hand picker's (text files), on two tomograms.

    Each hand pick lies 5 pixels from a template pick (a duplicate at 20 Å); the rest lie apart.
    """
    rng = np.random.default_rng(64)
    picks, tm_entries, hand_entries = [], [], []
    for name in ("TS_01", "TS_02"):
        centres = rng.uniform(200, 1800, size=(6, 3)).round(1)
        scores = rng.uniform(0.2, 0.5, size=6).round(3)
        rows = [[*c, s] for c, s in zip(centres, scores)]
        write(project / f"tm/{name}.star", relion_table([*CORNER, "rlnLCCmax"], rows))
        tm_entries.append((name, f"tm/{name}.star"))
        picks += [(name, tuple(c), float(s)) for c, s in zip(centres, scores)]
        hand = centres[:2] + np.array([5.0, 0.0, 0.0])
        write(project / f"hand/{name}.coords", "".join(f"{x:.1f} {y:.1f} {z:.1f}\n" for x, y, z in hand))
        hand_entries.append((name, f"hand/{name}.coords"))
        picks += [(name, tuple(c), np.nan) for c in hand]
    tm = import_list(project / "tm/list.star", tm_entries)
    return tm, import_list(project / "hand/list.star", hand_entries), picks


def two_pickers_run(project: Path, prefer: str) -> tuple[dict, list]:
    """:func:`two_pickers`' lists deduplicated at 20 Å, ``--prefer`` one, into D/: the summary and the picks."""
    tm, hand, picks = two_pickers(project)
    tomograms = tomograms_star(project / "tomograms.star")
    args = [str(tm), str(hand), "--min-dist", "20", "--micrographs", str(tomograms), "--score", "none"]
    code, out = run(*args, "--prefer", prefer, "-o", "D/", "--json")
    assert code == 0, out
    return json.loads(out), picks


def test_two_lists_whose_files_differ_in_columns_are_written_as_lists_relion_imports(project):
    # On main: one kept_import_list.star naming the STAR files (rlnLCCmax) and the text files: RELION's import
    # stops at the first text file ("ERROR in appending metadata tables with not the same columns!").
    summary, picks = two_pickers_run(project, prefer="2")
    assert summary["rejected"] == 4  # each tomogram's two template picks near a (preferred) hand pick
    kept = imported(project, "D", "kept")  # (RelionError on main)
    rejected = imported(project, "D", "rejected")
    everything = sorted((name, tuple(round(v, 4) for v in centre)) for name, centre, _ in picks)
    assert sorted(kept + rejected) == everything
    hand_picks = {(name, tuple(round(v, 4) for v in c)) for name, c, s in picks if np.isnan(s)}
    assert hand_picks <= set(kept) and len(set(rejected) & hand_picks) == 0
    lists = summary["import_lists"]["kept"]["lists"]
    assert [Path(p).name for p in lists] == ["kept_import_list_1.star", "kept_import_list_2.star"]
    assert any("differ in columns" in w and "kept_import_list_1.star" in w for w in summary["warnings"])


def test_two_lists_whose_files_have_the_same_columns_stay_one_list(project):
    tm, _, _ = two_pickers(project)
    write(project / "tm2/TS_01.star", relion_table([*CORNER, "rlnLCCmax"], [[1000, 1000, 500, 0.9]]))
    other = import_list(project / "tm2/list.star", [("TS_01", "tm2/TS_01.star")])
    tomograms = tomograms_star(project / "tomograms.star")
    code, out = run(str(tm), str(other), "--micrographs", str(tomograms), "-o", "D/", "--json")
    assert code == 0, out
    assert [p.name for p in sorted((project / "D").glob("kept_import_list*.star"))] == ["kept_import_list.star"]
    assert len(imported(project, "D", "kept")) == json.loads(out)["kept"]


def test_an_input_list_whose_files_differ_in_columns_is_refused_as_relion_refuses_it(project):
    write(project / "tm/TS_01.star", relion_table([*CORNER, "rlnLCCmax"], [[100, 100, 100, 0.3]]))
    write(project / "tm/TS_02.star", relion_table(CORNER, [[200, 200, 200]]))
    listed = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star"), ("TS_02", "tm/TS_02.star")])
    with pytest.raises(RelionError, match="not the same columns"):
        import_coordinates(listed, project)
    code, out = run(str(listed), "--mic-psize", "1.35", "-o", "D/")
    assert code != 0 and "Traceback" not in out
    message = " ".join(out.split())
    for part in ("tm/TS_01.star (line 9)", "tm/TS_02.star (line 10)", "rlnLCCmax", "not the same columns"):
        assert part in message, part
    assert not (project / "D").exists()


def test_a_list_in_pixels_is_centred_on_size_over_2_as_relions_cpp_reads_it(project):
    # One place given twice: in centred Å (a pytom-match-pick list) and in tilt-series pixels (a hand-picked
    # list). RELION's C++ jobs put the pixels at (x - size / 2) x pixel; main used size / 2 - 1, 2.34 Å apart.
    tomograms = tomograms_star(project / "tomograms.star")
    pixels = [1000.0, 1500.0, 500.0]
    centred = position_angstrom(dict(zip(CORNER, map(str, pixels))), PSIZE, SIZE)
    write(project / "a/TS_01.star", relion_table(["rlnTomoName", *CENTRED], [["TS_01", *np.round(centred, 4)]]))
    write(project / "b/TS_01.coords", " ".join(f"{p:g}" for p in pixels) + "\n")
    first = import_list(project / "a/list.star", [("TS_01", "a/TS_01.star")])
    second = import_list(project / "b/list.star", [("TS_01", "b/TS_01.coords")])
    args = [str(first), str(second), "--min-dist", "0.5", "--micrographs", str(tomograms), "--json"]
    code, out = run(*args, "-o", "D/")
    assert code == 0, out
    assert json.loads(out)["rejected"] == 1  # one place (main: 2.34 Å apart, both kept)
    assert "size / 2" in " ".join(json.loads(out)["layouts"][1]["notes"])


def test_the_port_reads_a_list_and_its_files_as_relion_does(project):
    # The port itself, on cases worked by hand from import_coordinates.cpp.
    write(project / "a.coords", "# x y z\n10 20 30\n1.5 2.5 3.5 10 20 30\n")
    write(project / "b.coords", "1 2 3 4 5 6\n")
    listed = import_list(project / "l.star", [("TS_01", "b.coords")])
    table = import_coordinates(listed, project, scale=2.0, add=1.0)
    assert table.rows[0]["rlnCoordinateX"] == "3.0" and table.rows[0]["rlnAngleTilt"] == "90"
    assert set(table.labels) >= {"rlnTomoSubtomogramRot", "rlnAngleTiltPrior"}
    mixed = import_list(project / "m.star", [("TS_01", "b.coords"), ("TS_02", "c.coords")])
    write(project / "c.coords", "1 2 3\n")
    with pytest.raises(RelionError, match="not the same columns"):
        import_coordinates(mixed, project)
    assert read_star(listed).labels == ["rlnTomoName", "rlnTomoImportParticleFile"]


def everything_imported(project: Path, outdir: str, centered: bool = False) -> list[tuple[str, tuple[float, ...]]]:
    """Every pick of every kept and rejected list, as RELION's import (ported) gives it: name and x y z."""
    picks = []
    for path in sorted((project / outdir).glob("*_import_list*.star")):
        table = import_coordinates(path, project, centered=centered)
        coords = CENTRED if any(c in table.labels for c in CENTRED) else CORNER
        picks += [(row["rlnTomoName"], tuple(round(float(row[c]), 3) for c in coords)) for row in table.rows]
    return sorted(picks)


MERGES = {
    # name: the lists' files (tomogram, file name, text), and whether one list is written
    "two template matchers, one score": (
        [("TS_01", "a/TS_01.star", relion_table([*CORNER, "rlnLCCmax"], [[500, 500, 500, 0.3], [900, 900, 900, 0.2]]))],
        [("TS_01", "b/TS_01.star", relion_table([*CORNER, "rlnLCCmax"], [[503, 500, 500, 0.4]]))],
        True,
    ),
    "STAR with a score and text": (
        [("TS_01", "a/TS_01.star", relion_table([*CORNER, "rlnLCCmax"], [[500, 500, 500, 0.3]]))],
        [("TS_01", "b/TS_01.coords", "503 500 500\n800 800 800\n")],
        False,
    ),
    "text with angles and text without": (
        [("TS_01", "a/TS_01.coords", "500 500 500 10 20 30\n"), ("TS_02", "a/TS_02.coords", "1 2 3 0 90 0\n")],
        [("TS_01", "b/TS_01.coords", "503 500 500\n")],
        False,
    ),
    "text and STAR of the same columns": (
        [("TS_01", "a/TS_01.coords", "500 500 500\n")],
        [("TS_01", "b/TS_01.star", relion_table(["rlnTomoName", *CORNER], [["TS_01", 503, 500, 500]]))],
        True,
    ),
}


@pytest.mark.parametrize("name", list(MERGES))
def test_every_merge_of_lists_is_imported_whole_by_relion(project, name):
    # Kept and rejected lists together import every input pick once, and RELION's import (ported) takes each.
    first, second, one_list = MERGES[name]
    paths = []
    for k, files in enumerate((first, second)):
        for _, file, text in files:
            write(project / file, text)
        paths.append(import_list(project / f"list{k}.star", [(t, f) for t, f, _ in files]))
    tomograms = tomograms_star(project / "tomograms.star")
    code, out = run(*map(str, paths), "--min-dist", "20", "--micrographs", str(tomograms), "-o", "D/", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["rejected"] == 1
    expected = []
    for path in paths:
        expected += [
            (row["rlnTomoName"], tuple(round(float(row[c]), 3) for c in CORNER))
            for row in import_coordinates(path, project).rows
        ]
    assert everything_imported(project, "D") == sorted(expected)
    written = sorted(p.name for p in (project / "D").glob("kept_import_list*.star"))
    assert written == (
        ["kept_import_list.star"] if one_list else ["kept_import_list_1.star", "kept_import_list_2.star"]
    )


def test_merged_lists_name_every_particle_once_in_relion_4_and_5(project):
    # Two template matchers' lists on TS_01 and TS_02, merged: main listed the files TS_01, TS_02, TS_01, TS_02,
    # and RELION 4.0's import (numbering anew at each change of tomogram) named two particles of each
    # tomogram TS_01/1... twice. Each tomogram's files listed together: each name once, in RELION 4 and 5.
    rng = np.random.default_rng(78)
    paths = []
    for k in range(2):
        entries = []
        for name in ("TS_01", "TS_02"):
            rows = [[*c, s] for c, s in zip(rng.uniform(200, 1800, (4, 3)).round(1), rng.uniform(0, 1, 4).round(3))]
            write(project / f"tm{k}/{name}.star", relion_table([*CORNER, "rlnLCCmax"], rows))
            entries.append((name, f"tm{k}/{name}.star"))
        paths.append(import_list(project / f"tm{k}/list.star", entries))
    tomograms = tomograms_star(project / "tomograms.star")
    code, out = run(*map(str, paths), "--min-dist", "20", "--micrographs", str(tomograms), "-o", "D/", "--json")
    assert code == 0, out
    kept = project / "D/kept_import_list.star"
    relion4 = relion4_import_particles(kept, project)
    names4 = [name for name, _, _ in relion4]
    assert len(names4) == json.loads(out)["kept"] == 16
    assert len(set(names4)) == len(names4)  # (main: 8 names twice)
    relion5 = import_coordinates(kept, project)
    names5 = relion5_particle_names(relion5)
    assert len(set(names5)) == len(names5)
    picks5 = sorted((row["rlnTomoName"], tuple(float(row[c]) for c in CORNER)) for row in relion5.rows)
    assert sorted((tomogram, xyz) for _, tomogram, xyz in relion4) == picks5
    # each tomogram's files together
    listed = read_star(kept).rows
    assert [row["rlnTomoName"] for row in listed] == ["TS_01", "TS_01", "TS_02", "TS_02"]


def test_the_verdict_tells_two_lists_named_list_star_apart(project):
    # Two pickers' lists, both list.star: main's one-line summary said "the files of list.star and list.star
    # differ in columns", the folders that tell them apart cut away.
    tm, hand, _ = two_pickers(project)
    tomograms = tomograms_star(project / "tomograms.star")
    code, out = run(
        str(tm), str(hand), "--min-dist", "20", "--micrographs", str(tomograms), "--score", "none", "-o", "D/"
    )
    assert code == 0, out
    verdict = out.splitlines()[0]
    assert "the files of tm/list.star and hand/list.star differ in columns" in verdict, verdict


def test_an_empty_kept_list_is_written_with_a_word(project):
    # Issue 89: every hand pick lies beside a preferred template pick, so the hand list's kept list names no
    # file. On main it was written without a word; RELION's import of it imports nothing.
    summary, _ = two_pickers_run(project, prefer="1")
    assert [i["kept"] for i in summary["inputs"]] == [12, 0]
    assert not import_coordinates(project / "D/kept_import_list_2.star", project).rows
    (said,) = [w for w in summary["warnings"] if "kept_import_list_2.star" in w and "naming no" in w]
    assert "every pick of" in said and "imports no particle" in said
    assert not any("kept_import_list_1.star" in w and "naming no" in w for w in summary["warnings"])
