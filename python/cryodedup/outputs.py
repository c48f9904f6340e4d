"""Output files that appear complete or not at all, one run per output folder at a time."""

from __future__ import annotations

import errno
import fcntl
import functools
import importlib.util
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Callable, ClassVar, TypeVar

from . import signals
from .errors import CryodedupError, OutputError
from .paths import StrPath  # (re-exported for the --update store's modules, until they import it from paths)

__all__ = [
    "PLOT_INSTALL",
    "AtomicOutputs",
    "StrPath",
    "all_outputs_at_once",
    "check_plotting",
    "hold_folder",
    "output_batch",
    "put_in_place",
    "scratch_files",
    "warn_earlier_report",
    "write_bytes",
    "write_error",
]


#: The file in an output folder that a run holds locked while it writes there.
LOCK_NAME = ".cryodedup.lock"


class _Batch:
    """The renames of every output of one job, done together when the job succeeds."""

    def __init__(self) -> None:
        self.renames: list[tuple[Path, Path]] = []  # (temporary, final)
        self.locks: list[_FolderLock] = []
        self.created: list[Path] = []  # output folders this job made, removed again if it fails
        self.scratch: list[Path] = []  # files of scratch_files(), removed when the batch ends


_batches: list[_Batch] = []


@contextmanager
def output_batch() -> Iterator[None]:
    """All :class:`AtomicOutputs` opened inside appear together at the end, or none does.

    A job writes its outputs in several steps (particle files, then pictures and a report);
    inside a batch each step's files stay under their temporary names until the batch ends,
    so a failure in a later step leaves the previous outputs (or none) in place.
    """
    batch = _Batch()
    _batches.append(batch)
    try:
        yield
    except BaseException:
        _batches.remove(batch)
        _discard(tmp for tmp, _ in batch.renames)
        _discard(batch.scratch)
        _release(batch.locks)
        for folder in reversed(batch.created):
            _remove_if_empty(folder)
        raise
    _batches.remove(batch)
    try:
        signals.pause_for_tests("written")
        put_in_place(batch.renames)
    except BaseException:  # a signal before the renames began (after them, nothing is left to remove)
        _discard(tmp for tmp, _ in batch.renames)
        for folder in reversed(batch.created):
            _remove_if_empty(folder)
        raise
    finally:
        _discard(batch.scratch)
        _release(batch.locks)


def scratch_files(paths: Iterable[Path]) -> dict[Path, Path] | None:
    """Temporary files beside the outputs ``paths``, for outputs written before they are sure.

    The particle job's single pass over a big file writes its outputs before it knows that
    it will keep them. Only inside :func:`output_batch` (else None): their folders are made and locked as
    :class:`AtomicOutputs` does, and the batch removes the files when it ends, whatever
    happens. An :class:`AtomicOutputs` of the batch can take such a file over by renaming it
    to its own temporary name. Returns {output: temporary file}.
    """
    if not _batches:
        return None
    batch = _batches[-1]
    paths = list(paths)
    scratch = {p: p.with_name(f".{p.name}.{os.getpid()}.scratch") for p in paths}
    # A signal waits until the batch knows each folder, lock and file (the job is often
    # stopped here, as its input has just been opened): else they would stay behind.
    with signals.deferred():
        created = _make_folders(dict.fromkeys(p.parent for p in paths))
        batch.created += [folder for folder, made in created.items() if made]
        batch.locks += [_FolderLock.take(folder) for folder in _topmost(created)]
        batch.scratch += scratch.values()
    return scratch


def hold_folder(folder: Path) -> None:
    """The output folder ``folder`` made and locked until the batch ends (outside a batch: nothing).

    An ``--update`` round reads its store, puts a stopped round's files in place and commits
    under the lock, from before it reads its inputs: one writer at a time.
    """
    if not _batches:
        return
    batch = _batches[-1]
    with signals.deferred():
        created = _make_folders([folder])
        batch.created += [f for f, made in created.items() if made]
        batch.locks.append(_FolderLock.take(folder))


Job = TypeVar("Job", bound=Callable)


