"""Output files that appear complete or not at all."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Union

from .errors import CryodedupError

#: A path as users give one.
StrPath = Union[str, "os.PathLike[str]"]


class AtomicOutputs:
    """Outputs written under temporary names, all renamed when the block succeeds.

    The temporary files sit in the outputs' folders; on any error they are removed and
    nothing appears. Existing outputs are refused unless ``force``. Use as a context manager that yields
    {final path: temporary path}.

    Outputs inside one of ``folders`` that does not exist yet (a picker job's thousands of
    per-micrograph files) are written in a temporary folder beside it, renamed into place
    once: one rename instead of one per file. A folder that exists gets its files one by one.
    """

    def __init__(
        self,
        paths: Iterable[StrPath],
        *,
        force: bool = False,
        inputs: Iterable[StrPath] = (),
        folders: Iterable[StrPath] = (),
    ) -> None:
        self.paths = [Path(p) for p in paths]
        # Files are compared by identity (device, inode), which sees through links and spelling.
        # A picker job has thousands of inputs and outputs: outputs in a folder that does not
        # exist yet are not looked up, and inputs only when some output exists.
        existing = _existing(self.paths)
        input_ids = {_identity(p) for p in inputs} - {None} if existing else set()
        for p, identity in existing:
            if identity in input_ids:
                raise CryodedupError(f"{p}: is also an input; choose another output folder")
            if not force:
                raise CryodedupError(f"{p}: already exists; use --force to overwrite it")
        pid = os.getpid()
        new_folders = [str(Path(f)) for f in folders if not os.path.lexists(f)]
        #: {final folder: temporary folder} of the folders renamed whole.
        self.folders = {f: os.path.join(os.path.dirname(f), f".{os.path.basename(f)}.{pid}.tmp") for f in new_folders}
        self.temporary = {p: self._temporary_name(p, pid) for p in self.paths}

    def _temporary_name(self, path: Path, pid: int) -> Path:
        text = str(path)
        for final, temporary in self.folders.items():
            if text.startswith(final + os.sep):
                return Path(temporary + text[len(final) :])
        return path.with_name(f".{path.name}.{pid}.tmp")

    def __enter__(self) -> dict[Path, Path]:
        for folder in dict.fromkeys(p.parent for p in self.temporary.values()):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CryodedupError(f"{folder}: cannot create the output folder ({err.strerror})") from None
        return self.temporary

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        renamed_whole = tuple(f + os.sep for f in self.folders)
        if exc_type is None:
            # The folders first: a list file that names their files appears after them.
            for final_folder, tmp_folder in self.folders.items():
                if os.path.isdir(tmp_folder):
                    os.replace(tmp_folder, final_folder)
            for final, tmp in self.temporary.items():
                if not str(final).startswith(renamed_whole):
                    os.replace(str(tmp), str(final))
        else:
            for final, tmp in self.temporary.items():
                if not str(final).startswith(renamed_whole):
                    tmp.unlink(missing_ok=True)
            for tmp_folder in self.folders.values():
                shutil.rmtree(tmp_folder, ignore_errors=True)


def _existing(paths: list[Path]) -> list[tuple[Path, tuple[int, int]]]:
    """The paths that name a file now, with its identity, in order.

    A path is looked up only when the folder of one of its spellings (as given, normalised)
    exists; each folder is looked up once.
    """
    folder_exists: dict[str, bool] = {}

    def in_existing_folder(spelling: str) -> bool:
        folder = os.path.dirname(spelling) or "."
        if folder not in folder_exists:
            folder_exists[folder] = os.path.isdir(folder)
        return folder_exists[folder]

    found = []
    for p in paths:
        text = str(p)
        if not (in_existing_folder(text) or in_existing_folder(os.path.normpath(os.path.abspath(text)))):
            continue
        identity = _identity(text)
        if identity is not None:
            found.append((p, identity))
    return found


def _identity(path: StrPath) -> tuple[int, int] | None:
    """The (device, inode) of the file a path names, None where nothing is.

    A path through a folder that does not exist yet (``new/../particles.star``) names, once
    the outputs' folders are made, the file its normalised spelling names: that one is looked
    up too.
    """
    for spelling in (path, os.path.normpath(os.path.abspath(path))):
        try:
            st = os.stat(spelling)
        except OSError:
            continue
        return st.st_dev, st.st_ino
    return None


def check_plotting(plot: bool) -> None:
    """``--plot`` needs matplotlib, an optional dependency: say so before any work."""
    if plot and importlib.util.find_spec("matplotlib") is None:
        raise CryodedupError("--plot needs matplotlib: pip install 'cryodedup[plot]' (or matplotlib)")
