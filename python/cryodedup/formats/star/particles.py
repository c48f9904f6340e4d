"""RELION particle STAR files (3.0 to 5), and RELION particle tables in memory, read into a ParticleSet.

Centres are computed in Å as docs/design.md section 2 defines them (the origin is subtracted;
RELION 3.0 origins are in particle pixels), with the micrograph pixel size taken per optics
group and never from ``rlnImagePixelSize`` (``pixel_sizes``). The columns are chosen in
``particle_table``; kept and rejected particles are written by ``particle_writer``, as byte
copies of the input rows. Several inputs are read as one set, written as one kept and one
rejected file (each input to files of its own where their columns differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import cryodedup._core as _core

from ... import signals
from ...algo.audit import read_halves
from ...algo.filaments import tube_ids
from ...algo.priority import has_none_scores
from ...errors import CryodedupError, InputFileError
from ...labels import distinct_labels
from ...outputs import write_error
from ...particle_set import (
    HalfSets,
    Images,
    Log,
    ParticleNames,
    ParticleSet,
    PlacedSubsetWriter,
    PsizeFrom,
    Warn,
    pixel_size_of_rows,
)
from ...paths import StrPath
from ...resolve.datasets import Identity, optics_identity
from ..micrograph_lists import stated_pixel_sizes
from ..read_request import input_scale
from .copies import expanded_copies
from .file import Table
from .micrographs import micrograph_pixel_sizes
from .particle_table import (
    ANGLES,
    HALF_TEXTS,
    IMAGE_NAME,
    MICROGRAPH_NAME,
    RANDOM_SUBSET,
    RELION_TUBE,
    BlocksFollowParticles,
    Needs,
    ParticleStar,
    check_angle_ranges,
    choose_columns,
    level_scores,
    merged_columns,
    score_column,
    score_columns,
)
from .particle_writer import AskOnePass, Split, StarWriter, renumbered_optics_groups, start_split, write_headers
from .pixel_sizes import (
    centres_in_angstrom,
    mic_psize_source,
    micrographs_list,
    pixel_size_plan,
    pixel_sizes_used,
    row_pixel_sizes,
)
from .tomograms import (
    CORNER,
    Tomograms,
    coordinate_frame,
    corner_inputs,
    star_layout,
    tomograms_star,
    typed_tomogram_psize,
)
from .tomography import SUBTOMOGRAM_ANGLES, origin_vectors, subtomogram_rotated, tomogram_poses

if TYPE_CHECKING:
    from ..read_request import RowRead, Scale, ScoreRead

__all__ = ["read_frame", "read_micrograph_names", "read_star_files"]

#: How the summary names the poses compared: the particles' own angles, or RELION 5's pose in the tomogram.
PARTICLE_POSE = "rlnAngleRot/Tilt/Psi"
TOMOGRAM_POSE = "rlnTomoSubtomogramRot/Tilt/Psi x rlnAngleRot/Tilt/Psi, the pose in the tomogram"

#: A pandas DataFrame. pandas is not a dependency (only users with tables in memory have
#: it), so it is not imported, even for type checking.
DataFrame = Any


def _scan_input(
    part: ParticleStar,
    score_label: str | None,
    scale: Scale,
    images: bool,
    mic_psizes: dict[str, float] | None,
    wanted: list[str],
    split: Split | None,
    labels: list[str],
    log: Log,
) -> tuple[ParticleScan, set[str]]:
    """One input's rows scanned with their pixel sizes, and the micrographs found by file name.

    The scan (:func:`scan_particles`) looks a micrograph up in the micrographs STAR by exact path. When the STAR lists
    the input's micrographs under another folder and every one is then found by file name (``ListedPixelSizes.lookup``),
    the file is scanned again with those pixel sizes: a second read only for such files (the first one's split, if any,
    gave up on the unknown pixel sizes and starts over from the headers). ``images``: whether to read each row's image
    name, where the file has them.
    """
    plan = pixel_size_plan(part, scale, mic_psizes)
    images = images and IMAGE_NAME in part.labels
    scan = scan_particles(part, score_label, plan, wanted, split, images)
    if plan.source != "micrograph" or mic_psizes is None:
        return scan, set()
    listed, by_name = micrographs_list(scale, mic_psizes).lookup(part.where(), scan.key_names)
    if not by_name or len(listed) < len(scan.key_names):  # nothing found by name, or some not at all (refused later)
        return scan, set()
    log(
        f"{part.path}: {len(by_name):,} micrographs are listed in {scale.micrographs} under another folder; "
        "reading the file again with their pixel sizes found by file name",
        "info",
    )
    if split is not None:
        write_headers(split.files, part, labels)
    return scan_particles(part, score_label, _core.PixelSizes.by_micrograph(listed), wanted, split, images), by_name


def read_micrograph_names(
    part: ParticleStar, outdir: Path, names: tuple[str, str]
) -> tuple[ParticleSet, PlacedSubsetWriter]:
    """The rows of ``part`` (opened ``names_only``) by micrograph name, and their subsets' writer.

    The writer writes the kept and the rejected rows as ``names`` in ``outdir``, byte copies
    under the file's own header, like the particle job's outputs of one input.
    """
    _, keys, mic_names = part.star.scan(part.block, [], MICROGRAPH_NAME)
    writer = StarWriter([part], part.labels, [len(keys)], outdir, names=names)
    return ParticleSet.names_only(part.path, list(mic_names), keys, writer, None), writer


def read_star_files(
    inputs: list[Path],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None = None,
    writes: bool = True,
) -> ParticleSet:
    """Reads RELION particle STAR files into one ParticleSet.

    Its writer writes ``OUTDIR/particles_kept.star`` and ``particles_rejected.star``.
    Everything the user must supply (a pixel size, a score order) is gathered over all
    inputs and raised as one CryodedupError. ``one_pass`` is the job's decision, asked with
    what the headers say (:class:`~cryodedup.particle_set.StarFacts`); where it gives a
    :class:`~cryodedup.algo.dedup.DuplicateRule`, the input is decided and written while it is
    scanned: the set comes back ``decided``.

    Each file is indexed up to its particle rows, and the rest while the rows are scanned
    (one read of the file); a file whose particle rows are followed by blocks that change
    the reading (an optics table after them) is read again with the whole index first.
    ``writes`` False (``compare``): nothing refused or warned of that only the outputs need.
    """
    if row_read.shift_key not in ("auto", "none"):
        raise CryodedupError(f"--shift-key for STAR files is auto or none, got {row_read.shift_key!r}")

    def read(defer: bool) -> ParticleSet:
        return _read_star_files(inputs, outdir, scale, score_read, row_read, warn, log, one_pass, defer, writes)

    try:
        return read(defer=True)
    except BlocksFollowParticles as err:
        log(f"{err}: blocks follow the particle rows; reading the files again with their whole index", "info")
        return read(defer=False)


def _centre_offsets(tomograms: Tomograms, scan: Any, part: ParticleStar, scale: Scale) -> np.ndarray:
    """Each row's tomogram centre from its corner (Å), the tomogram found as its pixel size was (by file name too)."""
    by_file_name = scale.match_micrographs != "path"
    return tomograms.centre_offsets(scan.key_names, part.where(), by_file_name=by_file_name)[scan.groups]


