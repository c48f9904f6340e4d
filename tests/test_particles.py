"""cryodedup.particles: centres, pixel sizes, merging and byte-exact outputs."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import OPTICS_LABELS, star_text, write_star
from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.synthetic import write_benchmark_file
from oracle import oracle_by_group, star_centres

P31 = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnAutopickFigureOfMerit",
    "rlnImageName",
]


def run(tmp_path, inputs, **options):
    force = options.pop("force", False)
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options), force=force)


def rows_of(path) -> list[str]:
    """Data rows of the last loop, by plain text (independent of cryodedup's reader)."""
    lines = path.read_text().splitlines(keepends=True)
    last_label = max(i for i, line in enumerate(lines) if line.startswith("_"))
    return [line for line in lines[last_label + 1 :] if line.strip()]


def kept_names(tmp_path) -> list[str]:
    return [r.split()[-1] for r in rows_of(tmp_path / "out" / "particles_kept.star")]


# --- the frame: signs and pixel sizes -------------------------------------------------------


def test_origin_is_subtracted(tmp_path):
    # Micrograph pixel 0.8 Å, particle pixel 2 Å. "b" was picked 30 px right of and 20 px
    # below "a"'s centre; 2D alignment wrote the origin that re-centres it (+24, -16 Å).
    rows = [[1000, 1000, 0, 0, "m.mrc", 1, 2.0, "a"], [1030, 980, 24.0, -16.0, "m.mrc", 1, 1.0, "b"]]
    path = write_star(tmp_path / "p.star", P31, rows, optics=[[1, "og1", 2.0, 0.8]])
    summary = run(tmp_path, [path], min_dist=0.5)
    assert kept_names(tmp_path) == ["a"] and summary["rejected"] == 1
    # Added instead of subtracted, the two would be 2 x 36 Å apart; unshifted, 28.8 Å.
    assert run(tmp_path, [path], min_dist=28.0, shift_key="none", force=True)["rejected"] == 0
    assert run(tmp_path, [path], min_dist=28.9, shift_key="none", force=True)["rejected"] == 1


def test_relion30_origins_are_in_particle_pixels(tmp_path):
    # RELION 3.0: rlnOriginX in particle pixels of 1e4 * 5 / 25000 = 2 Å; micrograph 1 Å.
    labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnOriginX",
        "rlnOriginY",
        "rlnDetectorPixelSize",
        "rlnMagnification",
        "rlnMicrographName",
        "rlnImageName",
    ]
    rows = [[1000, 1000, 0, 0, 5, 25000, "m.mrc", "a"], [1030, 980, 15, -10, 5, 25000, "m.mrc", "b"]]
    path = write_star(tmp_path / "p.star", labels, rows, block="images")
    with pytest.raises(CryodedupError, match="no micrograph pixel size.*--mic-psize"):
        run(tmp_path, [path], score="none")
    summary = run(tmp_path, [path], score="none", mic_psize=1.0, min_dist=0.5)
    assert summary["rejected"] == 1 and summary["shift"] == "rlnOriginX, rlnOriginY"


def pair_15px(tmp_path, optics_labels, optics_row, name="p.star"):
    """Two particles 15 px apart on one micrograph, for pixel-size rules (min_dist 20 Å)."""
    rows = [[1000, 1000, 0, 0, "m.mrc", 1, 2.0, "a"], [1015, 1000, 0, 0, "m.mrc", 1, 1.0, "b"]]
    return write_star(tmp_path / name, P31, rows, optics=[optics_row], optics_labels=optics_labels)


def test_micrograph_pixel_size_is_preferred(tmp_path):
    labels = OPTICS_LABELS + ["rlnMicrographOriginalPixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 1.0, 2.0, 1.0])  # micrograph 2 Å: 30 Å apart
    summary = run(tmp_path, [path])
    assert summary["rejected"] == 0
    assert summary["pixel_sizes"][0]["psize"] == 2.0 and summary["pixel_sizes"][0]["source"] == "rlnMicrographPixelSize"


def test_image_pixel_size_is_never_used(tmp_path):
    # Particles binned 2x: rlnImagePixelSize 2 Å would put them 30 Å apart; they are 15 Å.
    labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographOriginalPixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 2.0, 1.0])
    summary = run(tmp_path, [path])
    assert summary["rejected"] == 1
    assert "rlnMicrographOriginalPixelSize" in summary["warnings"][0]
    only_image = pair_15px(tmp_path, labels[:3], [1, "og1", 2.0], name="q.star")
    with pytest.raises(CryodedupError, match="optics group 1 has no micrograph pixel size.*--mic-psize"):
        run(tmp_path, [only_image], force=True)


