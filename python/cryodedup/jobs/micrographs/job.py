"""The micrograph job: find micrographs that image the same area twice.

Each micrograph is read once (memory-mapped), binned to a target pixel size while read,
and turned into a whitened band-limited spectrum by the Rust core; a candidate pair costs
one product and one inverse FFT. A pair is a duplicate when its phase-correlation peak
(z, in standard deviations of the correlation map) and the Pearson coefficient of the two
images over their overlap at the found shift both pass their thresholds. Duplicates are
grouped (union-find) and the earliest acquisition of each group is kept: the later exposure
hit pre-irradiated ice.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

import numpy as np

from ... import _core
from ...csfile import CsFile, CsGroup, flatten
from ...errors import CryodedupError
from ...formats.microscope import Placement, linked_roots, place
from ...formats.mrc import (
    MrcLayout,
    as_text,
    block_naming_micrographs,
    map_mrc,
    micrograph_pixel_sizes,
    mrc_layout,
    open_mrc,
    resolve_paths,
)
from ...labels import distinct_labels
from ...micrograph_match import match_micrographs
from ...options import ALL_PAIRS_UPTO, MicrographOptions, check_match_mode
from ...outputs import AtomicOutputs, StrPath, all_outputs_at_once
from ...report.summary import micrograph_rows, short_name
from ...star import Block, StarFile

#: Batches of images read while the pairs of an earlier one are compared.
READ_AHEAD = 2
#: The fewest binned pixels along a side that a comparison needs (the core's floor).
MIN_BINNED = 8
EPU_TIME = re.compile(r"_(\d{8})_(\d{6})")


class ProgressBar(Protocol):
    """A progress bar the job advances by the number of micrographs read."""

    def advance(self, k: int) -> None:
        """Counts ``k`` more micrographs as read."""

    def close(self) -> None:
        """Ends the bar."""


@dataclass
class Micrographs:
    """The input micrographs.

    Their names as the input writes them, their files, the pixel size, and what is needed to
    write a subset in the input's format.
    """

    kind: str  # "star", "cs" or "mrc"
    names: list[str]
    paths: list[Path]
    psize: float | None
    root: Path | None = None
    star: StarFile | None = None
    block: Block | None = None
    group: CsGroup | None = None
    source: Path | None = None
    uids: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


# --- inputs -------------------------------------------------------------------------------


def _from_star(path: Path, options: MicrographOptions) -> Micrographs:
    star = StarFile(path)
    block = block_naming_micrographs(star, "micrographs", "no rlnMicrographName column (is this a micrographs STAR?)")
    _, keys, names = star.scan(block, [], "rlnMicrographName")
    row_names = [names[k] for k in keys]
    psize = options.psize
    if psize is None:
        try:
            values = set(micrograph_pixel_sizes(path).values())
        except CryodedupError:  # no pixel size in the STAR: the MRC headers may hold it
            values = set()
        if len(values) > 1:
            raise CryodedupError(
                f"{path}: micrographs of different pixel sizes ({sorted(values)}); "
                "deduplicate each optics group on its own"
            )
        psize = values.pop() if values else None
    paths, root = resolve_paths(row_names, path, options.project_dir)
    return Micrographs("star", row_names, paths, psize, root, star=star, block=block, source=path)


def _from_cs(path: Path, options: MicrographOptions) -> Micrographs:
    group = CsGroup.load(path)
    if not group.has("micrograph_blob/path"):
        raise CryodedupError(f"{path}: no micrograph_blob/path field (is this a CryoSPARC exposures dataset?)")
    names = as_text(group.column("micrograph_blob/path"))
    psize = options.psize
    if psize is None and group.has("micrograph_blob/psize_A"):
        values = np.unique(group.column("micrograph_blob/psize_A"))
        if len(values) > 1:
            raise CryodedupError(f"{path}: exposures have different pixel sizes ({values.tolist()})")
        psize = float(values[0]) if len(values) else None
    paths, root = resolve_paths(names, path, options.project_dir)
    return Micrographs("cs", names, paths, psize, root, group=group, source=path, uids=group.column("uid"))


def _from_mrc(patterns: list[Path], options: MicrographOptions) -> Micrographs:
    names = []
    for p in patterns:
        matches = sorted(glob.glob(str(p))) if glob.has_magic(str(p)) else [str(p)]
        if not matches:
            raise CryodedupError(f"{p}: no file matches")
        names += matches
    _refuse_files_given_twice(names)
    return Micrographs("mrc", names, [Path(n) for n in names], options.psize)


def _refuse_files_given_twice(names: list[str]) -> None:
    """Refuses an MRC file given twice (by name, through a link, or by two patterns).

    It would be compared with itself: a perfect duplicate, kept once and rejected once.
    """
    seen: dict[tuple[int, int], str] = {}
    for name in names:
        try:
            st = os.stat(name)
        except OSError:
            continue  # (the reader names a missing or unreadable file)
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            raise CryodedupError(f"{name}: the same file as the input {seen[identity]}; give each micrograph once")
        seen[identity] = name


def load_inputs(inputs: Sequence[StrPath], options: MicrographOptions) -> Micrographs:
    """The micrographs of one STAR, one CryoSPARC exposures file, or a list of MRC files and globs.

    Parameters
    ----------
    inputs : list of path
        One ``.star``, one ``.cs``/``.csg``, or MRC files and glob patterns.
    options : MicrographOptions
        ``psize`` overrides the input's pixel size; ``project_dir`` resolves relative paths.

    Returns
    -------
    Micrographs
    """
    paths = [Path(p) for p in inputs]
    if len(paths) == 1 and paths[0].suffix == ".star":
        return _from_star(paths[0], options)
    if len(paths) == 1 and paths[0].suffix in (".cs", ".csg"):
        return _from_cs(paths[0], options)
    if any(p.suffix in (".star", ".cs", ".csg") for p in paths):
        raise CryodedupError("give one micrographs STAR, one CryoSPARC exposures file, or MRC files")
    return _from_mrc(paths, options)


# --- order and candidates ----------------------------------------------------------------


def natural_key(name: str) -> list:
    """Sort key that orders the numbers in a name by value: mic_9 before mic_10."""
    # isdecimal, not isdigit: "²" is a digit that int() refuses (and \d does not split on).
    return [int(t) if t.isdecimal() else t for t in re.split(r"(\d+)", name)]


def acquisition_order(
    names: list[str], paths: list[Path], how: str, times: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """Indices of the micrographs in acquisition order, and which rule gave it.

    ``auto``: the acquisition times of the metadata (``times``) when every micrograph has
    one, else EPU time stamps (``_YYYYMMDD_HHMMSS``) when every name has one, else the
    numbers in the names (natural sort: EPU, SerialEM, Leginon and MotionCor number their
    acquisitions). File times only with ``mtime``: a parallel copy, rsync or restore
    shuffles them, and the later exposure would then be kept.
    """
    natural = [natural_key(n) for n in names]
    known = np.full(len(names), np.nan) if times is None else np.asarray(times, dtype=np.float64)
    if how in ("auto", "metadata") and len(known) == len(names) and bool(np.isfinite(known).all()):
        return np.array(sorted(range(len(names)), key=lambda i: (known[i], natural[i]))), "acquisition times (metadata)"
    if how == "metadata":
        missing = int((~np.isfinite(known)).sum())
        raise CryodedupError(f"--order metadata: {missing} micrograph(s) without an acquisition time in the metadata")
    if how in ("auto", "epu") and names and all(EPU_TIME.search(Path(n).name) for n in names):
        stamps = [EPU_TIME.findall(Path(n).name)[-1] for n in names]
        return np.array(sorted(range(len(names)), key=lambda i: (stamps[i], natural[i]))), "EPU time stamps"
    if how == "epu":
        raise CryodedupError("--order epu: not every name holds an EPU time stamp (_YYYYMMDD_HHMMSS)")
    if how == "mtime":
        # A missing file sorts last; it is reported (or skipped) when read.
        mtimes = [p.stat().st_mtime if p.exists() else float("inf") for p in paths]
        return np.array(sorted(range(len(names)), key=lambda i: (mtimes[i], natural[i]))), "file times"
    if how == "input":
        return np.arange(len(names)), "input order"
    return np.array(sorted(range(len(names)), key=lambda i: natural[i])), "numbers in the names (natural sort)"


def candidate_offsets(options: MicrographOptions, n: int) -> np.ndarray | None:
    """Offsets j - i (in acquisition order) of the pairs compared; None for all pairs."""
    if options.candidates == "metadata":
        return np.zeros(0, dtype=np.int64)  # the plan's pairs, from the metadata
    if options.candidates == "all" or (options.candidates == "auto" and n <= ALL_PAIRS_UPTO):
        return None
    if options.candidates in ("window", "auto"):
        return np.arange(1, options.window + 1)
    m, h, s = options.images_per_move, options.images_per_hole, options.scan_range
    return np.array([m + k * h for k in range(s) if k * h < s])


def candidates_used(options: MicrographOptions, n: int) -> str:
    """The candidate mode that ``auto`` resolves to for ``n`` micrographs."""
    if options.no_images:
        return "metadata"
    if options.candidates != "auto":
        return options.candidates
    return "all" if candidate_offsets(options, n) is None else "window"


def reach(offsets: np.ndarray | None, n: int) -> int:
    """How many images apart the farthest compared pair is (in acquisition order)."""
    if offsets is None:
        return max(n - 1, 0)
    within = offsets[offsets < n]
    return int(within.max()) if len(within) else 0


def candidate_pairs(n: int, offsets: np.ndarray | None, owned: tuple[int, int] | None = None) -> np.ndarray:
    """Pairs (p, q) of acquisition positions, p < q, sorted by q.

    With ``owned`` = (lo, hi), only the pairs whose earlier image p is in [lo, hi).
    """
    lo, hi = owned if owned is not None else (0, n)
    if offsets is None:
        q, p = np.triu_indices(n, 1)[::-1]
        mine = (p >= lo) & (p < hi)
        p, q = p[mine], q[mine]
        order = np.lexsort((p, q))
        return np.stack([p[order], q[order]], axis=1)
    p = np.arange(lo, hi)[:, None] + 0 * offsets[None, :]
    q = p + offsets[None, :]
    keep = q < n
    pairs = np.stack([p[keep], q[keep]], axis=1).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]


# --- scoring, in shards ------------------------------------------------------------------


@dataclass
class ScoringPlan:
    """What every shard needs to score its pairs, decided once from the MRC headers.

    Small and picklable: a shard elsewhere (a SLURM task, a Dask worker) gets this and reads
    the images it needs itself.
    """

    paths: list[str]  # every micrograph file, in input order
    positions: np.ndarray  # input index of each readable micrograph, in acquisition order
    shape: tuple[int, int]  # (ny, nx) of every image
    binning: int
    binned_psize: float
    band: tuple[float, float]  # lowpass, highpass in Å
    offsets: np.ndarray | None  # offsets j - i compared; None for every pair
    rule: str  # what gave the acquisition order
    unreadable: list[str]
    batch: int
    pearson_min_z: float
    # Where each readable micrograph's image lies in its file (same order as positions), from
    # the header read when planning: the images are mapped without parsing the headers again.
    layouts: list[MrcLayout] | None = None
    # --candidates metadata: the pairs (acquisition positions, p < q) whose metadata place them close.
    pairs: np.ndarray | None = None

    @property
    def reach(self) -> int:
        """How many images apart the farthest compared pair is."""
        if self.pairs is not None:
            return int((self.pairs[:, 1] - self.pairs[:, 0]).max()) if len(self.pairs) else 0
        return reach(self.offsets, len(self.positions))


@dataclass
class ShardScores:
    """The scored pairs of one shard and what reading its images cost."""

    shard: int  # 1 to shards
    shards: int
    scores: dict[str, np.ndarray]  # pairs (input indices, (n, 2)), z, dy, dx, pearson, overlap
    images_read: int
    bytes_read: int
    read_seconds: float  # opening, reading and binning the images
    seconds: float
    worker: str  # where it ran: host:pid, or the Dask worker's address


def missing_micrographs(mics: Micrographs, missing: list[int]) -> str:
    """The error for missing micrograph files: the first named, all counted.

    When all are missing (24 of 24), the paths start from another folder: --project-dir,
    not --skip-unreadable, is the way on.
    """
    counted = f"{len(missing):,} of {len(mics.paths):,} micrograph files not found"
    resolved = f"; paths resolved against {mics.root}" if mics.root else ""
    if len(missing) < len(mics.paths):
        hint = "use --skip-unreadable to go on without them"
    elif mics.kind == "mrc":
        hint = "check the file names"
    else:
        hint = "give the folder the paths start from with --project-dir"
    return f"{mics.paths[missing[0]]}: micrograph file not found ({counted}{resolved}); {hint}"


def plan_scoring(mics: Micrographs, options: MicrographOptions, placement: Placement | None = None) -> ScoringPlan:
    """Reads every MRC header and decides the order, binning, band and candidates.

    Raises a ``CryodedupError`` for a missing or unreadable file (unless ``skip_unreadable``),
    images of different sizes or pixel sizes, fewer than two readable micrographs, or no pixel size.
    """
    order, rule = acquisition_order(mics.names, mics.paths, options.order, _times(placement))
    unreadable: list[str] = []
    readable: list[int] = []
    layouts: list[MrcLayout] = []
    shape: tuple[int, int] | None = None
    first_psize: float | None = None
    missing = [k for k in order if not mics.paths[k].exists()]
    if missing and not options.skip_unreadable:
        raise CryodedupError(missing_micrographs(mics, missing))
    not_found = set(missing)
    for k in order:
        try:
            if k in not_found:
                raise CryodedupError("not found")  # skipped, listed as unreadable
            layout = mrc_layout(mics.paths[k])
            this_shape, header_psize = layout.shape, layout.psize
        except CryodedupError as err:
            if not options.skip_unreadable:
                raise CryodedupError(f"{err} (use --skip-unreadable to go on without it)") from None
            unreadable.append(str(mics.paths[k]))
            continue
        if shape is None:
            shape, first_psize = this_shape, header_psize
        elif this_shape != shape:
            raise CryodedupError(
                f"{mics.paths[k]}: {this_shape[1]} x {this_shape[0]} pixels, but "
                f"{mics.paths[readable[0]]} is {shape[1]} x {shape[0]}; one run takes one size"
            )
        elif (
            mics.psize is None
            and header_psize is not None
            and first_psize is not None
            and abs(header_psize - first_psize) > 1e-3 * first_psize
        ):
            raise CryodedupError(
                f"{mics.paths[k]}: pixel size {header_psize:g} Å in its header, but "
                f"{mics.paths[readable[0]]} has {first_psize:g} Å; one run takes one pixel size"
            )
        readable.append(k)
        layouts.append(layout)
    if len(readable) < 2 or shape is None:
        raise CryodedupError(f"{len(readable)} readable micrograph(s): at least two are needed")
    psize = mics.psize or first_psize
    if psize is not None and not (np.isfinite(psize) and psize > 0):
        raise CryodedupError(f"micrograph pixel size {psize} Å read from the input: expected > 0; give it with --psize")
    if psize is None:
        raise CryodedupError("no micrograph pixel size in the input or the MRC headers; give it with --psize")
    binning = options.bin or max(1, round(options.target_psize / psize))
    binned_psize = psize * binning
    lowpass = options.lowpass or 4 * binned_psize
    highpass = options.highpass or 25 * binned_psize
    if shape[0] // binning < MIN_BINNED or shape[1] // binning < MIN_BINNED:
        raise CryodedupError(
            f"binning {shape[1]} x {shape[0]} pixel images by {binning} leaves fewer than {MIN_BINNED} x {MIN_BINNED} "
            "pixels to compare; give a smaller --bin or --target-psize"
        )
    if lowpass < 2 * binned_psize:
        raise CryodedupError(f"--lowpass {lowpass} Å is beyond Nyquist of the binned images ({2 * binned_psize:.1f} Å)")
    if highpass <= lowpass:
        raise CryodedupError(
            f"the band is empty: highpass {highpass:g} Å is not above lowpass {lowpass:g} Å; "
            "set --highpass and --lowpass"
        )
    return ScoringPlan(
        paths=[str(p) for p in mics.paths],
        positions=np.array(readable),
        shape=shape,
        binning=binning,
        binned_psize=binned_psize,
        band=(lowpass, highpass),
        offsets=candidate_offsets(options, len(readable)),
        rule=rule,
        unreadable=unreadable,
        batch=options.batch,
        # Below z = 5 a peak is noise (docs/design.md section 4): no Pearson is needed to reject the pair.
        pearson_min_z=min(options.min_z, 5.0),
        layouts=layouts,
        pairs=_placed_pairs(placement, readable) if options.candidates == "metadata" and placement else None,
    )


def _times(placement: Placement | None) -> np.ndarray | None:
    return placement.times if placement is not None else None


def _placed_pairs(placement: Placement, in_order: list[int]) -> np.ndarray:
    """The pairs (acquisition positions, sorted by the later) within the beam diameter of each other."""
    position = np.full(len(placement.index), -1, dtype=np.int64)
    position[np.asarray(in_order, dtype=np.int64)] = np.arange(len(in_order))
    pairs = position[placement.pairs_within(placement.beam_diameter)]
    pairs = pairs[(pairs >= 0).all(axis=1)]
    pairs = np.sort(pairs, axis=1)
    return pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))].reshape(-1, 2)


def decide_without_images(
    mics: Micrographs, options: MicrographOptions, placement: Placement
) -> tuple[ScoringPlan, list[ShardScores]]:
    """The pairs within the beam diameter of each other, as scores without images (z, Pearson: NaN).

    Nothing is read but the metadata: the decision is the distance alone (``decide``).
    """
    order, rule = acquisition_order(mics.names, mics.paths, options.order, placement.times)
    pairs = _placed_pairs(placement, order.tolist())
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
        batch=options.batch,
        pearson_min_z=options.min_z,
        pairs=pairs,
    )
    scores = {"pairs": order[pairs].reshape(-1, 2), "z": empty, "dy": empty, "dx": empty}
    scores.update(pearson=empty, overlap=empty)
    shard = ShardScores(1, 1, scores, 0, 0, 0.0, 0.0, f"{socket.gethostname()}:{os.getpid()}")
    return plan, [shard]


#: The z threshold is this many robust standard deviations above the run's typical pair.
NULL_SIGMAS = 8.0
#: Below this many scored pairs the run's own null is not estimated: --min-z alone.
NULL_PAIRS = 30
#: A pair whose joint score lies within this factor of 1 (either side) is "uncertain".
UNCERTAIN = 1.25


@dataclass
class Decision:
    """What was decided about each scored pair, and why."""

    duplicate: np.ndarray  # bool per pair
    uncertain: np.ndarray  # bool per pair: within UNCERTAIN of the boundary
    joint: np.ndarray  # min(z / z threshold, Pearson / Pearson threshold); >= 1 is a duplicate
    min_z: float  # the z threshold the run used
    min_pearson: float
    null: dict[str, Any]  # how the z threshold was found

    def summary(self) -> dict[str, Any]:
        """The summary's thresholds, uncertain count and margin."""
        out: dict[str, Any] = {
            "thresholds": {"z": round(self.min_z, 2), "pearson": self.min_pearson, "z_from": self.null},
            "uncertain_pairs": int(self.uncertain.sum()),
        }
        dup, other = self.joint[self.duplicate], self.joint[~self.duplicate]
        other = other[np.isfinite(other)]
        weakest = float(dup.min()) if len(dup) else None
        strongest = float(other.max()) if len(other) else None
        ratio = weakest / strongest if weakest is not None and strongest is not None and strongest > 0 else None
        out["margin"] = {
            "weakest_duplicate": None if weakest is None else round(weakest, 3),
            "strongest_other": None if strongest is None else round(strongest, 3),
            "ratio": None if ratio is None else round(ratio, 2),
        }
        return out