def all_outputs_at_once(job: Job) -> Job:
    """Runs the decorated job inside :func:`output_batch`: its outputs appear together or not at all."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        with output_batch():
            return job(*args, **kwargs)

    return run  # type: ignore[return-value]


class AtomicOutputs:
    """Outputs written under temporary names, all renamed when the block succeeds.

    The temporary files sit in the outputs' folders; on any error (a signal included) they
    are removed and nothing appears. Existing outputs are refused unless ``force``, and an
    input or a folder never. The output folder is locked for the run (``.cryodedup.lock``):
    a second run into it is refused. Inside :func:`output_batch` the renames wait for the
    batch's end. Use as a context manager that yields {final path: temporary path}.

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
        pid = os.getpid()
        folders = list(folders)
        #: {final folder: temporary folder} of the new folders renamed whole.
        self.folders = {
            Path(f): Path(f).with_name(f".{Path(f).name}.{pid}.tmp") for f in folders if not os.path.lexists(f)
        }
        self._folder_prefixes = [(str(f) + os.sep, str(t) + os.sep) for f, t in self.folders.items()]
        #: The outputs written under a temporary name beside them (not in a new folder).
        self._singly: list[Path] = []
        #: The outputs inside new folders, as text (a picker job has tens of thousands).
        in_new_folders: list[str] = []
        singly_temporary: dict[Path, Path] = {}
        texts = [os.fspath(p) for p in paths]
        for text in texts:
            # A picker job has tens of thousands of outputs: no Path for those in new folders.
            if any(text.startswith(final) for final, _ in self._folder_prefixes):
                in_new_folders.append(text)
            elif Path(text) not in singly_temporary:
                path = Path(text)
                self._singly.append(path)
                singly_temporary[path] = path.with_name(f".{path.name}.{pid}.tmp")
        self.temporary = TemporaryNames(singly_temporary, self._folder_prefixes, in_new_folders, texts)
        singly = self._singly
        self.created: dict[Path, bool] = {}
        self.locks: list[_FolderLock] = []
        try:
            # A signal waits until each folder made and each lock taken is known here: one
            # that landed between a lock file's creation and this list left the file behind.
            with signals.deferred():
                self.created = _make_folders(
                    dict.fromkeys([p.parent for p in singly] + [f.parent for f in self.folders]),
                    below=[Path(f) for f in folders],
                )
                tops = _topmost(self.created.keys())
                for folder in tops:
                    self.locks.append(_FolderLock.take(folder))
            # The lock took the top folder's orphans; a picker job writes in folders below it.
            for folder in self.created.keys() - set(tops):
                if not self.created[folder]:
                    _remove_orphans(folder)
            _check_targets(singly, force, inputs)  # a folder that did not exist holds no file
        except BaseException:
            self._give_up()
            raise
        if _batches:  # the batch renames, unlocks and removes new folders at its end
            _batches[-1].locks += self.locks
            _batches[-1].created += [folder for folder, created in self.created.items() if created]
            self.locks = []

    def __enter__(self) -> TemporaryNames:
        # The folders of tens of thousands of files, each a path in a folder: one split each.
        for folder in dict.fromkeys(tmp.rpartition(os.sep)[0] for tmp in self.temporary.texts_in_new_folders()):
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise write_error(err, self.temporary) from None
        return self.temporary

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._give_up()
            if isinstance(exc, OSError) and not isinstance(exc, CryodedupError):
                raise write_error(exc, self.temporary) from None
            return
        try:
            # The folders first: a list file that names their files appears after them.
            renames = [(tmp, final) for final, tmp in self.folders.items() if tmp.is_dir()]
            renames += [(self.temporary[final], final) for final in self._singly]
            if _batches:
                _batches[-1].renames += renames
                return
        except BaseException:  # a signal before the batch holds the renames: it could not remove the files
            self._give_up()
            raise
        try:
            signals.pause_for_tests("written")
            put_in_place(renames)
        except BaseException:  # a signal before the renames began (after them, nothing is left to remove)
            self._give_up()
            raise
        finally:
            _release(self.locks)

    def _give_up(self) -> None:
        _discard(getattr(self, "temporary", {}).values())
        _discard(getattr(self, "folders", {}).values())
        _release(self.locks)
        for folder, created in reversed(self.created.items()):
            if created:
                _remove_if_empty(folder)