def _read_star_files(
    inputs: list[Path],
    outdir: StrPath,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None,
    defer: bool,
    writes: bool,
) -> ParticleSet:
    parts = [ParticleStar(p, row_read.shift_key, defer) for p in inputs]
    for part, label in zip(parts, distinct_labels(inputs)):
        part.label = label  # never two "particles.star" in a summary or a warning
    tomograms = tomograms_star(scale.micrographs) if scale.micrographs else None
    if tomograms is not None and not any(coordinate_frame(part) for part in parts):
        raise CryodedupError(
            f"--micrographs {scale.micrographs} is a tomograms STAR (rlnTomoName, rlnTomoTiltSeriesPixelSize) and "
            "the particles are 2-D: give the micrographs STAR they were picked on"
        )
    rewritten = corner_inputs(parts, tomograms, writes)
    merged = merged_columns(parts, warn if writes else _unsaid, rewritten)
    labels = merged.labels
    needs = Needs()
    score_label, higher, part_scores = score_columns(parts, score_read, warn, needs)
    scales = [input_scale(scale, k) for k in range(len(parts))]  # (--mic-psize INPUT=Å: each its own)
    mic_psizes = (
        micrograph_pixel_sizes(scale.micrographs)
        if scale.micrographs and any(s.psize_from is PsizeFrom.LISTED for s in scales) and tomograms is None
        else None
    )
    # A typed pixel size checked before any output is written (a tomograms STAR is the tomography reader's to check).
    given_sources = [
        mic_psize_source(
            part, s, stated_pixel_sizes(scale.micrographs, s.mic_psize) if tomograms is None else None, warn
        )
        for part, s in zip(parts, scales)
    ]
    rows = _Rows(parts, row_read, warn)
    split = start_split(parts, labels, one_pass, bool(higher), Path(outdir))
    for k, (part, given_source) in enumerate(zip(parts, given_sources)):
        log(f"reading {part.path} ({part.star.size / 1e6:.1f} MB)", "info")
        listed = _listed_pixel_sizes(part, tomograms, mic_psizes)
        wanted = rows.wanted(part)
        scan, found_by_name = _scan_input(
            part, part_scores[k], scales[k], row_read.images, listed, wanted, split, labels, log
        )
        scan.scores = level_scores(scan.scores, len(scan.groups), part_scores[k], score_label)
        typed = typed_tomogram_psize(part, scan.key_names, scales[k].mic_psize, tomograms)
        if typed is not None:  # (refused before any output, as a single-particle file's typed pixel size)
            scales[k].judge_psize(typed, warn)
        rows.layouts.append(star_layout(part, scan.key_names, k in rewritten))
        for assumed in part.columns.assumed:
            warn(f"{part.where()}: {assumed}")
        if k in rewritten and tomograms is not None:  # into the centred frame of the others (and of the output)
            scan.centres -= _centre_offsets(tomograms, scan, part, scales[k])
            part.rewritten = scan.centres
        rows.psizes_by_name.update(found_by_name)
        if split is not None:
            _settle_split(split, scan, part, part_scores[k], log)
        rows.add_columns(part, scan)
        optics = part.optics
        rows.identities.append(
            {} if optics is None else optics_identity(optics.labels, optics.rows, scan.optics_groups)
        )
        used, _ = pixel_sizes_used(
            part, scan.optics_groups, scan.key_names, scales[k], listed, warn, needs, given_source
        )
        rows.pixel_sizes.extend(vars(p) for p in used)
        rows.add(scan)
        _warn_comments(part, warn)
    needs.check()
    split = split if split and split.keep is not None else None
    writer = StarWriter(parts, labels, rows.counts(), Path(outdir), split, merged=merged)
    particles = rows.particle_set(score_label, higher, writer, split, part_scores)
    if merged.combined and (renumbered := renumbered_optics_groups(parts, labels)):
        particles.summary["optics_groups_renumbered"] = renumbered
    return particles


