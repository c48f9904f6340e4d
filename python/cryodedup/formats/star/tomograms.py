"""RELION 5's tomograms STAR (``Tomograms/job006/tomograms.star``): the frames of tomogram coordinates.

Its ``data_global`` table names each tomogram (``rlnTomoName``) with its size in tilt-series
pixels (``rlnTomoSizeX/Y/Z``), the tilt series' pixel size (``rlnTomoTiltSeriesPixelSize``)
and the binning of the reconstructed tomogram (``rlnTomoTomogramBinning``). With it, particles
in RELION 5's centred Å (``rlnCenteredCoordinate*Angst``, from the tomogram's centre) and in
pixels from the tomogram's corner (a Picks job's annotation files, RELION 4's tilt-series
pixels) are put in one frame (docs/design.md section 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import FramesError, InputFileError
from ...particle_set import (
    ExportedPixel,
    ReconstructedPixels,
    TiltSeriesPixel,
    TomogramPixelStatement,
    TypedTomogramPixelSize,
    UnstatedPixel,
)
from ..micrograph_lists import listed_names_by_file_name
from .file import StarFile, is_number
from .particle_table import ParticleTable
from .tomography import TILT_SERIES_PSIZE, warp_tomograms

__all__ = [
    "CENTRED",
    "CORNER",
    "Tomograms",
    "coordinate_frame",
    "corner_inputs",
    "exported_pixel_hint",
    "layout",
    "star_layout",
    "tomograms_star",
    "typed_tomogram_psize",
]

#: The columns that make a STAR file a tomograms table.
TOMOGRAM_COLUMNS = ("rlnTomoName", TILT_SERIES_PSIZE)
SIZES = ("rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ")
BINNING = "rlnTomoTomogramBinning"
RECONSTRUCTED = "rlnTomoReconstructedTomogram"
#: How the summary names the pixel size of a reconstructed tomogram.
TOMOGRAM_PSIZE = f"{TILT_SERIES_PSIZE} x {BINNING}"


class TomogramPixelSizes(dict):
    """Tomogram name -> pixel size of the reconstructed tomogram (Å), as a micrographs list gives them."""

    #: The summary's source of these pixel sizes.
    field = TOMOGRAM_PSIZE


@dataclass
class Tomograms:
    """The tomograms of a tomograms STAR: pixel sizes and sizes, by name."""

    path: Path
    tilt_series_psize: dict[str, float]
    #: The reconstructed tomograms' pixel size; empty without rlnTomoTomogramBinning (WarpTools).
    tomogram_psize: TomogramPixelSizes
    #: Size in tilt-series pixels (x, y, z); empty without rlnTomoSizeX/Y/Z.
    sizes: dict[str, tuple[float, float, float]]
    #: The reconstructed tomogram's MRC as written (RELION 5's rlnTomoReconstructedTomogram); empty without it.
    reconstructed: dict[str, str] = field(default_factory=dict)

    def centre_offsets(
        self, names: list[str], where: str, *, picks_job: bool = True, by_file_name: bool = False
    ) -> np.ndarray:
        """Per tomogram of ``names``: where its centre lies from its corner, in Å, (len(names), 3).

        RELION 5's Picks job (Python) writes ``centred = corner - (size / 2 - 1) * tilt-series pixel``
        (measured on its particles.star and annotation files of one job: every one of 1,418
        picks within 3e-4 Å). Its C++ programs, which read what the Import job imports, centre
        on ``size / 2`` (``TomogramSet::loadTomogram``: ``centre = w0 / 2.0``; ``ParticleSet::
        getParticleCoordDecenteredPixel``): ``picks_job=False``. A tomogram absent from the file
        is refused, named. ``by_file_name``: a name the file does not list is looked up by its file name
        (``TS_01.mrc`` for ``TS_01``), as its pixel size was (``--match-micrographs`` auto or name).
        """
        listed = listed_names_by_file_name(names, list(self.sizes)) if by_file_name else {}
        names = [listed.get(n, n) for n in names]
        missing = [n for n in names if n not in self.sizes]
        if missing:
            raise InputFileError(
                f"{where}: tomogram {missing[0]!r} is not in {self.path} ({len(missing)} such), whose "
                f"rlnTomoSizeX/Y/Z place its centre; tomograms listed: {', '.join(list(self.sizes)[:5])}"
            )
        less = 1.0 if picks_job else 0.0
        return np.array(
            [[(size / 2 - less) * self.tilt_series_psize[n] for size in self.sizes[n]] for n in names], dtype=np.float64
        ).reshape(-1, 3)


def tomograms_star(path: Path) -> Tomograms | None:
    """The tomograms of ``path`` if it is a tomograms STAR (rlnTomoName and the tilt-series pixel), else None."""
    star = StarFile(path)
    block = next((b for b in star.blocks if b.labels and set(TOMOGRAM_COLUMNS) <= set(b.labels)), None)
    if block is None or "rlnMicrographName" in (block.labels or ()):
        return None
    table = star.table(block)
    names = table.column("rlnTomoName")
    try:
        ts = dict(zip(names, map(float, table.column(TILT_SERIES_PSIZE))))
        binned = TomogramPixelSizes()
        if BINNING in table.labels:
            binned.update((n, ts[n] * float(b)) for n, b in zip(names, table.column(BINNING)))
        sizes: dict[str, tuple[float, float, float]] = {}
        if set(SIZES) <= set(table.labels):
            columns = [list(map(float, table.column(label))) for label in SIZES]
            sizes = {n: (x, y, z) for n, x, y, z in zip(names, *columns)}
    except ValueError as err:
        raise InputFileError(f"{path}: data_{block.name}: a pixel size or a size is not a number ({err})") from None
    bad = [n for n, value in ts.items() if not value > 0]
    if bad:
        raise InputFileError(f"{path}: tomogram {bad[0]!r} has {TILT_SERIES_PSIZE} {ts[bad[0]]}, expected > 0")
    reconstructed = dict(zip(names, table.column(RECONSTRUCTED))) if RECONSTRUCTED in table.labels else {}
    return Tomograms(Path(path), ts, binned, sizes, reconstructed)


#: The two frames of tomogram coordinates, as the summary and the messages name them.
CENTRED = "centred Å (from each tomogram's centre)"
CORNER = "pixels (from each tomogram's corner)"


def coordinate_frame(part: ParticleTable) -> str | None:
    """Where a particle table's coordinates start: RELION 5's centred Å, pixels from the corner, or None (2-D)."""
    if part.columns.coords_in_angstrom:
        return CENTRED
    return CORNER if len(part.columns.coords) == 3 else None


def corner_inputs(parts: Sequence[ParticleTable], tomograms: Tomograms | None, writes: bool = True) -> list[int]:
    """The inputs in pixels from the corner that must be carried into the centred frame of the others.

    None of them unless the inputs mix the two frames. Mixed, the tomograms STAR must give the
    tomograms' sizes (else refused, naming one file of each frame), and the merged output is
    written in the first input's columns, which must be RELION 5's centred Å; an input with
    origins cannot have its coordinates rewritten and is refused (not where no output is
    written: ``writes`` False, ``compare``).
    """
    frames = [coordinate_frame(part) for part in parts]
    if CENTRED not in frames or CORNER not in frames:
        return []
    centred, corner = parts[frames.index(CENTRED)], parts[frames.index(CORNER)]
    if tomograms is None or not tomograms.sizes:
        given = f"{tomograms.path} gives no rlnTomoSizeX/Y/Z" if tomograms else "no tomograms STAR was given"
        raise FramesError(
            f"{centred.label} holds {CENTRED}, {', '.join(centred.columns.coords)}, and {corner.label} {CORNER}, "
            f"{', '.join(corner.columns.coords)}: one particle would lie far apart in the two, and {given}; give "
            "RELION 5's tomograms.star with --micrographs (its tomogram sizes put both in one frame), or "
            "deduplicate each file on its own"
        )
    if frames[0] != CENTRED:
        why = "the merged output is written in" if writes else "the inputs are read in"
        raise FramesError(
            f"{parts[0].label} is in {CORNER} and {centred.label} in {CENTRED}: {why} the first input's columns, "
            f"RELION 5's; give {centred.label} first"
        )
    with_origins = [p for p, f in zip(parts, frames) if writes and f == CORNER and p.columns.origins]
    if with_origins:
        raise InputFileError(
            f"{with_origins[0].where()}: {', '.join(with_origins[0].columns.origins)} with coordinates in {CORNER}: "
            f"its rows cannot be rewritten in {CENTRED} for the merged output; deduplicate it on its own"
        )
    return [k for k, frame in enumerate(frames) if frame == CORNER]


IMAGE_PSIZE, SUBTOMOGRAM_BINNING = "rlnImagePixelSize", "rlnTomoSubtomogramBinning"


def typed_tomogram_psize(
    part: ParticleTable, names: list[str], given: float | None, tomograms: Tomograms | None
) -> TypedTomogramPixelSize | None:
    """What the tomography files state of the pixel of ``part``'s coordinates, for a ``--mic-psize`` (None: none typed).

    Tomogram coordinates from the corner are in pixels of three kinds: RELION 4's tilt-series
    pixels (``rlnTomoTiltSeriesPixelSize``), a WarpTools export's pixels of the exported
    tomograms (``rlnImagePixelSize``, the tilt-series pixel x ``rlnTomoSubtomogramBinning``), a
    Picks job's annotation files' pixels of the reconstructed tomograms (the tomograms STAR's
    tilt-series pixel x ``rlnTomoTomogramBinning``; an annotation file alone states none).
    ``names``: the tomograms of the rows. The job's judge (``resolve.tomogram_psize``) refuses a
    value they contradict: the slip seen is the tilt-series pixel typed for a binned one
    (issue 54: 96.5 % and 95.7 % of the picks then rejected).
    """
    if given is None or coordinate_frame(part) != CORNER:
        return None
    stated: list[TomogramPixelStatement] = []
    if part.optics is not None and TILT_SERIES_PSIZE in part.optics.labels:
        warp = warp_tomograms(names)
        for group in optics_groups(part):
            where = f"of optics group {group.label} in {part.label}"
            if warp and group.image and group.tilt_series:
                stated.append(ExportedPixel(group.tilt_series, group.image, where, group.words()))
            elif not warp and group.tilt_series:
                stated.append(TiltSeriesPixel(group.tilt_series, where, "RELION 4 writes"))
    elif part.optics is None and part.columns.key == "rlnTomoName" and tomograms is None:
        stated.append(UnstatedPixel(TOMOGRAM_PSIZE))
    elif part.optics is None and tomograms is not None and tomograms.tomogram_psize:
        listed = {n: v for n, v in tomograms.tomogram_psize.items() if n in names} or tomograms.tomogram_psize
        stated.append(ReconstructedPixels(listed, tomograms.tilt_series_psize, TOMOGRAM_PSIZE, str(tomograms.path)))
    return TypedTomogramPixelSize(given, part.label, tuple(stated))


@dataclass
class OpticsGroup:
    """The pixel sizes of one optics group of a tomography particle file."""

    label: str
    tilt_series: float | None
    image: float | None
    binning: float | None

    def words(self) -> str:
        """The exported particles' pixel as a message names it (``rlnImagePixelSize 4 Å (= 0.7894 x ...)``)."""
        binning = f" (= {self.tilt_series:g} x {SUBTOMOGRAM_BINNING} {self.binning:g})" if self.binning else ""
        return f"{IMAGE_PSIZE} {self.image:g} Å of optics group {self.label}{binning}"


