"""What the ``--update`` stores share: one SQLite database, a transaction a round, output files kept in it.

A store is ``store.sqlite`` in its folder, written by Python's ``sqlite3`` with a rollback
journal and ``synchronous=FULL`` (not WAL: WAL needs memory shared on one host, which NFS,
Lustre and GPFS do not give; the output folder's lock keeps one writer). A round is one
transaction: a stop or an error before its commit leaves the store as the round before left
it, SQLite rolling back its journal when the store is next opened.

Every output file an ``--update`` round writes is kept in the store too (zlib-compressed, its
size and SHA-256 beside it), so a file missing or stale after a stop is written again from the
store, byte for byte. Damage is found by SQLite (a page that does not parse, ``PRAGMA
quick_check`` of the small tables), by a CRC-32 in each row a round reads, and by the files'
digests: each is one line naming the store and ``--update --force``.

A store another process holds locked (a ``BEGIN EXCLUSIVE`` of a program reading it) is busy,
not damaged: SQLite waits for it up to :data:`BUSY_TIMEOUT` seconds (the environment's
``CRYODEDUP_STORE_BUSY_TIMEOUT``, which the tests set short), then the round is refused in one
line (:func:`busy`) that never offers ``--force``: nothing was added, and the same command
goes on once the lock is gone.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CryodedupError, DamagedStoreError, OutputError

__all__ = [
    "DAMAGE",
    "DATABASE",
    "Stamp",
    "StoreError",
    "busy",
    "busy_timeout",
    "connect",
    "copy_tail",
    "file_digest",
    "first_changed",
    "is_busy",
    "pack",
    "pack_bytes",
    "place_file",
    "quick_check",
    "reason",
    "refuse",
    "remove_unborn",
    "same_bytes",
    "same_file",
    "settled_stamp",
    "sha256_bytes",
    "stamp_record",
    "stat_stamp",
    "transaction",
    "typed",
    "unpack",
]

DATABASE = "store.sqlite"
#: zlib's level for the files kept in the store: the fastest (a round's cost), 3-5x on STAR text.
LEVEL = 1
#: Seconds a store locked by another process is waited for before the round is refused as busy.
BUSY_TIMEOUT = 30.0
#: The environment variable that sets another wait (seconds; the tests' is short).
BUSY_TIMEOUT_VARIABLE = "CRYODEDUP_STORE_BUSY_TIMEOUT"


class StoreError(Exception):
    """What is wrong with a store, as a phrase (the caller names the store and the way out)."""


def connect(path: Path, create: bool) -> sqlite3.Connection:
    """The store's database, opened (made when ``create``); refuses a name that is not a plain file.

    Autocommit mode: :func:`transaction` opens each transaction itself (``BEGIN IMMEDIATE``).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise StoreError(f"cannot be read ({err.strerror})") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise StoreError("is a symbolic link, not a file" if stat.S_ISLNK(info.st_mode) else "not a file")
    if info is None and not create:
        raise StoreError("missing")
    if info is not None and info.st_size and not _sqlite_header(path):
        # (SQLite reads a file shorter than its header as an empty database: a damaged store taken for none)
        raise StoreError("not an SQLite database (it does not start with SQLite's header)")
    try:
        db = sqlite3.connect(path, timeout=busy_timeout(), isolation_level=None, check_same_thread=False)
        db.text_factory = _text  # (a damaged text is read as it is, and found wrong where it is checked)
        # A rollback journal emptied at each commit (TRUNCATE: not removed and made again, 10x faster here).
        db.execute("PRAGMA journal_mode=TRUNCATE")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("PRAGMA cell_size_check=ON")  # (a page that does not parse is an error, not a crash)
    except sqlite3.Error as err:
        if is_busy(err):
            raise  # (the caller's refuse() says busy, naming the store)
        raise StoreError(reason(err)) from None
    except (
        MemoryError
    ):  # (SQLITE_NOMEM on a small file: a header whose sizes are nonsense, not a machine out of memory)
        raise StoreError(
            "not readable as an SQLite database (its header asks SQLite for more memory than it has)"
        ) from None
    return db


def remove_unborn(folder: Path) -> None:
    """A store a refused first round made, removed: its database if empty, its empty journal, ``folder`` if empty.

    Called once the round's transaction is rolled back and the database closed: a refused run
    leaves no file behind (before: a 0-byte store and journal). Only an empty database goes (a
    rolled-back first round's; never another round's committed store), and its journal only
    when empty (one that holds pages is SQLite's to roll back).
    """
    path, journal = folder / DATABASE, folder / (DATABASE + "-journal")
    with suppress(OSError):
        if os.path.lexists(journal) and (not os.path.isfile(journal) or os.path.getsize(journal)):
            return
        if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path):
            return
        path.unlink()
        with suppress(FileNotFoundError):
            journal.unlink()
        folder.rmdir()  # (not empty: left as it is)


