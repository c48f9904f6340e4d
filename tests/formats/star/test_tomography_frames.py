"""Issue 54 item 7: tomogram coordinates in two frames, pixel sizes, angles, what was detected.

RELION 5 writes centred Å (from the tomogram's centre); a Picks job's annotation files and
RELION 4 write pixels from the corner. Oracles: the relation PROVENANCE.md checked on the
real files (centred = X * 10 - (size / 2 - 1) * 1.35), computed here with starfile and numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import starfile
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.api import remove_duplicates
from cryodedup.cli import main
from cryodedup.jobs.particles.job import run as run_job
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.read import Files
from cryodedup.report.summary import particle_rows
from helpers import shared_file, write_star

CENTRED = ["rlnTomoName", *[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]]
PIXELS = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"]]
TOMOGRAMS = ["rlnTomoName", "rlnTomoTiltSeriesPixelSize", "rlnTomoTomogramBinning", "rlnTomoSizeX", "rlnTomoSizeY"]
TOMOGRAMS += ["rlnTomoSizeZ"]
PICKS = "tomo/cets-relion__Picks_job019_particles.star"
TS_54 = "tomo/cets-relion__Picks_job019_TS_54_particles.star"
TOMOGRAMS_STAR = "tomo/cets-relion__Tomograms_job006_tomograms.star"


def run(tmp_path, inputs, **options):
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options))


def run_with_rows(tmp_path, inputs, **options):
    """The summary's document and its rows (read from the typed summary's sections)."""
    typed = run_job(Files.of(inputs), tmp_path / "out", plan(ParticleOptions(**options))).summary
    document = typed.to_json()
    return document, particle_rows(typed.overview(), typed.sections())


def tomograms_star(tmp_path):
    # Tilt-series pixel 2 Å, tomograms binned 5x (10 Å), 1000 x 800 x 400 tilt-series pixels:
    # the centre lies (499, 399, 199) x 2 Å = (998, 798, 398) Å from the corner.
    rows = [["t1", 2.0, 5.0, 1000, 800, 400], ["t2", 2.0, 5.0, 1000, 800, 400]]
    return write_star(tmp_path / "tomograms.star", TOMOGRAMS, rows, block="global")


def two_frames(tmp_path):
    """Three picks in centred Å and the same first two in tomogram pixels of 10 Å, plus one of their own."""
    centred = [["t1", 2.0, -98.0, 2.0], ["t2", 502.0, 2.0, -198.0], ["t3", 300.0, 300.0, 0.0]]
    pixels = [["t1", 100.0, 70.0, 40.0], ["t2", 150.0, 80.0, 20.0], ["t2", 10.0, 10.0, 10.0]]
    return (
        write_star(tmp_path / "particles.star", CENTRED, centred),
        write_star(tmp_path / "t_particles.star", PIXELS, pixels, block=""),
    )


def test_mixed_frames_without_tomogram_sizes_are_refused(tmp_path):
    # Today's main merges them (the pixel size given), matches none, and writes no coordinates.
    centred, pixels = two_frames(tmp_path)
    with pytest.raises(CryodedupError, match=r"centred Å.*corner.*tomograms\.star with --micrographs"):
        run(tmp_path, [centred, pixels], min_dist=5.0, mic_psize=10.0)
    assert not (tmp_path / "out/particles_kept.star").exists()


def test_mixed_frames_meet_with_the_tomograms_star(tmp_path):
    centred, pixels = two_frames(tmp_path)
    summary = run(tmp_path, [centred, pixels], min_dist=5.0, micrographs=tomograms_star(tmp_path))
    assert (summary.kept, summary.rejected) == (4, 2)
    kept = starfile.read(tmp_path / "out/particles_kept.star")
    rejected = starfile.read(tmp_path / "out/particles_rejected.star")
    assert list(kept.columns) == CENTRED  # the coordinates are written, in RELION 5's columns
    both = np.concatenate([kept[CENTRED[1:]].to_numpy(float), rejected[CENTRED[1:]].to_numpy(float)])
    # Every row written where it lies in centred Å: the third pixel pick at (10, 10, 10) x 10 - (998, 798, 398).
    assert any(np.allclose(row, [100 - 998, 100 - 798, 100 - 398]) for row in both)
    assert len(both) == 6
    # Each file's own rows as read too, byte for byte (issue 64): the pixel file's are rewritten in the combined file.
    for source in (centred, pixels):
        lines = [line for line in source.read_text().splitlines(keepends=True) if line[:1] == "t"]
        own = [tmp_path / f"out/particles_{s}_{source.stem}.star" for s in ("kept", "rejected")]
        written = [line for path in own for line in path.read_text().splitlines(keepends=True) if line[:1] == "t"]
        assert sorted(written) == sorted(lines)


def test_a_pytom_voxel_file_meets_centred_picks_by_its_tomograms_file_name(tmp_path):
    # pytom-match-pick (voxel mode) names its tomogram by file, rlnMicrographName 't1.mrc', where the
    # tomograms STAR lists 't1': its pixel size is found there by file name, and so must its centre be.
    voxel = [[100.0, 70.0, 40.0], [150.0, 80.0, 20.0], [10.0, 10.0, 10.0]]
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnLCCmax", "rlnMicrographName"]
    pytom = write_star(tmp_path / "t1_particles.star", labels, [[*v, 0.3, "t1.mrc"] for v in voxel], block="")
    # Hand-worked: 10 Å voxels; t1's centre lies (998, 798, 398) Å from its corner (tomograms_star).
    # The first two voxel picks again in centred Å, 1 Å off; a third centred pick 500 Å from any.
    centred = [[v[0] * 10 - 998 + 1, v[1] * 10 - 798, v[2] * 10 - 398] for v in voxel[:2]] + [[0.0, 0.0, 0.0]]
    picks = write_star(tmp_path / "particles.star", CENTRED, [["t1", *c] for c in centred])
    summary = run(tmp_path, [picks, pytom], min_dist=5.0, micrographs=tomograms_star(tmp_path), score="none")
    assert (summary.particles, summary.kept, summary.rejected) == (6, 4, 2)


def test_the_pixel_file_first_is_refused_with_the_order_to_give(tmp_path):
    centred, pixels = two_frames(tmp_path)
    with pytest.raises(CryodedupError, match=r"give particles\.star first"):
        run(tmp_path, [pixels, centred], min_dist=5.0, micrographs=tomograms_star(tmp_path))


def test_an_input_whose_coordinates_would_be_left_out_is_refused(tmp_path):
    # A 2-D file and a 3-D centred one: the merged output would have no coordinate column.
    centred = write_star(tmp_path / "a.star", ["rlnMicrographName", *CENTRED[1:]], [["m1", 1.0, 2.0, 3.0]])
    flat = write_star(tmp_path / "b.star", ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY"], [["m1", 1, 2]])
    with pytest.raises(CryodedupError, match="no coordinates"):
        run(tmp_path, [centred, flat], min_dist=5.0, mic_psize=1.0)


def test_the_tomograms_star_sizes_an_annotation_file(tmp_path):
    # Without --mic-psize: 10 Å from rlnTomoTiltSeriesPixelSize x rlnTomoTomogramBinning. Picks 1 px apart.
    path = write_star(tmp_path / "t.star", PIXELS, [["t1", 10, 10, 5], ["t1", 11, 10, 5]], block="")
    summary = run(tmp_path, [path], min_dist=12.0, micrographs=tomograms_star(tmp_path))
    assert (summary.kept, summary.rejected) == (1, 1)
    assert summary.to_json()["pixel_sizes"][0]["psize"] == 10.0


@pytest.mark.real_data
def test_real_picks_and_annotation_file_meet(tmp_path):
    # The 1,418 TS_54 picks of the annotation file are those of particles.star: at 0.01 Å each
    # is one particle with its twin, so exactly 1,418 are rejected.
    picks, ts54, tomograms = shared_file(PICKS), shared_file(TS_54), shared_file(TOMOGRAMS_STAR)
    result = CliRunner().invoke(
        main, ["particles", str(picks), str(ts54), "--micrographs", str(tomograms), "--min-dist", "0.01",
               "--score", "none", "-o", str(tmp_path / "o"), "--json"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kept = starfile.read(tmp_path / "o/particles_kept.star")
    rejected = starfile.read(tmp_path / "o/particles_rejected.star")
    assert len(rejected) == 1418 and len(kept) == 9442
    # Oracle: PROVENANCE.md's relation, from the annotation file's pixels.
    pixels = starfile.read(ts54)[PIXELS[1:]].to_numpy(float)
    expected = pixels * 10.0 - (np.array([4000, 4000, 2000]) / 2 - 1) * 1.35
    written = np.concatenate([kept, rejected])
    written = written[written[:, 0] == "TS_54"][:, 1:].astype(float)
    for row in expected:
        assert (np.abs(written - row).max(axis=1) < 1e-3).sum() == 2  # its own row and its twin


# --- the tilt-series pixel size typed for the tomogram's -------------------------------------------

WARP_OPTICS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnTomoSubtomogramBinning"]
WARP_OPTICS += ["rlnImagePixelSize"]
WARP = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"], "rlnOpticsGroup"]


def warp_file(tmp_path):
    # Tilt series of 1.5 Å exported at 6 Å (binning 4): two picks 1 px = 6 Å apart.
    rows = [["a.tomostar", 100, 100, 50, 1], ["a.tomostar", 101, 100, 50, 1]]
    return write_star(tmp_path / "w.star", WARP, rows, optics=[[1, "og1", 1.5, 4.0, 6.0]], optics_labels=WARP_OPTICS)


def test_warp_tilt_series_pixel_is_refused_naming_the_exported_pixel(tmp_path):
    with pytest.raises(
        CryodedupError, match=r"--mic-psize 1.5 Å is rlnTomoTiltSeriesPixelSize 1.5 Å.*rlnImagePixelSize 6 Å"
    ):
        run(tmp_path, [warp_file(tmp_path)], min_dist=5.0, mic_psize=1.5)
    summary = run(tmp_path, [warp_file(tmp_path)], min_dist=5.0, mic_psize=6.0)  # the right one: two particles
    assert summary.rejected == 0


def test_warp_without_a_pixel_size_names_the_exported_pixel(tmp_path):
    with pytest.raises(CryodedupError, match=r"does not record.*rlnImagePixelSize 6 Å .*--mic-psize 6, not .* 1\.5 Å"):
        run(tmp_path, [warp_file(tmp_path)], min_dist=5.0)


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "tilt_series", "exported"),
    [
        ("cryoCAT__warp2_particles_matching.star", "0.7894", "4"),
        ("tomodrgn__warptools_test_4-tomos_10-ptcls_box-32_angpix-12.star", "1.667", "12"),
    ],
)
def test_real_warptools_exports(tmp_path, name, tilt_series, exported):
    path = shared_file(f"tomo/{name}")
    with pytest.raises(
        CryodedupError, match=rf"is rlnTomoTiltSeriesPixelSize {tilt_series} Å.*rlnImagePixelSize {exported} Å"
    ):
        run(tmp_path, [path], min_dist=200.0, mic_psize=float(tilt_series), score="none")
    with pytest.raises(CryodedupError, match=rf"does not record.*rlnImagePixelSize {exported} Å"):
        run(tmp_path, [path], min_dist=200.0, score="none")


def test_relion4_pixel_size_contradicting_the_tilt_series_is_refused(tmp_path):
    optics = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
    labels = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"], "rlnOpticsGroup"]
    path = write_star(
        tmp_path / "r4.star", labels, [["t1", 1, 2, 3, 1]], optics=[[1, "og", 2.0, 8.0]], optics_labels=optics
    )
    with pytest.raises(CryodedupError, match=r"--mic-psize 8 Å contradicts rlnTomoTiltSeriesPixelSize 2 Å"):
        run(tmp_path, [path], min_dist=5.0, mic_psize=8.0)


def test_annotation_file_pixel_size_is_checked_against_the_tomograms_star(tmp_path):
    path = write_star(tmp_path / "t.star", PIXELS, [["t1", 10, 10, 5], ["t1", 11, 10, 5]], block="")
    with pytest.raises(
        CryodedupError, match=r"--mic-psize 2 Å contradicts .* 10 Å of tomogram t1 .*tilt series' pixel"
    ):
        run(tmp_path, [path], min_dist=12.0, mic_psize=2.0, micrographs=tomograms_star(tmp_path))
    with pytest.warns(UserWarning, match="tomograms are binned"):
        remove_duplicates([path], tmp_path / "o2", min_dist=12.0, mic_psize=2.0, score="none")


@pytest.mark.real_data
def test_real_annotation_file_with_the_tilt_series_pixel(tmp_path):
    path, tomograms = shared_file(TS_54), shared_file(TOMOGRAMS_STAR)
    with pytest.raises(CryodedupError, match=r"--mic-psize 1.35 Å contradicts .* 10 Å of tomogram TS_54"):
        run(tmp_path, [path], min_dist=50.0, mic_psize=1.35, micrographs=tomograms, score="none")


# --- angles out of range ----------------------------------------------------------------------------

ANGLED = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]


def test_degrees_multiplied_by_180_over_pi_again_are_refused_with_the_cause(tmp_path):
    # 1.2 rad = 68.75°, multiplied by 57.29578 once more (degrees taken for radians): 3939. Radians written as
    # degrees lie within ±π, the other mistake: the cause named was that one.
    rows = [["m", 10, 10, 3939.0, 20.0, 5.0], ["m", 12, 10, 10.0, 20.0, 5.0]]
    path = write_star(tmp_path / "p.star", ANGLED, rows)
    with pytest.raises(
        CryodedupError, match=r"particle 1 has rlnAngleRot 3939°, beyond ±360°.*degrees multiplied by 180/π"
    ) as refused:
        run(tmp_path, [path], min_dist=5.0, mic_psize=1.0, max_angle=20.0, score="none")
    assert "radians written as degrees" not in str(refused.value) and "= 68.75°" in str(refused.value)


def test_a_tilt_outside_0_180_is_said(tmp_path):
    rows = [["m", 10, 10, 30.0, -20.0, 5.0], ["m", 12, 10, 30.0, -20.0, 5.0]]
    path = write_star(tmp_path / "p.star", ANGLED, rows)
    with pytest.warns(UserWarning, match=r"2 particles have rlnAngleTilt outside 0-180° \(particle 1: -20°\)"):
        remove_duplicates([path], tmp_path / "o", min_dist=5.0, mic_psize=1.0, max_angle=20.0, score="none")


@pytest.mark.real_data
def test_real_warptools_angles_in_radians_times_57(tmp_path):
    path = shared_file("tomo/cryoCAT__warp2_particles_matching.star")
    with pytest.raises(CryodedupError, match=r"rlnAngleRot 3867.47°, beyond ±360° \(1,218 such.*= 67.5°"):
        run(tmp_path, [path], min_dist=200.0, mic_psize=4.0, max_angle=20.0, score="none")


# --- what was detected: layouts, frames, tomograms, every input's pixel size ----------------------


def layouts_of(summary) -> dict:
    return {entry["input"]: entry for entry in summary["layouts"]}


def test_the_summary_names_each_inputs_layout_and_frame(tmp_path):
    centred, pixels = two_frames(tmp_path)
    summary, summary_rows = run_with_rows(
        tmp_path, [centred, pixels], min_dist=5.0, micrographs=tomograms_star(tmp_path)
    )
    layouts = layouts_of(summary)
    assert (layouts["particles.star"]["layout"], layouts["t_particles.star"]["layout"]) == (
        "RELION 5",
        "RELION 5 Picks annotation",
    )
    assert "centred Å" in layouts["particles.star"]["frame"] and "corner" in layouts["t_particles.star"]["frame"]
    assert "carried into centred Å" in layouts["t_particles.star"]["notes"][0]
    rows = dict(summary_rows)
    assert "RELION 5 Picks annotation" in rows["Read as"]
    # Tomograms, not micrographs, except in the option's name (the consensus rows: shown when asked for).
    options = ParticleOptions(min_dist=5.0, micrographs=tomograms_star(tmp_path), min_support=2)
    asked = run_job(Files.of([centred, pixels]), tmp_path / "asked" / "out", plan(options)).summary
    consensus = "\n".join(
        text for label, text in particle_rows(asked.overview(), asked.sections()) if label.startswith("  ")
    )
    assert "micrograph" not in consensus and "ran on 2 of 3 tomograms" in consensus
    # The exact-path match --match-micrographs auto found only restates the default: no row (issue 55's folding).
    assert "Tomogram matching" not in rows and "Micrograph matching" not in rows
    # Every input's pixel size, each named.
    psize = "\n".join(text for label, text in summary_rows if label in ("Coordinate pixel size", ""))
    assert "(particles.star)" in psize and "10 Å from rlnTomoTiltSeriesPixelSize x rlnTomoTomogramBinning" in psize


def test_subtomogram_origins_rotated_are_said(tmp_path):
    labels = ["rlnTomoName", *[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]]
    labels += ["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]
    labels += [f"rlnOrigin{a}Angst" for a in "XYZ"]
    path = write_star(tmp_path / "p.star", labels, [["t1", 0, 0, 0, 90, 0, 0, 1, 0, 0]])
    entry = run(tmp_path, [path], min_dist=5.0, score="none").to_json()["layouts"][0]
    assert entry["layout"] == "RELION 5" and "rlnTomoSubtomogramRot/Tilt/Psi" in entry["notes"][0]


def test_relion4_warp_and_dynamo_layouts_are_named(tmp_path):
    optics = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
    labels = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"], "rlnOpticsGroup"]
    r4 = write_star(
        tmp_path / "r4.star", labels, [["t1", 1, 2, 3, 1]], optics=[[1, "og", 2.0, 8.0]], optics_labels=optics
    )
    assert run(tmp_path, [r4], min_dist=5.0, score="none").to_json()["layouts"][0]["layout"] == "RELION 4"
    (tmp_path / "out").rename(tmp_path / "out_r4")
    warp = run(tmp_path, [warp_file(tmp_path)], min_dist=5.0, mic_psize=6.0, score="none").to_json()["layouts"][0]
    assert warp["layout"] == "WarpTools export" and "exported tomograms" in warp["frame"]
    (tmp_path / "out").rename(tmp_path / "out_warp")
    table = tmp_path / "t.tbl"
    table.write_text(" ".join(["1"] + ["0"] * 18 + ["1"] + ["0"] * 3 + ["10", "10", "10"]) + "\n")
    dynamo = run(tmp_path, [table], min_dist=5.0, mic_psize=1.0, score="none").to_json()["layouts"][0]
    assert dynamo["layout"] == "Dynamo table" and "tomogram pixels" in dynamo["frame"]


def test_two_tilt_series_pixel_sizes_are_both_listed(tmp_path):
    optics = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
    labels = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"], "rlnOpticsGroup"]
    a = write_star(
        tmp_path / "a.star", labels, [["t1", 1, 2, 3, 1]], optics=[[1, "og", 1.971, 3.942]], optics_labels=optics
    )
    # (another tomogram: one name of two tilt-series pixel sizes is refused, issue 54 section 3)
    b = write_star(
        tmp_path / "b.star", labels, [["t2", 9, 2, 3, 1]], optics=[[1, "og", 1.35, 2.7]], optics_labels=optics
    )
    _, summary_rows = run_with_rows(tmp_path, [a, b], min_dist=5.0, score="none")
    psize = "\n".join(text for label, text in summary_rows if label in ("Coordinate pixel size", ""))
    assert "1.971 Å" in psize and "a.star" in psize and "1.35 Å" in psize and "b.star" in psize


def test_copicks_star_centring_is_said(tmp_path):
    # copick's conversion centres on size / 2 x voxel spacing, RELION 5's Picks job on (size / 2 - 1)
    # tilt-series pixels: the summary says which the written STAR files follow.
    from cryodedup.formats.copick import STAR_CENTRING
    from cryodedup.report.sections.readers import CopickProject

    typed = run_job(Files.of([two_frames(tmp_path)[0]]), tmp_path / "out", plan(ParticleOptions(min_dist=5.0))).summary
    held = typed.overview()
    copick = {"config": "c.json", "pick_sets": 2, "runs": 1, "star_centring": STAR_CENTRING}
    held = held._replace(read=held.read._replace(copick=CopickProject.of(copick)))
    text = dict(particle_rows(held, typed.sections()))["copick"]
    assert "size / 2 x voxel spacing" in text and "(size / 2 - 1) tilt-series pixels" in text


def test_a_tomograms_star_for_2d_particles_is_refused(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY"], [["m", 1, 2]])
    with pytest.raises(CryodedupError, match="is a tomograms STAR .* 2-D"):
        run(tmp_path, [path], min_dist=5.0, mic_psize=1.0, micrographs=tomograms_star(tmp_path))
