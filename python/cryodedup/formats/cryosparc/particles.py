"""CryoSPARC particles (``.cs`` and ``.csg``, or a Dataset in memory) read into a ParticleSet.

Kept and rejected are written back as datasets of the same fields (the job is then
CryoSPARC's *Remove Duplicate Particles*); picks of other pickers are written as particles
with a location slot (:class:`Locations`). Every ``.cs`` goes out through
:meth:`CsFile.save <cryodedup.formats.csfile.CsFile.save>`.

Centres in Å (docs/design.md section 2): ``center_x_frac * micrograph_shape[1] * psize_mic -
shift[0] * psize_align`` and ``center_y_frac * micrograph_shape[0] * psize_mic - shift[1] *
psize_align``; ``micrograph_shape`` is ``[ny, nx]``, the shift ``[x, y]`` in alignment
pixels, subtracted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

import cryodedup._core as _core

from ..._core import CsLocations, KeyGroups
from ...algo.audit import read_halves
from ...algo.filaments import tube_ids
from ...errors import CryodedupError, InputFileError
from ...labels import counted
from ...outputs import AtomicOutputs
from ...particle_set import (
    HalfSets,
    Images,
    Log,
    NumberedNames,
    ParticleSet,
    PlacedSubsetWriter,
    PsizeFrom,
    StatedPixelSizes,
    TypedPixelSize,
    pixel_size_entries,
)
from ...paths import StrPath
from ...resolve import (
    NO_AUTO_SCORE,
    UNDECIDED_BY_PREFER,
    UNKNOWN_COLUMN,
    UNKNOWN_ORDER,
    resolve_score,
)
from ..micrograph_lists import ListedPixelSizes, stated_pixel_sizes
from ..sniff import is_cryosparc
from .dataset import CsFile, CsGroup, as_text, flatten, join_on_uid, key_groups
from .exposures import exposure_pixel_sizes
from .locations import PSIZE as LOCATION_PSIZE
from .locations import plain_locations

if TYPE_CHECKING:
    from cryosparc.dataset import Dataset  # cryosparc-tools ships no type information: Dataset is Any to mypy

    from ..read_request import RowRead, Scale, ScoreRead

__all__ = [
    "NO_MICROGRAPH_FIELD",
    "POSE",
    "CsWriter",
    "Locations",
    "open_micrograph_names",
    "read_cs_files",
    "read_dataset",
    "read_micrograph_names",
]

KEPT, REJECTED = "particles_kept", "particles_rejected"
#: The half-set of a particle in a refinement, and the source of a symmetry-expanded copy.
SPLIT, SOURCE = "alignments3D/split", "sym_expand/src_uid"
#: A particle image: its stack and its index there; a symmetry-expanded copy's slot.
BLOB_PATH, BLOB_IDX, SYM_IDX = "blob/path", "blob/idx", "sym_expand/idx"
#: The orientation of a particle in a refinement: a rotation vector in radians.
POSE = "alignments3D/pose"
#: The filament (tube) a helical segment belongs to (docs/design.md section 8).
FILAMENT_UID = "filament/filament_uid"


class _Particles:
    """The merged particle set of all inputs, and how to write its subsets."""

    def __init__(self, inputs: list[Path], warn: Callable[[str], None], same_image: str = "warn") -> None:
        self.inputs = [CsGroup.load(p) for p in inputs]
        #: ``--same-image``: with ``reject``, rows of one uid that differ are kept as rows of one image.
        self.same_image = same_image
        self.groups = _join_passthrough(self.inputs)
        self.dropped: list[str] = []
        self.collapsed = 0
        #: Rows of a uid met before that differ from it, kept (``--same-image reject``).
        self.repeated = 0
        self.counts = [len(g) for g in self.groups]
        self.input_of = np.repeat(np.arange(len(self.groups)), self.counts)  # input of each row
        if len(self.groups) == 1:
            self.group = self.groups[0]
        else:
            self.group = self._merge(warn)

    def _merge(self, warn: Callable[[str], None]) -> CsGroup:
        """One dataset with the fields common to all inputs.

        A uid met twice is collapsed when its rows are the same particle. Rows of one uid that
        differ (two refinements of one selection) are refused, but with ``--same-image reject``
        where the rows name their image: one uid is one image, so they are kept as rows of one
        image and the decision keeps the best of them.
        """
        from cryosparc.dataset import Dataset

        flats = [flatten(g) for g in self.groups]
        common = [f for f in flats[0].fields() if all(f in d.fields() for d in flats[1:])]
        self.dropped = sorted({f for d in flats for f in d.fields()} - set(common))
        if self.dropped:
            warn(f"fields not in every input are left out of the outputs: {', '.join(self.dropped)}")
        merged = Dataset.append_many(
            *[d.filter_fields(common) for d in flats], assert_same_fields=True, repeat_allowed=True
        )
        uid = np.asarray(merged["uid"])
        # Each repeated uid is compared with its first row, all at once.
        _, first_index, inverse = np.unique(uid, return_index=True, return_inverse=True)
        first_of = first_index[inverse.ravel()]
        repeats = np.flatnonzero(first_of != np.arange(len(uid)))
        differ = _rows_differ(merged, repeats, first_of[repeats], common)
        images = BLOB_PATH in common and BLOB_IDX in common
        # (rows naming two particle images are two particles: --same-image joins rows of one image only)
        other_image = _rows_differ(merged, repeats, first_of[repeats], [BLOB_PATH, BLOB_IDX]) if images else differ
        refused = differ & other_image if self.same_image == "reject" and images else differ
        if refused.any():
            row = int(repeats[np.argmax(refused)])
            self._refuse_uid_twice(merged, row, int(first_of[row]), common, images and not other_image.any())
        self.repeated = int(np.count_nonzero(differ))
        if self.repeated:
            warn(
                f"{counted(self.repeated, 'particle')} {'is' if self.repeated == 1 else 'are'} in two inputs with "
                "different values (refined apart?): each kept as rows of one image, of which --same-image reject "
                "keeps the best"
            )
        keep_rows = np.sort(np.concatenate([first_index, repeats[differ]]))
        self.collapsed = len(uid) - len(keep_rows)
        if self.collapsed:
            warn(
                f"{counted(self.collapsed, 'particle')} {'appears' if self.collapsed == 1 else 'appear'} in more than "
                f"one input and {'is' if self.collapsed == 1 else 'are'} counted once"
            )
            merged = merged.take(keep_rows)
            self.input_of = self.input_of[keep_rows]
        encoding = self.groups[0].files[0].encoding
        single = CsFile(merged, encoding)
        slots = {f.split("/")[0]: 0 for f in common if "/" in f}
        csg = self.groups[0].csg
        return CsGroup(self.groups[0].path, [single], slots, [np.arange(len(single))], csg, ["merged"])

    def _refuse_uid_twice(self, merged: Dataset, row: int, first: int, fields: list[str], images: bool) -> NoReturn:
        """One line naming both inputs, the uid and the fields in which its two rows differ."""
        one = np.array([row])
        differing = [f for f in fields if _rows_differ(merged, one, np.array([first]), [f])[0]]
        listed = ", ".join(differing[:4]) + (f" and {len(differing) - 4} more" if len(differing) > 4 else "")
        a, b = (self.groups[int(self.input_of[k])].path for k in (first, row))
        raise CryodedupError(
            f"{a} and {b}: uid {int(merged['uid'][row])} is in both with different {listed}: rows of one uid are "
            "joined as one particle and must agree (two refinements of one selection?); give one of them"
            + (", or --same-image reject to keep the best row of each particle image" if images else "")
        )


class CsWriter:
    """Writes kept and rejected as the input's files.

    One .cs per file of the (merged) group, its passthrough files, and a .csg for a result group.
    """

    def __init__(
        self,
        group: CsGroup,
        outdir: Path,
        inputs: list[Path],
        stems: tuple[str, str] = (KEPT, REJECTED),
        uids_repeat: bool = False,
    ):
        self.group, self.inputs, self.stems = group, inputs, stems
        #: Whether a uid may be in two rows (``--same-image reject``): never two of them kept.
        self.uids_repeat = uids_repeat
        self.paths = {stem: [outdir / n for n in group.output_names(stem)] for stem in stems}
        self.outputs = self.paths[stems[0]] + self.paths[stems[1]]
        #: The location fields ``--transform`` moved (every row's), written in place of the group's own.
        self.moved: dict[str, np.ndarray] = {}
        #: Fields the kept rows take from elsewhere (every row's, as the field's type: ``select --take``).
        self.taken: dict[str, np.ndarray] = {}

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """As :class:`~cryodedup.particle_set.MovingSubsetWriter` says: ``location/center_x_frac`` and ``_y_frac``.

        The reader's centre is ``center_x_frac * nx * psize``: a move of d Å adds d / (nx * psize).
        """
        shape = np.asarray(self.group.column("location/micrograph_shape"))[rows]  # [ny, nx]
        for axis, (name, size) in enumerate((("location/center_x_frac", 1), ("location/center_y_frac", 0))):
            values = self.moved.get(name, np.array(self.group.column(name), dtype=np.float64))
            values[rows] += shift_A[:, axis] / (shape[:, size] * psize)
            self.moved[name] = values
        return "its rows written with the moved location (center_x_frac, center_y_frac), every other field as read"

    def write_into(self, keep: np.ndarray, targets: dict[Path, Path]) -> None:
        """Writes kept and rejected to ``targets[output]``, the temporary names of a caller's outputs."""
        for stem, selected in zip(self.stems, (keep, ~keep)):
            files = self.paths[stem]
            self.group.write_subset(selected, [targets[f] for f in files], [f.name for f in files])

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the rows where ``keep`` is True as kept, the others as rejected, all or nothing.

        ``halves`` (0 or 1 per row), where given, is the kept rows' ``alignments3D/split``.
        """
        if self.uids_repeat:
            self._refuse_a_uid_kept_twice(keep)
        with AtomicOutputs(self.outputs, force=force, inputs=self.inputs) as tmp:
            for stem, selected in zip(self.stems, (keep, ~keep)):
                files = self.paths[stem]
                values = {SPLIT: halves} if halves is not None and stem == self.stems[0] else {}
                values = {**values, **{name: v.astype(np.float32) for name, v in self.moved.items()}}
                values = {**values, **self.taken} if stem == self.stems[0] else values
                self.group.write_subset(selected, [tmp[f] for f in files], [f.name for f in files], values or None)
        return {"kept": self.paths[self.stems[0]], "rejected": self.paths[self.stems[1]]}

    def _refuse_a_uid_kept_twice(self, keep: np.ndarray) -> None:
        """Refuses to write one uid twice into the kept particles (CryoSPARC takes a uid as one particle)."""
        uids = np.sort(np.asarray(self.group.column("uid"))[keep])
        twice = uids[1:][uids[1:] == uids[:-1]]
        if twice.size:
            raise CryodedupError(
                f"uid {int(twice[0])} would be kept twice ({twice.size:,} such particles): its two rows lie at one "
                "centre and neither was taken for a duplicate of the other (orientations more than --max-angle "
                "apart, or segments of one filament); give one of the inputs"
            )


#: The fields that name a particle's micrograph: its exposure's uid, else its path.
MICROGRAPH_UID, MICROGRAPH_PATH = "location/micrograph_uid", "location/micrograph_path"
#: What a file that names no micrograph the job knows lacks.
NO_MICROGRAPH_FIELD = f"no {MICROGRAPH_UID} or micrograph_path to match micrographs"


def open_micrograph_names(path: Path) -> CsGroup:
    """A ``.cs``/``.csg`` of particles to be read for their micrographs alone, checked for a field naming them.

    A group of several files is joined into one dataset (its subsets are then one ``.cs``
    with every field).
    """
    group = CsGroup.load(path)
    if not (group.has(MICROGRAPH_UID) or group.has(MICROGRAPH_PATH)):
        raise InputFileError(f"{path}: {NO_MICROGRAPH_FIELD}")
    if len(group.files) > 1:
        single = CsFile(flatten(group), group.files[0].encoding)
        group = CsGroup(group.path, [single], dict.fromkeys(group.slots, 0), [np.arange(len(single))])
    return group


def read_micrograph_names(
    group: CsGroup, outdir: Path, stems: tuple[str, str]
) -> tuple[ParticleSet, PlacedSubsetWriter]:
    """The rows of ``group`` by micrograph, without their locations, and their subsets' writer.

    ``mic_names`` are the micrograph paths (``named`` False and ``groups`` -1 when the file
    has none), ``mic_uids`` the micrograph uids where the file has them; the writer writes the
    kept and the rejected rows as the ``stems`` in ``outdir``.
    """
    uids = group.column(MICROGRAPH_UID) if group.has(MICROGRAPH_UID) else None
    names: list[str] | None = None
    rows = np.full(len(group), -1, dtype=np.int64)
    if group.has(MICROGRAPH_PATH):
        paths = group.column(MICROGRAPH_PATH)
        by_path = key_groups(paths)
        rows, names = by_path.ids, as_text(paths[by_path.first], f"{group.path}: {MICROGRAPH_PATH}")
    writer = CsWriter(group, outdir, [group.path], stems)
    return ParticleSet.names_only(group.path, names, rows, writer, uids), writer


@dataclass
class Locations:
    """Picks located on micrographs, written as CryoSPARC particles with a ``location`` slot.

    The inverse of :func:`read_group`'s centres: ``center_x_frac`` = x / nx and
    ``center_y_frac`` = y / ny, ``micrograph_shape`` ``[ny, nx]``, as CryoSPARC's pickers
    write them. ``paths``, ``shapes`` and ``mic_uids`` are by micrograph; ``mic`` (each
    pick's micrograph), ``centres`` (pixels, x and y) and ``score`` (or None) by pick.
    """

    paths: list[str]
    shapes: np.ndarray
    mic_uids: np.ndarray
    psize: float
    mic: np.ndarray
    centres: np.ndarray
    score: np.ndarray | None

    def records(self, rows: np.ndarray, uid: np.ndarray) -> np.ndarray:
        """The picks ``rows`` as records: ``uid``, the location slot, and ``pick_stats/ncc_score`` if scored."""
        width = max([len(n.encode()) for n in self.paths] + [1])
        fields = [
            ("location/micrograph_uid", "<u8"),
            ("location/exp_group_id", "<u4"),
            ("location/micrograph_path", f"S{width}"),
            ("location/micrograph_shape", "<u4", (2,)),
            ("location/micrograph_psize_A", "<f4"),
            ("location/center_x_frac", "<f4"),
            ("location/center_y_frac", "<f4"),
            ("location/min_dist_A", "<f4"),
        ] + ([("pick_stats/ncc_score", "<f4")] if self.score is not None else [])
        data = np.zeros(len(rows), dtype=[("uid", "<u8"), *fields])
        data["uid"] = uid
        m = self.mic[rows]
        data["location/micrograph_uid"] = self.mic_uids[m]
        data["location/micrograph_path"] = np.array([self.paths[k].encode() for k in m], dtype=f"S{width}")
        data["location/micrograph_shape"] = self.shapes[m]
        data["location/micrograph_psize_A"] = self.psize
        data["location/center_x_frac"] = self.centres[rows, 0] / self.shapes[m, 1]
        data["location/center_y_frac"] = self.centres[rows, 1] / self.shapes[m, 0]
        if self.score is not None:
            data["pick_stats/ncc_score"] = self.score[rows]
        return data

    def save(self, rows: np.ndarray, uid: np.ndarray, path: Path) -> None:
        """Writes the picks ``rows`` to ``path`` as a ``.cs`` (numpy encoding, through :meth:`CsFile.save`).

        As a cryosparc-tools Dataset, whose numpy encoding writes each path as wide as the
        longest in this file (CryoSPARC's own pickers' files read the same).
        """
        from cryosparc.dataset import Dataset

        CsFile(Dataset(self.records(rows, uid)), "numpy").save(path)


def _join_passthrough(inputs: list[CsGroup]) -> list[CsGroup]:
    """The inputs grouped into datasets, each joined on uid.

    Inputs that hold the same uids in different slots (a particle file and its passthrough
    file) are one dataset, joined on uid as a ``.csg`` would; inputs with other uids are
    other datasets (other pickers), merged later on their common fields. Inputs that share
    only some uids and hold different slots are refused: neither reading fits.
    """
    if len(inputs) == 1:  # nothing to join it with: its uids are not sorted (a million: 10-15 ms, issue 43)
        return list(inputs)
    datasets: list[list[CsGroup]] = []
    uids: list[np.ndarray] = []
    for group in inputs:
        mine = np.sort(group.column("uid"))
        for members, theirs in zip(datasets, uids):
            if np.array_equal(mine, theirs) and not set(group.slots) & {s for m in members for s in m.slots}:
                members.append(group)
                break
        else:
            datasets.append([group])
            uids.append(mine)
    for a in range(len(datasets)):
        for b in range(a):
            slots_a = {s for m in datasets[a] for s in m.slots}
            slots_b = {s for m in datasets[b] for s in m.slots}
            shared = np.intersect1d(uids[a], uids[b]).size
            if shared and not slots_a & slots_b:
                raise CryodedupError(
                    f"{datasets[b][0].path} and {datasets[a][0].path} share {shared} particle uids "
                    f"({len(uids[b])} and {len(uids[a])} particles) but hold different slots "
                    f"({', '.join(sorted(slots_b))} / {', '.join(sorted(slots_a))}): a particle file and its "
                    "passthrough file hold the same particles, so these cannot be joined (give the passthrough "
                    "file of the same output)"
                )
    return [join_on_uid(members) if len(members) > 1 else members[0] for members in datasets]


def _rows_differ(d: Dataset, rows: np.ndarray, others: np.ndarray, fields: list[str]) -> np.ndarray:
    """Whether each of ``rows`` differs from its row in ``others`` in any of ``fields`` (NaN differs)."""
    differ = np.zeros(len(rows), dtype=bool)
    if not len(rows):  # no uid met twice
        return differ
    for f in fields:
        column = np.asarray(d[f])
        differ |= ~np.asarray(column[rows] == column[others]).reshape(len(rows), -1).all(axis=1)
    return differ


def _micrograph_groups(group: CsGroup) -> tuple[KeyGroups, str]:
    for key in ("location/micrograph_uid", "location/micrograph_path"):
        if group.has(key):
            return key_groups(group.column(key)), key
    raise InputFileError(
        _misplaced_location(group)
        or f"{group.path}: no location slot (location/micrograph_uid, center_x_frac, ...): the particles are "
        "not linked to micrographs, so their positions are unknown. Give the output of a job that keeps "
        "the location (an extraction, or a result group with its passthrough files)"
    )


def _misplaced_location(group: CsGroup) -> str | None:
    """Why a .csg's particles have no location when one of its files holds it (a hand-edited ``results:``)."""
    if group.csg is None:
        return None
    holding = [k for k, cs in enumerate(group.files) if any(f.startswith("location/") for f in cs.fields)]
    if "location" in group.slots:
        named = group.slots["location"]
        where = f" ('{group.metafiles[holding[0]]}' holds them)" if holding else ""
        return (
            f"{group.path}: its results: put the location slot in '{group.metafiles[named]}', which holds "
            f"no location/ field{where}; correct the location entry's metafile"
        )
    if holding:
        return (
            f"{group.path}: its results: name no location slot, though '{group.metafiles[holding[0]]}' holds "
            "location/ fields; add a location entry naming that file"
        )
    return None


def _micrograph_pixel_size(
    group: CsGroup, scale: Scale, located: CsLocations | None, warn: Callable[[str], None]
) -> tuple[np.ndarray | float, str]:
    """Each particle's micrograph pixel size, and its source, from where the job decided (``scale.psize_from``).

    ``located``: the rows' locations as the core read them, where it did (their own pixel sizes).
    A typed ``--mic-psize`` is checked against the particles' own and the exposures' (:func:`_given_source`).
    """
    if scale.psize_from is PsizeFrom.GIVEN:
        return scale.given_psize, _given_source(group, scale, warn)
    if scale.psize_from is PsizeFrom.LISTED and scale.micrographs is not None:
        return _exposure_pixel_sizes(group, scale.micrographs)
    return _location_pixel_size(group, located)


#: The particles' pixel size (of their images, after any binning at extraction).
BLOB_PSIZE = "blob/psize_A"
#: Why a --mic-psize equal to the particles' blob/psize_A is refused.
BINNED_AT_EXTRACTION = f"the particles' {BLOB_PSIZE} (binned at extraction)"


def _distinct(group: CsGroup, field: str) -> tuple[float, ...]:
    """The distinct values of a pixel-size field of the particles (none where the group lacks it)."""
    return tuple(np.unique(group.column(field)).tolist()) if group.has(field) else ()


def _given_source(group: CsGroup, scale: Scale, warn: Callable[[str], None]) -> str:
    """The summary's source of a typed ``--mic-psize``, as the job's judge (``scale.judge_psize``) finds it.

    The judge is handed what the particles' ``location/micrograph_psize_A`` states (with their
    ``blob/psize_A``, a trap where the particles were extracted with Fourier cropping, and a
    bound where no micrograph pixel is stated) and the exposures' ``micrograph_blob/psize_A``
    given with ``--micrographs``.
    """
    given = scale.given_psize
    listed = stated_pixel_sizes(scale.micrographs, given)
    lists = () if listed is None else (listed,)
    if group.has(LOCATION_PSIZE) or group.has(BLOB_PSIZE):
        micrographs = _distinct(group, LOCATION_PSIZE)
        # (The file that holds what witnesses: the slots of a joined group lie in different files.)
        held = LOCATION_PSIZE if any(v > 0 for v in micrographs) else BLOB_PSIZE
        own = StatedPixelSizes(
            f"in {group.file_of(held)}",
            micrographs,
            LOCATION_PSIZE,
            traps=_distinct(group, BLOB_PSIZE),
            trap_reason=BINNED_AT_EXTRACTION,
            traps_field=BLOB_PSIZE,
        )
        lists = (own, *lists)
    return scale.judge_psize(TypedPixelSize(given, scale.insist_psize, f"{group.path}: ", lists=lists), warn)


def _exposure_pixel_sizes(group: CsGroup, exposures: Path) -> tuple[np.ndarray, str]:
    """The pixel size of each particle's exposure in the exposures ``--micrographs`` gives, by micrograph uid."""
    if not is_cryosparc(exposures):  # a micrographs STAR: CryoSPARC particles name exposures by uid
        raise CryodedupError(
            f"--micrographs {exposures}: CryoSPARC particles take their micrograph pixel size from "
            "the exposures (a .cs or .csg with micrograph_blob/psize_A), matched by micrograph uid, not from a "
            "micrographs STAR; give the exposures, or the pixel size with --mic-psize"
        )
    # Looked up as every reader looks a micrograph up in a list (one wording for what is missing),
    # by uid: no path, so nothing is found by file name.
    listed = {f"uid {uid}": psize for uid, psize in exposure_pixel_sizes(exposures).items()}
    uids = group.column("location/micrograph_uid")
    by_uid = key_groups(uids)
    exposure_list = ListedPixelSizes(exposures, listed, "path", "micrograph_blob/psize_A")
    names = [f"uid {uid}" for uid in uids[by_uid.first].tolist()]
    psize, _ = exposure_list.sizes(str(group.path), names)  # one per micrograph
    return psize[by_uid.ids], exposure_list.source(len(by_uid), 0)


def _location_pixel_size(group: CsGroup, located: CsLocations | None) -> tuple[np.ndarray, str]:
    """The particles' own ``location/micrograph_psize_A``, when every one is > 0."""
    if located is not None:
        if located.psize_positive:
            return located.psize, LOCATION_PSIZE
    elif group.has(LOCATION_PSIZE):
        psize = group.column(LOCATION_PSIZE).astype(np.float64)
        if np.all(psize > 0):
            return psize, LOCATION_PSIZE
    raise InputFileError(
        f"{group.path}: no micrograph pixel size (location/micrograph_psize_A is absent or 0); give it with "
        "--mic-psize, or the exposures with --micrographs"
    )


def _shift(
    group: CsGroup, shift_key: str, warn: Callable[[str], None]
) -> tuple[np.ndarray | None, np.ndarray | float, str]:
    """The alignment shifts [x, y] in alignment pixels, their pixel size, and the slot used."""
    if shift_key == "auto":
        shift_key = next((s for s in ("alignments3D", "alignments2D") if group.has(f"{s}/shift")), "none")
    if shift_key == "none":
        return None, 0.0, "none"
    if not group.has(f"{shift_key}/shift"):
        raise InputFileError(f"{group.path}: --shift-key {shift_key}, but there is no {shift_key}/shift field")
    shift = group.column(f"{shift_key}/shift").astype(np.float64)
    if group.has(f"{shift_key}/psize_A"):
        return shift, group.column(f"{shift_key}/psize_A").astype(np.float64), f"{shift_key}/shift"
    if group.has("blob/psize_A"):
        warn(f"no {shift_key}/psize_A: the shifts are taken to be in pixels of blob/psize_A")
        return shift, group.column("blob/psize_A").astype(np.float64), f"{shift_key}/shift"
    raise InputFileError(f"{group.path}: no {shift_key}/psize_A or blob/psize_A to give the shifts' pixel size")


def _score(
    group: CsGroup, score_read: ScoreRead, shift_slot: str, warn: Callable[[str], None]
) -> tuple[np.ndarray | None, str | None, bool]:
    """The score field's values, its name and whether higher is better.

    ``auto`` without a known score field falls back to the seeded random ranking, as
    CryoSPARC's ``none``.
    """
    slot = shift_slot.split("/")[0]
    auto = ("pick_stats/ncc_score", f"{slot}/error", "alignments3D/error", "alignments2D/error")
    chosen = resolve_score(score_read.score, score_read.score_order, auto, group.has)
    label = chosen.label
    if chosen.problem == NO_AUTO_SCORE:
        warn(
            f"--score auto: {group.path.name} has no pick_stats/ncc_score nor alignment error, so each group of "
            f"duplicates {UNDECIDED_BY_PREFER if score_read.preferred_first else ''}keeps a seeded random particle "
            f"(seed {score_read.seed}), as with --score none; "
            "rank by a field with --score FIELD"
        )
    if label is None:  # --score none, or no score found (warned above)
        return None, None, True
    if chosen.problem == UNKNOWN_COLUMN:
        numeric = [
            f for f in group.fields if f != "uid" and group.column(f).dtype.kind in "iuf" and group.column(f).ndim == 1
        ]
        raise InputFileError(
            f"{group.path}: unknown score field {label!r}; numeric fields present: {', '.join(numeric)}"
        )
    if chosen.problem == UNKNOWN_ORDER:
        raise CryodedupError(f"--score {label}: say whether higher or lower is better with --score-order max or min")
    return group.column(label).astype(np.float64), label, chosen.higher_is_better


def _poses(group: CsGroup) -> np.ndarray:
    """The orientations of a refinement (``alignments3D/pose``, rotation vectors in radians), as :func:`_as_rotvec`."""
    if not group.has(POSE):
        raise InputFileError(
            f"{group.path}: --max-angle or --min-dist-ellipsoid needs the orientations, and there is no {POSE} field"
        )
    return _as_rotvec(group.column(POSE))


def _as_rotvec(poses: np.ndarray) -> np.ndarray:
    """CryoSPARC's poses (n, 3) as the core's ``"rotvec"``, the rotation vector of RELION's matrix ``A``: negated.

    pyem's ``csparc2star`` (``rot2euler(expmap(pose))``) and cryoDRGN (``expmap`` then ``.T``) read a pose ``v``
    as ``A`` = the transpose of the rotation by ``v``, which is the rotation by ``-v``. Angles between two poses
    are the same either way; under a point group (``A`` and ``A S`` one orientation) they are not
    (docs/developers/decisions/half-sets.md, Orientations). Only what the core compares is negated: files are
    written as read.
    """
    return -np.asarray(poses, dtype=np.float64).reshape(-1, 3)


def _halfsets(group: CsGroup, warn: Callable[[str], None]) -> HalfSets | None:
    """The half-sets of a refinement (``alignments3D/split``: 0 or 1), if the particles have them."""
    if not group.has(SPLIT):
        return None
    half, problem = read_halves(group.column(SPLIT).astype(np.float64), ("0", "1"), SPLIT, str(group.path))
    if half is None:
        warn(problem)
        return None
    return HalfSets(SPLIT, half, ("0", "1"))


def _images(group: CsGroup) -> Images | None:
    """Each row's particle image: ``blob/path`` and ``blob/idx`` (None without them).

    Keyed as a STAR file's ``index@stack`` is, so one image has one key in any input. A
    symmetry-expanded copy (``sym_expand/idx``) is an image of its own: copies share their
    blob by design and are not the same image twice.
    """
    if not (group.has(BLOB_PATH) and group.has(BLOB_IDX)):
        return None
    paths = group.column(BLOB_PATH)
    # Rows of one stack follow each other: the names are hashed once a run, not once a row.
    starts = np.flatnonzero(np.concatenate([[True], paths[1:] != paths[:-1]])) if paths.size else np.zeros(0, int)
    heads = [p.encode() if isinstance(p, str) else bytes(p) for p in paths[starts].tolist()]
    hashes = _core.stack_hashes(heads)
    stacks = np.repeat(hashes, np.diff(np.append(starts, paths.size)))
    index = np.ascontiguousarray(group.column(BLOB_IDX), dtype=np.uint32)
    copy_of_stack = None
    if group.has(SYM_IDX):
        index, stacks, folded = _with_copies(index, group.column(SYM_IDX), stacks)
        copy_of_stack = None if folded else group.column(SYM_IDX)
    runs, listed = _core.image_runs(stacks, index)

    def names(rows: np.ndarray) -> list[str]:
        texts = as_text(paths[rows], f"{group.path}: {BLOB_PATH}")
        return [f"{text} #{int(i)}" for text, i in zip(texts, group.column(BLOB_IDX)[rows])]

    def stack_ids(rows: np.ndarray) -> np.ndarray:  # the path (and the copy, where it is told by its stack)
        ids = np.unique(paths[rows], return_inverse=True)[1].reshape(-1).astype(np.int64)
        if copy_of_stack is None:
            return ids
        return np.unique(np.stack([ids, copy_of_stack[rows].astype(np.int64)], axis=1), axis=0, return_inverse=True)[
            1
        ].reshape(-1)

    label = f"{BLOB_PATH} + {BLOB_IDX}" + (f" + {SYM_IDX}" if group.has(SYM_IDX) else "")
    return Images(listed, runs, label, names, stack_ids)


def _with_copies(index: np.ndarray, copy: np.ndarray, stacks: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The indices (and stacks) of symmetry-expanded rows: each copy an image of its own.

    Copy ``c`` of image ``i`` is index ``i * copies + c`` of its stack (a stack's rows keep
    their runs); where that passes uint32 (4 billion images a stack: never in practice), the
    copy is told by its stack instead, hashed with the copy's number. The last value: whether
    the copies are in the indices.
    """
    copy = copy.astype(np.uint64)
    copies = np.uint64(int(copy.max(initial=0)) + 1)
    combined = index.astype(np.uint64) * copies + copy
    if combined.max(initial=0) <= np.iinfo(np.uint32).max:
        return combined.astype(np.uint32), stacks, True
    return index, stacks ^ ((copy + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)), False


def _mic_names(group: CsGroup, key: str, first: np.ndarray) -> list[str]:
    """Micrograph names by id.

    The micrograph path where the location slot has one (that of the micrograph's first
    row), else the uid.
    """
    if group.has("location/micrograph_path"):
        return as_text(group.column("location/micrograph_path")[first], f"{group.path}: location/micrograph_path")
    return [str(u) for u in group.column(key)[first].tolist()]


def _mic_shapes(group: CsGroup, last: np.ndarray) -> dict[int, tuple[int, int]]:
    """Each micrograph's (ny, nx), from its last row."""
    shape = group.column("location/micrograph_shape")[last].astype(np.int64).tolist()
    return {g: (s[0], s[1]) for g, s in enumerate(shape)}


def _unshifted_centres(
    group: CsGroup, psize_mic: np.ndarray | float, located: CsLocations | None
) -> tuple[np.ndarray, int | None]:
    """The centres in Å before any shift, and the first row whose micrograph_shape has a 0 (or None)."""
    if located is not None:
        return located.centres, located.zero_shape
    shape = group.column("location/micrograph_shape").astype(np.float64)  # [ny, nx]
    zero = np.flatnonzero(~(shape > 0).all(axis=1)) if shape.size else np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):  # a centre that overflows is refused by the job
        centres = np.stack(
            [
                group.column("location/center_x_frac") * shape[:, 1] * psize_mic,
                group.column("location/center_y_frac") * shape[:, 0] * psize_mic,
            ],
            axis=1,
        )
    return centres, int(zero[0]) if zero.size else None


def warn_off_micrograph(
    group: CsGroup, located: CsLocations | None, inputs: list[str], input_of: np.ndarray, warn: Callable[[str], None]
) -> None:
    """Warns of centres off their micrograph: a ``center_x_frac`` or ``center_y_frac`` below 0 or above 1.

    CryoSPARC writes fractions of the micrograph, so such a file was made or edited elsewhere;
    the centres are used as they are (their distances are still measured), but the user is told.
    """
    if located is not None:
        count, first = located.off_micrograph, located.first_off_micrograph
    else:
        x, y = group.column("location/center_x_frac"), group.column("location/center_y_frac")
        off = np.flatnonzero((x < 0) | (x > 1) | (y < 0) | (y > 1))
        count, first = len(off), (int(off[0]) if len(off) else None)
    if not count or first is None:
        return
    k = int(input_of[first])
    row = int(np.count_nonzero(input_of[:first] == k))  # its row among its input's rows
    fx, fy = (float(group.column(f"location/center_{axis}_frac")[first]) for axis in "xy")
    uid = f" (uid {int(group.column('uid')[first])})" if group.has("uid") else ""  # (a joined file's rows: by uid)
    warn(
        f"{inputs[k]}: {count:,} particle(s) lie off their micrograph (location/center_x_frac or center_y_frac "
        f"outside 0 to 1; the first is particle {row + 1}{uid}: {fx:g}, {fy:g}); their centres are used as they are"
    )


def read_group(
    group: CsGroup,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Callable[[str], None],
    inputs: list[str],
    input_of: np.ndarray,
) -> ParticleSet:
    """The ParticleSet of one (possibly merged) particle group, without a writer."""
    by_micrograph, key = _micrograph_groups(group)
    groups = by_micrograph.ids
    for needed in ("location/center_x_frac", "location/center_y_frac", "location/micrograph_shape"):
        if not group.has(needed):
            raise InputFileError(f"{group.path}: the location slot has no {needed} field")
    # The core reads the locations in one pass where the pixel sizes are the rows' own.
    own_psize = scale.psize_from is PsizeFrom.OWN
    located = plain_locations(group) if own_psize else None
    psize_mic, psize_source = _micrograph_pixel_size(group, scale, located, warn)
    shift, psize_align, shift_used = _shift(group, row_read.shift_key, warn)
    scores, score_label, higher = _score(group, score_read, shift_used, warn)
    centres, zero_shape = _unshifted_centres(group, psize_mic, located)
    if zero_shape is not None:
        shape = group.column("location/micrograph_shape")[zero_shape].astype(int).tolist()
        raise InputFileError(
            f"{group.path}: particle {zero_shape + 1} has location/micrograph_shape {shape}; "
            "the fractional centres need the micrograph's size in pixels (> 0)"
        )
    warn_off_micrograph(group, located, inputs, input_of, warn)
    if shift is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # a centre that overflows is refused by the job
            centres -= shift * np.reshape(psize_align, (-1, 1))
    # What is read per micrograph is read from one of its rows (its first or last): work per
    # micrograph, not per particle (a Python loop over a million rows cost seconds; issue 29).
    first, last = by_micrograph.first, by_micrograph.last
    filament = group.has(FILAMENT_UID)  # docs/design.md section 8
    # filament_uid is a uint64 hash: compared exactly, as its rank among the uids present.
    tube_values = key_groups(group.column(FILAMENT_UID)).ids if filament else None
    return ParticleSet(
        inputs=inputs,
        input_of=input_of,
        mic_names=_mic_names(group, key, first),
        groups=groups,
        centres=centres,
        psize=np.broadcast_to(np.asarray(psize_mic, dtype=np.float64), groups.shape),
        pixel_sizes=pixel_size_entries(psize_mic, psize_source),
        scores=scores,
        score_label=score_label,
        higher_is_better=higher,
        shift=shift_used,
        mic_shapes=_mic_shapes(group, last),
        summary={"micrograph_key": key},
        tubes=None if tube_values is None else tube_ids(input_of, groups, tube_values.astype(np.float64)),
        tube_column=FILAMENT_UID if filament else None,
        halfsets=_halfsets(group, warn),
        sources=group.column(SOURCE) if group.has(SOURCE) else None,
        sources_label=SOURCE,
        images=_images(group) if row_read.images else None,
        poses=_poses(group) if row_read.orientations else None,
        pose_kind="rotvec",
        pose_label=POSE,
        pose_convention="cryosparc",
        row_names=_uids(group),
        pose_rows=_pose_rows(group),
    )


def _pose_rows(group: CsGroup) -> Callable[[np.ndarray], np.ndarray] | None:
    """Some rows' ``alignments3D/pose`` (as :func:`_as_rotvec`), read when asked; None without the field."""
    if not group.has(POSE):
        return None
    return lambda rows: _as_rotvec(group.column(POSE)[rows])


def _uids(group: CsGroup) -> Callable[[np.ndarray], list[str]] | None:
    """Each row's name as CryoSPARC gives a particle one: ``uid N`` (None: an array without uids).

    Unsigned uids (CryoSPARC's) are numbered names (:class:`NumberedNames`: the core's record writes them).
    """
    if not group.has("uid"):
        return None
    if group.column("uid").dtype.kind == "u":
        return NumberedNames(lambda rows: (["uid "], np.zeros(len(rows), np.uint32), group.column("uid")[rows]))
    return lambda rows: [f"uid {u}" for u in group.column("uid")[rows].tolist()]


def read_cs_files(
    inputs: list[Path],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Callable[[str], None],
    log: Log,
) -> ParticleSet:
    """Reads CryoSPARC particle files into one ParticleSet.

    A particle file and its passthrough files are joined on uid; other inputs are merged on
    their common fields. The set's writer writes ``OUTDIR/particles_kept.cs`` and
    ``particles_rejected.cs`` (with passthrough files and a .csg for a result group).
    """
    particles = _Particles(inputs, warn, row_read.same_image)
    group = particles.group
    names = [str(g.path) for g in particles.groups]
    found = read_group(group, scale, score_read, row_read, warn, names, particles.input_of)
    # Every file read, the files a .csg names included: none may be overwritten by an output.
    read_files = [Path(p) for p in inputs] + [cs.path for g in particles.inputs for cs in g.files if cs.path]
    found.read_files = read_files
    found.writer = CsWriter(group, Path(outdir), read_files, uids_repeat=particles.repeated > 0)
    found.summary.update(
        {
            "input_files": [{"file": str(g.path), "particles": len(g)} for g in particles.inputs],
            "dropped_fields": particles.dropped,
            "collapsed_uids": particles.collapsed,
        }
    )
    return found


def read_dataset(
    cs: CsFile, scale: Scale, score_read: ScoreRead, row_read: RowRead, warn: Callable[[str], None]
) -> ParticleSet:
    """A cryosparc-tools Dataset or numpy structured array in memory, read into a ParticleSet.

    The set has no writer: the caller holds the data.
    """
    slots = {f.split("/")[0]: 0 for f in cs.fields if "/" in f}
    name = f"<{type(cs.data).__name__}>"
    group = CsGroup(Path(name), [cs], slots, [np.arange(len(cs))])
    return read_group(group, scale, score_read, row_read, warn, [name], np.zeros(len(cs), dtype=np.int64))
