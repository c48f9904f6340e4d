#!/usr/bin/env python3
"""Digests of every output of cryodedup's jobs on a recorded corpus (a restructure's proof).

    python scripts/output_digests.py --record before.json    # on main, before the change
    python scripts/output_digests.py --check before.json     # after it: exit 1 and a list if anything differs

The corpus: the real files in ../shared/data (runs on absent files are skipped), the shipped
example (``cryodedup demo``), and generated sets (seeded, written by this script alone, never
by the package, so that they are the same before and after any change to it): RELION particle
STAR 3.0, 3.1 and 5 (two pickers, symmetry copies, filaments), CryoSPARC particles (numpy and
CSDAT ``.cs``, a ``.csg`` group, exposures), picker outputs (RELION 3.x ``coords_suffix`` job,
RELION 4 ``autopick.star``, crYOLO ``.cbox``, EMAN ``.box``, topaz), tomography (RELION 4 and
5, Warp) with a Dynamo table, and micrograph MRC sets with planted re-exposures. Each run is a
``cryodedup`` command line; its digests are one SHA-256 per output file (pictures and
report.html aside), one of its ``--json`` summary and its exit status. Paths of the machine
(the corpus folder, ../shared/data) are replaced by placeholders and JSON keys that carry time
or host are dropped before hashing. Runs take a minute or two; ``--only REGEX`` selects runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SKIPPED_SUFFIXES = (".png",)
SKIPPED_NAMES = ("report.html",)
# JSON keys whose values are times, speeds, hosts or process ids: dropped before hashing. A micrograph
# shard.json's ``images`` holds each image's size and modification time (ns): the corpus is written afresh
# by each run of this script, so those times differ between any two runs, the code alike or not.
VOLATILE_KEY = re.compile(r"worker|.*seconds?|.*_per_s|timings?|elapsed|images")


@dataclass
class Run:
    """One command line of the corpus: ``cryodedup ARGS`` in the corpus folder, outputs in ``outdir``."""

    name: str
    args: list[str]
    outdir: str | None  # relative to ``cwd``; None when the run writes no files
    cwd: str = ""  # the folder of the corpus it runs in


# --- writing the corpus ------------------------------------------------------------------


def star_loop(block: str, labels: list[str], rows: list[list], version: str | None = "30001") -> str:
    """One ``data_BLOCK`` loop as RELION writes it (version line, ``#N`` labels)."""
    text = f"\n# version {version}\n" if version else "\n"
    text += f"\ndata_{block}\n\nloop_ \n" + "".join(f"_{lab} #{i + 1} \n" for i, lab in enumerate(labels))
    return text + "".join(" ".join(fmt(v) for v in row) + " \n" for row in rows) + " \n"


def fmt(value) -> str:
    """A STAR field: floats with six decimals, as RELION prints them."""
    if isinstance(value, (float, np.floating)):
        return f"{value:12.6f}"
    return str(value)


def mic_name(k: int, job: str = "job002") -> str:
    """An EPU-like motion-corrected micrograph of a MotionCorr job."""
    return f"MotionCorr/{job}/Movies/FoilHole_{3000 + 7 * k}_Data_{20240101}_{100000 + 37 * k:06d}.mrc"


def clustered_picks(rng: np.random.Generator, n_mics: int, per_mic: int, span: float = 3800.0):
    """Particles on ``n_mics`` micrographs, each picked one to three times within ~6 px.

    Returns the micrograph index, the pick in pixels and the true centre in pixels of every pick.
    """
    mic, picks, true = [], [], []
    for m in range(n_mics):
        centres = rng.uniform(60, span, (per_mic, 2))
        for c in centres:
            for _ in range(int(rng.integers(1, 4))):
                mic.append(m)
                true.append(c)
                picks.append(np.round(c + rng.normal(0, 4, 2)))
    return np.array(mic), np.array(picks), np.array(true)


def relion_particles(rng: np.random.Generator, root: Path) -> None:
    """RELION particle STAR: 3.1 (two pickers, two optics groups), 3.0, 5, symmetry copies, filaments."""
    folder = root / "relion"
    folder.mkdir()
    optics_labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographPixelSize"]
    optics = [[1, "opticsGroup1", 2.12, 1.06], [2, "opticsGroup2", 1.66, 0.83]]
    labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnMicrographName",
        "rlnImageName",
        "rlnOpticsGroup",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
        "rlnAutopickFigureOfMerit",
        "rlnMaxValueProbDistribution",
        "rlnRandomSubset",
        "rlnClassNumber",
    ]
    mic, picks_a, true = clustered_picks(rng, 6, 40)
    picks_b = np.round(true + rng.normal(0, 4, true.shape))  # the second picker finds the same particles
    for picker, job, picks in (("a", "job002", picks_a), ("b", "job099", picks_b)):
        group = 1 + (mic % 2)
        psize = np.where(group == 1, 1.06, 0.83)
        origin = picks * psize[:, None] - true * psize[:, None] + rng.normal(0, 0.3, picks.shape)
        rows = [
            [
                float(picks[i, 0]),
                float(picks[i, 1]),
                mic_name(int(mic[i]), job),
                f"{i + 1:06d}@Extract/job007/Movies/m{mic[i]}.mrcs",
                int(group[i]),
                float(origin[i, 0]),
                float(origin[i, 1]),
                *(float(a) for a in rng.uniform(-180, 180, 3)),
                float(rng.gamma(4, 0.25)),
                float(rng.beta(2, 5)),
                int(1 + i % 2),
                int(rng.integers(1, 20)),
            ]
            for i in range(len(mic))
        ]
        if picker == "b":  # another column order and one column fewer, as a second picker's Select job
            order = [1, 0, *range(2, 10), 11, 10, 12]
            rows = [[row[k] for k in order] for row in rows]
            these = [labels[k] for k in order]
        else:
            these = labels
        text = star_loop("optics", optics_labels, optics) + star_loop("particles", these, rows)
        (folder / f"particles_{picker}.star").write_text(text)
        (folder / f"particles_{picker}_r5.star").write_text(text.replace("version 30001", "version 50001"))
    mic, picks, true = clustered_picks(rng, 3, 30)
    rows = [
        [
            float(picks[i, 0]),
            float(picks[i, 1]),
            mic_name(int(mic[i])),
            float((picks[i, 0] - true[i, 0]) / 2),
            float((picks[i, 1] - true[i, 1]) / 2),
            50000.0,
            14.0,
            float(rng.uniform(0, 1)),
        ]
        for i in range(len(mic))
    ]
    labels30 = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnMicrographName",
        "rlnOriginX",
        "rlnOriginY",
        "rlnMagnification",
        "rlnDetectorPixelSize",
        "rlnMaxValueProbDistribution",
    ]
    (folder / "particles_30.star").write_text(star_loop("", labels30, rows, version=None))
    expanded = []
    for i in range(40):
        x, y = (float(v) for v in rng.uniform(100, 3000, 2))
        for copy in range(4):
            expanded.append([x, y, mic_name(i % 3), f"{i + 1:06d}@Extract/job007/x.mrcs", 1, copy * 90.0, 0.0, 0.0])
    exp_labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnMicrographName",
        "rlnImageName",
        "rlnOpticsGroup",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
    ]
    (folder / "expanded.star").write_text(
        star_loop("optics", optics_labels, optics[:1]) + star_loop("particles", exp_labels, expanded)
    )
    filaments = []
    for m in range(2):
        starts, angles = rng.uniform(500, 3000, (5, 2)), rng.uniform(0, np.pi, 5)
        starts = np.vstack([starts, starts[0] + rng.normal(0, 3, 2)])  # tube 6 traces tube 1 again
        angles = np.append(angles, angles[0])
        for tube in range(1, 7):
            for s in range(12):
                xy = starts[tube - 1] + s * 40 * np.array([np.cos(angles[tube - 1]), np.sin(angles[tube - 1])])
                filaments.append(
                    [float(xy[0]), float(xy[1]), mic_name(m), 1, tube, float(s * 42.4), float(rng.uniform(0, 1))]
                )
    fil_labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnMicrographName",
        "rlnOpticsGroup",
        "rlnHelicalTubeID",
        "rlnHelicalTrackLengthAngst",
        "rlnMaxValueProbDistribution",
    ]
    (folder / "filaments.star").write_text(
        star_loop("optics", optics_labels, optics[:1]) + star_loop("particles", fil_labels, filaments)
    )


