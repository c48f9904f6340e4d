"""Two datasets that share names (issue 54, section 3): inputs whose micrographs or tomograms
share a name must agree on what it stands for, and ``--dataset`` keeps datasets apart."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from cryodedup.report.sections import Sections
from cryodedup.report.summary import particle_rows
from cryodedup.resolve.datasets import disagreement
from helpers import shared_file, write_star

TOMO_LABELS = [
    "rlnTomoName",
    "rlnCenteredCoordinateXAngst",
    "rlnCenteredCoordinateYAngst",
    "rlnCenteredCoordinateZAngst",
    "rlnOpticsGroup",
]
TOMO_OPTICS_LABELS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
SPA_LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
SPA_OPTICS_LABELS = [
    "rlnOpticsGroup",
    "rlnOpticsGroupName",
    "rlnMicrographOriginalPixelSize",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnMicrographPixelSize",
    "rlnImagePixelSize",
]


def relion5_tomograms(path, tilt_series_psize):
    """A RELION-5-style subtomogram table: two particles on tomogram TS_01 (centred Å)."""
    rows = [["TS_01", 100.0, 200.0, 50.0, 1], ["TS_01", -400.0, 300.0, -20.0, 1]]
    optics = [[1, "og1", tilt_series_psize, 4 * tilt_series_psize]]
    return write_star(path, TOMO_LABELS, rows, optics=optics, optics_labels=TOMO_OPTICS_LABELS)


def test_two_tomograms_of_one_name_and_two_pixel_sizes_are_refused(tmp_path):
    # The case seen: 1.35 and 1.60 Å tilt series, matched "by exact path": kept 2, rejected 2, no word.
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.60)
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=10))
    message = str(refused.value)
    assert "\n" not in message
    for part in ("tomogram TS_01", str(a), str(b), "rlnTomoTiltSeriesPixelSize 1.35 Å against 1.6 Å", "--dataset"):
        assert part in message


def test_the_same_tomograms_twice_still_match(tmp_path):
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.3500001)
    summary = remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=10))
    assert (summary.kept, summary.rejected) == (2, 2)


def test_datasets_labelled_apart_never_match(tmp_path):
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.60)
    options = ParticleOptions(min_dist=10, datasets=[f"{a}=first", "2=second"])
    summary = remove_duplicate_particles([a, b], tmp_path / "out", options)
    assert (summary.kept, summary.rejected) == (4, 0)
    assert summary.micrographs == 2
    assert summary.to_json()["datasets"]["names_kept_apart"] == 1
    assert summary.to_json()["datasets"]["labels"] == {"first": [str(a)], "second": [str(b)]}
    row = dict(particle_rows(summary.overview(), Sections()))["Datasets"]
    assert "first: a.star" in row and "1 tomogram name of one dataset also in another: kept apart" in row


def test_the_datasets_row_tells_inputs_of_one_file_name_apart(tmp_path):
    # Two sessions' particles.star: the row said "(not labelled): particles.star" and "B: particles.star".
    (tmp_path / "s1").mkdir(), (tmp_path / "s2").mkdir()
    a = relion5_tomograms(tmp_path / "s1" / "particles.star", 1.35)
    b = relion5_tomograms(tmp_path / "s2" / "particles.star", 1.60)
    options = ParticleOptions(min_dist=10, datasets=["2=B"])
    summary = remove_duplicate_particles([a, b], tmp_path / "out", options)
    row = dict(particle_rows(summary.overview(), Sections()))["Datasets"]
    assert "(not labelled): s1/particles.star" in row and "B: s2/particles.star" in row, row


def test_datasets_sharing_a_tomogram_name_get_files_of_their_own(tmp_path):
    # A trial found the merged output holding both datasets' TS_01 under one name (RELION
    # reads one tomogram): each dataset's rows now go to files of their own too.
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.60)
    options = ParticleOptions(min_dist=10, datasets=[f"{a}=first", "2=second"])
    summary = remove_duplicate_particles([a, b], tmp_path / "out", options)
    out = tmp_path / "out"
    assert sorted(summary.to_json()["outputs"]["kept"]) == sorted(
        str(out / f"particles_kept{part}.star") for part in ("", "_first", "_second")
    )
    for name, source, psize in (("first", a, "1.35"), ("second", b, "1.6")):
        text = (out / f"particles_kept_{name}.star").read_text().splitlines()
        rows = [line.split() for line in text if line.startswith("TS_01")]
        expected = [line.split() for line in source.read_text().splitlines() if line.startswith("TS_01")]
        assert [r[:4] for r in rows] == [e[:4] for e in expected]
        groups = {line.split()[0]: line.split()[2] for line in text if line[:1].isdigit()}
        assert {groups[r[4]] for r in rows} == {psize}


def test_same_dataset_labels_still_match(tmp_path):
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.35)
    options = ParticleOptions(min_dist=10, datasets=["1=one", "2=one"])
    summary = remove_duplicate_particles([a, b], tmp_path / "out", options)
    assert (summary.kept, summary.rejected) == (2, 2)
    assert any("--dataset decides nothing" in w for w in summary.warnings)


def spa(path, original, voltage=300, binned=1, mic="MotionCorr/job002/Movies/mic_0001.mrc"):
    """Two particles on one micrograph, motion-corrected at ``binned`` x the detector pixel."""
    rows = [[mic, 100 / binned, 100 / binned, 0.5, 1], [mic, 900 / binned, 900 / binned, 0.7, 1]]
    optics = [[1, "og1", original, voltage, 2.7, original * binned, 2 * original * binned]]
    return write_star(path, SPA_LABELS, rows, optics=optics, optics_labels=SPA_OPTICS_LABELS)


def test_one_dataset_binned_differently_at_motion_correction_still_matches(tmp_path):
    a = spa(tmp_path / "a.star", 0.83)
    b = spa(tmp_path / "b.star", 0.83, binned=2, mic="MotionCorr/job099/Movies/mic_0001.mrc")
    summary = remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=10))
    assert (summary.kept, summary.rejected) == (2, 2)  # matched by file name, the same centres in Å


def test_two_sessions_named_alike_are_refused_by_voltage_or_detector(tmp_path):
    a = spa(tmp_path / "a.star", 0.83)
    b = spa(tmp_path / "b.star", 1.06, mic="other/mic_0001.mrc")
    with pytest.raises(
        CryodedupError,
        match="micrograph MotionCorr/job002/Movies/mic_0001.mrc is in .*"
        "rlnMicrographOriginalPixelSize 0.83 Å against 1.06 Å",
    ):
        remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=10))
    c = spa(tmp_path / "c.star", 0.83, voltage=200)
    with pytest.raises(CryodedupError, match="rlnVoltage 300 kV against 200 kV"):
        remove_duplicate_particles([a, c], tmp_path / "out", ParticleOptions(min_dist=10))


def test_inputs_sharing_no_name_are_not_refused(tmp_path):
    a = spa(tmp_path / "a.star", 0.83)
    b = spa(tmp_path / "b.star", 1.06, mic="other/mic_0002.mrc")
    summary = remove_duplicate_particles([a, b], tmp_path / "out", ParticleOptions(min_dist=10))
    assert summary.rejected == 0


def test_the_command_line_takes_dataset(tmp_path):
    a = relion5_tomograms(tmp_path / "a.star", 1.35)
    b = relion5_tomograms(tmp_path / "b.star", 1.60)
    args = ["particles", str(a), str(b), "-o", str(tmp_path / "out"), "--min-dist", "10", "--json", "--quiet"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0 and "TS_01" in refused.output and "Traceback" not in refused.output
    ran = CliRunner().invoke(main, [*args, "--dataset", "2=B", "--force"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["kept"] == 4
    bad = CliRunner().invoke(main, [*args, "--dataset", "3=B", "--force"])
    assert bad.exit_code != 0 and "--dataset 3" in bad.output


def test_binning_at_motion_correction_explains_a_tilt_series_pixel_size():
    same_detector = {"rlnMicrographOriginalPixelSize": (0.675,)}
    assert (
        disagreement(
            {**same_detector, "rlnTomoTiltSeriesPixelSize": (1.35,)},
            {**same_detector, "rlnTomoTiltSeriesPixelSize": (2.7,)},
        )
        is None
    )
    found = disagreement(
        {**same_detector, "rlnTomoTiltSeriesPixelSize": (1.35,)},
        {**same_detector, "rlnTomoTiltSeriesPixelSize": (1.60,)},
    )
    assert found == ("rlnTomoTiltSeriesPixelSize", (1.35,), (1.60,))
    # Several optics groups: refused only when no value of one is the other's.
    assert disagreement({"rlnVoltage": (200.0, 300.0)}, {"rlnVoltage": (300.0,)}) is None


@pytest.mark.real_data
def test_real_relion4_subtomograms_and_a_copy_of_another_tilt_series_pixel_size(tmp_path):
    real = shared_file("tomo/cryoCAT__relion_4.0.star")
    text = real.read_text()
    assert "     1.971000 " in text
    other = tmp_path / "other_session.star"
    other.write_text(text.replace("     1.971000 ", "     1.350000 ", 1))
    with pytest.raises(CryodedupError, match="rlnTomoTiltSeriesPixelSize 1.971 Å against 1.35 Å"):
        remove_duplicate_particles([real, other], tmp_path / "out", ParticleOptions(min_dist=0))
    options = ParticleOptions(min_dist=0, datasets=[f"{other}=session2"])
    summary = remove_duplicate_particles([real, other], tmp_path / "apart", options)
    assert summary.rejected == 0 and summary.kept == 2 * 1746
    copy = tmp_path / "copy.star"
    copy.write_text(text)
    same = remove_duplicate_particles([real, copy], tmp_path / "same", ParticleOptions(min_dist=0))
    assert (same.kept, same.rejected) == (1746, 1746)


def test_images_of_two_datasets_named_alike_are_not_one_image(tmp_path):
    # Two sessions extracted by jobs of one number: the same image names, other particles.
    labels = [*SPA_LABELS, "rlnImageName"]
    optics = [[1, "og1", 1.0, 300, 2.7, 1.0, 2.0]]
    a_rows = [["mic_0001.mrc", 100, 100, 0.5, 1, "000001@Extract/job010/mic_0001.mrcs"]]
    b_rows = [["mic_0001.mrc", 700, 300, 0.5, 1, "000001@Extract/job010/mic_0001.mrcs"]]
    a = write_star(tmp_path / "a.star", labels, a_rows, optics=optics, optics_labels=SPA_OPTICS_LABELS)
    b = write_star(tmp_path / "b.star", labels, b_rows, optics=optics, optics_labels=SPA_OPTICS_LABELS)
    one = remove_duplicate_particles([a, b], tmp_path / "one", ParticleOptions(min_dist=10, same_image="reject"))
    assert one.kept == 1  # one dataset: one image at two centres, the best kept
    options = ParticleOptions(min_dist=10, same_image="reject", datasets=["2=B"])
    apart = remove_duplicate_particles([a, b], tmp_path / "apart", options)
    assert apart.kept == 2 and apart.to_json()["same_image"]["images_kept_twice"] == 0


def relion5_particles(path, tilt_series_psize, rows):
    """A RELION 5 particles.star as its Extract job writes it: optics group 1, ``optics1``."""
    optics = [[1, "optics1", tilt_series_psize, 4 * tilt_series_psize]]
    return write_star(path, TOMO_LABELS, rows, optics=optics, optics_labels=TOMO_OPTICS_LABELS)


def test_each_datasets_own_files_keep_its_optics_groups_as_read(tmp_path):
    # Issue 64 item 4. On main, B's own kept file carried A's optics group, and B's group was renumbered
    # 1 -> 2 and renamed optics1 -> opticsGroup2 (the combined file's optics table).
    a = relion5_particles(
        tmp_path / "a.star", 1.35, [["TS_01", 100.0, 200.0, 50.0, 1], ["TS_01", 104.0, 200.0, 50.0, 1]]
    )
    b = relion5_particles(tmp_path / "b.star", 1.60, [["TS_01", 100.0, 200.0, 50.0, 1], ["TS_02", -40.0, 0.0, 0.0, 1]])
    options = ParticleOptions(min_dist=10, datasets=[f"{a}=A", f"{b}=B"], score="none")
    summary = remove_duplicate_particles([a, b], tmp_path / "out", options)
    assert (summary.kept, summary.rejected) == (3, 1)  # A's two picks 4 Å apart; B's TS_01 is another
    out = tmp_path / "out"
    # Nothing of B is rejected: its own kept file is its input, byte for byte (its optics group as read).
    assert (out / "particles_kept_B.star").read_bytes() == b.read_bytes()
    # A's own files: its header and optics table as they are, its rows split.
    source = a.read_text().splitlines()
    header = [line for line in source if not line.startswith("TS_")]
    for name in ("particles_kept_A.star", "particles_rejected_A.star"):
        text = (out / name).read_text().splitlines()
        assert [line for line in text if not line.startswith("TS_")] == header
        assert len([line for line in text if line.startswith("TS_")]) == 1
    rejected_b = (out / "particles_rejected_B.star").read_text().splitlines()
    assert [line for line in rejected_b if not line.startswith("TS_")] == [
        line for line in b.read_text().splitlines() if not line.startswith("TS_")
    ]
    # The combined files hold two TS_01 under one name: the run says so, naming the files that do not.
    warning = next(w for w in summary.warnings if "two datasets" in w)
    for part in ("TS_01", "particles_kept.star", "particles_kept_A.star", "particles_kept_B.star"):
        assert part in warning, part


def test_the_refusals_dataset_advice_runs_as_printed_from_folders_with_spaces(tmp_path):
    # Two sessions' exports in folders whose names hold spaces (as users name them), one tomogram name, two tilt-series
    # pixels: refused, naming --dataset for each. Pasted into a shell as printed (shlex splits it as one would), the
    # two datasets are kept apart: by hand, no pick has a duplicate (each file's two picks lie 500 Å apart), 4 kept.
    (tmp_path / "session one").mkdir()
    (tmp_path / "session two").mkdir()
    a = relion5_tomograms(tmp_path / "session one" / "run data.star", 1.35)
    b = relion5_tomograms(tmp_path / "session two" / "run data.star", 1.60)
    args = ["particles", str(a), str(b), "--min-dist", "10", "--json", "--quiet"]
    refused = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "refused")])
    assert refused.exit_code != 0, refused.output
    advice = re.search(r"label them apart \((--dataset .*)\) and their names never match", refused.output)
    assert advice, refused.output
    pasted = shlex.split(advice.group(1))
    assert pasted[::2] == ["--dataset", "--dataset"], pasted
    ran = CliRunner().invoke(main, [*args, *pasted, "-o", str(tmp_path / "out")])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.output)
    assert (summary["kept"], summary["rejected"]) == (4, 0)
    assert summary["datasets"]["labels"] == {"A": [str(a)], "B": [str(b)]}
