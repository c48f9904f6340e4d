"""Write a run's outputs: the pairs, the groups, the kept and rejected micrographs and particles.

pairs.csv, duplicates.csv, the kept and rejected micrographs in the input's format, the
particles on each (``--particles``), and the figures (``--plot``).

One run and a merge of shards both end in ``write_results``, so their outputs are the same.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Generic, TypeVar

import numpy as np

import cryodedup._core as _core

from ...errors import CryodedupError, RefusedRun
from ...formats.cryosparc.particles import NO_MICROGRAPH_FIELD
from ...formats.micrograph_lists import Micrographs
from ...formats.particles import ParticleNames, open_particle_names, particle_suffix, read_particle_names
from ...labels import counted
from ...outputs import AtomicOutputs, warn_earlier_report
from ...particle_set import ParticleSet
from ...paths import StrPath
from ...report.micrograph_sections import Band, ParticleSplit
from ...report.sections.run import Outputs
from ...resolve import match_micrographs
from .decide import UNCERTAIN, MicrographDecision, MicrographOutcome, near_the_edge, verdict
from .placement import Placement
from .plan import MAX_BINNED_PSIZE, Candidates, MicrographOutputPlan, candidates_used
from .score import ScoredPairs, reading_by_worker
from .standout import StandingOut, standing_out
from .summary import MicrographSummary

__all__ = [
    "PairRows",
    "PreparedOutputs",
    "append_pair_rows",
    "collecting",
    "pair_header",
    "prepare_outputs",
    "summarised",
    "verdict_line",
    "write_pairs_whole",
    "write_results",
]

#: The ``--particles`` split's outputs: these stems with the input's suffix.
PARTICLE_STEMS = ("particles_on_kept_micrographs", "particles_on_rejected_micrographs")


Item = TypeVar("Item")


@dataclass(frozen=True)
class Subsets(Generic[Item]):
    """The files of the kept and of the rejected micrographs (their names, or where they are written)."""

    STEMS: ClassVar[tuple[str, str]] = ("micrographs_kept", "micrographs_rejected")

    micrographs_kept: list[Item]
    micrographs_rejected: list[Item]

    def items(self) -> list[tuple[str, list[Item]]]:
        """(stem, files) of the kept, then of the rejected."""
        return [("micrographs_kept", self.micrographs_kept), ("micrographs_rejected", self.micrographs_rejected)]


@dataclass
class PreparedOutputs:
    """The output files of the job, checked (none exists unless --force) before any work."""

    outdir: Path
    atomic: AtomicOutputs
    paths: list[Path]
    subsets: Subsets[str]  # micrographs_kept/_rejected: their file names
    force: bool
    inputs: list[str]  # the micrographs as given (files, folders, lists)
    particle_source: ParticleNames | None = None  # --particles, read before any scoring


def prepare_outputs(
    mics: Micrographs, outdir: Path, inputs: Sequence[StrPath], particles: StrPath | None, force: bool
) -> PreparedOutputs:
    """The outputs' paths, refused if they exist (unless ``force``) or are inputs, or the names do not fit them."""
    check_names_fit(mics.names)
    subsets = _subset_names(mics)
    names = ["pairs.csv", "duplicates.csv", *subsets.micrographs_kept, *subsets.micrographs_rejected]
    if particles is not None:
        names += [f"{stem}{particle_suffix(particles)}" for stem in PARTICLE_STEMS]
    paths = [outdir / n for n in names]
    atomic = AtomicOutputs(paths, force=force, inputs=list(inputs) + ([particles] if particles else []))
    # Opened (its columns checked) before any micrograph is scored.
    particle_source = open_particle_names(Path(particles)) if particles is not None else None
    return PreparedOutputs(outdir, atomic, paths, subsets, force, [str(p) for p in inputs], particle_source)


