"""Masks and edges (``--mask``, ``--edge``): the picks outside a mask or near their micrograph's edge.

They are rejected before the duplicates are looked for (a pick outside the mask displaces no
pick inside it) and go to the rejected set with their reason (``decisions.csv``: 'outside the
mask', 'at the edge'). A pick outside the mask and near the edge is counted outside the mask.

Where a pick lies is taken in Å from its micrograph's (tomogram's) corner: 2-D coordinates and
tomogram pixels are so already (pixel x its size); RELION 5's centred Å are carried there by
the tomograms STAR's sizes (``Tomograms.centre_offsets``). Voxel ``k`` of a mask of voxel size
``v`` covers ``[k v, (k + 1) v)`` Å from the corner: a mask binned b times covers b pixels of
the picks' with each voxel, as IMOD's and RELION's binning do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import CryodedupError, InputFileError
from ...formats.micrograph_lists import find_image
from ...formats.mrc import mrc_extent, open_volume
from ...formats.star.tomograms import CENTRED, Tomograms, tomograms_star
from ...particle_set import ParticleSet

if TYPE_CHECKING:
    from ...report.sections.readers import ReadersFound
    from .plan import RegionsAsked

__all__ = [
    "AT_EDGE",
    "OUTSIDE_MASK",
    "Regions",
    "regions_of",
    "tomogram_corners",
    "tomograms_and_regions",
]

#: The reasons a row is dropped (``Regions.dropped``; 0: not dropped).
OUTSIDE_MASK, AT_EDGE = 1, 2
#: The extensions of the mask files a ``--mask`` folder is searched for.
MASK_SUFFIXES = (".mrc", ".rec", ".map", ".mrcs")


@dataclass(frozen=True)
class Regions:
    """Which rows the mask and the edge drop, and where the sizes and masks came from.

    ``dropped``: per row, 0 (kept for the dedup), :data:`OUTSIDE_MASK` or :data:`AT_EDGE`;
    ``masks``: the mask files used, each once; ``sizes_from``: where the micrographs' sizes
    came from (None: not needed); ``warnings``: what the user should hear of them (a mask
    shared, an extent not checked, an edge that leaves no room, every pick rejected).
    """

    dropped: np.ndarray
    masks: tuple[str, ...]
    sizes_from: str | None
    warnings: tuple[str, ...] = ()

    @property
    def outside_mask(self) -> int:
        """The rows outside the mask."""
        return int(np.count_nonzero(self.dropped == OUTSIDE_MASK))

    @property
    def at_edge(self) -> int:
        """The rows within ``--edge`` of their micrograph's edge (inside the mask, if any)."""
        return int(np.count_nonzero(self.dropped == AT_EDGE))


def tomograms_and_regions(
    particles: ParticleSet, asked: RegionsAsked | None, micrographs: Path | None
) -> tuple[Tomograms | None, Regions | None]:
    """``--micrographs``' tomograms STAR (:func:`tomograms_of`), and the rows ``--mask`` and ``--edge`` drop.

    Read once a run, before deciding, by the job: the mask and the edge, and the pictures' page
    of tomograms, take the tomograms. None for either not asked.
    """
    tomograms = tomograms_of(micrographs)
    return tomograms, None if asked is None else regions_of(particles, asked, tomograms)


