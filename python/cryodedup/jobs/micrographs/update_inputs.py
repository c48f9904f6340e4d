"""``--update``'s look at its inputs: which files are whole, which changed, where they really lie.

``unfinished`` tells an MRC file still being written (its header describes more bytes than
it holds); ``file_stamp`` is what a seen file is recognised by (a file replaced in place
differs); ``real_paths`` resolves the inputs' real paths a folder at a time (an input inside
the output folder is refused); ``Arrivals`` is ``--watch``'s memory of the files between looks.
"""

from __future__ import annotations

import os
import stat
import struct
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path

from ...formats.micrograph_lists import Micrographs
from ...outputs import StrPath

__all__ = ["Arrivals", "file_stamp", "real_paths", "unfinished"]

#: Bits per pixel of the MRC modes (101: 4-bit packed), to tell a file still being written.
MODE_BITS = {0: 8, 1: 16, 2: 32, 3: 32, 4: 64, 6: 16, 12: 16, 101: 4}


def file_stamp(path: str | Path) -> list[int] | None:
    """Size, modification time (ns) and inode: a file replaced in place differs in one of them; None when gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def unfinished(path: str | Path) -> str | None:
    """Why an MRC file cannot be read yet (its header, or the image the header describes, not all there); None if whole.

    A header that cannot be an MRC header is not judged here: the reader names what is wrong with it.
    """
    try:
        # Without blocking, and only a regular file read: a FIFO named like a micrograph (or a
        # device) would wait for a writer for ever; the reader refuses it, saying what it is.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None  # missing or unreadable: planning reports it
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # (a folder named like a micrograph opens, but is no file: the reader says so)
        os.close(fd)
        return None
    with open(fd, "rb") as f:
        try:
            header = f.read(1024)
        except OSError:
            return None
        size = st.st_size
    if len(header) < 1024 or not any(header[:12]):
        return f"{size:,} bytes, its header not yet written"
    order = ">" if header[212] == 0x11 else "<"  # the machine stamp: 0x11 is big-endian
    nx, ny, nz, mode = struct.unpack(f"{order}4i", header[:16])
    (extended,) = struct.unpack(f"{order}i", header[92:96])
    bits = MODE_BITS.get(mode)
    if bits is None or min(nx, ny, nz, extended + 1) <= 0:
        return None
    expected = 1024 + extended + (nx * ny * nz * bits + 7) // 8
    return f"{size:,} of the {expected:,} bytes its header describes" if size < expected else None


def real_paths(paths: Collection[StrPath]) -> Iterator[str]:
    """``os.path.realpath`` of each path, a folder resolved once (5,100 files in one folder: 19 ms, not 93; issue 43).

    ``realpath`` resolves a path component by component, so a file whose resolved folder
    holds it as no link is that folder and its name; a link, a missing file, or a name that
    is no file's (``.``, ``..``, a trailing ``/``) is resolved by ``realpath`` itself. Which
    names are plain files is read from the folder's listing when it holds many of the paths
    (``PLAIN_FROM_LISTING``: one ``scandir``, not a ``lstat`` a file), else by ``lstat``.
    """
    texts = [os.fspath(path) for path in paths]
    split = [os.path.split(text) for text in texts]
    many = Counter(head for head, _ in split)
    folders: dict[str, tuple[str, set[str] | None]] = {}
    for text, (head, name) in zip(texts, split):
        if name in ("", ".", ".."):
            yield os.path.realpath(text)
            continue
        if head not in folders:
            real = os.path.realpath(head)
            folders[head] = (real, _plain_files(real) if many[head] >= PLAIN_FROM_LISTING else None)
        real, plain_files = folders[head]
        joined = os.path.join(real, name)
        yield joined if _plain(joined, name, plain_files) else os.path.realpath(text)


#: Inputs in one folder from which its listing tells its plain files (5,100 K3 in Movies/: 3 ms, not 14).
PLAIN_FROM_LISTING = 256


def _plain_files(folder: str) -> set[str] | None:
    """The names in ``folder`` that are no link (the listing's file types); None when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if not entry.is_symlink()}
    except OSError:
        return None


def _plain(joined: str, name: str, plain_files: set[str] | None) -> bool:
    """Whether ``joined`` (a resolved folder and ``name``) names an entry that is no link."""
    if plain_files is not None:
        return name in plain_files
    try:
        return not stat.S_ISLNK(os.lstat(joined).st_mode)
    except OSError:
        return False


class Arrivals:
    """What ``--watch`` saw of the input files at its last look.

    A file is ready when the image its header describes is all there (``unfinished``) and it
    has not changed since the previous look: a writer that makes a file whole first and fills
    it after changes its modification time. A file that is not whole but has not changed for
    ``STALE_LOOKS`` looks is ready too, to be read as it is: a broken file (a text file named
    ``.mrc``, a copy cut short) was waited for for ever, never said to be unreadable; a writer
    that stalls that long and goes on changes the file, which is then read again. A file is
    judged once; it is looked at again only when it changes. A round is worth running when a
    ready file was not ready, as it is now, when the last round started: a file that merely
    stops being ready (replaced, being written again) waits for its new content.
    """

    #: Looks after the first at which an unfinished file was the same, before it is read as it is.
    STALE_LOOKS = 2

    def __init__(self) -> None:
        self.stamps: dict[str, list[int]] | None = None  # None: no look yet
        self.ready: set[str] = set()
        self.screened: dict[str, list[int]] = {}  # the ready files when the last round started, and their stamps
        self.unchanged: dict[str, int] = {}  # unfinished files: the looks since they last changed

    def start_round(self) -> None:
        """Notes the ready files of the last look as those the round now starting screens."""
        assert self.stamps is not None, "look first"
        self.screened = {path: self.stamps[path] for path in self.ready}

    def look(self, mics: Micrographs) -> bool | None:
        """Looks at the input's files: whether one is ready that the last round did not screen as it is now.

        None when a STAR or .cs names a file that is not ready (it cannot be screened without it).
        """
        stamps: dict[str, list[int]] = {}
        ready: set[str] = set()
        unchanged: dict[str, int] = {}
        for path in mics.paths:
            absolute = os.path.abspath(path)
            stamp = file_stamp(absolute)
            if stamp is None:
                continue  # gone since the listing
            stamps[absolute] = stamp
            changed = self.stamps is not None and self.stamps.get(absolute) != stamp
            if changed:
                continue
            if absolute in self.ready or not unfinished(absolute):
                ready.add(absolute)
            elif self.stamps is not None and absolute in self.stamps:  # unfinished, and as at the last look
                unchanged[absolute] = self.unchanged.get(absolute, 0) + 1
                if unchanged[absolute] >= self.STALE_LOOKS:
                    ready.add(absolute)  # read as it is: skipped and listed if it cannot be read
        self.stamps, self.ready, self.unchanged = stamps, ready, unchanged
        if mics.kind != "mrc" and len(ready) < len(stamps):
            return None
        return any(self.screened.get(path) != stamps[path] for path in ready)
