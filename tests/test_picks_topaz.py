"""topaz tables: centres, score, the scale given or inferred."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.picks import read_picks
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
    named = read_picks(path, micrographs=["MotionCorr/job002/Movies/micB.mrc", "MotionCorr/job002/Movies/micA.mrc"])
    assert named.micrographs == ["MotionCorr/job002/Movies/micA.mrc", "MotionCorr/job002/Movies/micB.mrc"]


def test_scale_inferred_from_micrograph_sizes(tmp_path):
    path = tmp_path / "predicted.txt"
    path.write_text(TABLE)
    # 4096 x 4096 micrographs; micA reaches x 1000: 4096 / 1001 = 4.09, so 4 fits and 5 does not.
    picks = read_picks(path, micrograph_shapes={"Movies/micA.mrc": (4096, 4096), "Movies/micB.mrc": (4096, 4096)})
    assert picks.centres[1].tolist() == [4000, 200]
    assert any("multiplied by 4 (inferred" in n for n in picks.notes)
    plain = read_picks(path)
    assert plain.centres[1].tolist() == [1000, 50] and "scale 1" in plain.notes[0]


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
    picks = read_picks(shared_file("picks/topaz__EMPIAR-10025_particles.txt"))
    assert len(picks) == 1500 and len(picks.micrographs) == 30 and picks.score is None
    assert picks.centres[0].tolist() == [6924, 2481]
    # EMPIAR-10025 micrographs are 7676 x 7420 (ny, nx): full-size coordinates, scale 1.
    shapes = dict.fromkeys(picks.micrographs, (7676, 7420))
    assert read_picks(shared_file("picks/topaz__EMPIAR-10025_particles.txt"), micrograph_shapes=shapes).centres[
        0
    ].tolist() == [6924, 2481]