CS_FIELDS = [
    ("uid", "<u8"),
    ("location/micrograph_uid", "<u8"),
    ("location/micrograph_path", "S80"),
    ("location/micrograph_shape", "<u4", (2,)),
    ("location/center_x_frac", "<f4"),
    ("location/center_y_frac", "<f4"),
    ("location/micrograph_psize_A", "<f4"),
    ("pick_stats/ncc_score", "<f4"),
    ("alignments2D/shift", "<f4", (2,)),
    ("alignments2D/psize_A", "<f4"),
    ("alignments2D/error", "<f4"),
    ("alignments2D/class", "<u4"),
    ("alignments3D/shift", "<f4", (2,)),
    ("alignments3D/pose", "<f4", (3,)),
    ("alignments3D/psize_A", "<f4"),
    ("alignments3D/split", "<u4"),
    ("blob/path", "S60"),
    ("blob/idx", "<u4"),
]


def cryosparc_particles(rng: np.random.Generator, root: Path) -> None:
    """CryoSPARC particles: numpy and CSDAT .cs, a .csg with a passthrough file, exposures."""
    from cryosparc.dataset import CSDAT_FORMAT, Dataset

    folder = root / "cryosparc"
    folder.mkdir()
    mic, picks, true = clustered_picks(rng, 5, 40)
    n, shape, psize = len(mic), (4092, 5760), 0.83
    r = np.zeros(n, dtype=CS_FIELDS)
    r["uid"] = 10_000_000_000 + np.arange(n, dtype=np.uint64) * 7919
    mic_uids = np.array([9_000_000_000 + 13 * m for m in range(5)], dtype=np.uint64)
    r["location/micrograph_uid"] = mic_uids[mic]
    paths = [f"J2/motioncorrected/{int(u)}_FoilHole_{m}_patch_aligned_doseweighted.mrc" for m, u in enumerate(mic_uids)]
    r["location/micrograph_path"] = [paths[m].encode() for m in mic]
    r["location/micrograph_shape"] = shape
    r["location/center_x_frac"] = picks[:, 0] / shape[1]
    r["location/center_y_frac"] = picks[:, 1] / shape[0]
    r["location/micrograph_psize_A"] = psize
    r["pick_stats/ncc_score"] = rng.uniform(0.1, 0.6, n)
    r["alignments2D/shift"] = (picks - true) * psize / 1.66 + rng.normal(0, 0.05, (n, 2))
    r["alignments2D/psize_A"] = 1.66
    r["alignments2D/error"] = rng.uniform(9e4, 1e5, n)
    r["alignments2D/class"] = rng.integers(0, 20, n)
    r["alignments3D/shift"] = (picks - true) * psize / 1.66 + rng.normal(0, 0.5, (n, 2))
    r["alignments3D/pose"] = rng.uniform(-2, 2, (n, 3))
    r["alignments3D/psize_A"] = 1.66
    r["alignments3D/split"] = np.arange(n) % 2
    r["blob/path"] = [f"J5/extract/{m}_particles.mrcs".encode() for m in mic]
    r["blob/idx"] = np.arange(n)
    save_cs(folder / "J10_particles.cs", r)
    with open(folder / "J11_particles_csdat.cs", "wb") as f:
        Dataset(r).save(f, format=CSDAT_FORMAT)
    main_fields = [f for f in CS_FIELDS if not f[0].startswith("location/")]
    location_fields = [f for f in CS_FIELDS if f[0] == "uid" or f[0].startswith("location/")]
    save_cs(folder / "J12_particles.cs", r[[f[0] for f in main_fields]])
    save_cs(folder / "J12_passthrough_particles.cs", r[[f[0] for f in location_fields]][::-1])
    (folder / "J12_particles_exported.csg").write_text(
        "created: 2024-01-01 00:00:00\ngroup:\n  name: particles\n  type: particle\nresults:\n"
        + "".join(
            f"  {slot}: {{metafile: '>{meta}', num_items: {n}, type: particle.{slot}}}\n"
            for slot, meta in (
                ("blob", "J12_particles.cs"),
                ("alignments2D", "J12_particles.cs"),
                ("alignments3D", "J12_particles.cs"),
                ("pick_stats", "J12_particles.cs"),
                ("location", "J12_passthrough_particles.cs"),
            )
        )
    )
    exposures = np.zeros(
        5,
        dtype=[
            ("uid", "<u8"),
            ("micrograph_blob/path", "S80"),
            ("micrograph_blob/psize_A", "<f4"),
            ("micrograph_blob/shape", "<u4", (2,)),
        ],
    )
    exposures["uid"] = mic_uids
    exposures["micrograph_blob/path"] = [p.encode() for p in paths]
    exposures["micrograph_blob/psize_A"] = 0.85
    exposures["micrograph_blob/shape"] = shape
    save_cs(folder / "J3_exposures.cs", exposures)


