r"""CryoSPARC datasets: ``.cs`` files in both encodings, and ``.csg`` result groups.

A classic ``.cs`` (magic ``\x93NUMPY``) is a numpy structured array: it is read with
``np.load`` and its row subsets written with ``np.save``, so fields, dtypes (string widths
included) and bytes of every row stay as they were. A compressed ``.cs`` (magic
``\x95CSDAT``) is read and written with cryosparc-tools' ``Dataset``. A ``.csg`` (YAML)
names, per slot, the ``.cs`` file that holds it; the files share one set of ``uid``.
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Union

import numpy as np
from numpy.typing import ArrayLike

import cryodedup._core as _core

from ..._core import KeyGroups
from ...errors import CryodedupError, InputFileError
from ...paths import StrPath
from ..files import check_regular_file, read_foreign

if TYPE_CHECKING:
    from cryosparc.dataset import Dataset  # cryosparc-tools ships no type information: Dataset is Any to mypy

__all__ = [
    "NUMPY_MAGIC",
    "CsFile",
    "CsGroup",
    "append_rows",
    "appendable",
    "as_text",
    "flatten",
    "join_on_uid",
    "key_groups",
]

#: The rows of a ``.cs`` file: a numpy structured array, or a cryosparc-tools Dataset.
CsData = Union[np.ndarray, "Dataset"]

NUMPY_MAGIC = b"\x93NUMPY"
#: Bytes of rows gathered at a time when a subset is written.
WRITE_CHUNK_BYTES = 8 << 20
CSDAT_MAGIC = b"\x95CSDAT"


def _one_row_per_particle(data: np.ndarray, path: Path) -> np.ndarray:
    """Refuses a numpy file that is not a one-dimensional table of named fields with a uid."""
    if not data.dtype.names or data.ndim != 1:
        shape = "x".join(map(str, data.shape))
        raise InputFileError(
            f"{path}: a {shape} array{' of named fields' if data.dtype.names else ''}; a CryoSPARC dataset "
            "is a one-dimensional table of named fields"
        )
    if "uid" not in data.dtype.names:
        raise InputFileError(f"{path}: no uid field; every CryoSPARC dataset has one")
    fields = data.dtype.fields
    assert fields is not None, "a dtype with names has fields"
    _check_field_kinds({name: fields[name][0].base for name in data.dtype.names}, path)
    _check_distinct_uids(data["uid"], path)
    return data


WHOLE, REAL, TEXT = ("iu", "whole numbers"), ("f", "floating-point numbers"), ("SUO", "text")

#: The kind of values each field cryodedup reads holds, as CryoSPARC writes it (numpy's dtype
#: kinds): a field of another kind (a centre as text, a shape as floats) is refused by name.
FIELD_KINDS = {
    "uid": WHOLE,
    "location/micrograph_uid": WHOLE,
    "location/micrograph_path": TEXT,
    "location/micrograph_shape": WHOLE,
    "location/micrograph_psize_A": REAL,
    "location/center_x_frac": REAL,
    "location/center_y_frac": REAL,
    "blob/path": TEXT,
    "blob/idx": WHOLE,
    "blob/shape": WHOLE,
    "blob/psize_A": REAL,
    **{f"{slot}/{name}": REAL for slot in ("alignments2D", "alignments3D") for name in ("shift", "pose", "psize_A")},
    "alignments3D/split": WHOLE,
}


def _check_field_kinds(kinds: dict[str, np.dtype], path: Path) -> None:
    """Refuses a field whose values are not of the kind CryoSPARC writes (:data:`FIELD_KINDS`)."""
    for name, dtype in kinds.items():
        expected = FIELD_KINDS.get(name)
        if expected is not None and dtype.kind not in expected[0]:
            raise InputFileError(f"{path}: field {name} holds {dtype} values, expected {expected[1]}")


def _check_distinct_uids(uid: np.ndarray, path: Path) -> None:
    """Refuses a dataset whose rows share a uid: joins and merges on uid would mix them up."""
    if uid.ndim == 1 and uid.dtype == np.uint64:  # looked up in a table in the core
        # Read where they are (a field of records: strided), unless the records' size leaves them unaligned.
        repeated = _core.repeated_uint64(uid if uid.flags.aligned else np.ascontiguousarray(uid))
    else:
        values, counts = np.unique(uid, return_counts=True)
        repeated = None if len(values) == len(uid) else (values[counts > 1][0], counts.max())
    if repeated is not None:
        raise InputFileError(f"{path}: uid {repeated[0]} is held by {repeated[1]} rows; each particle has its own uid")


class CsFile:
    """The rows of one ``.cs`` file, in its own encoding ("numpy" or "csdat")."""

    def __init__(self, data: CsData, encoding: str, path: Path | None = None) -> None:
        self.data = data
        self.encoding = encoding
        self.path = path

    @classmethod
    def load(cls, path: StrPath) -> CsFile:
        """Reads a ``.cs`` file in either encoding; errors name the file and what is wrong."""
        path = check_regular_file(path, "a CryoSPARC .cs file")
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
            if magic == NUMPY_MAGIC:
                # Mapped, not copied: the job reads a few fields of every row and copies the
                # rows of each output once (hundreds of MB: a copy in memory first cost its
                # page faults and a second pass).
                try:
                    rows = np.load(path, mmap_mode="r", allow_pickle=False, max_header_size=2**24)
                except ValueError:  # truncated, or Python objects: read, to say what numpy says of it
                    rows = np.load(path, allow_pickle=False, max_header_size=2**24)
                return cls(_one_row_per_particle(rows, path), "numpy", path)
            if magic == CSDAT_MAGIC:
                from cryosparc.dataset import Dataset

                data = path.read_bytes()
                check_csdat(path, data)  # cryosparc-tools' decoder can crash on bad bytes
                dataset = Dataset.load(io.BytesIO(data))
                # (from the header's description: no column decoded, not even the paths)
                _check_field_kinds({field[0]: np.dtype(field[1]) for field in dataset.descr()}, path)
                _check_distinct_uids(np.asarray(dataset["uid"]), path)
                return cls(dataset, "csdat", path)
        except CryodedupError:
            raise
        except Exception as err:  # numpy and cryosparc-tools raise many kinds on bad bytes
            raise InputFileError(f"{path}: not a readable CryoSPARC dataset, truncated or corrupted ({err})") from None
        if not magic:
            raise InputFileError(f"{path}: the file is empty")
        raise InputFileError(f"{path}: not a CryoSPARC .cs file (it starts with neither \\x93NUMPY nor \\x95CSDAT)")

    @property
    def fields(self) -> list[str]:
        """The names of the fields (columns), in the file's order."""
        if isinstance(self.data, np.ndarray):
            return list(self.data.dtype.names or ())
        return list(self.data.fields())

    def __len__(self) -> int:
        return len(self.data)

    def column(self, name: str) -> np.ndarray:
        """The values of field ``name``, one per row."""
        return np.asarray(self.data[name])

    def take(self, indices: np.ndarray) -> CsFile:
        """The rows at ``indices`` (in that order), in the same encoding."""
        if isinstance(self.data, np.ndarray):
            return CsFile(self.data[indices], self.encoding)
        return CsFile(self.data.take(indices), self.encoding)

    def set_column(self, name: str, values: np.ndarray) -> None:
        """Replaces the values of field ``name`` (these rows are a copy: the input is untouched)."""
        column = self.data[name]
        column[...] = np.asarray(values).astype(column.dtype, copy=False).reshape(column.shape)

    def save_rows(self, rows: np.ndarray, path: StrPath) -> None:
        """Writes the rows at ``rows`` to ``path``: the bytes of ``self.take(rows).save(path)``.

        A numpy-encoded file goes out a few MB of rows at a time, gathered into one buffer:
        no copy of the whole subset in memory first (hundreds of MB for a million particles,
        each page of it faulted in, then written).
        """
        try:
            header = npy_header(self.data.dtype, len(rows))
        except (AttributeError, ValueError, UnicodeError):  # a Dataset, or a header only later formats hold
            self.take(rows).save(path)
            return
        step = max(1, WRITE_CHUNK_BYTES // self.data.dtype.itemsize)
        buffer = np.empty(min(step, len(rows)), dtype=self.data.dtype)
        with open(path, "wb") as f:
            f.write(header)
            for start in range(0, len(rows), step):
                chunk = buffer[: min(step, len(rows) - start)]
                np.take(self.data, rows[start : start + step], out=chunk, mode="clip")  # "raise" buffers out
                f.write(chunk.data)

    def save(self, path: StrPath) -> None:
        """Writes to ``path`` exactly (no ``.npy`` suffix added), in this file's encoding."""
        with open(path, "wb") as f:
            if isinstance(self.data, np.ndarray):
                np.save(f, self.data, allow_pickle=False)
            else:
                from cryosparc.dataset import CSDAT_FORMAT, NUMPY_FORMAT

                self.data.save(f, format=CSDAT_FORMAT if self.encoding == "csdat" else NUMPY_FORMAT)

    def dataset(self) -> Dataset:
        """The rows as a cryosparc-tools Dataset."""
        if isinstance(self.data, np.ndarray):
            from cryosparc.dataset import Dataset

            return Dataset(self.data)
        return self.data


#: LZ4 turns at most this many bytes into one (a run costs 1 byte per 255 plus a little).
LZ4_MAX_RATIO = 255


def check_csdat(path: Path, data: bytes) -> None:
    """Checks a compressed (CSDAT) ``.cs`` file completely, before cryosparc-tools decodes it.

    The layout (cryosparc-tools' ``Dataset.stream``): the magic, a little-endian u32 header
    size, a JSON header (``length``, ``dtype``, ``compression``, ``compressed_fields``), then
    for each field a u32 size and that many bytes (LZ4 blocks for compressed fields), then
    the string heap: NUL-terminated strings that string fields index by byte offset. Every
    size is checked against the bytes present, every compressed field is decompressed to
    exactly its declared size, and every string offset must start a string inside the heap:
    the decoder trusts all of these, and a truncated file made it crash.

    Raises
    ------
    CryodedupError
        One line naming the file and the part (header or field) that is wrong.
    """

    def fail(what: str) -> NoReturn:
        raise InputFileError(f"{path}: not a readable CryoSPARC dataset, truncated or corrupted: {what}")

    pos = len(CSDAT_MAGIC)
    if len(data) < pos + 4:
        fail("the header size is cut off")
    (header_size,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if pos + header_size > len(data):
        fail(f"the header declares {header_size} bytes, {len(data) - pos} are present")
    header = _csdat_header(data[pos : pos + header_size])
    if header is None:
        fail("the header is not the JSON object cryosparc-tools writes")
    pos += header_size
    length, compressed = header["length"], set(header["compressed_fields"])
    string_offsets: list[tuple[str, np.ndarray]] = []
    for spec in header["dtype"] if length else []:
        name, dtype = spec[0], _field_dtype(spec)
        if dtype is None:
            fail(f"field {name!r} has no valid type ({spec[1:]!r})")
        expected = length * dtype.itemsize
        if pos + 4 > len(data):
            fail(f"field {name!r}: its size is cut off")
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            fail(f"field {name!r} declares {size} bytes, {len(data) - pos} are present")
        chunk = data[pos : pos + size]
        pos += size
        if name in compressed:
            raw = _lz4_decompress(chunk, expected)
            if raw is None:
                fail(f"field {name!r}: its compressed bytes do not decode to {length} rows")
        else:
            if size != expected:
                fail(f"field {name!r} holds {size} bytes, {length} rows need {expected}")
            raw = chunk
        if dtype == np.dtype(object):
            string_offsets.append((name, np.frombuffer(raw, dtype="<u8")))
    heap = np.frombuffer(data, dtype=np.uint8, offset=pos)
    if string_offsets and (len(heap) == 0 or heap[-1] != 0):
        fail("the string heap is cut off (it must end with a NUL byte)")
    for name, offsets in string_offsets:
        if len(offsets) and offsets.max() >= len(heap):
            fail(f"field {name!r} names a string past the end of the string heap ({len(heap)} bytes)")
        starts = offsets[offsets > 0]
        if len(starts) and heap[starts - 1].any():
            fail(f"field {name!r} names a string offset inside another string")


def _csdat_header(text: bytes) -> dict | None:
    """The CSDAT header, or None when it is not what cryosparc-tools writes."""
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    ok = (
        isinstance(header, dict)
        and isinstance(header.get("length"), int)
        and header["length"] >= 0
        and isinstance(header.get("dtype"), list)
        and all(isinstance(f, list) and len(f) in (2, 3) and isinstance(f[0], str) for f in header["dtype"])
        and header.get("compression") in (None, "lz4")
        and isinstance(header.get("compressed_fields"), list)
    )
    return header if ok else None


def _field_dtype(spec: list) -> np.dtype | None:
    """The numpy type of one header field ``[name, type]`` or ``[name, type, shape]``."""
    try:
        dtype = np.dtype(spec[1]) if len(spec) == 2 else np.dtype((spec[1], tuple(spec[2])))
    except (TypeError, ValueError):
        return None
    return dtype if dtype.itemsize > 0 else None


def _lz4_decompress(chunk: bytes, size: int) -> bytes | None:
    """``chunk`` decompressed as one LZ4 block of exactly ``size`` bytes, else None.

    Uses the bounds-checked decoder (``LZ4_decompress_safe``) of cryosparc-tools; sizes that
    no LZ4 block of this length can reach are refused before any buffer is allocated.
    """
    from cryosparc.dataset.core import Stream

    if size <= 0 or size > LZ4_MAX_RATIO * len(chunk) + 16 or size >= 2**31:
        return None
    out = np.empty(size, dtype=np.uint8)
    try:
        decoded = Stream().decompress_numpy(chunk, out)
    except ValueError:
        return None
    return out.tobytes() if len(decoded) == size else None


@dataclass
class CsGroup:
    """A particle set held by one or more ``.cs`` files that share their uids.

    ``files[0]`` sets the row order; ``order[k][i]`` is the row of ``files[k]`` that holds
    particle ``i``. ``slots`` maps each slot (field prefix) to the file that holds it.
    """

    path: Path
    files: list[CsFile]
    slots: dict[str, int]
    order: list[np.ndarray]
    csg: dict | None = None
    metafiles: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: StrPath) -> CsGroup:
        """Reads a ``.cs`` file (one file holds every slot) or a ``.csg`` and the files it names."""
        path = Path(path)
        if path.suffix == ".csg":
            return cls._load_csg(path)
        cs = CsFile.load(path)
        slots = {f.split("/")[0]: 0 for f in cs.fields if "/" in f}
        return cls(path, [cs], slots, [np.arange(len(cs))])

    @classmethod
    def _load_csg(cls, path: Path) -> CsGroup:
        import yaml

        data = read_foreign(path, "a CryoSPARC .csg file")
        try:
            csg = yaml.safe_load(data.decode("utf-8"))
            results = csg["results"]
            metafiles = {slot: spec["metafile"] for slot, spec in results.items()}
        except RecursionError:
            raise InputFileError(f"{path}: nested too deeply to be a CryoSPARC result group (.csg)") from None
        except (yaml.YAMLError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
            raise InputFileError(
                f"{path}: not a CryoSPARC result group (.csg) with a results: section ({' '.join(str(err).split())})"
            ) from None
        names = list(dict.fromkeys(metafiles.values()))
        if not names:
            raise InputFileError(f"{path}: its results: section names no .cs file (a CryoSPARC result group expected)")
        files = [CsFile.load(_metafile(path, name)) for name in names]
        order = [np.arange(len(files[0]))]
        uid0 = files[0].column("uid")
        for cs in files[1:]:
            order.append(_align(uid0, cs.column("uid"), path, cs.path))
        slots = {slot: names.index(name) for slot, name in metafiles.items()}
        return cls(path, files, slots, order, csg, names)

    def __len__(self) -> int:
        return len(self.files[0])

    def output_names(self, stem: str) -> list[str]:
        """File names for a subset of this group.

        ``stem.cs`` for the first file, one ``stem_passthrough_K.cs`` per further file, and
        ``stem.csg`` for a result group.
        """
        names = [f"{stem}.cs"] + [f"{stem}_passthrough_{k}.cs" for k in range(1, len(self.files))]
        return names + ([f"{stem}.csg"] if self.csg is not None else [])

    def save_subset(
        self,
        selected: np.ndarray,
        cs_paths: list[Path],
        csg_path: Path | None,
        names: list[str],
        values: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Writes the selected particles, file by file.

        File k of the group goes to ``cs_paths[k]`` (rows in that file's own order), and a
        .csg naming the files ``names`` to ``csg_path`` when given. ``values`` maps a field
        to new values, one per row of the group, written in place of the field's own.
        """
        rows = np.flatnonzero(selected)
        for k, cs in enumerate(self.files):
            in_file = self.order[k][rows]
            order = np.argsort(in_file, kind="stable")
            changed = {name: new for name, new in (values or {}).items() if self.slots.get(name.split("/")[0]) == k}
            if not changed:
                cs.save_rows(in_file[order], cs_paths[k])
                continue
            subset = cs.take(in_file[order])
            for name, new in changed.items():
                subset.set_column(name, np.asarray(new)[rows][order])
            subset.save(cs_paths[k])
        if csg_path is not None and self.csg is not None:
            import yaml

            csg = dict(self.csg)
            csg["results"] = {
                slot: {**spec, "metafile": f">{names[self.slots[slot]]}", "num_items": int(selected.sum())}
                for slot, spec in self.csg["results"].items()
                if slot in self.slots
            }
            Path(csg_path).write_text(yaml.safe_dump(csg, sort_keys=False))

    def write_subset(
        self, selected: np.ndarray, targets: list[Path], names: list[str], values: dict[str, np.ndarray] | None = None
    ) -> None:
        """Writes the selected particles to ``targets``, the files ``output_names`` names.

        ``names`` are those names, in that order: the .cs files, then the .csg of a result
        group; ``values`` are new values of fields (see :meth:`save_subset`).
        """
        n_cs = len(self.files)
        csg = targets[n_cs] if self.csg is not None else None
        self.save_subset(selected, list(targets[:n_cs]), csg, list(names[:n_cs]), values)

    @property
    def fields(self) -> list[str]:
        """Fields of the group: uid and, of each file, the fields of the slots it holds."""
        out = ["uid"]
        for k, cs in enumerate(self.files):
            out += [f for f in cs.fields if "/" in f and self.slots.get(f.split("/")[0]) == k]
        return out

    def has(self, name: str) -> bool:
        """Whether the group holds field ``name``."""
        return name in self.fields

    def file_of(self, name: str) -> Path:
        """The file that holds field ``name`` (the group's own path where that file's is unknown)."""
        k = 0 if name == "uid" else self.slots[name.split("/")[0]]
        return self.files[k].path or self.path

    def column(self, name: str) -> np.ndarray:
        """A field, in the row order of the group's first file (of that file: as it holds it, maybe a view)."""
        k = 0 if name == "uid" else self.slots[name.split("/")[0]]
        values = self.files[k].column(name)
        return values if k == 0 else values[self.order[k]]  # order[0] is every row in order


def _metafile(csg: Path, name: object) -> Path:
    """The file a ``metafile:`` entry of a .csg names: ``>name`` in the .csg's folder.

    CryoSPARC writes the files of a result group beside it; a name that leads out of that
    folder (``../``, an absolute path) is refused, so that a .csg from elsewhere cannot make
    cryodedup read (or, with --force, overwrite) files the user did not give.
    """
    if not isinstance(name, str) or not name:
        raise InputFileError(f"{csg}: a metafile entry is {name!r}, expected a file name such as '>particles.cs'")
    relative = name[1:] if name.startswith(">") else name
    target = csg.parent / relative
    inside = os.path.realpath(csg.parent)
    if os.path.isabs(relative) or not os.path.realpath(target).startswith(inside.rstrip(os.sep) + os.sep):
        raise InputFileError(
            f"{csg}: metafile {name!r} lies outside the folder of the .csg; give that .cs file itself as an input"
        )
    if not target.exists():
        raise InputFileError(f"{csg}: refers to {name!r}, and {target} does not exist")
    return target


def join_on_uid(groups: list[CsGroup]) -> CsGroup:
    """One group from several that hold the same particles (uids) in different slots.

    This is how a ``.csg`` joins a particle file and its passthrough files; rows are in the
    first group's order.
    """
    first = groups[0]
    files, slots, order, metafiles = list(first.files), dict(first.slots), list(first.order), list(first.metafiles)
    uid0 = first.column("uid")
    for group in groups[1:]:
        rows = _align(uid0, group.column("uid"), first.path, group.path)
        offset = len(files)
        files += group.files
        order += [o[rows] for o in group.order]
        slots.update({slot: k + offset for slot, k in group.slots.items()})
        metafiles += group.metafiles or [str(group.path)]
    return CsGroup(first.path, files, slots, order, first.csg, metafiles)


def flatten(group: CsGroup) -> Dataset:
    """One cryosparc-tools Dataset with the group's fields, in its first file's row order."""
    from cryosparc.dataset import Dataset

    parts = []
    for k, cs in enumerate(group.files):
        prefixes = [slot for slot, owner in group.slots.items() if owner == k]
        parts.append(cs.take(group.order[k]).dataset().filter_prefixes(prefixes))
    return Dataset.innerjoin_many(*parts) if len(parts) > 1 else parts[0]


def npy_header(dtype: np.dtype, rows: int) -> bytes:
    """What ``np.save`` writes before ``rows`` records of ``dtype`` (format 1.0, as it chooses for every real file).

    numpy pads it so that the row count can grow to 21 digits in the same length: a file's rows
    can be appended to and its header rewritten in place.
    """
    header = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(dtype)
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": (rows,)})
    return header.getvalue()


def appendable(before: Path, added: np.ndarray) -> tuple[bytes, bytes] | None:
    """The numpy ``.cs`` ``before`` with the records ``added`` appended in place: its new header and the rows' bytes.

    ``added`` holds at least ``before``'s fields (others are left out). None when that cannot
    be: ``before`` not a numpy ``.cs``, a field of ``added`` missing or not of its type, a text
    longer than its field holds (the file is then written anew, :func:`append_rows`), or a
    header that would change length.
    """
    old = _numpy_rows(before)
    if old is None or not _fits(old.dtype, added):
        return None
    header = npy_header(old.dtype, len(old) + len(added))
    if len(header) != old.offset:
        return None
    return header, bytes(_as_type(added, old.dtype).data)


def append_rows(before: Path, added: np.ndarray, path: Path) -> bool:
    """Writes to ``path`` the numpy ``.cs`` ``before``'s rows followed by the records ``added``, of the same fields.

    In numpy, a few MB at a time, each field as wide as the longer of the two texts (as
    cryosparc-tools writes a dataset of both). False, nothing written, when ``before`` is not a
    numpy ``.cs`` or a field's type differs otherwise (the caller then joins them as
    cryosparc-tools Datasets).
    """
    old = _numpy_rows(before)
    common = None if old is None else _widened(old.dtype, added.dtype)
    if old is None or common is None:
        return False
    step = max(1, WRITE_CHUNK_BYTES // common.itemsize)
    with open(path, "wb") as f:
        f.write(npy_header(common, len(old) + len(added)))
        for rows in [*(old[k : k + step] for k in range(0, len(old), step)), added]:
            f.write(_as_type(rows, common).data)
    return True


def _numpy_rows(path: Path) -> np.memmap | None:
    """The records of a numpy ``.cs``, mapped (None for another encoding)."""
    with open(path, "rb") as f:
        if f.read(len(NUMPY_MAGIC)) != NUMPY_MAGIC:
            return None
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _as_type(rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``rows`` as contiguous records of ``dtype`` (its fields by name: a structured assignment goes by position)."""
    if rows.dtype == dtype:
        return np.ascontiguousarray(rows)
    if rows.dtype.names == dtype.names:  # (the same fields in the same order: by position is by name, in one pass)
        return rows.astype(dtype)
    out = np.empty(len(rows), dtype=dtype)
    for name in dtype.names or ():
        out[name] = rows[name]
    return out


def _fits(dtype: np.dtype, added: np.ndarray) -> bool:
    """Whether each field of ``dtype`` is in ``added``, of its type, each text no longer than the field holds."""
    names = added.dtype.names or ()
    for name in dtype.names or ():
        if name not in names:
            return False
        want, have = dtype[name], added.dtype[name]
        if want.kind == have.kind == "S" and want.shape == have.shape:
            if have.itemsize > want.itemsize and len(added) and int(np.char.str_len(added[name]).max()) > want.itemsize:
                return False
        elif want != have:
            return False
    return True


def _widened(old: np.dtype, added: np.dtype) -> np.dtype | None:
    """``old``'s fields, each text as wide as the wider of the two; None when the fields' types differ otherwise."""
    if sorted(old.names or ()) != sorted(added.names or ()):
        return None
    fields = []
    for name in old.names or ():
        a, b = old[name], added[name]
        if a.kind == b.kind == "S" and a.shape == b.shape:
            a = a if a.itemsize >= b.itemsize else b
        elif a != b:
            return None
        fields.append((name, a))
    return np.dtype(fields)


def _align(uid0: np.ndarray, uid: np.ndarray, group: Path, path: Path | None) -> np.ndarray:
    """Rows of ``uid`` in the order of ``uid0``; the two must be the same set."""
    if len(uid) != len(uid0):
        raise InputFileError(f"{group}: {path} holds {len(uid)} particles, the group's first file {len(uid0)}")
    sorter = np.argsort(uid, kind="stable")
    pos = np.searchsorted(uid, uid0, sorter=sorter)
    pos = np.minimum(pos, len(uid) - 1) if len(uid) else pos
    rows = sorter[pos] if len(uid) else pos
    if len(uid) and not np.array_equal(uid[rows], uid0):
        raise InputFileError(f"{group}: {path} and the group's first file hold different particle uids")
    return rows


def key_groups(values: ArrayLike) -> KeyGroups:
    """The rows of a field grouped by value (micrograph uids or paths, filament uids).

    ``ids`` holds each row's group, numbered as ``np.unique``'s inverse numbers them (the
    rank of its value among the distinct values); ``first``, ``last`` and ``counts``, by
    group, the first and last row with that value and how many rows have it.

    uint64 uids and fixed-width byte strings (CryoSPARC's paths) are hashed once in the core;
    ``np.unique`` sorted every row's value, a million paths several times over (issue 43).
    Other types (a cryosparc-tools Dataset's ``str`` paths) are grouped by ``np.unique``.
    """
    values = np.asarray(values)
    if values.ndim == 1 and values.dtype == np.uint64:  # a field of records, strided: 8 MB a million
        return _core.group_keys(np.ascontiguousarray(values))
    if values.ndim == 1 and values.dtype.kind == "S":
        return _core.group_keys(_byte_rows(values))
    _, first, ids, counts = np.unique(values, return_index=True, return_inverse=True, return_counts=True)
    last = len(values) - 1 - np.unique(values[::-1], return_index=True)[1]
    return KeyGroups(ids=ids.astype(np.int64).ravel(), first=first, last=last.astype(np.int64), counts=counts)


def _byte_rows(strings: np.ndarray) -> np.ndarray:
    """Fixed-width byte strings as rows of uint8.

    Without a copy where numpy allows the view: a field of a table of records is strided,
    each string's bytes contiguous.
    """
    try:
        return strings[:, None].view(np.uint8)
    except ValueError:  # a numpy that refuses the view of a strided axis
        return np.ascontiguousarray(strings).view(np.uint8).reshape(len(strings), strings.dtype.itemsize)


def as_text(values: ArrayLike, where: str) -> list[str]:
    """Strings of a field that may hold bytes (CryoSPARC's paths are fixed-width bytes).

    ``where`` (the file and field) names a value that is not UTF-8 text, as CryoSPARC writes it.
    """
    listed = np.asarray(values).tolist()
    try:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in listed]
    except UnicodeDecodeError:
        bad = next(v for v in listed if isinstance(v, bytes) and not _is_utf8(v))
        raise InputFileError(f"{where}: {bad!r:.80} is not UTF-8 text (a path as CryoSPARC writes it)") from None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True
