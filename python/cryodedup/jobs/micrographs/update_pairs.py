"""pairs.csv across ``--update`` rounds: the last round's file appended to where it can be (the round's writer).

An ``--update`` round (``update_round.MicrographRound``) writes pairs.csv by :meth:`PairsCsv.write_pairs`
in place of the plain stages' whole file (``write.write_pairs_whole``): the same bytes, most of them
copied from the last round's file while the round scored. The store keeps what each round's file
holds (:class:`PairsCsvRecord`). A runner's module (``tests/project/test_job_shape.py``): the plain
path knows nothing of rounds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import signals
from ...outputs import scratch_files
from .write import PairRows, append_pair_rows, pair_header, write_pairs_whole

__all__ = ["PairsCsv", "PairsCsvRecord"]


@dataclass(frozen=True)
class PairsCsvRecord:
    """What a round's pairs.csv holds, as the ``--update`` store keeps it (its reader makes it typed).

    The file's stamp (size, mtime_ns, inode) when written, its N ``rows`` made of the first K
    micrograph ``names``, and the ``sha256`` of everything they were made of (:class:`_RowsDigest`).
    """

    stamp: tuple[int, int, int]
    rows: int
    names: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The record as the store keeps it (JSON)."""
        return {"stamp": list(self.stamp), "rows": self.rows, "names": self.names, "sha256": self.sha256}


@dataclass
class PairsCsv:
    """pairs.csv across ``--update`` rounds: what the last round's file holds, and what this round's holds.

    Each a :class:`PairsCsvRecord`: the file's stamp when written, and the digest of everything
    its N rows were made of (the header, the first K micrograph names, every column, the pixel size).
    A round whose first N rows are made of the same (the same digest) and whose file is
    untouched (the same stamp) appends its new rows to a copy of that file: the bytes a fresh
    run writes. Rows are in acquisition order of their later micrograph, so new micrographs
    acquired after the screened ones only add rows at the end; any other change (a threshold
    that moved, a micrograph replaced or given in another order, an edited file) gives another
    digest or stamp, and the file is written whole.

    The copy is made while the round scores (:meth:`copying`, a thread): 93 MB for 5,000
    micrographs, off the round's path (issue 43).
    """

    earlier: PairsCsvRecord | None = None
    written: PairsCsvRecord | None = None
    # The copy :meth:`copying` started: its future and the scratch file it writes.
    copy: tuple[Future[Any], Path] | None = None

    @contextmanager
    def copying(self, final: Path) -> Iterator[None]:
        """The last round's ``final`` copied to a scratch file during the block, if it is the file that round wrote.

        Waited for when the block ends, however it ends (a signal included): the output batch
        removes the scratch file after it, and nothing writes the file after that.
        """
        scratch = scratch_files([final]) if _untouched(self.earlier, final) else None
        if scratch is None:
            yield
            return
        copier = ThreadPoolExecutor(1, thread_name_prefix="cryodedup-copy")
        try:
            self.copy = (copier.submit(shutil.copyfile, final, scratch[final]), scratch[final])
            yield
        finally:
            with signals.deferred():  # (a second signal while the copy ends acts after it)
                copier.shutdown(wait=True)

    def write_pairs(self, paths: tuple[Path, Path], rows: PairRows, binning: int, psize: float) -> None:
        """pairs.csv at ``paths`` (final, temporary): a copy of the last round's file and the rows it lacks, or whole.

        The last round's file is used where its first rows are this round's (:func:`_rows_kept`);
        what this round's holds is recorded (:attr:`written`) for the store.
        """
        final, path = paths
        count = len(rows.columns)
        head = pair_header(rows)
        digest = _RowsDigest(f"{head}{binning}|{psize!r}".encode(), rows.names, rows.columns.arrays())
        start = _rows_kept(self, final, digest, count, len(rows.names))
        copy = self.copied() if start else None
        if copy is not None:
            os.replace(copy, path)  # the last round's file, copied while this round scored
            append_pair_rows(path, rows, start, binning, psize)
        else:
            write_pairs_whole(paths, rows, binning, psize)
        stat = os.stat(path)
        stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        self.written = PairsCsvRecord(stamp, count, len(rows.names), digest.upto(count, len(rows.names)))

    def copied(self) -> Path | None:
        """The scratch file holding the last round's pairs.csv (once copied); None without one (a copy that failed)."""
        if self.copy is None:
            return None
        future, scratch = self.copy
        return scratch if future.exception() is None else None


def _rows_kept(history: PairsCsv, final: Path, digest: _RowsDigest, rows: int, names: int) -> int:
    """How many rows of the last round's pairs.csv are this round's first ones (0: none, or it cannot be told).

    Its record's rows and names must be at most this round's, its copy made (``history.copied``),
    the file as that round wrote it still (the same size, time and inode: not changed while
    copied), and its rows made of the same (the same digest).
    """
    earlier = history.earlier
    if not earlier or not (0 < earlier.rows <= rows and earlier.names <= names):
        return 0
    same = digest.upto(earlier.rows, earlier.names) == earlier.sha256
    return earlier.rows if same and history.copied() is not None and _untouched(earlier, final) else 0


def _untouched(earlier: PairsCsvRecord | None, final: Path) -> bool:
    """Whether ``final`` is the pairs.csv the last round wrote (``earlier``: its record): its size, time and inode."""
    if earlier is None:
        return False
    try:
        stat = os.stat(final)
    except OSError:
        return False
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == earlier.stamp


class _RowsDigest:
    """SHA-256 of what the first rows of pairs.csv are made of, for growing numbers of rows.

    ``head`` (the header line, the binning and pixel size), then the first K names (each with
    its length) and each column's first N values, as bytes: two sets of rows with the same
    digest are the same bytes in pairs.csv. Each value is hashed once however many prefixes
    are asked for (in growing order).
    """

    def __init__(self, head: bytes, names: list[bytes], columns: list[np.ndarray]) -> None:
        self.head, self.names, self.columns = head, names, columns
        self.name_hash, self.named = hashlib.sha256(), 0
        self.column_hashes, self.hashed = [hashlib.sha256() for _ in columns], 0

    def upto(self, rows: int, names: int) -> str:
        """The digest of the first ``rows`` rows and ``names`` names (at least those of an earlier call)."""
        assert rows >= self.hashed and names >= self.named, "prefixes in growing order"
        for name in self.names[self.named : names]:
            self.name_hash.update(len(name).to_bytes(8, "little") + name)
        for column_hash, column in zip(self.column_hashes, self.columns):
            column_hash.update(column[self.hashed : rows].data)  # (contiguous: hashed where it lies)
        self.named, self.hashed = names, rows
        whole = hashlib.sha256(self.head)
        for part in (self.name_hash, *self.column_hashes):
            whole.update(part.digest())
        return whole.hexdigest()
