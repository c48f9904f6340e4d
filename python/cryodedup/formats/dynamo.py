"""Dynamo tables (``.tbl``) read into a ParticleSet and written back as ``.tbl``.

A table is plain text, one particle per line, numbers separated by spaces, columns fixed
by Dynamo's table convention (docs/developers/decisions/tomography.md): ``dx dy dz`` in columns 4-6 (the
shift found by alignment), ``cc`` in 10, the tomogram number in 20, the position ``x y z``
in 24-26, all in pixels of the tomogram; the particle's centre is position + shift; its
orientation ``tdrot tilt narot`` in 7-9, Dynamo's ZXZ Euler angles (:func:`dynamo_poses`). MATLAB
may write complex numbers (``0+1.2074e-06i``) in any column: their real part is read. A
table map (``.doc``: ``index path`` per line) or a volume list (``.vll``: one tomogram per
line, numbered from 1 in order, ``* index = N`` to renumber the last one) names the
tomograms. Kept and rejected rows are byte copies of the input lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CryodedupError, InputFileError
from ..labels import distinct_labels
from ..outputs import AtomicOutputs
from ..particle_set import MIC_PSIZE, Log, ParticleSet, PsizeFrom, Warn
from ..paths import StrPath
from ..resolve import UNKNOWN_COLUMN, UNKNOWN_ORDER, resolve_score
from .files import check_regular_file, read_foreign
from .star.particle_table import check_angle_ranges
from .star.tomograms import layout
from .star.tomography import rotation_vectors

if TYPE_CHECKING:
    from .read_request import RowRead, Scale, ScoreRead

__all__ = ["read_dynamo_tables"]

#: Dynamo's column names, 1-based column numbers (Dynamo's ``dthelp``; teamtomo/dynamotable convention.py).
COLUMNS = {
    "tag": 1, "aligned_value": 2, "averaged_value": 3, "dx": 4, "dy": 5, "dz": 6, "tdrot": 7, "tilt": 8,
    "narot": 9, "cc": 10, "cc2": 11, "cpu": 12, "ftype": 13, "ymintilt": 14, "ymaxtilt": 15, "xmintilt": 16,
    "xmaxtilt": 17, "fs1": 18, "fs2": 19, "tomo": 20, "reg": 21, "class": 22, "annotation": 23, "x": 24, "y": 25,
    "z": 26, "dshift": 27, "daxis": 28, "dnarot": 29, "dcc": 30, "otag": 31, "npar": 32, "ref": 34, "sref": 35,
    "apix": 36, "def": 37, "eig1": 41, "eig2": 42,
}  # fmt: skip
#: The score of ``--score auto``: the cross-correlation of the last alignment, higher is better.
AUTO_SCORE = "cc"
#: The frame of a Dynamo table's positions, as the summary names it.
DYNAMO_FRAME = "tomogram pixels from each tomogram's corner (x + dx: columns 24-26 and 4-6)"
#: Dynamo's cross-correlations: higher is better.
CROSS_CORRELATIONS = {"cc": True, "cc2": True}
#: The columns of a particle's orientation, in the order of ``dynamo_euler2matrix``'s triplet.
EULERS = ("tdrot", "tilt", "narot")
POSE_LABEL = "tdrot, tilt, narot (columns 7-9, Dynamo's ZXZ Euler angles)"
KEPT_NAME = "particles_kept.tbl"
REJECTED_NAME = "particles_rejected.tbl"
_COMPLEX = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[-+](?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[ij]$")


def _number(token: str, path: Path, line: int, column: int) -> float:
    try:
        return float(token)
    except ValueError:
        pass
    complex_value = _COMPLEX.match(token)
    if complex_value:
        return float(complex_value.group(1))
    raise InputFileError(f"{path}: line {line}, column {column}: {token!r} is not a number")


@dataclass
class DynamoTable:
    """One table: its lines (bytes, kept for the outputs) and the numbers of the columns read."""

    path: Path
    lines: list[bytes]
    numbers: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path, wanted: list[str], optional: tuple[str, ...] = ("apix",)) -> DynamoTable:
        """Reads ``path``, parsing the columns named in ``wanted`` and ``optional`` (Dynamo names).

        A row without an ``optional`` column has NaN there; a row without a ``wanted`` one is refused.
        """
        try:
            data = check_regular_file(path, "a Dynamo table").read_bytes()
        except OSError as err:
            raise InputFileError(f"{path}: cannot read the table ({err.strerror})") from None
        if b"\0" in data[:4096]:
            raise InputFileError(f"{path}: not a text Dynamo table: binary content")
        lines = [line for line in data.splitlines(keepends=True) if line.strip()]
        names = list(dict.fromkeys([*wanted, *optional]))
        columns = [COLUMNS[name] for name in names]
        needed = max(COLUMNS[name] for name in wanted)
        values = np.full((len(lines), len(columns)), np.nan)
        for i, line in enumerate(lines):
            tokens = line.split()
            if len(tokens) < needed:
                raise InputFileError(
                    f"{path}: line {i + 1} has {len(tokens)} columns; a Dynamo table has at least "
                    f"{needed} (x y z in columns 24-26)"
                )
            for j, column in enumerate(columns):
                if column <= len(tokens):
                    token = tokens[column - 1].decode("ascii", errors="replace")
                    values[i, j] = _number(token, path, i + 1, column)
        return cls(path, lines, {name: values[:, j] for j, name in enumerate(names)})

    def centres_in_pixels(self, shifted: bool = True) -> np.ndarray:
        """Particle centres in tomogram pixels: position (columns 24-26) + shift (columns 4-6).

        ``shifted`` False: the position alone (``--shift-key none``).
        """
        with np.errstate(over="ignore", invalid="ignore"):  # a centre that overflows is refused by the job
            return np.stack([self.numbers[a] + (self.numbers[f"d{a}"] if shifted else 0.0) for a in "xyz"], axis=1)


def dynamo_poses(eulers: np.ndarray) -> np.ndarray:
    """Each particle's pose as a rotation vector, from Dynamo's (n, 3) ``tdrot, tilt, narot`` in degrees.

    Dynamo's ``dynamo_euler2matrix`` gives ``R = Rz(narot) Rx(tilt) Rz(tdrot)`` (right-handed
    rotations about the fixed axes: its wiki's "Euler angles convention", ZXZ), the rotation
    that carries a particle's offsets in the tomogram into the template's frame, as RELION's
    ``Rz(rot) Ry(tilt) Rz(psi)`` does (so Dynamo's triplet is RELION's
    ``rot = narot - 90, tilt, psi = tdrot + 90``). The pose the job compares is RELION's ``A``,
    which carries the template's axes into the tomogram: ``R`` transposed.
    """
    td, ti, na = (np.radians(eulers[:, k]) for k in range(3))
    ctd, std, cti, sti, cna, sna = np.cos(td), np.sin(td), np.cos(ti), np.sin(ti), np.cos(na), np.sin(na)
    rows = [
        [ctd * cna - std * cti * sna, -cna * std - ctd * cti * sna, sna * sti],
        [ctd * sna + cna * std * cti, ctd * cna * cti - std * sna, -cna * sti],
        [std * sti, ctd * sti, cti],
    ]
    matrices = np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
    poses = rotation_vectors(np.transpose(matrices, (0, 2, 1)))
    poses[~np.isfinite(eulers).all(axis=1)] = np.nan  # refused by the job, as a NaN angle is
    return poses


def read_table_map(path: Path) -> dict[int, str]:
    """The tomogram names by number, from a table map (``.doc``) or a volume list (``.vll``)."""
    what = "a Dynamo table map (.doc) or volume list (.vll)"
    text = read_foreign(path, what).decode("utf-8", errors="replace")
    if path.suffix.lower() == ".vll":
        return _volume_list(text, path)
    names: dict[int, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split(None, 1)
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise InputFileError(f"{path}: line {number}: expected 'index path', got {raw.strip()!r}")
        names[_index(fields[0], path, number)] = fields[1].strip()
    return names


def _volume_list(text: str, path: Path) -> dict[int, str]:
    """A volume list's tomograms by number: their position in the list, or their ``* index = N``."""
    listed: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#>!":  # comment, particle source, model source
            continue
        if line[0] == "*":  # a parameter of the tomogram above
            key, _, value = line[1:].partition("=")
            if key.strip() == "index" and listed:
                listed[-1] = (_index(value, path, number), listed[-1][1])
            continue
        listed.append((len(listed) + 1, line))
    names = dict(listed)
    if len(names) < len(listed):
        raise InputFileError(f"{path}: two tomograms have the same index")
    return names