def test_mic_psize_option_and_micrographs_star(tmp_path):
    labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 2.0])
    assert run(tmp_path, [path], mic_psize=1.0)["rejected"] == 1
    assert run(tmp_path, [path], mic_psize=1.5, force=True)["rejected"] == 0
    mics = tmp_path / "micrographs.star"
    mics.write_text(
        star_text(
            ["rlnMicrographName", "rlnOpticsGroup"],
            [["m.mrc", 1]],
            block="micrographs",
            optics=[[1, "og1", 1.0]],
            optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"],
        )
    )
    summary = run(tmp_path, [path], micrographs=mics, force=True)
    assert summary["rejected"] == 1 and summary["pixel_sizes"][0]["psize"] == 1.0
    other = tmp_path / "other.star"
    other.write_text(mics.read_text().replace("m.mrc", "n.mrc"))
    with pytest.raises(CryodedupError, match="micrograph 'm.mrc' is not in"):
        run(tmp_path, [path], micrographs=other, force=True)


def test_pixel_size_per_optics_group(tmp_path):
    rows = [
        [1000, 1000, 0, 0, "m1.mrc", 1, 2.0, "a"],
        [1015, 1000, 0, 0, "m1.mrc", 1, 1.0, "b"],
        [1000, 1000, 0, 0, "m2.mrc", 2, 2.0, "c"],
        [1015, 1000, 0, 0, "m2.mrc", 2, 1.0, "d"],
    ]
    path = write_star(tmp_path / "p.star", P31, rows, optics=[[1, "og1", 2.0, 1.0], [2, "og2", 6.0, 3.0]])
    summary = run(tmp_path, [path])
    assert kept_names(tmp_path) == ["a", "c", "d"]
    assert [(p["optics_group"], p["psize"]) for p in summary["pixel_sizes"]] == [("1", 1.0), ("2", 3.0)]


def test_tomograms_use_centred_coordinates_in_angstrom(tmp_path):
    labels = [
        "rlnTomoName",
        "rlnCenteredCoordinateXAngst",
        "rlnCenteredCoordinateYAngst",
        "rlnCenteredCoordinateZAngst",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnOriginZAngst",
        "rlnImageName",
    ]
    rows = [
        ["t1", 100, 100, 50, 0, 0, 0, "a"],
        ["t1", 110, 100, 50, 10, 0, 0, "b"],
        ["t1", 100, 100, 70, 0, 0, 0, "c"],
        ["t2", 100, 100, 50, 0, 0, 0, "d"],
    ]
    path = write_star(tmp_path / "p.star", labels, rows)
    summary = run(tmp_path, [path], score="none", min_dist=5)
    assert kept_names(tmp_path) == ["a", "c", "d"] or kept_names(tmp_path) == ["b", "c", "d"]
    assert summary["micrographs"] == 2


# --- outputs: byte-exact rows, agreement with an independent oracle -------------------------


def test_outputs_are_row_copies_and_agree_with_oracle(tmp_path):
    path = tmp_path / "bench.star"
    write_benchmark_file(path, 6000, per_mic=300, seed=4)
    summary = run(tmp_path, [path], min_dist=20.0, score="rlnMaxValueProbDistribution")
    kept_file, rejected_file = tmp_path / "out" / "particles_kept.star", tmp_path / "out" / "particles_rejected.star"

    source = path.read_bytes()
    header = source[: source.index(rows_of(path)[0].encode())]
    assert kept_file.read_bytes().startswith(header) and rejected_file.read_bytes().startswith(header)

    table, centres, mics = star_centres(path)
    groups = np.unique(mics, return_inverse=True)[1]
    expected = oracle_by_group(groups, centres, table["rlnMaxValueProbDistribution"].to_numpy(), 20.0)
    rows = rows_of(path)
    assert rows_of(kept_file) == [r for r, k in zip(rows, expected) if k]
    assert rows_of(rejected_file) == [r for r, k in zip(rows, expected) if not k]
    assert summary["kept"] == expected.sum() and 0 < summary["rejected"] < 6000