def optics_groups(part: ParticleTable) -> list[OpticsGroup]:
    """The tilt-series pixel, the image pixel and the subtomogram binning of each optics group of ``part``."""
    assert part.optics is not None
    table = part.optics

    def numbers(label: str) -> list[float | None]:
        if label not in table.labels:
            return [None] * len(table.rows)
        return [float(text) if is_number(text) else None for text in table.column(label)]

    columns = [numbers(label) for label in (TILT_SERIES_PSIZE, IMAGE_PSIZE, SUBTOMOGRAM_BINNING)]
    labels = table.column("rlnOpticsGroup") if "rlnOpticsGroup" in table.labels else ["?"] * len(table.rows)
    return [OpticsGroup(label, *values) for label, *values in zip(labels, *columns)]


def exported_pixel_hint(part: ParticleTable) -> str:
    """For a WarpTools export without ``--mic-psize``: its exported particles' pixel, which the coordinates share.

    ``ts_export_particles --output_angpix`` sets both the pixel of the particles it writes
    (``rlnImagePixelSize``) and that of the coordinates (both real exports of shared data fit
    it: 12 and 4 Å). Not taken without a word: the file does not say so.
    """
    if part.optics is None:
        return ""
    groups = [g for g in optics_groups(part) if g.image]
    if not groups:
        return ""
    sizes = sorted({g.image for g in groups if g.image})
    tilt_series = sorted({g.tilt_series for g in groups if g.tilt_series})
    trap = f", not rlnTomoTiltSeriesPixelSize {tilt_series[0]:g} Å, the tilt series' pixel" if tilt_series else ""
    return (
        f": the exported particles' pixel, {groups[0].words()}, is theirs when ts_export_particles wrote both at "
        f"--output_angpix (--mic-psize {sizes[0]:g}{trap})"
    )


