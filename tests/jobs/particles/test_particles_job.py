"""cryodedup.particles: centres, pixel sizes, merging and byte-exact outputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
import starfile

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import EXAMPLES
from cryodedup.report.sections import Sections
from cryodedup.report.summary import report_rows
from fixtures.synthetic import (
    PARTICLE_COLUMNS,
    Optics,
    format_rows,
    micrograph_names,
    particle_columns,
    pick,
    scatter_particles,
    star_header,
    write_benchmark_file,
)
from helpers import OPTICS_LABELS, shared_file, star_text, write_star
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
    assert kept_names(tmp_path) == ["a"] and summary.rejected == 1
    # Added instead of subtracted, the two would be 2 x 36 Å apart; unshifted, 28.8 Å.
    assert run(tmp_path, [path], min_dist=28.0, shift_key="none", force=True).rejected == 0
    assert run(tmp_path, [path], min_dist=28.9, shift_key="none", force=True).rejected == 1


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
    assert summary.rejected == 1 and summary.to_json()["shift"] == "rlnOriginX, rlnOriginY"


def pair_15px(tmp_path, optics_labels, optics_row, name="p.star"):
    """Two particles 15 px apart on one micrograph, for pixel-size rules (min_dist 20 Å)."""
    rows = [[1000, 1000, 0, 0, "m.mrc", 1, 2.0, "a"], [1015, 1000, 0, 0, "m.mrc", 1, 1.0, "b"]]
    return write_star(tmp_path / name, P31, rows, optics=[optics_row], optics_labels=optics_labels)


def test_micrograph_pixel_size_is_preferred(tmp_path):
    labels = [*OPTICS_LABELS, "rlnMicrographOriginalPixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 1.0, 2.0, 1.0])  # micrograph 2 Å: 30 Å apart
    summary = run(tmp_path, [path])
    assert summary.rejected == 0
    assert (
        summary.to_json()["pixel_sizes"][0]["psize"] == 2.0
        and summary.to_json()["pixel_sizes"][0]["source"] == "rlnMicrographPixelSize"
    )


def test_image_pixel_size_is_never_used(tmp_path):
    # Particles binned 2x: rlnImagePixelSize 2 Å would put them 30 Å apart; they are 15 Å.
    labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographOriginalPixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 2.0, 1.0])
    summary = run(tmp_path, [path])
    assert summary.rejected == 1
    assert "rlnMicrographOriginalPixelSize" in summary.warnings[0]
    only_image = pair_15px(tmp_path, labels[:3], [1, "og1", 2.0], name="q.star")
    with pytest.raises(CryodedupError, match="optics group 1 has no micrograph pixel size.*--mic-psize"):
        run(tmp_path, [only_image], force=True)


def test_mic_psize_option_and_micrographs_star(tmp_path):
    labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize"]
    path = pair_15px(tmp_path, labels, [1, "og1", 2.0])
    assert run(tmp_path, [path], mic_psize=1.0).rejected == 1
    assert run(tmp_path, [path], mic_psize=1.5, force=True).rejected == 0
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
    assert summary.rejected == 1 and summary.to_json()["pixel_sizes"][0]["psize"] == 1.0
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
    assert [(p["optics_group"], p["psize"]) for p in summary.to_json()["pixel_sizes"]] == [("1", 1.0), ("2", 3.0)]


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
    assert summary.micrographs == 2


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
    assert summary.kept == expected.sum() and 0 < summary.rejected < 6000


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
    assert run(tmp_path, [path], remove_entirely=True).rejected == 2
    assert kept_names(tmp_path) == ["c"]


def test_empty_particle_table(tmp_path):
    path = write_star(tmp_path / "p.star", P31, [], optics=[[1, "og1", 1.0, 1.0]])
    summary = run(tmp_path, [path])
    assert summary.particles == 0
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
    assert [(i["kept"], i["rejected"]) for i in summary.to_json()["inputs"]] == [(1, 1), (2, 0)]
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


def test_renumbered_optics_groups_are_said_in_the_summary_and_json(tmp_path):
    # As above: b's group 1 (binned 4x) is group 2 in the outputs; the summary says which input's became which.
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    b_optics = [[1, "og4", 4.0, 1.0], [2, "og1", 2.0, 1.0]]  # its group 2 is a's group 1: mapped onto it
    b_rows = [[3000, 1000, 0, 0, "m.mrc", 1, 1.0, "b1"], [1000, 1000, 0, 0, "n.mrc", 2, 1.0, "b2"]]
    b = write_star(tmp_path / "b.star", P31, b_rows, optics=b_optics)
    summary = run(tmp_path, [a, b])
    assert summary.to_json()["optics_groups_renumbered"] == [{"input": "b.star", "groups": {"1": 2, "2": 1}}]
    assert rows_of(tmp_path / "out" / "particles_kept.star")[1:] == [
        "3000 1000 0 0 m.mrc 2 1.0 b1\n",
        "1000 1000 0 0 n.mrc 1 1.0 b2\n",
    ]
    rows = dict(report_rows(summary.overview(), Sections())[0])
    assert rows["Optics groups renumbered"].split("\n")[0] == "b.star: 1 -> 2, 2 -> 1"
    # Nothing renumbered: no entry, no row.
    alone = run(tmp_path, [a], force=True)
    assert "optics_groups_renumbered" not in alone.to_json() and "Optics groups renumbered" not in dict(
        report_rows(alone.overview(), Sections())[0]
    )


def test_renumbered_optics_group_without_a_particle_column_is_refused_clearly(tmp_path):
    # b's optics group 1 (binned 2x) becomes group 2 in the merged output, but b's particles
    # carry no rlnOpticsGroup field to follow it: refused by name, before anything is written
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]
    a = write_star(tmp_path / "a.star", labels, [[10, 10, "m.mrc"]], optics=[[1, "og1", 2.0, 1.0]])
    b = write_star(tmp_path / "b.star", labels, [[900, 10, "m.mrc"]], optics=[[1, "og1", 3.0, 1.5]])
    with pytest.raises(
        CryodedupError, match=r"b\.star: data_particles .*optics group 1 is renumbered 2.*rlnOpticsGroup"
    ):
        run(tmp_path, [a, b], mic_psize=1.0, insist_psize=True)  # (1 Å contradicts b's 1.5 Å: insisted on)
    assert not (tmp_path / "out" / "particles_kept.star").exists()


# Two pickers as RELION's tutorial writes them (LoG and template: Extract, Class2D, Select):
# the same columns, with rlnClassNumber and rlnAutopickFigureOfMerit in another order.
SELECT = [label for label, _ in PARTICLE_COLUMNS]
SWAPPED = [*SELECT[:2], "rlnClassNumber", "rlnAutopickFigureOfMerit", *SELECT[4:]]
assert SELECT[2:4] == ["rlnAutopickFigureOfMerit", "rlnClassNumber"]


def select_job(path, picker: int, labels, *, optics=None, drop=(), extra=None):
    """A Select job's particles.star of one picker on four shared micrographs; the two
    pickers found many of the same particles. ``labels`` sets the column order."""
    rng = np.random.default_rng(7)
    truth = [scatter_particles(rng, 40, spacing_px=140) for _ in range(4)]
    names = micrograph_names(0, 4)
    rng = np.random.default_rng(100 + picker)
    per_mic = [pick(rng, t, 0.85, 4 + 2 * picker, 3) for t in truth]
    coords = np.vstack([c for c, _ in per_mic])
    true = np.vstack([t for _, t in per_mic])
    mics = [names[m] for m, (c, _) in enumerate(per_mic) for _ in range(len(c))]
    cols = particle_columns(rng, coords, true, mics, 1.06, first_image=1000 * picker)
    cols["rlnImageName"] = [f"{i:06d}@Extract/job{7 + picker:03d}/{m[:-4]}.mrcs" for i, m in enumerate(mics, 1)]
    cols.update(extra or {})
    formats = dict(PARTICLE_COLUMNS) | dict.fromkeys(extra or {}, "%d")
    labels = [label for label in labels if label not in drop]
    text = star_header([optics or Optics(mic_psize=1.06)], labels) + format_rows(
        cols, [(label, formats[label]) for label in labels]
    )
    path.write_text(text + "\n")
    return path


def loop_of(path):
    """(labels, rows as lists of field texts, row lines) of the particle loop, by plain
    text: labels are the _ lines after the last loop_, rows the lines after them."""
    lines = path.read_text().splitlines(keepends=True)
    start = max(i for i, line in enumerate(lines) if line.startswith("loop_"))
    labels = [line.split()[0][1:] for line in lines[start + 1 :] if line.startswith("_")]
    rows = rows_of(path)
    return labels, [r.split() for r in rows], rows


def by_image(path) -> dict[str, dict[str, str]]:
    labels, rows, _ = loop_of(path)
    image = labels.index("rlnImageName")
    return {row[image]: dict(zip(labels, row)) for row in rows}


def assert_fields_moved_unchanged(out_path, inputs):
    """Every output field's text is its input field's text, for the same particle."""
    source = {}
    for path in inputs:
        source.update(by_image(path))
    labels, rows, _ = loop_of(out_path)
    image = labels.index("rlnImageName")
    for row in rows:
        assert len(row) == len(labels)
        assert dict(zip(labels, row)) == {lab: source[row[image]][lab] for lab in labels}


def test_pickers_with_columns_in_another_order_are_merged(tmp_path):
    log = select_job(tmp_path / "log.star", 1, SELECT)
    template = select_job(tmp_path / "template.star", 2, SWAPPED)
    same_order = select_job(tmp_path / "template_same_order.star", 2, SELECT)
    score = "rlnMaxValueProbDistribution"
    swapped = remove_duplicate_particles([log, template], tmp_path / "swapped", ParticleOptions(score=score))
    equal = remove_duplicate_particles([log, same_order], tmp_path / "equal", ParticleOptions(score=score))
    assert 0 < swapped.rejected == equal.rejected and swapped.warnings == []
    for name in ("particles_kept.star", "particles_rejected.star"):
        out = tmp_path / "swapped" / name
        assert set(by_image(out)) == set(by_image(tmp_path / "equal" / name))
        assert loop_of(out)[0] == SELECT  # the first input's column order
        assert_fields_moved_unchanged(out, [log, template])
        # The first input's rows are byte copies; the header is the first input's.
        from_log = [r for r in loop_of(out)[2] if "@Extract/job008/" in r]
        assert from_log and set(from_log) <= set(loop_of(log)[2])
        assert out.read_text().startswith(log.read_text().split(loop_of(log)[2][0])[0])


def test_different_column_sets_are_written_each_to_files_of_its_own(tmp_path):
    # Issue 64: today's main writes the shared columns alone; every row keeps every column now.
    helical = {"rlnHelicalTubeID": np.arange(10_000)}
    log = select_job(tmp_path / "log.star", 1, [*SELECT, "rlnHelicalTubeID"], extra=helical)
    template = select_job(tmp_path / "template.star", 2, SWAPPED, drop=["rlnClassNumber", "rlnAnglePsi"])
    summary = remove_duplicate_particles(
        [log, template], tmp_path / "out", ParticleOptions(score="rlnMaxValueProbDistribution")
    )
    (warning,) = summary.warnings
    for label in ("rlnClassNumber", "rlnAnglePsi", "rlnHelicalTubeID"):
        assert re.search(rf"{label} \(only in log.star\)", warning)
    assert not (tmp_path / "out/particles_kept.star").exists()
    assert summary.to_json()["outputs"]["kept"] == [
        str(tmp_path / f"out/particles_kept_{n}.star") for n in ("log", "template")
    ]
    for source in (log, template):
        kept, rejected = (tmp_path / f"out/particles_{s}_{source.stem}.star" for s in ("kept", "rejected"))
        # The input's own header, and its rows byte for byte: kept and rejected are its rows, once each.
        assert kept.read_text().split("loop_")[:-1] == source.read_text().split("loop_")[:-1]
        assert sorted(rows_of(kept) + rows_of(rejected)) == sorted(rows_of(source))
    assert summary.kept == sum(len(rows_of(tmp_path / f"out/particles_kept_{n}.star")) for n in ("log", "template"))


def test_optics_tables_with_other_columns_are_written_each_to_files_of_its_own(tmp_path):
    refine = select_job(tmp_path / "run_data.star", 1, SELECT)
    text = refine.read_text()
    shiny = tmp_path / "shiny.star"
    shiny.write_text(
        text.replace(
            "_rlnMicrographPixelSize #10 \n", "_rlnMicrographPixelSize #10 \n_rlnCtfDataAreCtfPremultiplied #11 \n"
        ).replace("           2     1.060000 \n", "           2     1.060000 0 \n")
    )
    assert starfile.read(shiny)["optics"]["rlnCtfDataAreCtfPremultiplied"].tolist() == [0]
    summary = run(tmp_path, [refine, shiny])
    assert any("optics column rlnCtfDataAreCtfPremultiplied (only in shiny.star)" in w for w in summary.warnings)
    for source in (refine, shiny):
        kept, rejected = (tmp_path / f"out/particles_{s}_{source.stem}.star" for s in ("kept", "rejected"))
        assert starfile.read(kept)["optics"].equals(starfile.read(source)["optics"])
        assert sorted(rows_of(kept) + rows_of(rejected)) == sorted(rows_of(source))


def test_optics_columns_in_another_order_are_matched_by_name(tmp_path):
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    reordered = [OPTICS_LABELS[1], OPTICS_LABELS[0], *OPTICS_LABELS[2:]]
    b_rows = [[3000, 1000, 0, 0, "m.mrc", 1, 1.0, "b1"], [1000, 1000, 0, 0, "n.mrc", 2, 1.0, "b2"]]
    optics = [["og1", 1, 2.0, 1.0], ["og2", 2, 4.0, 2.0]]
    b = write_star(tmp_path / "b.star", P31, b_rows, optics=optics, optics_labels=reordered)
    run(tmp_path, [a, b])
    optics_out = starfile.read(tmp_path / "out" / "particles_kept.star")["optics"]
    assert optics_out.columns.tolist() == OPTICS_LABELS
    assert optics_out.values.tolist() == [[1, "og1", 2.0, 1.0], [2, "og2", 4.0, 2.0]]


def test_an_error_in_a_later_input_writes_nothing(tmp_path):
    a = write_star(tmp_path / "a.star", P31, [[1000, 1000, 0, 0, "m.mrc", 1, 1.0, "a1"]], optics=[[1, "og1", 2.0, 1.0]])
    b = write_star(tmp_path / "b.star", P31, [[1000, "x", 0, 0, "m.mrc", 1, 1.0, "b1"]], optics=[[1, "og1", 2.0, 1.0]])
    with pytest.raises(CryodedupError, match="b.star: line"):
        run(tmp_path, [a, b])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- scores and what the user must give ---------------------------------------------------


def test_score_auto_without_score_columns_falls_back_to_random(tmp_path):
    path = select_job(
        tmp_path / "p.star",
        1,
        SELECT,
        drop=["rlnAutopickFigureOfMerit", "rlnMaxValueProbDistribution", "rlnLogLikeliContribution"],
    )
    auto = remove_duplicate_particles([path], tmp_path / "auto", ParticleOptions(seed=3, min_dist=200))
    none = remove_duplicate_particles([path], tmp_path / "none", ParticleOptions(score="none", seed=3, min_dist=200))
    (warning,) = auto.warnings
    assert "--score auto" in warning and "seeded random particle (seed 3)" in warning
    assert auto.to_json()["score"] == none.to_json()["score"] == {"column": None, "order": "random (seed 3)"}
    for name in ("particles_kept.star", "particles_rejected.star"):
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "none" / name).read_bytes()
    assert 0 < auto.rejected < auto.particles


def test_score_auto_with_prefer_says_random_decides_only_what_prefer_leaves(tmp_path):
    # Found by a walk-through: "each group ... keeps a seeded random particle" read as if
    # --prefer decided nothing, though it decided every group across the inputs.
    drop = ["rlnAutopickFigureOfMerit", "rlnMaxValueProbDistribution", "rlnLogLikeliContribution"]
    first = select_job(tmp_path / "a.star", 1, SELECT, drop=drop)
    second = select_job(tmp_path / "b.star", 1, SELECT, drop=drop)
    summary = remove_duplicate_particles(
        [first, second], tmp_path / "out", ParticleOptions(seed=3, min_dist=200, prefer=[1])
    )
    (warning,) = [w for w in summary.warnings if "--score auto" in w]
    assert "each group of duplicates that --prefer leaves undecided keeps a seeded random particle" in warning


def test_score_auto_takes_a_score_every_input_has(tmp_path):
    log = select_job(tmp_path / "log.star", 1, SELECT)
    template = select_job(tmp_path / "template.star", 2, SWAPPED, drop=["rlnAutopickFigureOfMerit"])
    summary = run(tmp_path, [log, template])
    assert summary.to_json()["score"] == {"column": "rlnMaxValueProbDistribution", "order": "max"}


def test_everything_the_user_must_give_is_reported_at_once(tmp_path):
    # Two RELION 3.0 files (no micrograph pixel size) and a score of unknown order: three needs.
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnCtfFigureOfMerit", "rlnImageName"]
    a = write_star(tmp_path / "a30.star", labels, [[1000, 1000, "m.mrc", 0.1, "a"]], block="images")
    b = write_star(tmp_path / "b30.star", labels, [[1005, 1000, "m.mrc", 0.2, "b"]], block="images")
    with pytest.raises(CryodedupError) as caught:
        run(tmp_path, [a, b], score="rlnCtfFigureOfMerit")
    message = str(caught.value)
    assert message.startswith("3 things are missing: (1) ") and "\n" not in message
    needs = re.split(r" \(\d\) ", message.split(":", 1)[1])[1:]
    assert len(needs) == 3
    assert any(re.match(r"--score rlnCtfFigureOfMerit: .*--score-order", n) for n in needs)
    for name in ("a30.star", "b30.star"):
        assert any(re.match(rf".*{name}: .*no micrograph pixel size.*--mic-psize", n) for n in needs)
    summary = run(tmp_path, [a, b], score="rlnCtfFigureOfMerit", score_order="max", mic_psize=1.0)
    assert kept_names(tmp_path) == ["b"] and summary.rejected == 1


# --- issue 11 item 13: comment lines among the rows, and a byte-order mark --------------------------------------


def test_comment_lines_among_the_rows_are_named_in_a_warning(tmp_path):
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]
    text = star_text(labels, [[10, 10, "m"], [500, 500, "m"], [900, 900, "m"]])
    text = text.replace("500 500 m\n", "# picked by hand\n500 500 m\n; and checked\n")
    (tmp_path / "p.star").write_text(text)
    warnings = []
    summary = remove_duplicate_particles(
        [tmp_path / "p.star"],
        tmp_path / "out",
        ParticleOptions(mic_psize=1.0, score="none"),
        log=lambda message, level: warnings.append(message) if level == "warning" else None,
    )
    assert summary.kept == 3
    assert any("2 comment line(s) among the particle rows are not copied to the outputs" in w for w in warnings)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName"]
    text = star_text(labels, [[10, 10, "m"], [12, 10, "m"], [900, 900, "m"]]).lstrip("\n")
    (tmp_path / "p.star").write_bytes(b"\xef\xbb\xbf" + text.encode())
    summary = remove_duplicate_particles(
        [tmp_path / "p.star"], tmp_path / "out", ParticleOptions(mic_psize=1.0, score="none")
    )
    assert (summary.kept, summary.rejected) == (2, 1)  # the picks 2 Å apart are one particle
    kept = (tmp_path / "out" / "particles_kept.star").read_bytes()
    assert kept.startswith(b"\xef\xbb\xbfdata_particles")  # the header is copied as it was


# --- issue 11: hypothesis-made STAR text, valid and mutated, through the whole job ------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LABELS = [
    "rlnCoordinateX",
    "rlnCoordinateY",
    "rlnMicrographName",
    "rlnOpticsGroup",
    "rlnAutopickFigureOfMerit",
    "rlnOriginXAngst",
    "rlnOriginYAngst",
    "rlnImageName",
]
_VALUES = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["m1.mrc", "m2.mrc", '"a b.mrc"', "1", "2", "", "nan", "-inf", "1e400", "#", ";", "_x", "loop_"]),
)


@st.composite
def star_texts(draw):
    labels = draw(st.lists(st.sampled_from(_LABELS), min_size=1, max_size=8, unique=True))
    if draw(st.booleans()):
        labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", *labels]
        labels = list(dict.fromkeys(labels))
    rows = draw(st.lists(st.lists(_VALUES, min_size=len(labels), max_size=len(labels)), max_size=12))
    optics = [[1, "og1", 2.0, 1.0]] if draw(st.booleans()) else None
    text = star_text(labels, rows, optics=optics)
    for _ in range(draw(st.integers(0, 3))):  # mutations: cut, insert, repeat a line
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["cut", "insert", "repeat"]))
        if kind == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind == "insert":
            text = (
                text[:at]
                + draw(
                    st.sampled_from(
                        [
                            "data_particles\n",
                            "loop_\n",
                            "_rlnCoordinateX #9\n",
                            "\x00",
                            "\ufeff",
                            "\r\n",
                            " # c\n",
                            "é",
                            "data_\n",
                            "\n\n",
                        ]
                    )
                )
                + text[at:]
            )
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                k = draw(st.integers(0, len(lines) - 1))
                lines.insert(k, lines[k])
                text = "".join(lines)
    return text


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=star_texts(), remove_entirely=st.booleans())
def test_any_star_text_gives_outputs_or_one_clear_error(tmp_path_factory, text, remove_entirely):
    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "p.star"
    source.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    before = source.read_bytes()
    options = ParticleOptions(mic_psize=1.0, score="auto", remove_entirely=remove_entirely)
    try:
        summary = remove_duplicate_particles([source], folder / "out", options)
    except CryodedupError as err:
        assert "\n" not in str(err) and str(err)
        assert not (folder / "out").exists()
    else:
        assert summary.kept + summary.rejected == summary.particles
        # A table of coordinates without rlnMicrographName is a RELION autopick file (its name names
        # the micrograph): the picker job's outputs.
        written = sorted(p.name for p in (folder / "out").iterdir())
        assert written in (
            ["particles_kept.star", "particles_rejected.star"],
            ["autopick_kept.star", "autopick_rejected.star", "kept", "rejected"],
        )
    assert source.read_bytes() == before


# --- issue 27 item 3: exact copies that agree to floating-point error ------------------------------


def relion_round(x: np.ndarray) -> np.ndarray:
    """RELION's ROUND macro: (int)(x + 0.5) above 0, (int)(x - 0.5) below (halves away from 0)."""
    return np.where(x > 0, np.floor(x + 0.5), np.ceil(x - 0.5))


