"""Where each image was taken, from the microscope's own metadata (``--metadata``).

EPU writes one XML per acquisition (``FoilHole_*_Data_*.xml``: a ``MicroscopeImage``), SerialEM
one ``.mdoc`` per movie (a ``[FrameSet = N]`` section per movie) or per stack (``[ZValue = N]``).
Each gives the stage position, the beam or image shift that moved the beam off it (multi-hole
collection), the pixel size and the acquisition time: an :class:`Acquisition`, matched to the
micrographs by file name. What the micrograph job decides from them (each image's specimen
position by a shift calibration given or inferred, the beam diameter, the holes imaged twice)
is its own (``jobs/micrographs/placement.py``; docs/developers/decisions/micrograph-metadata.md): this module reads.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

import cryodedup._core as _core

from ..errors import CryodedupError, InputFileError
from ..paths import StrPath
from ..resolve import name_key
from .files import SMALL_FILE_CAP, check_regular_file, is_folder, read_foreign
from .sniff import is_glob

if TYPE_CHECKING:  # (a SerialEM Navigator is read when one is named: navigator.py is imported then)
    from .navigator import Navigator

__all__ = ["MAX_COORDINATE", "Acquisition", "match_to_micrographs", "metadata_files", "read_files", "read_navigators"]

#: The metadata files' own extensions, removed before the micrograph's name rules apply.
METADATA_EXTENSIONS = (".mdoc", ".xml")
#: SerialEM's Navigator: read when named (a file or a glob), not searched for in folders.
NAV_EXTENSION = ".nav"
#: EPU's grid square folder (``Images-Disc1/GridSquare_1234/Data/``).
GRID_SQUARE = re.compile(r"^GridSquare_\d+$")
#: The largest stage position (µm) or shift (the microscope's units) taken: 1 m, far beyond any
#: stage's travel, and far enough below float's range that no sum or difference overflows.
MAX_COORDINATE = 1e6
#: The widest camera read-out taken (pixels); the largest sensors have about 12,000.
MAX_READOUT_PX = 1_000_000


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
    # Calibrations the file records as 0, that is not recorded ("BeamDiameter", "pixel size"):
    # each falls back to the next source, and the summary says so (beam_diameter).
    unrecorded: tuple[str, ...] = ()
    nav_label: str | None = None  # SerialEM's NavigatorLabel: the Navigator item it was acquired at


# --- EPU ----------------------------------------------------------------------------------


def checked_number(text: str, where: str, bound: float, unit: str = "") -> float:
    """``text`` as a finite number of magnitude at most ``bound``; else an error naming ``where`` and the value.

    One rule for EPU and SerialEM: a position, shift, size or pixel size that is not a finite
    number is refused (NaN or infinite would place an image nowhere and break the pair search).
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise InputFileError(f"{where} is {text.strip()!r}, expected a number") from None
    if not math.isfinite(value):
        raise InputFileError(f"{where} is {text.strip()!r}, expected a finite number")
    if abs(value) > bound:
        raise InputFileError(f"{where} is {text.strip()!r}, expected a number within ±{bound:g}{unit}")
    return value


def calibration(
    text: str | None, where: str, unrecorded: list[str], name: str, bound: float = math.inf, unit: str = ""
) -> float | None:
    """A beam diameter or pixel size: None when absent or empty, and when 0 (not recorded: noted in ``unrecorded``).

    Negative, infinite or NaN values are refused: no microscope records one, and a negative
    diameter would silently stop every pair from being a candidate. ``bound``: the largest the
    file's unit allows (EPU's metres: 1 m, which no beam or pixel nears, and which the µm and Å
    they are turned into keep finite).
    """
    if text is None or not text.strip():
        return None
    value = checked_number(text, where, bound, unit)
    if value < 0:
        raise InputFileError(f"{where} is {text.strip()!r}, expected a positive number (0: not recorded)")
    if value == 0:
        unrecorded.append(name)
        return None
    return value


def readout_size(texts: tuple[str | None, str | None], where: str) -> tuple[int, int] | None:
    """A camera read-out (nx, ny) in pixels, None when either is absent or 0 (not recorded).

    Whole numbers; their magnitude is taken (SerialEM writes them negative for a flipped read-out).
    """
    nx, ny = texts
    if nx is None or ny is None or not (nx.strip() and ny.strip()):
        return None
    values = [checked_number(t, where, MAX_READOUT_PX) for t in (nx, ny)]
    if any(v != int(v) for v in values):
        raise InputFileError(f"{where} is '{nx.strip()} {ny.strip()}', expected whole numbers of pixels")
    if not all(values):
        return None
    return abs(int(values[0])), abs(int(values[1]))