def _unsaid(message: str) -> None:
    """A warning of the outputs, where none is written (``compare``)."""


def _settle_split(split: Split, scan: ParticleScan, part: ParticleStar, score_label: str | None, log: Log) -> None:
    """Whether one input decided while read stands (``split.keep``), or is decided and written in a second pass.

    The scan's decision stands unless it could not decide, or ranked RELION's -999 (ManualPick: no score) as a number,
    which the job ranks last; a second pass drops the scratch files.
    """
    split.keep, note, split.source = scan.keep, scan.split_note, part.star
    split.suppressed_by, split.counted, split.overridden = scan.suppressed_by, scan.pictures, scan.overridden
    if scan.keep is not None and has_none_scores(scan.scores, score_label):
        split.keep, note = None, f"{score_label} holds values that mean no score, ranked last"
    if split.keep is None:
        split.suppressed_by = split.counted = split.overridden = None
        split.finish()  # (its writer, if it was still writing the scratch files)
        log(f"{part.path}: deciding and writing in a second pass: {note}", "info")
        for scratch in split.files.values():
            scratch.unlink(missing_ok=True)  # (the disk space, for the second pass's outputs)


def _warn_comments(part: ParticleStar, warn: Warn) -> None:
    """Says that the comment lines among an input's particle rows are not copied to the outputs."""
    comments = part.star.comment_lines.get(part.block.index, 0)
    if comments:
        warn(
            f"{part.where()}: {comments} comment line(s) among the particle rows are not copied to the outputs "
            "(a row is either kept or rejected; a comment belongs to neither)"
        )


def _listed_pixel_sizes(
    part: ParticleStar, tomograms: Tomograms | None, mic_psizes: dict[str, float] | None
) -> dict[str, float] | None:
    """The pixel sizes ``--micrographs`` lists for ``part``'s coordinates, by micrograph or tomogram.

    A tomograms STAR gives its reconstructed tomograms' pixel size to coordinates in tomogram
    pixels that no optics table sizes (a Picks job's annotation files); RELION 4's tilt-series
    pixels keep their optics table's size.
    """
    if tomograms is None:
        return mic_psizes
    in_tomogram_pixels = part.optics is None and coordinate_frame(part) == CORNER
    return tomograms.tomogram_psize if in_tomogram_pixels and tomograms.tomogram_psize else None


