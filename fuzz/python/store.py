"""Fuzz target: an ``--update`` store (``seen/store.sqlite``) as the next round reads it.

``SeenStore.load`` of ``jobs.micrographs.update`` (on ``jobs.store_db``): the bytes are the
database, written on tmpfs in a folder ``seen``; SQLite's own checks, then each row read
(the micrographs, an image of the record's size for each, the pairs parts against their
digests). A store that loads is then used as a round uses it: each stored image read, its
layouts, the rows of stored pairs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from _harness import main

from cryodedup.jobs.micrographs import update
from cryodedup.jobs.micrographs.update import SeenStore, _stored_rows

MODULES = ["cryodedup.jobs.store_db", "cryodedup.jobs.micrographs.update"]


def check(data: bytes, scratch: Path) -> None:
    """Writes ``data`` as the store's database, loads the store and asserts what is loaded."""
    folder = scratch / update.STORE
    folder.mkdir(exist_ok=True)
    for leftover in folder.iterdir():
        leftover.unlink()
    (folder / update.DATABASE).write_bytes(data)
    store = SeenStore.load(folder)
    if store is None:
        assert not data  # (an empty file: a first round stopped before its commit)
        return
    try:
        assert store.record is not None
        n = len(store.files)
        assert len(store.ids) == len(store.stamps) == len(store.layouts) == n
        ny, nx = store.record.shape
        binning = store.record.binning
        for k in range(n):  # every micrograph's image is there, float32 of the stored binned shape
            image = store.image(k, (ny // binning, nx // binning))
            assert image.dtype == np.float32 and image.shape == (ny // binning, nx // binning)
        ids = store.pairs.pairs
        assert ids.ndim == 2 and ids.shape[1] == 2 and ((ids >= 0) & (ids < n)).all()
        a, b = ids[:, 0], ids[:, 1]
        columns = (store.pairs.z, store.pairs.dy, store.pairs.dx, store.pairs.pearson, store.pairs.overlap)
        assert all(v.shape == a.shape for v in columns)
        store.present = set(store.files)  # (each found in place, as a round finds them)
        layouts = store.known_layouts(store.files)
        found = sum(os.path.abspath(f) in store.present for f, at in zip(store.files, store.layouts) if at)
        assert len(layouts) <= found  # ("/a/./b" is "/a/b"'s; a path twice is one layout)
        rows = _stored_rows(store, a.astype(np.int64), b.astype(np.int64))
        assert ((rows >= 0) & (rows < len(a))).all()  # each stored pair is found where it is
    finally:
        store.close()


if __name__ == "__main__":
    main(check, MODULES)
