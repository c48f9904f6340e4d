"""Where each image was taken, from the microscope's own metadata (``--metadata``).

EPU writes one XML per acquisition (``FoilHole_*_Data_*.xml``: a ``MicroscopeImage``), SerialEM
one ``.mdoc`` per movie (a ``[FrameSet = N]`` section per movie) or per stack (``[ZValue = N]``).
Each gives the stage position, the beam or image shift that moved the beam off it (multi-hole
collection), the pixel size and the acquisition time. The specimen position of an image is the
stage position plus the shift times a calibration (µm per shift unit): given, or inferred from
how the multi-hole template repeats from one stage stop to the next (:func:`infer_calibration`,
docs/design.md section 4, "Positions from the metadata").
"""

from __future__ import annotations

import glob
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import CryodedupError
from ..outputs import StrPath
from ..resolve import name_key
from .files import check_regular_file
from .sniff import is_glob

#: The metadata files' own extensions, removed before the micrograph's name rules apply.
METADATA_EXTENSIONS = (".mdoc", ".xml")
#: EPU's grid square folder (``Images-Disc1/GridSquare_1234/Data/``).
GRID_SQUARE = re.compile(r"^GridSquare_\d+$")
#: Stage positions closer than this (µm) are one stage stop (stage read-out scatters by nanometres).
SAME_STOP_UM = 0.3
#: Stops farther apart than this (µm) with nothing between are in different grid squares
#: (a grid bar is about 25 µm wide; holes within a square are at most a few µm apart).
SQUARE_GAP_UM = 10.0


@dataclass
class Acquisition:
    """One image as the microscope recorded it."""

    source: Path  # the metadata file
    name: str  # the image's name (file stem), matched to micrographs
    stage_um: tuple[float, float]
    shift: tuple[float, float]  # EPU BeamShift (+ ImageShift), SerialEM ImageShift; microscope units
    psize_A: float | None = None
    time: float | None = None  # seconds since 1970 (UTC)
    beam_diameter_um: float | None = None
    field_px: tuple[int, int] | None = None  # (nx, ny) of the camera read-out
    square: str | None = None  # EPU's GridSquare folder


# --- EPU ----------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element | None, *names: str) -> ET.Element | None:
    """The first descendant along the path of local names (namespaces ignored)."""
    for name in names:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _number(node: ET.Element | None, path: Path, what: str) -> float:
    try:
        value = float((node.text or "").strip()) if node is not None else math.nan
    except ValueError:
        raise CryodedupError(f"{path}: {what} is {node.text!r}, expected a number") from None  # type: ignore[union-attr]
    if node is None or not math.isfinite(value):
        raise CryodedupError(f"{path}: no {what} (expected an EPU data image's XML)")
    return value


def _optional_number(node: ET.Element | None) -> float | None:
    try:
        value = float((node.text or "").strip()) if node is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _xy(node: ET.Element | None, path: Path, what: str) -> tuple[float, float]:
    """An EPU vector (``<a:_x>``, ``<a:_y>``); (0, 0) when the element is absent or nil."""
    if node is None or not len(node):
        return 0.0, 0.0
    return _number(_child(node, "_x"), path, f"{what} _x"), _number(_child(node, "_y"), path, f"{what} _y")


def epu_time(text: str) -> float | None:
    """``2022-11-04T06:13:35.537803-05:00`` (EPU writes up to 7 decimals) as seconds since 1970."""
    text = text.strip()
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
    if not match:
        return None
    stamp = datetime.fromisoformat(match.group(1))
    zone = match.group(3)
    if zone and zone != "Z":
        stamp = datetime.fromisoformat(match.group(1) + zone)
    else:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp() + float("0." + (match.group(2) or "0"))