def recentred(coords: np.ndarray, origins: np.ndarray, mic_psize: float, particle_psize: float):
    """Coordinates and origins (Å) of a re-extraction with re-centring, as RELION's
    Preprocessing::getCoordinateMetaDataTable computes them: the origin in micrograph
    pixels, its whole pixels moved into the coordinate, the rest left in the origin."""
    offset = origins / particle_psize * (particle_psize / mic_psize)
    whole = relion_round(offset)
    return coords - whole, mic_psize * (offset - whole)


def reextracted_pair(tmp_path, n_per_mic=400):
    """A refinement's particles (4x binned, 3.54 Å) and their unbinned re-extraction, re-centred.

    Picks are on a 60 px lattice (distinct originals are more than 50 Å apart); origins
    and coordinates are written with 6 decimals, as RELION writes them.
    """
    rng = np.random.default_rng(27)
    mic_psize, particle_psize = 0.885, 3.54
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnOriginXAngst", "rlnOriginYAngst", "rlnMicrographName"]
    labels += ["rlnOpticsGroup", "rlnMaxValueProbDistribution", "rlnImageName"]
    originals, copies = [], []
    for m in range(3):
        lattice = rng.choice(60 * 60, n_per_mic, replace=False)
        coords = np.stack([lattice % 60, lattice // 60], axis=1) * 60.0 + 100
        origins = np.round(rng.uniform(-40, 40, (n_per_mic, 2)), 6)
        new_coords, new_origins = recentred(coords, origins, mic_psize, particle_psize)
        for k in range(n_per_mic):
            name, score = f"MotionCorr/job002/Movies/mic{m}.mrc", f"{rng.uniform():.6f}"
            image = f"{k + 1:06d}@Extract/job{{}}/Movies/mic{m}.mrcs"
            originals.append([*(f"{v:.6f}" for v in (*coords[k], *origins[k])), name, 1, score, image.format("007")])
            copies.append(
                [*(f"{v:.6f}" for v in (*new_coords[k], *new_origins[k])), name, 1, score, image.format("018")]
            )
    optics = [[1, "og1", particle_psize, mic_psize]]
    first = write_star(tmp_path / "run_data.star", labels, originals, optics=optics)
    second = write_star(tmp_path / "reextracted.star", labels, copies, optics=[[1, "og1", mic_psize, mic_psize]])
    return first, second


def test_zero_distance_finds_every_recentred_copy(tmp_path):
    first, second = reextracted_pair(tmp_path)
    # The oracle: centres from the text (starfile and numpy), every pair on a micrograph
    # compared; within 1e-3 Å pairs each particle with its copy and nothing else.
    (_, a, mics_a), (_, b, mics_b) = star_centres(first), star_centres(second)
    close = (((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) <= 1e-6) & (mics_a[:, None] == mics_b[None, :])
    assert np.array_equal(close, np.eye(len(a), dtype=bool))
    identical = int(np.count_nonzero((a == b).all(axis=1)))
    assert identical < 0.8 * len(a), "the fixture must hold copies that are not bit-identical"
    assert np.abs(a - b).max() < 1e-9
    summary = run(tmp_path, [first, second], min_dist=0.0)
    assert summary.rejected == len(a) and summary.to_json()["inputs"][1]["rejected"] == len(a)
    assert rows_of(tmp_path / "out" / "particles_kept.star") == rows_of(first)
    # One file holding both, micrograph by micrograph: decided in one pass as it is read.
    both = tmp_path / "combined.star"
    per_mic = len(a) // 3
    rows = [r for m in range(3) for f in (first, second) for r in rows_of(f)[m * per_mic : (m + 1) * per_mic]]
    text = first.read_text()
    both.write_text(text[: text.index("_rlnImageName #8\n") + len("_rlnImageName #8\n")] + "".join(rows))
    summary = run(tmp_path, [both], min_dist=0.0, force=True)
    assert summary.to_json()["timings"]["one_pass"] and summary.rejected == len(a)
    assert rows_of(tmp_path / "out" / "particles_kept.star") == rows_of(first)


# --- issue 27 item 4: pickers' figures of merit compared raw are said, not silent ------------------


def test_two_pickers_ranked_by_their_figures_of_merit_are_warned_about(tmp_path):
    # The packaged example: a LoG and a template picker's particles, extracted; ranked by
    # rlnAutopickFigureOfMerit (score auto) the template's larger numbers win every tie.
    log, template = (EXAMPLES / f"particles_{picker}.star" for picker in ("log", "template"))
    summary = run(tmp_path, [log, template], min_dist=100.0, plot=True)
    assert summary.to_json()["score"]["column"] == "rlnAutopickFigureOfMerit"
    said = [w for w in summary.warnings if "rlnAutopickFigureOfMerit as read" in w]
    assert len(said) == 1 and "--score-normalize rank" in said[0]
    assert "on different scales" in summary.to_json()["score"]["scale"]
    report = (tmp_path / "out" / "report.html").read_text()
    assert "on different scales" in report
    # Not said when the scores are made comparable, are shared, or come from one input.
    quiet = [
        {"score_normalize": "rank"},
        {"score": "rlnMaxValueProbDistribution"},
        {"score": "none"},
    ]
    for options in quiet:
        summary = run(tmp_path, [log, template], min_dist=100.0, force=True, **options)
        assert not any("as read" in w for w in summary.warnings) and "scale" not in summary.to_json()["score"], options
    summary = run(tmp_path, [log], min_dist=100.0, force=True)
    assert not any("as read" in w for w in summary.warnings) and "scale" not in summary.to_json()["score"]


# --- empty inputs ----------------------------------------------------------------------------


def test_a_table_without_rows_is_read_and_said(tmp_path):
    # A RELION particle table with its labels and no row: read (a pipeline may hand on an
    # empty selection), the outputs empty, and a warning naming the file.
    path = tmp_path / "empty.star"
    path.write_text("data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n")
    summary = run(tmp_path, [path], mic_psize=1.0)
    assert summary.particles == 0 and rows_of(tmp_path / "out" / "particles_kept.star") == []
    assert any(str(path) in w and "no particles" in w for w in summary.warnings), summary.warnings


@pytest.mark.real_data
def test_a_real_header_only_cs_is_said_to_be_empty(tmp_path):
    path = shared_file("cs/cryosparc-tools__4k_dataset_header_only.cs")
    summary = run(tmp_path, [path])
    assert summary.particles == 0
    assert any("no particles" in w for w in summary.warnings), summary.warnings


def test_a_run_without_plot_says_the_report_beside_its_outputs_is_an_earlier_runs(tmp_path):
    # Found by a new user (2026-11-26): after a --plot run at 40 Å, a run at 400 Å with --force
    # left report.html and its pictures of 40 Å beside its outputs, without a word.
    rows = [[100, 100, 0, 0, "m.mrc", 1, 0.5, "1@s.mrcs"], [110, 100, 0, 0, "m.mrc", 1, 0.9, "2@s.mrcs"]]
    path = write_star(tmp_path / "p.star", P31, rows, optics=[[1, "og1", 2.0, 1.0]])
    first = run(tmp_path, [path])
    assert not any("earlier run" in w for w in first.warnings)  # (nothing there yet)
    (tmp_path / "out" / "report.html").write_text("<html>an earlier run's</html>")
    again = run(tmp_path, [path], min_dist=400, force=True)
    assert f"{tmp_path / 'out' / 'report.html'} and its pictures are an earlier run's" in " ".join(again.warnings)
    assert (tmp_path / "out" / "report.html").read_text() == "<html>an earlier run's</html>"  # (left as it was)


def test_options_these_inputs_give_nothing_to_act_on_are_warned_of(tmp_path):
    # Found by a new user (2026-11-26): --topaz-scale, --filament-mode tube and --coverage all
    # on a plain STAR were accepted without a word, as if they had done something.
    rows = [[100, 100, 0, 0, "m.mrc", 1, 0.5, "1@s.mrcs"], [110, 100, 0, 0, "m.mrc", 1, 0.9, "2@s.mrcs"]]
    plain = write_star(tmp_path / "p.star", P31, rows, optics=[[1, "og1", 2.0, 1.0]])
    summary = run(tmp_path, [plain], topaz_scale=4.0, filament_mode="tube", coverage="all")
    unused = [w for w in summary.warnings if "was not used" in w]
    assert unused == [
        "--topaz-scale was not used: it scales topaz's coordinates, and no input is topaz's",
        "--filament-mode tube was not used: no input has filaments (a tube or filament id per segment)",
        "--coverage all was not used: it serves --min-support 2 or more (consensus)",
    ]
    # Where they act: a topaz table, a STAR with tubes: no such warning.
    topaz = tmp_path / "topaz.txt"
    topaz.write_text("image_name\tx_coord\ty_coord\tscore\nm\t10\t10\t0.5\nm\t400\t400\t0.2\n")
    picked = remove_duplicate_particles([topaz], tmp_path / "t", ParticleOptions(mic_psize=1.0, topaz_scale=4.0))
    assert not any("was not used" in w for w in picked.warnings)
    tubes = write_star(
        tmp_path / "h.star", [*P31, "rlnHelicalTubeID"], [[*r, 1] for r in rows], optics=[[1, "og1", 2.0, 1.0]]
    )
    helical = remove_duplicate_particles([tubes], tmp_path / "h", ParticleOptions(filament_mode="tube"))
    assert not any("was not used" in w for w in helical.warnings)