def regions_of(particles: ParticleSet, asked: RegionsAsked, tomograms: Tomograms | None) -> Regions | None:
    """The rows ``--mask`` and ``--edge`` drop (None: neither asked).

    ``tomograms``: ``--micrographs`` as read once by the job (:func:`tomograms_of`), None without one.
    """
    if asked.mask is None and asked.edge is None:
        return None
    n = len(particles)
    corner = _from_corner(particles, tomograms)
    needed = asked.edge is not None
    sizes, sizes_from, psize, unknown = _sizes_given(particles, tomograms, needed)
    used = _used(particles.groups, len(particles.mic_names))
    # Every image the sizes and a folder of masks need, found at once; then their files opened.
    beside_masks = used if asked.mask is not None and Path(asked.mask).is_dir() else used[:0]
    images = _images(particles, asked.project_dir, np.union1d(unknown, beside_masks))
    if unknown.size and _sizes_from_headers(particles, images, unknown, psize, sizes, needed):
        sizes_from = "the micrographs' MRC headers" if unknown.size == used.size else f"{sizes_from} and MRC headers"
    dropped = np.zeros(n, dtype=np.int8)
    masks: tuple[str, ...] = ()
    warnings: list[str] = []
    if asked.mask is not None:
        outside, masks = _outside_masks(particles, asked, corner, sizes, warnings, images)
        dropped[outside] = OUTSIDE_MASK
    if asked.edge is not None:
        size = sizes[particles.groups]
        near = ((corner < asked.edge) | (corner > size - asked.edge)).any(axis=1)
        dropped[near & (dropped == 0)] = AT_EDGE
        warnings += _no_room(particles, sizes, asked.edge)
    if n and dropped.all():
        warnings.append(_every_pick_rejected(dropped, asked.mask, asked.edge))
    return Regions(dropped, masks, sizes_from if asked.edge is not None else None, tuple(warnings))


def tomogram_corners(particles: ParticleSet, tomograms: Tomograms | None) -> np.ndarray | None:
    """Where each tomogram's corner lies in its picks' coordinates (x, y, z, Å; by micrograph), as ``--mask`` places it.

    0 for picks counted from the corner; RELION 5's centred Å: minus the centre's offset from
    the tomograms STAR's sizes. None where centred Å have no tomograms STAR to place them.
    """
    try:
        corner = _from_corner(particles, tomograms)
    except CryodedupError:
        return None
    first_row = np.zeros(len(particles.mic_names), dtype=np.int64)
    first_row[particles.groups[::-1]] = np.arange(len(particles))[::-1]
    return np.asarray(particles.centres, dtype=np.float64)[first_row] - corner[first_row]


def _every_pick_rejected(dropped: np.ndarray, mask: Path | None, edge: float | None) -> str:
    """The warning that ``--mask`` and ``--edge`` left no pick (most often a wrong mask, label or edge)."""
    counts = [
        (f"{np.count_nonzero(dropped == OUTSIDE_MASK):,} outside the mask", mask is not None),
        (f"{np.count_nonzero(dropped == AT_EDGE):,} at the edge", edge is not None),
    ]
    said = ", ".join(words for words, asked in counts if asked)
    return f"--mask/--edge rejected every pick ({said}): nothing is kept"


def _no_room(particles: ParticleSet, sizes: np.ndarray, edge: float) -> list[str]:
    """A warning where ``--edge`` leaves no room (2 x edge >= a micrograph's size along an axis): all its picks cut."""
    used = _used(particles.groups, len(particles.mic_names))
    narrowest = np.nanmin(sizes[used], axis=1, initial=np.inf)
    mics = used[2 * edge >= narrowest]
    if not mics.size:
        return []
    what = "tomograms" if sizes.shape[1] == 3 else "micrographs"
    first = int(mics[np.argmin(narrowest[2 * edge >= narrowest])])
    axis = "xyz"[int(np.nanargmin(sizes[first]))]
    return [
        f"--edge {edge:g} Å leaves no room in {len(mics):,} of the {len(used):,} {what}: "
        f"{_bare(particles.mic_names[first])} is {sizes[first].min():g} Å along {axis}, no more than 2 x {edge:g} Å; "
        "every pick on them is at the edge"
    ]


def tomograms_of(micrographs: Path | None) -> Tomograms | None:
    """The tomograms STAR given as ``--micrographs`` (sizes and tilt-series pixel sizes), else None.

    Read once a run, before deciding, by the job: the mask and the edge, and the pictures' page, take it.
    """
    if micrographs is None or Path(micrographs).suffix.lower() != ".star":
        return None
    return tomograms_star(Path(micrographs))


