"""Score the planned pairs, in shards: read and bin each image once, compare its spectrum.

A shard owns the pairs whose earlier image is in its chunk of the acquisition order; it
runs here (``run_in_process``), as a SLURM task (shards.py) or as a Dask task (dask.py).
``--no-images`` scores by the metadata's positions alone (``decide_without_images``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Optional, Protocol

import numpy as np

import cryodedup._core as _core

from ...errors import InputFileError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import map_mrc, mrc_layout
from ...report.micrograph_sections import Reading, WorkerReading
from .placement import Placement
from .plan import ScoringPlan, ScoringRules, acquisition_order, candidate_pairs, checked_psize, placed_pairs

__all__ = [
    "SCORE_FIELDS",
    "NonFiniteMicrograph",
    "ProgressBar",
    "ScoredPairs",
    "ShardScorer",
    "ShardScores",
    "_read_image",
    "combine_shards",
    "decide_without_images",
    "images_for_spectra",
    "images_to_read",
    "reading_by_worker",
    "run_in_process",
    "score_shard",
    "shard_pairs",
    "spectrum_bank",
]

#: Batches of images read while the pairs of an earlier one are compared.
READ_AHEAD = 2

#: The images of a batch of acquisition positions, as the spectra are made from them.
BatchReader = Callable[["ScoringPlan", np.ndarray], list[np.ndarray]]


class ProgressBar(Protocol):
    """A progress bar the job advances by the number of micrographs read."""

    def advance(self, k: int) -> None:
        """Counts ``k`` more micrographs as read."""

    def close(self) -> None:
        """Ends the bar."""


#: The scores of a pair besides its images, as :class:`ScoredPairs` holds them.
SCORE_FIELDS = ("z", "dy", "dx", "pearson", "overlap")


@dataclass(frozen=True)
class ScoredPairs:
    """Scored pairs, a column each: the pairs (input indices, ``(n, 2)``), then one value per pair.

    ``z`` (the phase-correlation peak, in SDs of the map), the peak's shift ``dy``, ``dx``
    (binned pixels, b against a), ``pearson`` (NaN where the peak was too low to test) and
    ``overlap`` (the share of the area the two images overlap at that shift). Without images
    (``--no-images``) every score is NaN. The ``--update`` store keeps its pairs so, ``pairs``
    the store's ids of the two micrographs (update.py).
    """

    pairs: np.ndarray
    z: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    pearson: np.ndarray
    overlap: np.ndarray

    def __len__(self) -> int:
        return len(self.z)

    def columns(self) -> dict[str, np.ndarray]:
        """Every column by its name, ``pairs`` first (as a shard's ``pairs.npz`` holds them)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def take(self, index: np.ndarray | slice) -> ScoredPairs:
        """The pairs at ``index`` (an order, a mask or a slice), every column alike."""
        return ScoredPairs(**{name: column[index] for name, column in self.columns().items()})

    @classmethod
    def joined(cls, parts: Sequence[ScoredPairs]) -> ScoredPairs:
        """The pairs of ``parts``, one after the other."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @classmethod
    def none(cls) -> ScoredPairs:
        """No pair: whole-number pairs, and empty scores."""
        return cls(np.zeros((0, 2), np.int64), *(np.zeros(0) for _ in SCORE_FIELDS))


@dataclass
class ShardScores:
    """The scored pairs of one shard and what reading its images cost."""

    shard: int  # 1 to shards
    shards: int
    scores: ScoredPairs
    images_read: int
    bytes_read: int
    read_seconds: float  # opening, reading and binning the images
    seconds: float
    worker: str  # where it ran: host:pid, or the Dask worker's address


def decide_without_images(
    mics: Micrographs, rules: ScoringRules, placement: Placement
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The pairs within the beam diameter of each other, as scores without images (z, Pearson: NaN).

    Nothing is read but the metadata: the decision is the distance alone (``decide``).
    """
    order, rule = acquisition_order(mics.names, mics.paths, rules.order, placement.times)
    pairs = placed_pairs(placement, order.tolist())
    empty = np.full(len(pairs), np.nan)
    plan = ScoringPlan(
        paths=[str(p) for p in mics.paths],
        positions=order,
        shape=(0, 0),
        binning=1,
        binned_psize=float("nan"),
        band=(float("nan"), float("nan")),
        offsets=np.zeros(0, dtype=np.int64),
        rule=rule,
        unreadable=[],
        batch=rules.batch,
        pearson_min_z=rules.min_z,
        pairs=pairs,
        psize_note=checked_psize(mics, rules.psize, rules.insist_psize),
    )
    scores = ScoredPairs(order[pairs].reshape(-1, 2), empty, empty, empty, empty, empty)
    shard = ShardScores(1, 1, scores, 0, 0, 0.0, 0.0, f"{socket.gethostname()}:{os.getpid()}")
    return plan, [shard]


def shard_bounds(count: int, shard: int, shards: int) -> tuple[int, int]:
    """The acquisition positions [lo, hi) that shard ``shard`` of ``shards`` (from 1) owns."""
    return (shard - 1) * count // shards, shard * count // shards


def shard_pairs(plan: ScoringPlan, shard: int, shards: int) -> np.ndarray:
    """The pairs of acquisition positions a shard scores (sorted by the later image).

    A pair belongs to the shard that owns its earlier image, so each is scored exactly once;
    the later images of the last pairs come from the next chunks.
    """
    count = len(plan.positions)
    if plan.pairs is not None:
        lo, hi = shard_bounds(count, shard, shards)
        return plan.pairs[(plan.pairs[:, 0] >= lo) & (plan.pairs[:, 0] < hi)]
    return candidate_pairs(count, plan.offsets, shard_bounds(count, shard, shards))


def images_to_read(plan: ScoringPlan, shard: int, shards: int) -> int:
    """How many images a shard reads: those of its chunk and of the next chunks its pairs reach."""
    return len(np.unique(shard_pairs(plan, shard, shards)))


def score_shard(
    plan: ScoringPlan,
    shard: int,
    shards: int,
    progress: Callable[[int], None] | None = None,
    read: BatchReader | None = None,
) -> ShardScores:
    """Scores the pairs of one shard.

    Images are read in acquisition order, ``plan.batch`` at a time, the next batches while the
    pairs of this one are compared, and their spectra dropped once no later pair of the shard
    needs them: memory holds the reach plus three batches.

    Parameters
    ----------
    plan : ScoringPlan
    shard, shards : int
        Which shard, from 1 to ``shards``.
    progress : callable, optional
        Called with the number of images read after each batch.
    read : callable, optional
        The images at a batch of acquisition positions (default: mapped from their files);
        ``--update`` gives binned images it kept or reads (update.py).

    Returns
    -------
    ShardScores
    """
    start = time.perf_counter()
    pairs_pos = shard_pairs(plan, shard, shards)
    spectra = _ShardSpectra(plan, np.unique(pairs_pos), read or _read_images)
    needed = spectra.needed
    batches = [needed[first : first + plan.batch] for first in range(0, len(needed), plan.batch)]
    scored: list[tuple[np.ndarray, _core.PairScores]] = []
    bytes_read, read_seconds = 0, 0.0
    # Batches k + 1 and k + 2 are read while batch k's pairs are compared
    # (docs/developers/decisions/micrograph-screen.md): the reader runs ahead, since the pairs of the last
    # batches cost the most.
    with ThreadPoolExecutor(1, thread_name_prefix="cryodedup-read") as reader:
        reading = [reader.submit(spectra.read_batch, batch) for batch in batches[:READ_AHEAD]]
        for k, batch in enumerate(batches):
            made, nbytes, floats, seconds = reading[k].result()
            bytes_read, read_seconds = bytes_read + nbytes, read_seconds + seconds
            spectra.store(made, floats, int(batch[0]))
            if k + READ_AHEAD < len(batches):
                reading.append(reader.submit(spectra.read_batch, batches[k + READ_AHEAD]))
            lo, hi = np.searchsorted(pairs_pos[:, 1], [batch[0], batch[-1] + 1])
            if hi > lo:
                pairs = pairs_pos[lo:hi]
                scored.append((plan.positions[pairs], spectra.bank.compare(pairs, plan.pearson_min_z)))
            if progress is not None:
                progress(len(batch))
    return ShardScores(
        shard,
        shards,
        _joined(scored, (spectra.bank.geometry.fft_height, spectra.bank.geometry.fft_width)),
        images_read=len(needed),
        bytes_read=bytes_read,
        read_seconds=read_seconds,
        seconds=time.perf_counter() - start,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


class NonFiniteMicrograph(InputFileError):
    """A micrograph whose pixels hold NaN or infinities, found when its image is read: ``path`` names it.

    Refused; with ``--skip-unreadable`` the job plans again without it and scores anew
    (``job._score``), as it goes on without a file that cannot be read. ``overflow``: its pixels are finite,
    yet so large (-3e38) that binning them overflows float32: the cause named as such (issue 99).
    """

    def __init__(self, path: str, overflow: bool = False):
        super().__init__(f"{path}: {self.cause_of(overflow)}, {_MEANINGLESS}")
        self.path, self.overflow = path, overflow

    @staticmethod
    def cause_of(overflow: bool) -> str:
        """What is wrong with the micrograph's pixels, in a few words."""
        if overflow:
            return "holds finite pixels so large that binning them overflows (float32's range, 3.4e38)"
        return "holds NaN or infinite pixels"

    @property
    def cause(self) -> str:
        """:meth:`cause_of` this micrograph."""
        return self.cause_of(self.overflow)

    def __reduce__(self) -> tuple[type, tuple[str, bool]]:
        """Raised on a Dask worker, unpickled with its path (not its message)."""
        return (NonFiniteMicrograph, (self.path, self.overflow))


_MEANINGLESS = (
    "which make every comparison with it meaningless; repair or leave out this micrograph (--skip-unreadable goes "
    "on without it)"
)


class _ShardSpectra:
    """A shard's spectra in the core, kept while a later pair of the shard needs them.

    Made on the reading thread (:meth:`read_batch`), stored as each batch arrives (:meth:`store`).
    """

    def __init__(self, plan: ScoringPlan, needed: np.ndarray, read: BatchReader):
        self.plan, self.needed, self.read = plan, needed, read
        self.bank = spectrum_bank(plan)
        self.maker = self.bank.maker
        self.stored_from = 0  # needed[:stored_from] are discarded

    def read_batch(self, batch: np.ndarray) -> tuple[_core.SpectraBatch, int, list[int], float]:
        """On the reading thread: the batch's spectra, bytes read, float images, seconds.

        The bytes are those of the images as read (from their files), before a pattern's removal bins them.
        """
        started = time.perf_counter()
        arrays = self.read(self.plan, batch)
        made = self.maker.spectra(batch.tolist(), images_for_spectra(self.plan, arrays))
        floats = [q for q, array in zip(batch.tolist(), arrays) if array.dtype.kind == "f"]
        return made, sum(a.nbytes for a in arrays), floats, time.perf_counter() - started

    def store(self, made: _core.SpectraBatch, floats: list[int], first: int) -> None:
        """Keeps a batch's spectra, and drops those no pair from acquisition position ``first`` on needs.

        Float images with NaN or infinite pixels are refused.
        """
        self.bank.store(made)
        for q in floats:
            if not np.isfinite(self.bank.image(q)).all():
                # (read again, on this rare path only: finite pixels whose binning overflowed are named so)
                overflow = all(np.isfinite(image).all() for image in self.read(self.plan, np.array([q])))
                raise NonFiniteMicrograph(self.plan.paths[self.plan.positions[q]], overflow)
        # This batch's pairs and all later ones have p >= first - reach: older spectra are not needed again.
        drop_upto = int(np.searchsorted(self.needed, first - self.plan.reach))
        if drop_upto > self.stored_from:
            self.bank.discard(self.needed[self.stored_from : drop_upto].tolist())
            self.stored_from = drop_upto


def _joined(scored: list[tuple[np.ndarray, _core.PairScores]], period: tuple[int, int]) -> ScoredPairs:
    """The batches' pairs (input indices) and scores, each field in one array; each shift signed (:func:`folded`)."""
    if not scored:  # a shard without pairs (more shards than chunks of images) has whole-number pairs too
        return ScoredPairs.none()
    pairs = np.concatenate([pairs for pairs, _ in scored])
    joined = ScoredPairs(pairs, *(np.concatenate([getattr(batch, k) for _, batch in scored]) for k in SCORE_FIELDS))
    dy, dx = folded(joined.dy, joined.dx, joined.pearson, period)
    return replace(joined, dy=dy, dx=dx)


def folded(
    dy: np.ndarray, dx: np.ndarray, pearson: np.ndarray, period: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each peak's shift as the screen found it: signed, binned pixels.

    The core resolves a peak above ``pearson_min_z`` among its aliases by the Pearson coefficient
    (a shift in (-size, size) of the map); below it (Pearson NaN) it gives the peak's index in the
    map, known only modulo the map's ``period`` (height, width): that one is folded into
    [-size/2, size/2), so that (494, 57) in a 512 x 768 map reads (-18, 57).
    """
    unresolved = np.isnan(pearson)
    out = []
    for shift, size in zip((dy, dx), period):
        shift = np.asarray(shift)
        out.append(np.where(unresolved, (shift + size // 2) % size - size // 2, shift).astype(shift.dtype))
    return out[0], out[1]


def _read_images(plan: ScoringPlan, batch: np.ndarray) -> list[np.ndarray]:
    """The images at the acquisition positions ``batch``, each memory-mapped from its file.

    The bank takes them as they are (the core bins them as it reads), or binned and each one's
    share of the plan's pattern removed (:func:`images_for_spectra`, on the reading thread).
    """
    return [_read_image(plan, q) for q in batch]


def spectrum_bank(plan: ScoringPlan) -> _core.SpectrumBank:
    """The core's bank of spectra for the plan's images: raw images binned as read, or images binned already.

    With a pattern removed (``plan.pattern``) the images are binned before the bank sees them
    (:func:`images_for_spectra`): a spectrum at bin 1 of a binned image is the raw image's at
    ``plan.binning``, bit for bit.
    """
    lowpass, highpass = plan.band
    psize = plan.binned_psize
    ny, nx, binning = (*plan.pattern.shape, 1) if plan.pattern is not None else (*plan.shape, plan.binning)
    return _core.SpectrumBank(ny, nx, binning, psize / highpass, psize / lowpass, psize / plan.pearson_highpass)


def images_for_spectra(plan: ScoringPlan, images: list[np.ndarray]) -> list[np.ndarray]:
    """Raw ``images`` as :func:`spectrum_bank`'s bank takes them: as they are, or binned without the pattern."""
    if plan.pattern is None:
        return images
    return [plan.pattern.remove(binned) for binned in _core.bin_images(images, plan.binning)]


def _read_image(plan: ScoringPlan, q: int) -> np.ndarray:
    """The image at acquisition position ``q``, memory-mapped (unmapped when no longer referenced)."""
    path = Path(plan.paths[plan.positions[q]])
    layout = plan.layouts[q] if plan.layouts is not None else mrc_layout(path)
    return np.ascontiguousarray(map_mrc(path, layout))


def combine_shards(plan: ScoringPlan, shards: list[ShardScores]) -> ScoredPairs:
    """The scores of all shards, in the order of one unsharded run: by later image, then earlier."""
    scores = shards[0].scores if len(shards) == 1 else ScoredPairs.joined([s.scores for s in shards])
    pairs = scores.pairs.astype(np.int64, copy=False).reshape(-1, 2)
    rank = np.zeros(len(plan.paths), dtype=np.int64)
    rank[plan.positions] = np.arange(len(plan.positions))
    # (later, earlier) as one number: below len(paths)² (10^12 for a million micrographs), no overflow.
    key = rank[pairs[:, 1]] * len(rank) + rank[pairs[:, 0]]
    scores = replace(scores, pairs=pairs)
    if (key[1:] >= key[:-1]).all():  # one shard's pairs (or an update's), in order already: no sort, no copy
        return scores
    return scores.take(np.argsort(key, kind="stable"))


def run_in_process(plan: ScoringPlan, progress_factory: Callable[[int], ProgressBar] | None) -> list[ShardScores]:
    """Scores every pair here, as one shard."""
    bar = progress_factory(images_to_read(plan, 1, 1)) if progress_factory else None
    try:
        return [score_shard(plan, 1, 1, bar.advance if bar else None)]
    finally:
        if bar:
            bar.close()


#: Scores a plan's pairs (here, or on a Dask cluster), with one progress bar, and returns every shard's scores:
#: the micrograph job's scorer (a field of its stages), not a runner of its stages (``shape.Runner``).
ShardScorer = Callable[[ScoringPlan, Optional[Callable[[int], ProgressBar]]], list[ShardScores]]


def reading_by_worker(shards: list[ShardScores]) -> Reading:
    """Per worker (host:pid or Dask worker): shards run, images and megabytes read, and the read rate.

    The rate is over the time spent opening, reading and binning: near the file system's
    bandwidth, the file system is the limit.
    """
    by_worker: dict[str, list[ShardScores]] = {}
    for s in sorted(shards, key=lambda s: s.shard):
        by_worker.setdefault(s.worker, []).append(s)
    rows = []
    for worker, runs in by_worker.items():
        megabytes = sum(s.bytes_read for s in runs) / 1e6
        seconds = sum(s.read_seconds for s in runs)
        rows.append(
            WorkerReading(
                worker=worker,
                shards=tuple(s.shard for s in runs),
                images_read=sum(s.images_read for s in runs),
                megabytes_read=round(megabytes, 1),
                read_seconds=round(seconds, 3),
                read_MB_per_s=round(megabytes / seconds, 1) if seconds > 0 else None,
            )
        )
    return Reading(tuple(rows))
