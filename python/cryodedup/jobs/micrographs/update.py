"""``--update``: screen only the micrographs not seen before, into the same output folder.

The output folder keeps, in ``seen/``, what the comparison needs: each seen micrograph's
image binned as the core bins it (``images-R.npy``, one file per round R), every pair scored so
far (``pairs-R.npz``, the shard's columns with the pairs named by seen micrograph: a round
adds a file of its new pairs, as it adds one of its images), and ``seen.json``, written last,
after the outputs (the round's completion marker, which says what pairs.csv holds so that
the next round can append to it): the store's format, the
micrographs in the order first seen, where each image is, and what the scores depend on
(the image size, binning, pixel size, band and the Pearson floor, and the options they come
from). A round reads only the micrographs it has not seen, scores the candidate pairs it has
no score for (a binned image gives the same spectrum as the raw one, bit for bit, so old
images are not read again), and writes the outputs of a fresh run of the whole set.

Each seen file's size, modification time and inode are kept too: a file replaced in place
(same name, new content) is read again, and what the store held of it is dropped. The store
is compacted (its images rewritten into one file) when at least a third of its images are of
replaced micrographs, or its images lie in more than ``MAX_IMAGE_FILES`` files; its pairs are
written into one file when a micrograph is dropped, or they lie in ``MAX_PAIR_FILES`` files.

A new MRC file whose header describes more bytes than the file holds is still being written:
it is left for a later round (``leave_for_later``). ``--watch`` (watch.py) repeats rounds as new
micrographs appear (a STAR file that grows, a glob that matches more); ``update_inputs.Arrivals``
makes it wait, too, for a file that changed since its previous look (a writer that makes the
file whole first and fills it after).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

import cryodedup._core as _core

from ..._core import __version__
from ...errors import CryodedupError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout
from ...options.fields import SCORES, marked_options
from ...options.micrographs import MicrographOptions
from ...outputs import StrPath, process_alive
from ..store_files import BadStore, changed_option, read_state, sha256_of
from ..store_files import remove_file as _remove_file
from ..store_files import save_atomic as _save_atomic
from ..store_files import temporary as _temporary
from .plan import ScoringPlan
from .score import ProgressBar, ShardScores, _read_image, score_shard, shard_pairs
from .store_check import OWN_FILE, check_files, check_state, pairs_csv_record
from .update_inputs import file_stamp, real_paths, unfinished

__all__ = [
    "FORMAT",
    "MARKER",
    "STORE",
    "SeenStore",
    "leave_for_later",
    "open_store",
    "refuse_inputs_inside",
    "score_record",
    "score_update",
]

STORE = "seen"
MARKER = "seen.json"
FORMAT = "cryodedup micrograph update store 2"
#: The options that change a pair's scores (marked in their declarations): any change means a full run.
SCORE_OPTIONS = marked_options(MicrographOptions, SCORES)
COLUMNS = ("z", "dy", "dx", "pearson", "overlap")
#: More image files than this and the store is compacted into one (a long --watch adds one a round).
MAX_IMAGE_FILES = 32
#: More pairs files than this and the round writes every pair into one (a round adds one of its new pairs).
MAX_PAIR_FILES = 32


def score_record(plan: ScoringPlan, options: Any) -> dict[str, Any]:
    """What the scores of a pair depend on, as stored in ``seen.json``."""
    record = {
        "shape": list(plan.shape),
        "binning": plan.binning,
        "binned_psize": plan.binned_psize,
        "band": list(plan.band),
        "pearson_min_z": plan.pearson_min_z,
        "options": {name: getattr(options, name) for name in SCORE_OPTIONS},
    }
    return json.loads(json.dumps(record))


def _what_changed(stored: dict[str, Any], now: dict[str, Any]) -> str:
    changed = changed_option(SCORE_OPTIONS, stored, now)
    if changed:
        flag, was, now_ = (v if v is not None else "default" for v in changed)
        return f"{flag} {now_} (was {was})"
    for key, what in (("shape", "image size"), ("binning", "binning"), ("binned_psize", "pixel size")):
        if stored.get(key) != now.get(key):
            return f"{what} {now.get(key)} (was {stored.get(key)})"
    return "how the images are compared"


@dataclass
class SeenStore:
    """The micrographs seen by earlier rounds, their binned images and their scored pairs."""

    folder: Path
    round: int
    record: dict[str, Any] | None  # None: nothing seen yet
    files: list[str]  # absolute paths, in the order first seen
    images: list[tuple[int, int]]  # (round, row in that round's images file) of each seen micrograph
    pairs: dict[str, np.ndarray]  # a, b (seen ids, a acquired first), z, dy, dx, pearson, overlap
    # Where each seen micrograph's image lies in its file ([offset, dtype, psize]): its header is not read again.
    layouts: list[list[Any]] | None = None
    # Each seen file's size, modification time (ns) and inode when it was read (file_stamp).
    stamps: list[list[int] | None] = field(default_factory=list)
    loaded: bool = False  # read from seen.json: the outputs of its rounds are there to replace
    # The names of the files in ``folder`` this store wrote and may remove: it never removes another.
    written: list[str] = field(default_factory=list)
    # What the last round's pairs.csv holds (write.PairsCsv), None when unknown: a round appends to it.
    pairs_csv: dict[str, Any] | None = None
    # The round saved and not yet committed: (round, its seen.json, the files it uses).
    staged: tuple[int, dict[str, Any], set[str]] | None = None
    # The pairs files ({name, sha256}) that hold ``pairs``, in order; empty when none does (a round writes them all).
    pairs_files: list[dict[str, str]] = field(default_factory=list)
    # This round's inputs, each path as listed -> its absolute path: made once a round (issue 43: 5,100
    # inputs were made absolute four times, their files stat'ed three times).
    absolute_paths: dict[str, str] = field(default_factory=dict)
    # The seen files found in place by :meth:`replaced` this round: planning reads neither their headers nor stats.
    present: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, folder: Path, round_: int = 0, written: Collection[str] = ()) -> SeenStore:
        """Nothing seen; rounds numbered on from ``round_``; ``written``: files of an earlier store to remove."""
        pairs: dict[str, np.ndarray] = {"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64)}
        pairs.update({k: np.zeros(0) for k in COLUMNS})
        return cls(folder, round_, None, [], [], pairs, [], [], written=sorted(written))

    @classmethod
    def load(cls, folder: Path) -> SeenStore | None:
        """The store in ``folder``, None when there is none; checked whole first (``store_check``).

        Refused in one line (a store of another version, or damaged: what is wrong and that
        ``--update --force`` rebuilds it).
        """
        marker = folder / MARKER
        _check_folder(folder)
        if not os.path.lexists(marker):
            return None
        try:
            state = read_state(marker)
            if _another_format(state):
                written = state.get("version", "?")
                raise CryodedupError(
                    f"{marker}: a store of another format ({str(state['format'])[:60]}, written by cryodedup "
                    f"{str(written)[:40]}; this cryodedup {__version__} reads {FORMAT}) that --update cannot read; "
                    "use --force for a full run"
                )
            check_state(state, FORMAT)
            pairs = check_files(folder, state)
        except BadStore as err:
            raise damaged(folder / err.file if err.file else marker, str(err)) from None
        return cls(
            folder,
            state["round"],
            state["record"],
            state["files"],
            [(r, i) for r, i in state["images"]],
            pairs,
            state["layouts"],
            state["stamps"],
            True,
            sorted(name for name in written_names(state) if os.path.lexists(folder / name)),
            pairs_csv_record(state.get("pairs_csv")) if state["version"] == __version__ else None,
            pairs_files=[state["pairs_file"], *state.get("pairs_added", [])],
        )

    def start_anew(self) -> None:
        """Forgets every seen micrograph (the scores' options changed): the round is a full run."""
        empty = SeenStore.empty(self.folder)
        self.record, self.files, self.images, self.pairs = None, [], [], empty.pairs
        self.layouts, self.stamps, self.pairs_csv, self.pairs_files = [], [], None, []

    def absolute(self, path: StrPath) -> str:
        """``os.path.abspath`` of an input as listed, made once a round."""
        text = os.fspath(path)
        found = self.absolute_paths.get(text)
        if found is None:
            found = self.absolute_paths[text] = os.path.abspath(text)
        return found

    def replaced(self, listed: dict[str, os.stat_result | None]) -> list[str]:
        """The seen files whose size, modification time or inode changed since they were read.

        ``listed``: the inputs' stats taken as they were listed (by absolute path; None: none taken,
        the file is stat'ed here). Those unchanged are noted as :attr:`present`.
        """
        changed = []
        for path, stamp in zip(self.files, self.stamps):
            st = listed.get(path)
            now = file_stamp(path) if st is None else [st.st_size, st.st_mtime_ns, st.st_ino]
            if now is None:
                continue  # (a missing file is planning's to report)
            if now != stamp:
                changed.append(path)
            else:
                self.present.add(path)
        return changed

    def forget(self, gone: Collection[str]) -> None:
        """Drops the seen files ``gone``, with their images and pairs: a round reads them as new."""
        keep = np.array([f not in gone for f in self.files], dtype=bool)
        if keep.all():
            return
        new_id = np.cumsum(keep) - 1
        a, b = self.pairs["a"].astype(np.int64), self.pairs["b"].astype(np.int64)
        both = keep[a] & keep[b]
        self.pairs = {k: v[both] for k, v in self.pairs.items()}
        self.pairs["a"], self.pairs["b"] = new_id[a[both]], new_id[b[both]]
        self.pairs_files = []  # they hold the pairs dropped, and the old ids: the round writes every pair anew
        kept = np.flatnonzero(keep).tolist()
        self.files = [self.files[i] for i in kept]
        self.images = [self.images[i] for i in kept]
        self.stamps = [self.stamps[i] for i in kept]
        if self.layouts:
            self.layouts = [self.layouts[i] for i in kept]

    def known_layouts(self, paths: Collection[StrPath]) -> dict[str, MrcLayout]:
        """{input as listed: its image's layout} of the seen micrographs found in place, for ``plan_scoring``.

        ``paths``: the inputs (``Micrographs.paths``); planning reads neither the headers nor the stats of these.
        """
        if not self.layouts or self.record is None:
            return {}
        ny, nx = self.record["shape"]
        here = self.present
        seen = {f: MrcLayout((ny, nx), d, o, p) for f, (o, d, p) in zip(self.files, self.layouts) if f in here}
        return {os.fspath(path): seen[full] for path in paths if (full := self.absolute(path)) in seen}

    def image_file(self, round_: int) -> Path:
        """The binned images of the micrographs first seen in round ``round_``."""
        return self.folder / f"images-{round_}.npy"

    def save(
        self,
        record: dict[str, Any],
        new_files: list[str],
        new_images: list[np.ndarray],
        scored: dict,
        new_layouts: list[MrcLayout] | None,
        new_stamps: list[list[int] | None],
    ) -> None:
        """Writes the next round's images and all pairs, each renamed when complete; :meth:`commit` ends it.

        The images of this round go to their own file, or, when the store has grown past what it
        holds (``needs_compacting``), every seen micrograph's image to one file.
        """
        round_ = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            remove_own_leftovers(self.folder)
            # Past every numbered file there: a round never replaces a file, its own or anyone's.
            round_ = max(self.round, _last_round(self.folder)) + 1
            self.staged = self._write_round(round_, record, new_files, new_images, scored, new_layouts, new_stamps)
        except BaseException as err:
            self._failed(round_, err)

    @contextmanager
    def committing(self, pairs_csv: Any) -> Iterator[None]:
        """Around the decision and the outputs of the round :meth:`save` wrote: :meth:`commit` after them.

        When they fail, the round's files are removed (the previous round stays whole).
        """
        try:
            yield
            if self.staged is not None:  # (a round scored from the metadata alone saves none)
                self.commit(pairs_csv.written)
        except BaseException as err:
            self._failed(self.staged[0] if self.staged else None, err)

    def commit(self, pairs_csv: dict[str, Any] | None) -> None:
        """Writes ``seen.json`` of the saved round (with what its pairs.csv holds), then removes what no round uses.

        After the outputs are written (under their temporary names, whose size, time and inode
        the renames keep): a round stopped before leaves the previous store, one stopped after
        a store whose ``pairs_csv`` names no file there is, and the next round writes pairs.csv whole.
        """
        assert self.staged is not None, "save first"
        _, state, used = self.staged
        if pairs_csv is not None:
            state["pairs_csv"] = pairs_csv
        _save_atomic(self.folder / MARKER, lambda f: f.write(json.dumps(state).encode()))
        self.staged = None
        # What the previous rounds wrote and no longer need (older pair files, compacted images); nothing else.
        for name in set(self.written) - used:
            _remove_own_file(self.folder / name)

    def _failed(self, round_: int | None, err: BaseException) -> NoReturn:
        """Removes round ``round_``'s files unless its seen.json is in place; raises ``err`` (OSError: one line)."""
        self.staged = None
        if round_ is not None and _marker_round(self.folder) != round_:  # stopped or failed before seen.json
            for name in (self.image_file(round_).name, f"pairs-{round_}.npz"):
                _remove_own_file(self.folder / name)  # this round's, placed but never listed
        if isinstance(err, OSError):
            raise store_write_error(self.folder, err) from None
        raise err

    def _write_round(
        self, round_: int, record: dict[str, Any], new_files: list[str], *new: Any
    ) -> tuple[int, dict[str, Any], set[str]]:
        new_images, scored, new_layouts, new_stamps = new
        images = self.images + [(round_, k) for k in range(len(new_images))]
        if self.needs_compacting(len(new_images)):
            images = self._compact(round_, new_images)
        elif new_images:
            _save_atomic(self.image_file(round_), lambda f: _save_stacked(f, new_images))
        pairs_files = self._save_pairs(round_, scored)
        state: dict[str, Any] = {
            "format": FORMAT,
            "version": __version__,
            "round": round_,
            "record": record,
            "files": self.files + new_files,
            "images": [list(at) for at in images],
            "layouts": None
            if self.layouts is None or new_layouts is None
            else self.layouts + [[m.offset, m.dtype, m.psize] for m in new_layouts],
            "stamps": self.stamps + new_stamps,
            "pairs_file": pairs_files[0],
            "pairs_added": pairs_files[1:],
        }
        used = {f["name"] for f in pairs_files} | {self.image_file(r).name for r in {r for r, _ in images}}
        # Listed before they go: a round stopped between the two still knows them for the next.
        state["written"] = sorted(used | set(self.written))
        return round_, state, used

    def _save_pairs(self, round_: int, scored: dict[str, np.ndarray]) -> list[dict[str, str]]:
        """The store's pairs files with the round's: one more of its new pairs, or one of every pair.

        One of every pair when no file holds the store's pairs (forgotten micrographs) or too many do.
        """
        whole = not self.pairs_files or len(self.pairs_files) >= MAX_PAIR_FILES
        if not whole and not len(scored["a"]):
            return list(self.pairs_files)
        # Each column of the store's type (the core gives the shifts as whole numbers; the store keeps floats).
        pairs = {k: np.asarray(scored[k], dtype=v.dtype) for k, v in self.pairs.items()}
        if whole:
            pairs = {k: np.concatenate([v, pairs[k]]) for k, v in self.pairs.items()}
        name = f"pairs-{round_}.npz"
        _save_atomic(self.folder / name, lambda f: np.savez(f, **pairs))  # type: ignore[arg-type]
        entry = {"name": name, "sha256": sha256_of(self.folder / name)}
        return [entry] if whole else [*self.pairs_files, entry]

    def needs_compacting(self, adding: int) -> bool:
        """Whether the store has grown past what it holds, once ``adding`` more images are in.

        Past what it holds: at least a third of its image files' rows are of forgotten
        (replaced) micrographs, or its images lie in more than ``MAX_IMAGE_FILES`` files.
        """
        rounds = {r for r, _ in self.images}
        held = sum(len(np.load(self.image_file(r), mmap_mode="r")) for r in rounds) + adding
        dead = held - len(self.images) - adding
        return (3 * dead >= held > 0 and dead > 0) or len(rounds) + (adding > 0) > MAX_IMAGE_FILES

    def _compact(self, round_: int, new_images: list[np.ndarray]) -> list[tuple[int, int]]:
        """Every seen micrograph's image, then the new ones, into ``images-ROUND.npy``; their places there."""
        sources = {r: np.load(self.image_file(r), mmap_mode="r") for r in {r for r, _ in self.images}}
        some = next(iter(sources.values()), None)
        shape = some.shape[1:] if some is not None else new_images[0].shape
        path = self.image_file(round_)
        with _temporary(path) as tmp:
            out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.float32, shape=(len(self.images) + len(new_images), *shape)
            )
            for k, (r, row) in enumerate(self.images):  # one image at a time: the store may not fit in memory
                out[k] = sources[r][row]
            for k, image in enumerate(new_images, start=len(self.images)):
                out[k] = image
            out.flush()
            del out, sources
            os.replace(tmp, path)
        return [(round_, k) for k in range(len(self.images) + len(new_images))]