class TemporaryNames(dict[Path, Path]):
    """{final path: temporary path} of a run's outputs, a dict.

    Outputs inside new folders (a picker job has tens of thousands) are kept as text until
    they are asked for: :meth:`text` gives one's temporary name as text, without a Path.
    """

    def __init__(
        self,
        singly: dict[Path, Path],
        folder_prefixes: list[tuple[str, str]],
        in_new_folders: list[str],
        order: list[str],
    ) -> None:
        super().__init__(singly)
        self._prefixes = folder_prefixes  # (final folder + os.sep, temporary folder + os.sep)
        self._pending = in_new_folders  # the final names in new folders not yet in the dict
        self._order = order  # every final name as given, in order

    def text(self, final: str) -> str:
        """The temporary name of output ``final`` (given as text), as text."""
        for folder, temporary in self._prefixes:
            if final.startswith(folder):
                return temporary + final[len(folder) :]
        return str(self[Path(final)])

    def texts_in_new_folders(self) -> list[str]:
        """The temporary names, as text, of the outputs in new folders."""
        filled = [str(tmp) for final, tmp in dict.items(self) if self._in_new_folder(str(final))]
        return [self.text(final) for final in self._pending] + filled

    def _in_new_folder(self, final: str) -> bool:
        return any(final.startswith(folder) for folder, _ in self._prefixes)

    def __missing__(self, final: StrPath) -> Path:
        if self._in_new_folder(os.fspath(final)):
            return Path(self.text(os.fspath(final)))
        raise KeyError(final)

    def _filled(self) -> TemporaryNames:
        """Itself with every output in the dict (as Paths, in the order given), for the callers that go through all."""
        if self._pending:
            singly = dict(dict.items(self))
            new = {Path(final): Path(self.text(final)) for final in self._pending}
            dict.clear(self)
            for final in map(Path, self._order):
                dict.__setitem__(self, final, singly[final] if final in singly else new[final])
            self._pending = []
        return self

    def __iter__(self) -> Iterator[Path]:
        return dict.__iter__(self._filled())

    def __len__(self) -> int:
        return dict.__len__(self._filled())

    def __contains__(self, final: object) -> bool:
        return dict.__contains__(self._filled(), final)

    def keys(self):  # dict's, filled first
        return dict.keys(self._filled())

    def values(self):  # dict's, filled first
        return dict.values(self._filled())

    def items(self):  # dict's, filled first
        return dict.items(self._filled())


def _make_folders(folders: Iterable[Path], below: Iterable[Path] = ()) -> dict[Path, bool]:
    """Creates the output folders; {folder: whether this run created it}.

    A folder inside another output folder (``OUTDIR/kept``), or one of ``below`` (the
    subfolders a job writes into, existing or not), that is a symbolic link is refused:
    written through, the outputs would land outside the output folder.
    """
    folders, below = list(folders), list(below)
    _refuse_links_inside([*folders, *below, *(b.parent for b in below)])
    made: dict[Path, bool] = {}
    for folder in folders:
        try:
            existed = folder.is_dir()  # raises for a name the system cannot take (ENAMETOOLONG)
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{folder}: cannot create the output folder ({err.strerror})") from None
        made[folder] = not existed
    return made


def _refuse_links_inside(folders: list[Path]) -> None:
    """Refuses a symbolic link between the topmost of ``folders`` (as spelled) and any of them.

    The topmost folder is the user's choice (``-o`` may well be a link); below it, every
    folder is cryodedup's, and a link there (``OUTDIR/kept`` -> elsewhere) leads out of it.
    """
    spelled = {Path(os.path.normpath(os.path.abspath(f))): f for f in folders}
    tops = [t for t in spelled if not any(o != t and t.is_relative_to(o) for o in spelled)]
    for folder in spelled:
        top = next((t for t in tops if folder.is_relative_to(t)), folder)
        for step in reversed([folder, *folder.parents][: len(folder.parts) - len(top.parts)]):
            if step.is_symlink():
                raise OutputError(
                    f"{step}: is a symbolic link inside the output folder {top}; cryodedup does not follow links "
                    "out of its output folder (remove it or choose another folder)"
                )


