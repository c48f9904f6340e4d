"""What the jobs' shards share: ``--shard K/N``, their folders, their ``shard.json`` typed, the merge's checks.

A record is a frozen dataclass whose nested records name their type in the field's metadata
(:data:`RECORD_OF`); its spec says what each field must be (a check and its words, or a nested
spec). :func:`wrong_field` names the first field an edited or damaged document gets wrong, and
:func:`typed` makes the record of a document it passed. :class:`ShardRecord` is what every
job's ``shard.json`` holds first (which shard of how many), and :class:`RunRecord` what makes
two shards parts of one run; the micrograph job's records (``micrographs/shard_record.py``) and
the particle job's (``particles/shard_record.py``) add their fields to both.
:meth:`ShardRecord.of_folder` reads a folder's ``shard.json`` into a job's record and checks
the data file it names.
:func:`complete_shards` is the check every merge makes: each shard complete, of one run, given
once, and none missing; one line says which is not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import CryodedupError, InputFileError, OptionError, OutputError
from ..formats.files import read_foreign_json
from ..options.micrographs import MAX_IMAGES
from ..paths import StrPath
from .store_db import file_digest, first_changed

__all__ = [
    "MARKER",
    "RECORD_OF",
    "RunRecord",
    "ShardRecord",
    "complete_shards",
    "give_up",
    "list_of",
    "number",
    "open_shard_folder",
    "or_null",
    "parse_shard",
    "shard_folder",
    "shard_folders_in",
    "shown",
    "text",
    "typed",
    "whole",
]

#: A shard's record, written last: its completion marker.
MARKER = "shard.json"

#: A field's metadata: the record type its JSON object is read into.
RECORD_OF = "record"

Record = TypeVar("Record")


def typed(kind: type[Record], document: dict[str, Any]) -> Record:
    """The record ``kind`` of a JSON object :func:`wrong_field` checked: each field by name, nested ones typed."""
    values = {}
    for f in fields(kind):  # type: ignore[arg-type]  # (a dataclass)
        nested = f.metadata.get(RECORD_OF)
        values[f.name] = typed(nested, document[f.name]) if nested else document[f.name]
    return kind(**values)


def whole(value: object) -> bool:
    """Whether a JSON value is a whole number (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: object) -> bool:
    """Whether a JSON value is a number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def list_of(item: Callable[[object], bool], length: int | None = None) -> Callable[[object], bool]:
    """The check of a list whose items pass ``item`` (of ``length`` items, if given)."""

    def check(value: object) -> bool:
        return isinstance(value, list) and (length is None or len(value) == length) and all(map(item, value))

    return check


def or_null(check: Callable[[object], bool]) -> Callable[[object], bool]:
    """The check ``check``, null allowed too."""
    return lambda value: value is None or check(value)


def text(value: object) -> bool:
    """Whether a JSON value is a string."""
    return isinstance(value, str)


def wrong_field(record: dict[str, Any], spec: dict[str, Any], where: str = MARKER) -> str:
    """What is wrong with the first field of ``record`` that ``spec`` does not allow ("" when none)."""
    for name, expected in spec.items():
        field = f"{where}.{name}" if where != MARKER else f"{MARKER}: {name}"
        if name not in record:
            return f"{field} is missing"
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                return f"{field} is {shown(value)}, expected an object"
            wrong = wrong_field(value, expected, field)
            if wrong:
                return wrong
        elif not expected[0](value):
            return f"{field} is {shown(value)}, expected {expected[1]}"
    return ""


def shown(value: object) -> str:
    """A JSON value as written, shortened."""
    dumped = json.dumps(value)
    return dumped if len(dumped) <= 60 else dumped[:60] + "..."


# --- the records every job's shards share --------------------------------------------------------------------

Shard = TypeVar("Shard", bound="ShardRecord")


@dataclass(frozen=True)
class RunRecord:
    """What makes two shards parts of one run; a job's record adds its fields after ``inputs``, ``options`` last.

    ``COMPARED``: the fields :meth:`difference` compares after the options, each with its words
    (``{mine}`` and ``{other}``: the two values, a list joined with commas).
    """

    inputs: list[str]
    if TYPE_CHECKING:  # (a field of each job's record, after its own: the fields' order is the document's)
        options: dict[str, Any]

    COMPARED: ClassVar[tuple[tuple[str, str], ...]] = (("inputs", "other inputs"),)

    def difference(self, other: RunRecord) -> str:
        """The first thing two runs differ in, in words: an option, then the ``COMPARED`` fields."""
        names = list(dict.fromkeys([*self.options, *other.options]))
        changed = first_changed(names, self.options, other.options)
        if changed:
            return f"{changed[0]} {changed[2]} against {changed[1]}"
        for name, words in self.COMPARED:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                return words.format(mine=_joined(mine), other=_joined(theirs))
        return "another run"


def _joined(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class ShardRecord:
    """What every job's ``shard.json`` holds first: which shard of how many; a job's record adds the rest.

    ``FORMAT``: the document's ``format``; ``JOB``: what its shards are called ("particle");
    ``SPEC``: what each field the merge reads must be (:func:`wrong_field`).
    """

    shard: int
    shards: int

    FORMAT: ClassVar[str] = ""
    JOB: ClassVar[str] = ""
    #: Earlier formats, named when read (such a shard is run again), and what their documents lack.
    EARLIER: ClassVar[tuple[str, ...]] = ()
    EARLIER_LACKS: ClassVar[str] = ""
    SPEC: ClassVar[dict[str, Any]] = {"shard": (whole, "a whole number"), "shards": (whole, "a whole number")}
    #: The shard's data file, and the field of the record that gives its size and SHA-256 (``bytes``, ``sha256``).
    DATA: ClassVar[str] = ""
    DATA_FIELD: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The document ``shard.json`` holds: its format, then the fields in order."""
        return {"format": self.FORMAT, **asdict(self)}

    def wrong(self) -> str:
        """What else is wrong with a record whose fields are each right ("" when nothing): a job's own checks."""
        return ""

    @classmethod
    def of_document(cls: type[Shard], document: object) -> tuple[Shard | None, str]:
        """The record of a ``shard.json`` document and "", or None and what is wrong with it (its first field)."""
        if isinstance(document, dict) and document.get("format") in cls.EARLIER:
            return None, f"{MARKER} was written by an earlier cryodedup ({cls.EARLIER_LACKS})"
        if not isinstance(document, dict) or document.get("format") != cls.FORMAT:
            return None, f"{MARKER} is not a cryodedup {cls.JOB} shard's"
        wrong = wrong_field(document, cls.SPEC)
        if wrong:
            return None, wrong
        record = typed(cls, document)
        if not 1 <= record.shard <= record.shards:
            return None, f"{MARKER}: shard {record.shard} of {record.shards}, expected 1 <= shard <= shards"
        wrong = record.wrong()
        return (None, wrong) if wrong else (record, "")

    @classmethod
    def of_folder(cls: type[Shard], folder: Path) -> tuple[Shard | None, str]:
        """The record of the complete shard in ``folder`` and "", or None and why the shard is not complete.

        Every field of ``shard.json`` the merge reads is checked (an edited or damaged file names
        its field), and the data file against the size and digest it records.
        """
        record, wrong = _read_marker(folder, cls)
        if record is None:
            return None, wrong
        data = getattr(record, cls.DATA_FIELD)
        wrong = _file_wrong(folder / cls.DATA, data.bytes, data.sha256)
        return (None, wrong) if wrong else (record, "")


