"""--match-micrographs: the same micrographs named under other folders (or by CryoSPARC) are compared.

Each case is checked against the brute-force oracle run on the micrograph matching the test
itself writes down (which rows share a micrograph), never on the code's own grouping.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.formats.micrograph_lists import ListedPixelSizes
from cryodedup.particle_set import PsizeFrom, pixel_size_entries, pixel_size_of_rows
from cryodedup.report.analysis_rows import matching_text
from cryodedup.resolve import (
    NO_AUTO_SCORE,
    UNKNOWN_COLUMN,
    UNKNOWN_ORDER,
    Score,
    match_micrographs,
    name_key,
    pixel_size_source,
    resolve_score,
)
from cryodedup.resolve.micrograph_names import name_key_ids
from fixtures.synthetic import write_cs
from helpers import LOCATION_FIELDS, star_text
from oracle import oracle, oracle_by_group
from picker_files import MICROGRAPHS, autopick_text, cbox_text, relion3_job, write_topaz

PSIZE = 0.885  # Å per micrograph pixel, as the tutorial's
MOVIES = [f"20170629_000{k:02d}_frameImage" for k in range(21, 45)]  # 24 micrographs, tutorial-like names
LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnImageName", "rlnMicrographName",
          "rlnOpticsGroup"]  # fmt: skip
OPTICS = [[1, "opticsGroup1", 3.54, PSIZE]]


def extract_job(rng, movies, folder="MotionCorr/job002/Movies", per_mic=(60, 120)):
    """An Extract job's rows: particles at least 200 Å apart on each micrograph, scored."""
    rows = []
    for movie in movies:
        n = int(rng.integers(*per_mic))
        grid = rng.permutation(16 * 16)[:n]  # on a 16 x 16 grid of 250 px (221 Å): no two within 200 Å
        for i, cell in enumerate(grid):
            x, y = 200 + 250 * (cell % 16) + rng.uniform(-10, 10), 200 + 250 * (cell // 16) + rng.uniform(-10, 10)
            image = f"{i + 1:06d}@Extract/job007/Movies/{movie}.mrcs"
            rows.append([f"{x:.6f}", f"{y:.6f}", f"{rng.uniform(0, 3):.6f}", image, f"{folder}/{movie}.mrc", 1])
    return rows


def copy_under(rows, folder, extract="Extract/job099"):
    """The same particles, their micrographs named under another folder (a re-processed copy)."""
    out = []
    for x, y, fom, image, mic, group in rows:
        out.append([x, y, fom, image.replace("Extract/job007", extract), f"{folder}/{mic.rsplit('/', 1)[1]}", group])
    return out


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(star_text(LABELS, rows, optics=OPTICS))
    return path


def oracle_keep(rows, micrograph_of, min_dist):
    """The brute-force decision on every pair, rows on the same micrograph by ``micrograph_of``."""
    ids: dict[str, int] = {}
    groups = [ids.setdefault(micrograph_of(i, r), len(ids)) for i, r in enumerate(rows)]
    coords = [(float(r[0]) * PSIZE, float(r[1]) * PSIZE) for r in rows]
    keep, _ = oracle(groups, coords, [float(r[2]) for r in rows], min_dist)
    return np.array(keep)


def kept_images(outdir):
    text = (outdir / "particles_kept.star").read_text()
    return [line.split()[3] for line in text.splitlines() if "@Extract/" in line]


@pytest.fixture
def tutorial(tmp_path):
    rng = np.random.default_rng(27)
    rows = extract_job(rng, MOVIES)
    first = write(tmp_path / "Extract/job007/particles.star", rows)
    copy = write(tmp_path / "Extract/job099/particles.star", copy_under(rows, "MotionCorr/job099/Movies"))
    return rows, first, copy


@pytest.mark.slow
def test_a_reprocessed_copy_is_matched_by_file_name_and_every_copy_rejected(tutorial, tmp_path):
    rows, first, copy = tutorial
    both = rows + copy_under(rows, "MotionCorr/job099/Movies")
    # The matching written down: one micrograph per movie, whichever MotionCorr job named it.
    expected = oracle_keep(both, lambda i, r: r[4].rsplit("/", 1)[1], 0.0)
    assert expected.sum() == len(rows)  # every copy has an exact original
    summary = remove_duplicate_particles([first, copy], tmp_path / "out", ParticleOptions(min_dist=0))
    assert (summary.kept, summary.rejected) == (len(rows), len(rows))
    assert summary.micrographs == len(MOVIES)
    matching = summary.to_json()["micrograph_matching"]
    assert matching["mode"] == "auto" and matching["matched_by_name"] == len(MOVIES)
    assert "file name" in matching["used"] and "MotionCorr/job099/Movies/" in matching["example"]
    kept = kept_images(tmp_path / "out")
    assert kept == [r[3] for r, k in zip(both, expected) if k]  # the first input's rows, in order


@pytest.mark.slow
def test_at_20_angstrom_the_decision_is_the_brute_force_one_on_the_written_matching(tutorial, tmp_path):
    rows, first, _ = tutorial
    rng = np.random.default_rng(5)
    moved = [[f"{float(r[0]) + rng.uniform(-12, 12):.6f}", r[1], f"{rng.uniform(0, 3):.6f}", *r[3:]] for r in rows]
    other = write(tmp_path / "Extract/job099/particles.star", copy_under(moved, "MotionCorr/job099/Movies"))
    both = rows + copy_under(moved, "MotionCorr/job099/Movies")
    expected = oracle_keep(both, lambda i, r: r[4].rsplit("/", 1)[1], 20.0)
    summary = remove_duplicate_particles([first, other], tmp_path / "out", ParticleOptions(min_dist=20))
    assert summary.kept == expected.sum() and summary.rejected == len(both) - expected.sum()
    assert kept_images(tmp_path / "out") == [r[3] for r, k in zip(both, expected) if k]


def test_path_matching_compares_nothing_across_the_folders(tutorial, tmp_path):
    _, first, copy = tutorial
    options = ParticleOptions(min_dist=0, match_micrographs="path")
    summary = remove_duplicate_particles([first, copy], tmp_path / "out", options)
    assert summary.rejected == 0 and summary.micrographs == 2 * len(MOVIES)
    assert summary.to_json()["micrograph_matching"] == {"mode": "path", "used": "exact path", "matched_by_name": 0}


def test_name_matching_that_found_only_shared_paths_says_so_not_by_path():
    # Asked for names, the inputs named every micrograph alike: the words must not read as if
    # --match-micrographs name had been ignored.
    summary = match_micrographs([["M/job002/a.mrc", "M/job002/b.mrc"], ["M/job002/a.mrc"]], "name").summary()
    assert summary["matched_by_name"] == 0
    text = matching_text(summary)
    assert text.startswith("--match-micrographs name: by file name; no two inputs have a file name under different")
    assert "by exact path" not in text
    assert matching_text({"mode": "auto", "used": "exact path", "matched_by_name": 0}).endswith("auto: by exact path")


NAME_ZERO = "file name; no two inputs have a file name under different paths, so every match is an exact path"


@pytest.mark.parametrize(
    ("names_by_input", "mode", "used"),
    [
        # Each case's matching by hand: which pairs of inputs share a path (auto compares those
        # by path, the others by file name), and whether a file name joins two paths.
        ([["A/a.mrc"], ["B/b.mrc"]], "name", NAME_ZERO),
        ([["A/a.mrc"], ["B/b.mrc"]], "auto", NAME_ZERO),  # no path shared: names compared, none matched
        ([["A/a.mrc"], ["A/a.mrc"]], "name", NAME_ZERO),
        ([["A/a.mrc"], ["A/a.mrc"]], "auto", "exact path (the inputs share micrograph paths)"),
        (
            [["A/a.mrc", "A/c.mrc"], ["A/a.mrc"], ["B/b.mrc"]],  # 0-1 share a path; 2 shares none
            "auto",
            "file name between inputs that share no micrograph path, exact path between the others; "
            "no two inputs have a file name under different paths",
        ),
        ([["A/a.mrc"], ["B/b.mrc"]], "path", "exact path"),
        ([["A/a.mrc"], ["B/a.mrc"]], "name", "exact path, and file name for micrographs under different paths"),
        ([["A/a.mrc", "B/b.mrc"]], "name", "exact path"),  # one input: nothing to compare
    ],
)
def test_used_says_what_was_done_even_when_nothing_matched_by_name(names_by_input, mode, used):
    assert match_micrographs(names_by_input, mode).summary()["used"] == used


def test_name_mode_with_nothing_matched_says_file_name_in_json_and_terminal(tmp_path):
    # Two Extract jobs on different movies under different folders: names compared, none shared.
    first = write(tmp_path / "a.star", extract_job(np.random.default_rng(1), MOVIES[:2]))
    rows = copy_under(extract_job(np.random.default_rng(2), MOVIES[2:4]), "MotionCorr/job099/Movies")
    second = write(tmp_path / "b.star", rows)
    args = ["particles", str(first), str(second), "--match-micrographs", "name", "--min-dist", "20"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    matching = json.loads(result.stdout)["micrograph_matching"]
    assert (matching["matched_by_name"], matching["used"]) == (0, NAME_ZERO)
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "terminal")], env={"COLUMNS": "300"})
    assert f"--match-micrographs name: by {NAME_ZERO}" in result.output


