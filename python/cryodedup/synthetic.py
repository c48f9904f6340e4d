"""Realistic synthetic RELION data: the shipped example, test fixtures and benchmark files.

Particles sit on K3-sized micrographs (5760 x 4092 px) at least a particle diameter apart.
Pickers find most of them with a few pixels of error plus some false picks; 2D
classification then writes the origin that re-centres each pick, following RELION's sign
(centre = coordinate x micrograph pixel size - origin in Å). So two picks of one particle
have different coordinates but the same centre, as in real data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .outputs import StrPath

MIC_SHAPE = (4092, 5760)  # (ny, nx), K3

#: The 20 particle columns of the benchmark file and their print formats.
PARTICLE_COLUMNS = [
    ("rlnCoordinateX", "%.6f"),
    ("rlnCoordinateY", "%.6f"),
    ("rlnAutopickFigureOfMerit", "%.6f"),
    ("rlnClassNumber", "%d"),
    ("rlnAnglePsi", "%.6f"),
    ("rlnImageName", "%s"),
    ("rlnMicrographName", "%s"),
    ("rlnOpticsGroup", "%d"),
    ("rlnCtfMaxResolution", "%.6f"),
    ("rlnCtfFigureOfMerit", "%.6f"),
    ("rlnDefocusU", "%.6f"),
    ("rlnDefocusV", "%.6f"),
    ("rlnDefocusAngle", "%.6f"),
    ("rlnCtfBfactor", "%.6f"),
    ("rlnCtfScalefactor", "%.6f"),
    ("rlnPhaseShift", "%.6f"),
    ("rlnOriginXAngst", "%.6f"),
    ("rlnOriginYAngst", "%.6f"),
    ("rlnMaxValueProbDistribution", "%.6f"),
    ("rlnLogLikeliContribution", "%.6e"),
]


@dataclass
class Optics:
    """One optics group as RELION 3.1 writes it for extracted particles."""

    group: int = 1
    name: str = "opticsGroup1"
    mic_psize: float | None = None  # rlnMicrographPixelSize, absent from extraction output
    original_psize: float = 1.06
    image_psize: float = 2.12  # particles binned 2x at extraction
    image_size: int = 128

    def labels(self) -> list[str]:
        """The labels of the optics loop, ``rlnMicrographPixelSize`` only when it is set."""
        labels = [
            "rlnOpticsGroup",
            "rlnOpticsGroupName",
            "rlnAmplitudeContrast",
            "rlnSphericalAberration",
            "rlnVoltage",
            "rlnImagePixelSize",
            "rlnMicrographOriginalPixelSize",
            "rlnImageSize",
            "rlnImageDimensionality",
        ]
        return labels + (["rlnMicrographPixelSize"] if self.mic_psize is not None else [])

    def row(self) -> str:
        """The group's row of the optics loop, fields in the order of :meth:`labels`."""
        row = (
            f"{self.group:12d} {self.name:>14s} {0.1:12.6f} {2.7:12.6f} {300:12.6f} {self.image_psize:12.6f} "
            f"{self.original_psize:12.6f} {self.image_size:12d} {2:12d}"
        )
        return row + (f" {self.mic_psize:12.6f}" if self.mic_psize is not None else "")


def micrograph_names(start: int, count: int) -> list[str]:
    """EPU-like motion-corrected micrograph names."""
    return [
        f"MotionCorr/job002/Movies/FoilHole_{3000000 + 7 * i}_Data_{20240101 + i % 28}_{(i * 37) % 240000:06d}.mrc"
        for i in range(start, start + count)
    ]


def scatter_particles(rng: np.random.Generator, count: int, spacing_px: float, margin_px: float = 64) -> np.ndarray:
    """Up to ``count`` particle positions (px) on one micrograph, at least ``spacing_px`` apart."""
    ny, nx = MIC_SHAPE
    kept: list[np.ndarray] = []
    for _ in range(count * 4):
        p = rng.uniform([margin_px, margin_px], [nx - margin_px, ny - margin_px])
        if all(np.hypot(*(p - q)) >= spacing_px for q in kept):
            kept.append(p)
            if len(kept) == count:
                break
    return np.array(kept).reshape(-1, 2)