def _centred_inputs(particles: ParticleSet) -> set[str]:
    """The inputs whose centres are RELION 5's centred Å (as read, or carried there from pixels)."""
    centred = set()
    for entry in _found(particles).layouts.each:
        if entry.frame.startswith(CENTRED) or any("carried into centred" in note for note in entry.notes):
            centred.add(entry.input)
    return centred


def _found(particles: ParticleSet) -> ReadersFound:
    """What the readers found, typed (the layouts of tomography inputs, a copick project's config)."""
    from ...report.sections.readers import ReadersFound

    return ReadersFound.of(particles.summary)


def _from_corner(particles: ParticleSet, tomograms: Tomograms | None) -> np.ndarray:
    """Each row's centre in Å from its micrograph's (tomogram's) corner."""
    corner = np.array(particles.centres, dtype=np.float64)
    centred = _centred_inputs(particles)
    if not centred:
        return corner
    if tomograms is None or not tomograms.sizes:
        name = sorted(centred)[0]
        raise CryodedupError(
            f"--mask/--edge: {name} holds centred Å (from each tomogram's centre): give the tomograms STAR "
            "(--micrographs tomograms.star) whose rlnTomoSizeX/Y/Z place each tomogram's corner"
        )
    inputs = [k for k, name in enumerate(particles.inputs) if name in centred or len(particles.inputs) == 1]
    every = len(inputs) == len(particles.inputs)  # (one input, most often: no row to pick out)
    rows = slice(None) if every else np.isin(particles.input_of, inputs)
    used = _used(particles.groups[rows], len(particles.mic_names))
    offsets = np.zeros((len(particles.mic_names), 3))
    names = [_bare(particles.mic_names[g]) for g in used]
    offsets[used] = tomograms.centre_offsets(names, f"--micrographs {tomograms.path}")
    corner[rows] += offsets[particles.groups[rows]]
    return corner


def _used(groups: np.ndarray, n_mics: int) -> np.ndarray:
    """The micrographs that ``groups`` name, in order (counted, not sorted)."""
    return np.flatnonzero(np.bincount(groups, minlength=n_mics))


def _bare(name: str) -> str:
    """A micrograph's name without the dataset the job appends to a second dataset's copy (``TS_01 [dataset B]``)."""
    return name.rpartition(" [dataset ")[0] or name


def _sizes_given(
    particles: ParticleSet, tomograms: Tomograms | None, needed: bool
) -> tuple[np.ndarray, str, np.ndarray, np.ndarray]:
    """Each micrograph's size in Å along x, y (z) as the inputs and ``--micrographs`` give it; where from; more.

    The more: the rows' pixel size of each micrograph, and the micrographs used whose size is
    unknown (none of a copick project's).

    Tomograms: the tomograms STAR's rlnTomoSizeX/Y/Z x tilt-series pixel size (a copick
    project's: its tomograms' extents); micrographs: their shape as the inputs give it
    (CryoSPARC's micrograph_shape, pickers' micrographs) x the rows' pixel size. NaN where
    unknown: :func:`_sizes_from_headers` reads the MRC header of the image found.
    """
    n_mics, dims = len(particles.mic_names), particles.centres.shape[1]
    sizes = np.full((n_mics, dims), np.nan)
    first_row = np.full(n_mics, -1, dtype=np.int64)
    first_row[particles.groups[::-1]] = np.arange(len(particles))[::-1]
    psize = np.asarray(particles.psize, dtype=np.float64)[np.maximum(first_row, 0)]
    copick = _found(particles).copick
    if dims == 3 and copick is not None and needed:  # (a copick project's runs: their tomograms in the project)
        from ...formats.copick import tomogram_extents

        used = first_row >= 0
        runs = [_bare(name) for name, is_used in zip(particles.mic_names, used) if is_used]
        sizes[used], source = tomogram_extents(Path(copick.config), runs)
        return sizes, source, psize, np.zeros(0, dtype=np.int64)
    if dims == 3 and tomograms is not None and tomograms.sizes:
        for g, name in enumerate(particles.mic_names):
            bare = _bare(name)
            if bare in tomograms.sizes:
                sizes[g] = np.array(tomograms.sizes[bare]) * tomograms.tilt_series_psize[bare]
        source = f"rlnTomoSizeX/Y/Z of {tomograms.path}"
    else:
        for g, (ny, nx) in particles.mic_shapes.items():
            if dims == 2:
                sizes[g] = (nx * psize[g], ny * psize[g])
        source = "the inputs' micrograph shapes"
    return sizes, source, psize, np.flatnonzero(np.isnan(sizes).any(axis=1) & (first_row >= 0))


