"""Plan a run from the MRC headers: acquisition order, binning, band and the pairs to compare.

Every header is read once here (``mrc_layout``); the plan (``ScoringPlan``) is small and
picklable, and carries each image's layout so that scoring maps the images without parsing
the headers again.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ...errors import CryodedupError, InputFileError, PixelSizeError
from ...formats.micrograph_lists import Micrographs
from ...formats.mrc import MrcLayout, mrc_layout
from ...formats.overrides import Overrides, read_overrides
from ...options.fields import DECISION, SCORES, marked_options, shown_values
from ...options.micrographs import ALL_PAIRS_UPTO, MicrographOptions
from ...particle_set import Evidence
from ...resolve.given_psize import check_given_psize, same_size, stated_evidence
from .placement import Placement

if TYPE_CHECKING:  # (the report's module is loaded with --plot alone: it loads every job's options)
    from ...report.html_report import Parameters

__all__ = [
    "MAX_BINNED_PSIZE",
    "RUN_OPTIONS",
    "Candidates",
    "DecisionRules",
    "MetadataSources",
    "MicrographOutputPlan",
    "MicrographPlan",
    "PatternToRemove",
    "ScoringPlan",
    "ScoringRules",
    "acquisition_order",
    "candidate_offsets",
    "candidate_pairs",
    "candidates_used",
    "checked_psize",
    "micrograph_plan",
    "placed_pairs",
    "plan_scoring",
]

#: The fewest binned pixels along a side that a comparison needs (the core's floor).
MIN_BINNED = 8

#: The coarsest binned pixel (Å) at which the decision holds (benches/RESULTS.md, "Every
#: binning"): the band's finest detail (4 binned pixels) stays under 200 Å, finer than the beam
#: damage of a re-exposure (200-900 Å) and than the ice and illumination that unrelated images
#: share. At 54.8 Å a re-exposure damaged as the real set's fourth sank under the null; at 65.8
#: and 76.7 Å the real set gave false pairs with a margin that looked sound.
MAX_BINNED_PSIZE = 50.0


#: The options that change which pairs are scored, their scores, or the decision (marked in their
#: declarations): a shard's record and the ``--update`` store's keep their values.
RUN_OPTIONS = marked_options(MicrographOptions, SCORES, DECISION)


@dataclass(frozen=True)
class Candidates:
    """Which pairs are compared: ``--candidates`` and the reach of its window or pattern.

    ``by_position``: ``--no-images``, the pairs the metadata places close (whatever the mode).
    """

    mode: str
    window: int
    scan_range: int
    images_per_move: int
    images_per_hole: int
    by_position: bool


@dataclass(frozen=True)
class ScoringRules:
    """How the micrographs are read, ordered and compared: what :func:`plan_scoring` decides the plan from.

    ``min_z``: the z under which a pair's peak is noise (its Pearson coefficient is not taken
    below it, nor below 5).
    """

    order: str
    psize: float | None
    insist_psize: bool
    skip_unreadable: bool
    bin: int | None
    target_psize: float
    lowpass: float | None
    highpass: float | None
    candidates: Candidates
    batch: int
    min_z: float


@dataclass(frozen=True)
class DecisionRules:
    """What makes a scored pair a duplicate: the thresholds, the images of a hole, images or positions.

    ``by_position``: ``--no-images``, decided by the metadata's positions alone.
    """

    min_z: float
    min_pearson: float
    images_per_hole: int
    by_position: bool
    #: ``--overrides``: the file's pairs marked duplicate or distinct (its particle lines are the particle job's).
    overrides: Overrides | None = None


@dataclass(frozen=True)
class MetadataSources:
    """``--metadata``'s files, and the shift calibration and beam diameter given (None: from the metadata)."""

    files: tuple[Path, ...]
    shift_calibration: float | None
    beam_diameter: float | None


@dataclass(frozen=True)
class MicrographOutputPlan:
    """What the job writes besides its lists: whether an untrusted decision is written, the pictures.

    ``parameters``: the options as the report's Parameters table shows them (with ``--plot``; None without).
    """

    accept_untrusted: bool
    plot: bool
    plot_pairs: int
    by_position: bool
    parameters: Parameters | None


