"""Opening the particle job's ``--update`` store: checked, its last round finished, or started anew.

:func:`open_store` is what a round calls first (with ``--force``: the store removed and the
earlier round files set aside, never deleted); :func:`repair_store` is ``--update --repair``.
The store itself, and what a round writes into it, is :mod:`.store`.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ...errors import CryodedupError, OutputError
from ..store_db import (
    DAMAGE,
    DATABASE,
    StoreError,
    busy,
    busy_timeout,
    connect,
    is_busy,
    quick_check,
    reason,
    refuse,
    stamp_record,
)
from .store import (
    CHECK_WHOLE_BYTES,
    EARLIER,
    EARLIER_PATTERNS,
    FORMAT,
    KINDS,
    RUNNING_FILES,
    SMALL_TABLES,
    STORE,
    DecisionRecord,
    KeptStore,
    RunningState,
    StarHeader,
    changed_running,
    refuse_folder,
)

__all__ = ["open_store", "repair_store"]


def _load_store(folder: Path, kind: str | None) -> KeptStore:
    """The store in ``folder``, checked (empty when there is none); a STAR or .cs store given the other refused.

    ``kind`` None: the store's own kind (STAR when there is none).
    """
    store = KeptStore(folder, kind or "star")
    if os.path.lexists(folder) and (os.path.islink(folder) or not os.path.isdir(folder)):
        raise refuse(folder, "not a folder")
    for name in EARLIER:
        if os.path.lexists(folder / name):
            raise CryodedupError(
                f"{folder / name}: a store written by an earlier cryodedup; this one keeps its store in "
                f"{DATABASE}: --update --force starts the running kept set anew from this batch (files the store "
                "did not write are kept)"
            )
    path = folder / DATABASE
    try:
        if not os.path.lexists(path) or (os.path.isfile(path) and os.path.getsize(path) == 0):
            return store  # (none yet, or made by a first round stopped before its commit)
        db = connect(path, create=False)
        _read(store, db)
    except (StoreError, *DAMAGE) as err:
        raise refuse(path, err) from None
    stored = store.record.kind if store.record else store.kind
    store.kind = kind = kind or stored
    if stored != kind:
        raise CryodedupError(
            f"{folder.parent}: its running kept set is {KINDS[stored]} ({RUNNING_FILES[stored]}), this batch "
            f"{KINDS[kind]}: an --update round adds particles of the kind the earlier rounds had; give another "
            "output folder"
        )
    return store


def _read(store: KeptStore, db: sqlite3.Connection) -> None:
    """The store's state from its database, checked by SQLite (whole while it is small)."""
    path = store.folder / DATABASE
    whole = os.path.getsize(path) <= CHECK_WHOLE_BYTES
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        raise StoreError("not a particle --update store (no table meta)")
    meta = _Meta.read(db)
    if meta.format != FORMAT:
        raise StoreError(f"format {meta.format!r}, this cryodedup reads {FORMAT!r}")
    quick_check(db, () if whole else SMALL_TABLES)  # (whole: also each index against its table, a name found by it)
    store.record, store.star_header = DecisionRecord.from_json(meta.record), StarHeader.from_json(meta.star_header)
    last = db.execute("SELECT round, batch, placed FROM rounds ORDER BY round DESC LIMIT 1").fetchone()
    if last is None:
        raise StoreError("no round")
    store.round, store.last_batch, store.last_placed = last[0], last[1], bool(last[2])
    store.running_stamp = stamp_record(meta.running_stamp)
    store.kept = db.execute("SELECT sum(kept) FROM rounds").fetchone()[0]
    row = db.execute(
        "SELECT round, cut, cut_sha256, size, piece_sha256, head_bytes, head_sha256 FROM running WHERE round = ?",
        (store.round,),
    ).fetchone()
    if row is None:
        raise StoreError(f"round {store.round}'s change of the running file is missing")
    store.running, store.db = RunningState(*row), db


@dataclass(frozen=True)
class _Meta:
    """The texts of a store's ``meta`` table that a round reads, by key (None: not there)."""

    format: str | None = None
    record: str | None = None
    star_header: str | None = None
    running_stamp: str | None = None

    @classmethod
    def read(cls, db: sqlite3.Connection) -> _Meta:
        """The table read: the one place its keys are named."""
        texts = dict(db.execute("SELECT key, value FROM meta").fetchall())
        return cls(**{f.name: texts.get(f.name) for f in fields(cls)})


