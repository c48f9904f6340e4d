"""``--update``: screen only the micrographs not seen before, into the same output folder.

The output folder keeps, in ``seen/``, what the comparison needs: each seen micrograph's
image binned as the core bins it (``images-R.npy``, one file per round R), every pair scored so
far (``pairs-R.npz``, the shard's columns with the pairs named by seen micrograph), and
``seen.json``, written last (the round's completion marker): the store's format, the
micrographs in the order first seen, where each image is, and what the scores depend on
(the image size, binning, pixel size, band and the Pearson floor, and the options they come
from). A round reads only the micrographs it has not seen, scores the candidate pairs it has
no score for (a binned image gives the same spectrum as the raw one, bit for bit, so old
images are not read again), and writes the outputs of a fresh run of the whole set.

``watch`` repeats rounds as new micrographs appear (a STAR file that grows, a glob that
matches more).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ... import _core
from ..._core import __version__
from ...errors import CryodedupError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout
from .plan import ScoringPlan
from .score import ProgressBar, ShardScores, _read_image, score_shard, shard_pairs
from .shards import changed_option, sha256_of

STORE = "seen"
MARKER = "seen.json"
FORMAT = "cryodedup micrograph update store 1"
#: The options that change a pair's scores: any change means a full run.
SCORE_OPTIONS = ("target_psize", "bin", "lowpass", "highpass", "psize", "min_z")
COLUMNS = ("z", "dy", "dx", "pearson", "overlap")


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

    @classmethod
    def empty(cls, folder: Path, round_: int = 0) -> SeenStore:
        """Nothing seen; rounds numbered on from ``round_`` (a full run never overwrites files the marker names)."""
        pairs: dict[str, np.ndarray] = {"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64)}
        pairs.update({k: np.zeros(0) for k in COLUMNS})
        return cls(folder, round_, None, [], [], pairs, [])

    @classmethod
    def load(cls, folder: Path) -> SeenStore | None:
        """The store in ``folder``, None when there is none; refused when another version wrote it."""
        marker = folder / MARKER
        if not marker.exists():
            return None
        try:
            state = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            raise CryodedupError(f"{marker}: cannot be read ({err}); use --force for a full run") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            written = state.get("version", "?") if isinstance(state, dict) else "?"
            raise CryodedupError(
                f"{marker}: a store of another cryodedup version ({written}; this is {__version__}) that "
                "--update cannot read; use --force for a full run"
            )
        pairs_file = folder / state["pairs_file"]["name"]
        if not pairs_file.exists() or sha256_of(pairs_file) != state["pairs_file"]["sha256"]:
            raise CryodedupError(f"{pairs_file}: missing or changed since {marker}; use --force for a full run")
        with np.load(pairs_file) as f:
            pairs = {k: f[k] for k in f.files}
        images = [(int(r), int(i)) for r, i in state["images"]]
        layouts = state.get("layouts")
        return cls(folder, state["round"], state["record"], state["files"], images, pairs, layouts)

    def known_layouts(self) -> dict[str, MrcLayout]:
        """{file: its image's layout} of the seen micrographs, for ``plan_scoring`` to skip their headers."""
        if not self.layouts or self.record is None:
            return {}
        ny, nx = self.record["shape"]
        return {f: MrcLayout((ny, nx), d, o, p) for f, (o, d, p) in zip(self.files, self.layouts)}

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
    ) -> None:
        """Writes the next round: its images and all pairs, then ``seen.json``, each renamed when complete."""
        self.folder.mkdir(parents=True, exist_ok=True)
        round_ = self.round + 1
        if new_images:
            _save_atomic(self.image_file(round_), lambda f: np.save(f, np.stack(new_images)))
        pairs = {k: np.concatenate([self.pairs[k], scored[k]]) for k in self.pairs}
        pairs_name = f"pairs-{round_}.npz"
        _save_atomic(self.folder / pairs_name, lambda f: np.savez(f, **pairs))  # type: ignore[arg-type]
        state: dict[str, Any] = {
            "format": FORMAT,
            "version": __version__,
            "round": round_,
            "record": record,
            "files": self.files + new_files,
            "images": self.images + [[round_, k] for k in range(len(new_images))],
            "layouts": None
            if self.layouts is None or new_layouts is None
            else self.layouts + [[m.offset, m.dtype, m.psize] for m in new_layouts],
            "pairs_file": {"name": pairs_name, "sha256": sha256_of(self.folder / pairs_name)},
        }
        _save_atomic(self.folder / MARKER, lambda f: f.write(json.dumps(state).encode()))
        # What the previous rounds wrote and no longer needs (older pair files, a crashed round's files).
        used = {pairs_name, MARKER} | {self.image_file(r).name for r, _ in state["images"]}
        for leftover in self.folder.iterdir():
            if leftover.name not in used:
                leftover.unlink(missing_ok=True)