class _Rows:
    """The scans of the inputs, gathered one input at a time into one ParticleSet.

    Micrographs are numbered over all inputs (a name is one micrograph in every input); the columns a job asks for
    besides the scan's (half-sets, orientations, species) are kept per input and joined at the end.
    """

    def __init__(self, parts: list[ParticleStar], row_read: RowRead, warn: Warn) -> None:
        self.parts, self.warn = parts, warn
        self.symmetry_copies = row_read.symmetry_copies
        self.group_ids: dict[str, int] = {}
        self.scans: list[ParticleScan] = []
        self.pixel_sizes: list[dict] = []
        self.with_halves = all(RANDOM_SUBSET in p.labels for p in parts)
        self.halves: list[np.ndarray] = []
        self.with_angles = row_read.orientations
        self.insist_angles = row_read.insist_angles
        for part in parts if self.with_angles else []:
            lacking = [label for label in ANGLES if label not in part.labels]
            if lacking:
                raise InputFileError(
                    f"{part.where()}: --max-angle or --min-dist-ellipsoid needs the orientations, "
                    f"and there is no {lacking[0]}"
                )
        self.angles: list[np.ndarray] = []
        #: Each input's subtomogram angles (RELION 5), None for an input without them.
        self.subtomogram_angles: list[np.ndarray | None] = []
        self.species_label = _species_column(parts, row_read.species_column)
        self.species_values: list[np.ndarray] = []
        #: How each input was read, for a tomography summary (None: 2-D particles).
        self.layouts: list[dict | None] = []
        #: Micrographs whose pixel size --micrographs gave by file name.
        self.psizes_by_name: set[str] = set()
        #: What each input's optics table says its micrographs are (issue 54, section 3).
        self.identities: list[Identity] = []

    def wanted(self, part: ParticleStar) -> list[str]:
        """The columns of ``part`` to keep whole besides the scan's own."""
        wanted = ([RANDOM_SUBSET] if self.with_halves else []) + (ANGLES if self.with_angles else [])
        wanted += _subtomogram_labels(part.labels) if self.with_angles else []
        return wanted + ([self.species_label] if self.species_label and self.species_label not in wanted else [])

    def add_columns(self, part: ParticleStar, scan: ParticleScan) -> None:
        """Keeps what the job asked for of the columns the scan kept whole (``scan.extra``), then drops them."""
        if self.with_angles:
            self.angles.append(np.stack([scan.extra[label] for label in ANGLES], axis=1))
            check_angle_ranges(self.angles[-1], ANGLES, part.where(), self.warn, self.insist_angles)
            subtomo = _subtomogram_labels(part.labels)
            self.subtomogram_angles.append(_subtomogram_angles(scan.extra, subtomo, len(scan.groups)))
        if self.species_label:
            self.species_values.append(scan.extra[self.species_label])
        if self.with_halves:
            half, problem = read_halves(scan.extra[RANDOM_SUBSET], HALF_TEXTS, RANDOM_SUBSET, part.where())
            if half is None:
                self.warn(problem)
                self.with_halves = False
            self.halves.append(half if half is not None else np.zeros(0, dtype=np.int8))
        scan.extra = {}

    def add(self, scan: ParticleScan) -> None:
        """Adds one input's rows, its micrographs numbered among all inputs'."""
        scan.mic_ids = [self.group_ids.setdefault(name, len(self.group_ids)) for name in scan.key_names]
        if scan.mic_ids != list(range(len(scan.mic_ids))):  # not the first input's ids: renumber
            scan.groups = np.asarray(scan.mic_ids, dtype=np.uint32)[scan.groups]
        self.scans.append(scan)

    def counts(self) -> list[int]:
        """The rows of each input."""
        return [len(s.groups) for s in self.scans]

    def _poses(self) -> dict:
        """The poses of all rows, their kind and label (RELION's Euler angles, or poses in the tomograms)."""
        if not self.with_angles:
            return {"poses": None, "pose_label": PARTICLE_POSE}
        if all(s is None for s in self.subtomogram_angles):
            return {"poses": np.concatenate(self.angles), "pose_label": PARTICLE_POSE}
        poses = [tomogram_poses(a, s) for a, s in zip(self.angles, self.subtomogram_angles)]
        return {"poses": np.concatenate(poses), "pose_kind": "rotvec", "pose_label": TOMOGRAM_POSE}

    def particle_set(
        self, score_label: str | None, higher: bool, writer: StarWriter, split: Split | None, own: Sequence[str | None]
    ) -> ParticleSet:
        """All inputs' rows as one set, written by ``writer`` (``decided`` where the scan decided them: ``split``)."""
        scans, parts = self.scans, self.parts
        dim = max(s.centres.shape[1] for s in scans)
        if any(s.centres.shape[1] != dim for s in scans):
            raise CryodedupError("inputs mix 2D and 3D coordinates")
        mic_psize = np.full(len(self.group_ids), np.nan)
        for scan in scans[::-1]:  # the first input that has a micrograph gives its pixel size
            mic_psize[scan.mic_ids] = scan.key_psizes
        input_of = input_numbers(self.counts())
        groups = _joined([s.groups for s in scans])
        filament = any(s.tubes is not None for s in scans)
        tubes = None
        if filament:
            tube_values = [s.tubes if s.tubes is not None else np.full(len(s.groups), np.nan) for s in scans]
            tubes = tube_ids(input_of, groups, np.concatenate(tube_values))
        label = self.species_label
        species, species_names = species_of_rows(
            self.species_values, parts, label, lambda: _exact_column(parts, label) if label else []
        )
        by_name = len(self.psizes_by_name)
        summary: dict = {"micrograph_matching": {"pixel_sizes_by_file_name": by_name}} if by_name else {}
        if any(self.layouts):
            summary["layouts"] = [entry for entry in self.layouts if entry]
        return ParticleSet(
            inputs=[str(p.path) for p in parts],
            input_of=input_of,
            species=species,
            species_names=species_names,
            mic_names=list(self.group_ids),
            groups=groups,
            centres=_joined([s.centres for s in scans]),
            psize=pixel_size_of_rows(
                mic_psize, sum(len(s.groups) for s in scans), lambda: _joined([s.groups for s in scans])
            ),
            pixel_sizes=self.pixel_sizes,
            scores=_joined([s.scores for s in scans]) if score_label else None,
            score_label=score_label,
            higher_is_better=higher,
            scores_per_level=any(label != score_label for label in own),
            shift=", ".join(parts[0].columns.origins) or "none",
            read_files=[p.path for p in parts],
            writer=writer,
            decided=None if split is None else split.keep,
            decided_by=None if split is None else split.suppressed_by,
            decided_record=None if split is None or split.record is None else split.finished_record,
            decided_counts=None if split is None else split.counted,
            decided_overridden=None if split is None else split.overridden,
            tubes=tubes,
            tube_column=RELION_TUBE if filament else None,
            halfsets=HalfSets(RANDOM_SUBSET, np.concatenate(self.halves), HALF_TEXTS) if self.with_halves else None,
            **expanded_copies(parts, self.symmetry_copies),
            sources_label=IMAGE_NAME,
            images=_images(scans),
            **self._poses(),
            identities=self.identities,
            particle_names=_particle_names(parts, self.counts()),
            summary=summary,
        )


