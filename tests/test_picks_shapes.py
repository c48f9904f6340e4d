"""Micrograph sizes from MRC headers (paths resolved as RELION writes them) and from
CryoSPARC exposures."""

from __future__ import annotations

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.picks.shapes import exposure_shapes, mrc_shapes
from cryodedup.synthetic import write_mrc


def test_mrc_headers_give_ny_nx(tmp_path, monkeypatch):
    (tmp_path / "MotionCorr/job002/Movies").mkdir(parents=True)
    write_mrc(tmp_path / "MotionCorr/job002/Movies/a.mrc", np.zeros((30, 50)), 1.0)  # ny 30, nx 50
    write_mrc(tmp_path / "MotionCorr/job002/Movies/b.mrc", np.zeros((64, 16)), 1.0, dtype=np.int16)
    source = tmp_path / "CtfFind/job003/micrographs_ctf.star"
    source.parent.mkdir(parents=True)
    source.write_text("data_\n")
    monkeypatch.chdir(tmp_path / "CtfFind")  # not the project folder: found from above the source
    names = ["MotionCorr/job002/Movies/a.mrc", "MotionCorr/job002/Movies/b.mrc"]
    assert mrc_shapes(names, source=source) == {names[0]: (30, 50), names[1]: (64, 16)}
    assert mrc_shapes(names, project_dir=tmp_path) == {names[0]: (30, 50), names[1]: (64, 16)}


def test_missing_micrograph_is_named(tmp_path):
    with pytest.raises(CryodedupError, match="micrograph Movies/x.mrc: no file .*its size"):
        mrc_shapes(["Movies/x.mrc"], project_dir=tmp_path)


def test_a_stack_is_refused(tmp_path):
    write_mrc(tmp_path / "s.mrc", np.zeros((3, 8, 8)), 1.0)
    with pytest.raises(CryodedupError, match="s.mrc: expected one 2-D image.*nz=3"):
        mrc_shapes([str(tmp_path / "s.mrc")])


def test_exposures_give_ny_nx(tmp_path):
    from cryosparc.dataset import Dataset

    data = np.zeros(2, dtype=[("uid", "<u8"), ("micrograph_blob/path", "S20"), ("micrograph_blob/shape", "<u4", (2,))])
    data["uid"] = [11, 12]  # every CryoSPARC row has its own uid
    data["micrograph_blob/path"] = [b"J1/imported/a.mrc", b"J1/imported/b.mrc"]
    data["micrograph_blob/shape"] = [[4092, 5760], [100, 200]]
    with open(tmp_path / "exposures.cs", "wb") as f:
        Dataset(data).save(f)
    assert exposure_shapes(tmp_path / "exposures.cs") == {
        "J1/imported/a.mrc": (4092, 5760),
        "J1/imported/b.mrc": (100, 200),
    }


def test_exposures_without_shape_are_refused(tmp_path):
    from cryosparc.dataset import Dataset

    data = np.zeros(1, dtype=[("uid", "<u8"), ("micrograph_blob/path", "S20")])
    with open(tmp_path / "exposures.cs", "wb") as f:
        Dataset(data).save(f)
    with pytest.raises(CryodedupError, match="no micrograph_blob/shape field"):
        exposure_shapes(tmp_path / "exposures.cs")
