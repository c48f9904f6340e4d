"""SerialEM's Navigator file (``.nav``): which items were taken at the same raw stage position.

SerialEM (3.6 on) saves its Navigator as an IMOD autodoc: the global lines ``AdocVersion = 2.00``
and ``LastSavedAs = ...``, then one ``[Item = LABEL]`` section per item with ``key = value``
lines (CRLF on Windows), or, with an option, as XML (a ``<navigator>`` root, an ``<Item
name="LABEL">`` element per item, a child element per key). When an item is added where another
already is (a map made or a stage position added within the backlash tolerance of another
item's raw stage position), both get the same ``SamePosId`` (a MapID of one of them; 0 or absent:
none). While "Acquire at Items" runs, the ``.mdoc`` of each image names its item
(``NavigatorLabel = LABEL`` in the image's section): the link from an acquisition to its item.
docs/developers/decisions/micrograph-metadata.md gives the sources.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError
from .files import read_foreign

__all__ = ["NavItem", "Navigator", "link", "map_labels", "read_nav"]

#: The largest Navigator file read (bytes): one of 100,000 map items is about 75 MB.
MAX_NAV_BYTES = 1 << 30
#: SerialEM keeps IDs in a C ``int``.
MAX_ID = 2**31 - 1
#: The keys of an item that are read; each at most once in an item.
ITEM_KEYS = ("SamePosId", "MapID", "DrawnID", "Type")
#: ``Type``: 0 point, 1 polygon, 2 map.
MAP_TYPE = 2


@dataclass(frozen=True)
class NavItem:
    """One Navigator item: its label, where it is written, and the IDs that link it."""

    label: str
    where: str  # ``FILE: line N`` (autodoc) or ``FILE: <Item name="LABEL">`` (XML), for messages
    same_pos_id: int = 0  # items sharing a positive SamePosId were taken at one raw stage position
    map_id: int = 0  # every item's unique ID
    drawn_id: int = 0  # the MapID of the map the item was drawn on
    is_map: bool = False


@dataclass
class Navigator:
    """The items of one ``.nav`` file."""

    source: Path
    items: list[NavItem]


def read_nav(path: Path | str) -> Navigator:
    """A SerialEM Navigator file, autodoc or XML; an error naming the file, line and key when it is none."""
    path = Path(path)
    data = read_foreign(path, "a SerialEM Navigator .nav", MAX_NAV_BYTES)
    if b"\0" in data[:4096]:
        raise InputFileError(f"{path}: binary content, expected a SerialEM Navigator .nav (text)")
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:64]
    if start.startswith(b"<"):
        return Navigator(path, _xml_items(path, data))
    text = data.decode("utf-8", errors="replace")
    if start.startswith(b"Version"):  # (SerialEM before 3.6: one tab-delimited line per item)
        raise InputFileError(
            f"{path}: line 1: a tab-delimited Navigator file (SerialEM before 3.6), expected the autodoc one "
            "(AdocVersion = 2.00): open it in SerialEM's Navigator and save it again"
        )
    return Navigator(path, _autodoc_items(path, text))


#: ``[Item = LABEL]``: the section's type and its name, as IMOD's autodoc reader takes them.
SECTION = re.compile(r"\[\s*([^\s=\]]+)\s*=\s*([^\]]*?)\s*\]")


def _autodoc_items(path: Path, text: str) -> list[NavItem]:
    """Each ``[Item = LABEL]`` section's keys that are read, checked; the file must start with ``AdocVersion``."""
    items: list[NavItem] = []
    version_seen = False
    label: str | None = None
    where = ""
    values: dict[str, tuple[str, str]] = {}  # key: its value, and where it is written
    lines: dict[str, int] = {}  # key: its line
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        section = SECTION.fullmatch(line)
        if section:
            if not version_seen:
                raise InputFileError(
                    f"{path}: line {number}: a section before AdocVersion, expected a SerialEM Navigator file "
                    "(AdocVersion = 2.00 on its first line)"
                )
            if label is not None:
                items.append(_item(label, where, values))
            label, values, lines = None, {}, {}
            if section.group(1) == "Item":
                label, where = section.group(2), f"{path}: line {number}"
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise InputFileError(f"{path}: line {number}: {line[:60]!r}, expected 'key = value' or '[Item = LABEL]'")
        if not version_seen:
            if key != "AdocVersion":
                raise InputFileError(
                    f"{path}: line {number}: {key} before AdocVersion, expected a SerialEM Navigator file "
                    "(AdocVersion = 2.00 on its first line)"
                )
            if not VERSION.fullmatch(value):
                raise InputFileError(f"{path}: line {number}: AdocVersion is {value!r}, expected a number (2.00)")
            version_seen = True
        elif label is not None and key in ITEM_KEYS:
            if key in values:
                raise InputFileError(
                    f"{path}: line {number}: {key} given twice in [Item = {label}] (first at line {lines[key]})"
                )
            values[key], lines[key] = (value, f"{path}: line {number}"), number
    if label is not None:
        items.append(_item(label, where, values))
    if not version_seen:
        raise InputFileError(f"{path}: no AdocVersion line, expected a SerialEM Navigator file (AdocVersion = 2.00)")
    return items


