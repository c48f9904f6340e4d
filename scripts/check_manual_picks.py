"""Whether cryodedup's External job keeps every hand pick of a RELION 3.1 project with ``prefer`` (issue 39).

A RELION 3.1 project with ManualPick and AutoPick jobs, merged by the External job with and
without ``prefer``.

Made by RELION 3.1's own programs (``relion_pipeliner``, ``relion_autopick``): Import/job001
imports generated micrographs (dark blobs of 16 px in noise, 2 Å pixels), ManualPick/job002
is added as RELION adds it and its coordinate files are written as RELION 3.1's picking
window writes them (src/displayer.cpp: rlnCoordinateX/Y rounded to whole pixels,
rlnClassNumber 2, rlnAnglePsi -999, rlnAutopickFigureOfMerit -999, in MetaDataTable's
layout; the window itself needs a display), AutoPick/job003 runs RELION's LoG picker on the
micrographs. Then two External jobs run ``cryodedup-relion`` on the two coordinate sets
(``in_coords`` ManualPick, parameter ``in_coords2`` AutoPick, ``min_dist`` 40 Å): one without
``prefer`` and one with ``prefer 1``. The check reads the kept coordinate files back and
compares them with the hand picks written: every hand pick must be kept with ``prefer``.

Usage: python scripts/check_manual_picks.py WORKDIR   (RELION 3.1 on PATH; exits 1 if a hand pick is lost)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np

PIPELINE = "\n# version 30001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter                       1\n\n"
MICROGRAPHS, BLOBS, SIZE = 4, 12, 512


def pipeliner(root: Path, *args: str) -> None:
    """RELION's relion_pipeliner with ``args``, in the project ``root``; its output if it fails."""
    done = subprocess.run(["relion_pipeliner", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"relion_pipeliner {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def write_micrographs(root: Path) -> dict[str, list[tuple[float, float]]]:
    """Micrographs with dark blobs at random places (60 px apart at least); the blobs' centres by name."""
    rng = np.random.default_rng(1)
    (root / "Micrographs").mkdir()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    blobs = {}
    for m in range(MICROGRAPHS):
        image = rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32)
        centres: list[tuple[float, float]] = []
        while len(centres) < BLOBS:
            x, y = rng.uniform(40, SIZE - 40, 2)
            if all((x - a) ** 2 + (y - b) ** 2 > 60**2 for a, b in centres):
                centres.append((x, y))
        for x, y in centres:
            image -= 4 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 8**2))
        with mrcfile.new(root / "Micrographs" / f"mic_{m:02d}.mrc") as f:
            f.set_data(image)
            f.voxel_size = 2.0
        blobs[f"mic_{m:02d}"] = centres
    return blobs


def write_manual_picks(job: Path, blobs: dict[str, list[tuple[float, float]]]) -> dict[str, list[tuple[float, float]]]:
    """ManualPick's files, as RELION 3.1.3's picking window saves them: a click on each blob, whole pixels."""
    (job / "Micrographs").mkdir(parents=True, exist_ok=True)
    picks = {}
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAnglePsi", "rlnAutopickFigureOfMerit"]
    header = "\n# version 30001\n\ndata_\n\nloop_ \n" + "".join(
        f"_{label} #{k + 1} \n" for k, label in enumerate(labels)
    )
    for name, centres in blobs.items():
        picks[name] = [(float(round(x)), float(round(y))) for x, y in centres]
        rows = "".join(f"{x:12.6f} {y:12.6f} {2:12d} {-999:12.6f} {-999:12.6f} \n" for x, y in picks[name])
        (job / "Micrographs" / f"{name}_manualpick.star").write_text(header + rows + " \n")
    (job / "coords_suffix_manualpick.star").write_text("Import/job001/micrographs.star\n")
    return picks


