"""The micrograph pixel size of RELION particle coordinates, and the centres in Å.

``--mic-psize``, else the micrographs STAR of ``--micrographs``, else the optics table
(``rlnMicrographPixelSize``; RELION 4 tomography's ``rlnTomoTiltSeriesPixelSize``; never
``rlnImagePixelSize``, the extracted particles'), as the job decided (``Scale.psize_from``,
from ``resolve.pixel_size``). :func:`pixel_size_plan` tells the core's scan where each row's size comes
from; :func:`pixel_sizes_used` words what was used for the summary and gathers what is
missing; :func:`row_pixel_sizes` and :func:`centres_in_angstrom` serve a table in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import cryodedup._core as _core

from ...errors import InputFileError
from ...particle_set import MIC_PSIZE, Evidence, ListedPixelSize, PsizeFrom, StatedPixelSizes, TypedPixelSize, Warn
from ..micrograph_lists import ListedPixelSizes, stated_pixel_sizes
from .file import Table, is_number
from .micrographs import PIXEL_SIZE_FIELD
from .particle_table import Needs, ParticleTable
from .tomograms import exported_pixel_hint
from .tomography import TILT_SERIES_PSIZE, subtomogram_rotated, warp_tomograms

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..read_request import Scale

__all__ = [
    "LISTED_ADVICE",
    "PIXEL_HINT",
    "centres_in_angstrom",
    "mic_psize_source",
    "micrographs_list",
    "pixel_size_plan",
    "pixel_sizes_used",
    "row_pixel_sizes",
]


@dataclass
class PixelSize:
    """The micrograph pixel size used for one optics group of one input."""

    input: str
    optics_group: str
    psize: float | None
    source: str


#: The pixel sizes used for one input: as the summary says them, and by optics group (when read from data_optics).
UsedPixelSizes = tuple[list[PixelSize], dict[float, float]]


def _optics_value(table: Table, label: str) -> dict[str, float]:
    if label not in table.labels:
        return {}
    return {g: float(v) for g, v in zip(table.column("rlnOpticsGroup"), table.column(label))}


def _group_label(group: float) -> str:
    """An optics group number as its label in data_optics (``1``, not ``1.0``)."""
    return str(int(group)) if float(group).is_integer() else str(group)


def _mic_psize_label(part: ParticleTable) -> str:
    """The optics column giving the pixel size of the coordinates.

    RELION 4 tomography writes them in tilt-series pixels (docs/design.md section 7),
    everything else in micrograph pixels.
    """
    assert part.optics is not None
    if len(part.columns.coords) == 3 and TILT_SERIES_PSIZE in part.optics.labels:
        return TILT_SERIES_PSIZE
    return PIXEL_SIZE_FIELD


def _optics_pixel_sizes(part: ParticleTable) -> dict[str, float]:
    """Coordinate pixel size by optics group label: that of :func:`_mic_psize_label`, else the original one."""
    assert part.optics is not None
    return {
        **_optics_value(part.optics, "rlnMicrographOriginalPixelSize"),
        **_optics_value(part.optics, _mic_psize_label(part)),
    }


#: The extracted particles' pixel size in data_optics: never the coordinates'.
IMAGE_PIXEL_SIZE = "rlnImagePixelSize"
#: The detector pixel size in data_optics.
ORIGINAL_PIXEL_SIZE = "rlnMicrographOriginalPixelSize"
#: Why a --mic-psize equal to a group's rlnImagePixelSize is refused.
BINNED_AT_EXTRACTION = f"that group's {IMAGE_PIXEL_SIZE} (particles binned at extraction)"


def optics_evidence(part: ParticleTable) -> list[Evidence]:
    """What data_optics says of the micrograph pixel size, for a typed ``--mic-psize`` to be judged against.

    Per optics group: ``rlnMicrographPixelSize`` (a micrograph pixel), ``rlnMicrographOriginalPixelSize``
    (the detector pixel: the micrograph pixel is a binning of it), and the group's
    ``rlnImagePixelSize`` as a trap where it differs from its micrograph pixel (particles binned
    at extraction: ``Evidence.trap_beside``) and, where the group states no
    ``rlnMicrographPixelSize``, as a bound (``Evidence.ceiling``). ``--mic-psize`` overrides every
    group, and the rows' groups are not known before the scan: every group of the table is
    stated. RELION 3.0 (no data_optics): the particles' pixel of the first row
    (:func:`_first_row_evidence`). Tomograms (three coordinates: their coordinates are in the
    tomogram's pixel, which subtomograms extracted from the tilt series may be finer than) and
    coordinates in Å: nothing is stated of their pixels here.
    """
    if part.columns.coords_in_angstrom or len(part.columns.coords) == 3:
        return []
    if part.optics is None:
        return _first_row_evidence(part)
    table = part.optics
    mic, original, image = (
        _numbers(table, label) for label in (PIXEL_SIZE_FIELD, ORIGINAL_PIXEL_SIZE, IMAGE_PIXEL_SIZE)
    )
    evidence = []
    for group in _numbers(table, "rlnOpticsGroup"):
        place = f"of optics group {group} in {part.path}"
        micrograph = mic.get(group, original.get(group))
        trap = (image[group], BINNED_AT_EXTRACTION) if micrograph is not None and group in image else None
        if group in mic:
            evidence.append(Evidence(mic[group], PIXEL_SIZE_FIELD, place, trap=trap, trap_beside=micrograph))
        if group in original:
            evidence.append(
                Evidence(original[group], ORIGINAL_PIXEL_SIZE, place, binned=True, trap=trap, trap_beside=micrograph)
            )
        if group in image and group not in mic:
            evidence.append(
                Evidence(image[group], IMAGE_PIXEL_SIZE, place, trap_beside=original.get(group), ceiling=True)
            )
    return evidence


#: RELION 3.0's particle pixel size, where its rows have no rlnImagePixelSize.
DETECTOR_OVER_MAGNIFICATION = "1e4 × rlnDetectorPixelSize / rlnMagnification"


def _first_row_evidence(part: ParticleTable) -> list[Evidence]:
    """The particles' pixel size of a RELION 3.0 file's first row, a bound on the micrograph pixel size.

    Its rows give it (``rlnImagePixelSize``, else ``rlnDetectorPixelSize`` and ``rlnMagnification``);
    ``--mic-psize`` is every row's micrograph pixel, so any row's particle pixel bounds it:
    the first, read before the scan.
    """
    row = part.first_row()
    place = f"of the first particle row in {part.path}"
    if is_number(row.get(IMAGE_PIXEL_SIZE, "")):
        return [Evidence(float(row[IMAGE_PIXEL_SIZE]), IMAGE_PIXEL_SIZE, place, ceiling=True)]
    detector, magnification = row.get("rlnDetectorPixelSize", ""), row.get("rlnMagnification", "")
    if not (is_number(detector) and is_number(magnification) and float(magnification) > 0):
        return []
    return [Evidence(1e4 * float(detector) / float(magnification), DETECTOR_OVER_MAGNIFICATION, place, ceiling=True)]


def mic_psize_source(part: ParticleTable, scale: Scale, listed: StatedPixelSizes | None, warn: Warn) -> str:
    """The summary's source of a typed ``--mic-psize``, as the job's judge (``scale.judge_psize``) finds it.

    The judge is handed what data_optics and the ``--micrographs`` list (``listed``) state, and
    refuses a value they contradict, or returns what it contradicts where the user insists
    (``--insist-psize``, also warned). ``--mic-psize`` where the job decided no typed value.
    """
    if scale.psize_from is not PsizeFrom.GIVEN:
        return MIC_PSIZE
    stated, lists = tuple(optics_evidence(part)), () if listed is None else (listed,)
    return scale.judge_psize(
        TypedPixelSize(scale.given_psize, scale.insist_psize, f"{part.label}: ", stated, lists), warn
    )


def _numbers(table: Table, label: str) -> dict[str, float]:
    """The column ``label`` of data_optics by optics group label, where it holds a plain number."""
    if label not in table.labels or "rlnOpticsGroup" not in table.labels:
        return {}
    pairs = zip(table.column("rlnOpticsGroup"), table.column(label))
    return {group: float(value) for group, value in pairs if is_number(value)}


def pixel_size_plan(part: ParticleTable, scale: Scale, mic_psizes: dict[str, float] | None) -> _core.PixelSizes:
    """Where the scan takes each row's micrograph pixel size from (see ``StarFile.scan_particles``).

    Rows whose pixel size is unknown get NaN; :func:`pixel_sizes_used` then names what is missing.
    """
    if part.columns.coords_in_angstrom:
        return _core.PixelSizes.angstrom()
    if scale.psize_from is PsizeFrom.GIVEN:
        return _core.PixelSizes.constant(scale.given_psize)
    listed = _listed(scale, mic_psizes)
    return _optics_plan(part) if listed is None else _core.PixelSizes.by_micrograph(listed)


def _listed(scale: Scale, mic_psizes: dict[str, float] | None) -> dict[str, float] | None:
    """The list's sizes where the job decided the list gives them (``mic_psizes``: None where it gives these none)."""
    return mic_psizes if scale.psize_from is PsizeFrom.LISTED else None


def _optics_plan(part: ParticleTable) -> _core.PixelSizes:
    """The scan's pixel size by optics group from data_optics (NaN for rows without one)."""
    if part.optics is None or part.columns.optics_group is None:
        return _core.PixelSizes.constant(float("nan"))
    by_group = []
    for label, value in _optics_pixel_sizes(part).items():
        # A row's group number matches the label it prints as (so "01" matches no row).
        if is_number(label) and _group_label(float(label)) == label:
            by_group.append((float(label), value))
    return _core.PixelSizes.by_optics_group(part.columns.optics_group, by_group)


def tomogram_pixels_need(part: ParticleTable) -> str:
    """What to give for tomogram coordinates in pixels of a file that does not say their size.

    A RELION 5 Picks job's annotation files (``annotations/TS_01_particles.star``) hold
    ``rlnTomoName`` and ``rlnCoordinateX/Y/Z`` in pixels of the reconstructed (binned)
    tomogram, and no optics table; the job's ``particles.star`` holds the same picks in Å.
    """
    where = f"{part.where()}: tomogram coordinates in pixels ({', '.join(part.columns.coords)}"
    if part.columns.key != "rlnTomoName":  # a RELION 3 subtomogram file names its tomogram's .mrc
        return (
            f"{where}) and no pixel size for them; give the tomograms' pixel size with --mic-psize{_pytom_voxel(part)}"
        )
    return (
        f"{where}, as in a RELION 5 Picks job's annotation file: pixels of the reconstructed tomogram) and no "
        "pixel size for them; give it with --mic-psize (rlnTomoTiltSeriesPixelSize × rlnTomoTomogramBinning "
        "of the tomograms STAR), or give the Picks job's particles.star, whose centres are in Å"
    )


def _pytom_voxel(part: ParticleTable) -> str:
    """The voxel size pytom-match-pick's candidates file states, as advice ('' where it states none).

    pytom_extract_candidates.py writes the matched tomogram's voxel size in rlnDetectorPixelSize,
    without RELION 3.0's rlnMagnification that would make it a detector pixel in µm.
    """
    row = part.first_row()
    voxel = row.get("rlnDetectorPixelSize", "")
    if "rlnMagnification" in row or not is_number(voxel) or not 0 < float(voxel) < float("inf"):
        return ""
    return (
        f" (pytom-match-pick writes the tomogram's voxel size in rlnDetectorPixelSize: {float(voxel):g} Å "
        f"in its first row, so --mic-psize {float(voxel):g})"
    )


def micrographs_list(scale: Scale, mic_psizes: dict[str, float]) -> ListedPixelSizes:
    """The pixel sizes of the micrographs STAR ``--micrographs`` gives, looked up as ``--match-micrographs`` says.

    A tomograms STAR's (:class:`~.tomograms.TomogramPixelSizes`) names its own column.
    """
    field = getattr(mic_psizes, "field", PIXEL_SIZE_FIELD)
    return ListedPixelSizes(scale.micrographs, mic_psizes, scale.match_micrographs, field)


def pixel_sizes_used(
    part: ParticleTable,
    groups_met: Iterable[float],
    names: list[str],
    scale: Scale,
    mic_psizes: dict[str, float] | None,
    warn: Warn,
    needs: Needs,
    given_source: str = MIC_PSIZE,
) -> UsedPixelSizes:
    """What micrograph pixel size was used for the rows of one input, and by optics group.

    ``groups_met`` are the distinct optics group numbers of the rows, ``names`` their
    micrographs. A pixel size the user must give is added to ``needs``; the warnings name
    the groups that fall back to ``rlnMicrographOriginalPixelSize``. ``given_source``: the
    summary's source of ``--mic-psize`` (:func:`mic_psize_source`).
    """
    if part.columns.coords_in_angstrom:
        return [PixelSize(part.label, "all", None, "not needed: coordinates are in Å")], {}
    if scale.psize_from is PsizeFrom.GIVEN:
        return [PixelSize(part.label, "all", scale.given_psize, given_source)], {}
    if _is_warp(part, names, needs):
        return [], {}
    listed = _listed(scale, mic_psizes)
    if listed is not None:
        return _listed_used(part, names, scale, listed)
    warn_if_used = warn if scale.pixel_size_decides else lambda message: None  # (no false alarm)
    return _optics_used(part, groups_met, warn_if_used, needs)


def _is_warp(part: ParticleTable, names: list[str], needs: Needs) -> bool:
    """Whether the particles are Warp's, whose file does not say the pixel size of its coordinates.

    Neither its columns nor a micrographs list give it (docs/design.md section 7): the user
    must give it with ``--mic-psize``, added to ``needs``.
    """
    warp = warp_tomograms(names)
    if warp:
        needs.add(
            f"{part.where()}: a Warp/WarpTools particle file (tomogram {warp[0]!r}): rlnCoordinateX/Y/Z are in "
            "pixels of the exported tomograms (ts_export_particles --output_angpix), a size the file does not "
            f"record; give it with --mic-psize{exported_pixel_hint(part)}"
        )
    return bool(warp)


#: What to give where the micrographs STAR's pixel size contradicts the particles' optics table.
LISTED_ADVICE = (
    "give the micrographs STAR the particles were picked on (--micrographs), or the micrograph pixel size "
    "with --mic-psize"
)


def _listed_used(part: ParticleTable, names: list[str], scale: Scale, mic_psizes: dict[str, float]) -> UsedPixelSizes:
    """The pixel sizes the micrographs STAR gives the micrographs ``names`` of one input."""
    micrographs = micrographs_list(scale, mic_psizes)
    values, by_name = micrographs.sizes(part.where(), names)
    used = []
    evidence = tuple(optics_evidence(part))
    for value in np.unique(values):  # (the job's judge refuses one the optics table contradicts)
        listed = ListedPixelSize(float(value), f"{micrographs.field} in {micrographs.path}", evidence, LISTED_ADVICE)
        scale.judge_psize(listed, lambda message: None)
        with_value = [name for name, psize in zip(names, values) if psize == value]
        source = micrographs.source(len(with_value), len(by_name.intersection(with_value)))
        used.append(PixelSize(part.label, "all", float(value), source))
    return used, {}


#: What to give where a particle file's optics table lacks the micrograph pixel size (the particle job's options).
PIXEL_HINT = "give the micrograph pixel size with --mic-psize, or a micrographs STAR with --micrographs"


def _optics_used(part: ParticleTable, groups_met: Iterable[float], warn: Warn, needs: Needs) -> UsedPixelSizes:
    """The pixel sizes data_optics gives the optics groups ``groups_met`` (by group, and as the summary says)."""
    hint = PIXEL_HINT
    if part.optics is None and len(part.columns.coords) == 3:
        needs.add(tomogram_pixels_need(part))
        return [], {}
    if part.optics is None:
        needs.add(
            f"{part.where()}: no micrograph pixel size (a RELION 3.0 file has only the particle pixel size, "
            f"which differs from the micrograph's when particles were rescaled); {hint}"
        )
        return [], {}
    if part.columns.optics_group is None:
        needs.add(f"{part.where()}: no rlnOpticsGroup column to find each particle's pixel size; {hint}")
        return [], {}
    mic_label = _mic_psize_label(part)
    mic = _optics_value(part.optics, mic_label)
    original = _optics_value(part.optics, "rlnMicrographOriginalPixelSize")
    used, by_group = [], {}
    # (return_index: numpy's plain unique imports numpy.ma, 5-15 ms of the STAR job's start)
    for g in np.unique(np.asarray(list(groups_met), dtype=np.float64), return_index=True)[0]:
        label = _group_label(g)
        if label in mic:
            value, source = mic[label], mic_label
        elif label in original:
            value, source = original[label], "rlnMicrographOriginalPixelSize"  # (its caveat: the warning's, said once)
            warn(
                f"{part.label}: optics group {label} has no rlnMicrographPixelSize; using "
                f"rlnMicrographOriginalPixelSize {value} Å, which is only right if the movies were not "
                f"binned in motion correction ({hint} to be sure)"
            )
        elif label in _optics_value(part.optics, "rlnImagePixelSize") or not part.optics.rows:
            needs.add(
                f"{part.where()}: optics group {label} has no micrograph pixel size "
                f"(rlnImagePixelSize is the extracted particles' and is not used); {hint}"
            )
            continue
        else:
            raise InputFileError(f"{part.where()}: particles refer to optics group {label}, absent from data_optics")
        if not value > 0:
            needs.add(f"{part.where()}: optics group {label} has pixel size {value}, expected > 0; {hint}")
            continue
        by_group[float(g)] = value
        used.append(PixelSize(part.label, label, value, source))
    return used, by_group


def row_pixel_sizes(
    part: ParticleTable,
    numbers: dict[str, np.ndarray],
    keys: np.ndarray,
    names: list[str],
    scale: Scale,
    mic_psizes: dict[str, float] | None,
    warn: Warn,
    needs: Needs,
) -> tuple[np.ndarray, list[PixelSize]]:
    """The micrograph pixel size of every row of a table in memory, and what was used per group.

    A pixel size the user must give is added to ``needs`` (NaN for those rows); a typed one
    is judged first (:func:`mic_psize_source`).
    """
    n = keys.size
    group_label = part.columns.optics_group
    groups = numbers[group_label] if group_label and part.optics is not None else np.zeros(0)
    given_source = mic_psize_source(part, scale, stated_pixel_sizes(scale.micrographs, scale.mic_psize), warn)
    used, by_group = pixel_sizes_used(part, np.unique(groups), names, scale, mic_psizes, warn, needs, given_source)
    if part.columns.coords_in_angstrom:
        return np.ones(n), used
    if scale.psize_from is PsizeFrom.GIVEN:
        return np.full(n, scale.given_psize), used
    listed = _listed(scale, mic_psizes)
    if listed is not None:
        return _listed_rows(part, names, keys, scale, listed), used
    return _rows_by_group(n, groups, by_group), used


def _listed_rows(
    part: ParticleTable, names: list[str], keys: np.ndarray, scale: Scale, mic_psizes: dict[str, float]
) -> np.ndarray:
    """Each row's pixel size from the micrographs STAR (``keys`` index ``names``)."""
    return micrographs_list(scale, mic_psizes).sizes(part.where(), names)[0][keys]


def _rows_by_group(n: int, groups: np.ndarray, by_group: dict[float, float]) -> np.ndarray:
    """Each of ``n`` rows' pixel size from its optics group's, NaN where there is none."""
    psize = np.full(n, np.nan)
    for g, value in by_group.items():
        psize[groups == g] = value
    return psize


def centres_in_angstrom(part: ParticleTable, numbers: dict[str, np.ndarray], psize: np.ndarray) -> np.ndarray:
    """Particle centres in Å: coordinate x micrograph pixel size - origin (origin subtracted).

    With RELION's subtomogram angles the origin is first rotated into the tomogram frame
    (docs/design.md section 7).
    """
    cols = part.columns
    centres = np.empty((psize.size, len(cols.coords)))
    origins = np.zeros_like(centres)
    origin_by_axis = {lab[-1] if not lab.endswith("Angst") else lab[-6]: lab for lab in cols.origins}
    image_psize: np.ndarray | None = None
    if cols.origins_in_pixels:
        image_psize = 1e4 * numbers["rlnDetectorPixelSize"] / numbers["rlnMagnification"]
    for j, label in enumerate(cols.coords):
        axis = label[-6] if label.endswith("Angst") else label[-1]
        with np.errstate(over="ignore", invalid="ignore"):  # a centre that overflows is refused by the job
            c = numbers[label] if cols.coords_in_angstrom else numbers[label] * psize
            origin = origin_by_axis.get(axis)
            if origin is not None:
                origins[:, j] = numbers[origin] * image_psize if image_psize is not None else numbers[origin]
        centres[:, j] = c
    if cols.subtomogram_angles:
        origins = subtomogram_rotated(origins, {label: numbers[label] for label in cols.subtomogram_angles})
    with np.errstate(over="ignore", invalid="ignore"):
        return centres - origins