def _sqlite_header(path: Path) -> bool:
    """Whether the file starts with SQLite's header, or a rollback journal will restore it (a round killed mid-commit).

    A journal that is there and not empty is SQLite's to roll back when it opens the file: not judged here.
    """
    journal = path.with_name(path.name + "-journal")
    try:
        if journal.exists() and journal.stat().st_size:
            return True
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return True  # (what cannot be read is said by SQLite's own open, as before)


#: The first bytes of every SQLite 3 database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"


def busy_timeout() -> float:
    """The seconds SQLite waits for a store another process holds locked (:data:`BUSY_TIMEOUT_VARIABLE`).

    A value that is not such a number is the environment's mistake, not the store's: each job
    asks for it before it opens (or, with ``--force``, removes) a store, so that the line says
    so and no store is judged damaged for it.
    """
    text = os.environ.get(BUSY_TIMEOUT_VARIABLE)
    if text is None:
        return BUSY_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:  # (NaN too)
        raise CryodedupError(
            f"the environment variable {BUSY_TIMEOUT_VARIABLE}={text!r}: expected a number of seconds from 0 to "
            f"86400 (how long --update waits for a store another process holds locked; unset, {BUSY_TIMEOUT:g}); "
            "a setting to correct: the --update store was not opened"
        )
    return seconds


def is_busy(err: BaseException) -> bool:
    """Whether ``err`` is SQLite's "busy": another connection holds the store locked (not damage)."""
    if not isinstance(err, sqlite3.OperationalError):
        return False
    code = getattr(err, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == sqlite3.SQLITE_BUSY) or str(err).startswith("database is locked")


def busy(where: Path) -> OutputError:
    """The one line of a store another process holds locked past the wait: nothing added, no ``--force``."""
    return OutputError(
        f"{where}: the --update store is busy (locked by another process); nothing was added; try again when it "
        "finishes"
    )


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


#: What reading a damaged store may raise besides :class:`StoreError`: SQLite's errors, values of the wrong type.
DAMAGE = (sqlite3.Error, ValueError, TypeError, KeyError, IndexError, OverflowError)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction (``BEGIN IMMEDIATE``): committed when the block ends, rolled back if it fails."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            with suppress(sqlite3.Error):  # (else the journal rolls it back when the store is next opened)
                db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def reason(err: BaseException) -> str:
    """What SQLite (or the system) said, as a phrase for one line."""
    if isinstance(err, OSError):
        return {errno.ENOSPC: "the disk is full"}.get(err.errno or 0, err.strerror or str(err))
    text = str(err) or type(err).__name__
    return {"database or disk is full": "the disk is full"}.get(text, text)


def quick_check(db: sqlite3.Connection, tables: tuple[str, ...] = ()) -> None:
    """SQLite's own check of ``tables`` (pages and rows well formed), or of the whole store; :class:`StoreError` if not.

    The whole store: ``integrity_check``, also each index against its table.
    """
    for table in tables or (None,):
        found = [row[0] for row in db.execute(f"PRAGMA quick_check({table})" if table else "PRAGMA integrity_check")]
        if found != ["ok"]:
            raise StoreError(f"SQLite's check{f' of its table {table}' if table else ''} failed ({found[0][:120]})")


def pack(path: Path) -> tuple[bytes, int, str]:
    """The file ``path`` as the store keeps it: compressed, its size and SHA-256 (read a block at a time)."""
    digest, packer, parts, size = hashlib.sha256(), zlib.compressobj(LEVEL), [], 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
            parts.append(packer.compress(block))
            size += len(block)
    parts.append(packer.flush())
    return b"".join(parts), size, digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def first_changed(
    names: Sequence[str], mine: Mapping[str, Any], other: Mapping[str, Any]
) -> tuple[str, Any, Any] | None:
    """The first option of ``names`` whose values in two records' options differ: (flag, mine, other)."""
    for name in names:
        a, b = mine.get(name), other.get(name)
        if a != b:
            return f"--{name.replace('_', '-')}", a, b
    return None


_Record = TypeVar("_Record")


def typed(cls: type[_Record], document: Any) -> _Record | None:
    """A stored JSON object as the dataclass ``cls`` whose fields are exactly its keys; None when it is not one.

    The one place a store's documents become records: the keys are checked here, the values'
    types by the record itself.
    """
    names = sorted(f.name for f in fields(cls))  # type: ignore[arg-type]
    if not isinstance(document, dict) or sorted(document) != names:
        return None
    return cls(**document)