def read_epu(path: StrPath) -> Acquisition:
    """One EPU ``MicroscopeImage`` XML.

    Stage ``<Position>`` X/Y in metres, ``<BeamShift>`` and ``<ImageShift>`` (summed: EPU moves
    the beam with one of them, the other stays 0), ``<BeamDiameter>`` in metres, the pixel size
    (``SpatialScale/pixelSize/x``, metres), ``acquisitionDateTime`` and the camera read-out.
    """
    path = check_regular_file(path, "an EPU .xml")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise CryodedupError(f"{path}: not an XML file ({err})") from None
    except OSError as err:
        raise CryodedupError(f"{path}: cannot read the file ({err.strerror})") from None
    if _local(root.tag) != "MicroscopeImage":
        raise CryodedupError(f"{path}: root element <{_local(root.tag)}>, expected EPU's <MicroscopeImage>")
    data = _child(root, "microscopeData")
    position = _child(data, "stage", "Position")
    stage = (
        _number(_child(position, "X"), path, "stage <Position> <X>") * 1e6,
        _number(_child(position, "Y"), path, "stage <Position> <Y>") * 1e6,
    )
    optics = _child(data, "optics")
    beam = _xy(_child(optics, "BeamShift"), path, "<BeamShift>")
    image = _xy(_child(optics, "ImageShift"), path, "<ImageShift>")
    diameter = _optional_number(_child(optics, "BeamDiameter"))
    psize = _optional_number(_child(root, "SpatialScale", "pixelSize", "x", "numericValue"))
    when = _child(data, "acquisition", "acquisitionDateTime")
    area = _child(data, "acquisition", "camera", "ReadoutArea")
    width, height = _optional_number(_child(area, "width")), _optional_number(_child(area, "height"))
    folders = [p for p in path.parent.parts if GRID_SQUARE.match(p)]
    return Acquisition(
        source=path,
        name=image_key(path.name),
        stage_um=stage,
        shift=(beam[0] + image[0], beam[1] + image[1]),
        psize_A=psize * 1e10 if psize else None,
        time=epu_time(when.text or "") if when is not None else None,
        beam_diameter_um=diameter * 1e6 if diameter else None,
        field_px=(int(width), int(height)) if width and height else None,
        square=folders[-1] if folders else None,
    )


# --- SerialEM -----------------------------------------------------------------------------


def mdoc_time(text: str) -> float | None:
    """SerialEM's ``08-Oct-21  07:39:08`` (local time of the microscope) as seconds since 1970."""
    text = " ".join(text.split())
    for layout in ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def _mdoc_sections(path: Path) -> tuple[dict[str, str], list[tuple[str, int, dict[str, str]]]]:
    """The global ``key = value`` lines and each ``[Kind = N]`` section's lines, with its line number."""
    try:
        text = check_regular_file(path, "a SerialEM .mdoc").read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise CryodedupError(f"{path}: cannot read the file ({err.strerror})") from None
    if "\0" in text[:4096]:
        raise CryodedupError(f"{path}: binary content, expected a SerialEM .mdoc (text)")
    header: dict[str, str] = {}
    sections: list[tuple[str, int, dict[str, str]]] = []
    current = header
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        section = re.fullmatch(r"\[\s*(\w+)\s*=\s*([^\]]*)\]", line)
        if section:
            current = {}
            sections.append((f"{section.group(1)} = {section.group(2).strip()}", number, current))
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return header, sections


def _mdoc_pair(values: dict[str, str], key: str, path: Path, line: int) -> tuple[float, float] | None:
    if key not in values:
        return None
    parts = values[key].split()
    try:
        x, y = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise CryodedupError(f"{path}: section at line {line}: {key} = {values[key]!r}, expected two numbers") from None
    return x, y


