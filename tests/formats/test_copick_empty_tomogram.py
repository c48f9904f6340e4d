"""A copick run whose tomogram's zarr is empty: one line naming the run, no traceback (issue 89 item 4).

copick writes a tomogram's zarr group before its arrays; one written empty (or copied in part) has no
scale "0". On main ``--edge`` and the STAR outputs (copick's centre of the tomogram) ended in
``KeyError: '0'`` and a traceback.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.formats.copick import root_logger_kept

with root_logger_kept():
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject


def project_with_an_empty_tomogram(tmp_path):
    with root_logger_kept():
        config = tmp_path / "copick_config.json"
        objects = [PickableObject(name="apo", is_particle=True, radius=60.0, label=1)]
        root = copick.new_config(str(config), str(tmp_path / "overlay"), pickable_objects=objects)
        run = root.new_run("TS_001")
        run.new_voxel_spacing(10.0).new_tomogram("wbp")  # (its zarr group, no array in it)
        for user, x in (("alice", 100.0), ("bob", 105.0)):
            picks = run.new_picks(object_name="apo", session_id="1", user_id=user)
            picks.points = [CopickPoint(location=CopickLocation(x=x, y=100.0, z=100.0), score=1.0)]
            picks.store()
    return config


@pytest.mark.parametrize(
    "flags, needs",
    [
        (["--edge", "50", "--copick-out-session", "3"], "--edge has no extent to measure from"),
        (["-o", "star_out"], "RELION 5's centred coordinates have no centre"),
    ],
)
def test_an_empty_tomogram_zarr_is_one_line(tmp_path, monkeypatch, flags, needs):
    monkeypatch.chdir(tmp_path)
    config = project_with_an_empty_tomogram(tmp_path)
    result = CliRunner().invoke(main, ["particles", str(config), *flags])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "KeyError" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "run TS_001: its tomogram's zarr holds no array (no scale '0'" in lines[0]
    assert needs in lines[0]