def pick(
    rng: np.random.Generator, truth_px: np.ndarray, found_fraction: float, error_px: float, false_picks: int
) -> tuple[np.ndarray, np.ndarray]:
    """One picker's coordinates and the true centre of each pick.

    Coordinates are in px, integers as RELION writes them; the true centre of a false pick is NaN.
    """
    found = truth_px[rng.random(len(truth_px)) < found_fraction]
    picks = np.round(found + rng.normal(0, error_px, found.shape))
    ny, nx = MIC_SHAPE
    junk = np.round(rng.uniform([0, 0], [nx, ny], (false_picks, 2)))
    return np.vstack([picks, junk]), np.vstack([found, np.full((false_picks, 2), np.nan)])


def particle_columns(rng, coords_px, truth_px, mic_names, psize, first_image=1, fom_scale=1.0):
    """The 20 columns for picks with known true centres (origins re-centre them)."""
    n = len(coords_px)
    residual = rng.normal(0, 0.3, (n, 2))  # alignment error, Å
    centre_px = np.where(np.isnan(truth_px), coords_px + rng.normal(0, 3, (n, 2)), truth_px)
    origin = coords_px * psize - centre_px * psize + residual  # centre = X * psize - origin
    defocus = rng.uniform(8000, 25000, n)
    images = [f"{first_image + i:06d}@Extract/job007/{name[:-4]}.mrcs" for i, name in enumerate(mic_names)]
    return {
        "rlnCoordinateX": coords_px[:, 0],
        "rlnCoordinateY": coords_px[:, 1],
        "rlnAutopickFigureOfMerit": fom_scale * rng.gamma(4, 0.25, n),
        "rlnClassNumber": rng.integers(1, 51, n),
        "rlnAnglePsi": rng.uniform(-180, 180, n),
        "rlnImageName": images,
        "rlnMicrographName": list(mic_names),
        "rlnOpticsGroup": np.ones(n, dtype=int),
        "rlnCtfMaxResolution": rng.uniform(2.8, 6, n),
        "rlnCtfFigureOfMerit": rng.uniform(0.05, 0.3, n),
        "rlnDefocusU": defocus + 150,
        "rlnDefocusV": defocus - 150,
        "rlnDefocusAngle": rng.uniform(-90, 90, n),
        "rlnCtfBfactor": np.zeros(n),
        "rlnCtfScalefactor": np.ones(n),
        "rlnPhaseShift": np.zeros(n),
        "rlnOriginXAngst": origin[:, 0],
        "rlnOriginYAngst": origin[:, 1],
        "rlnMaxValueProbDistribution": rng.beta(2, 5, n),
        "rlnLogLikeliContribution": rng.normal(2.6e5, 3e3, n),
    }


def format_rows(columns: dict[str, ArrayLike], labels_formats: Sequence[tuple[str, str]] = PARTICLE_COLUMNS) -> str:
    """Rows of a loop, one per particle, fields in ``labels_formats`` order."""
    fmt = " ".join(f for _, f in labels_formats) + "\n"
    values = [np.asarray(columns[label]).tolist() for label, _ in labels_formats]
    return "".join(fmt % row for row in zip(*values))


def star_header(optics: list[Optics], labels: list[str]) -> str:
    """The optics block and the particle loop's labels of a RELION 3.1 particle STAR."""
    text = "\n# version 30001\n\ndata_optics\n\nloop_ \n"
    text += "".join(f"_{label} #{i + 1} \n" for i, label in enumerate(optics[0].labels()))
    text += "".join(o.row() + " \n" for o in optics)
    text += "\n\n# version 30001\n\ndata_particles\n\nloop_ \n"
    text += "".join(f"_{label} #{i + 1} \n" for i, label in enumerate(labels))
    return text