def test_the_summary_says_what_was_matched_in_the_terminal_and_json(tutorial, tmp_path):
    rows, first, copy = tutorial
    args = ["particles", str(first), str(copy), "-o", str(tmp_path / "out"), "--min-dist", "0", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Micrograph matching" in result.stderr and "24 micrographs matched by file name" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["micrograph_matching"]["matched_by_name"] == 24 and summary["rejected"] == len(rows)


def test_inputs_that_share_paths_are_matched_by_path_and_a_renamed_one_is_named(tmp_path):
    """auto: two inputs on job002 share paths; a micrograph one of them has under job099 is not compared."""
    rng = np.random.default_rng(3)
    rows = extract_job(rng, MOVIES[:4], per_mic=(5, 8))
    a = write(tmp_path / "a.star", rows)
    last = [r for r in rows if r[4].endswith(MOVIES[3] + ".mrc")]
    moved = [r for r in rows if r not in last] + copy_under(last, "MotionCorr/job099/Movies")  # one re-processed
    b = write(tmp_path / "b.star", moved)
    warnings: list[str] = []
    summary = remove_duplicate_particles(
        [a, b], tmp_path / "out", ParticleOptions(min_dist=0), log=lambda m, level: warnings.append(m)
    )
    n_last = len(last)
    expected = oracle_keep(rows + moved, lambda i, r: r[4], 0.0)  # by exact path
    assert summary.kept == expected.sum() == len(rows) + n_last
    assert summary.to_json()["micrograph_matching"]["not_matched"] == 1
    assert any("--match-micrographs name compares them" in w for w in warnings)
    by_name = remove_duplicate_particles(
        [a, b], tmp_path / "out2", ParticleOptions(min_dist=0, match_micrographs="name")
    )
    assert by_name.kept == len(rows)


def test_one_input_never_merges_two_folders_that_share_file_names(tmp_path):
    """relion issue 615: four MotionCorr jobs with the same movie names are four sets of micrographs."""
    rng = np.random.default_rng(615)
    rows = extract_job(rng, MOVIES[:3], per_mic=(6, 9))
    twin = copy_under(rows, "MotionCorr/job003/Movies")  # another dataset: same names, same positions
    one = write(tmp_path / "one.star", rows + twin)
    warnings: list[str] = []
    summary = remove_duplicate_particles(
        [one], tmp_path / "out", ParticleOptions(min_dist=0, match_micrographs="name"),
        log=lambda m, level: warnings.append(m) if level == "warning" else None,
    )  # fmt: skip
    assert summary.rejected == 0 and summary.micrographs == 6  # the oracle on paths: nothing close
    assert oracle_keep(rows + twin, lambda i, r: r[4], 0.0).all()
    (line,) = [w for w in warnings if "folders" in w]
    assert "MotionCorr/job002/Movies" in line and "MotionCorr/job003/Movies" in line and "\n" not in line
    # A copy of one of the two (under a third folder, in another input): matched to neither.
    third = write(tmp_path / "third.star", copy_under(rows, "MotionCorr/job099/Movies"))
    summary = remove_duplicate_particles([one, third], tmp_path / "out2", ParticleOptions(min_dist=0))
    expected = oracle_keep(rows + twin + copy_under(rows, "MotionCorr/job099/Movies"), lambda i, r: r[4], 0.0)
    assert summary.rejected == 0 and expected.all()
    assert summary.to_json()["micrograph_matching"]["kept_apart"] == 6


def test_one_input_decided_while_read_is_unchanged(tutorial, tmp_path):
    """The one-pass STAR path (one input): matching has nothing to do, the outputs are written as read."""
    _, first, _ = tutorial
    summary = remove_duplicate_particles([first], tmp_path / "out", ParticleOptions(min_dist=0))
    assert summary.to_json()["timings"]["one_pass"] and summary.rejected == 0
    assert summary.to_json()["micrograph_matching"]["matched_by_name"] == 0


# --- CryoSPARC names ----------------------------------------------------------------------


def cryosparc_name(movie: str, uid: int, job: str = "J12") -> str:
    return f"{job}/motioncorrected/{uid:021d}_{movie}_patch_aligned_doseweighted.mrc"


@pytest.mark.slow
def test_a_cryosparc_export_is_matched_to_a_relion_extraction(tutorial, tmp_path):
    rows, first, _ = tutorial
    uids = {m: 10**19 + 7919 * k for k, m in enumerate(MOVIES)}
    exported = [[*r[:4], cryosparc_name(r[4].rsplit("/", 1)[1][:-4], uids[r[4].rsplit("/", 1)[1][:-4]]), r[5]]
                for r in rows]  # fmt: skip
    export = write(tmp_path / "exported/particles.star", exported)
    movie_of = [r[4].rsplit("/", 1)[1][: -len(".mrc")] for r in rows] * 2  # the matching, written down
    expected = oracle_keep(rows + exported, lambda i, r: movie_of[i], 0.0)
    summary = remove_duplicate_particles([first, export], tmp_path / "out", ParticleOptions(min_dist=0))
    assert summary.rejected == len(rows) == len(rows + exported) - expected.sum()
    assert summary.to_json()["micrograph_matching"]["matched_by_name"] == len(MOVIES)


def cs_records(rows, uid_of, path_of, first_uid):
    dtype = [*LOCATION_FIELDS, ("location/micrograph_path", "S120"), ("pick_stats/ncc_score", "<f4")]
    r = np.zeros(len(rows), dtype=dtype)
    r["uid"] = np.arange(len(rows)) + first_uid
    movies = [row[4].rsplit("/", 1)[1][:-4] for row in rows]
    r["location/micrograph_uid"] = [uid_of[m] for m in movies]
    r["location/micrograph_path"] = [path_of(m).encode() for m in movies]
    r["location/micrograph_shape"] = (4096, 4096)
    r["location/center_x_frac"] = [float(row[0]) / 4096 for row in rows]
    r["location/center_y_frac"] = [float(row[1]) / 4096 for row in rows]
    r["location/micrograph_psize_A"] = PSIZE
    r["pick_stats/ncc_score"] = [float(row[2]) for row in rows]
    return r


def test_two_cryosparc_projects_are_matched_by_file_name(tutorial, tmp_path):
    """The same movies imported into two projects: other uids, other job folders."""
    rows, _, _ = tutorial
    uid_a = {m: 10**18 + k for k, m in enumerate(MOVIES)}
    uid_b = {m: 2 * 10**18 + k for k, m in enumerate(MOVIES)}
    write_cs(tmp_path / "P1_J40.cs", cs_records(rows, uid_a, lambda m: cryosparc_name(m, uid_a[m], "J12"), 1))
    write_cs(tmp_path / "P2_J7.cs", cs_records(rows, uid_b, lambda m: cryosparc_name(m, uid_b[m], "J3"), 10**6))
    inputs = [tmp_path / "P1_J40.cs", tmp_path / "P2_J7.cs"]
    summary = remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(min_dist=0))
    assert (summary.kept, summary.rejected) == (len(rows), len(rows))
    assert summary.to_json()["micrograph_matching"]["matched_by_name"] == len(MOVIES)
    apart = remove_duplicate_particles(inputs, tmp_path / "out2", ParticleOptions(min_dist=0, match_micrographs="path"))
    assert apart.rejected == 0


