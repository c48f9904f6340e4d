"""EMAN .box (lower-left corner) and EMAN2 _info.json (centres)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.formats.picks import read_picks


def test_box_corner_to_centre(tmp_path):
    # As crYOLO and e2boxer write .box: tab-separated x y w h, the lower-left corner.
    (tmp_path / "mic1.box").write_text("10\t20\t100\t80\n1000.5\t7\t100\t100\n")
    picks = read_picks(tmp_path / "mic1.box")
    assert picks.format == "eman-box" and picks.score is None
    # (10 + 50, 20 + 40) and (1000.5 + 50, 7 + 50).
    np.testing.assert_array_equal(picks.centres, [[60.0, 60.0], [1050.5, 57.0]])
    (tmp_path / "bad.box").write_text("1 2 3\n")
    with pytest.raises(CryodedupError, match="bad.box: line 1: expected x y width height"):
        read_picks(tmp_path / "bad.box")


def test_info_json_centres(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    (info / "mic7_info.json").write_text(json.dumps({"boxes": [[300, 400, "manual"], [12.5, 30, "manual"]], "ctf": []}))
    picks = read_picks(tmp_path)
    assert picks.format == "eman2-json" and picks.micrographs == ["mic7"] and picks.score is None
    np.testing.assert_array_equal(picks.centres, [[300, 400], [12.5, 30]])
    (info / "mic7_info.json").write_text(json.dumps({"boxes": [[1, 2, "auto_local", 0.75]]}))
    assert read_picks(info / "mic7_info.json").score.tolist() == [0.75]


def test_an_info_json_of_tomogram_picks_is_named_not_called_empty(tmp_path):
    from click.testing import CliRunner

    from cryodedup.cli import main

    # e2spt_boxer's picks of a tomogram: "boxes_3d" ([x, y, z, type, score, class]), no "boxes". Two picks.
    (tmp_path / "info").mkdir()
    (tmp_path / "info/TS_01_info.json").write_text(
        '{"boxes_3d": [[100, 150, 20, "manual", 0.0, 0], [100, 150, 60, "manual", 0.0, 0]], '
        '"class_list": {"0": {"boxsize": 32, "name": "ribosome"}}}'
    )
    result = CliRunner().invoke(
        main, ["particles", str(tmp_path / "info"), "--mic-psize", "10", "-o", str(tmp_path / "o")]
    )
    message = " ".join(result.stderr.split())
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "TS_01_info.json" in message and '"boxes_3d"' in message and "no picks" not in message, message
