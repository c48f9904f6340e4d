"""Picker outputs through the particle job: consensus against a brute-force oracle, a RELION
3.1 AutoPick job merged with a crYOLO folder into a coordinate set that starfile reads back,
the .cs output in cryosparc-tools, the real picker files, and the agreement report."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import starfile
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from cryodedup.formats.picks.particles import _read_overlapped, read_picker_outputs
from helpers import read_request, shared_file
from picker_files import cbox_text, relion3_job, write_topaz


def oracle(mic, xy, score, picker, min_dist, min_support):
    """Brute force written from the issue: greedy suppression over all picks by score (best
    first, ties by input order), then a kept pick stays only if at least ``min_support``
    distinct pickers have a pick (kept or suppressed) within ``min_dist`` of it. Returns the
    kept picks, and those that only the support rule rejected."""
    n = len(mic)
    order = sorted(range(n), key=lambda i: (-score[i], i))
    suppressed = [False] * n
    kept = [False] * n
    for i in order:
        if suppressed[i]:
            continue
        kept[i] = True
        for j in range(n):
            if j != i and mic[j] == mic[i] and (xy[i][0] - xy[j][0]) ** 2 + (xy[i][1] - xy[j][1]) ** 2 <= min_dist**2:
                suppressed[j] = True
    unconfirmed = [False] * n
    for i in range(n):
        if kept[i]:
            near = {
                picker[j]
                for j in range(n)
                if mic[j] == mic[i] and (xy[i][0] - xy[j][0]) ** 2 + (xy[i][1] - xy[j][1]) ** 2 <= min_dist**2
            }
            kept[i] = len(near) >= min_support
            unconfirmed[i] = not kept[i]
    return np.array(kept), np.array(unconfirmed)


@pytest.mark.parametrize("n_pickers", [1, 2, 3])
def test_consensus_agrees_with_brute_force(tmp_path, n_pickers):
    rng = np.random.default_rng(n_pickers)
    for trial in range(4):
        mic, xy, score, picker = [], [], [], []
        inputs = []
        for p in range(n_pickers):
            rows = []
            for _ in range(int(rng.integers(20, 60))):
                m = f"mic{int(rng.integers(0, 3))}"
                x, y = (float(v) for v in np.round(rng.uniform(0, 400, 2), 2))
                s = float(np.round(rng.uniform(0, 1), 6))
                rows.append((m, x, y, s))
                mic.append(m), xy.append((x, y)), score.append(s), picker.append(p)
            write_topaz(tmp_path / f"t{trial}_p{p}.txt", rows)
            inputs.append(tmp_path / f"t{trial}_p{p}.txt")
        for k in range(1, n_pickers + 1):
            options = ParticleOptions(min_dist=30.0, mic_psize=1.0, topaz_scale=1.0, min_support=k)
            summary = remove_duplicate_particles(inputs, tmp_path / f"out{trial}_{k}", options)
            expected, unconfirmed = oracle(mic, xy, score, picker, 30.0, k)
            assert summary.kept == int(expected.sum()), (trial, k)
            if n_pickers > 1:
                by_input = [i["rejected_unconfirmed"] for i in summary.to_json()["consensus"]["per_input"]]
                assert by_input == np.bincount(np.array(picker)[unconfirmed], minlength=n_pickers).tolist()
            got = set()
            for p in range(n_pickers):
                mine = "" if n_pickers == 1 else f"picker_{p + 1}_t{trial}_p{p}"
                folder = tmp_path / f"out{trial}_{k}" / mine / "kept"
                for line in (folder / f"t{trial}_p{p}.txt").read_text().splitlines()[1:]:
                    m, x, y, s = line.split("\t")
                    got.add((p, m, float(x), float(y)))
            want = {(picker[i], mic[i], *xy[i]) for i in np.flatnonzero(expected)}
            assert got == want, (trial, k)


def test_min_support_above_the_number_of_inputs_is_refused(tmp_path):
    write_topaz(tmp_path / "a.txt", [("m", 1.0, 2.0, 0.5)])
    with pytest.raises(CryodedupError, match="--min-support 2: there is only 1 input; give each picker as its own"):
        remove_duplicate_particles(
            [tmp_path / "a.txt"], tmp_path / "out", ParticleOptions(mic_psize=1, topaz_scale=1, min_support=2)
        )


def test_a_missing_input_is_named_whatever_the_others_are(tmp_path):
    # Not "inputs mix picker coordinates and particle files": the folder is simply not there.
    write_topaz(tmp_path / "a.txt", [("m", 1.0, 2.0, 0.5)])
    with pytest.raises(CryodedupError, match=r"^\S*nosuch_dir: file not found$"):
        remove_duplicate_particles(
            [tmp_path / "a.txt", tmp_path / "nosuch_dir"], tmp_path / "out", ParticleOptions(mic_psize=1, topaz_scale=1)
        )


def test_pickers_are_read_two_at_a_time_in_order_and_the_first_error_comes_first():
    # The first read waits for the second to have run: read one after the other, it would not return.
    second_done = threading.Event()

    def read(path, fail):
        if path == "a":
            assert second_done.wait(10), "the second input is not read while the first is"
        else:
            second_done.set()
        if fail:
            raise CryodedupError(f"{path}: bad")
        return path.upper()

    announced = []
    assert list(_read_overlapped(["a", "b"], lambda p: read(p, False), announced.append)) == ["A", "B"]
    assert announced == ["a", "b"]
    second_done.clear()
    announced.clear()
    with pytest.raises(CryodedupError, match="^a: bad$"):  # b failed first
        list(_read_overlapped(["a", "b"], lambda p: read(p, True), announced.append))
    assert announced == ["a"]


def test_rank_normalisation_lets_a_low_scale_picker_win(tmp_path):
    # Picker a scores 0.1 .. 0.3 (its best is 0.3), picker b 1 .. 3: the duplicate pair is a's best
    # (0.3, percentile 5/6) and b's worst (1.0, percentile 1/6). Raw scores keep b's; ranks keep a's.
    write_topaz(tmp_path / "a.txt", [("m", 100.0, 100.0, 0.3), ("m", 500.0, 500.0, 0.1), ("m", 900.0, 900.0, 0.2)])
    write_topaz(tmp_path / "b.txt", [("m", 105.0, 100.0, 1.0), ("m", 50.0, 900.0, 3.0), ("m", 900.0, 50.0, 2.0)])
    inputs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    raw = remove_duplicate_particles(inputs, tmp_path / "raw", ParticleOptions(mic_psize=1.0, topaz_scale=1.0))
    ranked = remove_duplicate_particles(
        inputs, tmp_path / "rank", ParticleOptions(mic_psize=1.0, topaz_scale=1.0, score_normalize="rank")
    )
    assert [i["kept"] for i in raw.to_json()["inputs"]] == [2, 3]
    assert [i["kept"] for i in ranked.to_json()["inputs"]] == [3, 2]
    assert "rank" in ranked.to_json()["score"]["normalized"] and "normalized" not in raw.to_json()["score"]


@pytest.fixture
def relion_and_cryolo(tmp_path, monkeypatch):
    """A RELION 3.1 AutoPick job (pixel 0.885 Å from the micrographs STAR) and crYOLO's CBOX
    folder on the same micrographs, in a RELION project."""
    monkeypatch.chdir(tmp_path)
    _job, names = relion3_job(tmp_path, {"m1": [(100.5, 200.25, 0.3), (1000, 20, 0.1)], "m2": [(700, 800, 1.5)]})
    cbox = tmp_path / "cryolo/CBOX"
    cbox.mkdir(parents=True)
    # Corners, box 100: centres (100.5, 210.25) (10 px = 8.85 Å from RELION's m1 pick), and (1550, 1650).
    (cbox / "m1.cbox").write_text(cbox_text([(50.5, 160.25, 100.0, 100.0, 0.9)]))
    (cbox / "m2.cbox").write_text(cbox_text([(1500.0, 1600.0, 100.0, 100.0, 0.2)]))
    return tmp_path, names


def cli(*args):
    return CliRunner().invoke(main, ["particles", *map(str, args)])


def test_relion31_job_and_cryolo_merge_into_a_relion_coordinate_job(relion_and_cryolo):
    root, names = relion_and_cryolo
    star = "CtfFind/job003/micrographs_ctf.star"
    result = cli("AutoPick/job006", "cryolo", "--micrographs", star, "--min-dist", 20, "-o", "Dedup/job050", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["output_format"] == "relion"
    listing = starfile.read("Dedup/job050/autopick_kept.star")
    assert listing["rlnMicrographName"].tolist() == names
    m1 = starfile.read(listing["rlnMicrographCoordinates"][0])
    m2 = starfile.read(listing["rlnMicrographCoordinates"][1])
    # m1: crYOLO's 0.9 and RELION's 0.3 are 8.85 Å apart: raw scores keep crYOLO's (centre from its corner).
    np.testing.assert_allclose(m1[["rlnCoordinateX", "rlnCoordinateY"]], [[1000, 20], [100.5, 210.25]])
    np.testing.assert_allclose(m2[["rlnCoordinateX", "rlnCoordinateY"]], [[700, 800], [1550, 1650]])
    rejected = starfile.read("Dedup/job050/rejected/Movies/m1_autopick.star")
    np.testing.assert_allclose(rejected[["rlnCoordinateX", "rlnCoordinateY"]], [[100.5, 200.25]])
    per_input = summary["consensus"]["per_input"]
    assert [i["confirmed"] for i in per_input] == [1, 1]
    # Consensus of two: only the m1 location is confirmed; the kept row is crYOLO's own.
    result = cli("AutoPick/job006", "cryolo", "--micrographs", star, "--min-support", 2, "-o", "Dedup/job051", "--json")
    assert result.exit_code == 0, result.output
    kept = starfile.read("Dedup/job051/kept/Movies/m1_autopick.star")
    np.testing.assert_allclose(kept[["rlnCoordinateX", "rlnCoordinateY"]], [[100.5, 210.25]])
    assert "_rlnCoordinateX" in (root / "Dedup/job051/kept/Movies/m2_autopick.star").read_text()  # listed, empty
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["kept"] == 1 and summary["rejected"] == 4
    # Jaccard: m(RELION, crYOLO) = 1, m(crYOLO, RELION) = 1: shared 1 of 3 + 2 - 1 = 4.
    assert summary["consensus"]["jaccard"][0][1] == 0.25


def test_cs_output_loads_in_cryosparc_tools(relion_and_cryolo):
    from cryosparc.dataset import Dataset

    from fixtures.synthetic import write_mrc

    root, names = relion_and_cryolo
    for name in names:  # micrographs 1800 x 2000 (ny, nx)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_mrc(root / name, np.zeros((1800, 2000), dtype=np.float32), 0.885)
    star = "CtfFind/job003/micrographs_ctf.star"
    result = cli("AutoPick/job006", "cryolo", "--micrographs", star, "--output-format", "cryosparc", "-o", "cs")
    assert result.exit_code == 0, result.output
    kept = Dataset.load("cs/picks_kept.cs")
    assert len(kept) == 4
    assert set(kept.prefixes()) >= {"location"}
    np.testing.assert_array_equal(kept["location/micrograph_shape"], [[1800, 2000]] * 4)
    np.testing.assert_allclose(kept["location/micrograph_psize_A"], 0.885, rtol=1e-6)
    x = kept["location/center_x_frac"] * 2000
    y = kept["location/center_y_frac"] * 1800
    got = sorted(zip(np.round(x, 2).tolist(), np.round(y, 2).tolist()))
    assert got == sorted([(1000.0, 20.0), (700.0, 800.0), (100.5, 210.25), (1550.0, 1650.0)])


def test_cs_output_finds_a_pickers_file_stems_as_mrc_files_under_the_project_dir(relion_and_cryolo):
    # crYOLO names a micrograph by its stem (m1.cbox for m1.mrc): the sizes come from
    # mics/m1.mrc and mics/m2.mrc, found under --project-dir as the pictures find them.
    from fixtures.synthetic import write_mrc

    root, _ = relion_and_cryolo
    (root / "mics").mkdir()
    write_mrc(root / "mics/m1.mrc", np.zeros((1800, 2000), dtype=np.float32), 0.885)
    write_mrc(root / "mics/m2.mrc", np.zeros((900, 1000), dtype=np.float32), 0.885)
    args = ("cryolo", "--mic-psize", 0.885, "--output-format", "cryosparc", "-o", "cs", "--project-dir", "mics")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    kept = np.load("cs/picks_kept.cs")
    shapes = dict(zip(kept["location/micrograph_path"].tolist(), kept["location/micrograph_shape"].tolist()))
    assert shapes == {b"m1": [1800, 2000], b"m2": [900, 1000]}
    (root / "mics/m2.mrc").unlink()  # one missing: refused, naming the file looked for
    result = cli(*args, "--force")
    assert result.exit_code == 1 and "mics/m2.mrc not found (1 of 2 missing)" in result.stderr


def test_cs_output_without_micrograph_files_is_refused(relion_and_cryolo):
    star = "CtfFind/job003/micrographs_ctf.star"
    result = cli("AutoPick/job006", "cryolo", "--micrographs", star, "--output-format", "cryosparc", "-o", "cs")
    assert result.exit_code == 1
    assert "needs each micrograph's size" in result.stderr and "--project-dir" in result.stderr


def test_picks_without_pixel_size_are_refused(relion_and_cryolo):
    result = cli("cryolo", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: picker coordinates are in micrograph pixels and carry no pixel size")


def test_unscored_picker_folder_is_named_in_the_verdict_by_what_to_check(tmp_path, monkeypatch):
    # EMAN2 info/ boxes without a score: the verdict says what to check, not the folder's name.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "info").mkdir()
    (tmp_path / "info/m_info.json").write_text(json.dumps({"boxes": [[500, 500, "manual"], [520, 500, "manual"]]}))
    result = cli("info", "--mic-psize", 1, "--min-dist", 40, "-o", "out")
    assert result.exit_code == 0, result.output
    verdict = result.stderr.splitlines()[0]
    assert (
        verdict == "Kept 1 of 2 (1 duplicate) -> out/kept/m_info.json. Check: no score: each group keeps a random pick"
    )


def test_a_picker_without_picks_leaves_the_others_ranked_by_their_scores(tmp_path, monkeypatch):
    # topaz found nothing (its table is a header, score column included): crYOLO's confidences
    # still rank its duplicates. They were dropped ("no score in the picks ... the other inputs'
    # scores are not used either") and each pair kept a random pick. Hand-worked: six pairs
    # 10 px apart, the better one first or second in turn; the better one of each is kept.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cryolo/CBOX").mkdir(parents=True)
    rows, best = [], []
    for k in range(6):
        pair = [(100.0 + 300 * k, 100.0, 100.0, 100.0, 0.2), (110.0 + 300 * k, 100.0, 100.0, 100.0, 0.9)]
        rows += pair if k % 2 else pair[::-1]
        best.append((160.0 + 300 * k, 150.0))
    (tmp_path / "cryolo/CBOX/m1.cbox").write_text(cbox_text(rows))
    (tmp_path / "empty_topaz.txt").write_text("image_name\tx_coord\ty_coord\tscore\n")
    args = ("cryolo", "empty_topaz.txt", "--mic-psize", 1, "--topaz-scale", 1, "--min-dist", 20)
    result = cli(*args, "-o", "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{") :])["score"]["column"] == "Confidence"
    assert "no picks in empty_topaz.txt" in result.stderr
    assert "shares no micrograph" not in result.stderr  # (with an input that picked nothing: said once, as such)
    kept = starfile.read("out/kept/m1_autopick.star")
    assert sorted(zip(kept["rlnCoordinateX"], kept["rlnCoordinateY"])) == best


def test_relion3_job_without_its_micrographs_star_is_advised_what_reads_it(relion_and_cryolo):
    # A 3.x job's coordinate files are named by its micrographs STAR: copied without it, the
    # job reads with --micrographs, and --mic-psize alone does not read it (so is not advised).
    root, _ = relion_and_cryolo
    star = root / "CtfFind/job003/micrographs_ctf.star"
    (root / "mics.star").write_text(star.read_text())
    star.unlink()
    result = cli("AutoPick/job006", "-o", "out")
    assert result.exit_code == 1 and "--micrographs" in result.stderr
    assert "--mic-psize" not in result.stderr
    assert cli("AutoPick/job006", "--mic-psize", 0.885, "-o", "out").exit_code == 1
    result = cli("AutoPick/job006", "--micrographs", "mics.star", "-o", "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{") :])["particles"] == 3
    result = cli("cryolo", "--micrographs", "exposures.cs", "-o", "out")
    assert result.exit_code == 1 and "exposures.cs" in result.stderr and "Traceback" not in result.output


def test_a_job_whose_micrographs_star_is_not_found_is_said_so(relion_and_cryolo):
    # The job's coords_suffix names a STAR not found from here (the project's micrographs moved): the error said
    # the job "is not a RELION job that names its micrographs STAR", which it is.
    root, _ = relion_and_cryolo
    (root / "elsewhere").mkdir()
    (root / "CtfFind").rename(root / "elsewhere" / "CtfFind")
    result = cli("AutoPick/job006", "-o", "out")
    assert result.exit_code == 1 and "is not a RELION job" not in result.stderr, result.stderr
    assert "names CtfFind/job003/micrographs_ctf.star as its micrographs, which is not found" in result.stderr
    assert "--project-dir" in result.stderr
    # And the folder it names works.
    done = cli("AutoPick/job006", "-o", "out", "--project-dir", root / "elsewhere")
    assert done.exit_code == 0, done.output


def test_topaz_without_pixel_size_or_scale_is_told_both_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_topaz(tmp_path / "topaz.txt", [("m1", 10, 20, 0.5)])
    result = cli("topaz.txt", "-o", "out")
    assert result.exit_code == 1
    assert "--mic-psize" in result.stderr and "--topaz-scale" in result.stderr
    assert not (tmp_path / "out").exists()


def write_exposures(path, names, shape, psize) -> None:
    """CryoSPARC exposures as Patch CTF Estimation writes them (numpy .cs): uid, micrograph_blob/*, ctf/*."""
    width = max(len(n) for n in names)
    data = np.zeros(
        len(names),
        dtype=[
            ("uid", "<u8"),
            ("micrograph_blob/path", f"S{width}"),
            ("micrograph_blob/idx", "<u4"),
            ("micrograph_blob/shape", "<u4", (2,)),
            ("micrograph_blob/psize_A", "<f4"),
            ("micrograph_blob/format", "S13"),
            ("ctf/type", "S11"),
            ("ctf/df1_A", "<f4"),
        ],
    )
    data["uid"] = [11111111111111111 + k for k in range(len(names))]
    data["micrograph_blob/path"] = [n.encode() for n in names]
    data["micrograph_blob/shape"] = shape
    data["micrograph_blob/psize_A"] = psize
    data["micrograph_blob/format"] = b"MRC/1.0"
    data["ctf/type"] = b"imported"
    with open(path, "wb") as f:
        np.save(f, data)


# CryoSPARC names a motion-corrected micrograph <uid>_<movie>_patch_aligned_doseweighted.mrc.
CS_MICS = [
    "J3/motioncorrected/008177466327186286218_mic1_patch_aligned_doseweighted.mrc",
    "J3/motioncorrected/015338114040446316307_mic2_patch_aligned_doseweighted.mrc",
]


def test_cryosparc_exposures_name_the_micrographs_and_give_pixel_sizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_exposures(tmp_path / "J4_exposures_accepted.cs", CS_MICS, (4092, 5760), 0.83)
    cbox = tmp_path / "cryolo/CBOX"
    cbox.mkdir(parents=True)
    # crYOLO ran on the exported micrographs: its files carry their stems. Corners, box 100:
    # centres (150, 250) and (160, 250) on mic1 (10 px = 8.3 Å apart), (1050, 2050) on mic2.
    stems = [n.rsplit("/", 1)[1][:-4] for n in CS_MICS]
    (cbox / f"{stems[0]}.cbox").write_text(
        cbox_text([(100.0, 200.0, 100.0, 100.0, 0.9), (110.0, 200.0, 100.0, 100.0, 0.5)])
    )
    (cbox / f"{stems[1]}.cbox").write_text(cbox_text([(1000.0, 2000.0, 100.0, 100.0, 0.7)]))
    args = ["cryolo", "--micrographs", "J4_exposures_accepted.cs", "--output-format", "relion", "--json"]
    result = cli(*args, "--min-dist", 8, "-o", "near")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    # 10 px x 0.83 Å = 8.3 Å > 8: both kept; the pixel size is the exposures' float32 0.83.
    assert summary["kept"] == 3
    assert summary["pixel_sizes"][0]["source"] == "micrograph_blob/psize_A in J4_exposures_accepted.cs"
    assert summary["pixel_sizes"][0]["psize"] == pytest.approx(0.83, rel=1e-6)
    listing = starfile.read("near/autopick_kept.star")
    assert listing["rlnMicrographName"].tolist() == CS_MICS
    result = cli(*args, "--min-dist", 8.4, "-o", "far")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["kept"] == 2  # 8.3 Å <= 8.4: the 0.5 pick goes
    rejected = starfile.read(f"far/rejected/J3/motioncorrected/{stems[0]}_autopick.star")
    np.testing.assert_allclose(rejected[["rlnCoordinateX", "rlnCoordinateY"]], [[160, 250]])


def test_cs_output_takes_shapes_and_uids_from_the_exposures(tmp_path, monkeypatch):
    from cryosparc.dataset import Dataset

    monkeypatch.chdir(tmp_path)
    write_exposures(tmp_path / "exposures.cs", CS_MICS, (4092, 5760), 0.83)
    write_topaz(tmp_path / "t.txt", [(n.rsplit("/", 1)[1][:-4], 1439.0, 1022.0, 1.0) for n in CS_MICS])
    result = cli(
        "t.txt", "--micrographs", "exposures.cs", "--output-format", "cryosparc", "--topaz-scale", 4, "-o", "cs"
    )
    assert result.exit_code == 0, result.output
    kept = Dataset.load("cs/picks_kept.cs")
    assert kept["location/micrograph_uid"].tolist() == [11111111111111111, 11111111111111112]
    assert kept["location/micrograph_shape"].tolist() == [[4092, 5760]] * 2
    # (1439, 1022) x 4 = (5756, 4088) px: fractions 5756 / 5760 and 4088 / 4092.
    np.testing.assert_allclose(kept["location/center_x_frac"], 5756 / 5760, rtol=1e-6)
    np.testing.assert_allclose(kept["location/center_y_frac"], 4088 / 4092, rtol=1e-6)


def test_topaz_scale_inferred_from_the_exposures_and_said(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_exposures(tmp_path / "exposures.cs", CS_MICS, (4092, 5760), 0.83)
    stems = [n.rsplit("/", 1)[1][:-4] for n in CS_MICS]
    # topaz preprocess -s 4: 5760 x 4092 becomes 1440 x 1023. mic1's picks reach x 1400
    # (1401 / 1440 = 97 %) and y 1000 (1001 / 1023 = 98 %); at -s 5 (1152 x 818) they would
    # lie outside, at -s 3 they would reach only 98 % x 3 / 4 = 73 %: the scale is 4.
    write_topaz(tmp_path / "t.txt", [(stems[0], 1400.0, 1000.0, 2.0), (stems[1], 100.0, 50.0, -1.0)])
    result = cli("t.txt", "--micrographs", "exposures.cs", "--output-format", "relion", "--json", "-o", "out")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    (note,) = summary["reading_notes"]
    assert "multiplied by 4 (inferred from 2 micrograph sizes: at -s 4 the picks reach 98%" in note
    assert "at -s 3 only 73%" in note and "at -s 5 they would lie outside" in note
    rows = starfile.read(f"out/kept/J3/motioncorrected/{stems[0]}_autopick.star")
    np.testing.assert_allclose(rows[["rlnCoordinateX", "rlnCoordinateY"]], [[5600, 4000]])


def test_topaz_scale_inferred_from_the_mrc_files_of_a_micrographs_star(tmp_path, monkeypatch):
    from fixtures.synthetic import write_mrc

    monkeypatch.chdir(tmp_path)
    _job, names = relion3_job(tmp_path, {"m1": [(1, 2, 0.3)], "m2": [(3, 4, 0.1)]})
    for name in names:  # 600 x 400 (nx x ny); -s 4 gives 150 x 100
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_mrc(tmp_path / name, np.zeros((400, 600), dtype=np.float32), 0.885)
    # m1 reaches x 148 (149 / 150 = 99 %), y 95 (96 / 100): at -s 3, 99 % x 3 / 4 = 75 %.
    write_topaz(tmp_path / "t.txt", [("m1", 148.0, 95.0, 1.0), ("m2", 10.0, 20.0, 0.0)])
    star = "CtfFind/job003/micrographs_ctf.star"
    result = cli("t.txt", "--micrographs", star, "--output-format", "relion", "--json", "-o", "out")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (
        "multiplied by 4 (inferred from 2 micrograph sizes: at -s 4 the picks reach 99%" in summary["reading_notes"][0]
    )
    rows = starfile.read("out/kept/Movies/m1_autopick.star")
    np.testing.assert_allclose(rows[["rlnCoordinateX", "rlnCoordinateY"]], [[592, 380]])
    # Without the MRC files the sizes are unknown: refused, saying what to give.
    for name in names:
        (tmp_path / name).unlink()
    result = cli("t.txt", "--micrographs", star, "-o", "out2")
    assert result.exit_code == 1
    assert "m1.mrc is not found (nor any of the 2 micrographs)" in result.stderr and "--topaz-scale" in result.stderr


@pytest.mark.real_data
def test_real_picker_files_through_the_cli(tmp_path):
    topaz = shared_file("picks/topaz__EMPIAR-10025_particles.txt")
    result = cli(topaz, "--mic-psize", 1.0, "--topaz-scale", 1, "--min-dist", 50, "-o", tmp_path / "topaz", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    # 1500 training labels, 50 on each of 30 micrographs, no duplicate rows: the PROVENANCE notes.
    assert (summary["particles"], summary["micrographs"]) == (1500, 30)
    assert summary["output_format"] == "input" and (tmp_path / "topaz/kept" / topaz.name).is_file()
    assert any("multiplied by 1 (given)" in note for note in summary["reading_notes"])
    cboxes = [shared_file(f"picks/napari-boxmanager__TcdA1-00{k}_frames_sum.cbox") for k in (18, 19)]
    folder = tmp_path / "cbox"
    folder.mkdir()
    for c in cboxes:
        (folder / c.name).write_bytes(c.read_bytes())
    result = cli(folder, "--mic-psize", 1.0, "-o", tmp_path / "cbox_out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{") :])["micrographs"] == 2
    autopick = shared_file("picks/3dem__20170629_00049_frameImage_autopick.star")
    result = cli(autopick, "--mic-psize", 0.885, "-o", tmp_path / "relion", "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "relion/autopick_kept.star").is_file()
    filament = shared_file("picks/napari-boxmanager__ActLifeact_03211.cbox")
    result = cli(filament, "--mic-psize", 1.0, "--filament-mode", "tube", "-o", tmp_path / "filament", "--json")
    assert result.exit_code == 0, result.output
    filaments = json.loads(result.stdout[result.stdout.index("{") :])["filaments"]
    assert (filaments["column"], filaments["tubes"], filaments["mode"]) == ("_filamentid", 1, "tube")


def test_which_inputs_are_picker_outputs(tmp_path):
    from cryodedup.formats.sniff import is_picker_output
    from helpers import write_star

    particles = write_star(tmp_path / "particles.star", ["rlnCoordinateX", "rlnCoordinateY"], [[1, 2]])
    coordinates = tmp_path / "m_picks.star"  # a per-micrograph coordinate STAR under another name
    coordinates.write_text("\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n")
    listing = tmp_path / "list.star"
    listing.write_text("data_coordinate_files\nloop_\n_rlnMicrographName\n_rlnMicrographCoordinates\na.mrc a.star\n")
    (tmp_path / "CBOX").mkdir()
    for path in (tmp_path / "CBOX", str(tmp_path / "*.box"), tmp_path / "x.cbox", tmp_path / "t.txt", listing):
        assert is_picker_output(path), path
    assert is_picker_output(coordinates)
    assert is_picker_output(tmp_path / "coords_suffix_autopick.star")
    for path in (particles, tmp_path / "p.cs", tmp_path / "g.csg"):
        assert not is_picker_output(path), path


def test_inputs_on_no_common_micrograph_are_warned_about(tmp_path):
    # Two crYOLO files of different micrographs given as two inputs: one picker's output
    # split in two, where one input was meant. The warning names the input; one input is quiet.
    a, b = tmp_path / "m1.cbox", tmp_path / "m2.cbox"
    a.write_text(cbox_text([(50.0, 60.0, 100.0, 100.0, 0.9)]))
    b.write_text(cbox_text([(500.0, 600.0, 100.0, 100.0, 0.8)]))
    options = ParticleOptions(mic_psize=1.0)
    summary = remove_duplicate_particles([a, b], tmp_path / "two", options)
    assert [w for w in summary.warnings if "shares no micrograph" in w and "m1.cbox" in w]
    summary = remove_duplicate_particles([str(tmp_path / "*.cbox")], tmp_path / "one", options)
    assert not [w for w in summary.warnings if "shares no micrograph" in w]


def test_picks_set_is_built_without_8_byte_columns_per_pick(tmp_path):
    # Ten million picks: micrograph ids and inputs as uint32, one pixel size broadcast (no
    # memory per pick); centres in Å as the picker's pixels times the pixel size, by hand.
    from cryodedup.jobs.particles.plan import plan
    from cryodedup.jobs.particles.read import read_inputs

    a, b = tmp_path / "m1.cbox", tmp_path / "m2.cbox"
    a.write_text(cbox_text([(50.0, 60.0, 100.0, 100.0, 0.9)]))
    b.write_text(cbox_text([(500.0, 600.0, 100.0, 100.0, 0.8), (10.0, 20.0, 50.0, 50.0, 0.7)]))
    options = ParticleOptions(mic_psize=2.0)
    read = plan(options).read
    particles = read_inputs([a, b], tmp_path / "out", read, lambda message: None, lambda message, level: None)
    assert particles.groups.dtype == np.uint32 and particles.input_of.dtype == np.uint32
    assert particles.groups.tolist() == [0, 1, 1] and particles.input_of.tolist() == [0, 1, 1]
    assert particles.psize.strides == (0,) and particles.psize.tolist() == [2.0, 2.0, 2.0]
    # crYOLO corners: centre = corner + size / 2 -> (100, 110), (550, 650), (35, 45) px.
    assert particles.centres.tolist() == [[200.0, 220.0], [1100.0, 1300.0], [70.0, 90.0]]


def test_an_unscored_picker_says_the_others_scores_go_unused_too(tmp_path):
    write_topaz(tmp_path / "scored.txt", [("m", 10.0, 10.0, 0.9)])
    (tmp_path / "plain.txt").write_text("image_name\tx_coord\ty_coord\nm\t12.0\t10.0\n")
    options = ParticleOptions(mic_psize=1, topaz_scale=1)
    summary = remove_duplicate_particles([tmp_path / "scored.txt", tmp_path / "plain.txt"], tmp_path / "out", options)
    (warning,) = [w for w in summary.warnings if "no score" in w]
    assert warning.startswith(f"{tmp_path / 'plain.txt'}: no score in the picks")
    assert "the other inputs' scores are not used either" in warning
    assert summary.to_json()["score"]["order"] == "random (seed 0)"


def test_a_relion_list_of_bare_micrograph_stems_is_warned_about(tmp_path):
    # x_autopick.star names its micrograph "x" only: RELION Extract would not match it.
    text = "\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10.0 20.0\n40.0 20.0\n"
    (tmp_path / "x_autopick.star").write_text(text)
    summary = remove_duplicate_particles([tmp_path / "x_autopick.star"], tmp_path / "out", ParticleOptions(mic_psize=1))
    assert any(w.startswith("micrographs known only by file stem (1, e.g. x)") for w in summary.warnings)
    listed = starfile.read(tmp_path / "out" / "autopick_kept.star")
    assert listed["rlnMicrographName"].tolist() == ["x"]


def test_each_pickers_output_folder_names_its_input(tmp_path):
    from cryodedup.formats.picks.particles import picker_folder

    (tmp_path / "AutoPick/job010").mkdir(parents=True)
    (tmp_path / "topaz picks.txt").write_text("")
    assert picker_folder(0, tmp_path / "AutoPick/job010") == "picker_1_job010"
    assert picker_folder(1, tmp_path / "topaz picks.txt") == "picker_2_topaz_picks"
    assert picker_folder(2, tmp_path / "cryolo/CBOX/*.cbox") == "picker_3_CBOX"
    assert picker_folder(3, tmp_path / "..") == "picker_4"


def test_joined_picks_match_numpy_whatever_the_arrays_layout():
    # Centres as a reader's table columns, as a reversed view and as a plain array; pixel
    # sizes per micrograph; the joined set against numpy's concatenation of the same.
    from cryodedup.formats.picks import Picks
    from cryodedup.formats.picks.particles import _joined

    rng = np.random.default_rng(3)
    table = rng.uniform(0, 4000, (70_000, 3))  # x, y, score: past one task of the core
    layouts = [table[:, :2], table[::-1, :2], np.array(table[:500, :2], order="F")]
    scores = [table[:, 2], table[::-1, 2], table[:500, 2].copy()]
    pickers, ids = [], []
    for k, centres in enumerate(layouts):
        n_mics = 3 + k
        micrograph = rng.integers(0, n_mics, len(centres)).astype(np.int32)
        ids.append(rng.permutation(6)[:n_mics].astype(np.uint32))
        empty = np.zeros(len(centres), dtype=np.uint64)
        pickers.append(Picks(f"p{k}", "relion", [], micrograph, centres, scores[k], "s", True, [], empty, empty, empty))
    mic_psize = np.array([1.0, 0.5, 2.0, 1.25, 3.0, 0.75])
    groups, centres, joined_scores, input_of = _joined(pickers, ids, scores, mic_psize)
    expected_groups = np.concatenate([i[p.micrograph] for i, p in zip(ids, pickers)])
    assert groups.tolist() == expected_groups.tolist()
    expected = np.concatenate(layouts) * mic_psize[expected_groups][:, None]
    assert np.array_equal(centres, expected)
    assert np.array_equal(joined_scores, np.concatenate(scores))
    assert input_of.tolist() == np.repeat([0, 1, 2], [len(c) for c in layouts]).tolist()
    assert _joined(pickers, ids, None, mic_psize)[2] is None


def test_relion_columns_not_written_are_named(tmp_path):
    # Two pickers' files with other columns: one coordinate file per micrograph cannot copy
    # both, so the rows hold centre and score and the warning says what is lost.
    head = "\ndata_\n\nloop_\n"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a_labels = "_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnAutopickFigureOfMerit #3\n"
    a_labels += "_rlnClassNumber #4\n_rlnAnglePsi #5\n"
    (tmp_path / "a/x_autopick.star").write_text(head + a_labels + "10.0 20.0 0.5 0 0.0\n")
    b_labels = "_rlnAutopickFigureOfMerit #1\n_rlnCoordinateY #2\n_rlnCoordinateX #3\n"
    (tmp_path / "b/x_autopick.star").write_text(head + b_labels + "0.9 21.0 12.0\n300.0 400.0 500.0\n")
    inputs = [tmp_path / "a/x_autopick.star", tmp_path / "b/x_autopick.star"]
    summary = remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(mic_psize=1, min_dist=10))
    (warning,) = [w for w in summary.warnings if "not written" in w]
    assert f"not written there: {inputs[0]}: rlnClassNumber, rlnAnglePsi)" in warning
    kept = starfile.read(tmp_path / "out/kept/x_autopick.star")
    assert list(kept.columns) == ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]
    assert sorted(kept["rlnCoordinateX"].tolist()) == [12.0, 500.0]  # b's better pick, and its far one
    # Each picker's rows as read, every column, in its own folder (issue 64).
    assert (tmp_path / "out/picker_1_x_autopick/rejected/x_autopick.star").read_text().endswith("10.0 20.0 0.5 0 0.0\n")
    assert (
        (tmp_path / "out/picker_2_x_autopick/kept/x_autopick.star")
        .read_text()
        .endswith("0.9 21.0 12.0\n300.0 400.0 500.0\n")
    )
    # The same columns in both: rows are byte copies, nothing to warn about.
    (tmp_path / "b/x_autopick.star").write_text(head + a_labels + "12.0 21.0 0.9 1 90.0\n")
    summary = remove_duplicate_particles(inputs, tmp_path / "out2", ParticleOptions(mic_psize=1, min_dist=10))
    assert not [w for w in summary.warnings if "not written" in w]
    assert (tmp_path / "out2/kept/x_autopick.star").read_text().endswith("12.0 21.0 0.9 1 90.0\n\n")
    # The same columns, written by another tool (starfile: a comment, no "#N"): copied too.
    other_tool = "# Created by the starfile Python package\n\n\ndata_\n\nloop_\n"
    other_tool += "".join(f"{line.split()[0]}\n" for line in a_labels.splitlines())
    (tmp_path / "b/x_autopick.star").write_text(other_tool + "12.0\t21.0\t0.9\t1\t90.0\n")
    summary = remove_duplicate_particles(inputs, tmp_path / "out3", ParticleOptions(mic_psize=1, min_dist=10))
    assert not [w for w in summary.warnings if "not written" in w]
    kept = (tmp_path / "out3/kept/x_autopick.star").read_text()
    assert kept.startswith(head + a_labels) and kept.endswith("12.0\t21.0\t0.9\t1\t90.0\n\n")
    # The same columns in another order (RELION 3.1's template picker after its LoG picker):
    # every column kept, b's fields put in a's order, each text unchanged.
    b_order = "_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnClassNumber #3\n_rlnAutopickFigureOfMerit #4\n"
    b_order += "_rlnAnglePsi #5\n"
    (tmp_path / "b/x_autopick.star").write_text(head + b_order + "  12.0 21.0    1  0.900 90.0 \n")
    summary = remove_duplicate_particles(inputs, tmp_path / "out4", ParticleOptions(mic_psize=1, min_dist=10))
    assert not [w for w in summary.warnings if "not written" in w]
    kept = (tmp_path / "out4/kept/x_autopick.star").read_text()
    assert kept.startswith(head + a_labels) and kept.endswith("  12.0 21.0  0.900    1 90.0\n\n")


def test_pickers_numbers_are_let_go_only_when_the_writer_copies_rows(tmp_path):
    # Joined into the set, the pickers' centres and scores are not held twice when the
    # RELION writer copies rows; when it writes them from numbers (files of other columns), they stay.
    head = "\ndata_\n\nloop_\n"
    xy_score = "_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnAutopickFigureOfMerit #3\n"
    other = "_rlnAutopickFigureOfMerit #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n_rlnClassNumber #4\n"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "a/x_autopick.star").write_text(head + xy_score + "10.0 20.0 0.5\n")
    inputs = [tmp_path / "a/x_autopick.star", tmp_path / "b/x_autopick.star"]
    for b_file, held in ((xy_score + "12.0 21.0 0.9\n", False), (other + "0.9 12.0 21.0 1\n", True)):
        (tmp_path / "b/x_autopick.star").write_text(head + b_file)
        request = read_request(ParticleOptions(mic_psize=1, min_dist=10))
        read = (request.scale, request.score_read, request.output_format)
        particles = read_picker_outputs(inputs, tmp_path / "out", *read, lambda m: None, lambda m, level: None)
        assert particles.centres.tolist() == [[10.0, 20.0], [12.0, 21.0]]  # the set has them
        assert particles.scores.tolist() == [0.5, 0.9]
        for picks in particles.writer.pickers:
            assert (picks.centres.strides != (0, 0)) == held and picks.centres.shape == (1, 2)
            assert np.isnan(picks.centres).all() != held
            assert (picks.score.strides != (0,)) == held and picks.score.shape == (1,)


# --- issue 54 item 1: a --mic-psize the micrographs' own sizes contradict ------------------------


def test_a_mic_psize_the_exposures_contradict_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_exposures(tmp_path / "exposures.cs", CS_MICS, (4092, 5760), 0.83)
    write_topaz(
        tmp_path / "t.txt", [(n.rsplit("/", 1)[1][:-4], 1439.0 + k, 1022.0, 1.0) for k, n in enumerate(CS_MICS)]
    )
    args = ["t.txt", "--micrographs", "exposures.cs", "--topaz-scale", 1]
    result = cli(*args, "--mic-psize", 1.66, "-o", "out")
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        "Error: --mic-psize 1.66 Å contradicts micrograph_blob/psize_A 0.83 Å in exposures.cs; give the pixel size of "
        "the micrographs the coordinates were picked on, or --insist-psize to use 1.66"
    ]
    assert cli(*args, "--mic-psize", 0.83, "-o", "ok").exit_code == 0
    result = cli(*args, "--mic-psize", 1.66, "--insist-psize", "-o", "insisted", "--json")
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["pixel_sizes"][0]["source"].startswith("--mic-psize, insisted on (--insist-psize) though it")


@pytest.mark.parametrize(
    ("scale", "why"),
    [
        (1, None),  # picks over the whole 5760 x 4092 micrograph
        (4, "the picks reach 4.0 times their width or height (picked in smaller pixels?)"),
        (0.25, "all 40 picks lie within 25% of their width and height (picked in larger pixels?)"),
    ],
)
def test_picks_far_beyond_or_squeezed_into_their_micrographs_contradict_the_pixel_size(
    tmp_path, monkeypatch, scale, why
):
    # 40 picks spread over the micrographs (x to 5700 of 5760, y to 4000 of 4092), their coordinates
    # scaled as if picked on a 4x finer (4) or 4x coarser (0.25) grid than the micrographs'.
    monkeypatch.chdir(tmp_path)
    write_exposures(tmp_path / "exposures.cs", CS_MICS, (4092, 5760), 0.83)
    rng = np.random.default_rng(1)
    xy = np.column_stack([np.linspace(60, 5700, 20), rng.uniform(60, 4000, 20)])
    rows = [(n.rsplit("/", 1)[1][:-4], *(scale * p).tolist(), 1.0) for n in CS_MICS for p in xy]
    write_topaz(tmp_path / "t.txt", rows)
    result = cli("t.txt", "--micrographs", "exposures.cs", "--topaz-scale", 1, "--mic-psize", 0.83, "-o", "out")
    if why is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: --mic-psize 0.83 Å contradicts the micrographs' size (micrograph_blob/shape in ")
    assert why in line


def test_the_micrographs_star_a_relion_job_names_contradicts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job, _ = relion3_job(tmp_path, {"m1": [(100.0, 100.0, 1.0), (110.0, 100.0, 0.5)]})
    result = cli(job, "--mic-psize", 3.54, "-o", "out")
    assert result.exit_code == 1, result.output
    assert "--mic-psize 3.54 Å contradicts rlnMicrographPixelSize 0.885 Å in " in result.output
    assert cli(job, "--mic-psize", 0.885, "-o", "ok").exit_code == 0