def save_cs(path: Path, records: np.ndarray) -> None:
    """A classic .cs: a .npy file under another name, fields copied to a packed array."""
    packed = np.zeros(len(records), dtype=[(name, records.dtype.fields[name][0]) for name in records.dtype.names])
    for name in records.dtype.names:
        packed[name] = records[name]
    with open(path, "wb") as f:
        np.save(f, packed, allow_pickle=False)


PICK_MICS = 4
PICK_SHAPE = (1024, 1024)  # micrograph pixels: the MRC files are written, so kept small


def write_mrc(path: Path, image: np.ndarray, psize: float) -> None:
    """One image as an MRC file (the mode of its dtype)."""
    import mrcfile

    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(image)
        mrc.voxel_size = psize


def pickers(rng: np.random.Generator, root: Path) -> None:
    """A RELION project with picks of five pickers on four micrographs (MRC files of the right shape)."""
    project = root / "picks"
    names = [f"MotionCorr/job002/Movies/mic_{k}.mrc" for k in range(PICK_MICS)]
    (project / "MotionCorr/job002/Movies").mkdir(parents=True)
    for name in names:
        write_mrc(project / name, np.zeros(PICK_SHAPE, dtype=np.int16), 1.06)
    (project / "CtfFind/job003").mkdir(parents=True)
    (project / "CtfFind/job003/micrographs_ctf.star").write_text(
        star_loop(
            "optics", ["rlnOpticsGroupName", "rlnOpticsGroup", "rlnMicrographPixelSize"], [["opticsGroup1", 1, 1.06]]
        )
        + star_loop("micrographs", ["rlnMicrographName", "rlnOpticsGroup"], [[n, 1] for n in names])
    )
    truth = [rng.uniform(60, 960, (25, 2)) for _ in names]

    def found(m: int, error: float) -> np.ndarray:
        keep = truth[m][rng.random(len(truth[m])) < 0.8]
        return np.round(keep + rng.normal(0, error, keep.shape), 2)

    autopick = ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnClassNumber", "rlnAnglePsi"]
    for job, listed in (("AutoPick/job006", False), ("AutoPick/job010", True)):
        (project / job / "Movies").mkdir(parents=True)
        for m in range(PICK_MICS):
            xy = found(m, 3)
            rows = [[float(x), float(y), float(rng.gamma(3, 0.1)), 0, 0.0] for x, y in xy]
            (project / job / f"Movies/mic_{m}_autopick.star").write_text(star_loop("", autopick, rows))
        if listed:
            listing = [[n, f"{job}/Movies/mic_{m}_autopick.star"] for m, n in enumerate(names)]
            (project / job / "autopick.star").write_text(
                star_loop("coordinate_files", ["rlnMicrographName", "rlnMicrographCoordinates"], listing)
            )
        else:
            (project / job / "coords_suffix_autopick.star").write_text("CtfFind/job003/micrographs_ctf.star\n")
    (project / "cryolo/CBOX").mkdir(parents=True)
    head = "\ndata_global\n\n_cbox_format_version 1.0\n\ndata_cryolo\n\nloop_\n"
    cbox_labels = [
        "CoordinateX",
        "CoordinateY",
        "CoordinateZ",
        "Width",
        "Height",
        "Depth",
        "EstWidth",
        "EstHeight",
        "Confidence",
        "NumBoxes",
        "Angle",
    ]
    for m in range(PICK_MICS):
        lines = [
            f"{x - 80:.2f} {y - 80:.2f} <NA> 160.0 160.0 <NA> 150.0 151.0 {rng.uniform(0.3, 1):.4f} <NA> <NA>"
            for x, y in found(m, 4)
        ]
        text = head + "".join(f"_{lab} #{i + 1}\n" for i, lab in enumerate(cbox_labels)) + "\n".join(lines) + "\n"
        (project / f"cryolo/CBOX/mic_{m}.cbox").write_text(text)
    (project / "eman").mkdir()
    for m in range(PICK_MICS):
        (project / f"eman/mic_{m}.box").write_text(
            "".join(f"{x - 64:.0f}\t{y - 64:.0f}\t128\t128\n" for x, y in found(m, 5))
        )
    topaz = ["image_name\tx_coord\ty_coord\tscore"]
    for m in range(PICK_MICS):
        topaz += [f"mic_{m}\t{int(x // 4)}\t{int(y // 4)}\t{rng.normal(0, 2):.4f}" for x, y in found(m, 4)]
    (project / "topaz.txt").write_text("\n".join(topaz) + "\n")


