"""Writers: a RELION coordinate job read back with starfile, a .cs that cryosparc-tools
loads with a valid location slot, and the picker's own format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import starfile

from cryodedup.errors import CryodedupError
from cryodedup.formats.cryosparc.dataset import CsFile
from cryodedup.formats.cryosparc.particles import read_dataset
from cryodedup.formats.picks import read_picks
from cryodedup.formats.picks.write import _path_text, write_cryosparc, write_like_input, write_relion
from cryodedup.options import ParticleOptions
from helpers import read_request
from picker_files import cbox_text, relion3_job


@pytest.fixture
def two_pickers(tmp_path):
    """A RELION 3.1 AutoPick job and a crYOLO folder on the same two micrographs."""
    job, names = relion3_job(tmp_path, {"m1": [(100.5, 200.25, 0.3), (10, 20, 0.1)], "m2": [(7, 8, 1.5)]})
    cbox = tmp_path / "cryolo/CBOX"
    cbox.mkdir(parents=True)
    # Corners; centres (100 + 50, 200 + 50) = (150, 250) and (500 + 50, 600 + 50) = (550, 650).
    (cbox / "m2.cbox").write_text(cbox_text([(100.0, 200.0, 100.0, 100.0, 0.9), (500.0, 600.0, 100.0, 100.0, 0.2)]))
    star = tmp_path / "CtfFind/job003/micrographs_ctf.star"
    relion = read_picks(job, project_dir=tmp_path)
    cryolo = read_picks(tmp_path / "cryolo", micrographs=star)
    return tmp_path, names, relion, cryolo


def test_merged_relion_job_reads_back(two_pickers, monkeypatch):
    root, names, relion, cryolo = two_pickers
    monkeypatch.chdir(root)
    keep = np.array([True, False, True, True, False])  # relion m1 a, b; relion m2; cryolo m2 x2
    lists = write_relion([relion, cryolo], keep, "Dedup/job050")
    assert lists["kept"] == [root.joinpath("Dedup/job050/autopick_kept.star").relative_to(root)]
    table = starfile.read("Dedup/job050/autopick_kept.star")
    assert table["rlnMicrographName"].tolist() == names
    assert table["rlnMicrographCoordinates"].tolist() == [
        "Dedup/job050/kept/Movies/m1_autopick.star",
        "Dedup/job050/kept/Movies/m2_autopick.star",
    ]
    m1 = starfile.read("Dedup/job050/kept/Movies/m1_autopick.star")
    m2 = starfile.read("Dedup/job050/kept/Movies/m2_autopick.star")
    np.testing.assert_allclose(m1[["rlnCoordinateX", "rlnCoordinateY"]], [[100.5, 200.25]])
    np.testing.assert_allclose(m2[["rlnCoordinateX", "rlnCoordinateY"]], [[7, 8], [150, 250]])
    np.testing.assert_allclose(m2["rlnAutopickFigureOfMerit"], [1.5, 0.9], rtol=1e-6)
    rejected = starfile.read("Dedup/job050/rejected/Movies/m2_autopick.star")
    np.testing.assert_allclose(rejected[["rlnCoordinateX", "rlnCoordinateY"]], [[550, 650]])
    with pytest.raises(CryodedupError, match="already exists"):
        write_relion([relion, cryolo], keep, "Dedup/job050")


def test_single_relion_input_rows_are_byte_copies(two_pickers):
    root, _, relion, _ = two_pickers
    write_relion([relion], [False, True, True], root / "out")
    text = (root / "out/kept/Movies/m1_autopick.star").read_text()
    original = (root / "AutoPick/job006/Movies/m1_autopick.star").read_text()
    first_pick = original.splitlines()[-3]  # the file ends with its two rows and an empty line
    assert first_pick.startswith("  100.500000") and text == original.replace(first_pick + "\n", "")


def test_cs_output_loads_with_location(two_pickers):
    from cryosparc.dataset import Dataset

    root, names, relion, cryolo = two_pickers
    shapes = {names[0]: (4000, 3000), names[1]: (4000, 3000)}
    keep = np.array([True, False, True, True, False])
    paths = write_cryosparc([relion, cryolo], keep, root / "cs", shapes=shapes, psize=0.885)
    kept = Dataset.load(paths["kept"])
    assert len(kept) == 3 and len(set(kept["uid"])) == 3
    assert [p.decode() if isinstance(p, bytes) else p for p in kept["location/micrograph_path"]] == [
        names[0],
        names[1],
        names[1],
    ]
    assert kept["location/micrograph_shape"].tolist() == [[4000, 3000]] * 3
    # Centres back from fractions: x = frac_x * nx, y = frac_y * ny.
    x = kept["location/center_x_frac"] * 3000
    y = kept["location/center_y_frac"] * 4000
    np.testing.assert_allclose(np.column_stack([x, y]), [[100.5, 200.25], [7, 8], [150, 250]], rtol=1e-6)
    assert len(set(kept["location/micrograph_uid"].tolist())) == 2
    np.testing.assert_allclose(kept["location/micrograph_psize_A"], 0.885, rtol=1e-6)
    assert len(Dataset.load(paths["rejected"])) == 2
    with pytest.raises(CryodedupError, match="size is unknown"):
        write_cryosparc([relion], [True] * 3, root / "cs2", shapes={}, psize=1.0)


def test_picks_cs_goes_through_the_one_cs_writer_and_reads_back_in_angstrom(two_pickers, monkeypatch):
    root, names, relion, cryolo = two_pickers
    saved = []
    save = CsFile.save
    monkeypatch.setattr(CsFile, "save", lambda self, path: (saved.append(Path(path)), save(self, path))[1])
    shapes = {names[0]: (4000, 3000), names[1]: (4000, 3000)}
    paths = write_cryosparc([relion, cryolo], [True, False, True, True, False], root / "cs", shapes=shapes, psize=0.5)
    assert len(saved) == 2  # kept and rejected, each written by CsFile.save (under its temporary name)
    request = read_request(ParticleOptions(score="none"))
    kept = read_dataset(CsFile.load(paths["kept"]), request.scale, request.score_read, request.row_read, lambda m: None)
    # By hand: pixels (100.5, 200.25), (7, 8), (150, 250) at 0.5 Å per pixel.
    np.testing.assert_allclose(kept.centres, [[50.25, 100.125], [3.5, 4.0], [75.0, 125.0]], rtol=1e-6)
    assert kept.mic_names == [names[0], names[1]]


def test_same_format_outputs(two_pickers, tmp_path):
    root, _, _, cryolo = two_pickers
    targets = write_like_input(cryolo, [False, True], root / "same")
    kept = read_picks(targets["kept"][0])
    np.testing.assert_array_equal(kept.centres, [[550, 650]])
    original = (root / "cryolo/CBOX/m2.cbox").read_text()
    assert targets["kept"][0].read_text() == original.replace(original.splitlines()[-2] + "\n", "")
    topaz = tmp_path / "t.txt"
    topaz.write_text("image_name\tx_coord\ty_coord\tscore\na\t1\t2\t0.5\nb\t3\t4\t0.1\n")
    out = write_like_input(read_picks(topaz, topaz_scale=1), [True, False], tmp_path / "tz")
    assert out["kept"][0].read_text() == "image_name\tx_coord\ty_coord\tscore\na\t1\t2\t0.5\n"
    assert out["rejected"][0].read_text() == "image_name\tx_coord\ty_coord\tscore\nb\t3\t4\t0.1\n"


def test_two_relion_jobs_merge_into_a_tree_of_byte_copies(tmp_path):
    # The whole output tree, file for file: each per-micrograph file is the inputs' header and
    # the subset's rows, first picker's then second's, each row its input line unchanged.
    from picker_files import autopick_text

    picks = {"m1": [(100.5, 200.25, 0.3), (10, 20, 0.1)], "m2": [(7, 8, 1.5)], "m3": []}
    job, _ = relion3_job(tmp_path, picks)
    second = {"m1": [(101.0, 201.0, 0.9)], "m2": [(300.0, 40.0, 0.2), (7.5, 8.5, 0.05)], "m3": [(1, 2, 3)]}
    other = tmp_path / "AutoPick/job007"
    (other / "Movies").mkdir(parents=True)
    (other / "coords_suffix_autopick.star").write_text("CtfFind/job003/micrographs_ctf.star\n")
    for mic, rows in second.items():
        (other / f"Movies/{mic}_autopick.star").write_text(autopick_text(rows))
    inputs = [read_picks(job, project_dir=tmp_path), read_picks(other, project_dir=tmp_path)]
    keep = np.array([True, False, True, False, True, False, True])  # job006 m1 x2, m2; job007 m1, m2 x2, m3
    write_relion(inputs, keep, tmp_path / "out")

    header = autopick_text([])
    lines = {
        (j, m): autopick_text(rows)[len(header) - 1 :].splitlines(keepends=True)[:-1]
        for j, mics in enumerate([picks, second])
        for m, rows in mics.items()
    }
    expected = {}
    flags = iter(keep)
    chosen = {(j, m): [next(flags) for _ in lines[j, m]] for j in (0, 1) for m in ("m1", "m2", "m3")}
    for subset, wanted in (("kept", True), ("rejected", False)):
        for m in ("m1", "m2", "m3"):
            rows = [line for j in (0, 1) for line, flag in zip(lines[j, m], chosen[j, m]) if flag == wanted]
            expected[f"{subset}/Movies/{m}_autopick.star"] = header[:-1] + "".join(rows) + "\n"
    out = tmp_path / "out"
    written = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert set(written) == set(expected) | {"autopick_kept.star", "autopick_rejected.star"}
    for name, text in expected.items():
        assert written[name] == text, name
    assert [p.name for p in out.rglob(".*")] == []  # no temporary left


@pytest.mark.slow
def test_more_files_than_the_map_limit_are_written(tmp_path):
    # Linux allows a process 65530 memory maps (vm.max_map_count): a writer that held every
    # source file mapped at once failed here. 70,000 EMAN .box files of one pick each.
    folder = tmp_path / "boxes"
    folder.mkdir()
    n = 70_000
    for k in range(n):
        (folder / f"m{k:05d}.box").write_text(f"{k}\t{2 * k}\t100\t100\n")
    picks = read_picks(folder)
    assert len(picks) == n
    keep = np.arange(n) % 3 != 0
    targets = write_like_input(picks, keep, tmp_path / "out")
    assert len(targets["kept"]) == n and len(targets["rejected"]) == n
    # Each output is its input's line in its subset, and empty in the other (hand-worked).
    for k in (0, 1, 65_531, n - 1):
        line = f"{k}\t{2 * k}\t100\t100\n"
        kept = (tmp_path / f"out/kept/m{k:05d}.box").read_text()
        rejected = (tmp_path / f"out/rejected/m{k:05d}.box").read_text()
        assert (kept, rejected) == (("", line) if k % 3 == 0 else (line, ""))


@pytest.mark.parametrize(
    "text",
    [
        "out/kept/Movies/x_autopick.star",
        "./out/kept/x.star",
        "out/kept//Movies/x.star",
        "out/./kept/x.star",
        "out/kept/",
        "out/kept/.",
        "//out/x.star",
        "/abs/out/kept/Movies/x.star",
        "out/../kept/x.star",
        ".",
    ],
)
def test_output_names_are_spelt_as_paths_spell_them(text):
    # The coordinate list names each file as str(Path(...)) did: the same bytes whatever the spelling.
    assert _path_text(text) == str(Path(text))