def read_mdoc(path: StrPath) -> list[Acquisition]:
    """The acquisitions of one SerialEM ``.mdoc``: one per ``[FrameSet]`` or ``[ZValue]`` section.

    ``StagePosition`` (µm), ``ImageShift`` (image-shift units), ``PixelSpacing`` (Å),
    ``DateTime`` and ``UncroppedSize``. A section is named by its ``SubFramePath``'s file
    name, else by the ``.mdoc``'s own name (and, with several sections, its number).
    """
    path = Path(path)
    header, sections = _mdoc_sections(path)
    if not sections:
        raise CryodedupError(f"{path}: no [FrameSet = N] or [ZValue = N] section (is this a SerialEM .mdoc?)")
    own = image_key(path.name)
    out = []
    for title, line, values in sections:
        if not title.startswith(("FrameSet", "ZValue")):
            continue
        stage = _mdoc_pair(values, "StagePosition", path, line)
        if stage is None:
            raise CryodedupError(f"{path}: section [{title}] at line {line} has no StagePosition")
        shift = _mdoc_pair(values, "ImageShift", path, line) or (0.0, 0.0)
        size = _mdoc_pair(values, "UncroppedSize", path, line)
        frames = values.get("SubFramePath", "").replace("\\", "/").rsplit("/", 1)[-1]
        numbered = own if len(sections) == 1 else f"{own}_{title.split('=')[1].strip()}"
        name = image_key(frames) if frames else numbered
        psize = values.get("PixelSpacing", header.get("PixelSpacing"))
        out.append(
            Acquisition(
                source=path,
                name=name,
                stage_um=stage,
                shift=shift,
                psize_A=_float_or_none(psize),
                time=mdoc_time(values["DateTime"]) if "DateTime" in values else None,
                field_px=(abs(int(size[0])), abs(int(size[1]))) if size else None,
            )
        )
    if not out:
        raise CryodedupError(f"{path}: no [FrameSet = N] or [ZValue = N] section (is this a SerialEM .mdoc?)")
    return out


