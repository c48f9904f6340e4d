"""The kinds of foreign file a reader must not trust (issue 77), each made at a path, for the reliability tests.

A FIFO (a reader that opens it waits for a writer for ever), a link to ``/dev/zero`` (read
whole: no end), a file in a folder the user cannot read, a file of gigabytes (sparse: no disk
used) where the format is small by nature, JSON nested 3,000 deep (Python's parser recursion).

The tests run as root, who reads any folder: there a folder the user cannot read is one whose
file-system calls (``os.stat``, ``os.open``, ``os.scandir``, ``io.open``...) fail with EACCES
for any path inside it, as the kernel fails them for a user without permission; as any other
user it is the folder's mode 000. :func:`guarded` keeps a reader that does not check from
hanging on a FIFO or taking the machine's memory: today's main fails the table, it does not
stop the suite.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import resource
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

HUGE = 3_400_000_000  # bytes: the size of the /dev/zero read that ended in MemoryError
DEEP = 3_000  # nested objects: Python's parser raised RecursionError

#: Each kind's one-line message, from the file's path, what it should be and the format's cap.
MESSAGES: dict[str, str] = {
    "fifo": "{path}: is a named pipe (FIFO), expected {what}",
    "dev_zero": "{path}: is a device, expected {what}",
    "denied": "{path}: cannot read the file (Permission denied)",
    "huge": "{path}: is 3.4 GB, larger than {what} can be (cap {cap})",
    "deep": "{path}: JSON nested too deeply to be {what} (more than 100 levels)",
}
KINDS = tuple(MESSAGES)


def make(kind: str, path: Path, good: bytes, json_text: bool) -> None:
    """The file ``path`` made as ``kind`` (``denied``: a good file; :func:`deny` makes its folder unreadable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(path, "wb") as f:
            f.write(good)
            f.truncate(HUGE)
    elif kind == "deep":
        assert json_text
        path.write_text('{"uid": "J1", "boxes": ' + "[" * DEEP + "]" * DEEP + "}")
    else:
        path.write_bytes(good)


@contextlib.contextmanager
def deny(folder: Path, patch: Callable[[object, str, object], None]) -> Iterator[None]:
    """``folder`` unreadable for this process while inside: its mode 000, or (root) EACCES for every path in it."""
    if os.geteuid() != 0:
        folder.chmod(0)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    inside = os.fspath(folder) + os.sep

    def refuse(path: object, listed: bool) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            text = os.fsdecode(path)
            if text.startswith(inside) or (listed and text.rstrip(os.sep) == os.fspath(folder)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), text)

    calls = [(os, "stat"), (os, "lstat"), (os, "open"), (os, "access"), (io, "open"), (builtins, "open")]
    for module, name in [*calls, (os, "scandir"), (os, "listdir")]:
        real = getattr(module, name)
        listed = name in ("scandir", "listdir")  # (listing the folder itself needs its read permission)

        def fake(path: object = ".", *args: object, _real: Callable = real, _listed: bool = listed, **kw: object):
            refuse(path, _listed)
            return _real(path, *args, **kw)

        patch(module, name, fake)
    yield


@contextlib.contextmanager
def guarded(fifo: Path | None, memory: int = 1_500_000_000) -> Iterator[None]:
    """A reader run with ``memory`` bytes more address space at most, and a FIFO it waits on given an end.

    Without a check a reader reads ``/dev/zero`` or a sparse file of gigabytes whole: here it
    fails with MemoryError, not the machine. A reader that opens a FIFO waits for a writer: a
    thread opens it for writing and closes it (an end of file), so the reader goes on.
    """
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + memory if hard == resource.RLIM_INFINITY else min(hard, used + memory)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    done = threading.Event()

    def unblock() -> None:
        while fifo is not None and not done.wait(2):
            with contextlib.suppress(OSError):  # ENXIO: nobody reads it (yet)
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def job_json(uid: str = "J1") -> bytes:
    """A small CryoSPARC job.json, as good as the format asks."""
    return json.dumps({"uid": uid, "type": "import_movies", "status": "completed", "parents": []}).encode()


@contextlib.contextmanager
def hostile(
    kind: str, path: Path, patch: Callable[[object, str, object], None], folder: Path | None = None
) -> Iterator[None]:
    """While inside, ``kind``'s conditions on ``path``: its folder (or ``folder``) denied, a FIFO given an end."""
    with contextlib.ExitStack() as stack:
        if kind in ("denied", "folder denied"):
            stack.enter_context(deny(folder or path.parent, patch))
        stack.enter_context(guarded(path if kind == "fifo" else None))
        yield
