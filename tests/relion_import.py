"""RELION 5's coordinate import and particle positions, ported for the tests (test code, not the product's).

Read in 3dem/relion ``master`` 73f0a3c0 (= ``ver5.0``):

- ``src/jaz/tomography/apps/import_coordinates.cpp``: ``main`` (the list's first block must name
  ``rlnTomoName`` and ``rlnTomoImportParticleFile``; each file's table appended in list order;
  "some, but not all coordinate files contain prior angle information") and
  ``readCoordinateFile`` (a ``.star`` file's first block, ``rlnTomoName`` added where absent and
  else its first row compared with the list's; any other file text, a pick per line whose first
  three words ``sscanf("%f")`` reads, six numbers adding the subtomogram angles with
  ``rlnAngleRot/Tilt/Psi`` 0/90/0 and their priors);
- ``src/metadata_table.cpp``: ``readStar`` (CR+LF refused, the first ``data_`` line, a loop or a
  list), ``readStarLoop`` (labels up to the first row, rows up to the first empty line, a row
  with more or fewer fields than labels refused), ``append`` and ``compareLabels`` ("ERROR in
  appending metadata tables with not the same columns!": the same number of labels, each of the
  first in the second);
- ``src/jaz/tomography/particle_set.cpp``: the ``ParticleSet`` constructor (particles without
  ``rlnTomoParticleName`` named ``tomo/N``, N counted per tomogram in a map), ``getPosition``, ``getSubtomogramMatrix``,
  ``getParticleOffset``, ``getParticleCoordDecenteredPixel``; ``tomogram_set.cpp``:
  ``centre = (w0 / 2.0, h0 / 2.0, d0 / 2.0)``; ``src/euler.cpp``: ``Euler_angles2matrix``.

And in ``ver4.0`` (RELION 4.0's importer, ``relion_tomo_import_particles``):
``src/jaz/tomography/apps/import_particles.cpp``: ``main`` (a list with
``rlnTomoImportParticleFile``: each file read by ``MetaDataTable::read``, its picks given the
list's ``rlnTomoName``; then ``particle_id`` set back to 1 wherever a row's tomogram differs from
the row before, each row named ``tomo/particle_id``).

Written from that code alone: nothing of cryodedup is imported.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

#: What sscanf("%f") reads from the start of a word (enough for the files of the tests).
_SSCANF_FLOAT = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)", re.IGNORECASE)
SUBTOMOGRAM = ["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]


class RelionError(Exception):
    """Where RELION's program would stop (REPORT_ERROR), with its message."""


@dataclass
class Table:
    """A MetaDataTable: its labels in order (each once) and its rows (label -> text)."""

    labels: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)

    def add_label(self, label: str) -> None:
        if label not in self.labels:  # (addLabel: a label already there is not added again)
            self.labels.append(label)


def read_star(path: Path, name: str = "") -> Table:
    """``MetaDataTable::read(fn, name)``: the block ``data_name`` (the first ``data_`` block without a name)."""
    lines = Path(path).read_bytes().decode().split("\n")
    for k, line in enumerate(lines):
        if len(line) >= 2 and line.endswith("\r"):
            raise RelionError("RELION does not support CR+LF as a new line code.")
        if "data_" not in line.strip() or (name and line.strip() != f"data_{name}"):
            continue
        for j in range(k + 1, len(lines)):
            if "loop_" in lines[j]:
                return _read_loop(lines[j + 1 :])
            if lines[j][:1] == "_":
                return _read_list(lines[j:])
        return Table()
    return Table()


def _read_loop(lines: list[str]) -> Table:
    table = Table()
    k = 0
    while k < len(lines):
        line = " ".join(lines[k].split())
        if line[:1] in ("#", "", ";"):
            k += 1
            continue
        if line[0] != "_":
            break
        table.add_label(line[1:].split("#")[0].strip())
        k += 1
    for line in lines[k:]:
        words = line.split()
        if not words:
            break  # (an empty line ends the loop)
        if len(words) > len(table.labels):
            raise RelionError("A line in the STAR file contains more columns than the number of labels.")
        if len(words) < len(table.labels) and len(table.labels) > 2:
            raise RelionError("A line in the STAR file contains fewer columns than the number of labels.")
        table.rows.append(dict(zip(table.labels, (w.strip("\"'") for w in words))))
    return table