def _images(particles: ParticleSet, project_dir: Path | None, groups: np.ndarray) -> dict[int, Path]:
    """Where the image of each micrograph of ``groups`` is (its MRC file, found or not), each looked for once."""
    first = Path(particles.inputs[0])
    return {g: find_image(_bare(particles.mic_names[g]), first, project_dir) for g in groups.tolist()}


def _sizes_from_headers(
    particles: ParticleSet,
    images: dict[int, Path],
    unknown: np.ndarray,
    psize: np.ndarray,
    sizes: np.ndarray,
    needed: bool,
) -> bool:
    """The sizes of the micrographs ``unknown`` from their MRC headers (filled into ``sizes``); refused if needed.

    Whether any was found.
    """
    dims = sizes.shape[1]
    found = False
    for g in unknown.tolist():
        name = _bare(particles.mic_names[g])
        path = images[g]
        if not path.is_file():
            if not needed:
                continue
            raise CryodedupError(
                f"--edge: the size of {name} is unknown: no micrograph_shape or rlnTomoSizeX/Y/Z in the inputs "
                f"and --micrographs, and no MRC file at {path}; give --project-dir where the images are (tomograms: "
                "or RELION 5's tomograms.star as --micrographs)"
            )
        (nx, ny, nz), voxel = mrc_extent(path)
        # A tomogram's own voxel size (RELION 4's picks are in unbinned tilt-series pixels, its
        # tomograms binned); a micrograph's pixels are the picks' (--mic-psize overrides a header).
        own = voxel if dims == 3 or not np.isfinite(psize[g]) else None
        step = own or (psize[g] if np.isfinite(psize[g]) else np.nan)
        sizes[g] = (nx * step, ny * step, nz * step)[:dims]
        found = True
    return found


def _mask_files(mask: Path, names: list[str], images: list[Path]) -> list[Path]:
    """The mask of each micrograph: ``mask`` itself, or in the folder ``mask`` the file named after it.

    The file whose name without its extension is the micrograph's (``TS_01.mrc``), else the one
    file that starts with that name and ``_`` or ``.`` (``TS_01_mask.mrc``, ``mic_001.labels.mrc``).
    ``images``: where each micrograph's own file is (a folder of tomograms and their masks would
    otherwise give each tomogram as its own mask: refused).
    """
    if not mask.is_dir():
        return [mask] * len(names)
    files = sorted(p for p in mask.iterdir() if p.suffix.lower() in MASK_SUFFIXES and p.is_file())
    found = []
    for name, image in zip(names, images):
        stem = Path(_bare(name)).stem if Path(name).suffix.lower() in MASK_SUFFIXES else Path(_bare(name)).name
        exact = [p for p in files if p.stem == stem]
        matches = exact or [p for p in files if p.name.startswith((stem + "_", stem + "."))]
        if len(matches) != 1:
            what = "no MRC file named after it" if not matches else f"{matches[0].name} and {matches[1].name}"
            raise CryodedupError(
                f"--mask {mask}: {what} for {name} (looked for {stem}.mrc or {stem}_*.mrc): "
                "give one mask per micrograph or tomogram, named after it"
            )
        if matches[0].resolve() == image.resolve():
            raise CryodedupError(
                f"--mask {mask}: {matches[0].name} is the {name} image itself, not its mask: give a folder of "
                f"masks, or name the mask {stem}_mask.mrc in a folder without the images"
            )
        found.append(matches[0])
    return found


