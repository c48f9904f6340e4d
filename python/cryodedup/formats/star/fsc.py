"""A refinement's FSC as RELION writes it: ``run_model.star``'s gold-standard FSC, ``postprocess.star``'s curves.

- ``run_model.star`` (Refine3D, written by ``MlModel::write``): ``data_model_general`` holds
  ``rlnOriginalImageSize`` and ``rlnPixelSize``; ``data_model_class_1`` a row per shell with
  ``rlnResolution`` (1/Å), ``rlnAngstromResolution`` and ``rlnGoldStandardFsc``: the FSC between
  the unmasked half-maps (or masked by the solvent mask with ``--solvent_correct_fsc``), shells past
  the last iteration's image size 0.
- ``postprocess.star`` (PostProcess): ``data_general`` holds ``rlnFinalResolution``; ``data_fsc`` a
  row per shell with ``rlnResolution`` and ``rlnFourierShellCorrelationCorrected`` (the masked FSC
  corrected by phase randomisation: the curve RELION reports the resolution from), beside
  ``rlnFourierShellCorrelationUnmaskedMaps`` and ``rlnFourierShellCorrelationMaskedMaps``; without a
  mask (``relion_postprocess`` given none, RELION 3.1.3) the unmasked curve alone, read then.
  ``rlnFinalResolution`` is the last shell above 0.143 (``postprocess.cpp``).

Either read as an :class:`FscCurve`: its shells' frequency and FSC, and which curve it is; and
``relion_image_handler --fsc``'s table (``data_fsc``, ``rlnFourierShellCorrelation``: unmasked),
given by hand. :func:`read_origins` reads a particle STAR's origins in Å, where the boxes of a
refinement's particles were cut (the coordinates) differing from its centres by them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputFileError
from ...particle_set import ParticleSet
from .file import StarFile, is_number
from .pipeline import job_options

__all__ = [
    "FscCurve",
    "StraddlingBoxes",
    "fsc_refinement_said",
    "model_nyquist",
    "read_fsc",
    "read_model_fsc",
    "read_postprocess_fsc",
    "refinement_symmetry",
]

MODEL_BLOCK, MODEL_FSC = "model_class_1", "rlnGoldStandardFsc"
POSTPROCESS_BLOCK, POSTPROCESS_FSC = "fsc", "rlnFourierShellCorrelationCorrected"
POSTPROCESS_UNMASKED = "rlnFourierShellCorrelationUnmaskedMaps"
IMAGE_HANDLER_FSC = "rlnFourierShellCorrelation"
RESOLUTION = "rlnResolution"


@dataclass(frozen=True)
class FscCurve:
    """An FSC shell by shell from the origin: ``frequency`` (1/Å), ``fsc``; ``curve`` says which (file: label)."""

    curve: str
    frequency: np.ndarray
    fsc: np.ndarray
    #: The resolution (Å) the program itself reported, where the file says it (PostProcess's rlnFinalResolution).
    reported_A: float | None = None

    def unusable(self, threshold: float = 0.143) -> str:
        """Why no resolution can be read from the curve ('' where one can).

        A value that is not a number (RELION writes ``-nan`` where a shell has no power) at or before the shell
        where the curve first falls below ``threshold`` (anywhere, for a curve that never falls below it). A curve
        above ``threshold`` to its last shell is read (a refinement limited by its box's Nyquist frequency, or
        inflated by duplicates: its crossing lies beyond the curve, said by the estimate).
        """
        bad = ~(np.isfinite(self.fsc) & np.isfinite(self.frequency))
        below = np.flatnonzero(self.fsc[1:] < threshold) + 1
        first_bad = int(np.argmax(bad)) if bad.any() else len(self.fsc)
        if first_bad < len(self.fsc) and (below.size == 0 or first_bad <= below[0]):
            return (
                f"{self.curve}: shell {first_bad} is {self.fsc[first_bad]!r} at {self.frequency[first_bad]!r} 1/Å, "
                f"not a number, before the curve falls below {threshold}"
            )
        return ""


def read_model_fsc(path: Path, shown: str | None = None) -> FscCurve:
    """``run_model.star``'s gold-standard FSC (class 1), up to the last shell the refinement reached.

    ``shown``: the file's name as the curve names it (the project-relative path), else ``path``.
    """
    star = StarFile(path)
    frequency, fsc = _columns(star, MODEL_BLOCK, MODEL_FSC)
    reached = np.flatnonzero(fsc != 0.0)  # (shells past the last iteration's image size are written 0)
    last = int(reached[-1]) + 1 if reached.size else len(fsc)
    return FscCurve(f"{shown or path}: {MODEL_FSC} (as refined)", frequency[:last], fsc[:last])


def read_postprocess_fsc(path: Path, shown: str | None = None) -> FscCurve:
    """``postprocess.star``'s corrected FSC (masked, phase-randomisation corrected) and its final resolution.

    Without a mask, its unmasked curve (the only one RELION writes then).
    """
    star = StarFile(path)
    block = star.block(POSTPROCESS_BLOCK)
    labels = (block.labels or ()) if block is not None else ()
    masked = block is None or POSTPROCESS_FSC in labels
    label = POSTPROCESS_FSC if masked else POSTPROCESS_UNMASKED
    if not masked and POSTPROCESS_UNMASKED not in labels and IMAGE_HANDLER_FSC in labels:
        label = IMAGE_HANDLER_FSC  # (relion_image_handler --fsc's table: the half-maps' FSC, unmasked)
    frequency, fsc = _columns(star, POSTPROCESS_BLOCK, label)
    general = {label: value for block in star.blocks if block.name == "general" for label, value in block.pairs}
    final = general.get("rlnFinalResolution", "").strip()
    reported = float(final) if is_number(final) else None
    which = "masked, corrected" if masked else "unmasked: no mask given"
    if (
        masked
        and POSTPROCESS_UNMASKED in labels
        and np.array_equal(_columns(star, POSTPROCESS_BLOCK, POSTPROCESS_UNMASKED)[1], fsc)
    ):
        # (relion_postprocess, "the unmasked FSC extends beyond the solvent-corrected FSC", writes the unmasked curve
        # as the corrected one: unmasked, whatever its column says)
        which = f"unmasked: PostProcess fell back to it, equal to {POSTPROCESS_UNMASKED} at every shell"
    return FscCurve(f"{shown or path}: {label} ({which})", frequency, fsc, reported)


def model_nyquist(path: Path) -> float | None:
    """The Nyquist frequency (1/Å) of a ``run_model.star``'s refinement (its rlnPixelSize); None where not read."""
    try:
        star = StarFile(path)
    except (InputFileError, OSError):
        return None
    general = {label: value for block in star.blocks if block.name == "model_general" for label, value in block.pairs}
    pixel = general.get("rlnPixelSize", "").strip()
    return 1.0 / (2.0 * float(pixel)) if is_number(pixel) and float(pixel) > 0 else None


