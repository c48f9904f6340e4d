"""Inputs in two frames: each pair's registration measured before deciding, and the user's transforms applied.

:func:`apply_transforms` moves the centres of the inputs ``--transform`` names (the rows
written stay the input's); :func:`check_registration` measures, for every pair of inputs
that share micrographs, how their picks register (:mod:`cryodedup.algo.registration`, on a
sample of whole micrographs), and refuses (``--registration check``) or warns (``warn``)
when a transform explains the pairs far better than the identity (docs/developers/decisions/registration.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ..algo import MAX_CENTRE
from ..algo.dedup import picks_per_group
from ..algo.registration import (
    Candidate,
    Displacements,
    Measurement,
    Transform,
    agreement,
    apply_steps,
    fires,
    measure,
    parse_steps,
    support_masks,
    vote_pairs,
)
from ..errors import CryodedupError, FramesError, one_line
from ..labels import counted, input_labels
from ..particle_set import KindsWriter, MovingSubsetWriter, ParticleSet, SubsetWriter, Warn
from ..report.sections.registration import (
    BestTransform,
    Fired,
    MovedBy,
    MovedInput,
    MovedInputs,
    Offset,
    RegisteredPair,
    Registration,
)
from .input_checks import check_registration_centres, particle_place

if TYPE_CHECKING:
    from .particles.plan import Distances, RegistrationCheck

__all__ = [
    "apply_transforms",
    "displacements",
    "input_named",
    "pair_registration",
    "registered",
]

#: Picks of each input measured per pair: whole micrographs drawn at random (a fixed seed) until both
#: inputs have this many, or either has :data:`SAMPLE_PICKS_MOST`.
SAMPLE_PICKS = 1500
SAMPLE_PICKS_MOST = 10 * SAMPLE_PICKS
#: Micrographs measured per pair, at most (sparse picks: the sample is whole micrographs).
SAMPLE_MICROGRAPHS = 200
#: The radius of agreement with ``--min-dist 0``: this many pixels.
RADIUS_PIXELS_AT_ZERO = 5.0


def input_named(text: str, particles: ParticleSet, flag: str) -> int:
    """The input ``text`` names: its name as the summary gives it, the same path, or its position from 1."""
    for k, name in enumerate(particles.inputs):
        if text == name or Path(text) == Path(name):
            return k
    if text.strip().isdigit() and 1 <= int(text) <= len(particles.inputs):
        return int(text) - 1
    listed = ", ".join(f"{k + 1}: {name}" for k, name in enumerate(particles.inputs))
    raise CryodedupError(
        f"{flag} {one_line(text)}: not one of the inputs; give its path as given or its position ({listed})"
    )


@dataclass(frozen=True)
class Moved:
    """One input's rows moved by ``--transform``: its place, the words given, its rows and how far each moved (Å)."""

    input: int
    ops: str
    rows: np.ndarray
    shift_A: np.ndarray


def apply_transforms(particles: ParticleSet, transform: list[str]) -> list[dict[str, str]]:
    """The centres of each input ``--transform`` names moved into the others' frame; what was applied, per input."""
    return [{"input": particles.inputs[m.input], "transform": m.ops} for m in move_inputs(particles, transform)]


def move_inputs(particles: ParticleSet, transform: list[str]) -> list[Moved]:
    """The centres of each input ``--transform`` names moved into the others' frame; each input's move."""
    if not transform:
        return []
    if len(particles.inputs) < 2:
        raise CryodedupError(
            "--transform moves one input into the frame of the others, and there is one input: for a wrong pixel "
            "size give --mic-psize"
        )
    applied: dict[int, Moved] = {}
    centres = np.array(particles.centres, dtype=np.float64)
    for text in transform:
        target, _, ops = text.rpartition("=")
        k = input_named(target, particles, "--transform")
        if k in applied:
            raise CryodedupError(
                f"--transform {one_line(text)}: {particles.inputs[k]} is given a transform twice; join them with +"
            )
        rows = np.flatnonzero(particles.input_of == k)
        steps = parse_steps(ops)
        psize = np.asarray(particles.psize)[rows][:, None]
        # (centres read in Å have no pixel, NaN: the registration names their transform in Å, pixels of 1 Å)
        psize = np.where(np.isnan(psize), 1.0, psize)
        sizes = None
        if any(s.op == "mirror" and not s.values for s in steps):
            sizes = _micrograph_sizes(particles, rows, text)
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # (an overflow: refused below, naming the particle)
                moved = apply_steps(steps, centres[rows] / psize, sizes) * psize
        except ValueError as err:
            raise CryodedupError(f"--transform {one_line(text)}: {err}") from None
        _refuse_moved_too_far(text, particles, k, moved)
        applied[k] = Moved(k, ops, rows, moved - centres[rows])
        centres[rows] = moved
    particles.centres = centres
    return [applied[k] for k in sorted(applied)]