def _xml_items(path: Path, data: bytes) -> list[NavItem]:
    """Each ``<Item name="LABEL">`` element's keys that are read (SerialEM's XML Navigator)."""
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError) as err:
        raise InputFileError(f"{path}: not an XML file ({err})") from None
    if root.tag != "navigator":
        raise InputFileError(f"{path}: root element <{root.tag}>, expected SerialEM's <navigator>")
    items = []
    for element in root:
        if element.tag != "Item":
            continue
        label = element.get("name")
        if label is None:
            raise InputFileError(f'{path}: an <Item> without a name attribute, expected <Item name="LABEL">')
        where = f'{path}: <Item name="{label}">'
        values: dict[str, tuple[str, str]] = {}
        for child in element:
            if child.tag in ITEM_KEYS:
                if child.tag in values:
                    raise InputFileError(f"{where}: <{child.tag}> given twice")
                values[child.tag] = ((child.text or "").strip(), f"{where}: <{child.tag}>")
        items.append(_item(label.strip(), where, values))
    return items


def _item(label: str, where: str, values: dict[str, tuple[str, str]]) -> NavItem:
    """The item the read keys describe, each an integer within SerialEM's range (0 when absent)."""

    def integer(key: str) -> int:
        if key not in values:
            return 0
        value, at = values[key]
        return _whole(value, f"{at}: {key} of item {label}")

    return NavItem(
        label=label,
        where=where,
        same_pos_id=integer("SamePosId"),
        map_id=integer("MapID"),
        drawn_id=integer("DrawnID"),
        is_map=integer("Type") == MAP_TYPE,
    )


#: A whole number as SerialEM writes one (not Python's ``1_000`` or ``0x10``).
WHOLE = re.compile(r"[+-]?[0-9]+")
#: A version number (``2.00``).
VERSION = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def _whole(text: str, where: str) -> int:
    """``text`` as a whole number within SerialEM's ``int``; else an error naming ``where`` and the value."""
    if not WHOLE.fullmatch(text):
        raise InputFileError(f"{where} is {text!r}, expected a whole number")
    value = int(text)
    if abs(value) > MAX_ID:
        raise InputFileError(f"{where} is {text!r}, expected a whole number within ±{MAX_ID} (SerialEM's int)")
    return value


# --- linking acquisitions to items -------------------------------------------------------------


@dataclass
class Links:
    """Per acquisition, its Navigator item (None: not linked), and what could not be linked."""

    items: list[NavItem | None]
    files: int  # the .nav files read
    item_count: int  # their items
    unnamed: int  # acquisitions without a NavigatorLabel
    unknown: list[str]  # labels no .nav has
    ambiguous: list[str]  # labels two items have (in one .nav or in two)

    def summary(self) -> dict:
        """The summary's ``navigator`` entry."""
        return {
            "files": self.files,
            "items": self.item_count,
            "acquisitions_linked": sum(item is not None for item in self.items),
        }

    def warning(self) -> str | None:
        """One line saying which acquisitions could not be linked to an item, None when all were."""
        said = []
        if self.unnamed:
            said.append(
                f"{self.unnamed:,} acquisition(s) with no NavigatorLabel in their .mdoc (SerialEM writes it "
                "while Acquire at Items runs)"
            )
        if self.unknown:
            said.append(f"{len(self.unknown):,} NavigatorLabel(s) no .nav has, e.g. {self.unknown[0]!r}")
        if self.ambiguous:
            said.append(f"{len(self.ambiguous):,} label(s) two items have, e.g. {self.ambiguous[0]!r}")
        if not said:
            return None
        linked = sum(item is not None for item in self.items)
        return (
            f"--metadata: {linked:,} of {len(self.items):,} acquisitions linked to a Navigator item "
            f"({self.item_count:,} items in {self.files} .nav file(s)); not linked: {'; '.join(said)}; "
            "SamePosId is read for the linked ones only"
        )


def link(labels: Sequence[str | None], navigators: Sequence[Navigator]) -> Links:
    """Each acquisition's item, by its ``NavigatorLabel`` (``labels``); a label two items have links none."""
    by_label: dict[str, list[NavItem]] = {}
    for nav in navigators:
        for item in nav.items:
            by_label.setdefault(item.label, []).append(item)
    items: list[NavItem | None] = []
    unknown: dict[str, None] = {}
    ambiguous: dict[str, None] = {}
    for label in labels:
        found = by_label.get(label, []) if label is not None else []
        if label is not None and not found:
            unknown[label] = None
        elif len(found) > 1:
            ambiguous[label or ""] = None
        items.append(found[0] if len(found) == 1 else None)
    return Links(
        items,
        len(navigators),
        sum(len(nav.items) for nav in navigators),
        sum(label is None for label in labels),
        list(unknown),
        list(ambiguous),
    )


def map_labels(navigators: Sequence[Navigator]) -> dict[int, str]:
    """Each map's MapID and its label: the map an item was drawn on (``DrawnID``) is named by it."""
    return {item.map_id: item.label for nav in navigators for item in nav.items if item.is_map and item.map_id}