def test_nothing_removed_gives_the_input_back(tmp_path):
    path = tmp_path / "bench.star"
    write_benchmark_file(path, 500, duplicate_fraction=0.0, seed=1)
    run(tmp_path, [path], min_dist=0.0, score="none")
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == path.read_bytes()
    assert rows_of(tmp_path / "out" / "particles_rejected.star") == []


def test_remove_entirely(tmp_path):
    rows = [
        [1000, 1000, 0, 0, "m.mrc", 1, 2.0, "a"],
        [1010, 1000, 0, 0, "m.mrc", 1, 1.0, "b"],
        [3000, 1000, 0, 0, "m.mrc", 1, 1.0, "c"],
    ]
    path = write_star(tmp_path / "p.star", P31, rows, optics=[[1, "og1", 1.0, 1.0]])
    assert run(tmp_path, [path], remove_entirely=True)["rejected"] == 2
    assert kept_names(tmp_path) == ["c"]


def test_empty_particle_table(tmp_path):
    path = write_star(tmp_path / "p.star", P31, [], optics=[[1, "og1", 1.0, 1.0]])
    summary = run(tmp_path, [path])
    assert summary["particles"] == 0
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == path.read_bytes()


# --- several inputs ----------------------------------------------------------------------


def test_two_pickers_merge_and_cross_input_duplicates(tmp_path):
    a = write_star(
        tmp_path / "a.star",
        P31,
        [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"], [2000, 1000, 0, 0, "m.mrc", 1, 1.0, "a2"]],
        optics=[[1, "og1", 2.0, 1.0]],
    )
    b = write_star(
        tmp_path / "b.star",
        P31,
        [[1005, 1000, 0, 0, "m.mrc", 1, 3.0, "b1"], [1000, 1000, 0, 0, "other.mrc", 1, 1.0, "b2"]],
        optics=[[1, "og1", 2.0, 1.0]],
    )
    summary = run(tmp_path, [a, b])
    assert kept_names(tmp_path) == ["a2", "b1", "b2"]
    assert [(i["kept"], i["rejected"]) for i in summary["inputs"]] == [(1, 1), (2, 0)]
    kept = (tmp_path / "out" / "particles_kept.star").read_text()
    assert kept.count("og1") == 1  # identical optics groups are not duplicated


def test_clashing_optics_groups_are_renumbered(tmp_path):
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    b_rows = [[3000, 1000, 0, 0, "m.mrc", 1, 1.0, "b1"], [1000, 1000, 0, 0, "n.mrc", 1, 1.0, "b2"]]
    b = write_star(tmp_path / "b.star", P31, b_rows, optics=[[1, "og1", 4.0, 1.0]])  # binned 4x: another group
    run(tmp_path, [a, b])
    out = tmp_path / "out" / "particles_kept.star"
    text = out.read_text()
    assert "1 og1 2.0 1.0\n2 opticsGroup2 4.0 1.0\n" in text
    kept = rows_of(out)
    assert kept[0] == "1000 1000 0 0 m.mrc 1 1.0 a1\n"
    assert kept[1:] == ["3000 1000 0 0 m.mrc 2 1.0 b1\n", "1000 1000 0 0 n.mrc 2 1.0 b2\n"]


def test_inputs_with_different_columns_are_refused(tmp_path):
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    b = write_star(
        tmp_path / "b.star",
        P31[:-1] + ["rlnClassNumber"],
        [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, 3]],
        optics=[[1, "og1", 2.0, 1.0]],
    )
    with pytest.raises(CryodedupError, match="only in a.star: rlnImageName; only in b.star: rlnClassNumber"):
        run(tmp_path, [a, b])
    c = write_star(
        tmp_path / "c.star", P31[::-1], [["a1", 1.0, 1, "m.mrc", 0, 0, 1000, 1000]], optics=[[1, "og1", 2.0, 1.0]]
    )
    with pytest.raises(CryodedupError, match="different order"):
        run(tmp_path, [a, c])
    assert not (tmp_path / "out").exists()


def test_an_error_in_a_later_input_writes_nothing(tmp_path):
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    b = write_star(tmp_path / "b.star", P31, [[1000, "x", 0, 0, "m.mrc", 1, 1.0, "b1"]], optics=[[1, "og1", 2.0, 1.0]])
    with pytest.raises(CryodedupError, match="b.star: line"):
        run(tmp_path, [a, b])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