def _refuse_moved_too_far(text: str, particles: ParticleSet, k: int, moved: np.ndarray) -> None:
    """Refuses a transform that moves a centre of input ``k`` beyond ±1e150 Å or to infinity, naming the first."""
    bad = ~(np.abs(moved) <= MAX_CENTRE).all(axis=1)  # (NaN: not within)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CryodedupError(
            f"{particle_place(particles, k, row)}: --transform {one_line(text)} moves it to {moved[row].tolist()} Å, "
            "beyond ±1e150 Å, where squared distances overflow: give the shift in the input's pixels, the scale as a "
            "ratio of pixel sizes"
        )


def refuse_transform_into_combined_output(particles: ParticleSet, transform: list[str], audit: bool) -> None:
    """Refuses ``--transform`` of an input whose rows go into one file with other inputs' rows, not moved.

    Before anything is read further or written: that file would hold two frames. Outputs
    written per input keep the input's rows as read; a writer that moves them (``move_rows``)
    writes them in the others' frame.
    """
    if not transform or audit or particles.writer is None:
        return
    for text in transform:
        k = input_named(text.rpartition("=")[0], particles, "--transform")
        why = _why_not_moved(particles, k)
        if why is not None:
            raise CryodedupError(f"--transform {one_line(text)}: {why}")


def _writer_of(particles: ParticleSet, k: int) -> tuple[SubsetWriter | None, np.ndarray]:
    """The writer of input ``k``'s rows (its kind's, in a set joined from two kinds), and its rows there."""
    rows = np.flatnonzero(np.asarray(particles.input_of) == k)
    if isinstance(particles.writer, KindsWriter):
        return particles.writer.writer_of(rows)
    return particles.writer, rows


def _combined(writer: SubsetWriter | None) -> bool:
    """Whether the writer puts several inputs' rows in one file (pickers' own formats, per-input files, do not)."""
    return writer is not None and getattr(writer, "combines_inputs", True)


def _why_not_moved(particles: ParticleSet, k: int) -> str | None:
    """Why input ``k``'s rows cannot be written moved (None: they can, or are written apart, as read)."""
    writer, _ = _writer_of(particles, k)
    if not _combined(writer) or hasattr(writer, "move_rows"):
        return None
    name = particles.inputs[k]
    into = getattr(writer, "kept_path", None)
    where = f" ({into.name})" if isinstance(into, Path) else ""
    return (
        f"{name}'s rows are written into one file with the other inputs'{where}, copied as read (this format's "
        f"coordinates are not rewritten), so that file would hold two frames; convert {name}'s coordinates first, "
        "or give --audit"
    )


def write_moved(particles: ParticleSet, audit: bool, moved: list[Moved]) -> MovedInputs | None:
    """Each moved input's rows handed to the writer, moved where one file combines the inputs; the summary's words.

    Per-input outputs (a picker's own format) keep each input's rows byte for byte as read: each
    file holds one frame, the input's. A combined file holds the moved coordinates (every other
    field as read), in the frame of the others, which is what Extract must read.
    """
    if not moved:
        return None
    written = {}
    for m in moved:
        writer, rows = _writer_of(particles, m.input)
        if audit or writer is None:
            written[m.input] = "nothing written"
        elif not _combined(writer):
            written[m.input] = KindsWriter.AS_READ
        else:
            psize = np.asarray(particles.psize)[m.rows]
            mover = cast(MovingSubsetWriter, writer)  # (refuse_transform_into_combined_output: it moves)
            written[m.input] = mover.move_rows(rows, m.shift_A, psize)
    return MovedInputs(tuple(MovedInput(particles.inputs[m.input], m.ops, written[m.input]) for m in moved))


def _micrograph_sizes(particles: ParticleSet, rows: np.ndarray, text: str) -> np.ndarray:
    """Each row's micrograph size in pixels (nx, ny), for a mirror given without its width; refused where unknown."""
    shapes = particles.mic_shapes
    groups = np.asarray(particles.groups)[rows]
    missing = [g for g in np.unique(groups) if int(g) not in shapes]
    if missing:
        raise CryodedupError(
            f"--transform {one_line(text)}: a mirror without its width needs the micrographs' sizes, unknown for "
            f"{particles.mic_names[int(missing[0])]}; give the width in pixels (mirror-x:4096)"
        )
    table = np.zeros((len(particles.mic_names), particles.centres.shape[1]))
    for g, (ny, nx) in shapes.items():
        table[g, :2] = (nx, ny)
    return table[groups]


def registration_radius(particles: ParticleSet, min_dist: float) -> float:
    """The radius of agreement in Å: the minimum distance (``--min-dist``, or a species' own), or a few pixels at 0."""
    if min_dist > 0:
        return float(min_dist)
    return RADIUS_PIXELS_AT_ZERO * float(np.median(np.asarray(particles.psize)[:1000]))


