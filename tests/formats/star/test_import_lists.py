"""RELION 5 import lists (``rlnTomoName`` + ``rlnTomoImportParticleFile``): read, written back, refused.

The files are laid out as RELION 5 writes them (MetaDataTable::write: a version line, ``loop_ ``,
``_label #n `` lines, values right-aligned in 10 characters, a closing blank line), as pytom-match-pick's
``merge_stars`` writes a list (the starfile package) and as MemBrain-pick's documentation lists two
files for one tomogram. The expected values are worked by hand from RELION's import
(src/jaz/tomography/apps/import_coordinates.cpp).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

from cryodedup.errors import CryodedupError
from cryodedup.formats.star.import_lists import is_import_list, read_import_list, write_import_list
from helpers import NO_SHARED_DATA, SHARED_DATA, missing_program


def relion_table(labels: list[str], rows: list[list[object]], name: str = "") -> str:
    """A table as RELION 5's MetaDataTable::write lays it out."""
    head = f"\n# version 50001\n\ndata_{name}\n\nloop_ \n" + "".join(
        f"_{lab} #{k} \n" for k, lab in enumerate(labels, 1)
    )
    return head + "".join("".join(f"{v!s:>10} " for v in row) + "\n" for row in rows) + " \n"


CENTRED = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
CORNER = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def relion_list(path: Path, entries: list[tuple[str, str]]) -> Path:
    return write(path, relion_table(["rlnTomoName", "rlnTomoImportParticleFile"], [list(e) for e in entries]))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELION project folder, the current directory (RELION opens the listed files from there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytom_like(project: Path) -> Path:
    """Two tomograms of pytom-match-pick picks (centred Å, rlnTomoName, scores) and its list."""
    labels = ["rlnTomoName", *CENTRED, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnLCCmax"]
    write(
        project / "tm/TS_01.star",
        relion_table(
            labels, [["TS_01", 10.5, -20.0, 3.0, 0, 90, 0, 0.31], ["TS_01", 12.0, -20.0, 3.0, 5, 90, 0, 0.29]]
        ),
    )
    write(project / "tm/TS_02.star", relion_table(labels, [["TS_02", -100.25, 0.0, 7.5, 10, 80, 30, 0.4]]))
    path = project / "tm/list.star"
    frame = pd.DataFrame(
        {"rlnTomoName": ["TS_01", "TS_02"], "rlnTomoImportParticleFile": ["tm/TS_01.star", "tm/TS_02.star"]}
    )
    starfile.write({"particles": frame}, path, overwrite=True)  # as pytom's merge_stars writes it
    return path


def test_a_list_of_star_files_is_one_table_of_picks(project: Path) -> None:
    picks = read_import_list(pytom_like(project))
    assert picks.frame == "centred-angstrom"
    assert picks.tomograms == ["TS_01", "TS_02"]
    assert picks.tomogram.tolist() == [0, 0, 1]
    assert picks.file_of_pick.tolist() == [0, 0, 1] and picks.row.tolist() == [0, 1, 0]
    # RELION's layout: blank, version, blank, data_, blank, loop_ (line 6), 8 labels: rows on lines 15, 16
    assert picks.line.tolist() == [15, 16, 15]
    assert picks.centres.tolist() == [[10.5, -20.0, 3.0], [12.0, -20.0, 3.0], [-100.25, 0.0, 7.5]]
    assert picks.columns["rlnLCCmax"] == ["0.31", "0.29", "0.4"]
    assert picks.numbers("rlnLCCmax").tolist() == [0.31, 0.29, 0.4]
    assert picks.columns["rlnTomoName"] == ["TS_01", "TS_01", "TS_02"]
    assert [f.kind for f in picks.files] == ["star", "star"]


def test_text_files_are_read_as_relion_reads_them(project: Path) -> None:
    # Lines not beginning with three numbers are skipped; blanks and tabs separate words; a CR
    # ends the last word; --scale_factor 2 --add_factor 1 apply to text files only.
    write(project / "c/TS_01.coords", b"# x y z\nX Y Z\n1 2 3\n0.1\t4  5 extra\r\n7 8\n")
    write(project / "c/TS_02.txt", b"  10 20 30\n")
    path = relion_list(project / "list.star", [("TS_01", "c/TS_01.coords"), ("TS_02", "c/TS_02.txt")])
    picks = read_import_list(path, scale_factor=2.0, add_factor=1.0)
    assert picks.frame == "corner-pixel"
    assert picks.line.tolist() == [3, 4, 1]
    # 0.1 as a 32-bit float (sscanf "%f"), then doubled and shifted in doubles
    tenth = struct.unpack("f", struct.pack("f", 0.1))[0]
    assert picks.centres.tolist() == [[3.0, 5.0, 7.0], [tenth * 2 + 1, 9.0, 11.0], [21.0, 41.0, 61.0]]
    assert picks.columns == {}
    centred = read_import_list(path, centered=True)
    assert centred.frame == "centred-angstrom" and centred.centres[0].tolist() == [1.0, 2.0, 3.0]


def test_six_numbers_give_subtomogram_angles(project: Path) -> None:
    write(project / "a.coords", "1 2 3 10 20 30\n4 5 6 -1 -2 -3\n")
    picks = read_import_list(relion_list(project / "list.star", [("TS_01", "a.coords")]))
    assert picks.columns["rlnTomoSubtomogramRot"] == ["10", "-1"]
    assert picks.columns["rlnTomoSubtomogramPsi"] == ["30", "-3"]
    assert picks.files[0].has_angles


def test_a_tomogram_may_be_listed_with_two_files(project: Path) -> None:
    # MemBrain-pick's documented list: one file per membrane, tomo_0002 twice; RELION appends both.
    for name, x in (("m1", 1), ("m2", 2), ("m3", 3)):
        write(project / f"mb/{name}.star", relion_table(CORNER, [[x, x, x]]))
    path = relion_list(
        project / "l.star", [("tomo_0001", "mb/m1.star"), ("tomo_0002", "mb/m2.star"), ("tomo_0002", "mb/m3.star")]
    )
    picks = read_import_list(path)
    assert picks.tomograms == ["tomo_0001", "tomo_0002"]
    assert picks.tomogram.tolist() == [0, 1, 1] and picks.file_of_pick.tolist() == [0, 1, 2]


def test_a_list_of_one_tomogram_as_key_value_pairs(project: Path) -> None:
    # RELION reads a first block of pairs as a table of one row (MetaDataTable::readStarList).
    write(project / "a.star", relion_table(CORNER, [[1, 2, 3]]))
    path = write(project / "l.star", "data_\n\n_rlnTomoName TS_07\n_rlnTomoImportParticleFile 'a.star'\n")
    picks = read_import_list(path)
    assert picks.tomograms == ["TS_07"] and picks.centres.tolist() == [[1, 2, 3]]
    assert is_import_list(path)


def test_relative_paths_are_found_from_the_project_directory(project: Path, tmp_path_factory) -> None:
    list_path = pytom_like(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)
    assert len(read_import_list(list_path, project_dir=project)) == 3
    with pytest.raises(CryodedupError) as err:
        read_import_list(list_path)
    assert str(err.value) == (
        f"{list_path}: line 9: coordinate file tm/TS_01.star of tomogram TS_01 not found in {elsewhere} "
        "(RELION opens relative paths from its project directory)"
    )


def test_a_path_relative_to_the_lists_folder_is_refused_with_a_hint(project: Path) -> None:
    write(project / "job/TS_01.star", relion_table(CORNER, [[1, 2, 3]]))
    path = relion_list(project / "job/list.star", [("TS_01", "TS_01.star")])
    with pytest.raises(
        CryodedupError,
        match=r"line 9: .* not found in .*; it is found from the list's folder, .*job, but RELION does not look there$",
    ):
        read_import_list(path)


def test_write_of_every_row_gives_the_same_files(project: Path) -> None:
    list_path = pytom_like(project)
    write(project / "tm/TS_03.coords", b"# header\n1 2 3\r\n")
    picks = read_import_list(list_path)
    written = write_import_list([(picks, np.ones(len(picks), bool))], "out")
    for source, target in zip(["tm/TS_01.star", "tm/TS_02.star"], written.files):
        assert target.read_bytes() == (project / source).read_bytes()
    assert written.files == [Path("out/coordinates/TS_01.star"), Path("out/coordinates/TS_02.star")]
    assert written.picks == [2, 1] and written.left_out == []
    # The list as RELION writes tables, read by another reader: names and project-relative paths.
    text = (project / "out/import_list.star").read_text()
    assert text.startswith(
        "\n# version 50001\n\ndata_particles\n\nloop_ \n_rlnTomoName #1 \n_rlnTomoImportParticleFile #2 \n"
    )
    assert text.endswith("     TS_01 out/coordinates/TS_01.star \n     TS_02 out/coordinates/TS_02.star \n \n")
    table = starfile.read(project / "out/import_list.star")
    assert table["rlnTomoName"].tolist() == ["TS_01", "TS_02"]
    assert table["rlnTomoImportParticleFile"].tolist() == ["out/coordinates/TS_01.star", "out/coordinates/TS_02.star"]


def test_a_subset_leaves_out_only_the_rejected_lines(project: Path) -> None:
    text = b"# picks\n1 2 3\n4 5 6\r\n# middle\n7 8 9"  # no final line break
    write(project / "TS_01.coords", text)
    write(project / "TS_02.coords", b"1 1 1\n")
    picks = read_import_list(relion_list(project / "l.star", [("TS_01", "TS_01.coords"), ("TS_02", "TS_02.coords")]))
    written = write_import_list([(picks, [True, False, True, False])], project / "out")
    assert (project / "out/coordinates/TS_01.coords").read_bytes() == b"# picks\n1 2 3\n# middle\n7 8 9"
    assert not (project / "out/coordinates/TS_02.coords").exists()
    assert written.left_out == ["TS_02 (TS_02.coords)"] and written.picks == [2]
    assert starfile.read(project / "out/import_list.star")["rlnTomoName"].tolist() == ["TS_01"]


def test_round_trip_reads_back_the_kept_picks(project: Path) -> None:
    picks = read_import_list(pytom_like(project))
    keep = np.array([False, True, True])
    write_import_list([(picks, keep)], "out", list_name="kept.star")
    again = read_import_list("out/kept.star")
    np.testing.assert_array_equal(again.centres, picks.centres[keep])
    assert again.tomograms == ["TS_01", "TS_02"] and again.tomogram.tolist() == [0, 1]
    assert again.columns["rlnLCCmax"] == ["0.29", "0.4"]


def test_two_lists_combined_and_shared_names(project: Path) -> None:
    # Two pickers' lists (pytom-match-pick issue 259): files of the same name get their tomogram's before it.
    write(project / "a/coords.star", relion_table(CORNER, [[1, 1, 1]]))
    write(project / "b/coords.star", relion_table(CORNER, [[2, 2, 2]]))
    first = read_import_list(relion_list(project / "a/l.star", [("TS_01", "a/coords.star")]))
    second = read_import_list(relion_list(project / "b/l.star", [("TS_02", "b/coords.star")]))
    written = write_import_list([(first, [True]), (second, [True])], project / "out")
    assert [p.name for p in written.files] == ["TS_01_coords.star", "TS_02_coords.star"]
    again = read_import_list(written.list_path)
    assert again.centres.tolist() == [[1, 1, 1], [2, 2, 2]]


def test_relions_star_reader_reads_the_written_list_and_files(project: Path) -> None:
    # Debian's RELION 3.1.3 has no tomography import, but its MetaDataTable reads a STAR as RELION 5's
    # does (the first data_ block, a loop up to its first empty line): the list and a written subset.
    program = shutil.which("relion_star_printtable")
    if program is None:
        missing_program("RELION is not installed (relion_star_printtable)", required_by="CRYODEDUP_REQUIRE_RELION")
    write(project / "TS_01.star", relion_table(["rlnTomoName", *CORNER], [["TS_01", 1, 2, 3], ["TS_01", 4, 5, 6]]))
    picks = read_import_list(relion_list(project / "l.star", [("TS_01", "TS_01.star")]))
    write_import_list([(picks, [False, True])], "out")

    def printed(path: str, *labels: str) -> str:
        run = subprocess.run(
            [str(program), path, "data_particles" if "list" in path else "data_", *labels],
            capture_output=True,
            text=True,
            check=True,
        )
        return run.stdout

    assert printed("out/import_list.star", "rlnTomoName", "rlnTomoImportParticleFile") == (
        "TS_01 out/coordinates/TS_01.star\n"
    )
    assert printed("out/coordinates/TS_01.star", *CORNER) == "4 5 6\n"


def test_files_outside_the_project_are_listed_by_absolute_path(project: Path, tmp_path_factory) -> None:
    picks = read_import_list(pytom_like(project))
    outside = tmp_path_factory.mktemp("outside")
    write_import_list([(picks, np.ones(3, bool))], outside)
    listed = starfile.read(outside / "import_list.star")["rlnTomoImportParticleFile"].tolist()
    assert listed == [str(outside / "coordinates/TS_01.star"), str(outside / "coordinates/TS_02.star")]


def test_an_existing_output_is_refused_and_nothing_is_written(project: Path) -> None:
    picks = read_import_list(pytom_like(project))
    write(project / "out/import_list.star", "old")
    with pytest.raises(CryodedupError):
        write_import_list([(picks, np.ones(3, bool))], "out")
    assert (project / "out/import_list.star").read_text() == "old"
    assert not (project / "out/coordinates").exists()


def test_is_import_list(project: Path) -> None:
    assert is_import_list(pytom_like(project))
    assert is_import_list(relion_list(project / "r.star", [("TS_01", "x.star")]))
    assert not is_import_list(project / "tm/TS_01.star")  # a particle table
    assert not is_import_list(write(project / "a.coords", "1 2 3\n"))
    assert not is_import_list(project / "absent.star")
    # a table with both the list column and coordinates is a particle table
    assert not is_import_list(
        write(project / "both.star", relion_table([*CORNER, "rlnTomoImportParticleFile"], [[1, 2, 3, "a"]]))
    )
    os.mkfifo(project / "fifo.star")
    assert not is_import_list(project / "fifo.star")


# Each bad input: one line naming the file, the line or field, and what was expected.


def refused(path: Path, **options) -> str:
    with pytest.raises(CryodedupError) as err:
        read_import_list(path, **options)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_refused_a_missing_file(project: Path) -> None:
    path = relion_list(project / "l.star", [("TS_01", "nowhere/TS_01.star")])
    assert refused(path) == (
        f"{path}: line 9: coordinate file nowhere/TS_01.star of tomogram TS_01 not found in {project} "
        "(RELION opens relative paths from its project directory)"
    )


def test_refused_the_same_file_listed_twice(project: Path) -> None:
    write(project / "a.star", relion_table(CORNER, [[1, 2, 3]]))
    path = relion_list(project / "l.star", [("TS_01", "a.star"), ("TS_02", "./a.star")])
    assert refused(path) == (
        f"{path}: line 10: ./a.star is listed again (first on line 9); RELION would import its picks twice: "
        "remove one line"
    )


def test_refused_a_file_without_coordinates(project: Path) -> None:
    write(project / "a.star", relion_table(["rlnTomoName", "rlnLCCmax"], [["TS_01", 0.3]], name="particles"))
    path = relion_list(project / "l.star", [("TS_01", "a.star")])
    assert refused(path) == (
        f"{project / 'a.star'}: line 4: data_particles has no coordinates; RELION's import reads the first "
        "data_ block, expected rlnCoordinateX/Y/Z (tilt-series pixels) or rlnCenteredCoordinateX/Y/ZAngst (Å)"
    )


def test_refused_coordinates_in_a_later_block(project: Path) -> None:
    # RELION 5's Extract output: data_general first, which RELION's import would read.
    write(
        project / "a.star",
        "data_general\n\n_rlnTomoSubTomosAre2DStacks 1\n\n" + relion_table(CENTRED, [[1, 2, 3]], "particles"),
    )
    path = relion_list(project / "l.star", [("TS_01", "a.star")])
    assert refused(path) == (
        f"{project / 'a.star'}: line 1: data_general holds key-value pairs; RELION's import reads the first "
        "data_ block, expected a loop_ of coordinates"
    )


def test_refused_a_text_file_without_picks(project: Path) -> None:
    write(project / "a.txt", "x y z\n1 2\n")
    path = relion_list(project / "l.star", [("TS_01", "a.txt")])
    assert refused(path) == (
        f"{project / 'a.txt'}: no line begins with three numbers (x y z), so RELION's import would find no pick in it "
        f"({path}: line 9: a text file, as its name does not end in .star)"
    )


def test_refused_mixed_units(project: Path) -> None:
    write(project / "a.star", relion_table(CENTRED, [[1, 2, 3]]))
    write(project / "b.star", relion_table(CORNER, [[1, 2, 3]]))
    path = relion_list(project / "l.star", [("TS_01", "a.star"), ("TS_02", "b.star")])
    assert refused(path) == (
        f"{path}: mixed units: a.star (line 9) gives Å from the tomogram's centre (rlnCenteredCoordinateX/Y/ZAngst), "
        "b.star (line 10) tilt-series pixels from the tomogram's corner (rlnCoordinateX/Y/Z); expected one frame "
        "for all (text files follow centered=True/False)"
    )
    write(project / "c.txt", "1 2 3\n")
    text = relion_list(project / "m.star", [("TS_01", "a.star"), ("TS_02", "c.txt")])
    assert "mixed units" in refused(text)
    assert len(read_import_list(text, centered=True)) == 2


def test_refused_angles_in_some_files_only(project: Path) -> None:
    write(project / "a.txt", "1 2 3 10 20 30\n")
    write(project / "b.txt", "1 2 3\n")
    path = relion_list(project / "l.star", [("TS_01", "a.txt"), ("TS_02", "b.txt")])
    assert refused(path) == (
        f"{path}: a.txt (line 9) has subtomogram angles, b.txt (line 10) has none; RELION's import refuses a list "
        "where some, but not all coordinate files contain prior angle information"
    )
    write(project / "c.txt", "1 2 3 10 20 30\n4 5 6\n")
    assert refused(relion_list(project / "m.star", [("TS_01", "c.txt")])) == (
        f"{project / 'c.txt'}: line 2: three numbers, but line 1 has six (x y z and angles); expected the same on "
        "every line (RELION would give this pick no angles)"
    )


def test_refused_rows_of_another_tomogram(project: Path) -> None:
    write(project / "a.star", relion_table(["rlnTomoName", *CENTRED], [["TS_01", 1, 2, 3], ["TS_02", 1, 2, 3]]))
    path = relion_list(project / "l.star", [("TS_01", "a.star")])
    assert refused(path) == (
        f"{project / 'a.star'}: line 12: rlnTomoName is TS_02, but the list names this file for tomogram TS_01 "
        "(line 9); expected its picks only"
    )


def test_refused_numbers_relion_would_cut(project: Path) -> None:
    write(project / "a.txt", "1 2 3\n4 5e 6\n")
    path = relion_list(project / "l.star", [("TS_01", "a.txt")])
    assert refused(path) == (
        f"{project / 'a.txt'}: line 2: 5e is not a finite number (RELION would read 5); expected x y z"
    )
    write(project / "b.txt", "nan 2 3\n")
    assert "line 1: nan is not a finite number; expected x y z" in refused(
        relion_list(project / "m.star", [("TS_01", "b.txt")])
    )
    write(project / "c.star", relion_table(CORNER, [[1, "x", 3]]))
    assert refused(relion_list(project / "n.star", [("TS_01", "c.star")])) == (
        f"{project / 'c.star'}: line 10: rlnCoordinateY is x, expected a finite number"
    )
    write(project / "d.star", relion_table(CORNER, [[1, 2, 3], [1, "2_0", 3]]))
    assert refused(relion_list(project / "o.star", [("TS_01", "d.star")])) == (
        f"{project / 'd.star'}: line 11: rlnCoordinateY is 2_0, expected a finite number"
    )


def test_refused_a_list_without_the_file_column_in_its_first_block(project: Path) -> None:
    path = write(
        project / "l.star",
        relion_table(["rlnTomoName"], [["TS_01"]], "optics")
        + relion_table(["rlnTomoName", "rlnTomoImportParticleFile"], [["TS_01", "a.star"]], "list"),
    )
    assert refused(path) == (
        f"{path}: line 4: data_optics has no rlnTomoImportParticleFile; RELION's import reads the first data_ block, "
        "expected rlnTomoName and rlnTomoImportParticleFile"
    )


def test_refused_crlf_star_files_as_relion_refuses_them(project: Path) -> None:
    write(project / "a.star", relion_table(CORNER, [[1, 2, 3]]).replace("\n", "\r\n"))
    path = relion_list(project / "l.star", [("TS_01", "a.star")])
    assert refused(path) == (
        f"{project / 'a.star'}: line 1: ends in CR+LF, which RELION's STAR reader refuses; convert it with dos2unix"
    )


def test_refused_a_star_path_relion_would_cut(project: Path) -> None:
    write(project / "a:b.star", relion_table(CORNER, [[1, 2, 3]]))
    path = relion_list(project / "l.star", [("TS_01", "a:b.star")])
    assert "line 9: a:b.star holds ':' or '#'" in refused(path)


@pytest.mark.real_data
def test_real_relion5_picks_annotation_file(project: Path) -> None:
    annotation = SHARED_DATA / "tomo/cets-relion__Picks_job019_TS_54_particles.star"
    if not annotation.is_file():
        pytest.skip(NO_SHARED_DATA)
    picks = read_import_list(relion_list(project / "l.star", [("TS_54", str(annotation))]))
    table = starfile.read(annotation)
    assert len(picks) == len(table) == 1418
    np.testing.assert_array_equal(picks.centres, table[CORNER].to_numpy(float))
    assert picks.frame == "corner-pixel"
    written = write_import_list([(picks, np.ones(len(picks), bool))], "out")
    assert written.files[0].read_bytes() == annotation.read_bytes()
    keep = np.arange(len(picks)) % 3 != 0
    written = write_import_list([(picks, keep)], "sub")
    np.testing.assert_array_equal(
        starfile.read(written.files[0])[CORNER].to_numpy(float), table[CORNER].to_numpy(float)[keep]
    )


@pytest.mark.real_data
def test_real_relion5_picks_of_five_tomograms_listed_for_one(project: Path) -> None:
    particles = SHARED_DATA / "tomo/cets-relion__Picks_job019_particles.star"
    if not particles.is_file():
        pytest.skip(NO_SHARED_DATA)
    names = starfile.read(particles)["rlnTomoName"].tolist()
    other = next(name for name in names if name != names[0])  # the first row of another tomogram
    path = relion_list(project / "l.star", [(names[0], str(particles))])
    message = refused(path)
    expected = f"rlnTomoName is {other}, but the list names this file for tomogram {names[0]} (line 9)"
    assert message.startswith(f"{particles}: line ") and expected in message
    line = int(message.split("line ")[1].split(":")[0])
    assert particles.read_text().splitlines()[line - 1].split()[0] == other