def _save_atomic(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def open_store(outdir: Path, mics: Micrographs, force: bool, log: Callable[[str, str], None]) -> SeenStore:
    """The store of ``outdir`` (empty for a first or a forced full run), checked against the inputs."""
    folder = outdir / STORE
    if force:
        if (folder / MARKER).exists():
            log(f"--update --force: {folder} replaced by a full run", "warning")
        return SeenStore.empty(folder, _last_round(folder))
    store = SeenStore.load(folder)
    if store is None:
        return SeenStore.empty(folder, _last_round(folder))
    now = {os.path.abspath(p) for p in mics.paths}
    lost = [f for f in store.files if f not in now]
    if lost:
        raise CryodedupError(
            f"--update: {len(lost)} micrograph(s) screened before are no longer in the inputs (e.g. {lost[0]}); "
            "give them again, or use --force for a full run"
        )
    return store


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
        store = SeenStore.empty(store.folder, store.round)
    seen_id = {f: k for k, f in enumerate(store.files)}
    files = [os.path.abspath(plan.paths[i]) for i in plan.positions]
    ids = np.array([seen_id.get(f, -1) for f in files], dtype=np.int64)
    pairs = shard_pairs(plan, 1, 1)
    known = _stored_rows(store, ids[pairs[:, 0]], ids[pairs[:, 1]])
    reused = {k: store.pairs[k][known[known >= 0]] for k in COLUMNS}
    reused["pairs"] = plan.positions[pairs[known >= 0]].reshape(-1, 2)
    todo = pairs[known < 0]

    new_images: dict[int, np.ndarray] = {}
    counts = {"bytes": 0}
    loaded: dict[int, np.ndarray] = {}

    def read(_plan: ScoringPlan, q: int) -> np.ndarray:
        if ids[q] >= 0:
            round_, row = store.images[ids[q]]
            if round_ not in loaded:
                loaded[round_] = np.load(store.image_file(round_), mmap_mode="r")
            return np.asarray(loaded[round_][row])
        raw = _read_image(plan, q)
        counts["bytes"] += raw.nbytes
        # The core's own binning: a spectrum at bin 1 of this image is the raw image's at plan.binning, bit for bit.
        new_images[q] = binned = _core.bin_image(raw, plan.binning)
        return binned

    binned_plan = replace(
        plan,
        shape=(plan.shape[0] // plan.binning, plan.shape[1] // plan.binning),
        binning=1,
        layouts=None,
        pairs=todo.reshape(-1, 2),
    )
    unseen = len(np.setdiff1d(np.unique(todo), np.flatnonzero(ids >= 0)))
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
    store.save(record, [files[q] for q in order], [new_images[q] for q in order], scored, layouts)
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
    stored = store.pairs["a"].astype(np.int64) * width + store.pairs["b"].astype(np.int64)
    order = np.argsort(stored, kind="stable")
    wanted = a * width + b
    at = np.clip(np.searchsorted(stored[order], wanted), 0, len(stored) - 1)
    hit = (a >= 0) & (b >= 0) & (stored[order][at] == wanted)
    rows[hit] = order[at[hit]]
    return rows


def watch(
    round_: Callable[[bool], dict[str, Any]],
    count_micrographs: Callable[[], int | None],
    every: float,
    idle_minutes: float | None,
    *,
    report: Callable[[dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Runs ``round_`` now and again whenever ``count_micrographs`` grows; returns the rounds run.

    Checks every ``every`` seconds (an input that cannot be read at that moment, a STAR file
    being rewritten, is looked at again at the next check); stops after ``idle_minutes`` without new micrographs (never
    when None), or at Ctrl-C between rounds (a round interrupted leaves the previous one's
    outputs and store: each is atomic).
    """
    rounds = 0
    summary = round_(True)
    rounds += 1
    report(summary)
    last_count, last_new = summary["micrographs"], clock()
    try:
        while idle_minutes is None or clock() - last_new < idle_minutes * 60:
            sleep(every)
            now = count_micrographs()
            if now is None or now == last_count:  # None: the input cannot be read now (being written)
                continue
            summary = round_(False)
            rounds += 1
            report(summary)
            last_count, last_new = summary["micrographs"], clock()
    except KeyboardInterrupt:
        pass
    return rounds