def registered(
    particles: ParticleSet,
    check: RegistrationCheck,
    distances: Distances,
    warn: Warn,
    shift_aware: Callable[[], ParticleSet] | None = None,
) -> tuple[Registration | None, MovedInputs | None]:
    """The inputs' registration checked and ``--transform`` applied: the summary's ``registration`` and ``transforms``.

    The particle job calls it for several inputs, or a ``--transform`` (refused for one input here).
    """
    transforms = list(check.transforms)
    refuse_transform_into_combined_output(particles, transforms, check.audit)
    moved = move_inputs(particles, transforms)
    registration = check_registration(particles, check, distances, moved, warn, shift_aware)
    return registration, write_moved(particles, check.audit, moved)


def check_registration(
    particles: ParticleSet,
    check: RegistrationCheck,
    distances: Distances,
    applied: list[Moved],
    warn: Warn,
    shift_aware: Callable[[], ParticleSet] | None = None,
) -> Registration | None:
    """Each pair of inputs' registration measured; a transform that fires refused (check) or said (warn).

    Returns the summary's ``registration`` (None with one input, ``--registration ignore`` or
    no micrograph shared). ``shift_aware``: the inputs read again with their origins subtracted,
    for ``--shift-key none``: pairs not in one frame that are once their origins are subtracted
    are refused (said) as such, naming the shift-aware key, never a transform.
    """
    n_inputs = len(particles.inputs)
    if n_inputs < 2 or check.mode == "ignore" or particles.decided is not None:
        return None
    check_registration_centres(particles)
    pairs: list[RegisteredPair] = []
    measured: list[str] = []  # (each pair's measurement as a refusal says it; "" where none fired)
    at_zero: list[_Sampled] = []  # (pairs in one frame measured for --min-dist 0: are their copies at one centre?)
    for part, a, b, shared, counts, radius, species in _shared_pairs(particles, distances):
        entry, words = _pair_entry(part, a, b, shared, counts, radius)
        measured.append(words)
        pairs.append(replace(entry, species=species))
        if entry.frames in ("one", "cannot tell") and _distance_of(particles, distances, species) == 0:
            at_zero.append(_Sampled(part, a, b, shared, counts, radius))
    if not pairs:
        return None
    radii = {p.radius_A for p in pairs}
    summary = Registration(
        mode=check.mode,
        pairs=tuple(pairs),
        radius_A=radii.pop() if len(radii) == 1 else None,
        transforms_applied=tuple(MovedBy(particles.inputs[m.input], m.ops) for m in applied),
    )
    _refuse_per_particle_origins(particles, check, distances.base.min_dist, pairs, shift_aware, warn)
    _refuse_copies_off_centre(particles, check, at_zero, warn)
    fired = [p for p in pairs if p.frames == "two"]
    if fired:
        if check.mode == "check":
            fix = _fix_words(particles, check.audit, fired, said=False)
            found = "; ".join(words for words in measured if words)
            raise FramesError(f"{fix}, or --registration warn to merge them as they are. Measured: {found}")
        message = "; ".join(_fired_of(p).message for p in fired)
        fix = _fix_words(particles, check.audit, fired, said=True)
        warn(f"{message}; merged as they are (--registration warn). To merge them in one frame: {fix}")
    return summary


def _refuse_per_particle_origins(
    particles: ParticleSet,
    check: RegistrationCheck,
    min_dist: float,
    pairs: list[RegisteredPair],
    shift_aware: Callable[[], ParticleSet] | None,
    warn: Warn,
) -> None:
    """Pairs apart under ``--shift-key none`` and in one frame with their origins: refused (said), naming the key.

    Each copy's offset is then its own origin (a re-extraction with --recenter of a refined set):
    no transform undoes that, and the default key subtracts them.
    """
    # (read again only where the picks pair but not as one frame: per-pick offsets show as a transform that
    # fires, none that fits, or an offset measured loosely; never for unrelated inputs)
    apart = [p for p in pairs if p.frames == "two" or p.cannot_tell in ("no one transform", "offset uncertain")]
    if check.shift_key != "none" or shift_aware is None or not apart:
        return
    aware = shift_aware()
    if aware.shift == "none" or aware.inputs != particles.inputs:
        return
    radius = registration_radius(aware, min_dist)
    found = []
    for p in apart:
        a, b = (aware.inputs.index(name) for name in p.inputs)
        again = pair_registration(aware, a, b, radius)
        if again is not None and again.frames == "one":
            found.append((p, again))
    if not found:
        return
    words = "; ".join(
        f"{_two_frames(particles, [p]).replace('are in two frames', 'differ by their own per-particle origins')} "
        f"(agreement {p.jaccard_identity:.3f} as read, {again.jaccard_identity:.3f} with their origins "
        "subtracted)"
        for p, again in found
    )
    fix = f"drop --shift-key none (the default, --shift-key auto, subtracts each particle's {aware.shift})"
    if min_dist == 0 and all(_at_one_centre(aware, p.inputs, radius) for p, _ in found):
        # (RELION's re-extraction keeps each origin's remainder: subtracted, the copies coincide, and 0 pairs them)
        fix += ", and the copies then lie at one centre, which --min-dist 0 pairs"
    elif min_dist == 0:  # (identical centres: a re-extraction that zeroes the origins rounds each to a whole pixel)
        pixel = math.ceil(float(np.nanmax(np.asarray(aware.psize))) * 100) / 100
        fix += (
            f" and give --min-dist {pixel:g} (a re-extraction moves each centre by its origin rounded to a whole "
            "pixel, so the copies lie within a pixel, not at the same centre)"
        )
    if check.mode == "check":
        raise FramesError(f"{words}: no transform undoes that; {fix}, or --registration warn to merge them as they are")
    warn(f"{words}; merged as they are (--registration warn). To merge the copies as one: {fix}")