@dataclass(frozen=True)
class MicrographPlan:
    """The micrograph job's options resolved once, into the values each stage takes.

    Reading the inputs (``psize``, ``project_dir``), scoring (:class:`ScoringRules`), deciding
    (:class:`DecisionRules`), placing by the metadata (:class:`MetadataSources`) and writing
    (:class:`MicrographOutputPlan`); ``recorded``: the values of the options a shard's and the
    ``--update`` store's records keep (those that change the scores or the decision), by name.
    """

    psize: float | None
    project_dir: Path | None
    scoring: ScoringRules
    decision: DecisionRules
    metadata: MetadataSources
    output: MicrographOutputPlan
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def by_position(self) -> bool:
        """``--no-images``: nothing read but the metadata, the decision the positions' distance."""
        return self.decision.by_position


def micrograph_plan(options: MicrographOptions) -> MicrographPlan:
    """The options (checked) resolved once into the values each stage takes."""
    candidates = Candidates(
        options.candidates,
        options.window,
        options.scan_range,
        options.images_per_move,
        options.images_per_hole,
        options.no_images,
    )
    scoring = ScoringRules(
        options.order,
        options.psize,
        options.insist_psize,
        options.skip_unreadable,
        options.bin,
        options.target_psize,
        options.lowpass,
        options.highpass,
        candidates,
        options.batch,
        options.min_z,
    )
    overrides = None if options.overrides is None else read_overrides(options.overrides)
    decision = DecisionRules(options.min_z, options.min_pearson, options.images_per_hole, options.no_images, overrides)
    metadata = MetadataSources(tuple(options.metadata), options.shift_calibration, options.beam_diameter)
    shown = None
    if options.plot:  # (the report's table of the options only where there is a report)
        from ...report.html_report import Parameters

        shown = Parameters(*shown_values(options))
    output = MicrographOutputPlan(options.accept_untrusted, options.plot, options.plot_pairs, options.no_images, shown)
    # (as JSON holds them: a shard's record; --overrides' path as text)
    recorded = {name: _as_recorded(getattr(options, name)) for name in RUN_OPTIONS}
    return MicrographPlan(options.psize, options.project_dir, scoring, decision, metadata, output, recorded)


EPU_TIME = re.compile(r"_(\d{8})_(\d{6})")


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