def pack_bytes(data: bytes) -> bytes:
    """``data`` compressed as the store keeps it."""
    return zlib.compress(data, LEVEL)


def unpack(blob: bytes, size: int, sha256: str | None, what: str) -> bytes:
    """A file kept in the store, checked against its size and SHA-256 (:class:`StoreError` naming ``what``)."""
    try:
        data = zlib.decompress(blob)
    except (zlib.error, TypeError):
        raise StoreError(f"{what}: its copy in the store does not decompress (damaged)") from None
    if len(data) != size or (sha256 is not None and hashlib.sha256(data).hexdigest() != sha256):
        raise StoreError(f"{what}: its copy in the store is not the file the round wrote (damaged)")
    return data


def file_digest(path: Path, start: int = 0, stop: int | None = None) -> str | None:
    """The SHA-256 of bytes ``start`` to ``stop`` (the end) of the plain file ``path``; None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            f.seek(start)
            left = max(0, stop - start) if stop is not None else -1
            while left != 0:
                block = f.read(1 << 22 if left < 0 else min(left, 1 << 22))
                if not block:
                    break
                digest.update(block)
                left -= len(block) if left > 0 else 0
    except OSError:
        return None
    return digest.hexdigest()


def same_file(path: Path, size: int, sha256: str) -> bool:
    """Whether ``path`` is a plain file of ``size`` bytes and that SHA-256."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size and file_digest(path) == sha256


def stat_stamp(path: Path) -> list[int] | None:
    """The plain file ``path``'s inode, size, modification and change times (ns); None if it is not one."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns] if stat.S_ISREG(info.st_mode) else None


def settled_stamp(path: Path) -> list[int] | None:
    """``path``'s :func:`stat_stamp` once its modification time is set 1 ns back: a stamp no later write keeps.

    A write sets the modification time to the clock's, later than the one set back even on a file
    system that keeps whole seconds or within the clock's tick; setting the times back by hand
    sets the change time (only the system sets that). So a file with this stamp was not written
    since. (Another user's file cannot have its times set: then its stamp as it is, which a write
    within the same tick of the clock would keep.)
    """
    before = stat_stamp(path)
    if before is not None:
        with suppress(OSError):
            os.utime(path, ns=(os.lstat(path).st_atime_ns, before[2] - 1), follow_symlinks=False)
    return stat_stamp(path)


def copy_tail(path: Path, start: int, out: Any) -> None:
    """The bytes of ``path`` from ``start`` on, written to ``out`` a block at a time."""
    with open(path, "rb") as f:
        f.seek(start)
        shutil.copyfileobj(f, out, 1 << 22)


def same_bytes(a: Path, b: Path) -> bool:
    """Whether the plain file ``b`` holds the bytes of ``a`` (a link or a missing file: no)."""
    try:
        if not stat.S_ISREG(os.lstat(b).st_mode) or os.path.getsize(a) != os.path.getsize(b):
            return False
    except OSError:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:  # (4 MB blocks: filecmp's 8 KB ones ran at 70 MB/s)
        return all(block == fb.read(len(block)) for block in iter(lambda: fa.read(1 << 22), b""))


@dataclass(frozen=True)
class Stamp:
    """A file's stamp as a store records it once a round left it: the round, and :func:`settled_stamp`'s."""

    round: int
    stamp: list[int] | None

    def to_json(self) -> str:
        """As the store keeps it (``{"round": N, "stamp": [...]}``)."""
        return json.dumps({"round": self.round, "stamp": self.stamp})


def stamp_record(text: str | None) -> Stamp | None:
    """A file's stamp as a store records it; None when there is none or it is damaged."""
    try:
        known = typed(Stamp, json.loads(text or "null"))
    except ValueError:
        return None
    good = known is not None and isinstance(known.stamp, list)
    return known if good and all(type(v) is int for v in [known.round, *known.stamp]) else None  # type: ignore[union-attr,misc]


def place_file(path: Path, data: bytes) -> None:
    """Writes ``data`` as ``path``: under a temporary name, synced, then renamed (a stop leaves the old or the new)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def refuse(where: Path, what: str | BaseException) -> CryodedupError:
    """The one line of a damaged store: where, what is wrong, and that ``--update --force`` starts anew.

    ``what`` an error: its :func:`reason`, or the store :func:`busy` when it is SQLite's busy.
    """
    if isinstance(what, BaseException):
        if is_busy(what):
            return busy(where)
        what = reason(what)
    return DamagedStoreError(
        f"{where}: {what}; the --update store is damaged: --update --force starts the running kept set anew "
        "from this batch (files the store did not write are kept)"
    )