#: RELION 4 and 5 name each subtomogram (``TS_03/141``); extraction names its files by it.
TOMO_PARTICLE_NAME = "rlnTomoParticleName"


def _particle_names(parts: list[ParticleStar], counts: list[int]) -> ParticleNames | None:
    """Each row's ``rlnTomoParticleName``, read again when asked for; None unless several inputs and one has it."""
    if len(parts) < 2 or not any(TOMO_PARTICLE_NAME in part.labels for part in parts):
        return None

    def read() -> tuple[np.ndarray, list[str]]:
        ids: dict[str, int] = {}
        per_input = []
        for part, n in zip(parts, counts):
            if TOMO_PARTICLE_NAME not in part.labels:
                per_input.append(np.full(n, -1, dtype=np.int64))
                continue
            _, keys, texts = part.star.scan(part.block, [], TOMO_PARTICLE_NAME)
            numbered = np.array([ids.setdefault(text, len(ids)) for text in texts], dtype=np.int64)
            per_input.append(numbered[keys] if keys.size else np.zeros(0, dtype=np.int64))
        return np.concatenate(per_input), list(ids)

    return ParticleNames(TOMO_PARTICLE_NAME, read)


def _images(scans: list[ParticleScan]) -> Images | None:
    """Each row's image, from ``rlnImageName`` (every input must have it), or None."""
    if any(s.image_indices is None or s.image_runs is None or s.image_stacks is None for s in scans):
        return None
    indices = _joined([s.image_indices for s in scans])
    runs = _joined([s.image_runs for s in scans])
    return _named_images(indices, runs, [s.image_stacks for s in scans if s.image_stacks is not None])