def tomography(rng: np.random.Generator, root: Path) -> None:
    """RELION 4, RELION 5 and Warp subtomograms, and a Dynamo table with its table map."""
    folder = root / "tomo"
    folder.mkdir()
    tomo, picks, true = clustered_picks(rng, 3, 30, span=900)
    n = len(tomo)
    z = 50 + (true[:, 0] * 7 + true[:, 1] * 3) % 250  # one depth per particle
    names = [f"TS_{t + 1:02d}" for t in tomo]
    angles = rng.uniform(-180, 180, (n, 3))
    origin = rng.normal(0, 2, (n, 3))
    common = [
        "rlnTomoName",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnOriginZAngst",
        "rlnTomoSubtomogramRot",
        "rlnTomoSubtomogramTilt",
        "rlnTomoSubtomogramPsi",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
        "rlnRandomSubset",
        "rlnMaxValueProbDistribution",
    ]

    def common_row(i: int) -> list:
        pose = (float(a) for a in rng.uniform(-180, 180, 3))
        return [
            names[i],
            *(float(v) for v in origin[i]),
            *(float(a) for a in angles[i]),
            *pose,
            1 + i % 2,
            float(rng.uniform(0, 1)),
        ]

    r5 = [
        [*(float(v) for v in (picks[i, 0] * 5 - 2000, picks[i, 1] * 5 - 2000, z[i] * 5 - 800)), *common_row(i)]
        for i in range(n)
    ]
    cc = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
    (folder / "relion5.star").write_text(
        star_loop("general", ["rlnTomoSubTomosAre2DStacks"], [[1]], version="50001")
        .replace("loop_ \n", "")
        .replace("_rlnTomoSubTomosAre2DStacks #1 \n1 \n", "_rlnTomoSubTomosAre2DStacks 1\n")
        + star_loop(
            "optics",
            ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"],
            [[1, "optics1", 1.25, 5.0]],
            version="50001",
        )
        + star_loop(
            "particles", [*cc, "rlnOpticsGroup", *common], [[*row[:3], 1, *row[3:]] for row in r5], version="50001"
        )
    )
    xyz = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
    r4 = [[float(picks[i, 0] * 2.5), float(picks[i, 1] * 2.5), float(z[i] * 2.5), 1, *common_row(i)] for i in range(n)]
    (folder / "relion4.star").write_text(
        star_loop(
            "optics",
            ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"],
            [[1, "optics1", 2.0, 4.0]],
        )
        + star_loop("particles", [*xyz, "rlnOpticsGroup", *common], r4)
    )
    warp = [
        [f"{names[i]}.tomostar", float(picks[i, 0]), float(picks[i, 1]), float(z[i]), 0.0, 0.0, 0.0] for i in range(n)
    ]
    (folder / "warp.star").write_text(
        star_loop("particles", ["rlnTomoName", *xyz, "rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"], warp)
    )
    table = np.zeros((n, 35))
    table[:, 0] = np.arange(1, n + 1)
    table[:, 1:3] = 1
    table[:, 3:6] = rng.normal(0, 1.5, (n, 3)).round(4)
    table[:, 6:9] = angles.round(3)
    table[:, 9] = rng.uniform(0, 1, n).round(5)
    table[:, 19] = tomo + 1
    table[:, 21] = 1 + np.arange(n) % 4
    table[:, 23:26] = np.column_stack([picks, z]).round(3)
    (folder / "crop.tbl").write_text("".join(" ".join(f"{v:g}" for v in row) + "\n" for row in table))
    (folder / "indices_column20.doc").write_text("".join(f"{t + 1}\ttomograms/TS_{t + 1:02d}.mrc\n" for t in range(3)))