#: A store file being written, ``.NAME.PID.tmp``: left behind when its process was killed.
OWN_TEMPORARY = re.compile(r"\.(images-[0-9]+\.npy|pairs-[0-9]+\.npz|seen\.json)\.([0-9]+)\.tmp")


def written_names(state: Any) -> set[str]:
    """The files a store's ``seen.json`` says the store wrote (its ``written``, else those it uses).

    Only names a store gives its files, in ``seen/`` itself: a damaged or edited marker can
    never make the store remove another file.
    """
    if not isinstance(state, dict):
        return set()
    names = state.get("written")
    if not isinstance(names, list):  # a store of an earlier release: the files it uses
        entries = [state.get("pairs_file"), *(state.get("pairs_added") or [])]
        names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
        images = state.get("images")
        rounds = {at[0] for at in images if isinstance(at, list) and at} if isinstance(images, list) else set()
        names += [f"images-{r}.npy" for r in rounds if isinstance(r, int)]
    return {n for n in names if isinstance(n, str) and OWN_FILE.fullmatch(n)}


def remove_own_leftovers(folder: Path) -> None:
    """Removes the temporary files of store rounds whose process is gone (killed while writing)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = OWN_TEMPORARY.fullmatch(entry.name)
        if match and int(match[2]) != os.getpid() and not process_alive(int(match[2])):
            _remove_file(Path(entry.path))


def _remove_own_file(path: Path) -> None:
    """Removes ``path``, a file the store wrote, if it is still a plain file (never a folder, a link)."""
    if OWN_FILE.fullmatch(path.name):
        _remove_file(path)


def _marker_round(folder: Path) -> Any:
    """The round ``seen.json`` names (None when it cannot be read): whether a round's marker is in place."""
    try:
        state = json.loads((folder / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    return state.get("round") if isinstance(state, dict) else None


def refuse_inputs_inside(outdir: Path, inputs: Collection[StrPath]) -> None:
    """Refuses an input inside the output folder (its store included): --update rewrites that folder each round."""
    inside = os.path.realpath(outdir).rstrip(os.sep) + os.sep
    for path, real in zip(inputs, real_paths(inputs)):
        if real.startswith(inside):
            raise CryodedupError(
                f"{path}: an input inside the output folder {outdir}, which --update keeps for its outputs and "
                f"its store ({STORE}/); move the input out or choose another output folder"
            )


def open_store(outdir: Path, mics: Micrographs, force: bool, log: Callable[[str, str], None]) -> SeenStore:
    """The store of ``outdir`` (empty for a first or a forced full run), checked against the inputs."""
    folder = outdir / STORE
    if force:
        replacing = os.path.exists(folder / MARKER)
        written = written_names(_lenient_state(folder / MARKER))
        make_way(folder, log)
        _check_writable(folder)
        if replacing:
            log(f"--update --force: {folder} replaced by a full run", "warning")
        return SeenStore.empty(folder, written=written)
    store = SeenStore.load(folder)
    _check_writable(folder)
    if store is None:
        return SeenStore.empty(folder)
    # Each input's stat when it was listed (MRC files), else None: the seen files are not stat'ed twice.
    stats = mics.stats or {}
    now = {store.absolute(path): stats.get(name) for path, name in zip(mics.paths, mics.names)}
    lost = [f for f in store.files if f not in now]
    if lost:
        raise CryodedupError(
            f"--update: {len(lost)} micrograph(s) screened before are no longer in the inputs (e.g. {lost[0]}); "
            "give them again, or use --force for a full run"
        )
    replaced = store.replaced(now)
    if replaced:
        log(
            f"--update: {len(replaced)} micrograph(s) replaced since they were screened, read again "
            f"(e.g. {replaced[0]})",
            "warning",
        )
        store.forget(replaced)
    return store


def leave_for_later(
    mics: Micrographs, store: SeenStore, ready: Collection[str] | None, log: Callable[[str, str], None]
) -> Micrographs:
    """The micrographs of this round: those not seen before and still being written are left for a later one.

    Still being written: an MRC file whose header describes more bytes than it holds, or, with
    ``ready`` (--watch: the files whole and unchanged since its previous look, or unchanged for
    a few looks: ``Arrivals``), a file not in it. Only a list of MRC files can be screened
    without some of its micrographs; for a STAR or a .cs the round is refused until they are
    complete.
    """
    seen = set(store.files)
    late: dict[int, str] = {}
    for k, path in enumerate(mics.paths):
        absolute = store.absolute(path)
        if absolute in seen:
            continue
        if ready is None:
            why = unfinished(path)
        else:  # (a file in ready is read as it is: whole, or unchanged too long to wait for)
            why = None if absolute in ready else unfinished(path) or "new or changed since the last look"
        if why:
            late[k] = why
    if not late:
        return mics
    first = next(iter(late))
    if mics.kind != "mrc":
        raise CryodedupError(
            f"{mics.paths[first]}: still being written ({late[first]}); run --update again once it is complete"
        )
    log(
        f"--update: {len(late)} micrograph(s) still being written, left for a later round "
        f"(e.g. {mics.paths[first]}: {late[first]})",
        "warning",
    )
    keep = [k for k in range(len(mics.paths)) if k not in late]
    return replace(mics, names=[mics.names[k] for k in keep], paths=[mics.paths[k] for k in keep])


def _another_format(state: Any) -> bool:
    fmt = state.get("format") if isinstance(state, dict) else None
    return isinstance(fmt, str) and fmt.startswith(FORMAT[:-1]) and fmt != FORMAT


def damaged(where: Path, what: str) -> CryodedupError:
    """The one line of a damaged store: what is wrong, and that --update --force rebuilds it."""
    return CryodedupError(
        f"{where}: {what}; the --update store is damaged: --update --force rebuilds it "
        "(a full run; files the store did not write are kept)"
    )


def _check_folder(folder: Path) -> None:
    """Refuses a ``seen`` that is not a folder (a file, a dangling link): plain --update cannot use it."""
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise damaged(folder, "not a folder")


def _lenient_state(marker: Path) -> Any:
    """What ``marker`` holds as JSON, None when it cannot be read: --force removes the files it names as written."""
    try:
        return read_state(marker)
    except BadStore:
        return None


def make_way(folder: Path, log: Callable[[str, str], None]) -> None:
    """Moves aside what stands where --update --force writes the store: ``seen`` not a folder, ``seen.json`` not a file.

    Moved, never removed: neither was written by a store (it writes a folder and a file).
    """
    marker = folder / MARKER
    for path, is_right in (
        (folder, lambda: os.path.isdir(folder)),
        (marker, lambda: stat.S_ISREG(os.lstat(marker).st_mode)),
    ):
        if not os.path.lexists(path) or is_right():
            continue
        aside = next(p for k in range(1, 10**6) if not os.path.lexists(p := path.with_name(f"{path.name}.aside-{k}")))
        try:
            os.rename(path, aside)
        except OSError as err:
            raise CryodedupError(
                f"{path}: in the way of the store and cannot be moved aside ({err.strerror})"
            ) from None
        log(f"--update --force: {path} was not the store's; moved aside to {aside}", "warning")


def _check_writable(folder: Path) -> None:
    """Refuses a store folder this run cannot write in (a read-only mount) before any work."""
    if not os.path.isdir(folder):  # (False, too, for a name the system cannot take)
        return  # made by the round's save (its output folder is checked with the outputs)
    try:
        with _temporary(folder / MARKER) as probe:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            os.unlink(probe)
    except OSError as err:
        raise store_write_error(folder, err) from None


def store_write_error(folder: Path, err: OSError) -> CryodedupError:
    """The one line of a store that cannot be written."""
    return CryodedupError(
        f"{folder}: cannot write the --update store ({err.strerror}); make it writable, or choose another output folder"
    )


def _save_stacked(file: Any, images: list[np.ndarray]) -> None:
    """``np.save`` of the images stacked, written one after the other: no stacked copy (48 MB a round of 100 K3)."""
    shape = (len(images), *images[0].shape)
    header: dict[str, Any] = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
    np.lib.format.write_array_header_1_0(file, {**header, "shape": shape})
    for image in images:
        file.write(np.ascontiguousarray(image, dtype=np.float32).data)


def _last_round(folder: Path) -> int:
    """The highest round any file in ``folder`` is numbered with (0 when none): a new round never reuses a name."""
    numbers = [int(p.stem.split("-")[-1]) for p in folder.glob("*-*.np[yz]") if p.stem.split("-")[-1].isdecimal()]
    return max(numbers, default=0)


def score_update(
    plan: ScoringPlan,
    options: Any,
    store: SeenStore,
    log: Callable[[str, str], None],
    progress_factory: Callable[[int], ProgressBar] | None = None,
) -> ShardScores:
    """Scores the plan's pairs, reading only the micrographs the store has not seen, and saves the round."""
    record = score_record(plan, options)
    if store.record is not None and store.record != record:
        log(f"--update: {_what_changed(store.record, record)} changes the scores: full run", "warning")
        store.start_anew()
    seen_id = {f: k for k, f in enumerate(store.files)}
    files = [store.absolute(plan.paths[i]) for i in plan.positions]
    ids = np.array([seen_id.get(f, -1) for f in files], dtype=np.int64)
    pairs = shard_pairs(plan, 1, 1)
    known = _stored_rows(store, ids[pairs[:, 0]], ids[pairs[:, 1]])
    found = known >= 0
    rows = known[found]
    # A round of micrographs acquired after the seen ones finds the stored pairs first and in order: views, no copies.
    take = slice(0, len(rows)) if np.array_equal(rows, np.arange(len(rows))) else rows
    reused = {k: store.pairs[k][take] for k in COLUMNS}
    reused["pairs"] = plan.positions[pairs[found]].reshape(-1, 2)
    todo = pairs[~found]

    new_images: dict[int, np.ndarray] = {}
    counts = {"bytes": 0}
    loaded: dict[int, np.ndarray] = {}

    def stored(q: int) -> np.ndarray:
        round_, row = store.images[ids[q]]
        if round_ not in loaded:
            loaded[round_] = np.load(store.image_file(round_), mmap_mode="r")
        return np.asarray(loaded[round_][row])

    def read(_plan: ScoringPlan, batch: np.ndarray) -> list[np.ndarray]:
        unseen = [int(q) for q in batch if ids[q] < 0]
        raw = [_read_image(plan, q) for q in unseen]
        counts["bytes"] += sum(image.nbytes for image in raw)
        # The core's own binning, the images in parallel: a spectrum at bin 1 of a binned image is the
        # raw image's at plan.binning, bit for bit.
        new_images.update(zip(unseen, _core.bin_images(raw, plan.binning)))
        return [new_images[q] if ids[q] < 0 else stored(q) for q in batch]

    binned_plan = replace(
        plan,
        shape=(plan.shape[0] // plan.binning, plan.shape[1] // plan.binning),
        binning=1,
        layouts=None,
        pairs=todo.reshape(-1, 2),
    )
    unseen_positions = np.setdiff1d(np.unique(todo), np.flatnonzero(ids >= 0))
    unseen = len(unseen_positions)
    # Before reading: a file changed while or after it is read is then read again next round.
    stamps = {int(q): file_stamp(files[q]) for q in unseen_positions}
    bar = progress_factory(unseen) if progress_factory else None
    try:
        fresh = score_shard(binned_plan, 1, 1, bar.advance if bar else None, read=read)
    finally:
        if bar:
            bar.close()
    order = sorted(new_images)
    scored = {k: fresh.scores[k] for k in COLUMNS}
    todo_ids = _ids_after(store, ids, order, len(store.files))
    scored["a"], scored["b"] = todo_ids[todo[:, 0]], todo_ids[todo[:, 1]]
    layouts = None if plan.layouts is None else [plan.layouts[q] for q in order]
    store.save(
        record, [files[q] for q in order], [new_images[q] for q in order], scored, layouts, [stamps[q] for q in order]
    )
    scores = {k: np.concatenate([reused[k], fresh.scores[k]]) for k in ("pairs", *COLUMNS)}
    return replace(fresh, scores=scores, images_read=len(new_images), bytes_read=counts["bytes"])


def _ids_after(store: SeenStore, ids: np.ndarray, new: list[int], first: int) -> np.ndarray:
    """Each acquisition position's seen id once this round's new images are added."""
    after = ids.copy()
    after[np.asarray(new, dtype=np.int64)] = np.arange(first, first + len(new))
    return after


def _stored_rows(store: SeenStore, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The store's row of each pair (a acquired first), -1 where it was not scored in this orientation."""
    rows = np.full(len(a), -1, dtype=np.int64)
    if not len(store.pairs["a"]) or not len(a):
        return rows
    width = max(len(store.files), 1)
    # The later micrograph first: rounds store their pairs in that order, so the keys are most often sorted already.
    stored = store.pairs["b"].astype(np.int64) * width + store.pairs["a"].astype(np.int64)
    wanted = b * width + a
    count = len(stored)
    seen = slice(0, count)
    if len(a) >= count and (a[seen] >= 0).all() and (b[seen] >= 0).all() and np.array_equal(wanted[seen], stored):
        # Every stored pair first, in order (new micrographs acquired after the seen ones): no search. The
        # stored pairs are distinct, so none of the pairs after them is stored.
        rows[seen] = np.arange(count)
        return rows
    ordered = bool((stored[1:] > stored[:-1]).all())
    order = np.arange(len(stored)) if ordered else np.argsort(stored, kind="stable")
    keys = stored if ordered else stored[order]
    at = np.clip(np.searchsorted(keys, wanted), 0, len(stored) - 1)
    hit = (a >= 0) & (b >= 0) & (keys[at] == wanted)
    rows[hit] = order[at[hit]]
    return rows