def kept_picks(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """The coordinates of each micrograph's file in ``folder``/Micrographs (RELION 3.1's coordinate job layout)."""
    found: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(folder.glob("Micrographs/*.star")):
        name = path.name.rsplit("_", 1)[0]
        rows = [line.split() for line in path.read_text().splitlines()]
        found.setdefault(name, []).extend((float(r[0]), float(r[1])) for r in rows if len(r) >= 5 and _number(r[0]))
    return found


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_external(root: Path, number: int, prefer: bool) -> Path:
    """External/job``number``: cryodedup-relion on the two coordinate jobs (``prefer 1``: the hand picks)."""
    options = (
        "fn_exe == cryodedup-relion;in_mic == Import/job001/micrographs.star;"
        "in_coords == ManualPick/job002/coords_suffix_manualpick.star;"
        "param1_label == in_coords2;param1_value == AutoPick/job003/coords_suffix_autopick.star;"
        "param2_label == min_dist;param2_value == 40;param3_label == plot;param3_value == no;"
    )
    if prefer:
        options += "param4_label == prefer;param4_value == 1;"
    pipeliner(root, "--addJob", "External", "--addJobOptions", options)
    name = f"External/job{number:03d}/"
    pipeliner(root, "--RunJobs", name, "--sec_wait_after", "1")
    if not (root / name / "RELION_JOB_EXIT_SUCCESS").exists():
        raise SystemExit(f"{name} failed:\n{(root / name / 'run.err').read_text()}")
    return root / name


def lost(manual: dict[str, list[tuple[float, float]]], kept: dict[str, list[tuple[float, float]]]) -> list[str]:
    """The hand picks not among the kept coordinates (to 0.01 px), by micrograph."""
    missing = []
    for name, picks in manual.items():
        here = np.array(kept.get(name, []), dtype=float).reshape(-1, 2)
        for x, y in picks:
            if not (np.abs(here - (x, y)).max(axis=1) < 0.01).any():
                missing.append(f"{name} ({x:g}, {y:g})")
    return missing


def main() -> int:
    """Makes the project in ``sys.argv[1]``, runs the two External jobs, checks: 0 if every hand pick is kept."""
    root = Path(sys.argv[1]).resolve()
    root.mkdir(parents=True)
    (root / "default_pipeline.star").write_text(PIPELINE)
    blobs = write_micrographs(root)
    pipeliner(
        root, "--addJob", "Import", "--addJobOptions", "fn_in_raw == Micrographs/*.mrc;is_multiframe == No;angpix == 2;"
    )
    pipeliner(root, "--RunJobs", "Import/job001/", "--sec_wait_after", "1")
    pipeliner(
        root, "--addJob", "ManualPick", "--addJobOptions", "fn_in == Import/job001/micrographs.star;diameter == 40;"
    )
    manual = write_manual_picks(root / "ManualPick/job002", blobs)
    log = "fn_input_autopick == Import/job001/micrographs.star;do_log == Yes;log_diam_min == 25;log_diam_max == 45;"
    pipeliner(root, "--addJob", "AutoPick", "--addJobOptions", log + "log_adjust_thr == 0;")
    pipeliner(root, "--RunJobs", "AutoPick/job003/", "--sec_wait_after", "1")
    n_auto = sum(len(v) for v in kept_picks(root / "AutoPick/job003").values())
    n_manual = sum(len(v) for v in manual.values())
    print(f"{n_manual} hand picks (ManualPick/job002), {n_auto} LoG picks (AutoPick/job003)")
    status = 0
    for number, prefer in ((4, False), (5, True)):
        job = run_external(root, number, prefer)
        kept = kept_picks(job / "kept")
        missing = lost(manual, kept)
        print(
            f"{job.relative_to(root)} ({'prefer 1' if prefer else 'no prefer'}): {sum(map(len, kept.values()))} kept, "
            f"{n_manual - len(missing)} of {n_manual} hand picks kept"
            + (f"; lost: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else "")
        )
        status |= int(prefer and bool(missing))
    print("every hand pick kept with prefer" if status == 0 else "FAILED: a hand pick was lost with prefer")
    return status


if __name__ == "__main__":
    sys.exit(main())
