"""The one structure every particle format is read into, whatever it came from.

A format module (``formats.star.particles``, ``formats.cryosparc.particles``, ``formats.picks``,
``formats.dynamo``, ``formats.copick``) reads its inputs into a :class:`ParticleSet`; the job
(``jobs.particles``) decides which rows to keep from it alone and hands the boolean mask
back to the set's writer. Nothing in the job knows a file format, and nothing in a format
module knows how the decision is made.

One route runs otherwise (docs/design.md section 5): RELION particle STAR files, read when
the job's options allow it, are decided while the core scans them. The STAR reader tells the
job what their headers say (:class:`StarFacts`); the job answers with its rule
(:class:`~cryodedup.algo.dedup.DuplicateRule`) or None; given a rule,
the reader has the core decide each micrograph's rows as it reads them and append them to the
kept or rejected output at once, and the set comes back ``decided``: the job takes that mask
as its decision and the writer only ends the files it holds. The rule is still the job's;
the reader only carries it into the scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Callable, Protocol, Union

import numpy as np
from numpy.typing import ArrayLike

import cryodedup._core as _core

from .paths import StrPath

__all__ = [
    "MIC_PSIZE",
    "OUTPUT_FORMATS",
    "SHIFT_KEYS",
    "Evidence",
    "ExportedPixel",
    "HalfSets",
    "Images",
    "JudgeTypedPsize",
    "KindsWriter",
    "ListedPixelSize",
    "Log",
    "MovingSubsetWriter",
    "NumberedNames",
    "ParticleNames",
    "ParticleSet",
    "PicksReach",
    "PlacedSubsetWriter",
    "PsizeFrom",
    "ReconstructedPixels",
    "StarFacts",
    "StatedPixelSizes",
    "SubsetWriter",
    "TiltSeriesPixel",
    "TomogramPixelStatement",
    "TypedPixelSize",
    "TypedTomogramPixelSize",
    "UnstatedPixel",
    "Warn",
    "pixel_size_entries",
    "pixel_size_of_rows",
]

#: Receives each warning for the user, as one line.
Warn = Callable[[str], None]
#: Receives progress messages (level ``"info"``) and warnings (level ``"warning"``).
Log = Callable[[str, str], None]


#: Values of ``--shift-key``: which shifts are subtracted from the locations (CryoSPARC's slots).
SHIFT_KEYS = ("auto", "none", "alignments2D", "alignments3D")
#: The formats a picker job may write (``--output-format``, besides ``auto``).
OUTPUT_FORMATS = ("relion", "cryosparc", "input")


@dataclass
class Images:
    """Each row's particle image, as the core's same-image rule and check take it.

    Attributes
    ----------
    indices : numpy.ndarray of uint32, shape (n_listed,)
        The index in its stack of each row of a run whose indices are not consecutive, in row
        order (4 bytes for such a row; a run of RELION Extract's ``000001@s, 000002@s ...``
        lists none: its rows' indices are ``first, first + 1 ...``). A row's index:
        :meth:`index_of`.
    runs : numpy.ndarray of uint64, shape (n_runs, 5)
        The runs of consecutive rows of one stack, in row order (stack hash, first and last
        index, increasing, rows): with ``indices`` they prove every image distinct without
        sorting the rows (``_core.images_distinct``), and name each row's stack.
    label : str
        What names the images (``rlnImageName``, ``blob/path + blob/idx``).
    names : callable
        The names of the images of some rows (an array of row indices), for a warning.
    stack_ids : callable
        Ids of the stacks of some rows (an array of row indices): equal exactly where the
        stacks' names are, for those rows. With ``indices``, a row's image exactly: the
        64-bit keys only say which rows may share one (:meth:`exact`).
    stacks : tuple of (bytes, numpy.ndarray of uint64, numpy.ndarray of uint8), or None
        The runs' stack names as a STAR scan keeps them (the names one after the other, where
        each run's ends, each run's ``index@`` prefix length), from which ``names`` tells a
        row's name: the core's record of rejections names rows from them (None: not kept).
    """

    indices: np.ndarray
    runs: np.ndarray
    label: str
    names: Callable[[np.ndarray], list[str]]
    stack_ids: Callable[[np.ndarray], np.ndarray]
    stacks: tuple[bytes, np.ndarray, np.ndarray] | None = None

    #: The bits of the 64-bit image keys compared before the names: 64, or fewer in a test
    #: (to make distinct images collide).
    key_bits = 64

    @cached_property
    def size(self) -> int:
        """How many rows the runs hold."""
        return _core.image_row_count(self.runs)

    def index_of(self, rows: np.ndarray) -> np.ndarray:
        """The index in its stack of each of ``rows`` (uint32), told from the runs and the listed indices."""
        return _core.image_indices(self.runs, self.indices, np.ascontiguousarray(rows, dtype=np.uint32))

    def exact(self, rows: np.ndarray) -> np.ndarray:
        """Ids of the images of ``rows`` (int64): equal exactly where their (stack, index) are."""
        rows = np.asarray(rows, dtype=np.int64)
        images = (self.stack_ids(rows).astype(np.uint64) << np.uint64(32)) | self.index_of(rows).astype(np.uint64)
        return np.unique(images, return_inverse=True)[1].reshape(-1).astype(np.int64)

    @cached_property
    def keys(self) -> np.ndarray:
        """Each row's image key (uint64, never 0): equal exactly for rows of one image, in any input.

        Made when first asked for, which is only when some image is there twice. The rows
        whose 64-bit keys repeat are told apart by their names (:meth:`exact`): an image
        whose key another image's took gets a key of its own.
        """
        keys = _core.image_keys(self.runs, self.indices)
        if self.key_bits < 64:
            keys = (keys & np.uint64((1 << self.key_bits) - 1)) | np.uint64(1 << 63)
        rows = _core.images_repeated(self.runs, self.indices, np.ones(self.size, dtype=bool), self.key_bits)
        if rows.size:
            _give_colliding_images_keys_of_their_own(keys, rows, self.exact(rows))
        return keys

    def rows(self, which: np.ndarray) -> Images:
        """The images of the rows ``which`` (indices), their runs made again (a species' rows: ParticleSet.rows)."""
        stacks = np.repeat(self.runs[:, 0], self.runs[:, 4].astype(np.intp))
        runs, indices = _core.image_runs(np.ascontiguousarray(np.take(stacks, which)), self.index_of(which))
        names, stack_ids = self.names, self.stack_ids
        return Images(
            indices,
            runs,
            self.label,
            lambda rows: names(np.take(which, rows)),
            lambda rows: stack_ids(np.take(which, rows)),
        )


def _give_colliding_images_keys_of_their_own(keys: np.ndarray, rows: np.ndarray, images: np.ndarray) -> None:
    """Gives each image of ``rows`` (ids ``images``) whose key an earlier image of them holds a new key, in place.

    The new keys are drawn among those no row holds (a collision of 64-bit keys is rare:
    the draw is repeated only while it meets one).
    """
    order = np.lexsort((images, keys[rows]))
    rows, images, held = rows[order], images[order], keys[rows[order]]
    new_image = np.concatenate([[True], images[1:] != images[:-1]])
    new_key = np.concatenate([[True], held[1:] != held[:-1]])
    moved = np.cumsum(new_image & ~new_key)  # the images after the first of a key, numbered
    if moved[-1] == 0:
        return
    rng = np.random.default_rng(0)
    while True:
        fresh = rng.integers(1 << 62, 1 << 63, int(moved[-1]), dtype=np.uint64) | np.uint64(1 << 63)
        if np.unique(fresh).size == fresh.size and not np.isin(fresh, keys).any():
            break
    # An image's rows follow each other in ``order``; those of a moved image take its new key.
    number = np.maximum.accumulate(np.where(new_image, moved, 0))
    taken = number > np.maximum.accumulate(np.where(new_image & new_key, moved, 0))
    keys[rows[taken]] = fresh[number[taken] - 1]


@dataclass
class ParticleNames:
    """Each row's particle name (RELION's ``rlnTomoParticleName``), read only when asked for.

    ``read()`` gives each row's name id (int64, -1 for a row of an input without the column)
    and the names by id: a second read of the column, for the check of names that collide
    (:mod:`cryodedup.algo.particle_names`).
    """

    label: str
    read: Callable[[], tuple[np.ndarray, list[str]]]


@dataclass(frozen=True)
class StarFacts:
    """What a STAR reader knows of its inputs before it scans them: what the one-pass decision needs.

    ``inputs``: how many files; ``halfsets``, ``filaments``, ``subtomograms``: whether their
    rows carry half-sets (``rlnRandomSubset``), a tube column, or RELION 5's subtomogram angles;
    ``names``: the files as the job names them (``ParticleSet.inputs``: ``--overrides`` names them so).
    """

    inputs: int
    halfsets: bool
    filaments: bool
    subtomograms: bool
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatedPixelSizes:
    """The pixel sizes a micrographs list states, as its reader found them (``formats/micrograph_lists``).

    ``resolve.given_psize.stated_evidence`` judges a typed pixel size against them: the reader
    says what the file holds, the resolver what agrees.

    ``place``: where (``in micrographs_ctf.star``); ``values``: its micrographs' pixel sizes in
    ``field`` (none: the list states none); ``detector``: the detector pixel it states
    (``rlnMicrographOriginalPixelSize``), which the micrographs' is a binning of. ``traps``:
    other pixel sizes stated beside them that a typed one must not equal where they differ
    from the micrographs' (CryoSPARC's ``blob/psize_A``), and why (``trap_reason``); they are
    the particles' pixel sizes, in ``traps_field``: where the list states no micrograph pixel
    size, the smallest bounds it (``Evidence.ceiling``).
    """

    place: str
    values: tuple[float, ...]
    field: str
    detector: tuple[float, ...] = ()
    detector_field: str = ""
    traps: tuple[float, ...] = ()
    trap_reason: str = ""
    traps_field: str = ""


#: The summary's source for a pixel size given on the command line.
MIC_PSIZE = "--mic-psize"


class PsizeFrom(Enum):
    """Where a reader takes the pixel size of its coordinates from: the job decides it (``resolve.pixel_size``).

    ``GIVEN``: the value typed (``--mic-psize``); ``LISTED``: the micrographs list given
    (``--micrographs``), where the format takes one; ``OWN``: what the files themselves say.
    """

    GIVEN = "given"
    LISTED = "listed"
    OWN = "own"


@dataclass(frozen=True)
class Evidence:
    """A pixel size the run reads from its files, to check a typed one against.

    A reader states it; ``resolve.given_psize`` judges a typed value against it. ``name``
    says what it is (``rlnMicrographPixelSize``, ``the MRC header``) and ``place`` where
    (``of optics group 1 in particles.star``); ``binned``: a detector pixel, which the
    micrograph pixel may be any binning of (1 to ``resolve.given_psize.MAX_BINNING``);
    ``trap``: a value the typed one must not equal and why
    (``(3.54, "that group's rlnImagePixelSize (particles binned at extraction)")``), where it
    differs from ``trap_beside`` (the micrograph pixel size stated with it; None: always).
    ``ceiling``: the particles' pixel size (``rlnImagePixelSize``, ``blob/psize_A``) where the
    file states no micrograph pixel size: extraction keeps the micrograph pixel or bins it to a
    larger one, so the micrograph pixel is at most this; ``trap_beside`` then holds the detector
    pixel stated with it, which, larger, shows particles upsampled at extraction (no ceiling).
    """

    value: float
    name: str
    place: str
    binned: bool = False
    trap: tuple[float, str] | None = None
    trap_beside: float | None = None
    ceiling: bool = False


@dataclass(frozen=True)
class PicksReach:
    """How far picks reach on their micrographs of known size (``place`` says where the sizes are from).

    ``reach``: the largest x / width and y / height of the picks in pixels of the typed pixel
    size; ``picks``: how many picks lie on micrographs of known size.
    """

    reach: tuple[float, float]
    picks: int
    place: str


@dataclass(frozen=True)
class TypedPixelSize:
    """A pixel size the user typed for an input (``--mic-psize``), and what its files state of it.

    The reader gathers it, ``resolve.given_psize.judge_typed_psize`` judges it: what the
    reader states comes first in ``stated`` (an optics table's groups), then what its lists
    state (``lists``: the particles' own column, a micrographs list, the lists RELION jobs
    name), then how far the picks reach (``reach``). ``insist``: ``--insist-psize``;
    ``where``: the start of the warning naming the input (``particles_a.star: ``, or none).
    """

    given: float
    insist: bool
    where: str = ""
    stated: tuple[Evidence, ...] = ()
    lists: tuple[StatedPixelSizes, ...] = ()
    reach: PicksReach | None = None


@dataclass(frozen=True)
class TiltSeriesPixel:
    """Tomogram coordinates a file gives in tilt-series pixels, and that pixel (``rlnTomoTiltSeriesPixelSize``).

    ``place``: where it is stated (``of optics group 1 in a.star``); ``reader``: who takes the
    coordinates in it, as the refusal says (``RELION 4 writes``, ``RELION 5's import takes``).
    """

    value: float
    place: str
    reader: str


@dataclass(frozen=True)
class ExportedPixel:
    """A WarpTools export's optics group: coordinates in the exported tomograms' pixel, not the tilt series'.

    ``tilt_series``: its ``rlnTomoTiltSeriesPixelSize`` (the value typed by mistake);
    ``image``: its ``rlnImagePixelSize``, as ``words`` names it; ``place``: the group.
    """

    tilt_series: float
    image: float
    place: str
    words: str


@dataclass(frozen=True)
class ReconstructedPixels:
    """An annotation file's coordinates in reconstructed tomograms' pixels, as a tomograms STAR states them.

    ``by_tomogram``: that pixel (named ``name``: ``rlnTomoTiltSeriesPixelSize x
    rlnTomoTomogramBinning``) of the file's tomograms, or of every tomogram listed where the
    STAR lists none of them; ``tilt_series``: each tomogram's tilt-series pixel; ``path``: the STAR.
    """

    by_tomogram: dict[str, float]
    tilt_series: dict[str, float]
    name: str
    path: str


@dataclass(frozen=True)
class UnstatedPixel:
    """An annotation file read without a tomograms STAR: no file states its pixel (``name``: what would)."""

    name: str


#: What a tomography input's files state of the pixel of its coordinates.
TomogramPixelStatement = Union[TiltSeriesPixel, ExportedPixel, ReconstructedPixels, UnstatedPixel]


@dataclass(frozen=True)
class ListedPixelSize:
    """A micrograph pixel size read from another file (a micrographs STAR, ``--micrographs``), to judge as typed.

    ``source`` names its field and file; ``stated``: what the particles' own file states
    (:class:`Evidence`); ``advice``: what to give where they contradict it. The job's judge
    (``resolve.given_psize.judge_typed_psize``) refuses a contradiction.
    """

    value: float
    source: str
    stated: tuple[Evidence, ...]
    advice: str


@dataclass(frozen=True)
class TypedTomogramPixelSize:
    """A pixel size typed for an input's tomogram coordinates (``--mic-psize``), and what its files state of it.

    The tomography readers gather it, the job's judge (``resolve.tomogram_psize``) refuses a
    value the statements contradict; ``label``: the input, as its messages name it.
    """

    given: float
    label: str
    stated: tuple[TomogramPixelStatement, ...]


#: Judges a typed pixel size for the readers (handed to them by the job): refuses one its
#: files contradict, or warns where the user insists; returns the summary's source.
JudgeTypedPsize = Callable[[Union[TypedPixelSize, TypedTomogramPixelSize, ListedPixelSize], Warn], str]


def pixel_size_of_rows(mic_psize: np.ndarray, n_rows: int, groups: Callable[[], np.ndarray]) -> np.ndarray:
    """Each row's pixel size from its micrograph's (``mic_psize[groups()]``).

    When every micrograph has the same size (none NaN) it is a read-only broadcast that
    takes no memory, and ``groups`` (which may join several inputs' arrays) is not called.
    """
    if n_rows == 0:
        return np.zeros(0)
    if len(mic_psize) and bool((mic_psize == mic_psize[0]).all()):
        return np.broadcast_to(mic_psize[0], (n_rows,))
    return mic_psize[groups()]


def pixel_size_entries(psize: ArrayLike, source: str) -> list[dict]:
    """The summary's ``pixel_sizes`` entries for pixel sizes that apply to all inputs.

    One entry per distinct value (the first ten).
    """
    values = np.asarray(psize)
    one = values.size and bool((values == values.flat[0]).all())  # the usual: no sort of a value per particle
    distinct = values.flat[:1] if one else np.unique(values)[:10]
    return [{"input": "all", "optics_group": "all", "psize": float(v), "source": source} for v in distinct]


@dataclass
class HalfSets:
    """Each row's half-set of a gold-standard refinement, and how its format writes them.

    Attributes
    ----------
    label : str
        The column or field (``rlnRandomSubset``, ``alignments3D/split``).
    half : numpy.ndarray of int8, shape (n,)
        0 for the first half-set, 1 for the second.
    texts : tuple of str
        The values of the two halves as the format writes them (``("1", "2")`` for RELION,
        ``("0", "1")`` for CryoSPARC).
    """

    label: str
    half: np.ndarray
    texts: tuple[str, str]


class SubsetWriter(Protocol):
    """Writes the kept and rejected rows of a set where its format puts them."""

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes the rows where ``keep`` is True to the kept outputs and the others to the rejected outputs.

        All or nothing (:class:`~cryodedup.outputs.AtomicOutputs`), existing files refused
        unless ``force``, never over an input. ``halves`` (0 or 1 per row), where given,
        replaces the half-set column of the kept rows (only that field). Returns
        ``{"kept": [paths], "rejected": [paths]}``.
        """
        ...


class MovingSubsetWriter(SubsetWriter, Protocol):
    """A writer that combines inputs in one file and can write some rows' coordinates moved (``--transform``)."""

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """Rows ``rows`` (of the set, ascending) are to be written with their centres moved by ``shift_A`` (Å).

        ``psize``: each row's pixel size, the unit of coordinates written in pixels (NaN: the
        rows' coordinates are in Å). Returns what the outputs then hold, in words for the summary.
        """
        ...


class PlacedSubsetWriter(SubsetWriter, Protocol):
    """A subset writer whose outputs a caller may place with its own (the micrograph job's ``--particles``)."""

    #: The kept and the rejected outputs, where they will be placed.
    outputs: list[Path]

    def write_into(self, keep: np.ndarray, targets: dict[Path, Path]) -> None:
        """Writes as :meth:`write` does, each of ``outputs`` to ``targets[output]`` (a temporary name)."""
        ...


class KindsWriter:
    """Writes each reader's rows with that reader's writer: a set joined from two kinds of input.

    ``parts``: each writer with the rows of the joined set it writes (ascending, contiguous).
    ``--transform`` moves an input's rows in its kind's writer (:meth:`writer_of`).
    """

    #: What a part that writes each input to files of its own does with a moved input's rows.
    AS_READ = "its rows written as read, in its own frame (per-input outputs)"

    def __init__(self, parts: list[tuple[SubsetWriter | None, np.ndarray]]) -> None:
        self.parts = parts

    def writer_of(self, rows: np.ndarray) -> tuple[SubsetWriter | None, np.ndarray]:
        """The writer of ``rows`` (one input's: all in one part), and their rows among that part's."""
        for writer, part in self.parts:
            if len(rows) and len(part) and part[0] <= rows[0] <= part[-1]:
                return writer, rows - part[0]
        return None, rows

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """Writes every part's kept and rejected rows; their files, by subset."""
        outputs: dict[str, list[Path]] = {}
        for writer, rows in self.parts:
            assert writer is not None, "every reader of files gives the set a writer"
            for subset, paths in writer.write(keep[rows], force, None if halves is None else halves[rows]).items():
                outputs.setdefault(subset, []).extend(paths)
        return outputs


@dataclass
class ParticleSet:
    """Particles (or picks) of one or more inputs, located in Å on their micrographs.

    Attributes
    ----------
    inputs : list of str
        The inputs as named in the summary (a file, a picker's folder).
    input_of : numpy.ndarray of int, shape (n,)
        Index into ``inputs`` of each row (any integer type; uint8 for STAR files).
    mic_names : list of str
        Micrograph names by micrograph id.
    groups : numpy.ndarray of int64 or uint32, shape (n,)
        Micrograph id of each row.
    centres : numpy.ndarray of float64, shape (n, 2) or (n, 3)
        Centres in Å (origins or shifts already subtracted).
    psize : numpy.ndarray of float64, shape (n,)
        Micrograph pixel size of each row, Å (read-only, and a broadcast value when one
        pixel size holds for all rows).
    pixel_sizes : list of dict
        What pixel size was used where: ``input``, ``optics_group``, ``psize``, ``source``.
    scores : numpy.ndarray of float64, shape (n,), or None
        Score of each row; None ranks by a seeded random order.
    score_label : str or None
        The score column or field.
    higher_is_better : bool
        Direction of the score.
    scores_per_level : bool
        Whether each ``--prefer`` level ranks its own duplicates by a score of its own (NaN
        where a level has none: file order), never compared between levels.
    shift : str
        The origin or shift used (``none`` when none).
    read_files : list of str or Path
        Every file read, so that no output overwrites one.
    writer : SubsetWriter or None
        Writes kept and rejected (None for data in memory).
    mic_shapes : dict of int -> (ny, nx)
        Micrograph sizes in pixels by id, where known.
    summary : dict
        Entries the format adds to the job's summary.
    tubes : numpy.ndarray of uint32, shape (n,), or None
        Filament tube of each row (0: none), see :mod:`cryodedup.algo.filaments`; None without filaments.
    tube_column : str or None
        The column (field) the tubes came from.
    halfsets : HalfSets or None
        The half-set of each row, when the particles carry one.
    sources : numpy.ndarray of int64, shape (n,), or None
        The source particle of each row of a symmetry-expanded set (None otherwise).
    sources_label : str
        What names the sources (``sym_expand/src_uid``, ``rlnImageName``).
    copies_at_pose : numpy.ndarray of bool, shape (n,), or None
        With ``sources`` named by the image: whether each row repeats an earlier row of its image at its pose
        (selections joined twice, not an expansion); None where the poses were not read.
    poses : numpy.ndarray of float64, shape (n, 3), or None
        Each row's orientation, read only for ``--max-angle``: RELION's rot, tilt, psi in
        degrees (``pose_kind`` ``"relion"``) or the rotation vector of RELION's matrix ``A``
        (``"rotvec"``: CryoSPARC's ``alignments3D/pose`` negated, A being its rotation's transpose;
        a tomogram's pose).
    pose_kind : str
        How ``poses`` are read.
    pose_label : str
        The columns or field they came from.
    pose_convention : str
        Whose point-group settings ``--sym`` names mean for these poses: ``"cryosparc"`` for
        CryoSPARC's ``alignments3D/pose``, ``"relion"`` otherwise (RELION's, and the setting
        taken for packages that define none: Dynamo, copick, pick lists).
    decided : numpy.ndarray of bool, shape (n,), or None
        Whether each row is kept, when the job asked the reader to decide while reading
        (given a :class:`~cryodedup.algo.dedup.DuplicateRule`: one big STAR file decided and written in
        one pass, docs/design.md section 5) and it could: the writer has the outputs already.
    decided_by : numpy.ndarray of int64, shape (n,), or None
        With ``decided``, where the job asked for them (``--plot``): each rejected row's
        partner, the kept row that suppressed it (-1 for a kept row).
    decided_record : callable returning a Path, or None
        With ``decided``, where the job asked for the record of every rejection
        (``--decisions``): the file the core wrote it to while it scanned, once the scan's
        writing is done (the call waits for it).
    decided_counts : cryodedup._core.ScanPictures or None
        With ``decided`` and ``--plot``: what the pictures count of the rows (the nearest-neighbour
        histogram, each micrograph's picks and kept picks), counted as the scan decided them.
    decided_overridden : numpy.ndarray of uint64, shape (k,), or None
        With ``decided`` and ``--overrides``: the rows the file decided as the scan decided them
        (forced, or rejected by a forced keep), increasing.
    mic_uids : numpy.ndarray, shape (n,), or None
        Each row's CryoSPARC micrograph uid, read only for a names-only set (:meth:`names_only`).
    named : bool
        Whether the file names its micrographs (False: a CryoSPARC file with micrograph uids alone).
    species : numpy.ndarray of uint32, shape (n,), or None
        Each row's species, an index into ``species_names`` (cryo-ET: several species in one
        tomogram); None: one species.
    species_names : list of str
        The species by index.
    species_radii : dict of str -> float
        Each species' radius in Å where the input says it (a copick object's radius).
    pick_sets : bool
        Whether the inputs are copick pick sets labelled ``user/session`` (one project file),
        not files: ``--prefer`` names them by label, user or position.
    images : Images or None
        Each row's particle image (the same image twice, docs/developers/decisions/same-image.md); None
        when the inputs do not name their images or ``--same-image ignore``.
    particle_names : ParticleNames or None
        Each row's particle name (``rlnTomoParticleName``), for several inputs of which one
        has the column; None otherwise.
    identities : list of dict, or None
        Per input, what its files say a micrograph name stands for (the optics table's
        detector pixel size, voltage, ...: ``resolve.datasets.IDENTITY_FIELDS``, each field's
        distinct values); None where the reader does not read them. Inputs that share a
        micrograph's name must agree on them (``resolve.datasets.check_shared_names``).
    coverage : numpy.ndarray of bool, shape (n_micrographs, n_inputs), or None
        Whether input k ran on micrograph g (a picker's job names the micrographs it picked,
        even those where it found nothing); None when the inputs do not say, and each input
        is taken to cover the micrographs it has rows on.
    row_names : callable or None
        The names of some rows (an array of row indices) as their format identifies a
        particle where that is not its image (CryoSPARC: ``uid``; picks: file and line), for
        the record of rejections (``--decisions``); None: the image names them (``images``).
    pose_rows : callable or None
        The poses of some rows (an array of row indices), as ``pose_kind`` writes them, read when asked
        where ``poses`` was not read (CryoSPARC's ``alignments3D/pose``: what the FSC estimate compares
        across the half-sets); None: not readable so.
    """

    inputs: list[str]
    input_of: np.ndarray
    mic_names: list[str]
    groups: np.ndarray
    centres: np.ndarray
    psize: np.ndarray
    pixel_sizes: list[dict]
    scores: np.ndarray | None
    score_label: str | None
    higher_is_better: bool
    shift: str = "none"
    read_files: Sequence[StrPath] = field(default_factory=list)
    writer: SubsetWriter | None = None
    mic_shapes: dict[int, tuple[int, int]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    tubes: np.ndarray | None = None
    tube_column: str | None = None
    halfsets: HalfSets | None = None
    sources: np.ndarray | None = None
    sources_label: str = ""
    copies_at_pose: np.ndarray | None = None
    poses: np.ndarray | None = None
    pose_kind: str = "relion"
    pose_label: str = ""
    pose_convention: str = "relion"
    decided: np.ndarray | None = None
    decided_by: np.ndarray | None = None
    decided_record: Callable[[], Path] | None = None
    decided_counts: _core.ScanPictures | None = None
    decided_overridden: np.ndarray | None = None
    coverage: np.ndarray | None = None
    mic_uids: np.ndarray | None = None
    named: bool = True
    species: np.ndarray | None = None
    species_names: list[str] = field(default_factory=list)
    species_radii: dict[str, float] = field(default_factory=dict)
    images: Images | None = None
    pick_sets: bool = False
    identities: list[dict[str, tuple[float, ...]]] | None = None
    row_names: Callable[[np.ndarray], list[str]] | None = None
    particle_names: ParticleNames | None = None
    scores_per_level: bool = False
    pose_rows: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def names_only(
        cls,
        path: StrPath,
        mic_names: list[str] | None,
        groups: np.ndarray,
        writer: PlacedSubsetWriter,
        mic_uids: np.ndarray | None,
    ) -> ParticleSet:
        """The particles of one file read for their micrographs alone: no centre, pixel size or score.

        What the micrograph job's ``--particles`` split needs: ``groups`` indexes ``mic_names``
        (each row's micrograph name; None, and -1 on every row, when the file names micrographs
        by uid alone), ``mic_uids`` is each row's CryoSPARC micrograph uid where the file has one.
        """
        n = len(groups)
        return cls(
            inputs=[str(path)],
            input_of=np.zeros(n, np.uint8),
            mic_names=mic_names or [],
            named=mic_names is not None,
            groups=groups,
            centres=np.zeros((n, 0)),
            psize=np.broadcast_to(np.nan, (n,)),
            pixel_sizes=[],
            scores=None,
            score_label=None,
            higher_is_better=True,
            read_files=[path],
            writer=writer,
            mic_uids=mic_uids,
        )

    def __len__(self) -> int:
        return int(self.groups.size)

    def names_of(self, rows: np.ndarray) -> list[str]:
        """What the inputs name each of ``rows`` (CryoSPARC: uid; picks: file and line; else its image), else ''.

        The ``particle`` column of ``decisions.csv``, and the name an overrides file gives a row.
        """
        if rows.size == 0:
            return []
        if self.row_names is not None:
            return self.row_names(rows)
        return [""] * rows.size if self.images is None else self.images.names(rows)

    def rows(self, which: np.ndarray) -> ParticleSet:
        """The rows ``which`` (indices, increasing) as a set of one species: the per-row arrays taken, the rest shared.

        Nothing of it is written (its writer is the whole set's); the job decides each species on its own.
        """

        def taken(values: np.ndarray | None) -> np.ndarray | None:
            # (np.take: several times faster than values[which] on rows of several values)
            return None if values is None else np.take(values, which, axis=0)

        halfsets = self.halfsets
        if halfsets is not None:
            halfsets = HalfSets(halfsets.label, np.take(halfsets.half, which), halfsets.texts)
        return replace(
            self,
            input_of=np.take(self.input_of, which),
            groups=np.take(self.groups, which),
            centres=np.take(self.centres, which, axis=0),
            # (one pixel size for every row is a broadcast value: kept one, not made a row each)
            psize=np.broadcast_to(self.psize[0], which.shape)
            if self.psize.size and self.psize.strides == (0,)
            else np.take(self.psize, which),
            scores=taken(self.scores),
            tubes=taken(self.tubes),
            halfsets=halfsets,
            sources=taken(self.sources),
            copies_at_pose=taken(self.copies_at_pose),
            poses=taken(self.poses),
            decided=None,
            decided_by=None,
            decided_record=None,
            decided_counts=None,
            decided_overridden=None,
            mic_uids=taken(self.mic_uids),
            species=None,
            images=None if self.images is None else self.images.rows(which),
            row_names=None if self.row_names is None else _names_of_rows(self.row_names, which),
            pose_rows=None if self.pose_rows is None else _poses_of_rows(self.pose_rows, which),
        )

    def counts(self, where: np.ndarray | None = None) -> np.ndarray:
        """Rows of each input (only those where ``where`` is True, if given).

        Counted input by input, so that no array of 8 bytes per row is made; inputs whose rows
        follow one another (as every reader gives them) by bisection.
        """
        n_inputs = len(self.inputs)
        if n_inputs == 1:
            return np.array([len(self) if where is None else np.count_nonzero(where)])
        if self.input_of.size and bool((self.input_of[1:] >= self.input_of[:-1]).all()):
            # Inputs one after another (as they are read): each is a run, found by bisection.
            starts = np.searchsorted(self.input_of, np.arange(1, n_inputs).astype(self.input_of.dtype))
            bounds = [0, *starts.tolist(), len(self.input_of)]
            runs = zip(bounds[:-1], bounds[1:])
            return np.array([b - a if where is None else np.count_nonzero(where[a:b]) for a, b in runs])
        mask = (lambda k: self.input_of == k) if where is None else (lambda k: where & (self.input_of == k))
        return np.array([np.count_nonzero(mask(k)) for k in range(n_inputs)])


@dataclass(frozen=True)
class NumberedNames:
    """Rows' names that are a text and a number after it (``uid 12``, ``Movies/a.star: line 7``).

    Called, the names (``ParticleSet.row_names``); :attr:`numbered` gives them as the core's record
    of rejections writes them without a string a row: the texts, each row's text (uint32) and
    its number (uint64).
    """

    numbered: Callable[[np.ndarray], tuple[list[str], np.ndarray, np.ndarray]]

    def __call__(self, rows: np.ndarray) -> list[str]:
        """The names of ``rows`` (an array of row indices), as texts."""
        texts, which, numbers = self.numbered(rows)
        return [texts[t] + str(n) for t, n in zip(which.tolist(), numbers.tolist())]


def _poses_of_rows(poses: Callable[[np.ndarray], np.ndarray], which: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``poses`` of a subset's rows: its row k is the whole set's ``which[k]``."""
    return lambda rows: poses(np.take(which, rows))


def _names_of_rows(names: Callable[[np.ndarray], list[str]], which: np.ndarray) -> Callable[[np.ndarray], list[str]]:
    """``names`` of a subset's rows: its row k is the whole set's ``which[k]``."""
    return lambda rows: names(np.take(which, rows))