def _topmost(folders: Iterable[Path]) -> list[Path]:
    """The folders that lie in none of the others (a picker job writes into thousands below one)."""
    resolved = {os.path.realpath(f): f for f in folders}
    tops: list[tuple[str, Path]] = []
    for real, folder in sorted(resolved.items()):
        if not any(real.startswith(top.rstrip(os.sep) + os.sep) for top, _ in tops):
            tops.append((real, folder))
    return [folder for _, folder in tops]


def _check_targets(paths: list[Path], force: bool, inputs: Iterable[StrPath]) -> None:
    """Refuses an output that is an input, a folder, or (without ``force``) an existing file."""
    # Files are compared by identity (device, inode), which sees through links and spelling.
    # A picker job has thousands of inputs and outputs: inputs are looked up only when some output exists.
    existing = _existing(paths)
    input_ids = {_identity(p) for p in inputs} - {None} if existing else set()
    for p, identity in existing:
        if identity in input_ids:
            raise OutputError(f"{p}: is also an input; choose another output folder")
        if p.is_dir():
            raise OutputError(f"{p}: is a folder; an output file cannot replace it (remove it or choose another)")
        if not force:
            raise OutputError(f"{p}: already exists; use --force to overwrite it")


class _FolderLock:
    """An exclusive lock on an output folder, held by this process (counted, so jobs can nest)."""

    held: ClassVar[dict[str, _FolderLock]] = {}

    def __init__(self, key: str, path: Path, fd: int) -> None:
        self.key, self.path, self.fd, self.count = key, path, fd, 1

    @classmethod
    def take(cls, folder: Path) -> _FolderLock:
        key = os.path.realpath(folder)
        if key in cls.held:
            cls.held[key].count += 1
            return cls.held[key]
        path = folder / LOCK_NAME
        while True:
            try:
                # Not through a link: a link named like the lock would have the lock made (and
                # later removed) wherever it points, outside the output folder.
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise OutputError(
                        f"{path}: is a symbolic link; cryodedup does not follow links out of its output folder "
                        "(remove it)"
                    ) from None
                raise OutputError(f"{folder}: cannot write in the output folder ({err.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(
                    f"{folder}: another cryodedup run is writing to this output folder (it holds {LOCK_NAME}); "
                    "wait for it to end or choose another folder"
                ) from None
            # The run that held the lock removes the file as it ends: a lock on a removed file is no lock.
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                signals.pause_for_tests("locked")
                cls.held[key] = lock = cls(key, path, fd)
                _remove_orphans(folder)
                return lock
            os.close(fd)

    def release(self) -> None:
        self.count -= 1
        if self.count == 0:
            del self.held[self.key]
            try:
                os.unlink(self.path)
            except OSError:
                pass  # (left: the next run into the folder locks it again and removes it)
            finally:
                os.close(self.fd)


#: A temporary output of a run: ``.NAME.PID.tmp`` (a file, or a new folder filled before its
#: rename) or ``.NAME.PID.scratch`` (the one-pass split). Not ``.old``: a run killed while
#: renaming may leave the only copy of a previous output under that name.
_TEMPORARY = re.compile(r"\..+\.(\d+)\.(tmp|scratch)")
#: A backup of an output (``.NAME.PID.old``, a second link to it) that a run killed while renaming left.
_BACKUP = re.compile(r"\.(.+)\.(\d+)\.old")