def _read_list(lines: list[str]) -> Table:
    table, row = Table(), {}
    for line in lines:
        words = line.split()
        if not words or words[0][0] in "#;":
            continue
        if words[0].startswith(("loop_", "data_")):
            break
        if words[0][0] == "_":
            table.add_label(words[0][1:])
            row[words[0][1:]] = words[1].strip("\"'")
    table.rows.append(row)
    return table


def _sscanf(word: str) -> float | None:
    match = _SSCANF_FLOAT.match(word)
    return float(match.group()) if match else None


def read_coordinate_file(
    path: Path, tomoname: str, centered: bool = False, scale: float = 1.0, add: float = 0.0
) -> tuple[Table, bool]:
    """``readCoordinateFile``: the file's table and whether it has the subtomogram angles."""
    if "." in str(path) and str(path).rpartition(".")[2] == "star":
        table = read_star(path)
        if "rlnTomoName" not in table.labels:
            table.add_label("rlnTomoName")
            for row in table.rows:
                row["rlnTomoName"] = tomoname
        elif table.rows and table.rows[0]["rlnTomoName"] != tomoname:
            raise RelionError(f"readCoordinateFile ERROR: File {path} contains tomonames that is not compatible")
    else:
        table = Table()
        coords = (
            ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
            if centered
            else ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
        )
        for line in Path(path).read_bytes().decode().split("\n"):
            words = line.split()
            numbers = [_sscanf(w) for w in words[:6]]
            if len(words) < 3 or None in numbers[:3]:
                continue
            assert all(n is not None for n in numbers[:3])
            row = {"rlnTomoName": tomoname}
            for label in ["rlnTomoName", *coords]:
                table.add_label(label)
            for label, value in zip(coords, numbers):
                row[label] = repr(_float32(value) * scale + add)
            if len(words) >= 6 and None not in numbers[3:6]:
                angles = dict(zip(SUBTOMOGRAM, (repr(_float32(v)) for v in numbers[3:6])))
                angles |= {"rlnAngleRot": "0", "rlnAngleTilt": "90", "rlnAnglePsi": "0"}
                angles |= {"rlnAngleTiltPrior": "90", "rlnAnglePsiPrior": "0"}
                for label, value in angles.items():
                    table.add_label(label)
                    row[label] = value
            table.rows.append(row)
        for row in table.rows:  # (a label added later has its default in the rows before)
            for label in table.labels:
                row.setdefault(label, "0")
    return table, all(label in table.labels for label in SUBTOMOGRAM)


def _float32(value: float) -> float:
    """The number as sscanf("%f") stores it: a 32-bit float."""
    return struct.unpack("f", struct.pack("f", value))[0] if math.isfinite(value) else value


def append(out: Table, part: Table) -> None:
    """``MetaDataTable::append``: the first table's labels taken, every later one's compared."""
    if not out.labels:
        out.labels = list(part.labels)
    elif len(out.labels) != len(part.labels) or any(label not in part.labels for label in out.labels):
        raise RelionError("ERROR in appending metadata tables with not the same columns!")
    out.rows.extend(part.rows)


def import_coordinates(
    list_path: Path, project: Path, centered: bool = False, scale: float = 1.0, add: float = 0.0
) -> Table:
    """``relion_tomo_import_coordinates --i LIST``, run in ``project``: the particles it writes, or RelionError."""
    listed = read_star(list_path)
    for needed in ("rlnTomoName", "rlnTomoImportParticleFile"):
        if needed not in listed.labels:
            raise RelionError(f"Input star file {list_path} does not contain {needed}")
    out = Table()
    some, every = False, True
    for row in listed.rows:
        file = Path(row["rlnTomoImportParticleFile"])
        table, angles = read_coordinate_file(
            file if file.is_absolute() else project / file, row["rlnTomoName"], centered, scale, add
        )
        some, every = some or angles, every and angles
        append(out, table)
    if some and not every:
        raise RelionError("ERROR: some, but not all coordinate files contain prior angle information...")
    return out


