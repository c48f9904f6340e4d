"""A pixel size typed for tomogram coordinates (``--mic-psize``), judged against the pixel their files state.

RELION's tomography files state the pixel their coordinates are in (docs/developers/decisions/tomography.md):
RELION 4's ``rlnTomoTiltSeriesPixelSize`` beside its
``rlnCoordinateX/Y/Z``, a WarpTools export's ``rlnImagePixelSize``, the tomograms STAR's
tilt-series pixel for RELION 5's import lists and that pixel x ``rlnTomoTomogramBinning`` for
a Picks job's annotation files. The tomography readers state them
(:class:`~cryodedup.particle_set.TypedTomogramPixelSize`); :func:`judge_tomogram_psize` refuses
a typed value that differs from one by more than :data:`~.pixel_size.TOLERANCE` (the one
tolerance of every pixel size), in one line naming both values and "leave --mic-psize out".

``--insist-psize`` does not lift these refusals, as it lifts :mod:`.given_psize`'s: there the
evidence is indirect (a detector pixel binned by a factor unknown, the particles' pixel, an
MRC header, the picks' reach), and a file may be wrong about the micrographs the coordinates
were picked on; here the file states the unit of its own coordinates, the one RELION's own
programs read them in, so a value that contradicts it disagrees with RELION's reading of the
same rows, and leaving ``--mic-psize`` out takes the right one.
"""

from __future__ import annotations

from ..errors import PixelSizeError
from ..particle_set import (
    MIC_PSIZE,
    ExportedPixel,
    ReconstructedPixels,
    TiltSeriesPixel,
    TypedTomogramPixelSize,
    Warn,
)
from .pixel_size import same_size

__all__ = ["judge_tomogram_psize"]

#: Below this pixel size (Å) a tomogram's pixel is more likely a tilt series' (tomograms are picked binned).
FINE_TOMOGRAM = 4.0
#: What the refusals ask for: the files' own pixel.
TAKE_IT = "(leave --mic-psize out to take it)"


def judge_tomogram_psize(typed: TypedTomogramPixelSize, warn: Warn) -> str:
    """Refuses a ``--mic-psize`` the tomography files contradict (each statement in turn); the summary's source.

    An annotation file read without a tomograms STAR states no pixel: a value below
    :data:`FINE_TOMOGRAM` Å (a tilt series' pixel, more likely) is warned of.
    """
    option = f"{MIC_PSIZE} {typed.given:g} Å"
    for stated in typed.stated:
        if isinstance(stated, ExportedPixel):
            _judge_exported(typed.given, option, stated)
        elif isinstance(stated, TiltSeriesPixel):
            if not same_size(typed.given, stated.value):
                raise PixelSizeError(
                    f"{option} contradicts rlnTomoTiltSeriesPixelSize {stated.value:g} Å {stated.place}: "
                    f"{stated.reader} rlnCoordinateX/Y/Z in tilt-series pixels {TAKE_IT}"
                )
        elif isinstance(stated, ReconstructedPixels):
            _judge_reconstructed(typed.given, option, typed.label, stated)
        elif typed.given < FINE_TOMOGRAM:  # (an UnstatedPixel: no file states the pixel)
            warn(
                f"{option} for {typed.label}'s tomogram pixels: reconstructed tomograms are binned (RELION 5: "
                f"{stated.name}, often 10 Å); if {typed.given:g} Å is the tilt series' pixel the "
                "picks are read far too close together: give the tomograms STAR with --micrographs to check"
            )
    return MIC_PSIZE


def _judge_exported(given: float, option: str, stated: ExportedPixel) -> None:
    """The tilt-series pixel typed for a WarpTools export, whose coordinates are in the exported tomograms' pixel."""
    if same_size(given, stated.tilt_series) and not same_size(given, stated.image):
        raise PixelSizeError(
            f"{option} is rlnTomoTiltSeriesPixelSize {stated.tilt_series:g} Å {stated.place}, the tilt series' "
            f"pixel; a WarpTools export writes rlnCoordinateX/Y/Z in pixels of the exported tomograms, "
            f"{stated.words}: give --mic-psize {stated.image:g}"
        )


def _judge_reconstructed(given: float, option: str, label: str, stated: ReconstructedPixels) -> None:
    """A value no tomogram's reconstructed pixel agrees with; the nearest named, and a tilt series' pixel said."""
    listed = stated.by_tomogram
    if any(same_size(given, v) for v in listed.values()):
        return
    name = min(listed, key=lambda n: abs(listed[n] - given))
    slip = (
        f": {given:g} is its rlnTomoTiltSeriesPixelSize, the tilt series' pixel, not the tomogram's"
        if same_size(given, stated.tilt_series[name])
        else ""
    )
    raise PixelSizeError(
        f"{option} contradicts {stated.name} {listed[name]:g} Å of tomogram {name} in {stated.path}, "
        f"the pixel of {label}'s tomogram coordinates{slip} {TAKE_IT}"
    )
