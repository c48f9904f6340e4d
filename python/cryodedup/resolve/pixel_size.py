"""The pixel size of the coordinates (Å/px): one order of sources for every reader, one tolerance.

``--mic-psize``, else ``--micrographs``, else the files' own columns (:func:`pixel_size_source`):
the particle job asks it for each input (``Scale.psize_from``) and each reader reads the
source decided. A list's sizes are looked up by the lists' reader
(``formats.micrograph_lists.ListedPixelSizes``); a typed value is judged by ``given_psize``
(``tomogram_psize`` for tomogram coordinates), two pixel sizes the same within :data:`TOLERANCE`.
"""

from __future__ import annotations

from ..particle_set import PsizeFrom

__all__ = ["TOLERANCE", "pixel_size_source", "same_size"]

#: Relative difference within which two pixel sizes agree: rounding to two or three digits and
#: a recalibration (1-3 %) agree; the slips seen (a binning of 2 to 8, a decimal point, a
#: tilt-series pixel for a tomogram's binned one) differ by 2x or more.
TOLERANCE = 0.05


def same_size(a: float, b: float) -> bool:
    """Whether two pixel sizes agree within :data:`TOLERANCE`."""
    return abs(a - b) <= TOLERANCE * min(a, b)


def pixel_size_source(mic_psize: float | None, micrographs: object | None) -> PsizeFrom:
    """The one order in which every reader takes the pixel size of its coordinates (Å/px).

    ``--mic-psize`` (``mic_psize``; 0 is a value given, which the reader refuses), else the
    micrographs list the user gave with ``--micrographs``, else what the files themselves say
    (RELION's optics table, CryoSPARC's ``location/micrograph_psize_A``, Dynamo's ``apix``, the
    micrographs STAR a picking job names). The job decides it for each input; each reader reads
    that source alone (one whose format takes no list reads its own) and words what is missing.
    """
    if mic_psize is not None:
        return PsizeFrom.GIVEN
    if micrographs is not None:
        return PsizeFrom.LISTED
    return PsizeFrom.OWN