def read_fsc(path: Path) -> FscCurve:
    """An FSC file given by hand: a ``postprocess.star`` (its ``data_fsc``) or a ``run_model.star``; else an error."""
    star = StarFile(path)
    if star.block(POSTPROCESS_BLOCK) is not None:
        return read_postprocess_fsc(path)
    if star.block(MODEL_BLOCK) is not None:
        return read_model_fsc(path)
    raise InputFileError(
        f"{path}: no data_{POSTPROCESS_BLOCK} (RELION's postprocess.star) and no data_{MODEL_BLOCK} "
        "(RELION's run_model.star); give one of those as the FSC"
    )


#: Where a RELION refinement's folder says the point group it imposed: its job.star option, its sampling file's label.
SYMMETRY_OPTION, SAMPLING_FILE, SYMMETRY_LABEL = "sym_name", "run_sampling.star", "rlnSymmetryGroup"


def refinement_symmetry(fsc: Path) -> tuple[str, str] | None:
    """The point group the refinement of the FSC file ``fsc`` imposed, and which file said it; None where none says.

    The file's folder first (a Refine3D's ``run_model.star``: its ``job.star`` ``sym_name``, else ``run_sampling.star``
    ``rlnSymmetryGroup``, which relion_refine writes); else, for a PostProcess's ``postprocess.star``, the refinement
    whose half-map its ``job.star`` ``fn_in`` names (a path in the project, two folders above the file's).
    """
    found = _folder_symmetry(fsc.parent)
    if found is not None:
        return found
    half = job_options(fsc.parent).get("fn_in", "").strip()
    return _folder_symmetry(fsc.parent.parent.parent / Path(half).parent) if half else None


#: The folder kinds of RELION jobs that refine half-sets (their particles file sits beside the FSC's run_model.star).
REFINEMENT_KINDS = ("Refine3D", "MultiBody")


def _is_refinement(folder: Path) -> bool:
    """Whether a RELION job folder is a refinement's: of a refining kind, or holding a ``run_model.star``."""
    return folder.parent.name in REFINEMENT_KINDS or (folder / "run_model.star").is_file()


def job_label(folder: Path) -> str:
    """A job folder as RELION names it (``Refine3D/job029``): its kind's folder and its own."""
    return f"{folder.parent.name}/{folder.name}"