def write_results(
    mics: Micrographs,
    output: MicrographOutputPlan,
    candidates: Candidates,
    outcome: MicrographOutcome,
    outputs: PreparedOutputs,
    *,
    log: Callable[[str, str], None],
    placement: Placement | None = None,
    match_micrographs: str = "auto",
    write_pairs: Callable[[tuple[Path, Path], PairRows, int, float], None] | None = None,
) -> ParticleSplit | None:
    """Writes the outputs of a decided run and warns of what the user should look at; the particles split's counts.

    One run and a merge of shards both end here, so their outputs are the same.
    ``match_micrographs`` is how the ``--particles``' micrographs are found among the inputs;
    ``log`` says each warning (the stages' ``said``: kept for the summary and the report);
    ``write_pairs``: writes pairs.csv (final and temporary path, rows, binning, pixel size), by
    default whole (:func:`write_pairs_whole`). ``candidates``: how the pairs were chosen (the
    option a warning names).
    """
    _refuse_untrusted(mics, outcome, output.accept_untrusted)
    _warn_before_writing(mics, candidates, outcome, placement, log)
    particle_counts = _write_files(
        mics, outcome, outputs, placement, match_micrographs, log, write_pairs or write_pairs_whole
    )
    decision = outcome.decision
    for warning in _uncertain_warnings(decision, output.plot):
        log(warning, "warning")
    if decision.untrusted:
        log(untrusted_warning(decision, outcome.plan.binned_psize), "warning")
    if not output.plot:
        warn_earlier_report(outputs.outdir, lambda message: log(message, "warning"))
    return particle_counts


def _uncertain_warnings(decision: MicrographDecision, plot: bool) -> list[str]:
    """The warnings naming the uncertain pairs: near the thresholds, at a confirmed shift, at one shared shift."""
    in_band = (decision.joint >= 1 / UNCERTAIN) & (decision.joint < UNCERTAIN)
    open_ = decision.uncertain  # (a pair --overrides decided is no longer left to check, whatever marked it)
    at_shift = decision.at_shift & open_ if decision.at_shift is not None else np.zeros_like(open_)
    only_at_shift = at_shift & ~in_band  # (one in the band is said near the thresholds, as it is)
    one_shift = decision.one_shift & open_ if decision.one_shift is not None else np.zeros_like(open_)
    only_one_shift = one_shift & ~in_band & ~at_shift  # (one at a confirmed pair's shift is said so)
    said_apart = np.zeros_like(decision.uncertain)  # (turned and hole neighbours' pairs: said when marked)
    for marked in (decision.turned, decision.shared):
        said_apart |= marked if marked is not None else False
    near = int((decision.uncertain & ~only_at_shift & ~only_one_shift & ~(said_apart & ~in_band)).sum())
    pattern, agreeing = int(only_at_shift.sum()), int(only_one_shift.sum())
    drawn = " (report.html lists and draws them)" if plot else ""
    warnings = []
    if near:
        warnings.append(
            f"{counted(near, 'pair')} near the thresholds (joint score within {UNCERTAIN:g}x of 1): "
            f"marked uncertain in pairs.csv; look at them before trusting the decision{drawn}"
        )
    if pattern:
        warnings.append(
            f"{counted(pattern, 'pair')} at the shift of confirmed re-exposures (as many images apart), "
            f"under the thresholds: marked uncertain in pairs.csv; look at them, re-exposures their noise "
            f"weakened{drawn}"
        )
    if agreeing:
        warnings.append(
            f"{counted(agreeing, 'pair')} agreeing on one shift under the thresholds (no confirmed "
            f"re-exposure to anchor them): marked uncertain in pairs.csv; look at them, re-exposures of one "
            f"hole their noise weakened{drawn}"
        )
    return warnings


def verdict_line(summary: MicrographSummary) -> str:
    """The line the summary opens with: the duplicate micrographs among how many, the kept list, the verdict, checks.

    ``4 duplicate micrographs (4 pairs) among 52; kept 48 -> DupMics/micrographs_kept.star. Verdict: TRUSTED``,
    then the warnings' gists to check.
    """
    from ...report.verdict import gist, named_files, with_checks

    rejected, pairs, total = summary.rejected, summary.duplicate_pairs, summary.micrographs
    found = (
        f"{rejected:,} duplicate micrograph{'' if rejected == 1 else 's'}" if rejected else "No duplicate micrographs"
    )
    if pairs:
        found += f" ({pairs:,} pair{'' if pairs == 1 else 's'})"
    kept_list = named_files(list(summary.outputs.files("kept")) if summary.outputs is not None else [])
    head = f"{found} among {total:,}; kept {summary.kept:,} -> {kept_list}. Verdict: {summary.judged.word}"
    return with_checks(head, [gist(w) for w in summary.warnings])