#: ISO 8601 as EPU writes it: a date, a time, any number of decimals, then Z, an offset or nothing (UTC).
ISO_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


def epu_time(text: str, where: str = "acquisitionDateTime") -> float | None:
    """``2022-11-04T06:13:35.537803-05:00`` (EPU writes up to 7 decimals) as seconds since 1970.

    None when empty; a value that is no date and time (``2022-13-45T99:99:99``, February 30,
    an offset beyond ±24 h) is an error naming ``where`` and the value.
    """
    text = text.strip()
    if not text:
        return None
    match = ISO_TIME.fullmatch(text)
    try:
        if not match:
            raise ValueError("not in the form YYYY-MM-DDThh:mm:ss")
        year, month, day, hour, minute, second = (int(match.group(k)) for k in range(1, 7))
        zone = timezone.utc
        if match.group(8) and match.group(8) != "Z":
            sign = -1 if match.group(8)[0] == "-" else 1
            hours, minutes = int(match.group(8)[1:3]), int(match.group(8)[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("a zone offset beyond ±23:59")
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=zone).timestamp()
    except (ValueError, OverflowError) as err:
        raise InputFileError(
            f"{where} is {text!r}, expected a date and time (YYYY-MM-DDThh:mm:ss, then decimals and a zone): {err}"
        ) from None
    return stamp + float("0." + (match.group(7) or "0"))


#: The elements of an EPU data image's XML that are read: paths of local names below <MicroscopeImage>.
STAGE_X, STAGE_Y = "microscopeData/stage/Position/X", "microscopeData/stage/Position/Y"
BEAM_SHIFT, IMAGE_SHIFT = "microscopeData/optics/BeamShift", "microscopeData/optics/ImageShift"
BEAM_DIAMETER = "microscopeData/optics/BeamDiameter"
PIXEL_SIZE = "SpatialScale/pixelSize/x/numericValue"
TAKEN_AT = "microscopeData/acquisition/acquisitionDateTime"
READOUT = "microscopeData/acquisition/camera/ReadoutArea"
EPU_ELEMENTS = [
    STAGE_X,
    STAGE_Y,
    *(f"{shift}{axis}" for shift in (BEAM_SHIFT, IMAGE_SHIFT) for axis in ("", "/_x", "/_y")),
    BEAM_DIAMETER,
    PIXEL_SIZE,
    TAKEN_AT,
    f"{READOUT}/width",
    f"{READOUT}/height",
]
#: Per element path: its text before its first child ("" for none) and whether it has children; None when absent.
Elements = dict[str, "tuple[str, bool] | None"]
#: What the core's scan gives for one file: the root's local name and each element, or the file's error.
Scanned = Union[tuple[str, list["tuple[str, bool] | None"]], str]


def read_epu(path: StrPath) -> Acquisition:
    """One EPU ``MicroscopeImage`` XML.

    Stage ``<Position>`` X/Y in metres, ``<BeamShift>`` and ``<ImageShift>`` (summed: EPU moves
    the beam with one of them, the other stays 0), ``<BeamDiameter>`` in metres, the pixel size
    (``SpatialScale/pixelSize/x``, metres), ``acquisitionDateTime`` and the camera read-out.
    """
    path = check_regular_file(path, "an EPU .xml", SMALL_FILE_CAP)
    return _acquisition(path, _elements(path))


def _elements(path: Path, scanned: Scanned | None = None) -> Elements:
    """The elements of an EPU XML, found and checked by the core in one pass; an error naming the file when it cannot.

    The core is the one XML reader (io/xml_texts.rs, issue 92): ElementTree's tree of a 10 KB
    file cost twice what reading the file did (docs/developers/decisions/micrograph-metadata.md). ``scanned``: what
    ``element_texts_of_files`` gave for the file, None to read it here (``read_foreign`` says
    why a file cannot be read).
    """
    if scanned is None:
        data = read_foreign(path, "an EPU .xml")
        try:
            scanned = _core.element_texts(data, "MicroscopeImage", EPU_ELEMENTS)
        except ValueError as err:
            scanned = str(err)
    if isinstance(scanned, str):
        raise InputFileError(f"{path}: not an XML file ({scanned})")
    root, texts = scanned
    if root != "MicroscopeImage":
        raise InputFileError(f"{path}: root element <{root}>, expected EPU's <MicroscopeImage>")
    return dict(zip(EPU_ELEMENTS, texts))


def _acquisition(path: Path, found: Elements) -> Acquisition:
    """The acquisition the elements describe; an error naming the element that is missing or wrong."""

    def number(key: str, what: str, bound: float = MAX_COORDINATE, unit: str = "") -> float:
        element = found[key]
        if element is None:
            raise InputFileError(f"{path}: no {what} (expected an EPU data image's XML)")
        return checked_number(element[0], f"{path}: {what}", bound, unit)

    def xy(key: str, what: str) -> tuple[float, float]:
        """An EPU vector (``<a:_x>``, ``<a:_y>``); (0, 0) when absent or nil (the other moved the beam)."""
        element = found[key]
        if element is None or not element[1]:
            return 0.0, 0.0
        return number(f"{key}/_x", f"{what} _x"), number(f"{key}/_y", f"{what} _y")

    def text(key: str) -> str | None:
        element = found[key]
        return None if element is None else element[0]

    stage = (
        number(STAGE_X, "stage <Position> <X>", MAX_COORDINATE / 1e6, " m (EPU's unit)") * 1e6,  # metres
        number(STAGE_Y, "stage <Position> <Y>", MAX_COORDINATE / 1e6, " m (EPU's unit)") * 1e6,
    )
    if not any(element is not None and element[1] for element in (found[BEAM_SHIFT], found[IMAGE_SHIFT])):
        # (EPU records both, moving the beam with one; with neither, the image's place is unknown)
        raise InputFileError(f"{path}: no <BeamShift> or <ImageShift> (expected an EPU data image's XML)")
    beam = xy(BEAM_SHIFT, "<BeamShift>")
    image = xy(IMAGE_SHIFT, "<ImageShift>")
    unrecorded: list[str] = []
    diameter = calibration(text(BEAM_DIAMETER), f"{path}: <BeamDiameter>", unrecorded, "BeamDiameter", 1.0, " m")
    psize = calibration(
        text(PIXEL_SIZE), f"{path}: pixel size <SpatialScale> <pixelSize> <x>", unrecorded, "pixel size", 1.0, " m"
    )
    when = text(TAKEN_AT)
    size = (text(f"{READOUT}/width"), text(f"{READOUT}/height"))
    folders = [p for p in path.parent.parts if GRID_SQUARE.match(p)]
    return Acquisition(
        source=path,
        name=image_key(path.name),
        stage_um=stage,
        shift=(beam[0] + image[0], beam[1] + image[1]),
        psize_A=psize * 1e10 if psize else None,
        time=epu_time(when, f"{path}: <acquisitionDateTime>") if when is not None else None,
        beam_diameter_um=diameter * 1e6 if diameter else None,
        field_px=readout_size(size, f"{path}: camera <ReadoutArea> <width> <height>"),
        square=folders[-1] if folders else None,
        unrecorded=tuple(unrecorded),
    )


# --- SerialEM -----------------------------------------------------------------------------


def mdoc_time(text: str, where: str = "DateTime") -> float | None:
    """SerialEM's ``08-Oct-21  07:39:08`` (local time of the microscope) as seconds since 1970.

    None when empty; any other value that is no date and time is an error naming ``where``.
    """
    words = " ".join(text.split())
    if not words:
        return None
    for layout in ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S"):
        try:
            return datetime.strptime(words, layout).replace(tzinfo=timezone.utc).timestamp()
        except (ValueError, OverflowError):
            continue
    raise InputFileError(
        f"{where} is {text.strip()!r}, expected a date and time as SerialEM writes it (08-Oct-21  07:39:08)"
    )


#: The keys of a SerialEM section that cryodedup reads.
MDOC_KEYS = frozenset(
    {"StagePosition", "ImageShift", "PixelSpacing", "DateTime", "UncroppedSize", "SubFramePath", "NavigatorLabel"}
)


#: A section's title line: ``[ZValue = 3]``, ``[FrameSet = 0]`` (other kinds are read and passed over).
MDOC_SECTION = re.compile(r"\[\s*(\w+)\s*=\s*([^\]]*)\]")


def _mdoc_sections(path: Path) -> tuple[dict[str, str], list[tuple[str, int, dict[str, str]]]]:
    """The global ``key = value`` lines and each ``[Kind = N]`` section's lines, with its line number."""
    text = read_foreign(path, "a SerialEM .mdoc").decode("utf-8", errors="replace")
    if "\0" in text[:4096]:
        raise InputFileError(f"{path}: binary content, expected a SerialEM .mdoc (text)")
    header: dict[str, str] = {}
    sections: list[tuple[str, int, dict[str, str]]] = []
    current = header
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        # (the title's pattern tried only on lines that can be one: a stack has three lines a section)
        section = MDOC_SECTION.fullmatch(line) if line[0] == "[" else None
        if section:
            current = {}
            sections.append((f"{section.group(1)} = {section.group(2).strip()}", number, current))
            continue
        key, equals, value = line.partition("=")
        if equals:
            key = key.strip()
            if key in MDOC_KEYS and key in current:  # which one SerialEM meant cannot be told
                raise InputFileError(f"{path}: line {number}: {key} given twice in one section")
            current[key] = value.strip()
    return header, sections


def _mdoc_pair(
    values: dict[str, str], key: str, where: str, bound: float = MAX_COORDINATE, unit: str = ""
) -> tuple[float, float] | None:
    """A ``KEY = x y`` line of a section: two finite numbers, None when absent."""
    text = values.get(key)
    if text is None:
        return None
    parts = text.split()
    if len(parts) != 2:
        raise InputFileError(f"{where}: {key} = {text!r}, expected two numbers")
    named = f"{where}: {key}"
    return checked_number(parts[0], named, bound, unit), checked_number(parts[1], named, bound, unit)


def read_mdoc(path: StrPath) -> list[Acquisition]:
    """The acquisitions of one SerialEM ``.mdoc``: one per ``[FrameSet]`` or ``[ZValue]`` section.

    ``StagePosition`` (µm), ``ImageShift`` (image-shift units), ``PixelSpacing`` (Å),
    ``DateTime`` and ``UncroppedSize``. A section is named by its ``SubFramePath``'s file
    name, else by the ``.mdoc``'s own name (and, with several sections, its number).
    """
    path = Path(path)
    header, sections = _mdoc_sections(path)
    images = [(title, line, values) for title, line, values in sections if title.startswith(("FrameSet", "ZValue"))]
    if not images:
        raise InputFileError(f"{path}: no [FrameSet = N] or [ZValue = N] section (is this a SerialEM .mdoc?)")
    own = image_key(path.name)
    header_psize = _HeaderPixelSize(header.get("PixelSpacing"), f"{path}: PixelSpacing (before the sections)")
    out = [
        _mdoc_acquisition(path, title, line, values, own, len(sections), header_psize) for title, line, values in images
    ]
    _one_section_per_image(path, out, [line for _, line, _ in images])
    return out


class _HeaderPixelSize:
    """The header's ``PixelSpacing``, read once (at the first section without its own), for every section."""

    def __init__(self, text: str | None, where: str) -> None:
        self.text, self.where = text, where
        self.read: tuple[float | None, tuple[str, ...]] | None = None

    def value(self) -> tuple[float | None, tuple[str, ...]]:
        """The pixel size (None: absent or 0) and what it leaves unrecorded."""
        if self.read is None:
            unrecorded: list[str] = []
            self.read = calibration(self.text, self.where, unrecorded, "pixel size"), tuple(unrecorded)
        return self.read


def _mdoc_acquisition(
    path: Path, title: str, line: int, values: dict[str, str], own: str, n_sections: int, header: _HeaderPixelSize
) -> Acquisition:
    """One ``[FrameSet]`` or ``[ZValue]`` section's acquisition (``own``: the file's name as a key)."""
    where = f"{path}: section [{title}] at line {line}"
    stage = _mdoc_pair(values, "StagePosition", where, unit=" µm")
    if stage is None:
        raise InputFileError(f"{where} has no StagePosition")
    shift = _mdoc_pair(values, "ImageShift", where) or (0.0, 0.0)
    size = values["UncroppedSize"].split() if "UncroppedSize" in values else []
    if size and len(size) < 2:
        raise InputFileError(f"{where}: UncroppedSize = {values['UncroppedSize']!r}, expected two numbers")
    frames = values.get("SubFramePath", "").replace("\\", "/").rsplit("/", 1)[-1]
    numbered = own if n_sections == 1 else f"{own}_{title.split('=')[1].strip()}"
    if "PixelSpacing" in values:
        unrecorded: list[str] = []
        psize = calibration(values["PixelSpacing"], f"{where}: PixelSpacing", unrecorded, "pixel size")
        missing = tuple(unrecorded)
    else:
        psize, missing = header.value()
    return Acquisition(
        source=path,
        name=image_key(frames) if frames else numbered,
        stage_um=stage,
        shift=shift,
        psize_A=psize,
        time=mdoc_time(values["DateTime"], f"{where}: DateTime") if "DateTime" in values else None,
        field_px=readout_size((size[0], size[1]) if size else (None, None), f"{where}: UncroppedSize"),
        unrecorded=missing,
        nav_label=values.get("NavigatorLabel") or None,
    )


def _one_section_per_image(path: Path, acquisitions: list[Acquisition], lines: list[int]) -> None:
    """Two sections naming one image (a repeated ``[ZValue = 3]`` or ``SubFramePath``) would place it twice."""
    first: dict[str, int] = {}
    for a, line in zip(acquisitions, lines):
        if a.name in first:
            raise InputFileError(
                f"{path}: the section at line {line} describes image {a.name}, as the section at line "
                f"{first[a.name]} does; one section per image"
            )
        first[a.name] = line


# --- files, folders and globs ---------------------------------------------------------------


def metadata_files(paths: Sequence[StrPath]) -> list[Path]:
    """The metadata files named by files, folders and quoted globs, each once, in a stable order.

    A folder is searched below for EPU data images' XML (``*_Data_*.xml``) and ``.mdoc`` files; a
    SerialEM Navigator (``.nav``) is read when named (a session folder often holds old copies).
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
            found += [check_regular_file(f, "an EPU .xml or a SerialEM .mdoc", SMALL_FILE_CAP) for f in files]
        elif is_folder(text):
            # Folders named like a metadata file are passed over, as a glob passes them over.
            found_below = sorted(Path(text).rglob("*_Data_*.xml")) + sorted(Path(text).rglob("*.mdoc"))
            inside = [f for f in found_below if not f.is_dir()]
            if not inside:
                raise CryodedupError(
                    f"--metadata {text}: a folder without EPU data images' XML (*_Data_*.xml) or SerialEM .mdoc"
                )
            found += inside
        else:
            found.append(check_regular_file(text, "an EPU .xml or a SerialEM .mdoc", SMALL_FILE_CAP))
    return list(dict.fromkeys(found))


def read_metadata(paths: Sequence[StrPath]) -> list[Acquisition]:
    """Every acquisition of the given metadata files, folders and globs (a Navigator holds none)."""
    return read_files(metadata_files(paths))


def read_files(files: Sequence[Path]) -> list[Acquisition]:
    """Every acquisition of the metadata ``files`` (as ``metadata_files`` found them), each image described once."""
    out: list[Acquisition] = []
    epu = [path for path in files if path.suffix.lower() == ".xml"]
    # EPU's files read and scanned on every core at once, Python's lock let go (a session has
    # thousands); one the core could not read (not a regular file) is read as read_epu reads it, which says why.
    scanned = dict(zip(epu, _core.element_texts_of_files(epu, "MicroscopeImage", EPU_ELEMENTS)))
    for path in files:
        suffix = path.suffix.lower()
        if suffix == ".xml":
            texts = scanned[path]
            path = check_regular_file(path, "an EPU .xml", SMALL_FILE_CAP)
            out.append(_acquisition(path, _elements(path, texts)))
        elif suffix == ".mdoc":
            out += read_mdoc(path)
        elif suffix != NAV_EXTENSION:  # (a Navigator is read by place: it links, it places nothing)
            raise InputFileError(f"{path}: expected an EPU .xml, a SerialEM .mdoc or a SerialEM Navigator .nav")
    names: dict[str, Path] = {}
    for a in out:
        if a.name in names and names[a.name] != a.source:
            raise InputFileError(
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


def read_navigators(files: Sequence[Path]) -> list[Navigator]:
    """The SerialEM Navigators among the metadata ``files``."""
    named = [path for path in files if path.suffix.lower() == NAV_EXTENSION]
    if not named:
        return []
    from .navigator import read_nav

    return [read_nav(path) for path in named]