MRC_COUNT, MRC_SHAPE, MRC_PSIZE = 24, (160, 200), 12.0
# Re-exposure: the micrograph whose area it shows again (numbers from 0).
REEXPOSED = {5: 1, 11: 8, 17: 2, 22: 20}


def micrograph_set(rng: np.random.Generator, root: Path) -> None:
    """MRC micrographs with planted re-exposures, listed in a STAR and as CryoSPARC exposures.

    Particles on them (STAR and .cs) are split by --particles.
    """
    folder = root / "mics"
    (folder / "Movies").mkdir(parents=True)
    ny, nx = MRC_SHAPE
    fields: dict[int, np.ndarray] = {}
    windows: dict[int, tuple[int, int]] = {}
    for k in range(MRC_COUNT):
        if k in REEXPOSED:
            src = REEXPOSED[k]
            fields[k] = fields[src]
            windows[k] = (int(rng.integers(20, 50)), int(rng.integers(20, 60)))
        else:
            noise = rng.normal(0, 1, (ny + 60, nx + 70))
            ky, kx = np.fft.fftfreq(ny + 60)[:, None], np.fft.rfftfreq(nx + 70)[None, :]
            fields[k] = np.fft.irfft2(np.fft.rfft2(noise) * np.exp(-((ky**2 + kx**2) * 30)), s=noise.shape)
            fields[k] /= fields[k].std()
            windows[k] = (0, 0)
        y0, x0 = windows[k]
        image = fields[k][y0 : y0 + ny, x0 : x0 + nx] + rng.normal(0, 0.5, (ny, nx))
        write_mrc(folder / f"Movies/mic_{k:03d}.mrc", image.astype(np.float32), MRC_PSIZE)
    names = [f"Movies/mic_{k:03d}.mrc" for k in range(MRC_COUNT)]
    (folder / "micrographs_ctf.star").write_text(
        star_loop("optics", ["rlnOpticsGroupName", "rlnOpticsGroup", "rlnMicrographPixelSize"], [["og1", 1, MRC_PSIZE]])
        + star_loop(
            "micrographs", ["rlnMicrographName", "rlnOpticsGroup", "rlnCtfMaxResolution"], [[n, 1, 4.5] for n in names]
        )
    )
    particle_rows = [[float(10 * i % 190), float(7 * i % 150), names[i % MRC_COUNT], 1] for i in range(120)]
    (folder / "particles.star").write_text(
        star_loop("optics", ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnMicrographPixelSize"], [[1, "og1", MRC_PSIZE]])
        + star_loop(
            "particles", ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"], particle_rows
        )
    )
    exposures = np.zeros(
        MRC_COUNT,
        dtype=[
            ("uid", "<u8"),
            ("micrograph_blob/path", "S40"),
            ("micrograph_blob/psize_A", "<f4"),
            ("micrograph_blob/shape", "<u4", (2,)),
        ],
    )
    exposures["uid"] = 7_000_000 + np.arange(MRC_COUNT) * 31
    exposures["micrograph_blob/path"] = [n.encode() for n in names]
    exposures["micrograph_blob/psize_A"] = MRC_PSIZE
    exposures["micrograph_blob/shape"] = MRC_SHAPE
    save_cs(folder / "J4_exposures.cs", exposures)
    located = np.zeros(
        120,
        dtype=[
            ("uid", "<u8"),
            ("location/micrograph_uid", "<u8"),
            ("location/micrograph_path", "S40"),
            ("location/micrograph_shape", "<u4", (2,)),
            ("location/center_x_frac", "<f4"),
            ("location/center_y_frac", "<f4"),
        ],
    )
    located["uid"] = 100 + np.arange(120)
    located["location/micrograph_uid"] = exposures["uid"][np.arange(120) % MRC_COUNT]
    located["location/micrograph_path"] = exposures["micrograph_blob/path"][np.arange(120) % MRC_COUNT]
    located["location/micrograph_shape"] = MRC_SHAPE
    located["location/center_x_frac"] = rng.uniform(0, 1, 120)
    located["location/center_y_frac"] = rng.uniform(0, 1, 120)
    save_cs(folder / "J9_particles.cs", located)


# --- the runs ------------------------------------------------------------------------------

RELION_RUNS = """
star31-default          relion/particles_a.star
star31-min0             relion/particles_a.star --min-dist 0
star31-min50-fom        relion/particles_a.star --min-dist 50 --score rlnAutopickFigureOfMerit
star31-score-none-seed  relion/particles_a.star --score none --seed 7
star31-score-min        relion/particles_a.star --score rlnMaxValueProbDistribution --score-order min
star31-remove-entirely  relion/particles_a.star --min-dist 30 --remove-entirely
star31-shift-none       relion/particles_a.star --shift-key none
star31-mic-psize        relion/particles_a.star --mic-psize 1.2 --insist-psize
star31-two-pickers      relion/particles_a.star relion/particles_b.star
star31-two-pickers-path relion/particles_a.star relion/particles_b.star --match-micrographs path
star31-consensus        relion/particles_a.star relion/particles_b.star --min-support 2 --score-normalize rank
star31-halfsets         relion/particles_a.star --halfsets micrograph
star31-pose             relion/particles_a.star --min-dist 40 --max-angle 30 --sym C2
star31-audit            relion/particles_a.star relion/particles_b.star --audit
star5-default           relion/particles_a_r5.star relion/particles_b_r5.star
star30-mic-psize        relion/particles_30.star --mic-psize 1.4
star-expanded           relion/expanded.star --min-dist 0 --shift-key none --score none
star-expanded-pose      relion/expanded.star --min-dist 0 --max-angle 10
star-filament-segment   relion/filaments.star --min-dist 30
star-filament-tube      relion/filaments.star --min-dist 30 --filament-mode tube
"""

CRYOSPARC_RUNS = """
cs-default      cryosparc/J10_particles.cs
cs-alignments2D cryosparc/J10_particles.cs --shift-key alignments2D --min-dist 40
cs-ncc          cryosparc/J10_particles.cs --score pick_stats/ncc_score --shift-key none
cs-error-min    cryosparc/J10_particles.cs --score alignments2D/error --remove-entirely
cs-exposures    cryosparc/J10_particles.cs --micrographs cryosparc/J3_exposures.cs
cs-pose         cryosparc/J10_particles.cs --max-angle 20 --sym D2
cs-halfsets     cryosparc/J10_particles.cs --halfsets micrograph
cs-audit        cryosparc/J10_particles.cs --audit
csdat-default   cryosparc/J11_particles_csdat.cs
csg-default     cryosparc/J12_particles_exported.csg --score none
cs-joined       cryosparc/J12_particles.cs cryosparc/J12_passthrough_particles.cs
"""

# Picker jobs run from the RELION project folder (picks/), as RELION users run them.
PICKER_RUNS = """
picks-relion3      AutoPick/job006 --micrographs CtfFind/job003/micrographs_ctf.star
picks-relion4      AutoPick/job010 --mic-psize 1.06 --min-dist 30
picks-cryolo       cryolo --micrographs CtfFind/job003/micrographs_ctf.star
picks-eman         'eman/*.box' --mic-psize 1.06
picks-topaz        topaz.txt --micrographs CtfFind/job003/micrographs_ctf.star
picks-topaz-scale  topaz.txt --mic-psize 1.06 --topaz-scale 4
picks-merge        AutoPick/job006 cryolo topaz.txt --micrographs CtfFind/job003/micrographs_ctf.star
picks-consensus    AutoPick/job006 cryolo topaz.txt 'eman/*.box' --micrographs CtfFind/job003/micrographs_ctf.star
    --min-support 2 --score-normalize rank
picks-consensus-reject AutoPick/job006 cryolo 'eman/*.box' --micrographs CtfFind/job003/micrographs_ctf.star
    --min-support 3 --coverage all --uncovered reject
picks-input-format AutoPick/job006 AutoPick/job010 --micrographs CtfFind/job003/micrographs_ctf.star
    --output-format input
picks-cryosparc    AutoPick/job010 cryolo --micrographs CtfFind/job003/micrographs_ctf.star --output-format cryosparc
"""

TOMOGRAPHY_RUNS = """
tomo-relion5            tomo/relion5.star --min-dist 40
tomo-relion5-pose       tomo/relion5.star --min-dist 40 --max-angle 25
tomo-relion4            tomo/relion4.star --min-dist 40
tomo-relion4-min-dist-z tomo/relion4.star --min-dist 40 --min-dist-z 80
tomo-relion4-shift-none tomo/relion4.star --min-dist 40 --shift-key none
tomo-warp               tomo/warp.star --min-dist 40 --mic-psize 10
dynamo                  tomo/crop.tbl --mic-psize 5 --min-dist 40
dynamo-doc              tomo/crop.tbl --micrographs tomo/indices_column20.doc --mic-psize 5 --min-dist 40
"""

# Micrograph jobs run from the set's folder (mics/).
MICROGRAPH_RUNS = """
mics-auto           micrographs_ctf.star
mics-window         micrographs_ctf.star --candidates window --window 5
mics-pattern        micrographs_ctf.star --candidates pattern --scan-range 8 --images-per-move 4 --images-per-hole 2
mics-all            'Movies/*.mrc' --psize 12 --candidates all --order natural
mics-bin2           micrographs_ctf.star --bin 2 --min-z 6 --min-pearson 0.2
mics-particles-star micrographs_ctf.star --particles particles.star
mics-cs             J4_exposures.cs --particles J9_particles.cs
"""

# The real files; a run whose files are absent is left out.
SHARED_RUNS = """
real-relion31-exact   $SHARED/star/cryodrgn__relion31.star --min-dist 0 --shift-key none
real-relion31-6groups $SHARED/star/cryodrgn__relion31.6opticsgroups.star --min-dist 100
real-relion5          $SHARED/star/cryodrgn__relion5.star --min-dist 50
real-relion30         $SHARED/star/cryodrgn__FinalRefinement-OriginalParticles-PfCRT.star --mic-psize 1.0 --min-dist 50
real-scipion          $SHARED/star/3dem__particles_1k_scipion.star --mic-psize 1.0 --min-dist 60
real-cs-join          $SHARED/cs/t20s_10_particles_passthrough_location.cs $SHARED/cs/t20s_10_particles_blob_ctf.cs
    --min-dist 200 --score none --mic-psize 0.6575
real-csdat-join       $SHARED/cs/t20s_10_particles_passthrough_location.csdat.cs
    $SHARED/cs/t20s_10_particles_blob_ctf.csdat.cs --min-dist 200 --score none --mic-psize 0.6575
real-autopick         $SHARED/picks/3dem__20170629_00049_frameImage_autopick.star --mic-psize 1.0 --min-dist 40
real-cbox             $SHARED/picks/napari-boxmanager__TcdA1-0018_frames_sum.cbox
    $SHARED/picks/napari-boxmanager__TcdA1-0019_frames_sum.cbox --mic-psize 1.0 --min-dist 100
real-cbox-filament    $SHARED/picks/napari-boxmanager__ActLifeact_03211.cbox --mic-psize 1.0 --min-dist 20
real-topaz            $SHARED/picks/topaz__EMPIAR-10025_particles.txt --mic-psize 1.0 --topaz-scale 1 --min-dist 100
real-helical-segment  $SHARED/helical/mMiRP__example_relion30_helical.star --mic-psize 1.0 --min-dist 50
real-helical-tube     $SHARED/helical/mMiRP__example_relion30_helical.star --mic-psize 1.0 --min-dist 50
    --filament-mode tube
real-tomo-relion5     $SHARED/tomo/cets-relion__Select_job077_particles_removed.star --min-dist 60
real-tomo-picks       $SHARED/tomo/cets-relion__Picks_job019_particles.star --min-dist 60
real-tomo-relion4     $SHARED/tomo/cryoCAT__relion_4.0.star --min-dist 60 --audit
real-tomo-warp        $SHARED/tomo/tomodrgn__warptools_test_4-tomos_10-ptcls_box-32_angpix-12.star --mic-psize 12
    --min-dist 60
real-dynamo           $SHARED/tomo/dynamotable__t_double.tbl --mic-psize 2.7 --min-dist 20
real-dynamo-complex   $SHARED/tomo/dynamotable__t_complex.tbl --micrographs $SHARED/tomo/dynamotable__tmap_complex.doc
    --mic-psize 2.7 --min-dist 20
"""


def table(text: str, command: str, cwd: str = "", shared: str = "") -> list[Run]:
    """Runs written one per line as ``NAME ARGS...`` (an indented line continues the one above).

    Each writes into ``out/NAME`` under ``cwd``, except ``--audit`` runs, which write no files.
    """
    runs = []
    for line in re.sub(r"\n +", " ", text.strip()).splitlines():
        name, *args = shlex.split(line.replace("$SHARED", shared))
        outdir = None if "--audit" in args else f"out/{name}"
        runs.append(Run(name, [command, *args, *(["-o", outdir] if outdir else [])], outdir, cwd))
    return runs


def relion_runs() -> list[Run]:
    """Particle STAR: scores, distances, shifts, two pickers, consensus, half-sets, poses, filaments."""
    return table(RELION_RUNS, "particles")


def cryosparc_runs() -> list[Run]:
    """CryoSPARC particles: shift slots, scores, exposures, poses, half-sets; CSDAT, .csg, a joined pair."""
    return table(CRYOSPARC_RUNS, "particles")


def picker_runs() -> list[Run]:
    """Each picker alone, merged, in consensus, and each output format."""
    return table(PICKER_RUNS, "particles", cwd="picks")


def tomography_runs() -> list[Run]:
    """RELION 4 and 5 subtomograms (with poses), Warp, Dynamo with and without its table map."""
    return table(TOMOGRAPHY_RUNS, "particles")


def micrograph_runs() -> list[Run]:
    """Each --candidates mode, --particles splits (STAR and .cs), and three shards with their merge."""
    shard = ["micrographs", "micrographs_ctf.star", "--candidates", "window", "--window", "6", "-o", "out/shards"]
    shards = [
        Run(f"mics-shard-{k}", [*shard, "--shard", f"{k}/3"], f"out/shards/shard-{k}-of-3", "mics") for k in (1, 2, 3)
    ]
    merge = ["micrographs-merge", "out/shards", "--particles", "particles.star", "-o", "out/mics-merge"]
    return [
        *table(MICROGRAPH_RUNS, "micrographs", cwd="mics"),
        *shards,
        Run("mics-merge", merge, "out/mics-merge", "mics"),
    ]


def shared_runs(shared: Path) -> list[Run]:
    """Runs on the real files in ``shared``; those whose files are absent are left out."""
    runs = table(SHARED_RUNS, "particles", shared=str(shared))
    return [r for r in runs if all(Path(a).exists() for a in r.args if a.startswith(str(shared)))]


def demo_runs() -> list[Run]:
    """The shipped example: its inputs and its outputs are both written by the package."""
    return [Run("demo", ["demo", "out/demo"], "out/demo")]


GENERATORS: list[tuple[Callable, Callable[[], list[Run]]]] = [
    (relion_particles, relion_runs),
    (cryosparc_particles, cryosparc_runs),
    (pickers, picker_runs),
    (tomography, tomography_runs),
    (micrograph_set, micrograph_runs),
]


def build_corpus(root: Path, selected: re.Pattern, shared: Path) -> list[Run]:
    """Writes the generated sets (each seeded on its own) and returns the runs ``selected`` names."""
    runs: list[Run] = [r for r in demo_runs() if selected.search(r.name)]
    for seed, (write, listed) in enumerate(GENERATORS):
        chosen = [r for r in listed() if selected.search(r.name)]
        if chosen:
            write(np.random.default_rng(1000 + seed), root)
            runs += chosen
    if shared.is_dir():
        runs += [r for r in shared_runs(shared) if selected.search(r.name)]
    return runs


# --- running and hashing ------------------------------------------------------------------


def cryodedup_command() -> list[str]:
    """The CLI of the cryodedup this Python imports (its console entry point)."""
    return [sys.executable, "-c", "import sys; from cryodedup.cli import main; sys.exit(main())"]


def execute(run: Run, root: Path, replacements: dict[str, str]) -> dict[str, str]:
    """Runs one command line and returns its digests, keyed ``RUN/FILE`` (``RUN/:json``, ``RUN/:exit``)."""
    cwd = root / run.cwd
    done = subprocess.run(
        [*cryodedup_command(), *run.args, "--json", "-q"], cwd=cwd, capture_output=True, timeout=600, check=False
    )
    digests = {f"{run.name}/:exit": str(done.returncode)}
    if done.returncode != 0:
        digests[f"{run.name}/:stderr"] = digest(normalised(done.stderr, replacements))
        print(f"{run.name}: exit {done.returncode}: {done.stderr.decode(errors='replace').strip()}", file=sys.stderr)
    if done.stdout.strip():
        digests[f"{run.name}/:json"] = digest(normalised_json(done.stdout, replacements))
    outdir = cwd / run.outdir if run.outdir else None
    if outdir and outdir.is_dir():
        for path in sorted(outdir.rglob("*")):
            if path.is_file() and path.suffix not in SKIPPED_SUFFIXES and path.name not in SKIPPED_NAMES:
                data = path.read_bytes()
                data = normalised_json(data, replacements) if path.suffix == ".json" else normalised(data, replacements)
                digests[f"{run.name}/{path.relative_to(outdir)}"] = digest(data)
    return digests


def normalised(data: bytes, replacements: dict[str, str]) -> bytes:
    """``data`` with the machine's paths replaced by placeholders (longest first)."""
    for path, placeholder in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        data = data.replace(path.encode(), placeholder.encode())
    return data


def normalised_json(data: bytes, replacements: dict[str, str]) -> bytes:
    """A JSON document without the keys that carry time or host, paths replaced, keys in file order."""
    try:
        value = json.loads(normalised(data, replacements))
    except ValueError:
        return normalised(data, replacements)
    return json.dumps(without_volatile(value)).encode()


def without_volatile(value):
    """``value`` (parsed JSON) without the keys :data:`VOLATILE_KEY` matches, at any depth."""
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if not VOLATILE_KEY.fullmatch(k)}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def take_digests(selected: re.Pattern, shared: Path, workdir: Path | None = None, keep: bool = False) -> dict[str, str]:
    """Builds the corpus in a fresh folder, runs it, and returns every digest (``keep``: leaves the folder)."""
    root = Path(tempfile.mkdtemp(prefix="cryodedup-digests-", dir=workdir)).resolve()
    try:
        runs = build_corpus(root, selected, shared)
        replacements = {str(root): "<CORPUS>", str(shared): "<SHARED>", str(shared.resolve()): "<SHARED>"}
        digests: dict[str, str] = {}
        for run in runs:
            digests.update(execute(run, root, replacements))
        return digests
    finally:
        if keep:
            print(f"corpus and outputs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def differences(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """One line per output that is missing, new or different."""
    lines = [f"missing: {key}" for key in recorded if key not in current]
    lines += [f"new: {key}" for key in current if key not in recorded]
    lines += [f"differs: {key}" for key in recorded if key in current and recorded[key] != current[key]]
    return lines


def main(argv: list[str] | None = None) -> int:
    """``--record FILE`` or ``--check FILE``; returns the exit status (1: outputs differ)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, metavar="FILE.json", help="write the digests to FILE.json")
    mode.add_argument("--check", type=Path, metavar="FILE.json", help="compare with the digests in FILE.json")
    parser.add_argument("--only", default="", metavar="REGEX", help="only the runs whose name matches")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the real files (default: ../shared/data)")
    parser.add_argument("--workdir", type=Path, help="where to build the corpus (default: the temporary folder)")
    parser.add_argument(
        "--keep", action="store_true", help="leave the corpus and its outputs in place (to look at them)"
    )
    options = parser.parse_args(argv)
    selected = re.compile(options.only)
    if not options.shared.is_dir():
        print(f"{options.shared} is absent: the runs on real files are left out", file=sys.stderr)
    current = take_digests(selected, options.shared, options.workdir, options.keep)
    runs = len({key.split("/", 1)[0] for key in current})
    if options.record:
        options.record.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"{len(current)} digests of {runs} runs written to {options.record}", file=sys.stderr)
        return 0
    recorded = json.loads(options.check.read_text())
    recorded = {k: v for k, v in recorded.items() if selected.search(k.split("/", 1)[0])}
    if not options.shared.is_dir():
        recorded = {k: v for k, v in recorded.items() if not k.startswith("real-")}
    lines = differences(recorded, current)
    for line in lines:
        print(line)
    print(f"{len(current)} digests of {runs} runs: {len(lines)} differences", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