def fsc_refinement(fsc: Path) -> Path | None:
    """The refinement folder (resolved: an alias is its job) whose half-maps the FSC file ``fsc`` is of; None: unknown.

    A ``run_model.star`` is its own folder's; a ``postprocess.star`` the refinement whose half-map its ``job.star``
    ``fn_in`` names (a path in the project, two folders above the file's), else its own ``rlnUnfilteredMapHalf1``.
    """
    folder = fsc.resolve().parent
    if _is_refinement(folder):
        return folder
    half = job_options(folder).get("fn_in", "").strip() or _half_map(fsc)
    if not half:
        return None
    target = (folder.parent.parent / half).parent.resolve()
    return target if _is_refinement(target) else None


def fsc_refinement_said(fsc: Path, files: Sequence[Path]) -> str:
    """The refinement the FSC file is of, where the table says it ('': the particles' own, or not known).

    Particles (read from ``files``) in a refinement's folder with an FSC of another refinement are refused: the
    estimate would be of another map's curve. Particles elsewhere (a Select downstream, a copy) cannot be tied to one:
    the table names the FSC's refinement.
    """
    of = fsc_refinement(fsc)
    if of is None:
        return ""
    own = particles_refinement(files[0]) if len(files) == 1 else None
    if own is None:
        return job_label(of)
    if own != of:
        raise InputFileError(
            f"--fsc {fsc}: its FSC is of {job_label(of)}, the particles {files[0]} of {job_label(own)}; "
            f"give {job_label(own)}'s FSC (its PostProcess's postprocess.star, or its run_model.star)"
        )
    return ""


def _half_map(fsc: Path) -> str:
    """The first half-map a ``postprocess.star`` says it read (``data_general`` ``rlnUnfilteredMapHalf1``); ''."""
    try:
        star = StarFile(fsc)
    except (InputFileError, OSError):
        return ""
    general = {label: value for block in star.blocks if block.name == "general" for label, value in block.pairs}
    return general.get("rlnUnfilteredMapHalf1", "").strip()


def particles_refinement(path: Path) -> Path | None:
    """The refinement folder (resolved) a particle file lies in (``Refine3D/job029/run_data.star``); None: none."""
    folder = path.resolve().parent
    return folder if _is_refinement(folder) else None


def _folder_symmetry(folder: Path) -> tuple[str, str] | None:
    """A RELION job folder's point group (``job.star``, else ``run_sampling.star``) and the file; None: neither."""
    option = job_options(folder).get(SYMMETRY_OPTION, "").strip().strip('"')
    if option:
        return option, f"{folder / 'job.star'} {SYMMETRY_OPTION}"
    sampling = folder / SAMPLING_FILE
    if not sampling.is_file():
        return None
    try:
        star = StarFile(sampling)
    except (InputFileError, OSError):
        return None
    general = {
        label: value for block in star.blocks if block.name == "sampling_general" for label, value in block.pairs
    }
    group = general.get(SYMMETRY_LABEL, "").strip()
    return (group, f"{sampling} {SYMMETRY_LABEL}") if group else None


def read_origins(path: Path, labels: list[str]) -> np.ndarray | None:
    """A particle STAR's origins (Å) of each row, (n, len(labels)); None where its particles loop lacks them.

    None too for RELION 5's subtomograms (rlnTomoSubtomogramRot): their origins turn with each subtomogram.
    """
    return read_columns(path, labels)


#: RELION's pose of a particle: rot, tilt, psi (degrees).
POSE_LABELS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")


def read_columns(path: Path, labels: Sequence[str]) -> np.ndarray | None:
    """A particle STAR's ``labels`` as numbers, (n, len(labels)), from the last loop that holds them all; else None.

    None too for RELION 5's subtomograms (rlnTomoSubtomogramRot): their origins and poses turn with each subtomogram.
    """
    star = StarFile(path)
    star.refresh_blocks()
    blocks = [b for b in star.blocks if b.labels is not None and all(label in b.labels for label in labels)]
    if not blocks or "rlnTomoSubtomogramRot" in (blocks[-1].labels or ()):
        return None
    numbers, _, _ = star.scan(blocks[-1], list(labels), None)
    return np.stack([numbers[label] for label in labels], axis=1)


