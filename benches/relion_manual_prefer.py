"""Hand picks merged with a picker's: every hand pick kept with ``--prefer`` (issue 39).

Builds a RELION 3.1 project (``--project DIR``, a fresh folder): synthetic micrographs with
dark particles, a LoG AutoPick job run by ``relion_autopick`` (RELION 3.1; without it, the
LoG picks are written as ``relion_autopick`` writes them) and a ManualPick job written as
RELION 3.1's ManualPick writes it (``Movies/<micrograph>_manualpick.star``, FOM, class and
psi ``-999``, and ``coords_suffix_manualpick.star`` naming the micrographs STAR). Hand picks
lie 0-6 Å from LoG picks (a person clicks beside the picker's centre) and elsewhere.
Then runs ``cryodedup particles ManualPick/job004 AutoPick/job010 --prefer ManualPick/job004``
and checks, from the output coordinate files alone, that every hand pick is kept; without
``--prefer`` it counts how many hand picks lose (all that have a LoG neighbour, since -999
is no score). With ``--real DATA``, the same check on a real RELION autopick file of
``../shared/data`` joined with hand picks made beside its picks.

Run: ``python benches/relion_manual_prefer.py --project /tmp/proj [--real ../shared/data]``.
Exits non-zero when a hand pick is lost with ``--prefer``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

PSIZE = 2.0  # Å per micrograph pixel
SIZE = 1024  # micrograph side, pixels
MICROGRAPHS = 3


def write_micrographs(root: Path, rng: np.random.Generator) -> list[str]:
    """Noise with 25 dark Gaussian blobs each (particles in negative contrast), and the micrographs STAR."""
    import mrcfile

    (root / "MotionCorr/job002/Movies").mkdir(parents=True)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    names = []
    for m in range(MICROGRAPHS):
        image = rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32)
        for x, y in rng.uniform(80, SIZE - 80, (25, 2)):
            image -= 3.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 18**2)).astype(np.float32)
        name = f"MotionCorr/job002/Movies/mic_{m:03d}.mrc"
        with mrcfile.new(root / name, overwrite=True) as f:
            f.set_data(image)
            f.voxel_size = PSIZE
        names.append(name)
    optics = "_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n_rlnMicrographPixelSize #3\n_rlnVoltage #4\n"
    optics += (
        "_rlnSphericalAberration #5\n_rlnAmplitudeContrast #6\nopticsGroup1 1 2.000000 300.000000 2.700000 0.100000\n"
    )
    rows = "".join(f"{n} 1\n" for n in names)
    (root / "micrographs.star").write_text(
        f"\n# version 30001\n\ndata_optics\n\nloop_\n{optics}\n\n# version 30001\n\ndata_micrographs\n\n"
        f"loop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n{rows}\n"
    )
    return names


def run_autopick(root: Path, names: list[str], rng: np.random.Generator) -> str:
    """AutoPick/job010 by relion_autopick's LoG picker; without RELION, picks written as it writes them."""
    job = root / "AutoPick/job010"
    job.mkdir(parents=True)
    if shutil.which("relion_autopick"):
        args = ["relion_autopick", "--i", "micrographs.star", "--odir", "AutoPick/job010/", "--pickname", "autopick"]
        args += ["--LoG", "--LoG_diam_min", "60", "--LoG_diam_max", "90", "--shrink", "0", "--lowpass", "20"]
        subprocess.run(args, cwd=root, check=True, capture_output=True)
        how = "relion_autopick --LoG"
    else:
        (job / "Movies").mkdir()
        for name in names:
            rows = "".join(
                f"{x:12.6f} {y:12.6f} {fom:12.6f}            0     0.000000 \n"
                for x, y, fom in zip(*rng.uniform(64, SIZE - 64, (2, 40)), rng.uniform(0.5, 2, 40))
            )
            (job / "Movies" / f"{Path(name).stem}_autopick.star").write_text(_coordinate_file(AUTOPICK_LABELS, rows))
        how = "written as relion_autopick writes them (RELION not installed)"
    (job / "coords_suffix_autopick.star").write_text("micrographs.star\n")  # as RELION 3.1's pipeliner writes it
    return how


AUTOPICK_LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnClassNumber", "rlnAnglePsi"]
#: RELION 3.1 ManualPick's columns: class, psi and figure of merit all -999 for a hand pick.
MANUALPICK_LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAnglePsi", "rlnAutopickFigureOfMerit"]


def _coordinate_file(labels: list[str], rows: str) -> str:
    header = "".join(f"_{label} #{k + 1} \n" for k, label in enumerate(labels))
    return f"\n# version 30001\n\ndata_\n\nloop_ \n{header}{rows} \n"


def read_coordinates(path: Path) -> np.ndarray:
    """The (x, y) rows of a RELION coordinate file, read with numpy (not cryodedup's reader)."""
    rows = [line.split() for line in path.read_text().splitlines()]
    numbers = [r[:2] for r in rows if len(r) >= 2 and not r[0].startswith(("_", "#", "data_", "loop_"))]
    return np.array(numbers, dtype=float).reshape(-1, 2)