def decide(scores: dict[str, np.ndarray], options: MicrographOptions, placement: Placement | None) -> Decision:
    """Which scored pairs are duplicates, which are near the boundary, and the run's margin.

    From the images: the joint score min(z / T_z, Pearson / T_p) is at least 1. T_z is --min-z
    or, when higher, the median z plus ``NULL_SIGMAS`` robust standard deviations (1.4826 x
    MAD) of the run's pairs whose images do not agree (Pearson under T_p): their z is the run's
    own null, which a camera's fixed pattern or aligned filaments lift above any fixed
    threshold. T_p is --min-pearson: it rejects a high peak that is not an overlap (a fixed
    pattern correlates unrelated images at zero shift with a Pearson coefficient near 0).
    From the metadata alone (--no-images): positions at most half the beam diameter apart
    (the later exposure's centre lay in the earlier one's beam); the joint score is then half
    the beam diameter over the distance.
    """
    if options.no_images and placement is not None:
        radius = placement.beam_diameter / 2
        distance = placement.distance(scores["pairs"])
        joint = radius / np.maximum(distance, 1e-9)
        return _decision(joint, float("nan"), float("nan"), {"rule": "distance", "radius_um": round(radius, 4)})
    z, pearson = scores["z"], scores["pearson"]
    # The null is taken from the pairs whose images do not agree at the found shift (Pearson under
    # its threshold, or not computed): a set made mostly of re-exposures does not lift it.
    unrelated = ~(pearson >= options.min_pearson)
    threshold, null = z_threshold(z[unrelated], options.min_z)
    with np.errstate(invalid="ignore", divide="ignore"):
        joint = np.minimum(z / threshold, np.where(np.isfinite(pearson), pearson, -np.inf) / options.min_pearson)
    return _decision(joint, threshold, options.min_pearson, null)