#: The summary's entry ``layouts``: how each tomography input was read (docs/design.md section 7).
ROTATED_ORIGINS = "origins rotated by rlnTomoSubtomogramRot/Tilt/Psi (RELION's getPosition)"


def layout(label: str, name: str, frame: str, notes: Sequence[str] = ()) -> dict:
    """One input's entry of the summary's ``layouts``: its layout, the frame of its coordinates, notes."""
    return {"input": label, "layout": name, "frame": frame, "notes": list(notes)}


def star_layout(part: ParticleTable, names: list[str], rewritten: bool) -> dict | None:
    """How a tomography STAR input was read (None for 2-D particles): layout, frame, and what was done to it."""
    frame = coordinate_frame(part)
    if frame is None:
        return None
    notes = ([ROTATED_ORIGINS] if part.columns.subtomogram_angles else []) + part.columns.assumed
    if frame == CENTRED:
        return layout(part.label, "RELION 5", f"{CENTRED}, rlnCenteredCoordinateX/Y/ZAngst", notes)
    if rewritten:
        notes.append(f"carried into {CENTRED} by the tomogram sizes of the tomograms STAR (corner - (size / 2 - 1))")
    if warp_tomograms(names):
        return layout(part.label, "WarpTools export", f"{CORNER} of the exported tomograms", notes)
    if part.optics is not None and TILT_SERIES_PSIZE in part.optics.labels:
        return layout(part.label, "RELION 4", f"tilt-series {CORNER}", notes)
    if part.columns.key == "rlnTomoName":
        return layout(part.label, "RELION 5 Picks annotation", f"reconstructed-tomogram {CORNER}", notes)
    return layout(part.label, "RELION 3 subtomograms", f"tomogram {CORNER}", notes)
