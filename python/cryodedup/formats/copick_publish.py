"""The kept picks written back into a copick project all together, or not at all (issue 58, item 10).

copick's own ``store()`` writes each pick file in place: a run stopped (SIGINT, SIGTERM) or
failing (a read-only overlay, an unwritable ``Picks`` folder) after some of 300 sets left some
of the new session in the project. Here every folder is first checked to take a file, each
set is then written under a temporary name beside its file, and only when all are written are
they renamed into place, with signals deferred; on any failure the temporary files are removed
(and a file already renamed is put back as it was), and the one line says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import signals
from ..errors import OutputError

__all__ = ["check_writable", "new_pick_set", "publish"]


def _fs(picks: Any) -> Any:
    """The picks' file system, unwrapped from copick's reconnecting wrapper (which has no rename)."""
    return getattr(picks.fs, "_fs", picks.fs)


def new_pick_set(run: Any, object_name: str, user: str, session: str) -> Any:
    """A new pick set of ``run``, named as copick's ``new_picks`` names it, not yet stored.

    ``new_picks`` writes an empty pick file at once: an empty set of this run left in the
    project if a later one failed.
    """
    from copick.models import CopickPicksFile
    from copick.util.escape import sanitize_name

    meta = CopickPicksFile(
        pickable_object_name=sanitize_name(object_name),
        user_id=sanitize_name(user),
        session_id=sanitize_name(session),
        run_name=run.name,
    )
    return run._picks_factory()(run=run, file=meta)


def check_writable(config: Path, targets: Sequence[Any]) -> None:
    """Refuses, before anything is written, a project where some pick set's folder takes no new file."""
    probed: set[str] = set()
    for picks in targets:
        fs, folder = _fs(picks), picks.directory.rstrip("/")
        while folder not in probed and not fs.exists(folder) and folder != os.path.dirname(folder):
            folder = os.path.dirname(folder)  # (the nearest folder that exists: it must take the new ones)
        if folder in probed:
            continue
        probed.add(folder)
        probe = f"{folder}/.cryodedup-probe.{os.getpid()}.tmp"
        try:
            with fs.open(probe, "w") as f:
                f.write("")
            fs.rm(probe)
        except OSError as err:
            raise OutputError(
                f"{config}: cannot write the kept picks into the project ({folder}: {err.strerror or err}); "
                "nothing was written"
            ) from None


def publish(config: Path, targets: Sequence[Any]) -> None:
    """Writes every pick set of ``targets`` (copick picks objects, points set), then renames them all into place."""
    written: list[tuple[Any, str, str]] = []  # (file system, temporary, final)
    try:
        for picks in targets:
            fs, final = _fs(picks), picks.path
            temporary = f"{picks.directory.rstrip('/')}/.{os.path.basename(final)}.{os.getpid()}.tmp"
            fs.makedirs(picks.directory, exist_ok=True)
            written.append((fs, temporary, final))
            with fs.open(temporary, "w") as f:
                json.dump(picks.meta.model_dump(), f, indent=4)  # (as copick's own store() writes it)
            signals.pause_for_tests("copick")  # (the barrage's signal in the middle of the write-back)
        with signals.deferred():
            _rename_all(config, written)
            # Every pick set is in place: a signal that waited for the renames says so, not "unchanged".
            signals.outputs_placed()
            signals.pause_for_tests("copick-placed")
    except BaseException as err:
        _remove(written)
        if isinstance(err, OSError):
            raise OutputError(
                f"{config}: cannot write the kept picks into the project ({err.filename or 'a pick file'}: "
                f"{err.strerror or err}); the pick sets written so far were removed, the project is unchanged"
            ) from None
        raise


def _rename_all(config: Path, written: list[tuple[Any, str, str]]) -> None:
    """Renames each temporary file to its pick file; on a failure puts back those renamed already."""
    done: list[tuple[Any, str, bytes | None]] = []  # (file system, final, its previous content)
    try:
        for fs, temporary, final in written:
            previous = fs.cat_file(final) if fs.isfile(final) else None
            _replace(fs, temporary, final)
            done.append((fs, final, previous))
    except OSError:
        for fs, final, previous in reversed(done):
            if previous is None:
                fs.rm(final)
            else:
                fs.pipe_file(final, previous)
        raise


def _replace(fs: Any, temporary: str, final: str) -> None:
    """Renames ``temporary`` over ``final``: on a local disk as rename(2) does.

    (fsspec's mv would move the file into a folder named like the pick file, not fail.)
    """
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        os.replace(fs._strip_protocol(temporary), fs._strip_protocol(final))
    else:
        fs.mv(temporary, final)


def _remove(written: list[tuple[Any, str, str]]) -> None:
    for fs, temporary, _ in written:
        try:
            if fs.exists(temporary):
                fs.rm(temporary)
        except OSError:
            pass  # (nothing more to do: the error that brought us here is the one said)
