"""topaz tables: centres, score, the scale given or inferred."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.picks import read_picks
from cryodedup.formats.picks.topaz import infer_scale
from helpers import shared_file

# As topaz extract writes it: tab-separated, a header, image_name without extension.
TABLE = "image_name\tx_coord\ty_coord\tscore\nmicA\t100\t200\t1.5\nmicA\t1000\t50\t-0.25\nmicB\t900\t880\t3\n"


def test_table_with_scale_given(tmp_path):
    path = tmp_path / "predicted.txt"
    path.write_text(TABLE)
    picks = read_picks(path, topaz_scale=4)
    assert picks.format == "topaz" and picks.micrographs == ["micA", "micB"]
    np.testing.assert_array_equal(picks.centres, [[400, 800], [4000, 200], [3600, 3520]])
    np.testing.assert_array_equal(picks.score, [1.5, -0.25, 3])
    named = read_picks(
        path, micrographs=["MotionCorr/job002/Movies/micB.mrc", "MotionCorr/job002/Movies/micA.mrc"], topaz_scale=4
    )
    assert named.micrographs == ["MotionCorr/job002/Movies/micA.mrc", "MotionCorr/job002/Movies/micB.mrc"]


def test_scale_inferred_from_micrograph_sizes(tmp_path):
    path = tmp_path / "predicted.txt"
    path.write_text(TABLE)
    # 4096 x 4096 micrographs; micA reaches x 1000: 4096 / 1001 = 4.09, so 4 fits and 5 does not.
    picks = read_picks(path, micrograph_shapes={"Movies/micA.mrc": (4096, 4096), "Movies/micB.mrc": (4096, 4096)})
    assert picks.centres[1].tolist() == [4000, 200]
    assert any("multiplied by 4 (inferred" in n for n in picks.notes)
    unsized = "scale cannot be inferred without the micrographs' sizes.*--topaz-scale"
    with pytest.raises(CryodedupError, match=unsized) as err:
        read_picks(path)
    assert str(err.value).startswith(f"{path}: topaz coordinates:")  # names the table


def test_bad_tables(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("image_name\tx\ty\n")
    with pytest.raises(CryodedupError, match="missing x_coord, y_coord"):
        read_picks(path, topaz_scale=1)
    path.write_text("image_name\tx_coord\ty_coord\nm\t1\n")
    with pytest.raises(CryodedupError, match="line 2: 2 tab-separated fields, expected 3"):
        read_picks(path)


@pytest.mark.real_data
def test_real_topaz_table():
    picks = read_picks(shared_file("picks/topaz__EMPIAR-10025_particles.txt"), topaz_scale=1)
    assert len(picks) == 1500 and len(picks.micrographs) == 30 and picks.score is None
    assert picks.centres[0].tolist() == [6924, 2481]
    # EMPIAR-10025 micrographs are 7676 x 7420 (ny, nx): full-size coordinates, scale 1.
    shapes = dict.fromkeys(picks.micrographs, (7676, 7420))
    assert read_picks(shared_file("picks/topaz__EMPIAR-10025_particles.txt"), micrograph_shapes=shapes).centres[
        0
    ].tolist() == [6924, 2481]


def test_scale_told_only_when_the_picks_reach_the_edges():
    names = ["m"]
    keys = np.zeros(1, dtype=np.int64)

    def infer(x, y, shape):
        return infer_scale(names, keys, np.array([x]), np.array([y]), {"m": shape})

    # -s 16 on 4096 x 4096 (256 px): a pick at 250 reaches 251 / 256 = 98 %, but at -s 15
    # (273 px) 251 / 273 = 92 % >= 90 %: not told.
    with pytest.raises(
        CryodedupError, match=r"cannot be told from 1 micrographs: at -s 16 the picks reach 98% .*, at -s 15 92%"
    ):
        infer(250.0, 10.0, (4096, 4096))
    # Full-size picks in the middle only (2501 / 4096 = 61 %): not told either.
    with pytest.raises(CryodedupError, match="at -s 1 the picks reach 61%"):
        infer(2500.0, 2000.0, (4096, 4096))
    with pytest.raises(CryodedupError, match="outside their micrographs even at full size"):
        infer(4096.0, 10.0, (4096, 4096))
    # 150.5 px fits 602 / 4 = 150.5 but not floor(602 / 4) = 150 pixels: -s 3, which reaches
    # 150.5 / 200.67 = 75 %, not told.
    with pytest.raises(CryodedupError, match="at -s 3 the picks reach 75%"):
        infer(149.5, 0.0, (100, 602))
    assert infer(148.0, 0.0, (100, 602))[0] == 4  # 149 / 150 = 99 %; at -s 3 75 %


def test_a_topaz_table_of_3d_picks_is_refused_and_the_import_list_advised_works(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from cryodedup.cli import main

    monkeypatch.chdir(tmp_path)
    # topaz's tomogram picks (train3d's targets; --dims 3): x, y and z in voxels of 10 Å. The first two
    # share x and y, 40 voxels (400 Å) apart in z; the fourth is the first again, 3 and 1 voxels off.
    voxels = np.array([[100, 150, 20], [100, 150, 60], [300, 150, 60], [103, 150, 21]], dtype=float)
    (tmp_path / "picks3d.txt").write_text(
        "image_name\tx_coord\ty_coord\tz_coord\tscore\n"
        + "".join(f"TS_01\t{x:g}\t{y:g}\t{z:g}\t{1.0 - k / 10}\n" for k, (x, y, z) in enumerate(voxels))
    )
    run = ["--mic-psize", "10", "--topaz-scale", "1", "--min-dist", "60", "--score", "none", "--json", "-q"]
    refused = CliRunner().invoke(main, ["particles", "picks3d.txt", *run, "-o", "A"])
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "picks3d.txt: line 1: a z_coord column" in message and "import list" in message, message
    # The advice as printed: each tomogram's x y z in a text file, named by an import list.
    (tmp_path / "TS_01.txt").write_text("".join(f"{x:g} {y:g} {z:g}\n" for x, y, z in voxels))
    (tmp_path / "list.star").write_text(
        "\ndata_\n\nloop_\n_rlnTomoName #1\n_rlnTomoImportParticleFile #2\nTS_01 TS_01.txt\n"
    )
    result = CliRunner().invoke(main, ["particles", "list.star", *run[:2], *run[4:], "-o", "B"])
    assert result.exit_code == 0, result.stderr
    # Brute force in 3-D, in Å: one pair within 60 Å (the first and fourth), so 3 of 4 kept.
    centres = voxels * 10
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4) if np.linalg.norm(centres[i] - centres[j]) <= 60]
    assert pairs == [(0, 3)] and json.loads(result.stdout)["kept"] == 3