def _remove_orphans(folder: Path) -> None:
    """Removes the temporary outputs in ``folder`` of runs that are gone (killed: SIGKILL, a crash, power).

    Called with the folder's lock held: no live run writes there but this one, and a run
    still alive under that process id (or one reused) keeps its files.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None:
            _remove_backup(folder, entry.name)
            continue
        if int(match[1]) == os.getpid() or process_alive(int(match[1])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass  # not ours to remove after all (permissions): left as it was


def _remove_backup(folder: Path, name: str) -> None:
    """Removes a backup a run killed while renaming left, where its output is there (the old or the new one).

    An output missing beside its backup is kept under the backup's name: that is its only copy.
    """
    match = _BACKUP.fullmatch(name)
    if match is None or int(match[2]) == os.getpid() or process_alive(int(match[2])):
        return
    if os.path.isfile(folder / match[1]):
        with suppress(OSError):
            os.unlink(folder / name)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be running (the owner of a temporary file it left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or no pid at all: not ours to judge
    return True


def _release(locks: list[_FolderLock]) -> None:
    for lock in locks:
        lock.release()
    locks.clear()


def _discard(temporary: Iterable[Path]) -> None:
    """Removes temporary files and folders (a folder renamed whole is removed with its files)."""
    for tmp in temporary:
        with suppress(OSError):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            else:
                tmp.unlink(missing_ok=True)


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


def put_in_place(renames: list[tuple[Path, Path]]) -> None:
    """Renames every temporary file to its final name; on a failure puts the old files back.

    Each existing final file is first linked to a backup name, so that the set of outputs
    is either the new one or the old one, never half of each.
    """
    with signals.deferred():
        _rename_or_restore(renames)
        signals.outputs_placed()


def _rename_or_restore(renames: list[tuple[Path, Path]]) -> None:
    backups: list[tuple[Path, Path]] = []
    done: list[Path] = []
    try:
        for _, final in renames:
            if final.exists():
                backup = final.with_name(f".{final.name}.{os.getpid()}.old")
                try:
                    os.link(final, backup)
                except OSError:  # a file system without hard links: that file cannot be put back
                    continue
                backups.append((backup, final))
        for tmp, final in renames:
            os.replace(tmp, final)
            done.append(final)
            signals.pause_for_tests("renames")
    except OSError as err:
        _discard(done)
        for backup, final in backups:
            if final in done or not final.exists():
                os.replace(backup, final)
        # A backup of a file never replaced is a second link to it (rename would be a no-op).
        _discard(backup for backup, _ in backups)
        _discard(tmp for tmp, _ in renames)
        raise OutputError(
            f"{err.filename}: cannot put the outputs in place ({err.strerror}); none was changed"
        ) from None
    _discard(backup for backup, _ in backups)


def write_bytes(path: Path, data: bytes | Sequence[bytes]) -> None:
    """Writes ``data`` (or its pieces, one after the other) to the file ``path``; a failed write names the file.

    A file object's own errors (a full disk on write or close) carry no file name, and the
    message could only say "the outputs".
    """
    try:
        with open(path, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                f.writelines(data)
    except OSError as err:
        if err.filename is None:
            err.filename = os.fspath(path)
        raise


def write_error(err: OSError, temporary: dict[Path, Path]) -> OutputError:
    """One line for a failed write, naming the output (not its temporary name) and why."""
    final_of = {str(tmp): final for final, tmp in temporary.items()}
    # (an error of a write in the core names no file: then the folder of the outputs)
    folders = sorted({str(final.parent) for final in temporary})
    where = f"the outputs in {folders[0]}" if len(folders) == 1 else "the outputs"
    name = final_of.get(str(err.filename), err.filename or where)
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded"}.get(
        err.errno or 0, err.strerror or str(err)
    )
    if err.errno == errno.EFBIG:
        reason = "the file size limit was reached (ulimit -f)"
    return OutputError(f"{name}: {reason} while writing the outputs; no output was written")


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


#: How to install the ``plot`` extra: from PyPI, or in a clone of the source (where the name is the folder).
PLOT_INSTALL = "pip install 'cryodedup[plot]' (in a clone of the source: pip install '.[plot]')"


def check_plotting(plot: bool) -> None:
    """``--plot`` needs Pillow, an optional dependency: say so before any work."""
    if plot and importlib.util.find_spec("PIL") is None:
        raise OutputError(f"--plot needs Pillow: {PLOT_INSTALL}, or Pillow alone")  # (not a usage error)


def warn_earlier_report(outdir: StrPath, warn: Callable[[str], None]) -> None:
    """Warns that ``outdir`` holds the report.html of an earlier run, which a run without ``--plot`` leaves.

    Beside this run's outputs, that report (and its pictures) would pass for theirs.
    """
    report = Path(outdir) / "report.html"
    if report.is_file():
        warn(f"{report} and its pictures are an earlier run's: this run drew none (--plot draws them anew)")