@dataclass(frozen=True)
class _Sampled:
    """A pair of inputs measured (``part``'s ``a`` and ``b``), with what drawing its sample again takes."""

    part: ParticleSet
    a: int
    b: int
    shared: np.ndarray
    counts: np.ndarray
    radius: float


def _distance_of(particles: ParticleSet, distances: Distances, species: str | None) -> float:
    """The minimum distance the pair's picks are decided at: the species' own, else ``--min-dist``."""
    if species is None:
        return distances.base.min_dist
    return distances.by_species[particles.species_names.index(species)]


def _refuse_copies_off_centre(
    particles: ParticleSet, check: RegistrationCheck, at_zero: list[_Sampled], warn: Warn
) -> None:
    """At ``--min-dist 0``: pairs whose copies lie within a pixel, not at one centre, refused (said), naming a pixel.

    A re-extraction that recentres each particle by its origin rounded to a whole pixel and zeroes
    the origin (RELION keeps the remainder as the new origin, and its copies then share a centre)
    moves each copy off its source by up to half a pixel a side: ``--min-dist 0`` then pairs none
    and keeps both copies of every particle, in a run the registration alone calls one frame.
    """
    found = [off for off in (_off_centre(particles, s) for s in at_zero) if off is not None]
    if not found:
        return
    words = (
        f"{'; '.join(words for words, _ in found)}: --min-dist 0 pairs only copies at one centre, so it would keep "
        "both of each (a re-extraction that zeroes each origin moves its centre by the origin rounded to a whole pixel)"
    )
    fix = f"give --min-dist {max(pixel for _, pixel in found):g} in place of --min-dist 0"
    if check.mode == "check":
        raise FramesError(f"{words}: {fix}, or --registration warn to keep them as they are")
    warn(f"{words}; kept as they are (--registration warn). To merge the copies as one: {fix}")


def _at_one_centre(particles: ParticleSet, inputs: tuple[str, str], radius: float) -> bool:
    """Whether most copies of the two inputs that pair within ``radius`` lie at one centre (0.001 Å), on the sample."""
    a, b = (particles.inputs.index(name) for name in inputs)
    counts = picks_per_group(particles.input_of, particles.groups, len(particles.mic_names), len(particles.inputs))
    shared = np.flatnonzero((counts[:, a] > 0) & (counts[:, b] > 0))
    rows_a, rows_b, mics = _sample(particles, a, b, shared, counts)
    ca, ga, cb, gb = _sampled(particles, rows_a, rows_b, mics)
    near, same = (agreement(gb, ca, ga, cb, reach)[1] for reach in (radius, 0.0))
    return near > 0 and 2 * same >= near


def _off_centre(particles: ParticleSet, s: _Sampled) -> tuple[str, float] | None:
    """What the pair's copies within a pixel, most not at one centre, say, and that pixel (Å, rounded up); else None.

    Measured on the registration's sample: the picks paired within its radius, a pixel, and at
    one centre (the minimum distance 0's, 0.001 Å).
    """
    rows_a, rows_b, mics = _sample(s.part, s.a, s.b, s.shared, s.counts)
    ca, ga, cb, gb = _sampled(s.part, rows_a, rows_b, mics)
    sizes = np.asarray(s.part.psize)[np.r_[rows_a, rows_b]]
    sizes = sizes[np.isfinite(sizes)]
    if not len(sizes):  # (centres read in Å, copick's: no pixel to name)
        return None
    pixel = math.ceil(float(sizes.max()) * 100) / 100
    near, within, same = (agreement(gb, ca, ga, cb, radius)[1] for radius in (s.radius, pixel, 0.0))
    if not (2 * within >= near > 0 and 2 * same < within):
        return None
    labels = input_labels(particles.inputs)
    a, b = labels[s.a], labels[s.b]
    return (
        f"{b} and {a} hold copies within a pixel of each other but not at one centre ({within:,.0f} of "
        f"{min(len(ca), len(cb)):,} picks measured lie within {pixel:g} Å of a copy, {same:,.0f} at its centre)",
        pixel,
    )