def euler_matrix(rot: float, tilt: float, psi: float) -> list[list[float]]:
    """``Euler_angles2matrix`` (src/euler.cpp), angles in degrees."""
    a, b, g = (math.radians(x) for x in (rot, tilt, psi))
    ca, cb, cg, sa, sb, sg = math.cos(a), math.cos(b), math.cos(g), math.sin(a), math.sin(b), math.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return [
        [cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
        [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
        [sc, ss, cb],
    ]


def position_angstrom(row: dict[str, str], tilt_series_psize: float, size: tuple[float, float, float]) -> list[float]:
    """``ParticleSet::getPosition`` with origins applied, as RELION 5's centred Å (0 at the tomogram's centre).

    The coordinates: centred Å where all three are present, else tilt-series pixels from the
    corner (centre ``size / 2.0``). The origin: each of ``rlnOriginX/Y/ZAngst``, 0 where absent,
    rotated by the subtomogram matrix where ``rlnTomoSubtomogramRot`` is present (a tilt or psi
    absent read as 0), subtracted.
    """
    centre = [s / 2.0 for s in size]
    centred = [f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]
    if all(label in row for label in centred):
        pixels = [float(row[label]) / tilt_series_psize + c for label, c in zip(centred, centre)]
    else:
        pixels = [float(row[f"rlnCoordinate{a}"]) for a in "XYZ"]
    offset = [float(row.get(f"rlnOrigin{a}Angst", 0.0)) for a in "XYZ"]
    if SUBTOMOGRAM[0] in row:
        matrix = euler_matrix(*(float(row.get(label, 0.0)) for label in SUBTOMOGRAM))
        offset = [sum(matrix[i][j] * offset[j] for j in range(3)) for i in range(3)]
    pixels = [p - o / tilt_series_psize for p, o in zip(pixels, offset)]
    return [(p - c) * tilt_series_psize for p, c in zip(pixels, centre)]


def relion4_import_particles(list_path: Path, project: Path) -> list[tuple[str, str, tuple[float, ...]]]:
    """RELION 4.0's ``relion_tomo_import_particles --i LIST`` in ``project``: (name, tomogram, x y z) per pick.

    ``main`` in ver4.0's import_particles.cpp: the list's files read in list order (STAR files:
    ``inputSubTable.read``), each pick given the list's tomogram; the number restarts at 1 at
    every change of tomogram from one row to the next (``last_tomo_name``), not per tomogram.
    """
    listed = read_star(list_path)
    for needed in ("rlnTomoName", "rlnTomoImportParticleFile"):
        if needed not in listed.labels:
            raise RelionError(f"Input star file {list_path} does not contain {needed}")
    picks = []
    for row in listed.rows:
        file = Path(row["rlnTomoImportParticleFile"])
        for pick in read_star(file if file.is_absolute() else project / file).rows:
            picks.append((row["rlnTomoName"], tuple(float(pick[f"rlnCoordinate{a}"]) for a in "XYZ")))
    out, particle_id, last = [], 1, ""
    for tomogram, xyz in picks:
        if tomogram != last:
            particle_id, last = 1, tomogram
        out.append((f"{tomogram}/{particle_id}", tomogram, xyz))
        particle_id += 1
    return out


def relion5_particle_names(table: Table) -> list[str]:
    """The names RELION 5's ``ParticleSet`` gives particles without ``rlnTomoParticleName``: counted per tomogram."""
    if "rlnTomoParticleName" in table.labels:
        return [row["rlnTomoParticleName"] for row in table.rows]
    count: dict[str, int] = {}
    names = []
    for row in table.rows:
        count[row["rlnTomoName"]] = count.get(row["rlnTomoName"], 0) + 1
        names.append(f"{row['rlnTomoName']}/{count[row['rlnTomoName']]}")
    return names


#: What RELION 5's ``OptimisationSet::read`` takes from an optimisation set (src/jaz/tomography/optimisation_set.cpp).
OPTIMISATION_SET_LABELS = {
    "particles": "rlnTomoParticlesFile",
    "tomograms": "rlnTomoTomogramsFile",
    "trajectories": "rlnTomoTrajectoriesFile",
    "manifolds": "rlnTomoManifoldsFile",
    "refMap1": "rlnTomoReferenceMap1File",
    "refMap2": "rlnTomoReferenceMap2File",
    "refMask": "rlnTomoReferenceMaskFile",
    "refFSC": "rlnTomoReferenceFscFile",
}


def read_optimisation_set(path: Path) -> dict[str, str]:
    """``OptimisationSet::read`` of ``--i PATH``: each file it names (``table.read``, the first block), "" where absent.

    RELION opens them from the folder it runs in (the project): the caller joins them to it.
    """
    table = read_star(path)
    row = table.rows[0] if table.rows else {}
    return {name: row.get(label, "") for name, label in OPTIMISATION_SET_LABELS.items()}