@dataclass(frozen=True)
class StraddlingBoxes:
    """The pairs in a set's duplicate groups (rows ``a``, ``b``), their centres' offset (Å), where their origins are.

    ``sides``: each pair's half-set (0, 1) or 2 across them (None: every pair across, the straddling pairs alone).

    Two boxes of one particle refine to one centre; their boxes lie apart by their origins' difference (centre +
    origin: the coordinates). ``origins``: the single STAR file and its rlnOrigin*Angst labels they are read from
    when an estimate asks (:meth:`offsets_A`); None (CryoSPARC, RELION 3.0's origins in pixels, several files):
    the centres' offset alone, each pair then counting nearly whole.
    """

    a: np.ndarray
    b: np.ndarray
    centre_offsets_A: np.ndarray
    rows: int
    origins: tuple[Path, tuple[str, ...]] | None = None
    #: The single STAR file the set was read from (its poses read from it when an estimate asks); None: not one.
    path: Path | None = None
    #: The set's own reader of its rows' poses (CryoSPARC's, as the core's rotation vectors), and how it writes them.
    pose_rows: Callable[[np.ndarray], np.ndarray] | None = field(default=None, compare=False)
    pose_kind: str = "relion"
    sides: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        paths: Sequence[Path],
        particles: ParticleSet,
        a: np.ndarray,
        b: np.ndarray,
        sides: np.ndarray | None = None,
    ) -> StraddlingBoxes:
        """The pairs of ``particles`` read from ``paths``; nothing read yet."""
        offsets = np.asarray(particles.centres[a] - particles.centres[b], dtype=np.float64)
        labels = tuple(label.strip() for label in particles.shift.split(","))
        in_angst = all(label.startswith("rlnOrigin") and label.endswith("Angst") for label in labels)
        readable = len(paths) == 1 and paths[0].suffix == ".star" and in_angst and len(labels) == offsets.shape[1]
        star = len(paths) == 1 and paths[0].suffix == ".star" and a.size
        return cls(
            a,
            b,
            offsets,
            len(particles),
            (paths[0], labels) if readable and a.size else None,
            paths[0] if star else None,
            particles.pose_rows,
            particles.pose_kind if particles.pose_rows is not None else "relion",
            sides,
        )

    def offsets_A(self) -> np.ndarray:
        """The offset (Å) between the two boxes of each pair: the centres' plus the origins' (read now, once)."""
        if self.origins is None:
            return self.centre_offsets_A
        origins = read_origins(self.origins[0], list(self.origins[1]))
        if origins is None or len(origins) != self.rows:
            return self.centre_offsets_A
        return self.centre_offsets_A + origins[self.a] - origins[self.b]

    def poses(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Each pair's two poses (as :attr:`pose_kind`: RELION's rot, tilt, psi in degrees), read now; None: none."""
        if self.pose_rows is not None:
            return self.pose_rows(self.a), self.pose_rows(self.b)
        if self.path is None:
            return None
        poses = read_columns(self.path, POSE_LABELS)
        if poses is None or len(poses) != self.rows:
            return None
        return poses[self.a], poses[self.b]


def _columns(star: StarFile, name: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The block's ``rlnResolution`` and ``label`` columns as numbers; an error naming what is missing."""
    block = star.block(name)
    if block is None:
        raise InputFileError(f"{star.path}: no data_{name} loop; expected RELION's FSC table there")
    table = star.table(block)
    for wanted in (RESOLUTION, label):
        if wanted not in table.labels:
            raise InputFileError(f"{star.path}: data_{name} has no _{wanted} column")
    try:
        frequency = np.array([float(v) for v in table.column(RESOLUTION)])
        fsc = np.array([float(v) for v in table.column(label)])
    except ValueError as err:
        raise InputFileError(f"{star.path}: data_{name}: a value that is not a number ({err})") from None
    if frequency.size < 2:
        raise InputFileError(f"{star.path}: data_{name} has {frequency.size} shell(s); an FSC needs several")
    wrong = _shells_wrong(frequency)
    if wrong:
        raise InputFileError(f"{star.path}: data_{name}: {wrong}")
    return frequency, fsc


def _shells_wrong(frequency: np.ndarray) -> str:
    """What is wrong with the shells' ``rlnResolution`` ("" when none): each a finite 1/Å from 0, rising shell by shell.

    RELION writes them so (0, or 0.001 in postprocess.star, then one shell's width more each row); the
    box's size is read from their steps, and the curve's crossing from their order.
    """
    bad = np.flatnonzero(~np.isfinite(frequency) | (frequency < 0))
    if bad.size:
        k = int(bad[0])
        return f"{RESOLUTION} of shell {k} is {float(frequency[k])!r}, expected a finite frequency (1/Å) of at least 0"
    steps = np.flatnonzero(np.diff(frequency) <= 0)
    if steps.size:
        k = int(steps[0]) + 1
        return (
            f"{RESOLUTION} of shell {k} is {float(frequency[k])!r} after {float(frequency[k - 1])!r}: "
            "expected the shells in order, each at a higher frequency (as RELION writes them)"
        )
    return ""