def _float_or_none(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


# --- files, folders and globs ---------------------------------------------------------------


def metadata_files(paths: Sequence[StrPath]) -> list[Path]:
    """The metadata files named by files, folders and quoted globs, each once, in a stable order.

    A folder is searched below for EPU data images' XML (``*_Data_*.xml``) and ``.mdoc`` files.
    """
    found: list[Path] = []
    for given in paths:
        text = str(given)
        if is_glob(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise CryodedupError(f"--metadata {text}: no file matches")
            # Folders a glob matches (``Metadata/**``) are passed over; a FIFO or a device
            # would block or never end: refused, named.
            files = [Path(m) for m in matches if not os.path.isdir(m)]
            if not files:
                raise CryodedupError(f"--metadata {text}: matches only folders, no EPU .xml or SerialEM .mdoc")
            found += [check_regular_file(f, "an EPU .xml or a SerialEM .mdoc") for f in files]
        elif Path(text).is_dir():
            inside = sorted(Path(text).rglob("*_Data_*.xml")) + sorted(Path(text).rglob("*.mdoc"))
            if not inside:
                raise CryodedupError(
                    f"--metadata {text}: a folder without EPU data images' XML (*_Data_*.xml) or SerialEM .mdoc"
                )
            found += inside
        else:
            found.append(check_regular_file(text, "an EPU .xml or a SerialEM .mdoc"))
    return list(dict.fromkeys(found))


def read_metadata(paths: Sequence[StrPath]) -> list[Acquisition]:
    """Every acquisition of the given metadata files, folders and globs."""
    out: list[Acquisition] = []
    for path in metadata_files(paths):
        suffix = path.suffix.lower()
        if suffix == ".xml":
            out.append(read_epu(path))
        elif suffix == ".mdoc":
            out += read_mdoc(path)
        else:
            raise CryodedupError(f"{path}: expected an EPU .xml or a SerialEM .mdoc")
    names: dict[str, Path] = {}
    for a in out:
        if a.name in names and names[a.name] != a.source:
            raise CryodedupError(
                f"{a.source}: describes image {a.name}, which {names[a.name]} describes too; give one of them"
            )
        names[a.name] = a.source
    return out


# --- matching to micrographs -----------------------------------------------------------------


def image_key(name: str) -> str:
    """A file name as micrographs are matched (the particle job's rule, ``resolve.name_key``).

    Folders, extensions, CryoSPARC's uid and motion correction's suffixes are removed. A
    metadata file's own ``.xml`` or ``.mdoc`` goes first: SerialEM's ``x.tif.mdoc`` is ``x``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for ending in METADATA_EXTENSIONS:
        if base.lower().endswith(ending) and len(base) > len(ending):
            base = base[: -len(ending)]
            break
    return name_key(base)


def match_to_micrographs(micrographs: Sequence[str], acquisitions: Sequence[Acquisition]) -> np.ndarray:
    """For each micrograph, the index of its acquisition, -1 when none.

    A micrograph matches the acquisition whose name its own key starts with, up to the end or a
    character that is not a letter or digit (``mic_1`` is not ``mic_10``); the longest such name wins.
    """
    by_name = {a.name: k for k, a in enumerate(acquisitions)}
    out = np.full(len(micrographs), -1, dtype=np.int64)
    for i, name in enumerate(micrographs):
        key = image_key(name)
        for end in range(len(key), 0, -1):
            if (end == len(key) or not key[end].isalnum()) and key[:end] in by_name:
                out[i] = by_name[key[:end]]
                break
    return out


# --- positions --------------------------------------------------------------------------------


@dataclass
class Positions:
    """The specimen position of each acquisition (µm) and how the calibration was found."""

    xy: np.ndarray  # (n, 2) µm
    calibration: float  # µm per shift unit
    how: str
    squares: np.ndarray  # (n,) grid square index
    square_names: list[str] = field(default_factory=list)


def stage_stops(stage: np.ndarray) -> np.ndarray:
    """A stop index per acquisition: stage positions within ``SAME_STOP_UM`` are one stop."""
    return _linked_groups(stage, SAME_STOP_UM)


def _linked_groups(xy: np.ndarray, reach: float) -> np.ndarray:
    """Groups (numbered from 0) of points linked by chains of neighbours closer than ``reach``."""
    roots = linked_roots(len(xy), neighbour_pairs(xy, reach), np.arange(len(xy)))
    return np.unique(roots, return_inverse=True)[1].reshape(-1)


def linked_roots(n: int, pairs: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For each of ``n`` items, the lowest-ranked item linked to it by ``pairs`` (union-find)."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            first, second = (ra, rb) if rank[ra] <= rank[rb] else (rb, ra)
            parent[second] = first
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def neighbour_pairs(xy: np.ndarray, reach: float) -> np.ndarray:
    """Every pair (i, j), i < j, of points at most ``reach`` apart (a grid of cells ``reach`` wide)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) < 2 or not reach > 0:
        return np.zeros((0, 2), dtype=np.int64)
    cells = np.floor(xy / reach).astype(np.int64)
    order = np.lexsort((cells[:, 1], cells[:, 0]))
    keys = cells[order]
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], len(order)]
    members = {(int(keys[s, 0]), int(keys[s, 1])): order[s:e] for s, e in zip(starts, ends)}
    found = []
    for (cx, cy), own in members.items():
        for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):  # each neighbouring cell pair once
            other = members.get((cx + dx, cy + dy))
            if other is None:
                continue
            grid_a, grid_b = np.meshgrid(own, other, indexing="ij")
            a, b = grid_a.ravel(), grid_b.ravel()
            if dx == 0 and dy == 0:
                keep = a < b
                a, b = a[keep], b[keep]
            close = np.hypot(*(xy[a] - xy[b]).T) <= reach
            found.append(np.stack([np.minimum(a, b)[close], np.maximum(a, b)[close]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def infer_calibration(stage: np.ndarray, shift: np.ndarray, squares: np.ndarray) -> tuple[float, str]:
    """µm per shift unit, from how the multi-hole template repeats between stage stops.

    At each stage stop the microscope shifts the beam to the same template of targets; the
    next stop is one template further, so the templates tile the holes without overlap or gap.
    Along the step from a stop to its nearest neighbour (stage µm), the targets' shifts project
    onto columns; their gaps repeat with the template's period (one gap with one target per
    hole, the gaps within and between holes with several). The step then spans the columns'
    extent plus the gap that continues the period, in shift units: calibration = step /
    (extent + that gap). Each stop's own targets give one estimate and the median is taken, so
    that a stop with holes left out or a stray re-exposure does not decide it. The shift's axes
    are taken as the stage's (as the microscope reports them).
    """
    if not len(shift) or np.abs(shift).max() == 0:
        return 0.0, "no beam or image shift in the metadata: positions are the stage positions"
    stops = stage_stops(stage)
    centres = np.array([stage[stops == s].mean(axis=0) for s in range(stops.max() + 1)])
    stop_square = np.array([squares[stops == s][0] for s in range(stops.max() + 1)])
    span = float(np.ptp(shift, axis=0).max())
    estimates = []
    for s, centre in enumerate(centres):
        others = np.flatnonzero((stop_square == stop_square[s]) & (np.arange(len(centres)) != s))
        if not len(others):
            continue
        distance = np.hypot(*(centres[others] - centre).T)
        step = centres[others[np.argmin(distance)]] - centre
        estimate = _calibration_along(step, _distinct(shift[stops == s], span))
        if estimate is not None:
            estimates.append(estimate)
    if not estimates:
        raise CryodedupError(
            "cannot infer the shift calibration: the metadata need at least two stage stops in a grid square, "
            "each with targets at different shifts along the step between them; give --shift-calibration UM_PER_UNIT"
        )
    value = float(np.median(estimates))
    return value, (
        f"inferred from {len(estimates)} stage stops (the shift template tiles the holes from one stop to the next)"
    )


def _distinct(shift: np.ndarray, span: float) -> np.ndarray:
    """The distinct shift vectors (those within 1 % of the run's shift ``span`` are one)."""
    groups = _linked_groups(shift, 0.01 * span) if span > 0 else np.zeros(len(shift), dtype=np.int64)
    return np.array([shift[groups == g].mean(axis=0) for g in range(groups.max() + 1)])


def _calibration_along(step: np.ndarray, targets: np.ndarray) -> float | None:
    """Step length / (extent of the targets' columns along the step + the gap continuing their period)."""
    length = float(np.hypot(*step))
    along = np.sort(targets @ (step / length))
    gaps = np.diff(along)
    if not len(gaps) or gaps.max() <= 0:
        return None
    columns = np.r_[along[0], along[1:][gaps > 0.1 * gaps.max()]]
    gaps = np.diff(columns)
    if not len(gaps):
        return None
    period = next(
        m
        for m in range(1, len(gaps) + 1)
        if all(abs(gaps[i] - gaps[i + m]) <= 0.15 * max(gaps[i], gaps[i + m]) for i in range(len(gaps) - m))
    )
    continuing = gaps[len(gaps) - period] if period <= len(gaps) else gaps[-1]
    return length / (columns[-1] - columns[0] + continuing)


def specimen_positions(acquisitions: Sequence[Acquisition], calibration: float | None) -> Positions:
    """Stage position plus shift times the calibration (given, or inferred), per acquisition."""
    stage = np.array([a.stage_um for a in acquisitions], dtype=np.float64).reshape(-1, 2)
    shift = np.array([a.shift for a in acquisitions], dtype=np.float64).reshape(-1, 2)
    squares, names = grid_squares(acquisitions, stage)
    if calibration is None:
        calibration, how = infer_calibration(stage, shift, squares)
    else:
        how = "given (--shift-calibration)"
    return Positions(stage + calibration * shift, calibration, how, squares, names)


def grid_squares(acquisitions: Sequence[Acquisition], stage: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A grid square index per acquisition: EPU's GridSquare folder, else stops linked within 10 µm."""
    if acquisitions and all(a.square for a in acquisitions):
        names = sorted({a.square for a in acquisitions if a.square})
        index = {n: k for k, n in enumerate(names)}
        return np.array([index[a.square] for a in acquisitions if a.square], dtype=np.int64), names
    groups = _linked_groups(stage, SQUARE_GAP_UM)
    return groups, [f"area {k + 1}" for k in range(int(groups.max()) + 1 if len(groups) else 0)]


def beam_diameter(acquisitions: Sequence[Acquisition], given: float | None) -> tuple[float, str]:
    """The beam diameter (µm) for the candidates: given, else the metadata's, else the camera field's diagonal.

    Two images share pixels only when their centres are closer than the field's diagonal, and
    the beam, which covers the field, is wider still: either keeps every overlapping pair.
    """
    if given is not None:
        return given, "given (--beam-diameter)"
    diameters = [a.beam_diameter_um for a in acquisitions if a.beam_diameter_um]
    if diameters:
        return float(np.median(diameters)), "the metadata's BeamDiameter"
    fields = [math.hypot(*a.field_px) * a.psize_A / 1e4 for a in acquisitions if a.field_px is not None and a.psize_A]
    if fields:
        return float(np.median(fields)), "the camera field's diagonal (no BeamDiameter in the metadata)"
    return 1.0, "1 µm (no beam diameter or field size in the metadata; give --beam-diameter)"


@dataclass
class Placement:
    """The micrographs placed on the specimen by their metadata."""

    files: int
    acquisitions: int
    index: np.ndarray  # per micrograph, its acquisition (-1: none)
    xy: np.ndarray  # per micrograph, µm (NaN: no metadata)
    times: np.ndarray  # per micrograph, seconds since 1970 (NaN: none)
    squares: np.ndarray  # per micrograph, grid square index (-1: none)
    square_names: list[str]
    calibration: float
    calibration_how: str
    beam_diameter: float
    beam_how: str

    @property
    def matched(self) -> np.ndarray:
        """Which micrographs have metadata."""
        return self.index >= 0

    def summary(self) -> dict:
        """The summary's ``metadata`` entry."""
        matched = int(self.matched.sum())
        return {
            "files": self.files,
            "acquisitions": self.acquisitions,
            "micrographs_matched": matched,
            "micrographs_unmatched": int(len(self.index) - matched),
            "acquisitions_unmatched": self.acquisitions - len(set(self.index[self.matched].tolist())),
            "shift_calibration_um_per_unit": round(self.calibration, 6),
            "shift_calibration": self.calibration_how,
            "beam_diameter_um": round(self.beam_diameter, 4),
            "beam_diameter": self.beam_how,
            "grid_squares": len(self.square_names),
        }

    def pairs_within(self, reach: float) -> np.ndarray:
        """Pairs of micrographs (input indices, i < j) whose positions are at most ``reach`` µm apart."""
        placed = np.flatnonzero(self.matched)
        pairs = placed[neighbour_pairs(self.xy[placed], reach)]
        return pairs.reshape(-1, 2)

    def distance(self, pairs: np.ndarray) -> np.ndarray:
        """The distance (µm) between the positions of each pair; NaN without metadata."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return np.hypot(*(self.xy[pairs[:, 0]] - self.xy[pairs[:, 1]]).T)


def place(
    names: Sequence[str], paths: Sequence[StrPath], calibration: float | None, diameter: float | None
) -> Placement:
    """Reads the metadata ``paths`` and places each micrograph of ``names`` by its file name."""
    files = metadata_files(paths)
    acquisitions = read_metadata(files)
    if not acquisitions:
        raise CryodedupError("--metadata: no acquisition in the files given")
    positions = specimen_positions(acquisitions, calibration)
    index = match_to_micrographs(names, acquisitions)
    matched = index >= 0
    xy = np.full((len(names), 2), np.nan)
    xy[matched] = positions.xy[index[matched]]
    times = np.full(len(names), np.nan)
    known = np.array([a.time if a.time is not None else np.nan for a in acquisitions])
    times[matched] = known[index[matched]]
    squares = np.full(len(names), -1, dtype=np.int64)
    squares[matched] = positions.squares[index[matched]]
    beam, beam_how = beam_diameter(acquisitions, diameter)
    return Placement(
        len(files),
        len(acquisitions),
        index,
        xy,
        times,
        squares,
        positions.square_names,
        positions.calibration,
        positions.how,
        beam,
        beam_how,
    )