def write_manual_picks(folder: Path, autopick: Path, rng: np.random.Generator) -> int:
    """ManualPick/job004 beside each micrograph's picks: every third pick 0-6 Å off, and 5 picks of its own."""
    (folder / "Movies").mkdir(parents=True)
    total = 0
    for picks in sorted((autopick / "Movies").glob("*_autopick.star")):
        xy = read_coordinates(picks)
        near = xy[::3] + rng.uniform(-3, 3, (len(xy[::3]), 2)) / PSIZE
        alone = rng.uniform(64, SIZE - 64, (5, 2))
        hand = np.concatenate([near, alone])
        rows = "".join(f"{x:12.6f} {y:12.6f}   -999  -999.000000  -999.000000 \n" for x, y in hand)
        stem = picks.name.removesuffix("_autopick.star")
        (folder / "Movies" / f"{stem}_manualpick.star").write_text(_coordinate_file(MANUALPICK_LABELS, rows))
        total += len(hand)
    (folder / "coords_suffix_manualpick.star").write_text("micrographs.star\n")
    return total


def hand_picks_kept(manual: Path, kept_folder: Path) -> tuple[int, int]:
    """(hand picks, hand picks found among the kept coordinates): by coordinates, to 1e-3 px."""
    total = found = 0
    for picks in sorted((manual / "Movies").glob("*_manualpick.star")):
        hand = read_coordinates(picks)
        stem = picks.name.removesuffix("_manualpick.star")
        outputs = list((kept_folder / "kept").rglob(f"{stem}_*.star"))  # (the kept coordinate job)
        kept = np.concatenate([read_coordinates(p) for p in outputs]) if outputs else np.zeros((0, 2))
        total += len(hand)
        for x, y in hand:
            found += bool(len(kept) and (np.abs(kept - [x, y]).max(axis=1) < 1e-3).any())
    return total, found


def cryodedup(root: Path, out: str, *extra: str) -> dict:
    args = [sys.executable, "-m", "cryodedup", "particles", "ManualPick/job004", "AutoPick/job010", "--outdir", out]
    args += ["--micrographs", "micrographs.star", "--min-dist", "40", "--json", "--force", *extra]
    done = subprocess.run(args, cwd=root, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def check_project(root: Path, with_prefer: bool) -> tuple[int, int, dict]:
    out = "merged_prefer" if with_prefer else "merged"
    summary = cryodedup(root, out, *(["--prefer", "ManualPick/job004"] if with_prefer else []))
    kept_folder = root / out
    total, found = hand_picks_kept(root / "ManualPick/job004", kept_folder)
    return total, found, summary


def real_data_project(root: Path, data: Path, rng: np.random.Generator) -> None:
    """A project from a real RELION autopick file (one micrograph) and hand picks beside its picks."""
    source = data / "picks/3dem__20170629_00049_frameImage_autopick.star"
    (root / "AutoPick/job010/Movies").mkdir(parents=True)
    shutil.copy(source, root / "AutoPick/job010/Movies/20170629_00049_frameImage_autopick.star")
    (root / "AutoPick/job010/coords_suffix_autopick.star").write_text("micrographs.star\n")
    (root / "micrographs.star").write_text(
        "\n# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n"
        "_rlnMicrographPixelSize #3\nopticsGroup1 1 3.540000\n\n\n# version 30001\n\ndata_micrographs\n\nloop_\n"
        "_rlnMicrographName #1\n_rlnOpticsGroup #2\nMotionCorr/job002/Movies/20170629_00049_frameImage.mrc 1\n"
    )
    write_manual_picks(root / "ManualPick/job004", root / "AutoPick/job010", rng)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a new folder for the RELION project")
    parser.add_argument("--real", type=Path, help="../shared/data: also check a real autopick file")
    args = parser.parse_args()
    rng = np.random.default_rng(39)
    projects = []
    root = args.project / "synthetic"
    root.mkdir(parents=True)
    names = write_micrographs(root, rng)
    how = run_autopick(root, names, rng)
    write_manual_picks(root / "ManualPick/job004", root / "AutoPick/job010", rng)
    projects.append(("synthetic micrographs, LoG " + how, root))
    if args.real is not None:
        real = args.project / "real"
        real.mkdir(parents=True)
        real_data_project(real, args.real, rng)
        projects.append(("real RELION autopick file (3dem) + hand picks", real))
    failed = False
    for what, root in projects:
        total, found, summary = check_project(root, with_prefer=True)
        plain_total, plain_found, plain = check_project(root, with_prefer=False)
        priority = summary["priority"]
        print(
            f"{what}: {summary['particles']} picks; with --prefer {found}/{total} hand picks kept, "
            f"{priority['by_priority']} groups decided by priority, {priority['by_score']} by score; "
            f"without --prefer {plain_found}/{plain_total} kept "
            f"({plain['score'].get('without_score', 0)} picks without a score, ranked last)"
        )
        failed |= found != total
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
