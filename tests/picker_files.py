"""Picker coordinate files as crYOLO, RELION AutoPick and topaz write them, for the tests of several modules."""

from __future__ import annotations

# As crYOLO writes a CBOX (data_global with the format version, then data_cryolo).
CBOX = """
data_global

_cbox_format_version 1.0

data_cryolo

loop_
_CoordinateX #1
_CoordinateY #2
_CoordinateZ #3
_Width #4
_Height #5
_Depth #6
_EstWidth #7
_EstHeight #8
_Confidence #9
_NumBoxes #10
_Angle #11
{rows}"""


def cbox_text(rows) -> str:
    return CBOX.format(rows="".join(f"{x} {y} <NA> {w} {h} <NA> 230.0 231.0 {c} <NA> <NA>\n" for x, y, w, h, c in rows))


# As RELION 3.1/4 AutoPick writes a micrograph's picks (version line, empty data_, trailing spaces).
AUTOPICK = """
# version 30001

data_

loop_ 
_rlnCoordinateX #1 
_rlnCoordinateY #2 
_rlnAutopickFigureOfMerit #3 
_rlnClassNumber #4 
_rlnAnglePsi #5 
{rows}
"""


def autopick_text(rows) -> str:
    return AUTOPICK.format(
        rows="".join(f"{x:12.6f} {y:12.6f} {s:12.6f}            0     0.000000 \n" for x, y, s in rows)
    )


MICROGRAPHS = """
# version 30001

data_optics

loop_ 
_rlnOpticsGroupName #1 
_rlnOpticsGroup #2 
_rlnMicrographPixelSize #3 
opticsGroup1 1 0.885 
 

# version 30001

data_micrographs

loop_ 
_rlnMicrographName #1 
_rlnOpticsGroup #2 
{rows}
"""


def relion3_job(root, picks_by_mic):
    """A RELION 3.1 project: CtfFind/job003/micrographs_ctf.star and AutoPick/job006 with
    coords_suffix_autopick.star and Movies/*_autopick.star."""
    names = [f"MotionCorr/job002/Movies/{m}.mrc" for m in picks_by_mic]
    (root / "CtfFind/job003").mkdir(parents=True)
    (root / "CtfFind/job003/micrographs_ctf.star").write_text(
        MICROGRAPHS.format(rows="".join(f"{n} 1 \n" for n in names))
    )
    job = root / "AutoPick/job006"
    (job / "Movies").mkdir(parents=True)
    (job / "coords_suffix_autopick.star").write_text("CtfFind/job003/micrographs_ctf.star\n")
    for mic, rows in picks_by_mic.items():
        if rows is not None:
            (job / f"Movies/{mic}_autopick.star").write_text(autopick_text(rows))
    return job, names


def write_topaz(path, rows) -> None:
    """A topaz extract table: image_name, x_coord, y_coord, score (tab-separated)."""
    lines = ["image_name\tx_coord\ty_coord\tscore"] + [f"{m}\t{x!r}\t{y!r}\t{s!r}" for m, x, y, s in rows]
    path.write_text("\n".join(lines) + "\n")