def candidate_offsets(candidates: Candidates, n: int) -> np.ndarray | None:
    """Offsets j - i (in acquisition order) of the pairs compared; None for all pairs."""
    if candidates.mode == "metadata":
        return np.zeros(0, dtype=np.int64)  # the plan's pairs, from the metadata
    if candidates.mode == "all" or (candidates.mode == "auto" and n <= ALL_PAIRS_UPTO):
        return None
    # Offsets of n or more pair no image: bounded by n, a window or scan range of 10**9 costs nothing.
    if candidates.mode in ("window", "auto"):
        return np.arange(1, min(candidates.window, max(n - 1, 0)) + 1)
    m, h, s = candidates.images_per_move, candidates.images_per_hole, candidates.scan_range
    steps = min(-(-s // h), max(-(-(n - m) // h), 0))  # k * h < s, and m + k * h < n
    return m + h * np.arange(steps, dtype=np.int64)


def candidates_used(candidates: Candidates, n: int) -> str:
    """The candidate mode that ``auto`` resolves to for ``n`` micrographs."""
    if candidates.by_position:
        return "metadata"
    if candidates.mode != "auto":
        return candidates.mode
    return "all" if candidate_offsets(candidates, n) is None else "window"


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
    # Made in their order, row by row of the later image q, its earlier ones p = q - offset ascending:
    # no sort of the pairs (505,000 for an update of 5,100 micrographs; issue 43).
    descending = np.sort(np.asarray(offsets, dtype=np.int64))[::-1]
    if hi <= lo or not len(descending):
        return np.zeros((0, 2), dtype=np.int64)
    q = np.arange(lo + descending[-1], min(hi - 1 + descending[0], n - 1) + 1, dtype=np.int64)[:, None]
    p = q - descending[None, :]
    keep = (p >= lo) & (p < hi)
    return np.stack([p[keep], np.broadcast_to(q, p.shape)[keep]], axis=1)


class PatternToRemove(Protocol):
    """A pattern common to the images, as the scoring removes it (``pattern.CommonPattern``)."""

    @property
    def shape(self) -> tuple[int, int]:
        """The binned images' size."""

    @property
    def images(self) -> np.ndarray | None:
        """The input indices of the group of images it was estimated from (None: every image)."""

    def remove(self, binned: np.ndarray) -> np.ndarray:
        """A binned image less its share of the pattern."""


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
    # --psize contradicted by the headers or the input and insisted on (--insist-psize): what the summary says.
    psize_note: str | None = None
    # A pattern common to the images (pattern.py), binned, normalised: each image's share of it is
    # removed from its binned image before its spectrum is made. None: the images as they are.
    pattern: PatternToRemove | None = None

    @property
    def pearson_highpass(self) -> float:
        """The coarsest detail (Å) of the images the Pearson coefficient is taken on (:func:`pearson_highpass`)."""
        return pearson_highpass(self.band)

    @property
    def reach(self) -> int:
        """How many images apart the farthest compared pair is."""
        if self.pairs is not None:
            return int((self.pairs[:, 1] - self.pairs[:, 0]).max()) if len(self.pairs) else 0
        return reach(self.offsets, len(self.positions))


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


def plan_scoring(
    mics: Micrographs,
    rules: ScoringRules,
    placement: Placement | None = None,
    known: dict[str, MrcLayout] | None = None,
    left_out: Collection[str] = (),
) -> ScoringPlan:
    """Reads every MRC header and decides the order, binning, band and candidates.

    ``known``: layouts already read, by path as listed (``--update``'s seen micrographs, found in
    place), whose headers are not read again nor their files looked for. ``left_out``: paths
    (as the plan names them) planned as unreadable: images found to hold NaN or infinities
    (``--skip-unreadable``).

    Raises a ``CryodedupError`` for a missing or unreadable file (unless ``skip_unreadable``),
    images of different sizes or pixel sizes, fewer than two readable micrographs, or no pixel size.
    """
    order, rule = acquisition_order(mics.names, mics.paths, rules.order, _times(placement))
    headers = _read_headers(mics, rules.skip_unreadable, order, known, left_out)
    if len(headers.readable) < 2 or headers.shape is None:
        raise CryodedupError(f"{len(headers.readable)} readable micrograph(s): at least two are needed")
    shape = headers.shape
    psize_note = checked_psize(mics, rules.psize, rules.insist_psize, headers)
    psize = mics.psize or headers.psize
    if psize is not None and not (np.isfinite(psize) and psize > 0):
        raise CryodedupError(f"micrograph pixel size {psize} Å read from the input: expected > 0; give it with --psize")
    if psize is None:
        raise CryodedupError("no micrograph pixel size in the input or the MRC headers; give it with --psize")
    binning, binned_psize, band = _binning_and_band(rules, psize, shape)
    return ScoringPlan(
        paths=[str(p) for p in mics.paths],
        positions=np.array(headers.readable),
        shape=shape,
        binning=binning,
        binned_psize=binned_psize,
        band=band,
        offsets=candidate_offsets(rules.candidates, len(headers.readable)),
        rule=rule,
        unreadable=headers.unreadable,
        batch=rules.batch,
        # Below z = 5 a peak is noise (docs/design.md section 4): no Pearson is needed to reject the pair.
        pearson_min_z=min(rules.min_z, 5.0),
        layouts=headers.layouts,
        pairs=placed_pairs(placement, headers.readable) if rules.candidates.mode == "metadata" and placement else None,
        psize_note=psize_note,
    )


def checked_psize(
    mics: Micrographs, psize: float | None, insist_psize: bool, headers: _Headers | None = None
) -> str | None:
    """Refuses a list whose pixel size the MRC headers contradict, or a ``--psize`` that they or the list contradict.

    Where the list (a micrographs STAR, CryoSPARC exposures) and the headers disagree, neither
    wins: the program that wrote the list used its value, but the screen bins the pixels as they
    are, and the two files cannot tell which is wrong (docs/developers/decisions/centres-and-pixel-sizes.md).
    ``--psize`` equal to one of them chooses it. Returns the summary's note where
    ``--psize`` chose or the user insisted (``--insist-psize``). A header of exactly 1 Å is not
    taken as evidence: writers put it there when they know no pixel size.
    """
    listed = _listed_psize(mics)
    header = _header_evidence(mics, listed.value if psize is None and listed else psize, headers)
    disagree = listed is not None and bool(header) and not same_size(listed.value, header[0].value)
    if psize is None:
        if disagree and listed is not None:
            raise PixelSizeError(_disagreement(mics, listed, header[0], headers))
        return None
    evidence = stated_evidence(psize, mics.stated)
    chosen = None
    if disagree and listed is not None and (same_size(psize, listed.value) or same_size(psize, header[0].value)):
        # --psize picks one of two sources that disagree: the other is what it contradicts, not a refusal.
        other = header[0] if same_size(psize, listed.value) else listed
        evidence = [e for e in evidence if e.binned or e.name != listed.name] if other is listed else evidence
        header = [] if other is header[0] else header
        chosen = f"--psize {psize:g} Å chosen; it contradicts {other.name} {other.value:g} Å {other.place}"
    hint = _psize_hint(listed, header[0] if header else None, psize)
    insisted = check_given_psize("--psize", psize, evidence + header, insist_psize, hint)
    return insisted.note if insisted else chosen


def _listed_psize(mics: Micrographs) -> Evidence | None:
    """The one micrograph pixel size the input list states (None: no list, none stated, or several)."""
    stated = mics.stated
    values = sorted({v for v in stated.values if math.isfinite(v) and v > 0}) if stated else []
    if stated is None or not values or not same_size(values[0], values[-1]):
        return None
    return Evidence(values[0], stated.field, stated.place)


def _disagreement(mics: Micrographs, listed: Evidence, header: Evidence, headers: _Headers | None) -> str:
    """The refusal of a list whose pixel size the headers contradict: both values, and --psize to choose either."""
    source = mics.source.name if mics.source else "the list"
    program = {"star": "RELION's", "cs": "CryoSPARC's"}.get(mics.kind, "the")
    text = (
        f"{listed.name} {listed.value:g} Å {listed.place} contradicts {header.name} {header.value:g} Å {header.place}: "
        f"{program} jobs used {listed.value:g} Å, the screen needs the pixels' own"
    )
    keep = f"--psize {listed.value:g} if the headers are wrong"
    others = {round(p, 3) for p in (headers.psizes if headers else []) if p is not None and p != 1.0}
    if len(others) > 1 and not same_size(min(others), max(others)):
        return f"{text} (the headers differ among themselves); give {keep}"
    return f"{text}; give {keep}, or --psize {header.value:g} if {source} is (micrographs binned after it was written)"


def _psize_hint(listed: Evidence | None, header: Evidence | None, given: float) -> str:
    """What to give instead of a contradicted ``--psize``: leave it out, or the value of one of the sources."""
    values = [e.value for e in (listed, header) if e is not None and not same_size(e.value, given)]
    if listed is not None and header is not None and not same_size(listed.value, header.value):
        return f"give --psize {listed.value:g} ({listed.name}) or --psize {header.value:g} (the MRC headers)"
    if values:
        return f"leave --psize out to use {values[0]:g} Å"
    return "give the pixel size of the micrographs as they are (binned)"


def _header_evidence(mics: Micrographs, given: float | None, headers: _Headers | None) -> list[Evidence]:
    """The headers' pixel sizes as evidence: the first contradicting ``given`` (and how many do), else the first."""
    stated = [(k, p) for k, p in zip(headers.readable, headers.psizes) if p is not None and p != 1.0] if headers else []
    if not stated:
        return []
    name = "the MRC header's pixel size"
    against = [(k, p) for k, p in stated if given is not None and not same_size(given, p)]
    if not against:
        k, psize = stated[0]
        return [Evidence(psize, name, f"of {mics.paths[k]}")]
    k, psize = against[0]
    return [Evidence(psize, name, f"of {mics.paths[k]} ({len(against):,} of {len(stated):,} headers contradict it)")]


@dataclass
class _Headers:
    """The micrographs whose MRC header was read (positions in acquisition order), and their one size."""

    readable: list[int] = field(default_factory=list)
    layouts: list[MrcLayout] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    shape: tuple[int, int] | None = None
    #: The first header's pixel size (None: not in the header).
    psize: float | None = None
    #: Each readable micrograph's header pixel size (None: not in the header), to check --psize against.
    psizes: list[float | None] = field(default_factory=list)


def _read_headers(
    mics: Micrographs,
    skip_unreadable: bool,
    order: np.ndarray,
    known: dict[str, MrcLayout] | None,
    left_out: Collection[str] = (),
) -> _Headers:
    """Every micrograph's MRC header in acquisition order; one run takes one image size and one pixel size."""
    headers = _Headers()
    known = known or {}
    order = np.array([k for k in order if str(mics.paths[k]) not in left_out], dtype=np.int64)
    headers.unreadable += [str(p) for p in mics.paths if str(p) in left_out]
    missing = [k for k in order if os.fspath(mics.paths[k]) not in known and not mics.paths[k].exists()]
    if missing and not skip_unreadable:
        raise InputFileError(missing_micrographs(mics, missing))
    not_found = set(missing)
    for k in order:
        try:
            if k in not_found:
                raise InputFileError("not found")  # skipped, listed as unreadable
            layout = known.get(os.fspath(mics.paths[k])) or mrc_layout(mics.paths[k])
        except CryodedupError as err:
            if not skip_unreadable:
                raise type(err)(f"{err} (use --skip-unreadable to go on without it)") from None
            headers.unreadable.append(str(mics.paths[k]))
            continue
        _check_alike(mics, k, layout, headers)
        headers.readable.append(k)
        headers.layouts.append(layout)
        headers.psizes.append(layout.psize)
    return headers


def _check_alike(mics: Micrographs, k: int, layout: MrcLayout, headers: _Headers) -> None:
    """Refuses micrograph ``k`` unless its size and header pixel size are the first readable one's (or sets them)."""
    this_shape, header_psize, first_psize = layout.shape, layout.psize, headers.psize
    if headers.shape is None:
        headers.shape, headers.psize = this_shape, header_psize
    elif this_shape != headers.shape:
        shape = headers.shape
        raise InputFileError(
            f"{mics.paths[k]}: {this_shape[1]} x {this_shape[0]} pixels, but "
            f"{mics.paths[headers.readable[0]]} is {shape[1]} x {shape[0]}; one run takes one size"
        )
    elif (
        mics.psize is None
        and header_psize is not None
        and first_psize is not None
        and abs(header_psize - first_psize) > 1e-3 * first_psize
    ):
        raise InputFileError(
            f"{mics.paths[k]}: pixel size {header_psize:g} Å in its header, but "
            f"{mics.paths[headers.readable[0]]} has {first_psize:g} Å; one run takes one pixel size"
        )


#: The coarsest detail (Å) the Pearson coefficient compares at any binning: the default band's
#: at 12 Å (25 binned pixels). Coarser detail is the ice's thickness and the illumination.
PEARSON_COARSEST = 300.0


def pearson_highpass(band: tuple[float, float]) -> float:
    """The highpass (Å) of the images the Pearson coefficient is taken on, for the band (lowpass, highpass).

    The phase correlation keeps the whole band; the Pearson coefficient leaves out detail
    coarser than ``PEARSON_COARSEST`` (keeping at least an octave above the lowpass). Why: at
    a coarse binning the band's coarsest detail is a few cycles per image, the ice and the
    illumination across the frame, and it holds most of the band's power. Unrelated images
    share it where they lie (Pearson 0.5-0.8 at zero shift on the real set at 44 Å), and a
    re-exposure, moved with the beam, does not (a true pair at z 18 had -0.04; without it
    0.42). At the default binning (12 Å or finer) the band is the same.
    """
    lowpass, highpass = band
    return min(highpass, max(PEARSON_COARSEST, 2 * lowpass))


def _binning_and_band(
    rules: ScoringRules, psize: float, shape: tuple[int, int]
) -> tuple[int, float, tuple[float, float]]:
    """The binning, the binned pixel size and the band (lowpass, highpass in Å), checked against the images."""
    binning = rules.bin or max(1, round(rules.target_psize / psize))
    binned_psize = psize * binning
    lowpass = rules.lowpass or 4 * binned_psize
    highpass = rules.highpass or 25 * binned_psize
    if shape[0] // binning < MIN_BINNED or shape[1] // binning < MIN_BINNED:
        raise CryodedupError(
            f"binning {shape[1]} x {shape[0]} pixel images by {binning} leaves fewer than {MIN_BINNED} x {MIN_BINNED} "
            "pixels to compare; give a smaller --bin or --target-psize"
        )
    if binned_psize > MAX_BINNED_PSIZE:
        safe = int(MAX_BINNED_PSIZE // psize)
        raise CryodedupError(
            f"binning {psize:g} Å pixels by {binning} gives {binned_psize:.1f} Å, coarser than "
            f"{MAX_BINNED_PSIZE:g} Å: the specimen's details are gone, and what remains (a re-exposure's beam "
            "damage, the ice and illumination that unrelated micrographs share) does not decide; "
            + _coarser_advice(rules.bin, rules.target_psize, psize, binning, safe)
        )
    if lowpass < 2 * binned_psize:
        raise CryodedupError(f"--lowpass {lowpass} Å is beyond Nyquist of the binned images ({2 * binned_psize:.1f} Å)")
    if highpass <= lowpass:
        raise CryodedupError(
            f"the band is empty: highpass {highpass:g} Å is not above lowpass {lowpass:g} Å; "
            "set --highpass and --lowpass"
        )
    return binning, binned_psize, (lowpass, highpass)


def _coarser_advice(bin: int | None, target_psize: float, psize: float, binning: int, safe: int) -> str:
    """What to give when the binned pixel is too coarse: a --target-psize that rounds to a bin within it, or --bin.

    The value named is one that runs: ``--target-psize 50`` itself rounds to a bin beyond 50 Å
    when the pixel does not divide it (10.96 Å: bin 5, 54.8 Å).
    """
    if safe < 1:
        return (
            f"the micrographs' pixel, {psize:g} Å, is itself coarser than {MAX_BINNED_PSIZE:g} Å: check --psize "
            "against the MRC headers"
        )
    if bin is not None:  # (--bin overrides --target-psize: only a smaller --bin helps)
        return f"give --bin {safe} or less"
    example = math.floor(safe * psize)  # (rounds to bin safe or less: example / psize <= safe)
    return (
        f"--target-psize {target_psize:g} rounds to bin {binning}; give a --target-psize that rounds to "
        f"bin {safe} or less (e.g. {example:d}), or --bin {safe}"
    )


def _times(placement: Placement | None) -> np.ndarray | None:
    return placement.times if placement is not None else None


def placed_pairs(placement: Placement, in_order: list[int]) -> np.ndarray:
    """The pairs (acquisition positions, sorted by the later) within the beam diameter of each other."""
    position = np.full(len(placement.index), -1, dtype=np.int64)
    position[np.asarray(in_order, dtype=np.int64)] = np.arange(len(in_order))
    pairs = placement.pairs_within(placement.beam_diameter)
    # In place, and sorted as one key (later * n + earlier): a crowded session has a few pairs
    # per micrograph, and no step holds more than two copies of them (issue 38).
    np.take(position, pairs, out=pairs)
    if (pairs < 0).any():
        pairs = pairs[(pairs >= 0).all(axis=1)]
    n = max(len(in_order), 1)
    keys = pairs.max(axis=1)
    keys *= n
    keys += pairs.min(axis=1)
    del pairs
    keys.sort()
    out = np.empty((len(keys), 2), dtype=np.int64)
    np.remainder(keys, n, out=out[:, 0])
    np.floor_divide(keys, n, out=out[:, 1])
    return out


def _as_recorded(value: Any) -> Any:
    """An option's value as a shard's record holds it (a path as its text)."""
    return str(value) if isinstance(value, Path) else value