def _refuse_untrusted(mics: Micrographs, outcome: MicrographOutcome, accept_untrusted: bool) -> None:
    """A decision that cannot be trusted writes nothing (a pipeline would remove what it lists) unless accepted.

    Raised before any output is written, so that an ``--update`` round commits nothing either. The
    refusal names the pairs standing out over the null (:func:`~.standout.standing_out`), and its
    ``--json`` carries them, the power estimate and the verdict's reason (:func:`saw`).
    """
    decision = outcome.decision
    why = decision.untrusted
    if why and not accept_untrusted:
        safe = _what_is_safe(decision, outcome.plan.binned_psize)
        seen = standing_out(mics.names, outcome.scores, decision, outcome.plan)
        named = f" {seen.said()}." if seen is not None else ""
        raise RefusedRun(
            f"the decision cannot be trusted, nothing written: {why}.{named} {safe}; "
            "--accept-untrusted writes what the thresholds gave",
            saw(decision, seen),
        )


def saw(decision: MicrographDecision, seen: StandingOut | None) -> dict[str, Any]:
    """What a run that cannot be trusted saw, for ``--json``: the verdict's reason, the power estimate, the pairs."""
    return {
        "verdict": {"why": decision.untrusted, "trusted": False, "check": int(decision.uncertain.sum())},
        "pairs_scored": len(decision.joint),
        "power": decision.power.to_json() if decision.power is not None else None,
        "standing_out": seen.to_json() if seen is not None else None,
    }


def untrusted_warning(decision: MicrographDecision, binned_psize: float) -> str:
    """The warning of a run whose untrusted decision was accepted (``--accept-untrusted``): why, and what is safe."""
    return (
        f"the decision cannot be trusted (written as --accept-untrusted asked): {decision.untrusted}. "
        "micrographs_rejected lists what the thresholds gave, not micrographs safe to remove. "
        f"{_what_is_safe(decision, binned_psize)}"
    )


def _what_is_safe(decision: MicrographDecision, binned_psize: float) -> str:
    if decision.blind is not None:
        return (
            "micrographs_kept may hold re-exposures the screen could not see: use it knowing that, or screen "
            "micrographs that carry more signal"
        )
    if decision.pattern is not None:
        return (
            "Check the gain reference motion correction applied (its file, rotation and flip) and screen the "
            "micrographs corrected for it; a run in one go (not --update, not a merge of shards) removes the "
            "pattern where it can"
        )
    if decision.undecided is not None and decision.undecided.any() and not verdict(decision):
        return (
            "--plot draws the uncertain pairs; a finer --target-psize (12 Å by default) compares more of the "
            f"specimen's detail (this run: {binned_psize:.3g} Å per pixel)"
        )
    return (
        f"Check the pixel size against the MRC headers (--psize), and screen at a binned pixel of 11 to "
        f"{MAX_BINNED_PSIZE:g} Å, where the thresholds were measured to hold (this run: {binned_psize:.3g} Å)"
    )


def _warn_before_writing(
    mics: Micrographs,
    candidates: Candidates,
    outcome: MicrographOutcome,
    placement: Placement | None,
    log: Callable[[str, str], None],
) -> None:
    """The warnings about what was read and compared: unreadable files, metadata, duplicates near the reach."""
    plan = outcome.plan
    for path in plan.unreadable:
        log(f"skipped unreadable {path}", "warning")
    positions, pairs, rank = plan.positions, outcome.scores.pairs, outcome.rank
    pattern = candidates_used(candidates, len(positions)) == "pattern"
    reach = ("--scan-range", candidates.scan_range) if pattern else ("--window", candidates.window)
    edge_warning = None
    if plan.pairs is None:  # (metadata pairs have no reach in acquisition order)
        edge_warning = near_the_edge(pairs[outcome.decision.duplicate], rank, plan.reach, len(positions), *reach)
    if placement is not None:
        _warn_unmatched(placement, mics, log)
        for warning in (placement.calibration_warning, placement.crowding()):
            if warning:
                log(warning, "warning")
    if edge_warning:
        log(edge_warning, "warning")


