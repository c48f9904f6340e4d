"""Fuzz target: an ``--update`` store (``seen/``) as the next round reads it.

``jobs.micrographs.store_check`` and ``SeenStore.load`` of ``jobs.micrographs.update``:
``seen.json`` read strictly and checked against its schema, then the files it names
checked (the pairs file's digest and arrays, the images files' ``.npy`` headers and sizes).

The bytes are ``seen.json``, then ``pairs-1.npz`` after ``SEPARATOR``, then ``images-1.npy``
after another, written on tmpfs in a folder ``seen``. ``@SHA256@`` in ``seen.json`` is
replaced by the digest of the ``pairs-1.npz`` bytes (as the store records it), so that the
fuzzer reaches the reading of an edited pairs file (a digest is not found by mutation).
A store that loads is then used as a round uses it: its layouts, the rows of stored pairs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from _harness import main

from cryodedup.jobs.micrographs import update
from cryodedup.jobs.micrographs.update import SeenStore, _stored_rows

MODULES = ["cryodedup.jobs.micrographs.store_check", "cryodedup.jobs.micrographs.update"]
SEPARATOR = b"\n%%\n"


def check(data: bytes, scratch: Path) -> None:
    """Writes ``data`` as the store's files, loads the store and asserts what is loaded."""
    marker, pairs_bytes, images_bytes = [*data.split(SEPARATOR, 2), b"", b""][:3]
    marker = marker.replace(b"@SHA256@", hashlib.sha256(pairs_bytes).hexdigest().encode())
    folder = scratch / update.STORE
    folder.mkdir(exist_ok=True)
    for leftover in folder.iterdir():
        leftover.unlink()
    (folder / update.MARKER).write_bytes(marker)
    (folder / "pairs-1.npz").write_bytes(pairs_bytes)
    (folder / "images-1.npy").write_bytes(images_bytes)

    store = SeenStore.load(folder)
    assert store is not None and store.record is not None
    n = len(store.files)
    assert len(store.images) == len(store.stamps) == n and (store.layouts is None or len(store.layouts) == n)
    ny, nx = store.record["shape"]
    binning = store.record["binning"]
    for round_, row in store.images:  # every image the store names is there, of the stored shape
        images = np.load(store.image_file(round_), mmap_mode="r")
        assert images.dtype == np.float32 and images.shape[1:] == (ny // binning, nx // binning)
        assert 0 <= row < len(images)
    a, b = store.pairs["a"], store.pairs["b"]
    assert len(a) == len(b) and ((a >= 0) & (a < n)).all() and ((b >= 0) & (b < n)).all()
    assert all(v.shape == a.shape for v in store.pairs.values())
    store.present = set(store.files)  # (each found in place, as a round finds them)
    layouts = store.known_layouts(store.files)
    found = sum(os.path.abspath(f) in store.present for f in store.files)  # ("/a/./b" is "/a/b"'s)
    assert len(layouts) == (found if store.layouts else 0)
    rows = _stored_rows(store, a.astype(np.int64), b.astype(np.int64))
    assert ((rows >= 0) & (rows < len(a))).all()  # each stored pair is found where it is
    assert set(store.written) <= {p.name for p in folder.iterdir()}


if __name__ == "__main__":
    main(check, MODULES)
