"""crYOLO .cbox files: corner to centre, <NA>, confidence, filament ids."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.picks import read_picks
from helpers import shared_file
from picker_files import cbox_text


def test_corner_to_centre(tmp_path):
    folder = tmp_path / "CBOX"
    folder.mkdir()
    # Corner (100, 200), box 220 x 180: centre (100 + 110, 200 + 90) = (210, 290).
    (folder / "mic_a.cbox").write_text(cbox_text([(100.0, 200.0, 220.0, 180.0, 0.5), (0.0, 0.0, 64.0, 64.0, "<NA>")]))
    (folder / "mic_b.cbox").write_text(cbox_text([(1000.5, 10.25, 220.0, 220.0, 0.9)]))
    picks = read_picks(tmp_path)  # the crYOLO output folder: CBOX/ is looked into
    assert picks.format == "cryolo-cbox"
    assert picks.micrographs == ["mic_a", "mic_b"]
    np.testing.assert_array_equal(picks.centres, [[210.0, 290.0], [32.0, 32.0], [1110.5, 120.25]])
    np.testing.assert_array_equal(picks.score, [0.5, np.nan, 0.9])
    np.testing.assert_array_equal(picks.box_size, [220.0, 64.0, 220.0])
    named = read_picks(folder / "mic_b.cbox", micrographs=["MotionCorr/job002/Movies/mic_b.mrc"])
    assert named.micrographs == ["MotionCorr/job002/Movies/mic_b.mrc"]


@pytest.mark.real_data
def test_real_cbox():
    picks = read_picks(shared_file("picks/napari-boxmanager__TcdA1-0018_frames_sum.cbox"))
    assert len(picks) == 120
    # First row: X 3700.3671875, Y 3874.455551147461, Width = Height = 220.
    np.testing.assert_allclose(picks.centres[0], [3700.3671875 + 110, 3874.455551147461 + 110], rtol=0, atol=1e-9)
    assert picks.score[0] == pytest.approx(0.6578449010848999)


@pytest.mark.real_data
def test_real_filament_cbox_gives_each_pick_its_filament():
    picks = read_picks(shared_file("picks/napari-boxmanager__ActLifeact_03211.cbox"))
    assert picks.tube is not None and picks.tube.tolist() == [0.0] * 16
    assert picks.centres[0].tolist() == pytest.approx([5.987737909516682 + 50, 861.738627145086 + 50])


def test_3d_cbox_is_refused(tmp_path):
    path = tmp_path / "t.cbox"
    path.write_text(cbox_text([(1, 2, 3, 4, 0.5)]).replace("<NA> 3 4", "12 3 4", 1))
    with pytest.raises(CryodedupError, match="3-D"):
        read_picks(path)


def test_an_empty_cbox_is_a_micrograph_without_picks(tmp_path):
    """crYOLO writes a file for every micrograph it ran on, an empty one before 1.8 where it found nothing."""
    (tmp_path / "a.cbox").write_text("")
    (tmp_path / "b.cbox").write_text(cbox_text([(10, 20, 100, 100, 0.9)]))
    picks = read_picks(str(tmp_path / "*.cbox"))
    assert picks.micrographs == ["a", "b"] and picks.micrograph.tolist() == [1]


def test_a_headerless_cbox_is_refused_with_what_to_give_instead(tmp_path):
    (tmp_path / "a.cbox").write_text("")
    # crYOLO before 1.8: corner, box size, confidence, estimated size; no STAR header.
    (tmp_path / "old.cbox").write_text("10\t20\t100\t100\t0.9\t98\t98\n")
    with pytest.raises(CryodedupError, match=r"old.cbox: a crYOLO .cbox holds a data_cryolo loop \(crYOLO before 1\.8"):
        read_picks(str(tmp_path / "*.cbox"))
