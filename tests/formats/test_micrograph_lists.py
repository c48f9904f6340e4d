"""cryodedup.formats.micrograph_lists: micrographs STAR, CryoSPARC exposures and MRC globs, read by one reader each."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cryodedup import CryodedupError, MicrographOptions, find_duplicate_micrographs
from cryodedup.formats.cryosparc.exposures import exposure_pixel_sizes
from cryodedup.formats.micrograph_lists import (
    found_under,
    images_found,
    load_inputs,
    micrograph_list,
)
from cryodedup.formats.star.micrographs import micrograph_names, micrograph_pixel_sizes
from helpers import PLANTED_MICROGRAPHS, planted_original, shared_file, star_text, write_planted_micrographs


def hand_parsed_names(path):
    """The first column of the one loop of a RELION list, split by hand (no STAR reader)."""
    lines = [line.split() for line in path.read_text().splitlines()]
    return [fields[0] for fields in lines if fields and not fields[0].startswith(("_", "#", "data_", "loop_"))]


@pytest.mark.real_data
def test_the_names_of_a_real_list_are_read_alike_by_every_reader():
    path = shared_file("picks/3dem__autopick_list.star")
    expected = hand_parsed_names(path)
    assert len(expected) == 24 and expected[0] == "MotionCorr/job002/Movies/20170629_00021_frameImage.mrc"
    assert micrograph_names(path) == expected
    assert load_inputs([path]).names == expected


def test_quoted_micrograph_names_are_unquoted_as_relion_reads_them(tmp_path):
    # RELION quotes a name holding a space; the micrograph job read the quotes as part of the
    # file name (not found), while the particle job's reader took them off.
    folder = tmp_path / "Motion Corr"
    folder.mkdir()
    (tmp_path / "planted").mkdir()
    planted = write_planted_micrographs(tmp_path / "planted")
    names = []
    for k, source in enumerate(planted, start=1):
        shutil.copy(source, folder / f"mic {k}.mrc")
        names.append(f"Motion Corr/mic {k}.mrc")
    star = tmp_path / "micrographs.star"
    star.write_text(star_text(["rlnMicrographName"], [[f'"{n}"'] for n in names], block="micrographs"))
    assert micrograph_names(star) == names
    summary = find_duplicate_micrographs(
        [star], tmp_path / "out", MicrographOptions(bin=1, project_dir=tmp_path, candidates="window", window=8)
    ).to_json()
    rows = (tmp_path / "out" / "duplicates.csv").read_text().splitlines()
    expected = [f"{names[planted_original(k) - 1]},{names[k - 1]}" for k in sorted(PLANTED_MICROGRAPHS)]
    assert rows == ["Original,Duplicate", *expected]
    assert summary["rejected"] == len(PLANTED_MICROGRAPHS)
    # The kept rows are the input's own lines, quotes and all.
    kept = (tmp_path / "out" / "micrographs_kept.star").read_text()
    assert f'"{names[0]}"' in kept and f'"{names[5]}"' not in kept


def test_pixel_sizes_of_relion_3_0_and_3_1_lists(tmp_path):
    old = tmp_path / "old.star"
    old.write_text(
        star_text(
            ["rlnMicrographName", "rlnDetectorPixelSize", "rlnMagnification"],
            [["a.mrc", 5.0, 50000], ["b.mrc", 14.0, 105000]],
            block="micrographs",
        )
    )
    assert micrograph_pixel_sizes(old) == pytest.approx({"a.mrc": 1.0, "b.mrc": 1.3333333})  # 1e4 * 5 / 50000
    new = tmp_path / "new.star"
    optics_labels = ["rlnOpticsGroup", "rlnMicrographPixelSize"]
    rows = [["a.mrc", 1], ["b.mrc", 2]]
    new.write_text(
        star_text(
            ["rlnMicrographName", "rlnOpticsGroup"], rows, optics=[[1, 0.83], [2, 1.06]], optics_labels=optics_labels
        )
    )
    listed = micrograph_list(new)
    assert listed.names == ["a.mrc", "b.mrc"]
    assert listed.pixel_sizes == {"a.mrc": 0.83, "b.mrc": 1.06}
    with pytest.raises(CryodedupError, match=r"micrographs of different pixel sizes \(\[0.83, 1.06\]\)"):
        load_inputs([new])
    assert load_inputs([new], psize=0.9).psize == 0.9  # --psize overrides


def test_a_star_without_micrographs_and_exposures_without_a_field_are_named(tmp_path):
    star = tmp_path / "coords.star"
    star.write_text(star_text(["rlnCoordinateX"], [[1.0]]))
    for read in (micrograph_names, micrograph_list, micrograph_pixel_sizes, lambda p: load_inputs([p])):
        with pytest.raises(
            CryodedupError, match=r"coords.star: no rlnMicrographName column \(is this a micrographs STAR\?\)"
        ):
            read(star)
    exposures = tmp_path / "exposures.cs"
    rows = np.array([(7, 0.5), (9, 1.25)], dtype=[("uid", "<u8"), ("micrograph_blob/psize_A", "<f4")])
    with open(exposures, "wb") as f:
        np.save(f, rows)
    assert exposure_pixel_sizes(exposures) == {7: 0.5, 9: 1.25}
    for read in (micrograph_list, lambda p: load_inputs([p])):
        with pytest.raises(
            CryodedupError, match=r"exposures.cs: no micrograph_blob/path field; expected CryoSPARC exposures"
        ):
            read(exposures)


def test_a_list_naming_a_micrograph_twice_is_refused_not_compared_with_itself(tmp_path):
    # A particle STAR given as the micrograph list names each micrograph once per particle:
    # each row was compared with its copies and rejected as a perfect duplicate, exit 0.
    (tmp_path / "planted").mkdir()
    planted = write_planted_micrographs(tmp_path / "planted")
    rows = [[str(p), str(x)] for p in planted[:4] for x in (10, 20, 30)]  # three particles a micrograph
    star = tmp_path / "particles.star"
    star.write_text(star_text(["rlnMicrographName", "rlnCoordinateX"], rows, block="particles"))
    with pytest.raises(
        CryodedupError, match=r"particles.star: a particles STAR \(data_particles: rlnCoordinateX\), not"
    ):
        load_inputs([star])
    # Without a particle column, a micrograph named twice is refused as such.
    star.write_text(star_text(["rlnMicrographName", "rlnDefocusU"], rows, block="micrographs"))
    with pytest.raises(CryodedupError, match=r"particles.star: micrograph .*planted.* is listed again on row 2"):
        load_inputs([star])


def test_images_are_found_under_any_root_with_a_stat_per_folder_where_none_are(tmp_path, monkeypatch):
    # Issue 29: --plot counted the missing images with a path resolution per micrograph
    # (0.3-0.7 s for 5,000). Oracle: os.path.exists of every name under every root.
    roots = [tmp_path / "project", tmp_path / "project" / "job", tmp_path]
    for folder in ("project/Movies", "Movies", "project/job/Other"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    for name in ("project/Movies/a.mrc", "Movies/b.mrc", "project/job/Other/c.mrc", "abs.mrc"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "Movies" / "gone.mrc").symlink_to(tmp_path / "nowhere.mrc")  # a broken link is not an image
    names = ["Movies/a.mrc", "Movies/b.mrc", "Other/c.mrc", "Movies/d.mrc", "Movies/gone.mrc", "x/../Movies/b.mrc"]
    names += [str(tmp_path / "abs.mrc"), str(tmp_path / "no.mrc"), "Movies/", "a.mrc", "Missing/e.mrc"]
    expected = [any(os.path.exists(os.path.join(root, n)) for root in roots) for n in names]
    assert expected == [True, True, True, False, False, False, True, False, True, False, False]
    assert found_under(names, roots) == expected
    # 2,000 names in a folder that exists under no root: a stat per root, not per name.
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a[0]) or real_stat(*a, **k))
    assert found_under([f"MotionCorr/job002/Movies/m{k}.mrc" for k in range(2000)], roots) == [False] * 2000
    assert len(stats) == len(roots)


def test_images_are_found_as_one_name_at_a_time_finds_them_with_a_stat_per_missing_folder(tmp_path, monkeypatch):
    # The page's thumbnails look for every micrograph's image (50,000 at 10M particles: 0.26 s
    # of names made and looked up, none there). Oracle: each name's candidates under each root in turn.
    roots = [tmp_path / "project", tmp_path]
    for image in ("project/Movies/a.mrc", "Movies/a.mrc", "Movies/stem.mrc", "Movies/stem", "Other/bare", "abs.mrc"):
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / image).write_bytes(b"")
    names = ["Movies/a.mrc", "Movies/stem", "Movies/c.mrc", "Other/bare", "Gone/a.mrc", "stem", "Movies/"]
    names += [str(tmp_path / "abs.mrc"), str(tmp_path / "Gone" / "d.mrc")]

    def first_found(name: str) -> str | None:
        stem = not os.path.splitext(name.rstrip("/"))[1]
        for candidate in [name + ".mrc", name] if stem else [name]:
            for root in roots:
                if os.path.isfile(os.path.join(root, candidate)):
                    return os.path.join(root, candidate)
        return None

    expected = {k: first_found(n) for k, n in enumerate(names) if first_found(n)}
    assert {k: str(p) for k, p in images_found(names, roots).items()} == expected
    assert list(expected) == [0, 1, 3, 7]
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a[0]) or real_stat(*a, **k))
    assert images_found([f"MotionCorr/job002/Movies/m{k}" for k in range(2000)], roots) == {}
    assert len(stats) == len(roots)


def test_absent_images_are_counted_by_any_of_their_names_with_a_stat_per_missing_folder(tmp_path, monkeypatch):
    # --plot's count of micrographs without an image (issue 43: 5 ms of Python holding the lock
    # while the pictures waited; now the page's images found, counted). Oracle: os.path.isfile of
    # each name a micrograph's image may have (a picker's stem: STEM.mrc, then STEM) under every
    # root (a folder of the name is no image).
    roots = [tmp_path / "project", tmp_path]
    for image in ("project/Movies/a.mrc", "project/Movies/stem.mrc", "Movies/b.mrc", "Other/bare", "abs.mrc"):
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / image).write_bytes(b"")
    names = ["Movies/a.mrc", "Movies/stem", "Movies/b.mrc", "Movies/c.mrc", "Other/bare", "Other/x", "Gone/a.mrc"]
    names += [str(tmp_path / "abs.mrc"), str(tmp_path / "nothere.mrc"), str(tmp_path / "Gone" / "d.mrc"), "Movies/"]

    def candidates(name: str) -> list[str]:
        stem = not os.path.splitext(name.rstrip("/"))[1]
        return [name + ".mrc", name] if stem else [name]

    absent = [not any(os.path.isfile(os.path.join(r, c)) for r in roots for c in candidates(n)) for n in names]
    assert absent == [False, False, False, True, False, True, True, False, True, True, True]
    assert len(names) - len(images_found(names, roots)) == sum(absent)
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a[0]) or real_stat(*a, **k))
    assert images_found([f"MotionCorr/job002/Movies/m{k}" for k in range(2000)], roots) == {}
    assert len(stats) == len(roots)