def _decision(joint: np.ndarray, min_z: float, min_pearson: float, null: dict[str, Any]) -> Decision:
    duplicate = joint >= 1
    uncertain = (joint >= 1 / UNCERTAIN) & (joint < UNCERTAIN)
    return Decision(duplicate, uncertain, joint, min_z, min_pearson, null)


def z_threshold(z: np.ndarray, floor: float) -> tuple[float, dict[str, Any]]:
    """The run's z threshold: ``floor``, or the null's median + ``NULL_SIGMAS`` robust deviations when higher."""
    finite = z[np.isfinite(z)]
    if len(finite) < NULL_PAIRS:
        return floor, {"rule": f"--min-z (fewer than {NULL_PAIRS} pairs for the run's own null)"}
    median = float(np.median(finite))
    sigma = 1.4826 * float(np.median(np.abs(finite - median)))
    lifted = median + NULL_SIGMAS * sigma
    null = {"median": round(median, 2), "robust_sd": round(sigma, 3)}
    if lifted > floor:
        return lifted, {"rule": f"null median + {NULL_SIGMAS:g} robust SD", **null}
    return floor, {"rule": "--min-z (higher than the null's median + 8 robust SD)", **null}


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
    plan: ScoringPlan, shard: int, shards: int, progress: Callable[[int], None] | None = None
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

    Returns
    -------
    ShardScores
    """
    start = time.perf_counter()
    pairs_pos = shard_pairs(plan, shard, shards)
    needed = np.unique(pairs_pos)
    lowpass, highpass = plan.band
    ny, nx = plan.shape
    bank = _core.SpectrumBank(ny, nx, plan.binning, plan.binned_psize / highpass, plan.binned_psize / lowpass)
    results: dict[str, list[np.ndarray]] = {k: [] for k in ("pairs", "z", "dy", "dx", "pearson", "overlap")}
    bytes_read, read_seconds, stored_from = 0, 0.0, 0
    batches = [needed[first : first + plan.batch] for first in range(0, len(needed), plan.batch)]
    maker = bank.maker

    def read(batch: np.ndarray) -> tuple[_core.SpectraBatch, int, list[int], float]:
        """On the reading thread: the batch's spectra, bytes read, float images, seconds."""
        started = time.perf_counter()
        arrays = [_read_image(plan, q) for q in batch]
        made = maker.spectra(batch.tolist(), arrays)
        floats = [q for q, array in zip(batch.tolist(), arrays) if array.dtype.kind == "f"]
        return made, sum(a.nbytes for a in arrays), floats, time.perf_counter() - started

    # Batches k + 1 and k + 2 are read while batch k's pairs are compared (docs/design.md
    # section 4): the reader runs ahead, since the pairs of the last batches cost the most.
    with ThreadPoolExecutor(1, thread_name_prefix="cryodedup-read") as reader:
        reading = [reader.submit(read, batch) for batch in batches[:READ_AHEAD]]
        for k, batch in enumerate(batches):
            made, nbytes, floats, seconds = reading[k].result()
            bytes_read, read_seconds = bytes_read + nbytes, read_seconds + seconds
            bank.store(made)
            for q in floats:
                if not np.isfinite(bank.image(q)).all():
                    raise CryodedupError(
                        f"{plan.paths[plan.positions[q]]}: holds NaN or infinite pixels, which make every "
                        "comparison with it meaningless; repair or leave out this micrograph"
                    )
            # This batch's pairs and all later ones have p >= batch[0] - reach: older spectra are not needed again.
            drop_upto = int(np.searchsorted(needed, batch[0] - plan.reach))
            if drop_upto > stored_from:
                bank.discard(needed[stored_from:drop_upto].tolist())
                stored_from = drop_upto
            if k + READ_AHEAD < len(batches):
                reading.append(reader.submit(read, batches[k + READ_AHEAD]))
            lo, hi = np.searchsorted(pairs_pos[:, 1], [batch[0], batch[-1] + 1])
            if hi > lo:
                scored = bank.compare(pairs_pos[lo:hi], plan.pearson_min_z)
                results["pairs"].append(plan.positions[pairs_pos[lo:hi]])
                results["z"].append(scored.z)
                results["dy"].append(scored.dy)
                results["dx"].append(scored.dx)
                results["pearson"].append(scored.pearson)
                results["overlap"].append(scored.overlap)
            if progress is not None:
                progress(len(batch))
    scores = {k: (np.concatenate(v) if v else np.zeros((0, 2) if k == "pairs" else 0)) for k, v in results.items()}
    return ShardScores(
        shard,
        shards,
        scores,
        images_read=len(needed),
        bytes_read=bytes_read,
        read_seconds=read_seconds,
        seconds=time.perf_counter() - start,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


def _read_image(plan: ScoringPlan, q: int) -> np.ndarray:
    """The image at acquisition position ``q``, memory-mapped (unmapped when no longer referenced)."""
    path = Path(plan.paths[plan.positions[q]])
    layout = plan.layouts[q] if plan.layouts is not None else mrc_layout(path)
    return np.ascontiguousarray(map_mrc(path, layout))


def combine_shards(plan: ScoringPlan, shards: list[ShardScores]) -> dict[str, np.ndarray]:
    """The scores of all shards, in the order of one unsharded run: by later image, then earlier."""
    scores = {k: np.concatenate([s.scores[k] for s in shards]) for k in shards[0].scores}
    pairs = scores["pairs"].astype(np.int64).reshape(-1, 2)
    rank = np.zeros(len(plan.paths), dtype=np.int64)
    rank[plan.positions] = np.arange(len(plan.positions))
    order = np.lexsort((rank[pairs[:, 0]], rank[pairs[:, 1]]))
    scores["pairs"] = pairs
    return {k: v[order] for k, v in scores.items()}


def run_in_process(plan: ScoringPlan, progress_factory: Callable[[int], ProgressBar] | None) -> list[ShardScores]:
    """Scores every pair here, as one shard."""
    bar = progress_factory(images_to_read(plan, 1, 1)) if progress_factory else None
    try:
        return [score_shard(plan, 1, 1, bar.advance if bar else None)]
    finally:
        if bar:
            bar.close()


#: Scores a plan's pairs (here, or on a Dask cluster), with one progress bar, and returns every shard's scores.
ShardRunner = Callable[[ScoringPlan, Optional[Callable[[int], ProgressBar]]], list[ShardScores]]


def group_duplicates(n: int, pairs: np.ndarray, is_duplicate: np.ndarray, acquisition_rank: np.ndarray) -> np.ndarray:
    """For each micrograph, the micrograph of its group that was acquired first (union-find)."""
    return linked_roots(n, pairs[is_duplicate], acquisition_rank)


# --- the job -----------------------------------------------------------------------------


@all_outputs_at_once
def find_duplicate_micrographs(
    inputs: Sequence[StrPath],
    outdir: StrPath,
    options: MicrographOptions | None = None,
    *,
    particles: StrPath | None = None,
    match_micrographs: str = "auto",
    force: bool = False,
    log: Callable[[str, str], None] = lambda message, level: None,
    progress_factory: Callable[[int], ProgressBar] | None = None,
    runner: ShardRunner = run_in_process,
) -> dict[str, Any]:
    """Finds micrographs that image the same area twice and writes the results to ``outdir``.

    Parameters
    ----------
    inputs : list of path
        One micrographs STAR, one CryoSPARC exposures ``.cs``/``.csg``, or MRC files/globs.
    outdir : path
        Receives pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.
    options : MicrographOptions
    particles : path, optional
        A particle STAR or ``.cs`` to split into the particles of kept and rejected micrographs.
    match_micrographs : str
        How the particles' micrographs are found among the inputs: ``auto``, ``path`` or
        ``name`` (as the particle job's option of that name; uids first for CryoSPARC).
    runner : callable
        Scores the pairs: here as one shard (default), or in shards elsewhere
        (``micrograph_dask.dask_runner``).

    Returns
    -------
    dict
        The summary.
    """
    start = time.perf_counter()
    options = options or MicrographOptions()
    options.check()
    check_match_mode(match_micrographs)
    mics = load_inputs(list(inputs), options)
    outputs = prepare_outputs(mics, Path(outdir), inputs, particles, force)
    placement = (
        place(mics.names, options.metadata, options.shift_calibration, options.beam_diameter)
        if options.metadata
        else None
    )
    if placement is not None and not placement.matched.any():
        raise CryodedupError(
            f"--metadata: none of the {placement.acquisitions} acquisitions matches a micrograph by file name "
            f"(e.g. {Path(mics.names[0]).name})"
        )
    scoring_started = time.perf_counter()
    if options.no_images and placement is not None:
        plan, shards = decide_without_images(mics, options, placement)
    else:
        plan = plan_scoring(mics, options, placement)
        shards = runner(plan, progress_factory)
    scoring = time.perf_counter() - scoring_started
    summary = write_results(
        mics,
        options,
        plan,
        shards,
        outputs,
        inputs=inputs,
        particles=particles,
        log=log,
        match_micrographs=match_micrographs,
        placement=placement,
    )
    elapsed = time.perf_counter() - start
    summary["seconds"] = round(elapsed, 3)
    # Over the images read (a pattern of candidates may leave some unread), not those listed
    read = not options.no_images and scoring > 0
    summary["images_per_second"] = round(summary["images_read"] / scoring, 1) if read else None
    return summary


@dataclass
class PreparedOutputs:
    """The output files of the job, checked (none exists unless --force) before any work."""

    outdir: Path
    atomic: AtomicOutputs
    paths: list[Path]
    subsets: dict[str, list[str]]  # micrographs_kept/_rejected: their file names
    force: bool
    particle_source: ParticleSource | None = None  # --particles, read before any scoring


def prepare_outputs(
    mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, force: bool
) -> PreparedOutputs:
    """The outputs' paths, refused if they exist (unless ``force``) or are inputs."""
    subsets = _subset_names(mics)
    names = ["pairs.csv", "duplicates.csv"] + subsets["micrographs_kept"] + subsets["micrographs_rejected"]
    if particles is not None:
        psuffix = ".cs" if Path(particles).suffix in (".cs", ".csg") else ".star"
        names += [f"particles_on_kept_micrographs{psuffix}", f"particles_on_rejected_micrographs{psuffix}"]
    paths = [outdir / n for n in names]
    atomic = AtomicOutputs(paths, force=force, inputs=list(inputs) + ([particles] if particles else []))
    particle_source = _load_particles(Path(particles)) if particles is not None else None
    return PreparedOutputs(outdir, atomic, paths, subsets, force, particle_source)


def write_results(
    mics: Micrographs,
    options: MicrographOptions,
    plan: ScoringPlan,
    shards: list[ShardScores],
    outputs: PreparedOutputs,
    *,
    inputs: Sequence[StrPath],
    particles: StrPath | None,
    log: Callable[[str, str], None],
    placement: Placement | None = None,
    match_micrographs: str = "auto",
) -> dict[str, Any]:
    """Groups the duplicates of all shards' scores and writes the outputs; returns the summary.

    One run and a merge of shards both end here, so their outputs are the same.
    ``match_micrographs`` is how the ``particles``' micrographs are found among the inputs.
    """
    scores = combine_shards(plan, shards)
    warnings: list[str] = []  # for the summary and the report, as they are logged
    log = _collecting(log, warnings)
    for path in plan.unreadable:
        log(f"skipped unreadable {path}", "warning")
    n = len(mics.names)
    positions = plan.positions
    rank = np.full(n, n)
    rank[positions] = np.arange(len(positions))
    pairs = scores["pairs"]
    decision = decide(scores, options, placement)
    is_dup = decision.duplicate
    root = group_duplicates(n, pairs, is_dup, rank)
    rejected = root != np.arange(n)
    reach_option = "--scan-range" if candidates_used(options, len(positions)) == "pattern" else "--window"
    edge_warning = None
    if plan.pairs is None:  # (metadata pairs have no reach in acquisition order)
        edge_warning = _near_the_edge(pairs[is_dup], rank, plan.reach, len(positions), reach_option)
    if placement is not None:
        _warn_unmatched(placement, mics, log)
    if edge_warning:
        log(edge_warning, "warning")
    keep = ~rejected
    paths, subsets = outputs.paths, outputs.subsets
    particle_counts: dict[str, Any] = {}
    with outputs.atomic as tmp:
        distance = placement.distance(pairs) if placement is not None else None
        _write_pairs(tmp[paths[0]], mics, pairs, scores, decision, plan.binning, plan.binned_psize, distance)
        with open(tmp[paths[1]], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Original", "Duplicate"])
            for i in sorted(np.flatnonzero(rejected), key=lambda i: rank[i]):
                w.writerow([mics.names[root[i]], mics.names[i]])
        _write_micrographs(
            mics, keep, {stem: [tmp[outputs.outdir / n] for n in files] for stem, files in subsets.items()}, subsets
        )
        if outputs.particle_source is not None:
            particle_counts = _write_particles(
                outputs.particle_source, mics, keep, tmp[paths[-2]], tmp[paths[-1]], match_micrographs, log
            )
    binning, binned_psize, band = plan.binning, plan.binned_psize, plan.band
    summary = {
        "inputs": [str(p) for p in inputs],
        "micrographs": n,
        "unreadable": plan.unreadable,
        "order": plan.rule,
        "root": str(mics.root) if mics.root else None,
        "pixel_size_A": round(binned_psize / binning, 4),
        "bin": binning,
        "binned_pixel_size_A": round(binned_psize, 3),
        "band_A": {"lowpass": round(band[0], 1), "highpass": round(band[1], 1)},
        "candidates": candidates_used(options, len(positions)),
        "reach": plan.reach,
        "pairs_scored": len(pairs),
        "duplicate_pairs": int(is_dup.sum()),
        "kept": int(keep.sum()),
        "rejected": int(rejected.sum()),
        "outputs": [str(p) for p in paths],
        "shards": len(shards),
        "workers": reading_by_worker(shards),
        "warnings": warnings,
        "images_read": sum(s.images_read for s in shards),
        "confirmed_by_images": not options.no_images,
        **decision.summary(),
    }
    if decision.uncertain.any():
        log(
            f"{int(decision.uncertain.sum())} pair(s) near the thresholds (joint score within {UNCERTAIN:g}x of 1): "
            "marked uncertain in pairs.csv; look at them before trusting the decision",
            "warning",
        )
    if placement is not None:
        summary["metadata"] = placement.summary()
        if options.no_images:
            summary["thresholds"] = {"distance_um": round(placement.beam_diameter / 2, 4), "z_from": decision.null}
    if particle_counts:
        summary["particles"] = particle_counts
    if options.plot:
        summary["plots"] = _plot(
            mics, options, pairs, scores, decision, rank, binning, outputs.outdir, outputs.force, summary, placement
        )
    return summary


def _collecting(log: Callable[[str, str], None], warnings: list[str]) -> Callable[[str, str], None]:
    """``log``, which also appends each warning to ``warnings``."""

    def both(message: str, level: str) -> None:
        if level == "warning":
            warnings.append(message)
        log(message, level)

    return both


def _warn_unmatched(placement: Placement, mics: Micrographs, log: Callable[[str, str], None]) -> None:
    """One line naming how many micrographs have no metadata, and the first of them."""
    missing = np.flatnonzero(~placement.matched)
    if len(missing):
        log(
            f"{len(missing)} micrograph(s) without metadata (never compared by position), e.g. "
            f"{Path(mics.names[missing[0]]).name}",
            "warning",
        )


def reading_by_worker(shards: list[ShardScores]) -> list[dict[str, Any]]:
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
            {
                "worker": worker,
                "shards": [s.shard for s in runs],
                "images_read": sum(s.images_read for s in runs),
                "megabytes_read": round(megabytes, 1),
                "read_seconds": round(seconds, 3),
                "read_MB_per_s": round(megabytes / seconds, 1) if seconds > 0 else None,
            }
        )
    return rows


def _near_the_edge(duplicates: np.ndarray, rank: np.ndarray, farthest: int, n: int, option: str) -> str | None:
    """A warning when a duplicate pair lies in the last quarter of the reach.

    Pairs farther apart were never compared, and a re-exposure pattern that reaches this far
    may reach farther. ``option`` sets the reach: ``--window``, or ``--scan-range`` for
    the pattern mode.
    """
    if farthest >= n - 1 or not len(duplicates):  # every pair was compared
        return None
    apart = np.abs(rank[duplicates[:, 1]] - rank[duplicates[:, 0]])
    if apart.max() < 0.75 * farthest:
        return None
    return (
        f"a duplicate pair {apart.max()} images apart, near the {farthest} images apart compared at most: "
        f"farther duplicates would be missed; give a larger {option} (or --candidates all)"
    )


def _plot(
    mics: Micrographs,
    options: MicrographOptions,
    pairs: np.ndarray,
    scores: dict[str, np.ndarray],
    decision: Decision,
    rank: np.ndarray,
    binning: int,
    outdir: Path,
    force: bool,
    summary: dict[str, Any],
    placement: Placement | None = None,
) -> list[str]:
    """The figures and report of the job.

    The z distribution, z against Pearson with both thresholds, a table of the flagged pairs
    and, for the best of them, the two images and their overlay; with --metadata, the map of
    the specimen positions.
    """
    from ...report import particle_figures as plots

    is_dup = decision.duplicate
    parameters = {k: v for k, v in vars(options).items() if k != "plot"}
    position_figures = []
    if placement is not None:
        rejected = np.zeros(len(mics.names), dtype=bool)
        rejected[[max(pair, key=lambda i: rank[i]) for pair in pairs[is_dup].tolist()]] = True
        figure = plots.position_map(
            placement.xy, placement.squares, placement.square_names, pairs[is_dup], rejected, placement.beam_diameter
        )
        position_figures.append(("position_map.png", "Specimen positions per grid square", figure))
    summary_rows = micrograph_rows(summary)
    highlight = {}
    if summary["warnings"]:
        summary_rows.append(("Warnings", "\n".join(summary["warnings"])))
        highlight["Warnings"] = "warn"
    if options.no_images:
        return plots.write_all(
            outdir, position_figures, "cryodedup micrographs", parameters, summary_rows, force, highlight=highlight
        )
    figures = [
        *position_figures,
        (
            "z_distribution.png",
            "Phase-correlation z of all scored pairs",
            plots.z_distribution(scores["z"], decision.min_z),
        ),
        (
            "z_pearson.png",
            "z against Pearson: duplicates pass both thresholds",
            plots.z_against_pearson(scores["z"], scores["pearson"], is_dup, decision.min_z, decision.min_pearson),
        ),
    ]
    flagged = np.flatnonzero(is_dup)
    flagged = flagged[np.argsort(-scores["z"][flagged], kind="stable")]
    binned_psize = summary["binned_pixel_size_A"]
    rows = []
    listed = sorted({int(i) for i in pairs[flagged].ravel()})  # named by the end of the path that tells them apart
    shown = dict(zip(listed, (short_name(n) for n in distinct_labels([mics.names[i] for i in listed]))))
    for k, p in enumerate(flagged):
        first, later, dy, dx = _seen_from_first(pairs[p], scores["dy"][p], scores["dx"][p], rank)
        rows.append(
            (
                shown[first],
                shown[later],
                f"{scores['z'][p]:.1f}",
                f"{scores['pearson'][p]:.2f}",
                f"{scores['overlap'][p]:.0%}",
                f"{dx * binned_psize:.0f}, {dy * binned_psize:.0f}",
            )
        )
        if k >= options.plot_pairs:
            continue
        images = []
        for i in (first, later):
            mrc, data = open_mrc(mics.paths[i])
            images.append(_core.bin_image(np.ascontiguousarray(data), binning))
            mrc.close()
        title = (
            f"{Path(mics.names[first]).name} and {Path(mics.names[later]).name}: z {scores['z'][p]:.1f}, "
            f"Pearson {scores['pearson'][p]:.2f}, overlap {scores['overlap'][p]:.0%}"
        )
        figures.append(
            (f"pair_{k + 1}.png", f"Flagged pair {k + 1}", plots.pair_figure(images[0], images[1], dy, dx, title))
        )
    header = ("first acquisition", "later acquisition", "z", "Pearson", "overlap", "shift x, y (Å)")
    table = (f"Flagged pairs ({len(rows)}, highest z first)", header, rows)
    return plots.write_all(
        outdir, figures, "cryodedup micrographs", parameters, summary_rows, force, tables=[table], highlight=highlight
    )


def _seen_from_first(pair: np.ndarray, dy: int, dx: int, rank: np.ndarray) -> tuple[int, int, int, int]:
    """The pair in acquisition order, and the shift of the later image against the first.

    The shift was scored as b against a: seen from the other side it flips.
    """
    a, b = pair
    dy, dx = int(dy), int(dx)
    if rank[a] <= rank[b]:
        return a, b, dy, dx
    return b, a, -dy, -dx


def _write_pairs(
    path: Path,
    mics: Micrographs,
    pairs: np.ndarray,
    scores: dict[str, np.ndarray],
    decision: Decision,
    binning: int,
    binned_psize: float,
    distance: np.ndarray | None = None,
) -> None:
    """One row per scored pair; with --metadata a last column, the positions' distance in µm.

    ``uncertain`` marks a pair near the boundary; ``joint`` is its joint score (>= 1: duplicate).

    Without images (``--no-images``) the image scores and shifts are left empty.
    """
    psize = binned_psize / binning
    header = ["index_a", "index_b", "name_a", "name_b", "z", "pearson", "overlap"]
    header += ["shift_x_px", "shift_y_px", "shift_x_A", "shift_y_A", "duplicate", "uncertain", "joint"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + (["distance_um"] if distance is not None else []))
        for k, (a, b) in enumerate(pairs.tolist()):
            row: list[Any] = [a, b, mics.names[a], mics.names[b]]
            if np.isfinite(scores["dx"][k]):
                dx, dy = int(scores["dx"][k]) * binning, int(scores["dy"][k]) * binning
                row += [f"{scores['z'][k]:.2f}", f"{scores['pearson'][k]:.4f}", f"{scores['overlap'][k]:.3f}"]
                row += [dx, dy, f"{dx * psize:.1f}", f"{dy * psize:.1f}"]
            else:
                row += [""] * 7
            row += [int(decision.duplicate[k]), int(decision.uncertain[k]), f"{decision.joint[k]:.3f}"]
            if distance is not None:
                row.append(f"{distance[k]:.4f}" if np.isfinite(distance[k]) else "")
            w.writerow(row)


def _subset_names(mics: Micrographs) -> dict[str, list[str]]:
    """Output files of the kept and the rejected micrographs, in the input's format.

    One .cs per file of a CryoSPARC group (and a .csg), one STAR, or one list of paths.
    """
    out = {}
    for stem in ("micrographs_kept", "micrographs_rejected"):
        if mics.group is not None:
            out[stem] = mics.group.output_names(stem)
        else:
            out[stem] = [f"{stem}{'.star' if mics.kind == 'star' else '.txt'}"]
    return out


def _write_micrographs(
    mics: Micrographs, keep: np.ndarray, tmp: dict[str, list[Path]], names: dict[str, list[str]]
) -> None:
    kept, rejected = tmp["micrographs_kept"], tmp["micrographs_rejected"]
    if mics.star is not None and mics.block is not None:
        mics.star.split_rows(mics.block, keep, kept[0], rejected[0])
        return
    for stem, selected in (("micrographs_kept", keep), ("micrographs_rejected", ~keep)):
        if mics.group is not None:
            mics.group.write_subset(selected, tmp[stem], names[stem])
        else:
            Path(tmp[stem][0]).write_text("".join(f"{mics.names[i]}\n" for i in np.flatnonzero(selected)))


ParticleSource = Union[CsGroup, tuple[StarFile, Block]]


def _load_particles(path: Path) -> ParticleSource:
    """The ``--particles`` file, read (and its columns checked) before any micrograph is scored."""
    if path.suffix in (".cs", ".csg"):
        group = CsGroup.load(path)
        if not (group.has("location/micrograph_uid") or group.has("location/micrograph_path")):
            raise CryodedupError(f"{path}: no location/micrograph_uid or micrograph_path to match micrographs")
        if len(group.files) > 1:  # one output file with every field of the group
            single = CsFile(flatten(group), group.files[0].encoding)
            group = CsGroup(group.path, [single], dict.fromkeys(group.slots, 0), [np.arange(len(single))])
        return group
    star = StarFile(path)
    return star, block_naming_micrographs(star, "particles", "no particle table with rlnMicrographName")


def _write_particles(
    source: ParticleSource,
    mics: Micrographs,
    keep: np.ndarray,
    kept_path: Path,
    rejected_path: Path,
    match_mode: str,
    log: Callable[[str, str], None],
) -> dict[str, Any]:
    """Splits the ``--particles`` rows by their micrograph's fate; returns the summary's ``particles``.

    A particle's micrograph is found by CryoSPARC uid when the particles share uids with the
    exposures, else by name as ``--match-micrographs`` says (docs/design.md section 2,
    "Matching micrographs"). Particles on micrographs not among the inputs stay with the kept.
    """
    if isinstance(source, CsGroup):
        group = source
        if mics.uids is not None and group.has("location/micrograph_uid"):
            uids = group.column("location/micrograph_uid")
            known = np.isin(uids, mics.uids)
            if known.any() or not group.has("location/micrograph_path"):
                on_rejected = np.isin(uids, mics.uids[~keep])
                group.save_subset(~on_rejected, [kept_path], None, [])
                group.save_subset(on_rejected, [rejected_path], None, [])
                return _particle_counts(on_rejected, known, {"mode": match_mode, "used": "CryoSPARC uid"})
        if not group.has("location/micrograph_path"):
            raise CryodedupError(f"{group.path}: no location/micrograph_uid or micrograph_path to match micrographs")
        paths, rows = np.unique(as_text(group.column("location/micrograph_path")), return_inverse=True)
        on_rejected, known, matching = _on_rejected(mics, keep, [str(n) for n in paths], match_mode, log)
        group.save_subset(~on_rejected[rows], [kept_path], None, [])
        group.save_subset(on_rejected[rows], [rejected_path], None, [])
        return _particle_counts(on_rejected[rows], known[rows], matching)
    star, block = source
    _, keys, names = star.scan(block, [], "rlnMicrographName")
    on_rejected, known, matching = _on_rejected(mics, keep, list(names), match_mode, log)
    rows_on_rejected = on_rejected[keys] if len(keys) else np.zeros(0, bool)
    star.split_rows(block, ~rows_on_rejected, kept_path, rejected_path)
    return _particle_counts(rows_on_rejected, known[keys] if len(keys) else np.zeros(0, bool), matching)


def _on_rejected(
    mics: Micrographs, keep: np.ndarray, names: list[str], match_mode: str, log: Callable[[str, str], None]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """For each of the particles' micrograph names: on a rejected micrograph, among the micrographs at all."""
    match = match_micrographs([mics.names, names], match_mode)
    for line in match.warnings(["the micrographs", "the --particles file"]):
        log(line, "warning")
    rejected = {match.same[mics.names[i]] for i in np.flatnonzero(~keep)}
    present = {match.same[n] for n in mics.names}
    on_rejected = np.array([match.same[n] in rejected for n in names], dtype=bool)
    known = np.array([match.same[n] in present for n in names], dtype=bool)
    unknown = [n for n, k in zip(names, known) if not k]
    if unknown:
        log(
            f"--particles: {len(unknown)} of {len(names)} micrographs the particles name are not among the "
            f"micrographs (e.g. {unknown[0]}); their particles are written with those of kept micrographs",
            "warning",
        )
    return on_rejected, known, match.summary()


def _particle_counts(on_rejected: np.ndarray, known: np.ndarray, matching: dict) -> dict[str, Any]:
    """The summary's ``particles``: how many went where, and how their micrographs were found."""
    return {
        "on_kept_micrographs": int(np.count_nonzero(~on_rejected & known)),
        "on_rejected_micrographs": int(np.count_nonzero(on_rejected)),
        "on_micrographs_not_in_input": int(np.count_nonzero(~known)),
        "micrograph_matching": matching,
    }