# --- picker outputs -------------------------------------------------------------------------


def test_crYOLO_on_cryosparc_micrographs_is_matched_to_a_relion_autopick_job(tmp_path):
    movies = MOVIES[:3]
    job = tmp_path / "AutoPick" / "job010"
    (job / "Movies").mkdir(parents=True)
    listing = [[f"MotionCorr/job002/Movies/{m}.mrc", f"AutoPick/job010/Movies/{m}_autopick.star"] for m in movies]
    (job / "autopick.star").write_text(
        star_text(["rlnMicrographName", "rlnMicrographCoordinates"], listing, block="coordinate_files")
    )
    cbox = tmp_path / "cryolo" / "CBOX"
    cbox.mkdir(parents=True)
    for k, m in enumerate(movies):
        (job / "Movies" / f"{m}_autopick.star").write_text(
            star_text(["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"], [[1000 + k, 1000, 1.5]])
        )
        # crYOLO names its box file after the CryoSPARC micrograph: uid prefix, Patch Motion ending.
        name = f"{10**20 + k:021d}_{m}_patch_aligned_doseweighted.cbox"
        (cbox / name).write_text(
            "\ndata_cryolo\n\nloop_\n_CoordinateX #1\n_CoordinateY #2\n_CoordinateZ #3\n_Width #4\n_Height #5\n"
            f"_Depth #6\n_EstWidth #7\n_EstHeight #8\n_Confidence #9\n{1000 + k - 90} {1000 - 90} <NA> 180 180 <NA> "
            "<NA> <NA> 0.9\n"
        )
    args = [str(job), str(tmp_path / "cryolo"), "--mic-psize", "1", "--min-dist", "10"]
    summary = remove_duplicate_particles(args[:2], tmp_path / "out", ParticleOptions(min_dist=10, mic_psize=1))
    # Written down: each movie's RELION pick and crYOLO pick (centre = corner + 90) coincide.
    keep, _ = oracle([0, 1, 2, 0, 1, 2], [(1000 + k, 1000) for k in range(3)] * 2, [1, 1, 1, 0, 0, 0], 10)
    assert summary.rejected == 3 == keep.count(False) and summary.micrographs == 3
    assert summary.to_json()["micrograph_matching"]["matched_by_name"] == 3
    apart = remove_duplicate_particles(
        args[:2], tmp_path / "out2", ParticleOptions(min_dist=10, mic_psize=1, match_micrographs="path")
    )
    assert apart.rejected == 0 and apart.micrographs == 6


# --- the rule itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("MotionCorr/job002/Movies/mic_7.mrc", "mic_7"),
        ("J12/motioncorrected/003164745126225829418_mic_7_patch_aligned_doseweighted.mrc", "mic_7"),
        ("J12/motioncorrected/003164745126225829418_mic_7_patch_aligned.mrc", "mic_7"),
        ("J5/motioncorrected/003164745126225829418_mic_7_rigid_aligned.mrc", "mic_7"),
        ("Micrographs/FoilHole_1_Data_2_3_20221104_061329_Fractions.mrc", "FoilHole_1_Data_2_3_20221104_061329"),
        ("Movies/FoilHole_1_Data_2_fractions.tiff", "FoilHole_1_Data_2"),
        ("mc2/x_DW.mrc", "x"),
        ("MotionCorr/job002/Movies/x_noDW.mrc", "x"),
        ("J2/motioncorrected/009270517818331954156_14sep05c_00024sq_00003hl_00002es.frames_patch_aligned_doseweighted.mrc",
         "14sep05c_00024sq_00003hl_00002es.frames"),
        ("MotionCorr/job002/Movies/14sep05c_00024sq_00003hl_00002es.frames.mrc",
         "14sep05c_00024sq_00003hl_00002es.frames"),
        ("raw/x.mrc.bz2", "x"),
        ("C:\\data\\x.tif", "x"),
        ("123_x.mrc", "123_x"),  # not a CryoSPARC uid (21 digits)
        ("_DW.mrc", "_DW"),  # never stripped to nothing
    ],
)  # fmt: skip
def test_file_name_keys(name, key):
    assert name_key(name) == key


def _key_by_the_rule(name: str) -> str:
    """The rule as name_key's docstring states it, written plainly: the oracle of the fast key."""
    import re

    from cryodedup.resolve.micrograph_names import EXTENSIONS, SUFFIXES

    def strip(text: str, endings: tuple[str, ...]) -> str:
        while True:  # the first listed ending the text ends with (any case), never to nothing
            found = [e for e in endings if text.lower().endswith(e.lower()) and len(text) > len(e)]
            if not found:
                return text
            text = text[: -len(found[0])]

    base = strip(name.replace("\\", "/").rsplit("/", 1)[-1], tuple(EXTENSIONS))
    base = re.sub(r"^[0-9]{21}_(?=.)", "", base)
    return strip(base, SUFFIXES) or base


def test_file_name_keys_follow_the_rule_over_random_names():
    import random

    rng = random.Random(1)
    parts = ["_patch_aligned_doseweighted", "_patch_aligned", "_rigid_aligned", "_DW", "_noDW", "_Fractions"]
    parts += ["_fractions", ".mrc", ".MRC", ".mrcs", ".tif", ".tiff", ".eer", ".bz2", "x", "_", "/", "K", "İ", "."]
    parts += ["003164745126225829418_", "12345"]
    for _ in range(20_000):
        name = "".join(rng.choice(parts) for _ in range(rng.randint(0, 6)))
        assert name_key(name) == _key_by_the_rule(name), name


def _mixed_case(text: str) -> st.SearchStrategy[str]:
    return st.tuples(*[st.sampled_from([c.lower(), c.upper()]) for c in text]).map("".join)


