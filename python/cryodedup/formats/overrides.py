"""The overrides file (``--overrides``): a user's corrections to a run's decisions.

CSV (RFC 4180) with a header line ``kind,input,row,name,partner,action``, then one line an override:

- ``particle,INPUT,ROW,NAME,,keep`` (or ``reject``): a particle as ``decisions.csv`` names it: its
  input as the summary names it, its row in that input from 1, and its name (its image, uid or
  pick); the jobs refuse a row whose particle is not NAME (the inputs changed since);
- ``pair,,,MICROGRAPH_A,MICROGRAPH_B,duplicate`` (or ``distinct``): two micrographs by name.

The report page and the napari plugin write it (:func:`format_overrides`); the jobs read it
(:func:`read_overrides`). Nothing here looks at the inputs: the jobs match each override to them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError, one_line
from ..paths import StrPath

__all__ = ["Overrides", "ParticleOverride", "format_overrides", "read_overrides"]

#: The header line's fields, in their order.
_HEADER = ("kind", "input", "row", "name", "partner", "action")

#: What a ``particle`` line may say of its particle.
_PARTICLE_ACTIONS = ("keep", "reject")

#: What a ``pair`` line may say of its two micrographs.
_PAIR_ACTIONS = ("duplicate", "distinct")


@dataclass(frozen=True)
class ParticleOverride:
    """One particle forced kept (``keep``) or rejected: its input, row from 1 and name, and the file's line."""

    input: str
    row: int
    name: str
    keep: bool
    line: int

    @property
    def action(self) -> str:
        """``keep`` or ``reject``, as the file writes it."""
        return "keep" if self.keep else "reject"


@dataclass(frozen=True)
class PairOverride:
    """Two micrographs marked duplicates of each other (``duplicate``) or not (``distinct``), and the file's line."""

    a: str
    b: str
    duplicate: bool
    line: int

    @property
    def action(self) -> str:
        """``duplicate`` or ``distinct``, as the file writes it."""
        return "duplicate" if self.duplicate else "distinct"

    @property
    def key(self) -> frozenset[str]:
        """The two names, in no order (``a,b`` and ``b,a`` are one pair)."""
        return frozenset((self.a, self.b))


@dataclass(frozen=True)
class Overrides:
    """An overrides file as read: its particles' and its pairs' lines, in the file's order."""

    path: Path | None
    particles: tuple[ParticleOverride, ...] = ()
    pairs: tuple[PairOverride, ...] = ()

    def __len__(self) -> int:
        return len(self.particles) + len(self.pairs)

    def where(self, line: int) -> str:
        """``FILE: line N``, as a message names one of its lines."""
        return f"{self.path if self.path is not None else 'overrides'}: line {line}"