def _named_images(indices: np.ndarray, runs: np.ndarray, stacks: list[_core.RunStacks]) -> Images:
    """Images of rows read by name: each row's name and stack told from its run (no second read of the file).

    ``stacks``: the runs' stack names of each piece of rows (``_core.RunStacks``), in order.
    """
    data = b"".join(piece[0] for piece in stacks)
    if len(stacks) == 1:  # (one input: its arrays as they are, no copy)
        ends, prefixes = stacks[0][1], stacks[0][2]
    else:
        offsets = np.cumsum([0] + [len(piece[0]) for piece in stacks[:-1]], dtype=np.uint64)
        ends = np.concatenate([piece[1] + offset for piece, offset in zip(stacks, offsets)] or [np.zeros(0, np.uint64)])
        prefixes = np.concatenate([piece[2] for piece in stacks] or [np.zeros(0, np.uint8)])
    run_ends = np.cumsum(runs[:, 4]) if runs.size else np.zeros(0, dtype=np.uint64)

    def stack(run: int) -> bytes:
        return data[int(ends[run - 1]) if run else 0 : int(ends[run])]

    def runs_of(rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(run_ends, np.asarray(rows, dtype=np.uint64), side="right")

    def names(rows: np.ndarray) -> list[str]:
        found = []
        rows = np.asarray(rows, dtype=np.uint32)
        of_run: dict[int, tuple[int, str]] = {}  # (each run's prefix and stack told once: the record names many rows)
        for run, index in zip(runs_of(rows).tolist(), _core.image_indices(runs, indices, rows).tolist()):
            told = of_run.get(run)
            if told is None:
                told = of_run[run] = (int(prefixes[run]), stack(run).decode("utf-8", "replace"))
            prefix, name = told
            digits = f"{index:0{prefix - 1}d}@" if prefix else ""  # the digits as written: zeros, then the index
            found.append(digits + name)
        return found

    def stack_ids(rows: np.ndarray) -> np.ndarray:
        run_ids, of_row = np.unique(runs_of(rows), return_inverse=True)
        ids: dict[bytes, int] = {}
        by_run = np.array([ids.setdefault(stack(run), len(ids)) for run in run_ids.tolist()], dtype=np.int64)
        return by_run[of_row.reshape(-1)]

    return Images(indices, runs, IMAGE_NAME, names, stack_ids, (data, ends, prefixes))


def _species_column(parts: list[Any], label: str | None) -> str | None:
    """``--species-column`` as the files name it (a leading underscore dropped); every input must have it."""
    if label is None:
        return None
    label = label.lstrip("_")
    for part in parts:
        if label not in part.labels:
            raise InputFileError(f"{part.where()}: --species-column {label}: no such column")
    return label


def species_of_rows(
    values: list[np.ndarray], parts: list[Any], label: str | None, exactly: Callable[[], list[Decimal]]
) -> tuple[np.ndarray | None, list[str]]:
    """Each row's species (an index) and the species' names, from the species column's numbers.

    ``values`` are the column's numbers as read, per input; ``exactly`` gives the column's
    values exactly (every input's rows in order), asked for only where float64 cannot hold
    them: beyond 2^53, where 2^53 and 2^53 + 1 are one float but two classes.
    """
    if label is None:
        return None, []
    joined = np.concatenate(values) if values else np.zeros(0)
    bad = np.flatnonzero(~np.isfinite(joined))
    if bad.size:
        counts = np.cumsum([len(v) for v in values])
        k = int(np.searchsorted(counts, bad[0], "right"))
        row = int(bad[0] - (counts[k - 1] if k else 0))
        raise InputFileError(f"{parts[k].where()}: particle {row + 1} has no number in {label}, the species column")
    if joined.size and np.abs(joined).max() >= EXACT_FLOAT_INTEGERS:
        return _species_of_exact(exactly())
    small = joined.size and (joined == np.trunc(joined)).all() and joined.min() >= 0 and joined.max() < 1 << 16
    if small:  # class numbers: counted, not sorted
        whole = joined.astype(np.int64)
        present = np.flatnonzero(np.bincount(whole))
        lookup = np.zeros(int(present[-1]) + 1, dtype=np.uint32)
        lookup[present] = np.arange(len(present), dtype=np.uint32)
        numbers, inverse = present.astype(np.float64), lookup[whole]
    else:
        numbers, unique_inverse = np.unique(joined, return_inverse=True)
        inverse = unique_inverse.astype(np.uint32).reshape(-1)
    return inverse, [species_name(number) for number in numbers.tolist()]  # (--min-dist 1=150,2=60)


#: float64 holds every whole number below this (2^53), and not 2^53 + 1.
EXACT_FLOAT_INTEGERS = 2**53


def species_name(number: float | Decimal) -> str:
    """A species number as the species' name: a whole number in all its digits (``9007199254740993``)."""
    return str(int(number)) if number == int(number) else str(number)


def _species_of_exact(numbers: list[Decimal]) -> tuple[np.ndarray, list[str]]:
    """:func:`species_of_rows` of numbers read exactly: the species in increasing order, as there."""
    distinct = sorted(set(numbers))
    index = {number: k for k, number in enumerate(distinct)}
    return np.fromiter((index[n] for n in numbers), np.uint32, len(numbers)), [species_name(n) for n in distinct]


def _exact_column(parts: list[ParticleStar], label: str) -> list[Decimal]:
    """The column ``label`` of every input as exact numbers, read again from its text."""
    exact: list[Decimal] = []
    for part in parts:
        _, keys, texts = part.star.scan(part.block, [], label)
        try:
            values = [Decimal(text.strip("\"'")) for text in texts]
        except InvalidOperation:
            raise InputFileError(
                f"{part.where()}: {label}, the species column, holds a value that is no number"
            ) from None
        exact += [values[k] for k in keys.tolist()]
    return exact


@dataclass
class ParticleScan:
    """What the job keeps of one input's rows: micrograph ids (uint32), centres, scores.

    ``key_names`` are the input's micrographs (by the scan's ids), ``key_psizes`` their pixel sizes, ``mic_ids`` their
    ids among all inputs' micrographs.
    """

    groups: np.ndarray
    centres: np.ndarray
    scores: np.ndarray | None
    key_names: list[str]
    key_psizes: np.ndarray
    optics_groups: list[float]
    mic_ids: list[int] = field(default_factory=list)
    #: The tube column's value of each row (docs/design.md section 8); None without one.
    tubes: np.ndarray | None = None
    #: Further columns asked for (half-sets, orientations), by label.
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    #: Whether each row was kept, when the rows were split as they were scanned.
    keep: np.ndarray | None = None
    #: With ``keep``, where the split asked for them: each rejected row's partner (int64; -1 kept).
    suppressed_by: np.ndarray | None = None
    pictures: _core.ScanPictures | None = None  # (--plot's counts made by a one-pass scan)
    overridden: np.ndarray | None = None  # (with keep and --overrides' forced rows: the rows they decided)
    #: Why a split asked for was given up.
    split_note: str | None = None
    #: The runs of the image column and the listed indices (uint32) of the rows of those whose
    #: indices are not consecutive; None without one.
    image_indices: np.ndarray | None = None
    image_runs: np.ndarray | None = None
    image_stacks: _core.RunStacks | None = None


def scan_particles(
    part: ParticleStar,
    score_label: str | None,
    psize_plan: _core.PixelSizes,
    extra: list[str] | None = None,
    split: Split | None = None,
    images: bool = False,
) -> ParticleScan:
    """One input's rows, scanned one window of the file at a time: 28 bytes per 2D particle.

    ``extra`` columns, and those filaments and RELION 5 subtomograms need, are kept whole by the same pass, only when
    asked for or present. With ``split``, the rows are also decided and appended to its files as the scan goes (see
    :class:`Split`). ``images``: each row's image key from ``rlnImageName`` too.
    """
    cols = part.columns
    origin_by_axis = {lab[-1] if not lab.endswith("Angst") else lab[-6]: lab for lab in cols.origins}
    axes = [lab[-6] if lab.endswith("Angst") else lab[-1] for lab in cols.coords]
    origin_pixels = ("rlnDetectorPixelSize", "rlnMagnification") if cols.origins_in_pixels else None
    wanted = list(extra or []) + ([RELION_TUBE] if RELION_TUBE in part.labels else [])
    wanted += cols.origins + cols.subtomogram_angles if cols.subtomogram_angles else []
    wanted = list(dict.fromkeys(wanted))
    signals.pause_for_tests("reading")  # the input mapped, its rows not yet read
    try:
        raw = part.star.scan_particles(
            part.block,
            cols.key,
            cols.coords,
            [origin_by_axis.get(axis) for axis in axes],
            origin_pixels,
            psize_plan,
            score_label,
            None if split is None else split.scan_arguments(),
            extra=wanted,
            image=IMAGE_NAME if images else None,
        )
    except OSError as err:  # writing the split's files (reading errors are CryodedupErrors)
        raise write_error(err, split.files if split else {}) from None
    part.confirm_blocks()
    numbers = dict(zip(wanted, raw.extra))
    centres = raw.centres.reshape(-1, len(cols.coords))
    if cols.subtomogram_angles:  # the scan subtracted the origins unrotated: rotate them (section 7)
        origins = origin_vectors(numbers, len(centres))
        centres += origins - subtomogram_rotated(origins, numbers)
    return ParticleScan(
        raw.keys,
        centres,
        raw.scores,
        raw.key_names,
        raw.key_psizes,
        raw.optics_groups,
        tubes=numbers.get(RELION_TUBE),
        extra={label: numbers[label] for label in extra or []},
        keep=raw.keep,
        suppressed_by=raw.suppressed_by,
        pictures=raw.pictures,
        overridden=raw.overridden,
        split_note=raw.split_note,
        image_indices=raw.image_indices,
        image_runs=raw.image_runs,
        image_stacks=raw.image_stacks,
    )


def input_numbers(counts: list[int]) -> np.ndarray:
    """The input of each row, rows input by input: one byte per row (no memory for one input)."""
    if len(counts) == 1:
        return np.broadcast_to(np.uint8(0), (counts[0],))
    dtype = np.uint8 if len(counts) <= 256 else np.int64
    return np.repeat(np.arange(len(counts), dtype=dtype), counts)


def _joined(arrays: list) -> np.ndarray:
    """The arrays of all inputs as one (the only one as it is: no copy of a big input)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


class _FrameParticles:
    """A RELION particle table in memory, seen as the reader sees a file."""

    def __init__(self, particles: DataFrame, optics: DataFrame | None, shift_key: str) -> None:
        self.path = Path("<DataFrame>")
        self.label = self.path.name
        self.frame = particles
        self.labels = [str(c) for c in particles.columns]
        self.optics: Table | None = None
        if optics is not None:
            rows = [[_text(v) for v in row] for row in optics.itertuples(index=False)]
            self.optics = Table([str(c) for c in optics.columns], rows, [])
        self.columns = choose_columns(self.labels, self.optics is not None, self.where(), shift_key)

    def where(self) -> str:
        """The table, to start an error message with."""
        return "the particle table"

    def numeric_labels(self) -> list[str]:
        """The labels of the columns of numbers."""
        return [c for c in self.labels if self.frame[c].dtype.kind in "iuf"]

    def first_row(self) -> dict[str, str]:
        """The first row's values by label, as RELION writes them (empty without a row)."""
        if self.frame.empty:
            return {}
        return {label: _text(value) for label, value in zip(self.labels, self.frame.iloc[0])}


def _text(value: object) -> str:
    """A table value as RELION writes it (integers without a decimal point)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _micrograph_names(particles: DataFrame, key: str) -> np.ndarray:
    """The column ``key`` as strings; a missing name (NaN, None) is refused, not read as "nan"."""
    missing = particles[key].isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise CryodedupError(
            f"row {row + 1} of the particle table has no {key} (a missing value): every particle needs its "
            f"micrograph; {int(missing.sum())} such rows"
        )
    return np.asarray([str(name) for name in particles[key].to_numpy()], dtype=object)


def read_frame(
    particles: DataFrame,
    optics: DataFrame | None,
    scale: Scale,
    score_read: ScoreRead,
    row_read: RowRead,
    warn: Warn,
) -> ParticleSet:
    """A RELION particle table in memory read into a ParticleSet without a writer.

    ``particles`` is a pandas DataFrame with RELION's labels and ``optics`` the optics table
    or None, as ``starfile.read`` gives them. The caller selects the rows itself.
    """
    part = _FrameParticles(particles, optics, row_read.shift_key)
    for note in part.columns.assumed:
        warn(f"the particle table: {note}")
    needs = Needs()
    score, higher = score_column([part], score_read, warn, needs)
    needs.check()
    numbers: dict[str, np.ndarray] = {}
    for label in part.columns.numbers(score):
        column = particles[label]
        try:
            if column.dtype.kind in "cMm":  # (a cast keeps a complex number's real part, a date's nanoseconds)
                raise TypeError
            numbers[label] = column.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise CryodedupError(
                f"column {label} of the particle table is not numeric ({column.dtype}: real numbers expected)"
            ) from None
    names, keys = np.unique(_micrograph_names(particles, part.columns.key), return_inverse=True)
    mic_psizes = micrograph_pixel_sizes(scale.micrographs) if scale.micrographs else None
    psize, used = row_pixel_sizes(part, numbers, keys, list(names), scale, mic_psizes, warn, needs)
    needs.check()
    filament = RELION_TUBE in part.labels
    groups = keys.astype(np.int64).ravel()
    species, species_names = _frame_species(part, row_read.species_column)
    return ParticleSet(
        inputs=[str(part.path)],
        input_of=np.zeros(keys.size, dtype=np.int64),
        mic_names=[str(n) for n in names],
        groups=groups,
        centres=centres_in_angstrom(part, numbers, psize),
        psize=np.broadcast_to(np.asarray(psize, dtype=np.float64), keys.shape),
        pixel_sizes=[vars(p) for p in used],
        scores=numbers[score] if score else None,
        score_label=score,
        higher_is_better=higher,
        shift=", ".join(part.columns.origins) or "none",
        tubes=tube_ids(np.zeros_like(groups), groups, particles[RELION_TUBE].to_numpy(float)) if filament else None,
        tube_column=RELION_TUBE if filament else None,
        **_frame_poses(particles, row_read, warn),
        images=_frame_images(particles) if row_read.images else None,
        species=species,
        species_names=species_names,
    )


def _frame_species(part: _FrameParticles, label: str | None) -> tuple[np.ndarray | None, list[str]]:
    """``species_column``'s species of a table in memory, numbered as a file's are (:func:`species_of_rows`)."""
    label = _species_column([part], label)
    if label is None:
        return None, []
    column = part.frame[label]
    try:
        numbers = column.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(f"{part.where()}: --species-column {label}: the column holds no numbers") from None
    return species_of_rows([numbers], [part], label, lambda: [Decimal(str(value)) for value in column.tolist()])


def _frame_images(particles: DataFrame) -> Images | None:
    """Each row's particle image from ``rlnImageName`` in memory, split and keyed as a file's scan does.

    None without the column.
    """
    if "rlnImageName" not in particles.columns:
        return None
    rows = _core.image_rows([str(name).encode() for name in particles["rlnImageName"].tolist()])
    index, runs, stacks = rows.indices, rows.runs, rows.stacks
    return _named_images(index, runs, [stacks])


def _frame_poses(particles: DataFrame, row_read: RowRead, warn: Warn) -> dict:
    """The poses of a table in memory for ``max_angle``, as :meth:`_Rows._poses` gives a file's."""
    if not row_read.orientations:
        return {"poses": None, "pose_label": PARTICLE_POSE}
    lacking = [label for label in ANGLES if label not in particles.columns]
    if lacking:
        raise CryodedupError(
            f"the particle table: max_angle or min_dist_ellipsoid needs the orientations, and there is no {lacking[0]}"
        )
    angles = particles[ANGLES].to_numpy(dtype=np.float64)
    check_angle_ranges(angles, ANGLES, "the particle table", warn, row_read.insist_angles)
    labels = _subtomogram_labels([str(c) for c in particles.columns])
    if not labels:
        return {"poses": angles, "pose_label": PARTICLE_POSE}
    numbers = {label: particles[label].to_numpy(dtype=np.float64) for label in labels}
    subtomo = _subtomogram_angles(numbers, labels, len(particles))
    return {"poses": tomogram_poses(angles, subtomo), "pose_kind": "rotvec", "pose_label": TOMOGRAM_POSE}


def _subtomogram_labels(labels: list[str]) -> list[str]:
    """The subtomogram angles RELION reads of a table (none without rlnTomoSubtomogramRot: getSubtomogramMatrix)."""
    return [label for label in SUBTOMOGRAM_ANGLES if label in labels] if SUBTOMOGRAM_ANGLES[0] in labels else []


def _subtomogram_angles(numbers: dict[str, np.ndarray], labels: list[str], n: int) -> np.ndarray | None:
    """Rot, tilt and psi (n, 3) as RELION's getSubtomogramMatrix reads them (an absent one 0); None without them."""
    if not labels:
        return None
    return np.stack([numbers[label] if label in labels else np.zeros(n) for label in SUBTOMOGRAM_ANGLES], axis=1)