def _write_files(
    mics: Micrographs,
    outcome: MicrographOutcome,
    outputs: PreparedOutputs,
    placement: Placement | None,
    match_micrographs: str,
    log: Callable[[str, str], None],
    write_pairs: Callable[[tuple[Path, Path], PairRows, int, float], None],
) -> ParticleSplit | None:
    """pairs.csv (by ``write_pairs``), duplicates.csv, the kept and rejected micrographs, the particles on each."""
    paths, subsets, root, rank = outputs.paths, outputs.subsets, outcome.root, outcome.rank
    pairs, scores, keep = outcome.scores.pairs, outcome.scores, outcome.keep
    binning, binned_psize = outcome.plan.binning, outcome.plan.binned_psize
    particle_counts = None
    with outputs.atomic as tmp:
        distance = placement.distance(pairs) if placement is not None else None
        rows = _pair_rows(mics, pairs, scores, outcome.decision, distance)
        write_pairs((paths[0], tmp[paths[0]]), rows, binning, binned_psize / binning)
        with open(tmp[paths[1]], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Original", "Duplicate"])
            for i in sorted(np.flatnonzero(~keep), key=lambda i: rank[i]):
                w.writerow([mics.names[root[i]], mics.names[i]])
        at = Subsets(*([tmp[outputs.outdir / n] for n in files] for _, files in subsets.items()))
        _write_micrographs(mics, keep, at, subsets)
        if outputs.particle_source is not None:
            particle_counts = _write_particles(
                outputs.particle_source, mics, keep, tmp, outputs.outdir, match_micrographs, log
            )
    return particle_counts


def summarised(
    mics: Micrographs,
    candidates: Candidates,
    outcome: MicrographOutcome,
    outputs: PreparedOutputs,
    warnings: list[str],
    placement: Placement | None,
    particle_counts: ParticleSplit | None,
) -> MicrographSummary:
    """The run's summary: what was read, how it was compared, what was decided, what was written (by subset)."""
    plan, shards, keep, decision = outcome.plan, outcome.shards, outcome.keep, outcome.decision
    binning, binned_psize, band = plan.binning, plan.binned_psize, plan.band
    decided = decision.summary()
    return MicrographSummary(
        inputs=outputs.inputs,
        micrographs=len(mics.names),
        unreadable=plan.unreadable,
        order=plan.rule,
        root=str(mics.root) if mics.root else None,
        pixel_size_A=round(binned_psize / binning, 4),
        pixel_size_insisted=plan.psize_note or None,
        bin=binning,
        binned_pixel_size_A=round(binned_psize, 3),
        band_A=Band(lowpass=round(band[0], 1), highpass=round(band[1], 1)),
        candidates=candidates_used(candidates, len(plan.positions)),
        reach=plan.reach,
        pairs_scored=len(outcome.scores.pairs),
        duplicate_pairs=int(decision.duplicate.sum()),
        kept=int(keep.sum()),
        rejected=int((~keep).sum()),
        outputs=written_by_subset(outputs),
        shards=len(shards),
        workers=reading_by_worker(shards),
        warnings=warnings,
        images_read=sum(s.images_read for s in shards),
        confirmed_by_images=not candidates.by_position,
        thresholds=decided.thresholds,
        uncertain_pairs=decided.uncertain_pairs,
        margin=decided.margin,
        reconsidered=decided.reconsidered,
        verdict=decided.verdict,
        metadata=placement.summary() if placement is not None else None,
        particles=particle_counts,
        power=decision.power.to_json() if decision.power is not None else None,
        standing_out=_standing_out(mics, outcome),
    )


def _standing_out(mics: Micrographs, outcome: MicrographOutcome) -> list[dict[str, Any]] | None:
    """The pairs standing out over the null, listed where the decision cannot be trusted (None: trusted, or too few)."""
    if outcome.decision.untrusted is None:
        return None
    seen = standing_out(mics.names, outcome.scores, outcome.decision, outcome.plan)
    return seen.to_json() if seen is not None else None


def collecting(log: Callable[[str, str], None], warnings: list[str]) -> Callable[[str, str], None]:
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


@dataclass(frozen=True)
class _PairColumns:
    """pairs.csv's columns, each contiguous: the pairs' input indices, their scores, what was decided.

    ``distance``: the positions' distance in µm (with --metadata), None without.
    """

    a: np.ndarray
    b: np.ndarray
    z: np.ndarray
    pearson: np.ndarray
    overlap: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    duplicate: np.ndarray
    uncertain: np.ndarray
    joint: np.ndarray
    distance: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.a)

    def arrays(self) -> list[np.ndarray]:
        """The columns in order (``distance`` where there is one): what the digest of the rows is made of."""
        return [column for f in fields(self) if (column := getattr(self, f.name)) is not None]

    def from_row(self, start: int) -> _PairColumns:
        """The rows from ``start`` on."""
        rows: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        after: dict[str, Any] = {name: None if column is None else column[start:] for name, column in rows.items()}
        return _PairColumns(**after)