def _fired_of(pair: RegisteredPair) -> Fired:
    """What a pair in two frames says (a pair is in two frames only where a transform fires)."""
    assert pair.fired is not None, "two frames: a transform that fires"
    return pair.fired


def _fix_words(particles: ParticleSet, audit: bool, fired: list[RegisteredPair], said: bool) -> str:
    """How to apply the transforms found: ``--transform`` (either input moved, each naming the outputs' frame).

    Unless these outputs would refuse the move: then why, and the move under ``--audit``.
    ``said``: the pairs in two frames are said already (a warning's words), else each fix follows its pair.
    """
    refused = [] if audit else [particles.inputs.index(p.inputs[1]) for p in fired]
    why = next((w for w in (_why_not_moved(particles, k) for k in refused) if w is not None), None)
    if why is None:
        moves = [_either_move(particles, p) for p in fired]
        pairs = [""] * len(fired) if said else [f"{_two_frames(particles, [p])}: " for p in fired]
        return "; ".join(pair + move for pair, move in zip(pairs, moves))
    fixes = " ".join(_fired_of(p).fix for p in fired)
    head = "" if said else f"{_two_frames(particles, fired)}: "
    return f"{head}{why} (to see the merge: {fixes} --audit, which writes nothing)"


def _either_move(particles: ParticleSet, pair: RegisteredPair) -> str:
    """A fired pair's two fixes: the second input moved into the first's frame, or the first into the second's.

    The picks cannot tell which frame is right, and the outputs lie in the frame of the input not
    moved: each fix names it.
    """
    a, b = _labels(particles, pair)
    fired = _fired_of(pair)
    return f"add {fired.fix} (outputs in {a}'s frame) or {fired.fix_other} (outputs in {b}'s)"


def _two_frames(particles: ParticleSet, fired: list[RegisteredPair]) -> str:
    """``B and A are in two frames``, the inputs as the summary labels them, for each fired pair."""
    pairs = [_labels(particles, p) for p in fired]
    return "; ".join(f"{b} and {a} are in two frames" for a, b in pairs)


def _labels(particles: ParticleSet, pair: RegisteredPair) -> tuple[str, str]:
    """The pair's inputs (a, b) as the summary labels them: their paths cut to the depth that tells them apart."""
    labels = dict(zip(particles.inputs, input_labels(particles.inputs)))
    return labels[pair.inputs[0]], labels[pair.inputs[1]]


def _measured_parts(particles: ParticleSet, distances: Distances) -> Iterator[tuple[ParticleSet, float, str | None]]:
    """The picks measured together, their radius, their species: each species at its own minimum distance.

    Picks of different species are never measured against each other (their agreement means nothing).
    """
    if particles.species is None:
        yield particles, registration_radius(particles, distances.base.min_dist), None
        return
    species = np.asarray(particles.species)
    for s, distance in enumerate(distances.by_species):
        rows = np.flatnonzero(species == s)
        if len(rows):
            part = particles.rows(rows)
            yield part, registration_radius(part, distance), particles.species_names[s]


def pair_registration(particles: ParticleSet, a: int, b: int, radius: float) -> RegisteredPair | None:
    """Inputs ``a`` and ``b``'s registration as the summary gives each pair; None if they share no micrograph."""
    counts = picks_per_group(particles.input_of, particles.groups, len(particles.mic_names), len(particles.inputs))
    shared = np.flatnonzero((counts[:, a] > 0) & (counts[:, b] > 0))
    return _pair_entry(particles, a, b, shared, counts, radius)[0] if len(shared) else None


def displacements(particles: ParticleSet, distances: Distances) -> list[Displacements]:
    """Each measured pair's voters' displacements, as the registration picture draws them (``--plot``).

    Measured again on the same seeded sample as the summary's (a few milliseconds a pair).
    """
    return [_pair_displacements(*pair) for pair in _shared_pairs(particles, distances)]


def _shared_pairs(
    particles: ParticleSet, distances: Distances
) -> Iterator[tuple[ParticleSet, int, int, np.ndarray, np.ndarray, float, str | None]]:
    """Each pair of inputs (a < b) measured together, with what measuring it takes.

    Their picks, the micrographs they share, the picks of each input on each micrograph, the
    radius and the species.
    """
    n_inputs = len(particles.inputs)
    for part, radius, species in _measured_parts(particles, distances):
        counts = picks_per_group(part.input_of, part.groups, len(part.mic_names), n_inputs)
        present = counts > 0
        for a in range(n_inputs):
            for b in range(a + 1, n_inputs):
                shared = np.flatnonzero(present[:, a] & present[:, b])
                if len(shared):
                    yield part, a, b, shared, counts, radius, species