def read_overrides(path: StrPath) -> Overrides:
    """Reads an overrides file; a line that breaks the format is refused, naming the file and the line.

    Refused: a missing or wrong header, a line without six fields, an unknown kind or action, a
    ``particle`` line without an input or with a row that is not a whole number from 1, a ``pair``
    line without two different micrographs, a field given where its kind has none, and one
    particle or pair given twice with different actions. A line given twice alike counts once;
    blank lines are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a spreadsheet's byte order mark)
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not UTF-8 text (byte {err.start}); expected an overrides CSV") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    return _parsed(text, path)


def _parsed(text: str, path: Path | None = None) -> Overrides:
    """The overrides of ``text`` (a file's contents); ``path`` names it in a refusal."""
    where = Overrides(path).where
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    particles: dict[tuple[str, int], ParticleOverride] = {}
    pairs: dict[frozenset[str], PairOverride] = {}
    header_seen, start = False, 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or fields == [""]:
                continue
            if not header_seen:
                if tuple(f.strip() for f in fields) != _HEADER:
                    raise InputFileError(
                        f"{where(line)}: header {one_line(','.join(fields))[:80]!r}, expected {','.join(_HEADER)!r}"
                    )
                header_seen = True
                continue
            _add(_override(fields, line, where), particles, pairs, where)
    except csv.Error as err:
        raise InputFileError(f"{where(reader.line_num)}: {err}; expected CSV (RFC 4180)") from None
    if not header_seen:
        raise InputFileError(f"{where(1)}: empty; expected the header {','.join(_HEADER)!r}")
    return Overrides(path, tuple(particles.values()), tuple(pairs.values()))


def _override(fields: list[str], line: int, where: Callable[[int], str]) -> ParticleOverride | PairOverride:
    """One line's override; a line that breaks the format is refused."""
    if len(fields) != len(_HEADER):
        raise InputFileError(f"{where(line)}: {len(fields)} fields, expected {len(_HEADER)} ({','.join(_HEADER)})")
    kind, input_, row, name, partner, action = fields
    if kind == "particle":
        if action not in _PARTICLE_ACTIONS:
            raise InputFileError(f"{where(line)}: action {one_line(action)!r}, expected keep or reject for a particle")
        if not input_:
            raise InputFileError(
                f"{where(line)}: a particle without its input, expected the input as the summary names it"
            )
        if not (row.isascii() and row.isdigit()) or int(row) < 1:
            raise InputFileError(f"{where(line)}: row {one_line(row)!r}, expected the particle's row from 1")
        if partner:
            raise InputFileError(f"{where(line)}: partner {one_line(partner)!r} on a particle line, expected it empty")
        return ParticleOverride(input_, int(row), name, action == "keep", line)
    if kind == "pair":
        if action not in _PAIR_ACTIONS:
            raise InputFileError(
                f"{where(line)}: action {one_line(action)!r}, expected duplicate or distinct for a pair"
            )
        if input_ or row:
            raise InputFileError(f"{where(line)}: input or row on a pair line, expected both empty")
        if not name or not partner or name == partner:
            raise InputFileError(f"{where(line)}: a pair needs two different micrographs (name and partner)")
        return PairOverride(name, partner, action == "duplicate", line)
    raise InputFileError(f"{where(line)}: kind {one_line(kind)[:40]!r}, expected particle or pair")


def _add(
    override: ParticleOverride | PairOverride,
    particles: dict[tuple[str, int], ParticleOverride],
    pairs: dict[frozenset[str], PairOverride],
    where: Callable[[int], str],
) -> None:
    """Adds ``override`` to those read; one that says the opposite of an earlier line is refused."""
    if isinstance(override, ParticleOverride):
        key: object = (override.input, override.row)
        earlier: ParticleOverride | PairOverride | None = particles.get((override.input, override.row))
    else:
        key = override.key
        earlier = pairs.get(override.key)
    if earlier is not None:
        same = earlier.action == override.action and getattr(earlier, "name", None) == getattr(override, "name", None)
        if not same:
            raise InputFileError(f"{where(override.line)}: contradicts line {earlier.line} ({earlier.action})")
        return
    if isinstance(override, ParticleOverride):
        particles[key] = override  # type: ignore[index]
    else:
        pairs[key] = override  # type: ignore[index]


def format_overrides(
    particles: Iterable[tuple[str, int, str, str]] = (), pairs: Iterable[tuple[str, str, str]] = ()
) -> str:
    """The file's text: ``particles`` as (input, row, name, action), ``pairs`` as (a, b, action).

    Lines end in CRLF, as RFC 4180 writes them; fields are quoted where they need it.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_HEADER)
    for input_, row, name, action in particles:
        if action not in _PARTICLE_ACTIONS:
            raise ValueError(f"particle action {action!r}, expected keep or reject")
        writer.writerow(("particle", input_, int(row), name, "", action))
    for a, b, action in pairs:
        if action not in _PAIR_ACTIONS:
            raise ValueError(f"pair action {action!r}, expected duplicate or distinct")
        writer.writerow(("pair", "", "", a, b, action))
    return out.getvalue()