def _read_marker(folder: Path, kind: type[Shard]) -> tuple[Shard | None, str]:
    """The record ``kind`` of ``folder``'s ``shard.json`` and "", or None and why the shard is not complete."""
    marker = folder / MARKER
    if not os.path.lexists(marker) and reached(folder):
        return None, f"no {MARKER}: still running, or stopped before the end"
    try:
        document = read_foreign_json(marker, f"a cryodedup {kind.JOB} shard's {MARKER}")
    except InputFileError as err:  # (not a regular file, too large, not JSON: what, after the file's name)
        return None, f"{MARKER} cannot be read ({str(err).split(': ', 1)[-1]})"
    return kind.of_document(document)


def _file_wrong(path: Path, size: int, sha256: str | None) -> str:
    """What is wrong with a shard's data file against the size and SHA-256 its marker records ("" when nothing)."""
    if not path.exists():
        return f"no {path.name}"
    if not path.is_file():
        return f"{path.name} is not a regular file"
    if path.stat().st_size != size or file_digest(path) != sha256:
        return f"{path.name} does not match {MARKER} (truncated or changed)"
    return ""


# --- shard folders: named, found, complete, of one run -------------------------------------------------------

SHARD_FOLDER = re.compile(r"shard-(\d+)-of-(\d+)")


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` as (K, N), K from 1 to N (``--array=1-N``, ``--shard ${SLURM_ARRAY_TASK_ID}/N``)."""
    match = re.fullmatch(r"\s*(\d{1,20})\s*/\s*(\d{1,20})\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]) <= MAX_IMAGES:
        raise OptionError(
            f"--shard {text!r}: expected K/N with 1 <= K <= N <= {MAX_IMAGES:,} (as ${{SLURM_ARRAY_TASK_ID}}/N)"
        )
    return int(match[1]), int(match[2])


def shard_folder(outdir: Path, shard: int, shards: int) -> Path:
    """``outdir/shard-K-of-N``, K zero-padded so that the folders sort in order."""
    return outdir / f"shard-{shard:0{len(str(shards))}d}-of-{shards}"


@dataclass(frozen=True)
class OpenedShard:
    """A shard's folder made ready: its path, and the complete record of this run found there (None: decide it).

    ``replaces``: a complete shard of another run is there, to be replaced (``--force``);
    ``created``: this run made the folder.
    """

    path: Path
    done: Any
    replaces: bool
    created: bool


def open_shard_folder(
    outdir: Path,
    shard: int,
    shards: int,
    run: RunRecord,
    state: Callable[[Path], tuple[Any, str]],
    force: bool,
    log: Callable[[str, str], None],
) -> OpenedShard:
    """``outdir/shard-K-of-N`` made ready for the shard of ``run`` (``record.run``: what two shards of one run share).

    A complete shard of the same run is given back (``done``: the caller keeps it, or checks it
    further); one of another run is refused unless ``force``; an incomplete one is said and run
    again from scratch.
    """
    folder = shard_folder(outdir, shard, shards)
    record, why = state(folder)
    if record is not None and record.run == run and record.shards == shards:
        log(f"{folder}: shard {shard}/{shards} already complete", "info")
        return OpenedShard(folder, record, False, False)
    if record is not None and not force:
        raise OutputError(
            f"{folder}: holds a shard of another run ({run.difference(record.run)}); "
            "use --force to replace it, or another -o"
        )
    if record is None and (folder / MARKER).exists():
        log(f"{folder}: incomplete ({why}); run again from scratch", "warning")
    created = not folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot create the shard folder ({err.strerror})") from None
    return OpenedShard(folder, None, record is not None, created)


def give_up(folder: Path, created: bool) -> None:
    """Removes this process's temporary files in a shard folder, and the folder if it made it and it is empty."""
    for leftover in folder.glob(f".*.{os.getpid()}.tmp"):
        leftover.unlink(missing_ok=True)
    if created:
        with suppress(OSError):  # not empty: a complete pairs.npz without its marker is an incomplete shard
            folder.rmdir()


def reached(folder: Path) -> bool:
    """Whether the files in ``folder`` can be looked at (a folder without permission cannot: its read says so)."""
    try:
        os.stat(os.path.join(folder, "."))
    except OSError:
        return False
    return True


def shard_folders_in(arguments: Sequence[StrPath]) -> list[Path]:
    """Shard folders given, or found (``shard-K-of-N``) in the folders given."""
    folders: list[Path] = []
    for argument in map(Path, arguments):
        if (argument / MARKER).exists() or SHARD_FOLDER.fullmatch(argument.name):
            folders.append(argument)
        elif argument.is_dir():
            found = sorted(p for p in argument.iterdir() if p.is_dir() and SHARD_FOLDER.fullmatch(p.name))
            if not found:
                raise CryodedupError(
                    f"{argument}: neither a shard folder ({MARKER}) nor a folder of shard-K-of-N folders"
                )
            folders += found
        else:
            raise CryodedupError(f"{argument}: no such folder")
    return folders


def complete_shards(
    folders: list[Path], state: Callable[[Path], tuple[Any, str]], not_of_one_run: Callable[[Path, Any, Any], str]
) -> list[tuple[Path, Any]]:
    """Every shard's record in shard order, after checking that all are complete, of one run, each once, and all there.

    ``state``: a folder's record and "", or None and why it is incomplete; ``not_of_one_run``:
    why a record is not of the first one's run (given the first's folder and record), "" when it is.
    """
    shards = []
    for folder in folders:
        record, why = state(folder)
        if record is None:
            raise CryodedupError(f"{folder}: shard incomplete ({why}); run it again (complete shards are not redone)")
        shards.append((folder, record))
    first_folder, first = shards[0]
    count = first.shards
    seen: dict[int, Path] = {}
    for folder, record in shards:
        if record.shards != count:
            raise CryodedupError(
                f"{folder}: shard {record.shard} of {record.shards}, but {first_folder} is one of {count}"
            )
        wrong = not_of_one_run(first_folder, first, record)
        if wrong:
            raise CryodedupError(f"{folder}: {wrong}")
        if record.shard in seen:
            raise CryodedupError(f"shard {record.shard}/{count} given twice: {seen[record.shard]} and {folder}")
        seen[record.shard] = folder
    missing = count - len(seen)  # every shard seen is one of 1..count (shard_state checked it)
    if missing:
        raise CryodedupError(
            f"shard{'s' if missing > 1 else ''} {_first_missing(seen, count, missing)} of {count} missing "
            f"(found {len(seen)} in {', '.join(sorted({str(f.parent) for f, _ in shards}))})"
        )
    return sorted(shards, key=lambda s: s[1].shard)


#: How many missing shards are named (an edited shard.json may say there are 10**19).
_MISSING_NAMED = 20


def _first_missing(seen: dict[int, Path], count: int, missing: int) -> str:
    """The first missing shard numbers, and how many more (not a set of all ``count``)."""
    named: list[int] = []
    shard = 1
    while len(named) < min(missing, _MISSING_NAMED):  # at most len(seen) + _MISSING_NAMED steps
        if shard not in seen:
            named.append(shard)
        shard += 1
    more = f" and {missing - len(named):,} more" if missing > len(named) else ""
    return ", ".join(map(str, named)) + more