def _pair_displacements(
    particles: ParticleSet,
    a: int,
    b: int,
    shared: np.ndarray,
    counts: np.ndarray,
    radius: float,
    species: str | None,
) -> Displacements:
    rows_a, rows_b, mics = _sample(particles, a, b, shared, counts)
    ca, ga, cb, gb = _sampled(particles, rows_a, rows_b, mics)
    m = _measured(particles, ca, ga, cb, gb, radius, mics)
    i, j = vote_pairs(ga, gb, len(mics), dims=ca.shape[1])
    labels = input_labels(particles.inputs)
    label = f"{labels[b]} / {labels[a]}" + (f" ({species})" if species else "")
    best, moved, shift = m.best.transform if m.best else None, None, None
    if best is not None and best.kind(1.0) not in ("identity", "translation"):
        moved = ca[i] - (cb @ best.linear_only.T)[j]
    if best is not None and fires(m):
        shift = best.shift
    words = "no transform found" if best is None else f"best: {best.kind(1.0)}" + ("" if fires(m) else " (not fired)")
    return Displacements(label, radius, ca[i] - cb[j], moved, shift, words)


def _sampled(
    particles: ParticleSet, rows_a: np.ndarray, rows_b: np.ndarray, mics: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sampled picks' centres and micrographs (numbered from 0 over the sample's), of a and of b."""
    centres = np.asarray(particles.centres)
    local = np.searchsorted(mics, np.asarray(particles.groups)[np.r_[rows_a, rows_b]])
    return centres[rows_a], local[: len(rows_a)], centres[rows_b], local[len(rows_a) :]


def _pair_entry(
    particles: ParticleSet, a: int, b: int, shared: np.ndarray, counts: np.ndarray, radius: float
) -> tuple[RegisteredPair, str]:
    """The registration of inputs ``a`` and ``b`` measured on a sample of the micrographs they share.

    ``counts``: the picks of each input on each micrograph. With the summary's entry, what a
    refusal says was measured where a transform fires (else "").
    """
    rows_a, rows_b, mics = _sample(particles, a, b, shared, counts)
    ca, ga, cb, gb = _sampled(particles, rows_a, rows_b, mics)
    pixel = float(np.median(np.asarray(particles.psize)[rows_b]))  # (NaN: centres read in Å, copick's)
    psize_b = pixel if np.isfinite(pixel) else 1.0  # (the transform's words then in Å)
    m = _measured(particles, ca, ga, cb, gb, radius, mics)
    entry = RegisteredPair(
        inputs=(particles.inputs[a], particles.inputs[b]),
        radius_A=round(radius, 3),
        measured_at_A=round(m.radius, 3),
        micrographs_shared=len(shared),
        micrographs_measured=len(mics),
        picks_measured=(int(m.picks[0]), int(m.picks[1])),
        jaccard_identity=round(m.identity.jaccard, 4),
        jaccard_chance=round(m.chance.jaccard, 4),
        frames=m.verdict,
        offset=None if m.translation is None else _offset_entry(m.translation, pixel),
        cannot_tell=m.reason if m.verdict == "cannot tell" else None,
        best_transform=None if m.best is None else _transform_entry(m.best, pixel),
    )
    if fires(m):
        pixel_a = float(np.median(np.asarray(particles.psize)[rows_a]))
        fired, measured = _fired(
            particles, a, b, shared, radius, m, (psize_b, pixel_a if np.isfinite(pixel_a) else 1.0)
        )
        if _no_fix(fired):
            return replace(entry, frames="one"), ""
        return replace(entry, fired=fired), measured
    return entry, ""


def _no_fix(fired: Fired) -> bool:
    """Whether a transform found is no second frame for the user: within a pixel of the identity, or helping nowhere.

    An offset under half a pixel (a re-extraction's rounded origins) has no ``--transform`` that
    says it, and one that raises the agreement on none of the shared micrographs fixes nothing:
    the pair is in one frame at the pixel, as the distance asked pairs it.
    """
    return fired.fix.endswith("=identity'") or fired.micrographs_held == 0


def _measured(
    particles: ParticleSet,
    ca: np.ndarray,
    ga: np.ndarray,
    cb: np.ndarray,
    gb: np.ndarray,
    radius: float,
    mics: np.ndarray,
) -> Measurement:
    """The sampled picks' registration, measured down to a few pixels (:data:`RADIUS_PIXELS_AT_ZERO`) where dense."""
    psize = float(np.median(np.asarray(particles.psize)[:1000]))
    least = RADIUS_PIXELS_AT_ZERO * (psize if np.isfinite(psize) else 1.0)
    return measure(ca, ga, cb, gb, radius, _areas(particles, mics, ca, ga, cb, gb), least=least)


def _sample(
    particles: ParticleSet, a: int, b: int, shared: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``a`` and ``b`` on whole micrographs drawn at random (seeded) until they have their sample."""
    order = np.random.default_rng(0).permutation(shared)[:SAMPLE_MICROGRAPHS]
    sum_a, sum_b = np.cumsum(counts[order, a]), np.cumsum(counts[order, b])
    enough = (np.minimum(sum_a, sum_b) >= SAMPLE_PICKS) | (np.maximum(sum_a, sum_b) >= SAMPLE_PICKS_MOST)
    mics = np.sort(order[: int(np.argmax(enough)) + 1] if enough.any() else order)
    chosen = np.zeros(len(particles.mic_names), dtype=bool)
    chosen[mics] = True
    rows = np.flatnonzero(chosen.take(np.asarray(particles.groups)))  # (take: a gather, no fancy-index iterator)
    inputs = np.asarray(particles.input_of)[rows]
    return rows[inputs == a], rows[inputs == b], mics


def _areas(
    particles: ParticleSet, mics: np.ndarray, ca: np.ndarray, ga: np.ndarray, cb: np.ndarray, gb: np.ndarray
) -> np.ndarray:
    """Each micrograph's area in Å² (volume in Å³): from its size where known, else its picks' extent."""
    dims = ca.shape[1]
    both, groups = np.concatenate([ca, cb]), np.concatenate([ga, gb])
    order = np.argsort(groups, kind="stable")  # (reduceat by micrograph: ufunc.at costs ~1k instructions a pick)
    starts = np.searchsorted(groups[order], np.arange(len(mics)))
    held = starts < len(order)
    extent = np.zeros((len(mics), dims))
    ordered = both[order]
    extent[held] = np.maximum.reduceat(ordered, starts[held]) - np.minimum.reduceat(ordered, starts[held])
    areas = np.prod(np.maximum(extent, 0), axis=1)
    psize = float(np.median(np.asarray(particles.psize)[:1000]))
    for k, g in enumerate(mics):
        shape = particles.mic_shapes.get(int(g))
        if shape is not None and dims == 2:
            areas[k] = max(areas[k], shape[0] * shape[1] * psize * psize)
    return areas


def _transform_entry(candidate: Candidate, psize: float) -> BestTransform:
    """A transform as the summary gives it: its kind, ``--transform``'s words (pixels), its shift in Å, their errors.

    ``psize`` NaN: centres read in Å (copick's), the words in Å and no pixel lengths.
    """
    transform = candidate.transform
    words = psize if np.isfinite(psize) else 1.0
    pixels = np.isfinite(psize)  # (no pixel for coordinates read in Å, copick's: null rather than NaN)
    entry = BestTransform(
        kind=transform.kind(words),
        transform=transform.spec(words),
        scale=round(transform.scale, 4),
        shift_A=_rounded(transform.shift),
        shift_px=_rounded(transform.shift / psize) if pixels else None,
        jaccard=round(candidate.jaccard, 4),
    )
    if candidate.error is not None and np.isfinite(candidate.error).all():
        entry = replace(
            entry,
            shift_error_A=_rounded(candidate.error),
            shift_error_px=_rounded(candidate.error / psize) if pixels else None,
            scale_error=round(candidate.scale_error, 5) if transform.scale != 1 else None,
            pairs=candidate.pairs,
        )
    return entry


def _offset_entry(offset: Candidate, psize: float) -> Offset:
    """The offset measured between the picks as read (one to one), with its standard error and the pairs behind it."""
    pixels = np.isfinite(psize)  # (NaN: centres read in Å, copick's: no pixel lengths, null)
    shift = offset.transform.shift
    error = offset.error if offset.error is not None and np.isfinite(offset.error).all() else None
    return Offset(
        shift_A=_rounded(shift),
        shift_px=_rounded(shift / psize) if pixels else None,
        pairs=offset.pairs,
        error_A=None if error is None else _rounded(error),
        error_px=_rounded(error / psize) if error is not None and pixels else None,
    )


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    """Lengths to 2 decimals, as the summary gives them."""
    return tuple(round(float(v), 2) for v in values)


def _plus_minus(values: np.ndarray, errors: np.ndarray | None, scale: float = 1.0) -> str:
    """Values with their standard errors: ``-64.0 ± 0.1, +128.0 ± 0.1``."""
    if errors is None or not np.isfinite(errors).all():
        return ", ".join(f"{v / scale:+.1f}" for v in values)
    return ", ".join(f"{v / scale:+.1f} ± {e / scale:.1f}" for v, e in zip(values, errors))


def _fired(
    particles: ParticleSet,
    a: int,
    b: int,
    shared: np.ndarray,
    radius: float,
    m: Measurement,
    psizes: tuple[float, float],
) -> tuple[Fired, str]:
    """What a transform that fires says: on how many shared micrographs it holds, the message and the fixes.

    Its agreement before and after is counted at the radius measured at, or at half an offset's
    length when that is less. ``psizes``: b's and a's pixel sizes, the words' units (1: Å). The
    fix moves b into a's frame; ``fix_other``, its inverse, a into b's: the outputs lie in the
    frame of the input not moved, and which is the right one the picks cannot tell.
    """
    psize, psize_a = psizes
    assert m.best is not None
    transform = m.best.transform
    if transform.kind(1.0) == "translation":
        # (an offset within the radius pairs the picks at it either way: shown at half the offset, where it tells)
        radius = min(m.radius, float(np.linalg.norm(transform.shift)) / 2)
    else:
        radius = m.radius
    held, before, agreement_after = _holds_on(particles, a, b, shared, radius, transform)
    name_a, name_b = particles.inputs[a], particles.inputs[b]
    spec = transform.spec(psize)
    where = f"{held:,} of {counted(len(shared), 'shared ' + _place(particles))}"
    moved_by = f"after {spec}{_spec_meaning(particles, b, m.best, spec, psize)}"
    agreement = f"from {before:.3f} to {agreement_after:.3f}"
    measured = (
        f"{moved_by}, which raises the agreement (the picks with a partner within {round(radius, 1):g} Å, counted on "
        f"the side with fewer, over the union of both sets) on {where}, {agreement}"
    )
    entry = Fired(
        micrographs_held=held,
        jaccard_before=round(before, 4),
        jaccard_after=round(agreement_after, 4),
        message=f"{name_b} and {name_a} are in two frames: {name_b}'s picks meet {name_a}'s {measured}",
        fix=f"--transform '{name_b}={spec}'",
        fix_other=f"--transform '{name_a}={transform.inverse().spec(psize_a)}'",
    )
    return entry, f"{moved_by}, the agreement within {round(radius, 1):g} Å rises {agreement} on {where}"


def _place(particles: ParticleSet) -> str:
    """What the set's micrographs are called: a copick project's runs, tomograms, micrographs."""
    if "copick" in particles.summary:
        return "run"
    return "tomogram" if particles.centres.shape[1] == 3 else "micrograph"


def _spec_meaning(particles: ParticleSet, b: int, best: Candidate, spec: str, psize: float) -> str:
    """What ``--transform``'s words of a transform mean, in parentheses: their unit, and an offset in Å with its errors.

    Nothing for words without a length (``swap``); the offset only where the words hold one
    (a mirror's is its width).
    """
    if not any(c.isdigit() for c in spec):
        return ""
    read_in_angstrom = not np.isfinite(np.asarray(particles.psize)[np.asarray(particles.input_of) == b]).any()
    unit = "in Å" if read_in_angstrom else f"in pixels of {psize:g} Å"
    transform = best.transform
    if "shift:" not in spec or any(transform.mirrored):
        return f" ({unit})"
    return f" ({unit}: an offset of {_plus_minus(transform.shift, best.error)} Å)"


def _holds_on(
    particles: ParticleSet, a: int, b: int, shared: np.ndarray, radius: float, transform: Transform
) -> tuple[int, float, float]:
    """On all micrographs ``a`` and ``b`` share: on how many the transform raises the agreement; it before, after."""
    chosen = np.zeros(len(particles.mic_names), dtype=bool)
    chosen[shared] = True
    groups = np.asarray(particles.groups)
    rows = np.flatnonzero(chosen[groups])
    inputs = np.asarray(particles.input_of)[rows]
    rows_a, rows_b = rows[inputs == a], rows[inputs == b]
    ga, gb = np.searchsorted(shared, groups[rows_a]), np.searchsorted(shared, groups[rows_b])
    centres = np.asarray(particles.centres)
    ca, cb = centres[rows_a], centres[rows_b]
    per_before, before = _per_micrograph(ca, ga, cb, gb, radius, len(shared))
    per_after, after = _per_micrograph(ca, ga, transform.apply(cb), gb, radius, len(shared))
    return int(np.count_nonzero(per_after > per_before)), before, after


def _per_micrograph(
    ca: np.ndarray, ga: np.ndarray, cb: np.ndarray, gb: np.ndarray, radius: float, n: int
) -> tuple[np.ndarray, float]:
    """The agreement of the two sets on each micrograph (0 where neither has a pick) and over all, as ``agreement``."""
    masks = support_masks(np.concatenate([ga, gb]), np.concatenate([ca, cb]), len(ca), radius)
    m_ab = np.bincount(ga, weights=(masks[: len(ca)] & 2) > 0, minlength=n)
    m_ba = np.bincount(gb, weights=(masks[len(ca) :] & 1) > 0, minlength=n)
    size = np.bincount(ga, minlength=n) + np.bincount(gb, minlength=n)
    shared = np.minimum(m_ab, m_ba)
    union = size - shared
    overall = min(m_ab.sum(), m_ba.sum())
    return np.where(union > 0, shared / np.maximum(union, 1), 0.0), float(overall / max(size.sum() - overall, 1))
