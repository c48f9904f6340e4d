"""One particle set of a project audited: its duplicates, one image twice, and pairs across its half-sets.

The particle job reads the file (its readers: pixel sizes, origins, optics) and decides as
``cryodedup particles FILE --audit --min-dist D`` does, writing nothing. A duplicate pair is
a rejected row with the kept row that suppressed it (:mod:`cryodedup.algo.audit`): a group of k
duplicates is k - 1 pairs. A set that carries orientations (rlnAngleRot/Tilt/Psi,
``alignments3D/pose``) is audited pose-aware when an angle is given, as ``--max-angle A --sym G``
does: two close particles are duplicates only when their poses agree within A under the job's
point group G. A 2-D classification's set compares in-plane angles only within one class (each class
average has its own in-plane frame): across classes, positions alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...algo.audit import PAIRS_COUNTED, halfset_audit
from ...algo.fsc import group_pairs, half_sizes
from ...algo.same_image import same_image_pairs
from ...errors import CryodedupError, InputFileError, PixelSizeError
from ...formats.cryosparc.dataset import CsFile
from ...formats.cryosparc.particles import POSE
from ...formats.star.file import StarFile
from ...formats.star.fsc import StraddlingBoxes
from ...formats.star.pixel_sizes import LISTED_ADVICE, PIXEL_HINT
from ...options import ParticleOptions
from ...particle_set import ParticleSet
from ..particles.decide import ParticleDecision
from ..particles.job import read_and_decide
from ..particles.plan import ParticlePlan, plan
from ..particles.read import Files

__all__ = ["SetAudit", "audit_set", "in_audits_words"]

#: A set's rows and the particle job's decision on them.
_Decided = tuple[ParticleSet, ParticleDecision]

#: What the readers' refusal of a set with no orientations says (STAR's and CryoSPARC's): it is then
#: audited by position only.
_NO_ORIENTATIONS = "needs the orientations"


@dataclass(frozen=True)
class SetAudit:
    """What one particle file holds: its rows, duplicate pairs within ``min_dist_A``, and across its half-sets.

    ``halfsets``: the half-set column read (None without one); ``straddling_pairs``, the
    duplicate pairs whose particles sit in different half-sets; ``same_image``, pairs of rows
    of one particle image at different centres (and ``same_image_straddling`` of those, across
    the half-sets).
    """

    file: str
    particles: int
    min_dist_A: float
    duplicate_pairs: int
    same_image: int = 0
    halfsets: str | None = None
    straddling_pairs: int = 0
    particles_straddling: int = 0
    same_image_straddling: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Rows that repeat another row's image at its centre: a symmetry expansion's copies, or particles
    #: joined twice (two overlapping selections joined). Counted among the duplicates; said apart.
    symmetry_copies: int = 0
    #: Pose-aware: the angle (degrees) within which two close particles' poses agree to be duplicates, and
    #: the point group they are compared under; None: positions only (the set carries no orientations).
    max_angle_deg: float | None = None
    symmetry: str | None = None
    #: The micrographs STAR its pixel size was read from (a set that does not give it), None: none needed.
    micrographs: str | None = None
    #: A 2-D classification's set: in-plane angles compared within one class only, positions alone across classes.
    within_class: bool = False
    #: The rows in each half-set (with half-sets), and the straddling pairs' boxes: what the shared fraction of
    #: the half-maps' noise is made of (:mod:`cryodedup.algo.fsc`), their origins read only if an FSC asks.
    half_sizes: tuple[int, int] | None = None
    straddling: StraddlingBoxes | None = field(default=None, compare=False, repr=False)

    @property
    def fraction(self) -> float:
        """The share of the particles in a straddling pair (with half-sets), else in a duplicate pair."""
        if not self.particles:
            return 0.0
        if self.halfsets is not None:
            return self.particles_straddling / self.particles
        return min(1.0, 2 * self.duplicate_pairs / self.particles)

    @property
    def straddles(self) -> bool:
        """Whether duplicates (or one image twice) sit in both half-sets."""
        return bool(self.straddling_pairs or self.same_image_straddling)

    def to_json(self) -> dict:
        """The set as ``--json`` prints it."""
        return {
            "file": self.file,
            "particles": self.particles,
            "min_dist_A": self.min_dist_A,
            "duplicate_pairs": self.duplicate_pairs,
            "same_image_pairs": self.same_image,
            "halfsets": self.halfsets,
            "straddling_pairs": self.straddling_pairs,
            "pairs_counted": PAIRS_COUNTED if self.halfsets is not None else None,
            "particles_straddling": self.particles_straddling,
            "same_image_straddling": self.same_image_straddling,
            "fraction": round(self.fraction, 6),
            "symmetry_copies": self.symmetry_copies,
            "pose_aware": self.max_angle_deg is not None,
            "max_angle_deg": self.max_angle_deg,
            "symmetry": self.symmetry,
            "micrographs": self.micrographs,
            "within_class": self.within_class,
            "warnings": self.warnings,
        }


def audit_set(
    paths: list[Path],
    name: str,
    min_dist: float,
    micrographs: Callable[[], Path | None],
    max_angle: float | None = None,
    sym: str = "C1",
    classes: bool = False,
) -> SetAudit:
    """Audits the particle set of ``paths`` (``name``: as the project names it) at ``min_dist`` Å.

    ``max_angle``, ``sym``: pairs counted pose-aware (their poses within ``max_angle`` degrees under the
    point group ``sym``) where the set carries orientations; None: positions only. ``classes``: a 2-D
    classification's set, whose in-plane angles are compared within one class only (:func:`_within_classes`).

    One file, or a CryoSPARC output group's files (its particles and passthrough files,
    joined on uid by the particle job's reader).

    ``micrographs``: the micrographs STAR upstream of it, asked for only when the file does
    not give its micrographs' pixel size (a RELION 3.1 Extract with no micrograph pixel size
    in its optics table). Raises :class:`CryodedupError` when the file cannot be read.
    """
    warnings: list[str] = []
    listing: list[Path] = []  # (the micrographs STAR asked for, if one was)

    def asked() -> Path | None:
        found = micrographs()
        listing[:] = [found] if found is not None else []
        return found

    particles, decision, max_angle, within_class = _decided(
        paths, name, min_dist, asked, warnings, max_angle, sym, classes
    )
    # (the micrographs upstream used, unless the set was read at the pixel its own file states after all)
    used = str(listing[0]) if listing and not any(_ASSUMED_PIXEL in warning for warning in warnings) else None
    symmetry = None if max_angle is None or within_class else sym.upper()
    images = particles.images
    pairs = same_image_pairs(images, particles.groups, particles.centres) if images is not None else None
    same_image = 0 if pairs is None else int(pairs[0].size)
    # One image at one centre k times: a symmetry expansion's copies (harmless within one half-set), or the
    # same particles joined twice (overlapping selections joined: duplicates). They are told apart by
    # nothing in the rows a JoinStar writes, so they count, and the line says how many there are.
    copies = 0 if particles.sources is None else len(particles) - int(np.unique(particles.sources).size)
    duplicates = int(np.count_nonzero(~decision.keep))
    if particles.halfsets is None:
        return SetAudit(
            name,
            len(particles),
            min_dist,
            duplicates,
            same_image,
            warnings=warnings,
            symmetry_copies=copies,
            max_angle_deg=max_angle,
            symmetry=symmetry,
            micrographs=used,
            within_class=within_class,
        )
    if decision.suppressed_by is None:
        raise CryodedupError(f"{name}: the half-set audit found no pairs (an internal error)")
    counts = halfset_audit(particles, decision.suppressed_by, pairs)
    return SetAudit(
        name,
        len(particles),
        min_dist,
        counts.duplicate_pairs,
        same_image,
        particles.halfsets.label,
        counts.straddling_pairs,
        counts.particles_straddling,
        counts.same_image[1] if counts.same_image else 0,
        warnings,
        copies,
        max_angle_deg=max_angle,
        symmetry=symmetry,
        micrographs=used,
        within_class=within_class,
        half_sizes=half_sizes(particles),
        straddling=StraddlingBoxes.of(paths, particles, *group_pairs(particles, decision.suppressed_by)),
    )


def _decided(
    paths: list[Path],
    name: str,
    min_dist: float,
    micrographs: Callable[[], Path | None],
    warnings: list[str],
    max_angle: float | None,
    sym: str,
    classes: bool,
) -> tuple[ParticleSet, ParticleDecision, float | None, bool]:
    """The set read and decided: its rows, its decision, the angle compared and whether within 2-D classes.

    The angle is None where positions alone are compared; within classes, in-plane angles are compared within
    each 2-D class only (positions first, then classes).
    """
    if classes and max_angle is not None and len(paths) == 1:
        (particles, decision), _ = _read(paths, name, min_dist, micrographs, warnings, None, "C1")
        in_classes = _within_classes(paths[0], particles, decision, max_angle, min_dist)
        if in_classes is not None:
            return particles, in_classes, max_angle, True
        return particles, decision, None, False
    (particles, decision), max_angle = _read(paths, name, min_dist, micrographs, warnings, max_angle, sym)
    return particles, decision, max_angle, False


def _read(
    paths: list[Path],
    name: str,
    min_dist: float,
    micrographs: Callable[[], Path | None],
    warnings: list[str],
    max_angle: float | None,
    sym: str,
) -> tuple[_Decided, float | None]:
    """The particle job's audit of the set, pose-aware where it can be; and the angle it was counted at (None: none).

    ``warnings``: the run's warnings, filled (those of a run read again by position only: not kept).
    """
    if max_angle is not None and _cs_without_poses(paths):
        max_angle = None  # (a CryoSPARC set whose fields hold no pose: by position, read once)
    try:
        outcome = _run(paths, min_dist, micrographs, warnings, max_angle, sym)
    except InputFileError as err:
        if max_angle is None or _NO_ORIENTATIONS not in str(err):
            raise
        # (a STAR refused from its header, before the rows are read: positions only, as picks are)
        return _run(paths, min_dist, micrographs, warnings, None, "C1"), None
    if max_angle is not None and _repeats_images(outcome[0].sources):
        # One image in two rows is one particle twice whatever poses it was given (a symmetry expansion's
        # copies differ by an operator): a pose-aware count would miss it across the half-sets.
        outcome = _run(paths, min_dist, micrographs, warnings, None, "C1")
        warnings.append(f"{name}: rows repeat another's image: counted by position, whatever their poses")
        return outcome, None
    return outcome, max_angle


#: A 2-D classification's columns that say a row's class and its in-plane angle.
_CLASS, _PSI = "rlnClassNumber", "rlnAnglePsi"


def _within_classes(
    path: Path, particles: ParticleSet, decision: ParticleDecision, max_angle: float, min_dist: float
) -> ParticleDecision | None:
    """The decision by position, less the rows whose every kept neighbour is of their class and turned from them.

    A row rejected by position stays a duplicate where a kept row within ``min_dist`` on its micrograph is of
    another class (positions alone) or of its class with an in-plane angle within ``max_angle``; else it is kept
    (two particles side by side, turned apart in one class average's frame). None when the file is no RELION STAR
    with classes and in-plane angles.
    """
    found = _classes_and_psi(path, len(particles))
    if found is None:
        return None
    classes, psi = found
    keep = decision.keep.copy()
    by = None if decision.suppressed_by is None else decision.suppressed_by.copy()
    groups, centres = np.asarray(particles.groups), np.asarray(particles.centres)
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    for mic in np.unique(groups[~decision.keep]):  # (a micrograph at a time: its rejected rows by its kept ones)
        on = order[np.searchsorted(ordered, mic) : np.searchsorted(ordered, mic, side="right")]
        rejected, kept = on[~decision.keep[on]], on[decision.keep[on]]
        near = np.linalg.norm(centres[rejected][:, None] - centres[kept][None], axis=-1) <= min_dist
        turn = np.abs((psi[rejected][:, None] - psi[kept][None] + 180.0) % 360.0 - 180.0)
        agree = near & ((classes[rejected][:, None] != classes[kept][None]) | (turn <= max_angle))
        alone = ~agree.any(axis=1)
        keep[rejected[alone]] = True
        if by is not None:  # (each duplicate's pair: a kept row it agrees with)
            by[rejected] = np.where(alone, -1, kept[np.argmax(agree, axis=1)] if kept.size else -1)
    return replace(decision, keep=keep, suppressed_by=by)


def _classes_and_psi(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's class and in-plane angle (degrees) as the STAR file holds them; None without them."""
    if path.suffix != ".star":
        return None
    star = StarFile(path)
    block = star.block("particles")
    if block is None or not {_CLASS, _PSI} <= set(block.labels or ()):
        return None
    table = star.table(block)
    try:
        classes, psi = (np.array(table.column(label), dtype=float) for label in (_CLASS, _PSI))
    except ValueError:  # (a value that is no number: the set is then compared by position alone)
        return None
    return (classes, psi) if classes.size == rows else None


#: What the reader warns when it takes a set's micrograph pixel size as rlnMicrographOriginalPixelSize.
_ASSUMED_PIXEL = "has no rlnMicrographPixelSize; using rlnMicrographOriginalPixelSize"
#: The particle job's advice, naming its options (``--mic-psize``, ``--micrographs``) that ``audit`` does not take,
#: as the audit says it: what it looked for upstream.
_AUDITS_WORDS = {
    f"({PIXEL_HINT} to be sure)": "(no micrographs STAR upstream of the set gives the micrographs' pixel size)",
    PIXEL_HINT: "no micrographs STAR upstream of the set gives it",
    LISTED_ADVICE: "the micrographs STAR upstream of the set disagrees with its optics table",
}


def in_audits_words(message: str) -> str:
    """A message of the particle job's as the audit says it: advice naming only options ``audit`` takes."""
    for said, words in _AUDITS_WORDS.items():
        message = message.replace(said, words)
    return message


def _repeats_images(sources: np.ndarray | None) -> bool:
    """Whether some rows share one particle image (``sources``: each row's image id, None: none shared)."""
    return sources is not None and int(np.unique(sources).size) < len(sources)


def _cs_without_poses(paths: list[Path]) -> bool:
    """Whether the set is CryoSPARC's and none of its files has the pose field (numpy's header: not the rows)."""
    if not paths or any(path.suffix != ".cs" for path in paths):
        return False
    return not any(POSE in CsFile.load(path).fields for path in paths)


def _run(
    paths: list[Path],
    min_dist: float,
    micrographs: Callable[[], Path | None],
    warnings: list[str],
    max_angle: float | None,
    sym: str,
) -> _Decided:
    """The particle job's audit of the files (read and decided), given the micrographs upstream where needed.

    Where the files lack it, or state only the movies' (rlnMicrographOriginalPixelSize, right only if motion
    correction did not bin them).

    ``warnings``: emptied, then filled with the run's warnings.
    """
    warnings.clear()

    def log(message: str, level: str) -> None:
        if level == "warning":
            warnings.append(in_audits_words(message))

    sym = sym if max_angle is not None else "C1"  # (a point group without an angle: refused by the options)

    def with_micrographs(listing: Path) -> _Decided:
        """The files audited again, their micrographs' pixel size read from ``listing``."""
        warnings.clear()
        return read_and_decide(Files.of(paths), _planned(min_dist, max_angle, sym, listing), log)

    try:
        outcome = read_and_decide(Files.of(paths), _planned(min_dist, max_angle, sym, None), log)
    except PixelSizeError:
        listing = micrographs()
        if listing is None:
            raise
    else:
        # (a pixel size assumed, rlnMicrographOriginalPixelSize for rlnMicrographPixelSize: the micrographs
        # upstream say it, and the redo command then carries them, as the audit read them)
        if not any(_ASSUMED_PIXEL in warning for warning in warnings):
            return outcome
        listing = micrographs()
        if listing is None:
            return outcome
        said = list(warnings)
        try:
            return with_micrographs(listing)
        except PixelSizeError as err:  # (the list's pixel size contradicts the set's optics: as first read, said)
            warnings[:] = [*said, f"{in_audits_words(str(err))}; audited at the pixel size its own file states"]
            return outcome
        except CryodedupError:  # (the micrographs do not name these particles' micrographs: as first read)
            warnings[:] = said
            return outcome
    return with_micrographs(listing)


@lru_cache(maxsize=64)
def _planned(min_dist: float, max_angle: float | None, sym: str, micrographs: Path | None) -> ParticlePlan:
    """The particle job's plan of an audit, its options checked: once per distinct set of options.

    A project of 100,000 sets audits them at a handful of distances and point groups; checking the options and
    building the plan for each set was most of the audit's time on small sets (issue 99).
    """
    # (score none: which of a pair is kept changes no count)
    options = ParticleOptions(
        audit=True, min_dist=min_dist, score="none", max_angle=max_angle, sym=sym, micrographs=micrographs
    )
    options.check()  # (its values the audit's own: refused as a run refuses them)
    return plan(options)