_ENDINGS = [".mrc", ".mrcs", ".tif", ".tiff", ".eer", ".bz2", "_patch_aligned_doseweighted", "_patch_aligned"]
_ENDINGS += ["_rigid_aligned", "_dw", "_nodw", "_fractions"]
#: Pieces of micrograph names: endings in any case, uids (CryoSPARC's 21 digits, 20 digits, Arabic
#: digits), folders, and letters whose str.lower() is not ASCII's (the Kelvin sign, İ, ß).
_ENDING = st.sampled_from(_ENDINGS).flatmap(_mixed_case)
_UID = st.sampled_from(["003164745126225829418_", "12345678901234567890_", "\u0660" * 21 + "_"])
_FOLDER = st.sampled_from(["", "a/", "b\\", "J1/x.mrc/"])
_STEM = st.sampled_from(["", "x", "X", "é", "É", "İ", "\u212a", "ß", "\n", "_", ".", "ｍ"])
_NAME_PARTS = st.one_of(_ENDING, _UID, _FOLDER, _STEM)
#: Names as the tools make them (a folder, a uid, a stem, endings: many share a key), and any
#: sequence of those pieces.
_NAME = st.one_of(
    st.tuples(_FOLDER, st.one_of(st.just(""), _UID), _STEM, st.lists(_ENDING, max_size=3)).map(
        lambda p: p[0] + p[1] + p[2] + "".join(p[3])
    ),
    st.lists(_NAME_PARTS, max_size=6).map("".join),
)
_NAMES = st.lists(_NAME, max_size=30)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_NAMES)
def test_the_cores_name_keys_group_names_as_name_key_does(names):
    """The core's keys and key numbers against Python's name_key (the reference), over names that mostly collide."""
    import cryodedup._core as _core
    from cryodedup.resolve.micrograph_names import EXTENSIONS, SUFFIXES

    keys = [name_key(name) for name in names]
    numbers: dict[str, int] = {}
    assert name_key_ids(names).tolist() == [numbers.setdefault(key, len(numbers)) for key in keys]
    endings = [[e.lower() for e in EXTENSIONS], [e.lower() for e in SUFFIXES]]
    assert _core.name_keys(names, *endings) == keys


def test_name_key_ids_takes_names_the_core_cannot_read():
    """A lone surrogate (a file name not in UTF-8, as os.fsdecode gives it) is keyed in Python."""
    assert name_key_ids(["a/x\udcff.mrc", "b/x\udcff_DW.MRC", "x"]).tolist() == [0, 0, 1]


