"""formats/sniff.py, the one format detector: which picker wrote a file, by its name and first bytes."""

from __future__ import annotations

import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.sniff import is_picker_output, picker_files


def test_the_format_detector_tells_each_pickers_files(tmp_path):
    (tmp_path / "a.cbox").write_text("data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n1 2\n")
    (tmp_path / "b.box").write_text("1\t2\t64\t64\n")
    (tmp_path / "t.txt").write_text("image_name\tx_coord\ty_coord\tscore\nm\t1\t2\t0.5\n")
    (tmp_path / "m_autopick.star").write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n")
    (tmp_path / "p.star").write_text("data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\nm.mrc 1\n")
    assert picker_files(tmp_path / "a.cbox")[1] == "cryolo-cbox"
    assert picker_files(tmp_path / "b.box")[1] == "eman-box"
    assert picker_files(tmp_path / "t.txt")[1] == "topaz"
    assert picker_files(tmp_path / "m_autopick.star")[1] == "relion"
    with pytest.raises(CryodedupError, match="a particle STAR"):
        picker_files(tmp_path / "p.star")


def test_a_copick_config_is_told_by_its_content(tmp_path):
    from cryodedup.formats.sniff import is_copick_config

    config = tmp_path / "copick_config.json"
    config.write_text('{"config_type": "filesystem", "pickable_objects": [], "overlay_root": "local:///x"}')
    info = tmp_path / "mic_info.json"
    info.write_text('{"boxes": [[10, 20, "manual"]]}')
    assert is_copick_config(config) and not is_picker_output(config)
    assert not is_copick_config(info) and is_picker_output(info)
