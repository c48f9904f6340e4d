"""``--mask``, ``--mask-label`` and ``--edge`` say what they could not check or left no room for (trial of issue 69).

Hand-worked cases: tomograms of known sizes (their MRC headers) and of none, a mask of labels 0 and 1,
an edge wider than half a tomogram's thickness; the words expected are written out in full.
"""

from __future__ import annotations

import json

import mrcfile
import numpy as np
import pytest

from cryodedup.cli import main


def _mrc(path, data, voxel):
    with mrcfile.new(path, data=data, overwrite=True) as mrc:
        mrc.voxel_size = voxel


def _picks(tmp_path, names):
    # Two picks per tomogram, in 1 Å pixels: (50, 50, 20) and (150, 50, 20), well apart.
    lines = "".join(f"{name}.mrc {x} 50 20\n" for name in names for x in (50, 150))
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n" + lines
    )
    return ["particles", str(tmp_path / "p.star"), "-o", str(tmp_path / "out"), "--mic-psize", "1"]


def _run(args, capsys):
    code = main([*args, "--min-dist", "0", "--score", "none", "--json", "-q"], standalone_mode=False)
    assert code in (0, None)
    return json.loads(capsys.readouterr().out)


def _refused(args, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*args, "--min-dist", "0", "--score", "none"], standalone_mode=False)
    said = capsys.readouterr().err.strip()
    assert stop.value.code == 1 and said.startswith("Error:") and "Traceback" not in said
    return " ".join(said.split())


def _half_mask(path):
    # 20 x 10 x 4 voxels of 10 Å (200 x 100 x 40 Å): x < 100 Å inside (1), the rest 0.
    mask = np.zeros((4, 10, 20), np.int8)
    mask[:, :, :10] = 1
    _mrc(path, mask, 10.0)


def test_one_mask_for_tomograms_of_unknown_size_is_said(tmp_path, capsys):
    # Three tomograms, no MRC of any (no size known): one mask for all, its extent unchecked.
    _half_mask(tmp_path / "TS_54_mask.mrc")
    args = [*_picks(tmp_path, ["TS_01", "TS_02", "TS_03", "TS_04"]), "--mask", str(tmp_path / "TS_54_mask.mrc")]
    summary = _run([*args, "--project-dir", str(tmp_path)], capsys)
    mask = tmp_path / "TS_54_mask.mrc"
    assert summary["kept"] == 4  # (x = 50 inside, x = 150 outside, on each tomogram)
    assert summary["warnings"] == [
        f"--mask {mask}: one mask applied to all 4 tomograms alike (TS_01.mrc, TS_02.mrc, TS_03.mrc, ...); "
        "a folder of masks named after them (TS_01_mask.mrc, ...) gives each its own",
        f"--mask {mask}: its extent was not checked against 4 tomograms of unknown size (TS_01.mrc, TS_02.mrc, "
        "TS_03.mrc, ...): give --project-dir where the images are (tomograms: or RELION 5's tomograms.star as "
        "--micrographs)",
    ]


def test_a_mask_per_tomogram_of_known_size_says_nothing(tmp_path, capsys):
    (tmp_path / "masks").mkdir()
    for name in ("TS_01", "TS_02"):
        _mrc(tmp_path / f"{name}.mrc", np.zeros((4, 10, 20), np.float32), 10.0)  # (its size: 200 x 100 x 40 Å)
        _half_mask(tmp_path / "masks" / f"{name}_mask.mrc")
    args = [*_picks(tmp_path, ["TS_01", "TS_02"]), "--mask", str(tmp_path / "masks"), "--project-dir", str(tmp_path)]
    summary = _run(args, capsys)
    assert summary["kept"] == 2 and not summary.get("warnings")


def test_a_label_the_mask_lacks_is_refused_naming_its_labels(tmp_path, capsys):
    _half_mask(tmp_path / "TS_01_mask.mrc")
    args = [*_picks(tmp_path, ["TS_01"]), "--mask", str(tmp_path / "TS_01_mask.mrc"), "--mask-label", "3"]
    said = _refused(args, capsys)
    assert (
        said
        == f"Error: --mask {tmp_path / 'TS_01_mask.mrc'} holds no voxel of label 3 (--mask-label): its labels are 0, 1"
    )
    assert not (tmp_path / "out").exists()