def _index(text: str, path: Path, line: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InputFileError(f"{path}: line {line}: tomogram index {text.strip()!r} is not a whole number") from None


def _score(score_read: ScoreRead) -> tuple[str | None, bool]:
    """The score column (None: seeded random ranking) and whether higher is better."""
    chosen = resolve_score(
        score_read.score, score_read.score_order, (AUTO_SCORE,), COLUMNS.__contains__, CROSS_CORRELATIONS
    )
    if chosen.problem == UNKNOWN_COLUMN:
        raise CryodedupError(f"--score {chosen.label!r}: not a Dynamo table column; columns: {', '.join(COLUMNS)}")
    if chosen.problem == UNKNOWN_ORDER:
        raise CryodedupError(
            f"--score {chosen.label}: it is not known whether higher or lower is better; "
            "add --score-order max or --score-order min"
        )
    return chosen.label, chosen.higher_is_better


def _pixel_size(tables: list[DynamoTable], scale: Scale) -> tuple[float, str]:
    """``--mic-psize``, else Dynamo's ``apix`` column (36), as the job decided (``scale.psize_from``).

    Dynamo's ``--micrographs`` names the tomograms, not their pixel size: without a typed
    one, the table's own.
    """
    if scale.psize_from is PsizeFrom.GIVEN:
        return scale.given_psize, MIC_PSIZE
    return _apix(tables)


def _apix(tables: list[DynamoTable]) -> tuple[float, str]:
    """Dynamo's ``apix`` column (36), when every row has the same value > 0."""
    apix = np.concatenate([t.numbers["apix"] for t in tables])
    # NaN (no column 36) fails the test; infinities too (without numpy's warning of inf - inf)
    if apix.size and np.isfinite(apix).all() and (apix > 0).all() and (apix == apix[0]).all():
        return float(apix[0]), "apix (column 36)"
    raise InputFileError(
        f"{tables[0].path}: the table's positions are in tomogram pixels and its apix column (36) does not give "
        "their size; give it with --mic-psize"
    )


class TableWriter:
    """Writes kept and rejected rows of the tables as two ``.tbl`` files, each row a byte copy."""

    def __init__(self, tables: list[DynamoTable], outdir: Path) -> None:
        self.tables = tables
        self.kept_path, self.rejected_path = outdir / KEPT_NAME, outdir / REJECTED_NAME

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the rows where ``keep`` is True to the kept table and the others to the rejected table."""
        assert halves is None, "Dynamo tables carry no half-set column"
        lines = [line if line.endswith(b"\n") else line + b"\n" for t in self.tables for line in t.lines]
        paths = [self.kept_path, self.rejected_path]
        with AtomicOutputs(paths, force=force, inputs=[t.path for t in self.tables]) as tmp:
            tmp[self.kept_path].write_bytes(b"".join(line for line, k in zip(lines, keep) if k))
            tmp[self.rejected_path].write_bytes(b"".join(line for line, k in zip(lines, keep) if not k))
        return {"kept": [self.kept_path], "rejected": [self.rejected_path]}


def _finite_angles(tables: list[DynamoTable], warn: Warn, insisted: bool) -> np.ndarray:
    """Every row's tdrot, tilt and narot (columns 7-9); a non-finite one refused, naming its table, line and column.

    Their ranges are checked as every reader's are (:func:`check_angle_ranges`: Dynamo keeps tdrot
    and narot within ±180° and tilt within 0-180°, in degrees): radians, or degrees turned into
    radians once too often, are refused.
    """
    labels = [f"{name} (column {COLUMNS[name]})" for name in EULERS]
    for table in tables:
        angles = np.stack([table.numbers[a] for a in EULERS], axis=1)
        bad = np.flatnonzero(~np.isfinite(angles).all(axis=1))
        if bad.size:
            row = int(bad[0])
            name = next(a for a, v in zip(EULERS, angles[row]) if not np.isfinite(v))
            raise InputFileError(
                f"{table.path}: row {row + 1}: {name} (column {COLUMNS[name]}) is {angles[row, EULERS.index(name)]:g}, "
                "expected a finite angle in degrees (--max-angle and --min-dist-ellipsoid read each row's pose)"
            )
        check_angle_ranges(angles, labels, str(table.path), warn, insisted, package="Dynamo")
    return np.concatenate([np.stack([t.numbers[a] for a in EULERS], axis=1) for t in tables])


def read_dynamo_tables(
    inputs: list[Path], outdir: StrPath, scale: Scale, score_read: ScoreRead, row_read: RowRead, warn: Warn, log: Log
) -> ParticleSet:
    """Reads Dynamo tables into one ParticleSet.

    Its writer writes ``OUTDIR/particles_kept.tbl`` and ``particles_rejected.tbl``.

    Particles are grouped by tomogram number (column 20), the same number in two tables
    being the same tomogram; ``scale.micrographs`` may name a table map (``.doc``) or
    volume list (``.vll``) that names them. Centres are ``(x + dx, y + dy, z + dz)`` times
    the pixel size (``--mic-psize``, else the ``apix`` column). With ``row_read.orientations``
    (``--max-angle``, ``--min-dist-ellipsoid``), each row's pose from columns 7-9.
    """
    shift_key, orientations = row_read.shift_key, row_read.orientations
    if shift_key not in ("auto", "none"):
        raise CryodedupError(f"--shift-key for Dynamo tables is auto or none, got {shift_key!r}")
    score, higher = _score(score_read)
    angles = list(EULERS) if orientations else []
    wanted = list(dict.fromkeys(["dx", "dy", "dz", "tomo", "x", "y", "z", *([score] if score else []), *angles]))
    tables = []
    for path in inputs:
        log(f"reading {path}", "info")
        tables.append(DynamoTable.read(path, wanted))
    psize, source = _pixel_size(tables, scale)
    tomo = np.concatenate([t.numbers["tomo"] for t in tables])
    map_names = read_table_map(scale.micrographs) if scale.micrographs else None
    numbers, groups = np.unique(tomo, return_inverse=True)
    names = []
    for number in numbers:
        if map_names is None:
            names.append(f"tomogram {number:g}")
        elif number not in map_names:
            raise InputFileError(f"{scale.micrographs}: no tomogram {number:g} (column 20 of the tables)")
        else:
            names.append(map_names[int(number)])
    shift = shift_key == "auto"
    with np.errstate(over="ignore", invalid="ignore"):  # as in centres_in_pixels
        centres = np.concatenate([t.centres_in_pixels(shift) for t in tables]) * psize
    counts = [len(t.lines) for t in tables]
    return ParticleSet(
        inputs=[str(p) for p in inputs],
        input_of=np.repeat(np.arange(len(tables)), counts),
        mic_names=names,
        groups=groups.astype(np.int64).ravel(),
        centres=centres,
        psize=np.full(len(tomo), psize),
        pixel_sizes=[{"input": "all", "optics_group": "all", "psize": psize, "source": source}],
        scores=np.concatenate([t.numbers[score] for t in tables]) if score else None,
        score_label=score,
        higher_is_better=higher,
        shift="dx, dy, dz (columns 4-6)" if shift else "none",
        read_files=list(inputs) + ([scale.micrographs] if scale.micrographs else []),
        writer=TableWriter(tables, Path(outdir)),
        summary={"layouts": [layout(label, "Dynamo table", DYNAMO_FRAME) for label in distinct_labels(inputs)]},
        poses=dynamo_poses(_finite_angles(tables, warn, row_read.insist_angles)) if orientations else None,
        pose_kind="rotvec",
        pose_label=POSE_LABEL,
    )