def write_example(folder: StrPath) -> list[Path]:
    """The shipped example: 4 micrographs picked by two pickers (LoG and template).

    Both sets are extracted at bin 2 and 2D-classified; a micrographs STAR gives the pixel size.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240101)
    psize, n_mics = 1.06, 4
    names = micrograph_names(0, n_mics)
    pickers = {
        "log": {"found_fraction": 0.85, "error_px": 6, "false_picks": 8, "fom_scale": 0.4},
        "template": {"found_fraction": 0.9, "error_px": 4, "false_picks": 5, "fom_scale": 3.0},
    }
    truth = [scatter_particles(rng, 60, spacing_px=150 / psize) for _ in range(n_mics)]
    written = []
    for picker, p in pickers.items():
        per_mic = [pick(rng, t, p["found_fraction"], p["error_px"], int(p["false_picks"])) for t in truth]
        coords = np.vstack([c for c, _ in per_mic])
        true = np.vstack([t for _, t in per_mic])
        mics = [names[m] for m, (c, _) in enumerate(per_mic) for _ in range(len(c))]
        cols = particle_columns(rng, coords, true, mics, psize, fom_scale=p["fom_scale"])
        path = folder / f"particles_{picker}.star"
        labels = [label for label, _ in PARTICLE_COLUMNS]
        path.write_text(star_header([Optics()], labels) + format_rows(cols) + "\n")
        written.append(path)
    mic_path = folder / "micrographs_ctf.star"
    mic_path.write_text(
        "\n# version 30001\n\ndata_optics\n\nloop_ \n_rlnOpticsGroupName #1 \n_rlnOpticsGroup #2 \n"
        "_rlnMicrographOriginalPixelSize #3 \n_rlnVoltage #4 \n_rlnSphericalAberration #5 \n"
        "_rlnAmplitudeContrast #6 \n_rlnMicrographPixelSize #7 \n"
        f"opticsGroup1            1     {psize:.6f}   300.000000     2.700000     0.100000     {psize:.6f} \n"
        "\n\n# version 30001\n\ndata_micrographs\n\nloop_ \n_rlnMicrographName #1 \n_rlnOpticsGroup #2 \n"
        + "".join(f"{name} 1 \n" for name in names)
        + "\n"
    )
    written.append(mic_path)
    return written


def write_benchmark_file(
    path: StrPath,
    n_particles: int,
    *,
    per_mic: int = 200,
    duplicate_fraction: float = 0.1,
    seed: int = 0,
    chunk: int = 250_000,
) -> None:
    """A RELION 3.1 particle STAR with 20 columns and ``n_particles`` rows, written in chunks.

    A fraction of the rows are second picks of a particle (within a few Å of its centre).
    """
    rng = np.random.default_rng(seed)
    psize = 1.06
    labels = [label for label, _ in PARTICLE_COLUMNS]
    ny, nx = MIC_SHAPE
    with open(path, "w") as out:
        out.write(star_header([Optics(mic_psize=psize)], labels))
        done, mic = 0, 0
        while done < n_particles:
            n = min(chunk, n_particles - done)
            n_mics = max(1, n // per_mic)
            mic_of = np.sort(rng.integers(0, n_mics, n))
            true = rng.uniform([64, 64], [nx - 64, ny - 64], (n, 2))
            # Second picks: more picks of the last first pick before them, a few pixels off.
            dup = rng.random(n) < duplicate_fraction
            dup[0] = False
            source = np.maximum.accumulate(np.where(dup, 0, np.arange(n)))
            copy = dup & (mic_of[source] == mic_of)
            true[copy] = true[source[copy]]
            coords = np.round(true + rng.normal(0, 4, (n, 2)))
            names = micrograph_names(mic, n_mics)
            cols = particle_columns(rng, coords, true, [names[m] for m in mic_of], psize, first_image=done + 1)
            out.write(format_rows(cols))
            done += n
            mic += n_mics
        out.write("\n")


def cs_particles(
    rng: np.random.Generator,
    n: int,
    *,
    per_mic: int = 200,
    duplicate_fraction: float = 0.1,
    psize_mic: float = 0.83,
    psize_align: float = 1.66,
    shape: tuple[int, int] = MIC_SHAPE,
) -> np.ndarray:
    """CryoSPARC particles as a numpy structured array (the classic .cs layout).

    The slots are location, pick_stats, alignments2D and blob. A fraction are second picks of the particle
    before them; 2D alignment wrote the shift that re-centres every pick, following
    CryoSPARC's sign (centre = location - shift).
    """
    ny, nx = shape
    n_mics = max(1, n // per_mic)
    mic = np.sort(rng.integers(0, n_mics, n))
    true = rng.uniform([64, 64], [nx - 64, ny - 64], (n, 2)) * psize_mic  # Å
    dup = rng.random(n) < duplicate_fraction
    dup[0] = False
    source = np.maximum.accumulate(np.where(dup, 0, np.arange(n)))
    copy = dup & (mic[source] == mic)
    true[copy] = true[source[copy]]
    pick_px = np.round(true / psize_mic + rng.normal(0, 5, (n, 2)))  # picks are off-centre
    shift = (pick_px * psize_mic - true) / psize_align + rng.normal(0, 0.05, (n, 2))
    dtype = [
        ("uid", "<u8"),
        ("location/micrograph_uid", "<u8"),
        ("location/exp_group_id", "<u4"),
        ("location/micrograph_path", "S80"),
        ("location/micrograph_shape", "<u4", (2,)),
        ("location/center_x_frac", "<f4"),
        ("location/center_y_frac", "<f4"),
        ("location/min_dist_A", "<f4"),
        ("location/micrograph_psize_A", "<f4"),
        ("pick_stats/ncc_score", "<f4"),
        ("pick_stats/power", "<f4"),
        ("alignments2D/shift", "<f4", (2,)),
        ("alignments2D/psize_A", "<f4"),
        ("alignments2D/error", "<f4"),
        ("alignments2D/class", "<u4"),
        ("blob/path", "S80"),
        ("blob/idx", "<u4"),
        ("blob/psize_A", "<f4"),
    ]
    out = np.zeros(n, dtype=dtype)
    out["uid"] = rng.integers(1, 2**63, n, dtype=np.int64).astype(np.uint64) + np.uint64(2**62)
    mic_uids = rng.integers(1, 2**63, n_mics, dtype=np.int64).astype(np.uint64)
    out["location/micrograph_uid"] = mic_uids[mic]
    names = np.array(
        [
            f"J2/motioncorrected/{m:06d}_FoilHole_{4000000 + m}_Data_patch_aligned_doseweighted.mrc"
            for m in range(n_mics)
        ],
        dtype="S80",
    )
    out["location/micrograph_path"] = names[mic]
    out["location/micrograph_shape"] = (ny, nx)
    out["location/center_x_frac"] = pick_px[:, 0] / nx
    out["location/center_y_frac"] = pick_px[:, 1] / ny
    out["location/min_dist_A"] = 100.0
    out["location/micrograph_psize_A"] = psize_mic
    out["pick_stats/ncc_score"] = rng.uniform(0.1, 0.6, n)
    out["pick_stats/power"] = rng.uniform(50, 500, n)
    out["alignments2D/shift"] = shift
    out["alignments2D/psize_A"] = psize_align
    out["alignments2D/error"] = rng.uniform(9e4, 1e5, n)
    out["alignments2D/class"] = rng.integers(0, 50, n)
    out["blob/path"] = [b"J5/extract/" + p.split(b"/")[-1] + b"s" for p in out["location/micrograph_path"][:1]] * n
    out["blob/idx"] = np.arange(n) % per_mic
    out["blob/psize_A"] = psize_align
    return out


def write_cs(path: StrPath, records: np.ndarray) -> None:
    """A classic .cs file (a .npy file under another name)."""
    with open(path, "wb") as f:
        np.save(f, records, allow_pickle=False)


# --- micrographs -------------------------------------------------------------------------


def specimen_field(
    rng: np.random.Generator, ny: int, nx: int, psize: float, particle_diameter: float = 120.0, density: float = 0.25
) -> np.ndarray:
    """A projected specimen (float32, ny x nx) at ``psize`` Å/px.

    Particles of random strength lie on a slowly varying ice thickness, with a few dark contaminants.
    """
    area = ny * nx * psize**2
    n_particles = int(density * area / (np.pi * (particle_diameter / 2) ** 2))
    impulses = np.zeros((ny, nx), dtype=np.float32)
    ys, xs = rng.integers(0, ny, n_particles), rng.integers(0, nx, n_particles)
    np.add.at(impulses, (ys, xs), rng.uniform(0.5, 1.5, n_particles).astype(np.float32))
    sigma = particle_diameter / 4 / psize
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    blur = np.exp(-2 * (np.pi * sigma) ** 2 * (ky**2 + kx**2))
    field = np.fft.irfft2(np.fft.rfft2(impulses) * blur, s=(ny, nx)).astype(np.float32)
    field /= field.std() + 1e-12
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    field += rng.uniform(0.2, 1.0) * (np.cos(angle) * yy / ny + np.sin(angle) * xx / nx)  # ice gradient
    for _ in range(max(1, ny * nx // 2_000_000)):  # contaminants: dark, soft-edged disks
        cy, cx, r = rng.uniform(0, ny), rng.uniform(0, nx), rng.uniform(150, 400) / psize
        field -= 1.5 * (1 - np.tanh((np.hypot(yy - cy, xx - cx) - r) / 2))
    return field


def exposure(
    rng: np.random.Generator,
    field: np.ndarray,
    y0: int,
    x0: int,
    ny: int,
    nx: int,
    psize: float,
    *,
    defocus: float = 15000.0,
    dose: float = 30.0,
    gain: float = 1.0,
) -> np.ndarray:
    """One micrograph of the window ``field[y0:y0+ny, x0:x0+nx]``.

    Phase contrast at ``defocus`` Å (300 kV), shot noise of ``dose`` electrons per pixel, a detector gain.
    """
    window = field[y0 : y0 + ny, x0 : x0 + nx]
    k2 = (np.fft.fftfreq(ny)[:, None] ** 2 + np.fft.rfftfreq(nx)[None, :] ** 2) / psize**2
    ctf = -np.sin(np.pi * 0.0197 * defocus * k2) - 0.07
    contrast = np.fft.irfft2(np.fft.rfft2(window - window.mean()) * ctf, s=(ny, nx))
    expected = dose * (1 + 0.1 * contrast / (contrast.std() + 1e-12))
    return (gain * rng.poisson(np.clip(expected, 0, None))).astype(np.float32)


def write_mrc(
    path: StrPath, image: np.ndarray, psize: float, dtype: DTypeLike = np.float32, big_endian: bool = False
) -> None:
    """An MRC file of one image, in the mode of ``dtype`` (float32, float16, int16, uint16)."""
    import mrcfile

    data = image.astype(dtype)
    if big_endian:
        data = data.astype(data.dtype.newbyteorder(">"))
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = psize


# --- microscope metadata: multi-hole sessions --------------------------------------------------


@dataclass
class Exposure:
    """One acquisition of a synthetic multi-hole session."""

    name: str  # EPU-style file stem (FoilHole_..._Data_..._YYYYMMDD_HHMMSS)
    square: int
    stage_um: tuple[float, float]
    shift: tuple[float, float]  # beam-shift units
    time: float  # seconds since 1970
    position_um: tuple[float, float]  # where it truly is: stage + calibration x shift
    original: int = -1  # for a re-exposure, the index of the exposure it repeats


def multihole_session(
    rng: np.random.Generator,
    *,
    squares: int = 2,
    stops: tuple[int, int] = (3, 3),
    holes: int = 3,
    per_hole: int = 1,
    pitch: float = 2.5,
    calibration: float = 20.0,
    reexposures: int = 4,
    error_um: tuple[float, float] = (0.05, 0.1),
    start: float = 1_667_560_000.0,
) -> list[Exposure]:
    """A session collected with a ``holes`` x ``holes`` template of beam shifts at each stage stop.

    Holes lie on a square lattice ``pitch`` µm apart (R1.2/1.3: 2.5 µm); stops are one template
    apart, so the templates tile the holes; ``per_hole`` exposures per hole sit ±0.4 µm apart
    along x. ``reexposures`` exposures are taken again later from the same stop, ``error_um`` µm
    from the first (a misfired template). The truth is ``position_um`` and ``original``.
    """
    out: list[Exposure] = []
    offsets_um = [
        ((i - (holes - 1) / 2) * pitch, (j - (holes - 1) / 2) * pitch) for j in range(holes) for i in range(holes)
    ]
    in_hole = [((k - (per_hole - 1) / 2) * 0.8, 0.0) for k in range(per_hole)]
    clock = start
    for square in range(squares):
        corner = (square * 150.0 - 300.0, -200.0 + 40.0 * square)
        for sy in range(stops[1]):
            for sx in range(stops[0]):
                stage = (corner[0] + sx * holes * pitch, corner[1] + sy * holes * pitch)
                stage = (stage[0] + rng.normal(0, 0.005), stage[1] + rng.normal(0, 0.005))  # stage read-out
                for hx, hy in offsets_um:
                    for ex, ey in in_hole:
                        shift = ((hx + ex) / calibration, (hy + ey) / calibration)
                        out.append(_exposure(len(out), square, stage, shift, clock, calibration))
                        clock += 7.0
    for k in rng.choice(len(out), size=min(reexposures, len(out)), replace=False):
        first = out[int(k)]
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(*error_um)
        shift = (
            first.shift[0] + distance * np.cos(angle) / calibration,
            first.shift[1] + distance * np.sin(angle) / calibration,
        )
        clock += 7.0
        again = _exposure(len(out), first.square, first.stage_um, shift, clock, calibration)
        again.original = int(k)
        out.append(again)
    return out


def _exposure(
    index: int, square: int, stage: tuple[float, float], shift: tuple[float, float], clock: float, calibration: float
) -> Exposure:
    stamp = np.datetime64(int(clock), "s").astype(object)
    name = f"FoilHole_{5_000_000 + index}_Data_{6_000_000 + index}_{6_100_000 + index}_{stamp:%Y%m%d_%H%M%S}"
    position = (stage[0] + calibration * shift[0], stage[1] + calibration * shift[1])
    return Exposure(name, square, stage, shift, clock, position)


EPU_XML = (
    '<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects" '
    'xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><name>Empty</name>'
    "<SpatialScale><pixelSize><x><numericValue>{psize_m!r}</numericValue></x>"
    "<y><numericValue>{psize_m!r}</numericValue></y></pixelSize></SpatialScale>"
    "<microscopeData><acquisition><acquisitionDateTime>{when}</acquisitionDateTime>"
    '<camera><ReadoutArea xmlns:a="http://schemas.datacontract.org/2004/07/System.Drawing">'
    "<a:height>{ny}</a:height><a:width>{nx}</a:width><a:x>0</a:x><a:y>0</a:y></ReadoutArea></camera>"
    "</acquisition><optics><BeamDiameter>{beam_m!r}</BeamDiameter>"
    '<BeamShift xmlns:a="http://schemas.datacontract.org/2004/07/Fei.Types"><a:_x>{bx!r}</a:_x><a:_y>{by!r}</a:_y>'
    '</BeamShift><ImageShift xmlns:a="http://schemas.datacontract.org/2004/07/Fei.Types"><a:_x>0</a:_x>'
    "<a:_y>0</a:_y></ImageShift></optics><stage><Holder>Unspecified</Holder><Position><A>0</A><B>0</B>"
    "<X>{x_m!r}</X><Y>{y_m!r}</Y><Z>-2.7E-05</Z></Position></stage></microscopeData></MicroscopeImage>"
)


def write_epu_session(
    folder: StrPath,
    exposures: Sequence[Exposure],
    *,
    psize: float = 0.83,
    beam_diameter: float = 0.65,
    readout: tuple[int, int] = (5760, 4092),
) -> list[Path]:
    """One EPU data XML per exposure, in ``Images-Disc1/GridSquare_N/Data/`` as EPU lays them out."""
    paths = []
    for e in exposures:
        folder_of = Path(folder) / "Images-Disc1" / f"GridSquare_{1000 + e.square}" / "Data"
        folder_of.mkdir(parents=True, exist_ok=True)
        when = np.datetime64(int(e.time), "s").astype(object)
        text = EPU_XML.format(
            psize_m=psize * 1e-10,
            when=f"{when:%Y-%m-%dT%H:%M:%S}.250000+00:00",
            nx=readout[0],
            ny=readout[1],
            beam_m=beam_diameter * 1e-6,
            bx=float(e.shift[0]),
            by=float(e.shift[1]),
            x_m=e.stage_um[0] * 1e-6,
            y_m=e.stage_um[1] * 1e-6,
        )
        path = folder_of / f"{e.name}.xml"
        path.write_text(text)
        paths.append(path)
    return paths


def write_mdoc(path: StrPath, exposure: Exposure, movie: str, psize: float = 0.83) -> None:
    """A SerialEM frame-saving ``.mdoc`` for one movie (CRLF line ends, as SerialEM on Windows writes)."""
    when = np.datetime64(int(exposure.time), "s").astype(object)
    lines = [
        "T = SerialEM: synthetic Krios   GIF-K3",
        "Voltage = 300",
        "",
        "[FrameSet = 0]",
        f"StagePosition = {exposure.stage_um[0]:.4f} {exposure.stage_um[1]:.4f}",
        f"ImageShift = {exposure.shift[0]:.6f} {exposure.shift[1]:.6f}",
        f"PixelSpacing = {psize}",
        f"SubFramePath = X:\\session\\frames\\{movie}",
        f"DateTime = {when:%d-%b-%y  %H:%M:%S}",
        "UncroppedSize = -5760 -4092",
    ]
    Path(path).write_bytes(("\r\n".join(lines) + "\r\n").encode())


def write_session_micrographs(
    folder: StrPath,
    exposures: Sequence[Exposure],
    rng: np.random.Generator,
    *,
    psize: float = 12.0,
    shape: tuple[int, int] = (291, 409),
    suffix: str = "_fractions.mrc",
) -> list[Path]:
    """One micrograph per exposure (named ``NAME + suffix``), cut from a specimen field per area.

    A re-exposure is cut from its original's field, moved by the difference of their true
    positions (x and y of the stage taken as the image's), so it overlaps its original as on
    the microscope; other exposures image independent specimen.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    ny, nx = shape
    margin = 200  # pixels of field around the first exposure: re-exposures up to 2400 Å away at 12 Å
    fields: dict[int, np.ndarray] = {}
    paths = []
    for k, e in enumerate(exposures):
        first = e.original if e.original >= 0 else k
        if first not in fields:
            fields[first] = specimen_field(rng, ny + 2 * margin, nx + 2 * margin, psize)
        dx = round((e.position_um[0] - exposures[first].position_um[0]) * 1e4 / psize)
        dy = round((e.position_um[1] - exposures[first].position_um[1]) * 1e4 / psize)
        image = exposure(rng, fields[first], margin + dy, margin + dx, ny, nx, psize, dose=120)
        path = Path(folder) / f"{e.name}{suffix}"
        write_mrc(path, image, psize)
        paths.append(path)
    return paths


# --- a multi-hole set that looks like the real one: thresholds that hold -----------------------

#: A K3 micrograph binned 8 (ny, nx) and its pixel (Å): the real multi-hole set's images.
K3_BIN8_SHAPE = (511, 720)
K3_BIN8_PSIZE = 10.96


def band_noise(rng: np.random.Generator, ny: int, nx: int, psize: float, finest: float, coarsest: float) -> np.ndarray:
    """Unit-variance noise holding only the details from ``finest`` to ``coarsest`` Å."""
    k = np.hypot(np.fft.fftfreq(ny)[:, None], np.fft.rfftfreq(nx)[None, :]) / psize
    band = (k > 1 / coarsest) & (k < 1 / finest)
    noise = np.fft.irfft2(np.fft.rfft2(rng.normal(size=(ny, nx))) * band, s=(ny, nx))
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def filaments(rng: np.random.Generator, ny: int, nx: int, count: int, width_px: float, angle: float) -> np.ndarray:
    """``count`` straight filaments of Gaussian profile, most lying near ``angle`` (as blotting aligns them)."""
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    out = np.zeros((ny, nx), dtype=np.float32)
    for _ in range(count):
        a = angle + rng.normal(0, 0.25)
        across = (yy - rng.uniform(0, ny)) * np.cos(a) - (xx - rng.uniform(0, nx)) * np.sin(a)
        out += np.exp(-0.5 * (across / width_px) ** 2) * rng.uniform(0.5, 1.5)
    return out


def multihole_scene(rng: np.random.Generator, ny: int, nx: int, psize: float, angle: float) -> np.ndarray:
    """Particles, filaments near ``angle`` and uneven ice (details of 1500-8000 Å) at ``psize``."""
    scene = specimen_field(rng, ny, nx, psize)
    scene += 0.8 * filaments(rng, ny, nx, 25, 13.0 / psize, angle)
    return scene + 1.5 * band_noise(rng, ny, nx, psize, 1500.0, 8000.0)


def write_reexposure_set(
    folder: StrPath,
    rng: np.random.Generator,
    *,
    count: int = 52,
    pairs: int = 4,
    apart: int = 36,
    shape: tuple[int, int] = K3_BIN8_SHAPE,
    psize: float = K3_BIN8_PSIZE,
    fixed_pattern: float = 0.01,
    damage: float = 3.3,
) -> list[tuple[int, int]]:
    """Micrographs ``mic_000.mrc``... like the real bin-8 K3 multi-hole set; returns the true pairs.

    What the real set showed, and what here reproduces it:

    - ``pairs`` re-exposures, each ``apart`` images after its original, shifted by (30, 45)
      pixels (about 65 nm: 89 % overlap);
    - the re-exposure hit pre-irradiated ice: beam damage adds ``damage`` x unit noise holding
      only the details of 200-900 Å (bubbling, ice that moved), so its Pearson coefficient with
      the original falls as the binning coarsens, under 0.3 at 30 Å;
    - every image carries the camera's fixed pattern (a gain-reference residual, fine noise of
      relative strength ``fixed_pattern``), so unrelated images share a peak at zero shift and
      reach z of about 9 at 11 Å with a Pearson coefficient near 0;
    - filaments mostly one way, particles and uneven ice; dose 40 e/Å², defocus 0.8-2.5 µm.
    """
    ny, nx = shape
    margin = 100
    pattern = 1 + fixed_pattern * band_noise(rng, ny, nx, psize, 8 * psize, 200 * psize)
    angle = rng.uniform(0, np.pi)
    originals = sorted(rng.choice(count - apart, size=pairs, replace=False).tolist())
    scenes = {k: multihole_scene(rng, ny + 2 * margin, nx + 2 * margin, psize, angle) for k in range(count)}
    dose = 40.0 * psize**2
    for k in range(count):
        scene, y0, x0 = scenes[k], margin - 15, margin - 22
        if k - apart in originals:
            damaged = band_noise(rng, ny + 2 * margin, nx + 2 * margin, psize, 200.0, 900.0)
            scene, y0, x0 = scenes[k - apart] + damage * damaged, margin + 15, margin + 23
        image = exposure(rng, scene, y0, x0, ny, nx, psize, dose=dose, defocus=rng.uniform(8000, 25000))
        write_mrc(Path(folder) / f"mic_{k:03d}.mrc", image * pattern, psize)
    return [(o, o + apart) for o in originals]