def open_store(outdir: Path, force: bool, log: Any, kind: str = "star") -> KeptStore:
    """The store of ``outdir`` for rounds of ``kind``'s files, checked; its last round's files put in place.

    (Those a stop left out.) Empty for a first round, or with ``force`` (which removes the
    store's files first).

    The caller holds the output folder's lock. A running file that no store records is refused
    (``force`` replaces it).
    """
    busy_timeout()  # (a wait the environment sets wrong refused before the store is read or removed)
    folder = outdir / STORE
    if force and _remove_store(folder):
        log(f"--update --force: {folder} started anew; the running kept set is this batch's", "warning")
    if force and (aside := _set_aside_earlier_rounds(outdir)):
        log(f"--update --force: the earlier rounds' files moved to {aside} (the new series numbers its own)", "warning")
    store = _load_store(folder, kind)
    running = store.running_path
    refuse_folder(running)
    if store.db is None:
        if os.path.lexists(running) and not force:
            raise CryodedupError(
                f"{running}: not written by an --update round (no {STORE}/{DATABASE} records it), so rows cannot be "
                "appended to it; give another output folder, or --force to replace it"
            )
        return store
    if store.last_placed:
        if why := store.running.problem(running):  # type: ignore[union-attr]
            raise changed_running(running, why)
        store.check_running_whole()
        return store
    try:
        written = store.finish_round()
        store.mark_placed()
    except (OSError, sqlite3.Error) as err:
        if is_busy(err):
            raise busy(folder / DATABASE) from None
        raise OutputError(
            f"{outdir}: cannot put round {store.round}'s files in place from the store ({reason(err)}); run again "
            "once it can be written"
        ) from None
    if written:
        log(
            f"round {store.round} had stopped before its files were all in place: {', '.join(written)} written "
            "from the store",
            "warning",
        )
    return store


def repair_store(outdir: Path) -> list[tuple[str, str]]:
    """Every file ``outdir``'s store records written again where it is missing or differs (``--repair``).

    Returns (the file's name in ``outdir``, "missing" or "stale") of each. The caller holds the
    output folder's lock; a folder without a store is refused in one line.
    """
    store = _load_store(outdir / STORE, None)
    if store.db is None:
        raise CryodedupError(
            f"{outdir}: no --update store ({STORE}/{DATABASE}), so nothing to rewrite the files from; --repair is "
            "for a folder earlier --update rounds wrote"
        )
    try:
        return store.repair()
    except (OSError, sqlite3.Error) as err:
        if is_busy(err):
            raise busy(store.folder / DATABASE) from None
        raise OutputError(f"{outdir}: cannot write the files from the --update store ({reason(err)})") from None


#: The round files of an --update series (update.ROUND_STEMS, of either kind; update.ROUND_RECORD).
_ROUND_FILE = re.compile(r"round_[0-9]{4}_((kept|rejected)\.(star|cs|csg)|decisions\.csv)")


def _set_aside_earlier_rounds(outdir: Path) -> Path | None:
    """Moves the round files of a series ``--force`` starts anew into ``outdir/rounds_before_force_K`` (K free).

    Left in place, they would block the new series' rounds of the same numbers, or be
    overwritten by them; moved, nothing is lost. None when there were none.
    """
    try:
        earlier = sorted(e.name for e in os.scandir(outdir) if _ROUND_FILE.fullmatch(e.name) and e.is_file())
    except FileNotFoundError:
        return None
    if not earlier:
        return None
    k = 1
    while os.path.lexists(outdir / f"rounds_before_force_{k}"):
        k += 1
    aside = outdir / f"rounds_before_force_{k}"
    aside.mkdir()
    for name in earlier:
        os.replace(outdir / name, aside / name)
    return aside


def _remove_store(folder: Path) -> bool:
    """Removes the store's own files, whatever they are (a file or a link named like the store: itself).

    Nothing else in the folder. Returns whether there was something to remove.
    """
    if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
        os.unlink(folder)
        return True
    if not os.path.isdir(folder):
        return False
    names = [DATABASE, f"{DATABASE}-journal", *EARLIER]  # (the journal: emptied at each commit, kept)
    paths = [folder / name for name in names] + [p for pattern in EARLIER_PATTERNS for p in folder.glob(pattern)]
    found = False
    for path in paths:
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            os.unlink(path)
            found = True
        elif os.path.isdir(path):
            shutil.rmtree(path)
            found = True
    return found