def test_an_edge_that_leaves_no_room_and_rejects_every_pick_is_said(tmp_path, capsys):
    # 200 x 100 x 40 Å; --edge 25: 2 x 25 >= 40 along z, so both picks (z = 20) are at the edge.
    _mrc(tmp_path / "TS_01.mrc", np.zeros((4, 10, 20), np.float32), 10.0)
    args = [*_picks(tmp_path, ["TS_01"]), "--project-dir", str(tmp_path)]
    summary = _run([*args, "--edge", "25"], capsys)
    assert (summary["kept"], summary["mask_and_edge"]["at_edge"]) == (0, 2)
    assert summary["warnings"] == [
        "--edge 25 Å leaves no room in 1 of the 1 tomograms: TS_01.mrc is 40 Å along z, no more than 2 x 25 Å; "
        "every pick on them is at the edge",
        "--mask/--edge rejected every pick (2 at the edge): nothing is kept",
    ]
    summary = _run([*args, "--edge", "19", "--force"], capsys)  # (room: 2 x 19 < 40, both picks 20 Å from z's faces)
    assert summary["kept"] == 2 and not summary.get("warnings")


@pytest.mark.real_data
def test_real_relion4_subtomograms_under_one_mask_are_said(tmp_path, capsys):
    # cryoCAT's RELION 4 table: 1,746 picks on 13 tomograms TS_017..TS_043, no sizes anywhere.
    from helpers import shared_file

    star = shared_file("tomo/cryoCAT__relion_4.0.star")
    _half_mask(tmp_path / "TS_54_mask.mrc")
    args = ["particles", str(star), "-o", str(tmp_path / "out"), "--mask", str(tmp_path / "TS_54_mask.mrc")]
    warnings = _run(args, capsys)["warnings"]
    assert [w for w in warnings if "one mask applied to all 13 tomograms alike (TS_017, TS_018, TS_019, ...)" in w]
    assert [w for w in warnings if "its extent was not checked against 13 tomograms of unknown size" in w]


def test_every_pick_of_half_sets_outside_the_mask_is_said_not_a_traceback(tmp_path, capsys):
    # Half-sets (rlnRandomSubset) and every pick beyond the mask's 200 Å along x: the half-set audit ran on no pairs.
    _half_mask(tmp_path / "mask.mrc")
    (tmp_path / "p.star").write_text(
        "data_particles\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n"
        "_rlnRandomSubset\nTS_01.mrc 300 50 20 1\nTS_01.mrc 400 50 20 2\n"
    )
    args = ["particles", str(tmp_path / "p.star"), "-o", str(tmp_path / "out"), "--mic-psize", "1"]
    summary = _run([*args, "--mask", str(tmp_path / "mask.mrc")], capsys)
    assert (summary["kept"], summary["mask_and_edge"]["outside_mask"]) == (0, 2)
    assert "--mask/--edge rejected every pick (2 outside the mask): nothing is kept" in summary["warnings"]


def test_a_label_some_masks_lack_is_said_naming_them(tmp_path, capsys):
    # TS_01's mask holds labels 0 and 1, TS_02's 0 and 2: --mask-label 1 rejects both of TS_02's picks.
    (tmp_path / "masks").mkdir()
    _half_mask(tmp_path / "masks" / "TS_01_mask.mrc")
    _mrc(tmp_path / "masks" / "TS_02_mask.mrc", np.full((4, 10, 20), 2, np.int8), 10.0)
    args = [*_picks(tmp_path, ["TS_01", "TS_02"]), "--mask", str(tmp_path / "masks"), "--mask-label", "1"]
    summary = _run(args, capsys)
    assert (summary["kept"], summary["mask_and_edge"]["outside_mask"]) == (1, 3)
    assert summary["warnings"][-1] == (
        "--mask-label 1: 1 of the 2 masks hold no voxel of it (TS_02_mask.mrc): every pick on theirs is outside"
    )


def test_a_label_the_mask_holds_where_no_pick_lies_is_no_refusal(tmp_path, capsys):
    # Label 2 in one corner voxel only, the picks on labels 1 and 0: both outside, said, not refused.
    mask = np.zeros((4, 10, 20), np.int8)
    mask[:, :, :10] = 1
    mask[3, 9, 19] = 2
    _mrc(tmp_path / "TS_01_mask.mrc", mask, 10.0)
    args = [*_picks(tmp_path, ["TS_01"]), "--mask", str(tmp_path / "TS_01_mask.mrc"), "--mask-label", "2"]
    summary = _run(args, capsys)
    assert (summary["kept"], summary["mask_and_edge"]["outside_mask"]) == (0, 2)
    assert summary["warnings"][-1] == "--mask/--edge rejected every pick (2 outside the mask): nothing is kept"