def _outside_masks(
    particles: ParticleSet,
    asked: RegionsAsked,
    corner: np.ndarray,
    sizes: np.ndarray,
    warnings: list[str],
    images: dict[int, Path],
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Whether each row lies outside its micrograph's mask (beyond the mask's extent included); the masks used.

    A ``--mask-label`` found in no mask is refused, naming the labels they hold (every pick would go).
    """
    assert asked.mask is not None
    groups = particles.groups
    used = _used(groups, len(particles.mic_names))
    names = [particles.mic_names[g] for g in used.tolist()]
    beside = [images[g] for g in used.tolist() if g in images]  # (every one where the masks are a folder)
    files = _mask_files(Path(asked.mask), names, beside)
    by_file: dict[Path, list[int]] = {}
    for g, path in zip(used.tolist(), files):
        by_file.setdefault(path, []).append(g)
    labelled: list[bool] = []
    if len(by_file) == 1:  # (one mask for every row: no rows to gather)
        if len(used) > 1:
            warnings.append(_shared_mask(files[0], particles, used))
        outside = _outside_one(
            files[0], asked.mask_label, asked.mask_psize, corner, groups, particles, sizes, (warnings, labelled)
        )
    else:
        outside = np.zeros(len(particles), dtype=bool)
        order = np.argsort(groups, kind="stable")
        starts = np.searchsorted(groups[order], np.arange(len(particles.mic_names) + 1))
        for path, mics in by_file.items():
            rows = np.concatenate([order[starts[g] : starts[g + 1]] for g in mics])
            said = (warnings, labelled)
            outside[rows] = _outside_one(
                path, asked.mask_label, asked.mask_psize, corner[rows], groups[rows], particles, sizes, said
            )
    if asked.mask_label is not None and not any(labelled):
        raise CryodedupError(_label_absent(asked.mask_label, list(by_file)))
    if asked.mask_label is not None and not all(labelled):
        lacking = [p.name for p, has in zip(by_file, labelled) if not has]
        warnings.append(
            f"--mask-label {asked.mask_label}: {len(lacking)} of the {len(by_file)} masks hold no voxel of it "
            f"({', '.join(lacking[:3])}{', ...' if len(lacking) > 3 else ''}): every pick on theirs is outside"
        )
    return outside, tuple(str(p) for p in by_file)


def _shared_mask(path: Path, particles: ParticleSet, used: np.ndarray) -> str:
    """The warning of one mask file applied to several micrographs or tomograms alike."""
    what = "tomograms" if particles.centres.shape[1] == 3 else "micrographs"
    names = [_bare(particles.mic_names[g]) for g in used[:3].tolist()]
    more = ", ..." if len(used) > 3 else ""
    stem = Path(names[0]).stem if Path(names[0]).suffix.lower() in MASK_SUFFIXES else names[0]
    return (
        f"--mask {path}: one mask applied to all {len(used):,} {what} alike ({', '.join(names)}{more}); "
        f"a folder of masks named after them ({stem}_mask.mrc, ...) gives each its own"
    )


def _label_absent(label: int, paths: list[Path]) -> str:
    """The refusal of a ``--mask-label`` that no mask holds, naming the labels they do hold."""
    present: set[int] = set()
    for path in paths:
        mrc, data, _ = open_volume(path)
        with mrc:
            present.update(np.unique(data).tolist())
    shown = ", ".join(f"{v:g}" for v in sorted(present)[:10]) + (", ..." if len(present) > 10 else "")
    where = f"--mask {paths[0]}" if len(paths) == 1 else f"--mask: none of the {len(paths)} masks"
    return f"{where} holds no voxel of label {label} (--mask-label): its labels are {shown}"


def _outside_one(
    path: Path,
    mask_label: int | None,
    mask_psize: float | None,
    corner: np.ndarray,
    groups: np.ndarray,
    particles: ParticleSet,
    sizes: np.ndarray,
    said: tuple[list[str], list[bool]],
) -> np.ndarray:
    """Whether each of these rows (of the micrographs ``path`` masks) lies outside it.

    ``said``: the warnings, and per mask whether it holds ``--mask-label`` (appended to).
    """
    mrc, data, header_voxel = open_volume(path)
    with mrc:
        dims = corner.shape[1]
        shape = data.shape[::-1][:dims]  # (nx, ny[, nz])
        if dims == 2 and data.shape[0] != 1:
            raise InputFileError(f"--mask {path}: {data.shape[0]} sections; micrographs take a 2-D mask")
        voxel = _voxel_size(path, mask_psize, header_voxel, shape, groups, particles, sizes, said[0])
        index = np.floor(corner / voxel).astype(np.int64)
        within = ((index >= 0) & (index < np.array(shape))).all(axis=1)
        values = np.zeros(len(corner), dtype=data.dtype)
        x, y = index[within, 0], index[within, 1]
        z = index[within, 2] if dims == 3 else np.zeros_like(x)
        values[within] = data[z, y, x]
        inside = values == mask_label if mask_label is not None else values > 0
        if mask_label is not None:  # (the whole mask read only where no pick found the label)
            said[1].append(bool((within & inside).any()) or bool((data == mask_label).any()))
    return ~(within & inside)


def _voxel_size(
    path: Path,
    mask_psize: float | None,
    header: float | None,
    shape: tuple[int, ...],
    groups: np.ndarray,
    particles: ParticleSet,
    sizes: np.ndarray,
    warnings: list[str],
) -> float:
    """The mask's voxel size in Å: ``--mask-psize``, else its header's, checked against its micrographs' sizes.

    Without either, the micrograph's size over the mask's voxels. A mask whose extent (voxels x
    voxel size) differs from a micrograph's size by more than a voxel and 1 % is refused; the
    micrographs of unknown size, whose extent cannot be checked, are warned of.
    """
    voxel = mask_psize or header
    used = _used(groups, len(sizes)).tolist()
    known = [(g, sizes[g]) for g in used if not np.isnan(sizes[g]).any()]
    if len(known) < len(used):
        warnings.append(_unchecked(path, particles, [g for g in used if np.isnan(sizes[g]).any()]))
    if voxel is None:
        if not known:
            raise CryodedupError(
                f"--mask {path}: no voxel size in its header, and the micrograph's size is unknown: give --mask-psize"
            )
        voxel = float(known[0][1][0] / shape[0])
    extent = np.array(shape, dtype=np.float64) * voxel
    for g, size in known:
        if (np.abs(extent - size) > voxel + 0.01 * size).any():
            where = "--mask-psize" if mask_psize else "its header"
            raise CryodedupError(
                f"--mask {path}: {' x '.join(map(str, shape))} voxels of {voxel:g} Å ({where}) cover "
                f"{' x '.join(f'{e:g}' for e in extent)} Å, but {particles.mic_names[g]} is "
                f"{' x '.join(f'{s:g}' for s in size)} Å: give the mask's voxel size (--mask-psize) or its own mask"
            )
    return float(voxel)


def _unchecked(path: Path, particles: ParticleSet, unknown: list[int]) -> str:
    """The warning that a mask's extent was not checked against the micrographs of unknown size."""
    what = "tomograms" if particles.centres.shape[1] == 3 else "micrographs"
    names = ", ".join(_bare(particles.mic_names[g]) for g in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
    return (
        f"--mask {path}: its extent was not checked against {len(unknown):,} {what} of unknown size ({names}): "
        "give --project-dir where the images are (tomograms: or RELION 5's tomograms.star as --micrographs)"
    )