@dataclass
class PairRows:
    """What pairs.csv's rows are made of: its header, each micrograph's field, the columns (contiguous)."""

    header: list[str]
    encoding: str
    names: list[bytes]
    columns: _PairColumns


def _pair_rows(
    mics: Micrographs,
    pairs: np.ndarray,
    scores: ScoredPairs,
    decision: MicrographDecision,
    distance: np.ndarray | None,
) -> PairRows:
    """One row per scored pair; with --metadata a last column, the positions' distance in µm.

    ``uncertain`` marks a pair left to check; ``joint`` is its joint score (>= 1: duplicate).
    Without images (``--no-images``) the image scores and shifts are left empty.
    """
    header = ["index_a", "index_b", "name_a", "name_b", "z", "pearson", "overlap"]
    header += ["shift_x_px", "shift_y_px", "shift_x_A", "shift_y_A", "duplicate", "uncertain", "joint"]
    encoding = io.TextIOWrapper(io.BytesIO()).encoding  # what open() takes by default, as pairs.csv always was
    names = [_csv_field(name).encode(encoding) for name in mics.names]
    pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)

    def floats(column: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(column, dtype=np.float64)

    if distance is not None:
        header.append("distance_um")
    columns = _PairColumns(
        np.ascontiguousarray(pairs[:, 0]),
        np.ascontiguousarray(pairs[:, 1]),
        z=floats(scores.z),
        pearson=floats(scores.pearson),
        overlap=floats(scores.overlap),
        dy=floats(scores.dy),
        dx=floats(scores.dx),
        duplicate=np.ascontiguousarray(decision.duplicate, dtype=bool),
        uncertain=np.ascontiguousarray(decision.uncertain, dtype=bool),
        joint=floats(decision.joint),
        distance=None if distance is None else floats(distance),
    )
    return PairRows(header, encoding, names, columns)


def write_pairs_whole(paths: tuple[Path, Path], rows: PairRows, binning: int, psize: float) -> None:
    """pairs.csv at ``paths`` (final, temporary): its header here, its rows in the core.

    (Half a million rows, an ``--update`` round of a collection, took seconds here.)
    """
    with open(paths[1], "w", newline="", encoding=rows.encoding) as f:
        f.write(pair_header(rows))
    append_pair_rows(paths[1], rows, 0, binning, psize)


def pair_header(rows: PairRows) -> str:
    """pairs.csv's header line, as Python's csv module writes it."""
    head = io.StringIO()
    csv.writer(head).writerow(rows.header)
    return head.getvalue()


def append_pair_rows(path: Path, rows: PairRows, start: int, binning: int, psize: float) -> None:
    """The rows from ``start`` on appended to ``path``, by the core."""
    c = rows.columns.from_row(start)
    _core.append_pair_rows(
        str(path),
        rows.names,
        c.a,
        c.b,
        c.z,
        c.pearson,
        c.overlap,
        c.dy,
        c.dx,
        c.duplicate,
        c.uncertain,
        c.joint,
        c.distance,
        binning,
        psize,
    )


def written_by_subset(outputs: PreparedOutputs) -> Outputs:
    """The files a run writes, by subset: pairs, duplicates, kept, rejected, and the particles on each."""
    paths = [str(p) for p in outputs.paths]
    kept, rejected = (len(files) for _, files in outputs.subsets.items())
    subsets = {
        "pairs": paths[:1],
        "duplicates": paths[1:2],
        "kept": paths[2 : 2 + kept],
        "rejected": paths[2 + kept : 2 + kept + rejected],
    }
    particles = paths[2 + kept + rejected :]
    if particles:
        subsets |= {"particles_on_kept": particles[:1], "particles_on_rejected": particles[1:]}
    return Outputs.of(subsets)


#: What splits a line for a line reader (Python's ``splitlines``: CR, LF, VT, FF, FS, GS, RS, NEL, LS, PS).
LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
#: A file name's bytes that are not UTF-8, as Python holds them (``surrogateescape``).
NOT_UTF8 = re.compile("[\ud800-\udfff]")


def check_names_fit(names: Sequence[str]) -> None:
    r"""Refuses a micrograph name the outputs cannot hold: a line break (a list is read a line a name), or not UTF-8.

    Said with the name's bytes escaped (``a\nb.mrc``, ``f\xff.mrc``): the error stays one line.
    """
    for name in names:
        if LINE_BREAK.search(name):
            why = "holds a line break; pairs.csv, duplicates.csv and the micrograph lists hold one name a line"
        elif NOT_UTF8.search(name):
            why = "is not UTF-8 text, as the outputs are"
        else:
            continue
        shown = repr(os.fsencode(name))[2:-1]
        raise CryodedupError(f"{shown}: this micrograph's file name {why}; rename the file")


def _csv_field(text: str) -> str:
    """``text`` as one field of a row of Python's csv module (quoted where it must be; never an empty row's ``""``)."""
    if not text:
        return ""
    line = io.StringIO()
    csv.writer(line).writerow([text])
    return line.getvalue()[: -len("\r\n")]


def _subset_names(mics: Micrographs) -> Subsets[str]:
    """Output files of the kept and the rejected micrographs, in the input's format.

    One .cs per file of a CryoSPARC group (and a .csg), one STAR, or one list of paths.
    """
    if mics.group is not None:
        return Subsets(*(mics.group.output_names(stem) for stem in Subsets.STEMS))
    return Subsets(*([f"{stem}{'.star' if mics.kind == 'star' else '.txt'}"] for stem in Subsets.STEMS))


def _write_micrographs(mics: Micrographs, keep: np.ndarray, tmp: Subsets[Path], names: Subsets[str]) -> None:
    if mics.star is not None and mics.block is not None:
        mics.star.split_rows(mics.block, keep, tmp.micrographs_kept[0], tmp.micrographs_rejected[0])
        return
    for (_, files), (_, named), selected in zip(tmp.items(), names.items(), (keep, ~keep)):
        if mics.group is not None:
            mics.group.write_subset(selected, files, named)
        else:
            Path(files[0]).write_text("".join(f"{mics.names[i]}\n" for i in np.flatnonzero(selected)))


def _write_particles(
    source: ParticleNames,
    mics: Micrographs,
    keep: np.ndarray,
    targets: dict[Path, Path],
    outdir: Path,
    match_mode: str,
    log: Callable[[str, str], None],
) -> ParticleSplit:
    """Splits the ``--particles`` rows by their micrograph's fate; returns the summary's ``particles``.

    The particles are read by their format's reader for their micrographs alone and written
    by its subset writer, to ``targets``' temporary names. A particle's micrograph is found
    by CryoSPARC uid when the particles share uids with the exposures, else by name as
    ``--match-micrographs`` says (docs/developers/decisions/matching-micrographs.md).
    Particles on micrographs not among the inputs stay with the kept.
    """
    particles, writer = read_particle_names(source, outdir, PARTICLE_STEMS)
    on_rejected, known, matching = _particles_on_rejected(particles, mics, keep, match_mode, log)
    writer.write_into(~on_rejected, targets)
    return _particle_counts(on_rejected, known, matching)


def _particles_on_rejected(
    particles: ParticleSet, mics: Micrographs, keep: np.ndarray, match_mode: str, log: Callable[[str, str], None]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """For each particle: on a rejected micrograph, among the micrographs at all; how they were matched."""
    uids = particles.mic_uids
    if mics.uids is not None and uids is not None:
        known = np.isin(uids, mics.uids)
        if known.any() or not particles.named:
            return np.isin(uids, mics.uids[~keep]), known, {"mode": match_mode, "used": "CryoSPARC uid"}
    if not particles.named:
        raise CryodedupError(f"{particles.inputs[0]}: {NO_MICROGRAPH_FIELD}")
    on_rejected, known, matching = _on_rejected(mics, keep, particles.mic_names, match_mode, log)
    groups = particles.groups
    if not len(groups):
        return np.zeros(0, bool), np.zeros(0, bool), matching
    return on_rejected[groups], known[groups], matching


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


def _particle_counts(on_rejected: np.ndarray, known: np.ndarray, matching: dict) -> ParticleSplit:
    """The summary's ``particles``: how many went where, and how their micrographs were found."""
    return ParticleSplit(
        on_kept_micrographs=int(np.count_nonzero(~on_rejected & known)),
        on_rejected_micrographs=int(np.count_nonzero(on_rejected)),
        on_micrographs_not_in_input=int(np.count_nonzero(~known)),
        micrograph_matching=matching,
    )
