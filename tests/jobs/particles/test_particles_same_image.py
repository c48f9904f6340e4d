"""The particle job with one particle image twice (``--same-image``): hand-worked runs on
STAR and .cs inputs, symmetry-expanded copies, the half-set audit and the command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryodedup import remove_duplicates
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.synthetic import write_cs
from helpers import kept_rows, located_records, write_star
from oracle import oracle, oracle_support

LABELS = [
    "rlnMicrographName",
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnImageName",
    "rlnMaxValueProbDistribution",
    "rlnOpticsGroup",
]
OPTICS = [[1, "og", 1.0, 1.0]]


def refined_twice(tmp_path: Path) -> tuple[Path, Path]:
    """Two refinements of overlapping selections (JoinStar's case), 1 Å pixels.

    Image 1 is in both, moved 50 Å by the second refinement's origin: 50 Å apart, a distance
    rule of 10 Å keeps both. Image 2 is in both, 1 Å apart: a duplicate by distance. Image 3
    is in the first alone; image 4 in the second alone, 5 Å from image 3 (a neighbour, not
    the same image).
    """
    first = write_star(
        tmp_path / "run1_data.star",
        LABELS,
        [
            ["m1.mrc", 100, 100, 0, 0, "000001@Extract/job007/m1.mrcs", 0.5, 1],
            ["m1.mrc", 300, 300, 0, 0, "000002@Extract/job007/m1.mrcs", 0.5, 1],
            ["m1.mrc", 500, 500, 0, 0, "000003@Extract/job007/m1.mrcs", 0.5, 1],
        ],
        optics=OPTICS,
    )
    second = write_star(
        tmp_path / "run2_data.star",
        LABELS,
        [
            ["m1.mrc", 100, 100, -50, 0, "000001@Extract/job007/m1.mrcs", 0.9, 1],
            ["m1.mrc", 300, 300, -1, 0, "000002@Extract/job007/m1.mrcs", 0.9, 1],
            ["m1.mrc", 505, 500, 0, 0, "000004@Extract/job007/m1.mrcs", 0.9, 1],
        ],
        optics=OPTICS,
    )
    return first, second


def run(tmp_path: Path, inputs: list[Path], name: str = "out", **options) -> dict:
    return remove_duplicate_particles(inputs, tmp_path / name, ParticleOptions(min_dist=10, **options))


def test_an_image_kept_twice_is_warned_of_by_name(tmp_path):
    summary = run(tmp_path, list(refined_twice(tmp_path)))
    # Image 1 twice (50 Å apart), image 2 once (1 Å: the better, run 2), image 3 lost to image 4.
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 3]
    found = summary.to_json()["same_image"]
    assert found["images_kept_twice"] == 1 and found["rows"] == 2
    assert found["named"] == ["000001@Extract/job007/m1.mrcs"]
    assert found["column"] == "rlnImageName" and found["mode"] == "warn"
    warning = [w for w in summary.warnings if "kept twice" in w]
    assert warning == [found["message"]]
    assert warning[0].startswith("1 image kept twice (2 rows of one rlnImageName at different centres")
    assert "000001@Extract/job007/m1.mrcs" in warning[0]


def test_reject_keeps_the_best_row_of_an_image_whatever_the_distance(tmp_path):
    first, second = refined_twice(tmp_path)
    summary = run(tmp_path, [first, second], same_image="reject")
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [0, 3]  # image 1: run 2's row (0.9 over 0.5)
    assert summary.to_json()["same_image"]["images_kept_twice"] == 0
    assert summary.to_json()["same_image"]["rows_rejected"] == 2  # images 1 and 2 of run 1 (image 3 lost to image 4)
    assert not any("kept twice" in w for w in summary.warnings)
    # The preferred input's row wins whatever the scores: priority first, as for any duplicate.
    summary = run(tmp_path, [first, second], "preferred", same_image="reject", prefer=["1"])
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [3, 0]  # images 1, 2, 3 of run 1; image 4 lost to 3
    kept = kept_rows(tmp_path / "preferred" / "particles_kept.star")
    assert [row.split()[5] for row in kept] == [f"00000{k}@Extract/job007/m1.mrcs" for k in (1, 2, 3)]


def test_ignore_checks_nothing(tmp_path):
    summary = run(tmp_path, list(refined_twice(tmp_path)), same_image="ignore")
    assert "same_image" not in summary.to_json()
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 3]


def test_one_image_written_with_or_without_leading_zeros_is_one_image(tmp_path):
    first, _ = refined_twice(tmp_path)
    rows = [["m1.mrc", 150, 100, 0, 0, "1@Extract/job007/m1.mrcs", 0.9, 1]]
    other = write_star(tmp_path / "other.star", LABELS, rows, optics=OPTICS)
    assert run(tmp_path, [first, other]).to_json()["same_image"]["images_kept_twice"] == 1
    rows[0][5] = "1@Extract/job008/m1.mrcs"  # another stack: a re-extraction, another image
    other = write_star(tmp_path / "again.star", LABELS, rows, optics=OPTICS)
    assert run(tmp_path, [first, other], "again").to_json()["same_image"]["images_kept_twice"] == 0


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("12@s.mrcs", "0000000000000000000000012@s.mrcs"),  # (more zeros than a u64 has digits)
        ("12@s.mrcs", '"12@s.mrcs"'),
        ("12@s.mrcs", "'000012@s.mrcs'"),
        ('"12@my stack.mrcs"', '"12@my stack.mrcs"'),
        ('"12@my stack.mrcs"', "'000012@my stack.mrcs'"),
        ('"single image.mrc"', "'single image.mrc'"),
    ],
)
def test_one_image_in_the_spellings_relion_reads_as_one_is_one_image(tmp_path, one, other):
    """RELION reads the index before the @ as an integer and a quoted field as the text inside (issue 58, item 2)."""
    rows = [["m1.mrc", 100, 100, 0, 0, one, 0.5, 1], ["m2.mrc", 400, 100, 0, 0, other, 0.9, 1]]
    path = write_star(tmp_path / "joined.star", LABELS, rows, optics=OPTICS)
    summary = run(tmp_path, [path], same_image="reject")
    assert summary.kept == 1 and summary.to_json()["same_image"]["rows_rejected"] == 1
    assert run(tmp_path, [path], "warned").to_json()["same_image"]["images_kept_twice"] == 1
    frame = pd.DataFrame(rows, columns=LABELS).assign(rlnImageName=[one.strip("'\""), other.strip("'\"")])
    kept, _ = remove_duplicates(frame, min_dist=10, mic_psize=1.0, same_image="reject")
    assert kept.index.tolist() == [1]


def test_other_images_stay_apart_in_any_spelling(tmp_path):
    rows = [["m1.mrc", 100, 100, 0, 0, '"12@s.mrcs"', 0.5, 1], ["m2.mrc", 400, 100, 0, 0, "'12@t.mrcs'", 0.9, 1]]
    rows += [["m2.mrc", 600, 100, 0, 0, "0000000000000000000000013@s.mrcs", 0.9, 1]]
    path = write_star(tmp_path / "apart.star", LABELS, rows, optics=OPTICS)
    assert run(tmp_path, [path], same_image="reject").kept == 3


def symmetry_expanded(tmp_path: Path) -> Path:
    """relion_particle_symmetry_expand's output: each image 4 times (C4) at its centre, other angles."""
    labels = [*LABELS[:7], "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOpticsGroup"]
    rows = []
    for image, (x, y) in enumerate([(100, 100), (300, 100)], start=1):
        for k in range(4):
            rows.append(["m1.mrc", x, y, 2, -3, f"{image:06d}@Extract/job007/m1.mrcs", 0.5, 90 * k, 40, 10, 1])
    return write_star(tmp_path / "expanded.star", labels, rows, optics=OPTICS)


@pytest.mark.parametrize("mode", ["warn", "reject"])
def test_symmetry_expanded_copies_are_not_the_same_image_twice(tmp_path, mode):
    path = symmetry_expanded(tmp_path)
    # Orientations compared: the copies (90° apart) are no duplicates and all are kept.
    summary = run(tmp_path, [path], same_image=mode, max_angle=15, sym="C1")
    assert summary.kept == 8
    assert summary.to_json()["same_image"]["images_kept_twice"] == 0
    # Without orientations the distance rule alone removes them, as before.
    assert run(tmp_path, [path], "plain", same_image=mode).kept == 2


def test_reject_refuses_whole_tubes(tmp_path):
    labels = [*LABELS[:7], "rlnHelicalTubeID", "rlnOpticsGroup"]
    rows = [
        ["m1.mrc", 100, 100, 0, 0, "000001@s.mrcs", 0.5, 1, 1],
        ["m1.mrc", 400, 100, 0, 0, "000001@s.mrcs", 0.5, 2, 1],
    ]
    path = write_star(tmp_path / "tubes.star", labels, rows, optics=OPTICS)
    with pytest.raises(CryodedupError, match="--same-image reject compares segments"):
        run(tmp_path, [path], same_image="reject", filament_mode="tube")
    assert run(tmp_path, [path], "segments", same_image="reject").kept == 1


@pytest.mark.parametrize("mode", ["warn", "reject"])
def test_the_audit_counts_same_image_pairs_across_the_half_sets(tmp_path, mode):
    # reject makes the image pairs duplicates whatever their distance (trial 3's finding 8: they were then
    # counted as pairs within 10 Å too, and an image on two micrographs counted on the first's micrograph).
    labels = [*LABELS[:7], "rlnRandomSubset", "rlnOpticsGroup"]
    rows = [
        # image 1: halves 1 and 2, 50 Å apart: a same-image pair that straddles
        ["m1.mrc", 100, 100, 0, 0, "000001@s.mrcs", 0.5, 1, 1],
        ["m1.mrc", 150, 100, 0, 0, "000001@s.mrcs", 0.4, 2, 1],
        # image 2: three rows in half 1, two apart from the first: two pairs within one half
        ["m1.mrc", 300, 300, 0, 0, "000002@s.mrcs", 0.5, 1, 1],
        ["m1.mrc", 300, 350, 0, 0, "000002@s.mrcs", 0.4, 1, 1],
        ["m1.mrc", 300, 400, 0, 0, "000002@s.mrcs", 0.3, 1, 1],
        # image 3: two rows at one centre (a symmetry copy), halves 1 and 2: no same-image pair
        ["m1.mrc", 600, 600, 0, 0, "000003@s.mrcs", 0.5, 1, 1],
        ["m1.mrc", 600, 600, 0, 0, "000003@s.mrcs", 0.5, 2, 1],
        # image 4: on two micrographs (two motion-correction jobs' selections joined), halves 1 and 2
        ["m1.mrc", 800, 800, 0, 0, "000004@s.mrcs", 0.5, 1, 1],
        ["m2.mrc", 800, 800, 0, 0, "000004@s.mrcs", 0.4, 2, 1],
    ]
    path = write_star(tmp_path / "refined.star", labels, rows, optics=OPTICS)
    summary = run(tmp_path, [path], audit=True, same_image=mode)
    audit = summary.to_json()["halfset_audit"]
    assert audit["same_image_pairs"] == 4 and audit["same_image_straddling"] == 2
    # The distance rule's own pairs are counted apart: image 3's copies, 0 Å apart, straddle.
    assert audit["duplicate_pairs"] == 1 and audit["straddling_pairs"] == 1
    assert audit["top_micrographs"] == [{"micrograph": "m1.mrc", "straddling_pairs": 1, "particles": 8}]
    assert "2 pairs of rows of one particle image (at different centres) straddle" in audit["message"]
    # reject removed 4 rows holding a kept row's image: image 1's second, image 2's two others, image 4's
    # second (image 3's copy went by distance, and the copy's own image is kept at its centre alone).
    assert summary.to_json()["same_image"].get("rows_rejected") == (4 if mode == "reject" else None)


def cs_images(paths: list[str], idx: list[int], x: list[float], scores: list[float], sym=None) -> np.ndarray:
    fields = [("blob/path", "S40"), ("blob/idx", "<u4"), ("alignments2D/error", "<f4")]
    fields += [("sym_expand/idx", "<u4"), ("sym_expand/src_uid", "<u8")] if sym is not None else []
    r = located_records(np.full(len(x), 100), x, np.full(len(x), 100.0), fields)
    r["blob/path"] = [p.encode() for p in paths]
    r["blob/idx"] = idx
    r["alignments2D/error"] = scores  # lower is better
    if sym is not None:
        r["sym_expand/idx"] = sym
        r["sym_expand/src_uid"] = r["uid"] - r["uid"] % 2
    return r


def test_cryosparc_blob_path_and_index_name_the_image(tmp_path):
    # idx 3 of J7/a.mrc twice (80 Å apart); idx 3 of J7/b.mrc is another image.
    records = cs_images(
        ["J7/a.mrc", "J7/a.mrc", "J7/b.mrc", "J7/a.mrc"], [3, 4, 3, 3], [100, 300, 500, 180], [1, 1, 1, 2]
    )
    path = tmp_path / "p.cs"
    write_cs(path, records)
    found = run(tmp_path, [path]).to_json()["same_image"]
    assert found["column"] == "blob/path + blob/idx"
    assert (found["images_kept_twice"], found["rows"]) == (1, 2)
    assert found["named"] == ["J7/a.mrc #3"]
    summary = run(tmp_path, [path], "reject", same_image="reject")
    assert summary.kept == 3 and summary.to_json()["same_image"]["images_kept_twice"] == 0
    from cryosparc.dataset import Dataset

    kept = Dataset.load(tmp_path / "reject" / "particles_kept.cs")
    assert sorted(kept["uid"].tolist()) == [5000, 5001, 5002]  # the error 1 row of image a#3


def test_cryosparc_symmetry_copies_are_images_of_their_own(tmp_path):
    # sym_expand: one blob twice, copies 0 and 1, at centres 80 Å apart (helical expansion shifts).
    records = cs_images(["J7/a.mrc"] * 2, [3, 3], [100, 180], [1, 2], sym=[0, 1])
    path = tmp_path / "p.cs"
    write_cs(path, records)
    summary = run(tmp_path, [path], same_image="reject")
    assert summary.kept == 2
    assert summary.to_json()["same_image"]["column"] == "blob/path + blob/idx + sym_expand/idx"


@pytest.mark.parametrize("idx", [3, 4_000_000_000])
def test_a_symmetry_copy_twice_is_one_image_twice(tmp_path, idx):
    # Copies 0, 1 and 1 again of one blob, 80 Å apart: the two rows of copy 1 are one image.
    # Blob index 4e9 with two copies passes uint32: the copies are then told by their stacks.
    records = cs_images(["J7/a.mrc"] * 4, [idx, idx, idx, 5], [100, 180, 260, 400], [1, 2, 3, 1], sym=[0, 1, 1, 1])
    path = tmp_path / "p.cs"
    write_cs(path, records)
    found = run(tmp_path, [path]).to_json()["same_image"]
    assert (found["images_kept_twice"], found["rows"]) == (1, 2)
    assert run(tmp_path, [path], "reject", same_image="reject").kept == 3


def test_the_command_line_warns_and_takes_the_option(tmp_path):
    first, second = refined_twice(tmp_path)
    args = ["particles", str(first), str(second), "--outdir", str(tmp_path / "o"), "--min-dist", "10"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "1 image kept twice" in result.output
    assert "Same image twice" in result.output
    result = CliRunner().invoke(main, [*args, "--same-image", "reject", "--force", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["same_image"]["mode"] == "reject"
    result = CliRunner().invoke(main, [*args, "--same-image", "drop", "--force"])
    assert result.exit_code != 0 and "--same-image" in result.output


@st.composite
def split_extraction(draw):
    """One extraction's particles (a stack a micrograph, images 1..n) dealt into two files, each
    file's rows micrograph by micrograph in order (as a selection split in two writes them),
    with some images planted again in either file: (micrograph, image) rows of each file."""
    files: list[list[tuple[int, int]]] = [[], []]
    for mic in range(draw(st.integers(1, 3))):
        for image in range(1, draw(st.integers(1, 30)) + 1):
            files[draw(st.integers(0, 1))].append((mic, image))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        pool = files[0] + files[1]
        target = files[draw(st.integers(0, 1))]
        target.insert(draw(st.integers(0, len(target))), draw(st.sampled_from(pool)))
    return files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split_extraction())
def test_images_in_two_files_are_found_twice_as_a_set_of_stack_and_index_says(tmp_path_factory, files):
    # Every row at a centre of its own (100 Å apart): the distance rule keeps all, and an image
    # is kept twice exactly when its (stack, index) is in the inputs twice. The runs of each
    # stack in the two files overlap: the check proves them distinct row by row, not by range.
    folder = tmp_path_factory.mktemp("split")
    paths, number = [], 0
    for k, rows in enumerate(files):
        star_rows = []
        for mic, image in rows:
            star_rows.append([f"m{mic}.mrc", 100 * number, 50, 0, 0, f"{image:06d}@Extract/job007/m{mic}.mrcs", 0.5, 1])
            number += 1
        paths.append(write_star(tmp_path_factory.mktemp("in") / f"half{k}.star", LABELS, star_rows, optics=OPTICS))
    # (the second file's centres are the first's moved along one line: a translate the registration
    # check rightly finds, which this test of the same-image check does not ask about)
    found = run(folder, paths, registration="ignore").to_json()["same_image"]
    counts = Counter(files[0] + files[1])
    assert found["images_kept_twice"] == sum(n > 1 for n in counts.values())
    assert found["rows"] == sum(n for n in counts.values() if n > 1)


def greedy_across_micrographs(rows, min_dist):
    """Brute force for ``reject`` over every pair of rows: duplicates on one micrograph within
    ``min_dist``, or of one image on different micrographs or more than SAME_CENTRE apart on one.
    Rows are (micrograph, x, y, image, score); best score first, ties by row."""
    from oracle import SAME_CENTRE

    def duplicates(a, b):
        d = np.hypot(a[1] - b[1], a[2] - b[2])
        same_mic = a[0] == b[0]
        return (same_mic and d <= min_dist) or (a[3] == b[3] and (not same_mic or d > SAME_CENTRE))

    keep = [False] * len(rows)
    suppressed = [False] * len(rows)
    for i in sorted(range(len(rows)), key=lambda r: (-rows[r][4], r)):
        if suppressed[i]:
            continue
        keep[i] = True
        for j in range(len(rows)):
            if j != i and duplicates(rows[i], rows[j]):
                suppressed[j] = True
    return keep


def test_reject_reaches_an_image_whose_rows_lie_on_two_micrographs(tmp_path):
    # Trial 3: a JoinStar of two selections whose micrograph names differ (the second's from
    # another MotionCorr job) kept one image twice with --same-image reject, and the warning
    # then advised --same-image reject. Image 1 is on m1 in the first file, on m1 of another
    # folder in the second, refined 50 Å apart; the second file's row scores better.
    first = write_star(
        tmp_path / "a.star",
        LABELS,
        [["MotionCorr/job002/m1.mrc", 100, 100, 0, 0, "000001@Extract/job007/m1.mrcs", 0.5, 1]],
        optics=OPTICS,
    )
    second = write_star(
        tmp_path / "b.star",
        LABELS,
        [
            ["MotionCorr/job020/m1.mrc", 100, 100, -50, 0, "000001@Extract/job007/m1.mrcs", 0.9, 1],
            ["MotionCorr/job020/m1.mrc", 400, 400, 0, 0, "000002@Extract/job007/m1.mrcs", 0.1, 1],
        ],
        optics=OPTICS,
    )
    summary = run(tmp_path, [first, second], same_image="reject")
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [0, 2]
    assert summary.to_json()["same_image"]["images_kept_twice"] == 0 and not any(
        "kept twice" in w for w in summary.warnings
    )
    warned = run(tmp_path, [first, second], name="warned")  # warn: the same image named, both kept
    assert [i["kept"] for i in warned.to_json()["inputs"]] == [1, 2] and warned.to_json()["same_image"][
        "images_kept_twice"
    ] == 1


@pytest.mark.parametrize("seed", range(12))
def test_reject_across_micrographs_matches_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 60))
    mics = [f"MotionCorr/job{j:03d}/m{k}.mrc" for j in (2, 20) for k in (1, 2, 3)]
    rows = []
    for _ in range(n):
        mic = int(rng.integers(len(mics)))
        x, y = rng.uniform(0, 300, 2).round(1)
        image = int(rng.integers(1, n // 2 + 2))  # images shared within and across micrographs
        rows.append((mic, float(x), float(y), image, round(float(rng.uniform()), 3)))
    star = write_star(
        tmp_path / "joined.star",
        LABELS,
        [[mics[m], x, y, 0, 0, f"{i:06d}@Extract/job007/stack.mrcs", s, 1] for m, x, y, i, s in rows],
        optics=OPTICS,
    )
    remove_duplicate_particles(
        [star], tmp_path / "out", ParticleOptions(min_dist=40, same_image="reject", score="rlnMaxValueProbDistribution")
    )
    lines = star.read_text().split("data_particles", 1)[1].splitlines()
    body = [line for line in lines if line.strip() and not line.lstrip().startswith(("_", "loop_", "#"))]
    keep = greedy_across_micrographs(rows, 40)
    assert kept_rows(tmp_path / "out" / "particles_kept.star") == [line for line, k in zip(body, keep) if k]


def test_warn_names_an_image_on_two_micrographs_at_one_centre(tmp_path):
    # A JoinStar of two motion-correction jobs' selections not refined apart: image 1's two rows
    # at the same coordinates on two micrographs. Symmetry copies share their micrograph, so
    # these are the image twice: warn names it (it did not), as reject rejects it.
    rows = [
        ["MotionCorr/job002/m1.mrc", 100, 100, 0, 0, "000001@Extract/job007/m1.mrcs", 0.5, 1],
        ["MotionCorr/job020/m1.mrc", 100, 100, 0, 0, "000001@Extract/job007/m1.mrcs", 0.9, 1],
    ]
    joined = write_star(tmp_path / "joined.star", LABELS, rows, optics=OPTICS)  # one file: two micrographs
    warned = run(tmp_path, [joined])
    assert warned.to_json()["inputs"][0]["kept"] == 2
    assert warned.to_json()["same_image"]["images_kept_twice"] == 1 and warned.to_json()["same_image"]["rows"] == 2
    rejected = run(tmp_path, [joined], name="rejected", same_image="reject")
    assert rejected.to_json()["inputs"][0]["kept"] == 1
    kept = kept_rows(tmp_path / "rejected" / "particles_kept.star")
    assert [row.split()[0] for row in kept] == ["MotionCorr/job020/m1.mrc"]  # the better score


@pytest.mark.parametrize("seed", range(8))
def test_warn_counts_the_images_reject_would_reject(tmp_path, seed):
    # Brute force over the kept rows of a warn run: an image is kept twice when two of its kept
    # rows lie on different micrographs or more than SAME_CENTRE_A apart on one. Rows repeat
    # exact coordinates often (symmetry copies on one micrograph, joins across two).
    rng = np.random.default_rng(100 + seed)
    mics = [f"MotionCorr/job{j:03d}/m{k}.mrc" for j in (2, 20) for k in (1, 2)]
    rows = []
    for _ in range(int(rng.integers(20, 50))):
        mic, image = int(rng.integers(len(mics))), int(rng.integers(1, 12))
        x, y = (100.0 * image, 50.0) if rng.uniform() < 0.5 else tuple(rng.uniform(0, 2000, 2).round(1))
        rows.append((mic, x, y, image, round(float(rng.uniform()), 3)))
    star = write_star(
        tmp_path / "joined.star",
        LABELS,
        [[mics[m], x, y, 0, 0, f"{i:06d}@Extract/job007/stack.mrcs", s, 1] for m, x, y, i, s in rows],
        optics=OPTICS,
    )
    summary = remove_duplicate_particles(
        [star], tmp_path / "out", ParticleOptions(min_dist=20, score="rlnMaxValueProbDistribution")
    )
    lines = star.read_text().split("data_particles", 1)[1].splitlines()
    body = [line for line in lines if line.strip() and not line.lstrip().startswith(("_", "loop_", "#"))]
    kept = set(kept_rows(tmp_path / "out" / "particles_kept.star"))
    kept_of_image: dict[int, list[tuple]] = {}
    for line, row in zip(body, rows):
        if line in kept:
            kept_of_image.setdefault(row[3], []).append(row)
    twice = [
        image
        for image, its in kept_of_image.items()
        if any(a[0] != b[0] or np.hypot(a[1] - b[1], a[2] - b[2]) > 1e-3 for a in its for b in its)
    ]
    assert summary.to_json()["same_image"]["images_kept_twice"] == len(twice)
    assert summary.to_json()["same_image"]["rows"] == sum(len(kept_of_image[i]) for i in twice)


def test_the_api_checks_images_of_particles_in_memory(tmp_path):
    # Trial 3: remove_duplicates on starfile.read's tables kept 324 of 365 in every mode, no
    # warning; a CryoSPARC array warned of nothing. The in-memory rows must be decided and
    # warned of as the same rows from the file are.
    import warnings

    import starfile

    from cryodedup import remove_duplicates
    from cryodedup.api import keyword_names

    first, second = refined_twice(tmp_path)
    joined = starfile.read(first, always_dict=True)
    joined["particles"] = pd.concat([joined["particles"], starfile.read(second, always_dict=True)["particles"]])
    joined["particles"] = joined["particles"].reset_index(drop=True)
    starfile.write(joined, tmp_path / "joined.star")
    # Image 1 twice (50 Å apart), image 2 once (1 Å apart: run 2's), image 3 lost to image 4 (5 Å).
    expected = {"warn": {1: 2, 2: 1, 4: 1}, "reject": {1: 1, 2: 1, 4: 1}, "ignore": {1: 2, 2: 1, 4: 1}}
    for mode, images in expected.items():
        from_file = run(tmp_path, [tmp_path / "joined.star"], f"file_{mode}", same_image=mode)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kept, _ = remove_duplicates(joined, min_dist=10, same_image=mode)
        names = kept["particles"]["rlnImageName"].tolist()
        assert (
            Counter(int(name.split("@")[0]) for name in names)
            == images
            == Counter(
                int(line.split()[5].split("@")[0])
                for line in kept_rows(tmp_path / f"file_{mode}" / "particles_kept.star")
            )
        )
        said = [str(w.message) for w in caught if "kept twice" in str(w.message)]
        assert said == ([keyword_names(from_file.to_json()["same_image"]["message"])] if mode == "warn" else []), said
    records = cs_images(["J7/a.mrc", "J7/a.mrc", "J7/b.mrc"], [3, 4, 3], [100, 300, 180], [1, 1, 2])
    records = np.concatenate([records, cs_images(["J7/a.mrc"], [3], [500], [2])])
    records["uid"] = np.arange(records.size) + 7000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept, _ = remove_duplicates(records, min_dist=10)
    # a#3 at x 100 and 500 (both kept: 400 Å apart), a#4, b#3: four kept, a#3 named.
    assert kept.size == 4 and any("kept twice" in str(w.message) and "J7/a.mrc #3" in str(w.message) for w in caught)


def test_reject_confirms_an_image_by_every_input_that_holds_it(tmp_path):
    # Two refined selections of one extraction: image 1 refined 50 Å apart in the two. Under reject it
    # is one particle that both inputs hold: confirmed (it was "kept alone", and lost to --min-support 2).
    first, second = refined_twice(tmp_path)
    for min_support, kept in ((1, [0, 3]), (2, [0, 3])):
        summary = run(tmp_path, [first, second], f"k{min_support}", same_image="reject", min_support=min_support)
        assert [i["kept"] for i in summary.to_json()["inputs"]] == kept
        per_input = summary.to_json()["consensus"]["per_input"][1]
        assert (per_input["kept_confirmed"], per_input["kept_alone"]) == (3, 0)
    # warn keeps the distance rule's word: image 1's rows are 50 Å apart, each unconfirmed.
    warned = run(tmp_path, [first, second], "warned", min_support=2)
    assert [i["kept"] for i in warned.to_json()["inputs"]] == [0, 2]


@pytest.mark.parametrize("seed", range(10))
def test_reject_with_min_support_matches_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    mics = ["MotionCorr/job002/m1.mrc", "MotionCorr/job002/m2.mrc"]
    rows = []  # (input, micrograph, x, y, image, score); each input has picks on both micrographs
    for source in (0, 1):
        for k in range(int(rng.integers(12, 30))):
            mic = k % 2 if k < 2 else int(rng.integers(2))
            x, y = rng.uniform(0, 250, 2).round(1)
            rows.append((source, mic, float(x), float(y), int(rng.integers(1, 15)), round(float(rng.uniform()), 3)))
    paths = [
        write_star(
            tmp_path / f"in{source}.star",
            LABELS,
            [
                [mics[m], x, y, 0, 0, f"{i:06d}@Extract/job007/stack.mrcs", s, 1]
                for src, m, x, y, i, s in rows
                if src == source
            ],
            optics=OPTICS,
        )
        for source in (0, 1)
    ]
    summary = run(tmp_path, paths, same_image="reject", min_support=2, score="rlnMaxValueProbDistribution")
    groups = [m for _, m, *_ in rows]
    coords = [(x, y) for _, _, x, y, _, _ in rows]
    images = [i for *_, i, _ in rows]
    keep, _ = oracle(groups, coords, [s for *_, s in rows], 10, images=images)
    support = oracle_support(groups, coords, [src for src, *_ in rows], 10, images=images)
    expected = np.array(keep) & (support >= 2)
    got = [
        (line.split()[0], float(line.split()[1]), float(line.split()[2]))
        for line in kept_rows(tmp_path / "out" / "particles_kept.star")
    ]
    assert sorted(got) == sorted((mics[m], x, y) for (_, m, x, y, _, _), k in zip(rows, expected) if k)
    assert summary.kept == int(expected.sum())