def test_no_other_letter_lowers_into_an_ending():
    """Why the core may compare the endings ASCII-case-insensitively where Python lowers the name.

    A character outside ASCII whose str.lower() ends in a letter of an ending could turn a
    name's end into that ending for Python and not for the core (the Kelvin sign lowers to k).
    """
    from cryodedup.resolve.micrograph_names import EXTENSIONS, SUFFIXES

    letters = {c for ending in EXTENSIONS + SUFFIXES for c in ending.lower()}
    assert all(c.isascii() and c == c.lower() for ending in EXTENSIONS + SUFFIXES for c in ending.lower())
    lowered = (chr(c).lower() for c in range(0x80, sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    assert not [low for low in lowered if low[-1] in letters]


def test_matching_by_brute_force_over_small_cases():
    """Every micrograph pair of two inputs, decided by the rule as written (independent of union-find)."""
    a = ["A/x.mrc", "A/y.mrc", "B/y.mrc", "A/z.mrc"]
    b = ["C/x.mrc", "C/y.mrc", "A/z.mrc", "C/w.mrc"]
    match = match_micrographs([a, b], "name")
    shared_in = {"y"}  # y is in two folders of input a: never matched by name
    for p in a:
        for q in b:
            expected = p == q or (name_key(p) == name_key(q) and name_key(p) not in shared_in)
            assert (match.same[p] == match.same[q]) == expected, (p, q)
    auto = match_micrographs([a, b], "auto")  # a and b share A/z.mrc: path only
    assert all(auto.same[n] == n for n in a + b) and auto.apart


# --- the micrograph job's --particles -------------------------------------------------------------


@pytest.fixture(scope="module")
def three_micrographs(tmp_path_factory):
    """MotionCorr/job002/Movies/mic_0..2.mrc: mic_1 re-images mic_0's area, mic_2 another area."""
    from fixtures.synthetic import exposure, specimen_field, write_mrc

    root = tmp_path_factory.mktemp("project")
    movies = root / "MotionCorr" / "job002" / "Movies"
    movies.mkdir(parents=True)
    rng = np.random.default_rng(11)
    field, other = specimen_field(rng, 700, 950, 6.0), specimen_field(rng, 700, 950, 6.0)
    for k, (f, dy) in enumerate([(field, 20), (field, 60), (other, 20)]):
        write_mrc(movies / f"mic_{k}.mrc", exposure(rng, f, dy, 40, 582, 818, 6.0), 6.0)
    star = root / "CtfFind" / "job003" / "micrographs_ctf.star"
    star.parent.mkdir(parents=True)
    names = [f"MotionCorr/job002/Movies/mic_{k}.mrc" for k in range(3)]
    star.write_text(
        star_text(
            ["rlnMicrographName", "rlnOpticsGroup"],
            [[n, 1] for n in names],
            block="micrographs",
            optics=[[1, "og1", 6.0]],
            optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        )
    )
    return root, star


@pytest.mark.parametrize(("mode", "on_rejected", "unknown"), [("auto", 4, 0), ("name", 4, 0), ("path", 0, 12)])
def test_particles_of_a_reprocessed_job_follow_their_micrographs(
    three_micrographs, tmp_path, mode, on_rejected, unknown
):
    from cryodedup import MicrographOptions, find_duplicate_micrographs

    _, star = three_micrographs
    particles = tmp_path / "particles.star"
    # Extracted from a re-run of motion correction (job099): 4 particles on each micrograph.
    names = [f"MotionCorr/job099/Movies/mic_{k % 3}.mrc" for k in range(12)]
    particles.write_text(
        star_text(
            ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[5 * i, 9, n] for i, n in enumerate(names)]
        )
    )
    warnings: list[str] = []
    summary = find_duplicate_micrographs(
        [star], tmp_path / "out", MicrographOptions(bin=2), particles=particles, match_micrographs=mode,
        log=lambda m, level: warnings.append(m) if level == "warning" else None,
    ).to_json()  # fmt: skip
    assert summary["rejected"] == 1  # mic_1, the later exposure of mic_0's area
    rejected_text = (tmp_path / "out" / "particles_on_rejected_micrographs.star").read_text()
    assert (
        rejected_text.count("job099/Movies/mic_1.mrc") == on_rejected == summary["particles"]["on_rejected_micrographs"]
    )
    assert summary["particles"]["on_micrographs_not_in_input"] == unknown
    assert any("not among the micrographs" in w for w in warnings) == bool(unknown)


def test_the_merge_of_shards_matches_the_particles_micrographs_too(three_micrographs, tmp_path):
    _, star = three_micrographs
    particles = tmp_path / "particles.star"
    names = [f"MotionCorr/job099/Movies/mic_{k % 3}.mrc" for k in range(6)]
    particles.write_text(
        star_text(["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"], [[9, 9, n] for n in names])
    )
    runner = CliRunner()
    shard = runner.invoke(
        main, ["micrographs", str(star), "-o", str(tmp_path / "shards"), "--bin", "2", "--shard", "1/1"]
    )
    assert shard.exit_code == 0, shard.output
    for mode, on_rejected in (("auto", 2), ("path", 0)):
        args = [
            "micrographs-merge",
            str(tmp_path / "shards"),
            "-o",
            str(tmp_path / mode),
            "--particles",
            str(particles),
        ]
        result = runner.invoke(main, [*args, "--match-micrographs", mode, "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["particles"]["on_rejected_micrographs"] == on_rejected
        assert summary["particles"]["micrograph_matching"]["mode"] == mode


def test_an_unknown_matching_mode_is_refused_in_one_line(tmp_path):
    from cryodedup.errors import CryodedupError

    with pytest.raises(CryodedupError, match=r"^--match-micrographs is auto, path or name, got 'stem'$"):
        remove_duplicate_particles([tmp_path / "x.star"], tmp_path / "out", ParticleOptions(match_micrographs="stem"))
    result = CliRunner().invoke(
        main, ["particles", str(tmp_path), "-o", str(tmp_path / "o"), "--match-micrographs", "x"]
    )
    assert result.exit_code == 2 and "Invalid value for '--match-micrographs'" in result.output


# --- the pixel size of a re-processed copy, looked up in --micrographs by file name ---------
#
# The micrographs STAR (CtfFind/job003) lists MotionCorr/job002/Movies/x.mrc; the particles
# name MotionCorr/job099/Movies/x.mrc. Half the micrographs are 0.885 Å, half 1.77 Å (two
# optics groups), and each micrograph holds pairs 16 px apart: 14.2 Å at 0.885 Å, within
# 20 Å, but 28.3 Å at 1.77 Å, so any other pixel size for a micrograph changes the answer.

SMALL, LARGE = 0.885, 1.77
CTF_STAR = "CtfFind/job003/micrographs_ctf.star"


def movie_psize(movie: str) -> float:
    """The pixel size this test gives each movie: the first 12 of MOVIES 0.885 Å, the rest 1.77 Å."""
    return SMALL if MOVIES.index(movie) < 12 else LARGE


def write_ctf_star(root, version="3.1", entries=None):
    """CtfFind/job003/micrographs_ctf.star listing ``entries`` ((name, pixel size)), by default
    every movie under MotionCorr/job002; RELION 3.1 and 5 put the pixel size in two optics
    groups, 3.0 in each row (detector pixel size and magnification)."""
    if entries is None:
        entries = [(f"MotionCorr/job002/Movies/{m}.mrc", movie_psize(m)) for m in MOVIES]
    path = root / CTF_STAR
    path.parent.mkdir(parents=True, exist_ok=True)
    if version == "3.0":
        rows = [[name, psize, 10000.0] for name, psize in entries]
        path.write_text(star_text(["rlnMicrographName", "rlnDetectorPixelSize", "rlnMagnification"], rows,
                                  block="micrographs"))  # fmt: skip
        return path
    groups = {SMALL: 1, LARGE: 2}
    optics = [[1, "opticsGroup1", SMALL], [2, "opticsGroup2", LARGE]]
    rows = [[name, groups[psize]] for name, psize in entries]
    text = star_text(["rlnMicrographName", "rlnOpticsGroup"], rows, optics=optics, block="micrographs",
                     optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"])  # fmt: skip
    path.write_text(text.replace("version 30001", "version 50001") if version == "5" else text)
    return path


def paired_rows(rng, folder, extract, version):
    """An Extract job's rows on every movie: 6 pairs 15 to 17 px apart and 6 lone particles, all
    other particles >= 150 px apart; origins within 1 Å (3.0: in particle pixels of 3.54 Å)."""
    rows = []
    for movie in MOVIES:
        cells = rng.permutation(20 * 20)[:12]  # a 20 x 20 grid of 180 px
        k = 0
        for j, cell in enumerate(cells):
            x, y = 150 + 180 * (cell % 20), 150 + 180 * (cell // 20)
            for dx in (0, 16) if j < 6 else (0,):
                k += 1
                ox, oy = rng.uniform(-1, 1, 2)
                origin = [f"{ox / 3.54:.6f}", f"{oy / 3.54:.6f}"] if version == "3.0" else [f"{ox:.6f}", f"{oy:.6f}"]
                rows.append([f"{x + dx + rng.uniform(-0.5, 0.5):.6f}", f"{y + rng.uniform(-0.5, 0.5):.6f}",
                             f"{rng.uniform(0, 3):.6f}", *origin, f"{k:06d}@{extract}/Movies/{movie}.mrcs",
                             f"{folder}/{movie}.mrc"])  # fmt: skip
    return rows


def write_extract_job(root, rows, extract, version):
    """``root/extract/particles.star`` as RELION of ``version`` writes it (3.0: no optics table)."""
    path = root / extract / "particles.star"
    path.parent.mkdir(parents=True, exist_ok=True)
    if version == "3.0":
        labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOriginX", "rlnOriginY",
                  "rlnImageName", "rlnMicrographName", "rlnDetectorPixelSize", "rlnMagnification"]  # fmt: skip
        path.write_text(star_text(labels, [[*r, 3.54, 10000.0] for r in rows]))
        return path
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOriginXAngst", "rlnOriginYAngst",
              "rlnImageName", "rlnMicrographName", "rlnOpticsGroup"]  # fmt: skip
    optics_labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographOriginalPixelSize", "rlnImagePixelSize",
                     "rlnImageSize", "rlnImageDimensionality"]  # fmt: skip
    # The particles' own optics table says 0.885 Å for every micrograph (the movies' size):
    # wrong for half of them, which is why --micrographs is given.
    text = star_text(labels, [[*r, 1] for r in rows], optics=[[1, "opticsGroup1", SMALL, 3.54, 64, 2]],
                     optics_labels=optics_labels)  # fmt: skip
    path.write_text(text.replace("version 30001", "version 50001") if version == "5" else text)
    return path


def oracle_kept_images(rows, min_dist, version, psize_of=movie_psize):
    """The images the brute force keeps: centres computed here (coordinate x the pixel size this
    test gave the movie - origin), micrographs one per movie whatever its folder."""
    movies = [r[6].rsplit("/", 1)[1][: -len(".mrc")] for r in rows]
    psize = np.array([psize_of(m) for m in movies])
    origin = np.array([[float(r[3]), float(r[4])] for r in rows]) * (3.54 if version == "3.0" else 1.0)
    centres = np.array([[float(r[0]), float(r[1])] for r in rows]) * psize[:, None] - origin
    groups = np.unique(movies, return_inverse=True)[1]
    keep = oracle_by_group(groups, centres, [float(r[2]) for r in rows], min_dist)
    return [r[5] for r, k in zip(rows, keep) if k]


def kept_image_names(path):
    return [field for line in path.read_text().splitlines() for field in line.split() if "@Extract/" in field]


VERSIONS = ["3.0", "3.1", "5"]
#: Kept by the brute force: a pair on each 0.885 Å micrograph is a duplicate, one on a 1.77 Å micrograph is not.
KEPT_BY_PSIZE = 12 * 12 + 12 * 18


@pytest.mark.parametrize("version", VERSIONS)
def test_one_reprocessed_input_gets_its_pixel_sizes_from_the_micrographs_star_by_file_name(tmp_path, version):
    rng = np.random.default_rng(99)
    rows = paired_rows(rng, "MotionCorr/job099/Movies", "Extract/job099", version)
    particles = write_extract_job(tmp_path, rows, "Extract/job099", version)
    mics = write_ctf_star(tmp_path, version)
    expected = oracle_kept_images(rows, 20.0, version)
    assert len(expected) == KEPT_BY_PSIZE  # the oracle on the pixel sizes this test gave
    assert len(oracle_kept_images(rows, 20.0, version, psize_of=lambda movie: SMALL)) == 24 * 12  # one size: wrong
    summary = remove_duplicate_particles([particles], tmp_path / "out", ParticleOptions(min_dist=20, micrographs=mics))
    assert summary.to_json()["timings"]["one_pass"]  # one input: decided and written while read (the split)
    assert kept_image_names(tmp_path / "out/particles_kept.star") == expected
    assert summary.to_json()["micrograph_matching"]["pixel_sizes_by_file_name"] == 24
    used = sorted((p["psize"], p["source"]) for p in summary.to_json()["pixel_sizes"])
    assert [psize for psize, _ in used] == pytest.approx([SMALL, LARGE])
    assert all(source.endswith(", 12 of 12 micrographs found there by file name under another folder")
               for _, source in used)  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_an_extraction_and_its_reprocessed_copy_use_each_micrographs_pixel_size(tmp_path, version):
    rng = np.random.default_rng(7)
    rows = paired_rows(rng, "MotionCorr/job002/Movies", "Extract/job007", version)
    # The copy: re-extracted from MotionCorr/job099, each particle moved up to 13 px in x (a
    # duplicate of its original within 20 Å at 0.885 Å, not always at 1.77 Å), scored anew.
    copy = [
        [f"{float(r[0]) + rng.uniform(-13, 13):.6f}", r[1], f"{rng.uniform(0, 3):.6f}", r[3], r[4],
         r[5].replace("Extract/job007", "Extract/job099"), r[6].replace("job002", "job099")]
        for r in rows
    ]  # fmt: skip
    first = write_extract_job(tmp_path, rows, "Extract/job007", version)
    second = write_extract_job(tmp_path, copy, "Extract/job099", version)
    mics = write_ctf_star(tmp_path, version)
    expected = oracle_kept_images(rows + copy, 20.0, version)
    assert expected != oracle_kept_images(rows + copy, 20.0, version, psize_of=lambda movie: SMALL)
    options = ParticleOptions(min_dist=20, micrographs=mics)
    summary = remove_duplicate_particles([first, second], tmp_path / "out", options)
    assert kept_image_names(tmp_path / "out/particles_kept.star") == expected
    matching = summary.to_json()["micrograph_matching"]
    assert matching["matched_by_name"] == 24 and matching["pixel_sizes_by_file_name"] == 24  # the copy's


def test_the_summary_counts_the_micrographs_found_by_file_name_among_exact_paths(tmp_path):
    # 4 micrographs of the file under MotionCorr/job002 (as listed), 20 under job099.
    rng = np.random.default_rng(3)
    rows = paired_rows(rng, "MotionCorr/job099/Movies", "Extract/job099", "3.1")
    for r in rows:
        if MOVIES.index(r[6].rsplit("/", 1)[1][:-4]) < 4:
            r[6] = r[6].replace("job099", "job002")
    particles = write_extract_job(tmp_path, rows, "Extract/job099", "3.1")
    mics = write_ctf_star(tmp_path)
    args = ["particles", str(particles), "--micrographs", str(mics), "-o", str(tmp_path / "out"), "--min-dist", "20"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kept"] == len(oracle_kept_images(rows, 20.0, "3.1")) == KEPT_BY_PSIZE
    assert summary["micrograph_matching"]["pixel_sizes_by_file_name"] == 20
    sources = sorted(p["source"].rsplit(", ", 1)[1] for p in summary["pixel_sizes"])
    assert sources == [
        "12 of 12 micrographs found there by file name under another folder",  # 1.77 Å: movies 12-23
        "8 of 12 micrographs found there by file name under another folder",  # 0.885 Å: 4 by path
    ]
    text = matching_text(summary["micrograph_matching"])
    assert text.endswith("the pixel sizes of 20 micrographs found in the --micrographs STAR by file name "
                         "(listed there under another folder)")  # fmt: skip


def test_path_matching_still_refuses_a_copy_under_another_folder_in_one_line(tmp_path):
    rows = paired_rows(np.random.default_rng(1), "MotionCorr/job099/Movies", "Extract/job099", "3.1")
    particles = write_extract_job(tmp_path, rows, "Extract/job099", "3.1")
    mics = write_ctf_star(tmp_path)
    args = ["particles", str(particles), "--micrographs", str(mics), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "--match-micrographs", "path"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = result.output.strip()
    assert "\n" not in message.replace("\n ", " ") and message.startswith("Error: ")
    assert "(24 of 24 micrographs missing); 24 of them are listed there under another folder" in message
    assert "with --match-micrographs path a micrograph's pixel size is looked up by its exact path" in message
    assert not (tmp_path / "out/particles_kept.star").exists()


@pytest.mark.parametrize(("other_psize", "refused"), [(LARGE, True), (SMALL, False)])
def test_a_file_name_listed_under_two_folders_with_two_pixel_sizes_is_never_guessed(tmp_path, other_psize, refused):
    # The micrographs STAR joins two MotionCorr jobs whose movies share names (relion issue
    # 615); the particles' first movie is under a third folder.
    entries = [(f"MotionCorr/job002/Movies/{m}.mrc", SMALL) for m in MOVIES]
    entries.append((f"MotionCorr/job003/Movies/{MOVIES[0]}.mrc", other_psize))
    mics = write_ctf_star(tmp_path, entries=entries)
    rows = paired_rows(np.random.default_rng(2), "MotionCorr/job099/Movies", "Extract/job099", "3.1")
    particles = write_extract_job(tmp_path, rows, "Extract/job099", "3.1")
    args = ["particles", str(particles), "--micrographs", str(mics), "-o", str(tmp_path / "out"), "--min-dist", "20"]
    result = CliRunner().invoke(main, args)
    if not refused:  # the same pixel size under both folders: nothing to guess
        assert result.exit_code == 0, result.output
        kept = kept_image_names(tmp_path / "out/particles_kept.star")
        assert kept == oracle_kept_images(rows, 20.0, "3.1", psize_of=lambda movie: SMALL)
        return
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = " ".join(result.output.split())  # (the terminal wraps the one line)
    assert message.startswith(f"Error: {particles}: data_particles")
    assert f"micrograph 'MotionCorr/job099/Movies/{MOVIES[0]}.mrc' is not in {mics} by its path" in message
    assert f"its file name {MOVIES[0]} names 2 micrographs there with different pixel sizes" in message
    assert (
        f"MotionCorr/job002/Movies/{MOVIES[0]}.mrc (0.885 Å), MotionCorr/job003/Movies/{MOVIES[0]}.mrc (1.77 Å)"
        in message
    )
    assert not (tmp_path / "out/particles_kept.star").exists()


def test_a_file_name_of_two_micrographs_of_one_input_is_not_looked_up_by_it(tmp_path):
    # The particles name one movie under job098 and job099 (two datasets, relion issue 615);
    # the STAR lists it under job002 only: which of the two it is cannot be told.
    rows = paired_rows(np.random.default_rng(4), "MotionCorr/job099/Movies", "Extract/job099", "3.1")
    rows.append([*rows[0][:6], f"MotionCorr/job098/Movies/{MOVIES[0]}.mrc"])
    particles = write_extract_job(tmp_path, rows, "Extract/job099", "3.1")
    mics = write_ctf_star(tmp_path)
    with pytest.raises(CryodedupError) as error:
        remove_duplicate_particles([particles], tmp_path / "out", ParticleOptions(micrographs=mics))
    message = str(error.value)
    assert "(2 of 25 micrographs missing); 2 of them have the file name of a micrograph listed there" in message
    assert "different micrographs, whose pixel size is looked up by exact path only" in message


def test_a_starfile_table_in_memory_gets_its_pixel_sizes_by_file_name(tmp_path):
    import starfile

    from cryodedup import remove_duplicates

    rows = paired_rows(np.random.default_rng(5), "MotionCorr/job099/Movies", "Extract/job099", "3.1")
    data = starfile.read(write_extract_job(tmp_path, rows, "Extract/job099", "3.1"), always_dict=True)
    kept, _ = remove_duplicates(data, micrographs=write_ctf_star(tmp_path), min_dist=20)
    assert list(kept["particles"]["rlnImageName"]) == oracle_kept_images(rows, 20.0, "3.1")


# --- the score: one resolution for every format ---


def test_resolve_score_by_hand():
    every = {"rlnA", "cc", "rlnAutopickFigureOfMerit", "alignments2D/error"}.__contains__
    auto = ("rlnMissing", "rlnAutopickFigureOfMerit", "alignments2D/error")
    assert resolve_score("none", "auto", auto, every) == Score(None, True)
    assert resolve_score("auto", "auto", auto, every) == Score("rlnAutopickFigureOfMerit", True)  # the first present
    assert resolve_score("auto", "auto", ("rlnMissing",), every) == Score(None, True, NO_AUTO_SCORE)
    assert resolve_score("rlnB", "auto", auto, every) == Score("rlnB", True, UNKNOWN_COLUMN)
    assert resolve_score("rlnA", "auto", auto, every) == Score("rlnA", True, UNKNOWN_ORDER)
    assert resolve_score("rlnA", "min", auto, every) == Score("rlnA", False)
    assert resolve_score("alignments2D/error", "auto", auto, every) == Score("alignments2D/error", False)
    # A format's own knowledge gives the direction unless --score-order does.
    assert resolve_score("cc", "auto", (), every, {"cc": True}) == Score("cc", True)
    assert resolve_score("cc", "min", (), every, {"cc": True}) == Score("cc", False)


def test_no_reader_decides_the_score_direction_itself():
    # The readers ask cryodedup.resolve; none keeps a table of directions of its own.
    import cryodedup.algo.dedup as dedup
    import cryodedup.formats.cryosparc.particles as cryosparc
    import cryodedup.formats.dynamo as dynamo
    import cryodedup.formats.star.particle_table as relion

    assert not hasattr(dedup, "HIGHER_IS_BETTER")
    for reader in (relion, cryosparc, dynamo):
        assert reader.resolve_score is resolve_score


def test_pixel_size_entries_name_each_size_once():
    assert pixel_size_entries([1.06, 0.885, 1.06], "--mic-psize") == [
        {"input": "all", "optics_group": "all", "psize": 0.885, "source": "--mic-psize"},
        {"input": "all", "optics_group": "all", "psize": 1.06, "source": "--mic-psize"},
    ]


@pytest.mark.parametrize(
    ("mic_psize", "listed", "chosen"),
    [
        # --mic-psize wins over a micrographs list and the file's own columns.
        (1.06, True, PsizeFrom.GIVEN),
        (1.06, False, PsizeFrom.GIVEN),
        # Without it, the micrographs list wins over the file's own columns.
        (None, True, PsizeFrom.LISTED),
        # Without both, the file's own columns.
        (None, False, PsizeFrom.OWN),
        # 0 is a value given (the reader refuses it), not "not given".
        (0.0, True, PsizeFrom.GIVEN),
    ],
)
def test_pixel_size_precedence_is_mic_psize_then_micrographs_then_own(mic_psize, listed, chosen):
    assert pixel_size_source(mic_psize, "micrographs.star" if listed else None) is chosen


def test_pixel_size_of_rows_broadcasts_one_size_and_indexes_several():
    def never():
        raise AssertionError("the rows' micrographs are not needed when all sizes are equal")

    one = pixel_size_of_rows(np.array([0.885, 0.885]), 3, never)
    assert one.tolist() == [0.885, 0.885, 0.885] and not one.flags.writeable and one.strides == (0,)
    mixed = pixel_size_of_rows(np.array([0.885, 1.06]), 3, lambda: np.array([1, 0, 1]))
    assert mixed.tolist() == [1.06, 0.885, 1.06]
    # A micrograph without a size (NaN) is never taken for the others' size.
    unknown = pixel_size_of_rows(np.array([np.nan, np.nan]), 2, lambda: np.array([0, 1]))
    assert np.isnan(unknown).all() and unknown.flags.writeable
    assert pixel_size_of_rows(np.array([0.885]), 0, never).shape == (0,)


def test_no_reader_decides_the_pixel_size_order_itself():
    # The job asks cryodedup.resolve for the order (Scale.psize_from); every reader reads the source
    # decided, none asks itself whether --mic-psize was typed, and the per-row sizes are one function's.
    import inspect

    import cryodedup.formats.cryosparc.particles as cryosparc
    import cryodedup.formats.dynamo as dynamo
    import cryodedup.formats.picks.particles as picks
    import cryodedup.formats.star.particles as relion
    import cryodedup.formats.star.pixel_sizes as relion_pixel_sizes
    from helpers import read_request

    for reader in (relion_pixel_sizes, relion, cryosparc, dynamo, picks):
        source = inspect.getsource(reader)
        assert "mic_psize is" not in source and "psize_from is PsizeFrom" in source
    assert read_request(ParticleOptions(mic_psize=1.06)).scale.psize_from is PsizeFrom.GIVEN
    assert relion.pixel_size_of_rows is pixel_size_of_rows and picks.pixel_size_of_rows is pixel_size_of_rows
    assert not hasattr(relion, "row_psizes") and not hasattr(picks, "_one_pixel_size")


STAR_PSIZES = {"MotionCorr/job002/Movies/a.mrc": 0.885, "MotionCorr/job002/Movies/b.mrc": 1.06}


@pytest.mark.parametrize(
    ("mode", "found", "by_name"),
    [
        # b is listed by its path; a only under job002, found by its file name unless matching is by path.
        ("auto", {"MotionCorr/job002/Movies/b.mrc": 1.06, "MotionCorr/job099/Movies/a.mrc": 0.885},
         {"MotionCorr/job099/Movies/a.mrc"}),
        ("name", {"MotionCorr/job002/Movies/b.mrc": 1.06, "MotionCorr/job099/Movies/a.mrc": 0.885},
         {"MotionCorr/job099/Movies/a.mrc"}),
        ("path", {"MotionCorr/job002/Movies/b.mrc": 1.06}, set()),
    ],
)  # fmt: skip
def test_listed_pixel_sizes_look_up_by_path_then_file_name(mode, found, by_name):
    listed = ListedPixelSizes("mics.star", STAR_PSIZES, mode, "rlnMicrographPixelSize")
    names = ["MotionCorr/job099/Movies/a.mrc", "MotionCorr/job002/Movies/b.mrc"]
    assert listed.lookup("in.star", names) == (found, by_name)


def test_listed_pixel_sizes_word_what_is_missing_and_where_from():
    by_path = ListedPixelSizes("mics.star", STAR_PSIZES, "path", "rlnMicrographPixelSize")
    names = ["MotionCorr/job099/Movies/a.mrc", "MotionCorr/job002/Movies/b.mrc"]
    assert by_path.not_listed("in.star", names[:1], names) == (
        "in.star: micrograph 'MotionCorr/job099/Movies/a.mrc' is not in mics.star (1 of 2 micrographs missing); "
        "1 of them are listed there under another folder (the same file name), and with --match-micrographs path "
        "a micrograph's pixel size is looked up by its exact path: use --match-micrographs auto or name to look it "
        "up by file name, or give the micrograph pixel size with --mic-psize"
    )
    # Two micrographs of one input share the file name a.mrc: neither is looked up by it.
    shared = ListedPixelSizes("mics.star", STAR_PSIZES, "auto", "rlnMicrographPixelSize")
    two = ["MotionCorr/job099/Movies/a.mrc", "MotionCorr/job100/Movies/a.mrc"]
    assert shared.lookup("in.star", two) == ({}, set())
    assert shared.not_listed("in.star", two, two) == (
        "in.star: micrograph 'MotionCorr/job099/Movies/a.mrc' is not in mics.star (2 of 2 micrographs missing); "
        "2 of them have the file name of a micrograph listed there under another folder, but so does another "
        "micrograph of this file ('MotionCorr/job099/Movies/a.mrc' and 'MotionCorr/job100/Movies/a.mrc'): different "
        "micrographs, whose pixel size is looked up by exact path only; give a micrographs STAR that lists each by "
        "its path, or the micrograph pixel size with --mic-psize"
    )
    assert shared.source(24, 0) == "rlnMicrographPixelSize in mics.star"
    assert shared.source(1200, 1000) == (
        "rlnMicrographPixelSize in mics.star, 1,000 of 1,200 micrographs found there by file name under another folder"
    )


def test_a_file_name_listed_with_two_pixel_sizes_is_refused():
    listed = ListedPixelSizes(
        "mics.star", {**STAR_PSIZES, "MotionCorr/job003/Movies/a.mrc": 1.06}, "auto", "rlnMicrographPixelSize"
    )
    with pytest.raises(CryodedupError) as error:
        listed.lookup("in.star", ["MotionCorr/job099/Movies/a.mrc"])
    assert str(error.value) == (
        "in.star: micrograph 'MotionCorr/job099/Movies/a.mrc' is not in mics.star by its path, and its file name a "
        "names 2 micrographs there with different pixel sizes: MotionCorr/job002/Movies/a.mrc (0.885 Å), "
        "MotionCorr/job003/Movies/a.mrc (1.06 Å); which one it is cannot be told: give a micrographs STAR that lists "
        "it by its path, or --mic-psize"
    )


# --- One wording for a micrograph the list does not give a pixel size, whatever the reader ----------------

M2 = "MotionCorr/job002/Movies/m2.mrc"
# m1 in optics group 1 (0.885 Å), m2 in group 2, whose micrograph pixel size is 0.
ZERO_PSIZE_MICROGRAPHS = MICROGRAPHS.replace(
    "opticsGroup1 1 0.885 \n", "opticsGroup1 1 0.885 \nopticsGroup2 2 0 \n"
).format(rows=f"MotionCorr/job002/Movies/m1.mrc 1\n{M2} 2\n")


def _picker_input(tmp_path, reader: str):
    """One picker's picks on m1 and m2 as ``reader`` writes them, and the file naming m2."""
    if reader == "relion-job":
        job = tmp_path / "AutoPick/job006"
        (job / "Movies").mkdir(parents=True)
        for mic in ("m1", "m2"):
            (job / f"Movies/{mic}_autopick.star").write_text(autopick_text([(100, 200, 0.5), (900, 900, 0.2)]))
        return job / "Movies/*_autopick.star", job / "Movies/m2_autopick.star"
    if reader == "cryolo":
        for mic in ("m1", "m2"):
            (tmp_path / f"{mic}.cbox").write_text(cbox_text([(100, 200, 64, 64, 0.5), (900, 900, 64, 64, 0.2)]))
        return tmp_path / "*.cbox", tmp_path / "m2.cbox"
    if reader == "eman":
        for mic in ("m1", "m2"):
            (tmp_path / f"{mic}.box").write_text("100 200 64 64\n900 900 64 64\n")
        return tmp_path / "*.box", tmp_path / "m2.box"
    table = tmp_path / "topaz.txt"
    write_topaz(table, [("m1", 100.0, 200.0, 0.5), ("m2", 900.0, 900.0, 0.2)])
    return table, table


@pytest.mark.parametrize("reader", ["relion-job", "cryolo", "eman", "topaz"])
def test_a_pickers_micrograph_without_a_pixel_size_names_the_pickers_file(tmp_path, reader):
    # m2's optics group has rlnMicrographPixelSize 0 in the --micrographs STAR: the message
    # names the picker's file that holds m2's picks, the micrograph and the list, as for RELION particles.
    mics = tmp_path / "micrographs_ctf.star"
    mics.write_text(ZERO_PSIZE_MICROGRAPHS)
    picks, file_of_m2 = _picker_input(tmp_path, reader)
    options = ParticleOptions(micrographs=mics, topaz_scale=1.0)
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([picks], tmp_path / "out", options)
    assert str(refused.value) == (
        f"{file_of_m2}: micrograph {M2!r} has no pixel size in {mics} (rlnMicrographPixelSize is 0); "
        "give it with --mic-psize"
    )


def test_relion_particles_whose_micrograph_has_no_pixel_size_in_the_list_are_refused_alike(tmp_path):
    mics = tmp_path / "micrographs_ctf.star"
    mics.write_text(ZERO_PSIZE_MICROGRAPHS)
    rows = [[100, 200, 0.5, f"{k}@p.mrcs", f"MotionCorr/job002/Movies/m{k}.mrc", 1] for k in (1, 2)]
    particles = tmp_path / "particles.star"
    particles.write_text(star_text(LABELS, rows, optics=OPTICS))
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([particles], tmp_path / "out", ParticleOptions(micrographs=mics))
    message = str(refused.value)
    assert message.startswith(str(particles))
    assert message.endswith(
        f": micrograph {M2!r} has no pixel size in {mics} (rlnMicrographPixelSize is 0); give it with --mic-psize"
    )


def test_cryosparc_particles_whose_exposure_is_missing_or_has_no_pixel_size_are_refused_alike(tmp_path):
    particles = tmp_path / "particles.cs"
    records = np.zeros(2, dtype=LOCATION_FIELDS)
    records["uid"] = [11, 12]
    records["location/micrograph_uid"] = [7, 8]
    records["location/micrograph_shape"] = (4000, 4000)
    records["location/micrograph_psize_A"] = 1.0
    write_cs(particles, records)
    exposures = tmp_path / "exposures.cs"
    listed = np.zeros(2, dtype=[("uid", "<u8"), ("micrograph_blob/psize_A", "<f4")])
    listed["uid"], listed["micrograph_blob/psize_A"] = [7, 8], [1.0, 0.0]
    write_cs(exposures, listed)
    options = ParticleOptions(micrographs=exposures)
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([particles], tmp_path / "out", options)
    assert str(refused.value) == (
        f"{particles}: micrograph 'uid 8' has no pixel size in {exposures} (micrograph_blob/psize_A is 0); "
        "give it with --mic-psize"
    )
    write_cs(exposures, listed[:1])
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([particles], tmp_path / "out", options)
    assert str(refused.value) == f"{particles}: micrograph 'uid 8' is not in {exposures} (1 of 2 micrographs missing)"


def test_a_relion_jobs_micrograph_without_a_pixel_size_in_its_own_star_names_the_coordinate_file(tmp_path):
    # No --micrographs: the job's coords_suffix names CtfFind/job003/micrographs_ctf.star, where m2's
    # optics group has pixel size 0. Looked up as in any list, refused naming m2's coordinate file.
    job, names = relion3_job(tmp_path, {"m1": [(100, 200, 0.5)], "m2": [(300, 400, 0.2)]})
    (tmp_path / "CtfFind/job003/micrographs_ctf.star").write_text(ZERO_PSIZE_MICROGRAPHS)
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([job], tmp_path / "out", ParticleOptions(project_dir=tmp_path))
    assert str(refused.value) == (
        f"{job / 'Movies/m2_autopick.star'}: micrograph {names[1]!r} has no pixel size in "
        "CtfFind/job003/micrographs_ctf.star (rlnMicrographPixelSize is 0); give it with --mic-psize"
    )
