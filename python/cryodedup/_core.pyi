"""Type stubs of the Rust extension (rust/python/src/: lib.rs registers, one module per area)."""

import os
from pathlib import Path
from typing import final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "BEST_MAX_PAIRS",
    "SAME_CENTRE_A",
    "AgreementCounts",
    "BestCounts",
    "ColumnValues",
    "CsLocations",
    "DedupDecision",
    "DedupRule",
    "EllipsoidRule",
    "Geometry",
    "JoinedPicks",
    "KeyGroups",
    "NamedImageRows",
    "NearestHistogram",
    "OpenComponents",
    "PageFilesPlan",
    "PageTexts",
    "PairScores",
    "ParticleColumns",
    "ParticleScan",
    "PickFile",
    "PickInput",
    "PickOutput",
    "PickTables",
    "PixelSizes",
    "PoseRule",
    "PriorityCounts",
    "RecordImages",
    "RecordNumbered",
    "RecordWriting",
    "ScanPictures",
    "SpectraBatch",
    "SpectrumBank",
    "SpectrumMaker",
    "SplitRule",
    "StarBlock",
    "StarFile",
    "StarScan",
    "__version__",
    "agreement_counts",
    "append_pair_rows",
    "bin_image",
    "bin_images",
    "blend_mask",
    "counts_per_group",
    "cs_locations",
    "dedup",
    "element_texts",
    "element_texts_of_files",
    "ellipsoid_conflicts",
    "fill_box",
    "group_keys",
    "halved_png_rows",
    "histogram",
    "image_indices",
    "image_keys",
    "image_row_count",
    "image_rows",
    "image_runs",
    "images_distinct",
    "images_kept_twice",
    "images_repeated",
    "images_shared",
    "join_picks",
    "match_keys",
    "match_positions",
    "name_key_ids",
    "name_keys",
    "nearest_distances",
    "nearest_histogram",
    "order_statistics",
    "page_index_names",
    "page_index_numbers",
    "percentiles_within",
    "pose_angles",
    "random_keys",
    "read_pick_files",
    "release_freed",
    "repeat_int32",
    "repeated_uint64",
    "row_targets",
    "stack_hashes",
    "stamp",
    "suppress_overlaps",
    "symmetry_setting",
    "write_decisions",
    "write_page_picks",
    "write_pick_numbers",
    "write_pick_rows",
    "zlib_stream",
]

__version__: str
SAME_CENTRE_A: float
BEST_MAX_PAIRS: int

@final
class DedupRule:
    """How duplicates are decided: within ``min_dist`` (Å), the better score kept, or both removed."""

    min_dist: float
    higher_is_better: bool
    remove_entirely: bool
    seed: int
    selection: str
    def __new__(
        cls, *, min_dist: float, higher_is_better: bool, remove_entirely: bool, seed: int, selection: str = "greedy"
    ) -> Self: ...

@final
class PoseRule:
    """Orientations two duplicates must also share: within ``max_angle`` degrees under ``sym``.

    ``sym`` in the setting ``convention`` (``"relion"``, ``"cryosparc"``: the package that wrote the poses) gives it.
    """

    poses: npt.NDArray[np.float64]
    kind: str
    max_angle: float
    sym: str
    convention: str
    def __new__(
        cls,
        poses: npt.NDArray[np.float64],
        kind: str = "relion",
        max_angle: float = 180.0,
        sym: str = "C1",
        convention: str = "relion",
    ) -> Self: ...

@final
class EllipsoidRule:
    """Exclusion in each particle's own frame: semi-axes ``a``, ``b``, ``c`` (Å, its x, y, z) turned by its pose."""

    poses: npt.NDArray[np.float64]
    kind: str
    semi_axes: list[float]
    def __new__(cls, poses: npt.NDArray[np.float64], a: float, b: float, c: float, kind: str = "relion") -> Self: ...

@final
class DedupDecision:
    """What ``dedup`` decides: each row kept or not, who suppressed it, the consensus masks."""

    keep: npt.NDArray[np.bool_]
    suppressed_by: npt.NDArray[np.int64] | None
    masks: npt.NDArray[np.uint64] | None
    priority: PriorityCounts | None
    best: BestCounts | None

@final
class BestCounts:
    """What a best selection did (``cryodedup.algo.selection.SelectionCounts``)."""

    components: int
    exact: int
    bounded: int
    largest: int
    exact_limit: int
    greedy_kept: int
    greedy_score: float
    kept: int
    score: float
    bounded_kept: int
    bounded_kept_bound: int
    bounded_score: float
    bounded_score_bound: float
    walked: int
    walked_picks: int
    open: OpenComponents

@final
class OpenComponents:
    """The bounded components for a proven solver (``cryodedup.algo.selection_solver``)."""

    members: npt.NDArray[np.uint32]
    member_starts: npt.NDArray[np.uint64]
    pairs: npt.NDArray[np.uint32]
    pair_starts: npt.NDArray[np.uint64]
    weights: npt.NDArray[np.float64]
    position: npt.NDArray[np.uint32]
    keep: npt.NDArray[np.bool_]
    kept_bound: npt.NDArray[np.uint64]
    score_bound: npt.NDArray[np.float64]

@final
class PriorityCounts:
    """The groups each priority level decided (``cryodedup.algo.priority.PriorityCounts``)."""

    groups: int
    by_priority: list[int]
    against_score: int

def dedup(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32],
    coords: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64] | None,
    rule: DedupRule,
    inputs: npt.NDArray[np.uint32] | None = None,
    want_suppressed_by: bool = True,
    tubes: npt.NDArray[np.uint32] | None = None,
    whole_tubes: bool = False,
    pose: PoseRule | None = None,
    priorities: npt.NDArray[np.uint32] | None = None,
    images: npt.NDArray[np.uint64] | None = None,
    input_priorities: npt.NDArray[np.uint32] | None = None,
    ellipsoid: EllipsoidRule | None = None,
) -> DedupDecision: ...

@final
class AgreementCounts:
    """The consensus report's counts: per micrograph and input, confirmed pairs, per input."""

    size: npt.NDArray[np.uint64]
    matched: npt.NDArray[np.uint64]
    per_input: npt.NDArray[np.uint64]

def agreement_counts(
    groups: npt.NDArray[np.uint32],
    inputs: npt.NDArray[np.uint32],
    masks: npt.NDArray[np.uint64] | None,
    keep: npt.NDArray[np.bool_] | None,
    n_groups: int,
    n_inputs: int,
) -> AgreementCounts: ...

@final
class CsLocations:
    """A .cs table's locations read in one pass: centres (n, 2) in Å, pixel sizes, and what the job checks."""

    centres: npt.NDArray[np.float64]
    psize: npt.NDArray[np.float64]
    #: Whether every pixel size is > 0.
    psize_positive: bool
    #: The first row whose micrograph_shape has a 0, if any.
    zero_shape: int | None
    #: How many rows' centre fractions lie outside 0 to 1 (NaN not counted), and the first.
    off_micrograph: int
    first_off_micrograph: int | None

@final
class KeyGroups:
    """Rows grouped by equal keys: each row's group (as ``np.unique``'s inverse), its first and last row, count."""

    ids: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]
    last: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    def __new__(
        cls,
        *,
        ids: npt.NDArray[np.int64],
        first: npt.NDArray[np.int64],
        last: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
    ) -> Self: ...
    def __len__(self) -> int: ...

def group_keys(keys: npt.NDArray[np.uint64] | npt.NDArray[np.uint8]) -> KeyGroups: ...
def repeated_uint64(keys: npt.NDArray[np.uint64]) -> tuple[int, int] | None: ...
def match_keys(
    keys: npt.NDArray[np.uint64], wanted: npt.NDArray[np.uint64], taken: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]: ...
def match_positions(
    subset: npt.NDArray[np.float64],
    subset_groups: npt.NDArray[np.int64],
    original: npt.NDArray[np.float64],
    original_groups: npt.NDArray[np.int64],
    taken: npt.NDArray[np.bool_],
    radius: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]: ...
def release_freed() -> bool: ...
def name_key_ids(names: list[str], extensions: list[str], suffixes: list[str]) -> npt.NDArray[np.uint32]: ...
def name_keys(names: list[str], extensions: list[str], suffixes: list[str]) -> list[str]: ...
def cs_locations(
    records: npt.NDArray[np.uint8], itemsize: int, x: int, y: int, shape: int, psize: int
) -> CsLocations: ...
def random_keys(seed: int, rows: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]: ...
def pose_angles(pose: PoseRule, a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]: ...
def symmetry_setting(sym: str, convention: str) -> str:
    """The setting (canonical name: ``Dx7``, ``Tz3``, ``I2``) that point group ``sym`` means in ``convention``.

    ValueError naming why where the package does not define it or its setting is not established.
    """

def ellipsoid_conflicts(
    ellipsoid: EllipsoidRule, coords: npt.NDArray[np.float64], a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]
) -> npt.NDArray[np.bool_]: ...
def nearest_distances(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32], coords: npt.NDArray[np.float64], reach: float = ...
) -> npt.NDArray[np.float64]: ...
def nearest_histogram(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32],
    coords: npt.NDArray[np.float64],
    reach: float,
    edges: npt.NDArray[np.float64],
    labels: npt.NDArray[np.uint32] | None,
    within: list[float],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def histogram(
    values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64], sides: npt.NDArray[np.bool_] | None = ...
) -> tuple[npt.NDArray[np.int64], int]: ...
def counts_per_group(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32], marked: npt.NDArray[np.bool_], n_groups: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def order_statistics(values: npt.NDArray[np.float64], ranks: list[int]) -> list[float]: ...
def halved_png_rows(drawn: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]: ...
def zlib_stream(rows: npt.NDArray[np.uint8]) -> bytes: ...
def write_page_picks(
    paths: list[str],
    chunk: int,
    starts: npt.NDArray[np.int64],
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32],
    centres: npt.NDArray[np.float64],
    inputs: npt.NDArray[np.uint8] | npt.NDArray[np.uint32] | npt.NDArray[np.int32],
    species: npt.NDArray[np.uint32] | None,
    rejected: npt.NDArray[np.int64],
    rule: npt.NDArray[np.int8],
    partner: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64] | None,
) -> None: ...
def page_index_names(names: list[str]) -> tuple[str, str | None]: ...
def page_index_numbers(values: npt.NDArray[np.int64]) -> str: ...
def fill_box(words: npt.NDArray[np.uint32], x0: int, y0: int, x1: int, y1: int, ink: int) -> None: ...
def blend_mask(words: npt.NDArray[np.uint32], mask: npt.NDArray[np.uint8], x: int, y: int, ink: int) -> None: ...
def stamp(
    words: npt.NDArray[np.uint32], mask: npt.NDArray[np.uint8], corners: npt.NDArray[np.int64], ink: int
) -> None: ...
def suppress_overlaps(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32],
    coords: npt.NDArray[np.float64],
    species: npt.NDArray[np.uint32],
    ranks: npt.NDArray[np.float64],
    active: npt.NDArray[np.bool_],
    radii: npt.NDArray[np.float64],
    overlap: float,
) -> npt.NDArray[np.int64]: ...
def percentiles_within(
    scores: npt.NDArray[np.float64], by: npt.NDArray[np.uint32], higher_is_better: bool
) -> npt.NDArray[np.float64]: ...
def image_runs(
    stacks: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]: ...
def image_keys(runs: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]: ...
def image_indices(
    runs: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32], rows: npt.NDArray[np.uint32]
) -> npt.NDArray[np.uint32]: ...
def image_row_count(runs: npt.NDArray[np.uint64]) -> int: ...

@final
class RecordImages:
    """The record's particle names as image runs: the runs (n, 5), their listed indices, the runs' stack names."""

    def __new__(
        cls,
        runs: npt.NDArray[np.uint64],
        indices: npt.NDArray[np.uint32],
        stack_bytes: bytes,
        stack_ends: npt.NDArray[np.uint64],
        stack_prefixes: npt.NDArray[np.uint8],
    ) -> Self: ...

@final
class RecordNumbered:
    """The record's particle names as a text and a number each: the texts, each row's and partner's text and number."""

    def __new__(
        cls,
        texts: list[bytes],
        row_texts: npt.NDArray[np.uint32],
        row_numbers: npt.NDArray[np.uint64],
        partner_texts: npt.NDArray[np.uint32],
        partner_numbers: npt.NDArray[np.uint64],
    ) -> Self: ...

@final
class RecordWriting:
    """The record of rejections being written by the core on a thread of its own."""

    def finish(self) -> None: ...

def write_decisions(
    path: str | os.PathLike[str],
    inputs: list[bytes],
    bounds: list[int],
    rows: npt.NDArray[np.uint32],
    partners: npt.NDArray[np.uint32],
    micrographs: npt.NDArray[np.uint32],
    micrograph_names: list[bytes],
    distance: npt.NDArray[np.float64],
    angle: npt.NDArray[np.float64] | None,
    rule: npt.NDArray[np.uint8],
    rule_names: list[str],
    kept_by: list[str],
    images: RecordImages | None = None,
    numbered: RecordNumbered | None = None,
) -> RecordWriting: ...

RunStacks = tuple[bytes, npt.NDArray[np.uint64], npt.NDArray[np.uint8]]

@final
class NamedImageRows:
    """Rows of particle images as a STAR scan gives them: listed indices, runs (n_runs, 5), the runs' stack names."""

    indices: npt.NDArray[np.uint32]
    runs: npt.NDArray[np.uint64]
    stacks: RunStacks

def image_rows(names: list[bytes]) -> NamedImageRows: ...
def images_repeated(
    runs: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32], keep: npt.NDArray[np.bool_], bits: int = 64
) -> npt.NDArray[np.uint32]: ...
def images_shared(
    runs: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32], keep: npt.NDArray[np.bool_], bits: int = 64
) -> npt.NDArray[np.uint32]: ...
def stack_hashes(names: list[bytes]) -> npt.NDArray[np.uint64]: ...
def images_distinct(runs: npt.NDArray[np.uint64], indices: npt.NDArray[np.uint32]) -> bool: ...
def images_kept_twice(
    images: npt.NDArray[np.uint64],
    groups: npt.NDArray[np.uint32] | npt.NDArray[np.int64],
    centres: npt.NDArray[np.float64],
    keep: npt.NDArray[np.bool_],
) -> npt.NDArray[np.uint32]: ...

@final
class StarBlock:
    """One ``data_`` block: where it is, and its labels if it holds a loop."""

    index: int
    name: str
    line: int
    start: int
    end: int
    labels: list[str] | None
    rows_start: int
    rows_end: int
    first_row_line: int
    pairs: list[tuple[str, str]]

@final
class StarScan:
    """The rows of one loop, scanned: the numbers of the requested columns and each row's key."""

    rows: int
    numbers: list[npt.NDArray[np.float64]]
    keys: npt.NDArray[np.uint32]
    key_names: list[str]
    comment_lines: int

@final
class ParticleScan:
    """What the particle job keeps of each row of a particle loop."""

    rows: int
    centres: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64] | None
    keys: npt.NDArray[np.uint32]
    key_names: list[str]
    key_psizes: npt.NDArray[np.float64]
    optics_groups: list[float]
    comment_lines: int
    keep: npt.NDArray[np.bool_] | None
    suppressed_by: npt.NDArray[np.int64] | None
    split_note: str | None
    #: With ``keep`` and the split's ``forced``: the rows the overrides decided (forced, or rejected by a forced keep).
    overridden: npt.NDArray[np.uint64] | None
    pictures: ScanPictures | None
    extra: list[npt.NDArray[np.float64]]
    image_indices: npt.NDArray[np.uint32] | None
    image_runs: npt.NDArray[np.uint64] | None
    image_stacks: RunStacks | None

@final
class PixelSizes:
    """Where a particle scan takes each row's micrograph pixel size from."""

    @property
    def source(self) -> str: ...
    @staticmethod
    def angstrom() -> PixelSizes: ...
    @staticmethod
    def constant(psize: float) -> PixelSizes: ...
    @staticmethod
    def by_optics_group(label: str, table: list[tuple[float, float]]) -> PixelSizes: ...
    @staticmethod
    def by_micrograph(psizes: dict[str, float]) -> PixelSizes: ...

@final
class ParticleColumns:
    """The columns of a particle scan: micrograph key, centre, origins, score, extra columns kept whole."""

    key: int
    coords: list[int]
    origins: list[int | None]
    origin_pixels: tuple[int, int] | None
    score: int | None
    extra: list[int]
    image: int | None
    def __new__(
        cls,
        *,
        key: int,
        coords: list[int],
        origins: list[int | None],
        origin_pixels: tuple[int, int] | None = None,
        score: int | None = None,
        extra: list[int] = ...,
        image: int | None = None,
    ) -> Self: ...

@final
class SplitRule:
    """A particle scan that decides and appends each micrograph's rows to ``kept`` or ``rejected``."""

    rule: DedupRule
    kept: Path
    rejected: Path
    partners: bool
    #: The record of every rejection (``decisions.csv``), appended to this file (empty) as the rows are written.
    record: Path | None
    #: The input's name in the record's rows (``os.fsencode``'s bytes: a name not UTF-8 as the file system holds it).
    input: bytes
    pictures: NearestHistogram | None
    page: PageFilesPlan | None
    #: The scratch folder the page's files of picks are written into as the scan makes them (None: held).
    page_folder: Path | None
    #: ``--overrides``: the forced rows (from 0, increasing) and whether each is kept, decided with the others.
    forced: list[tuple[int, bool]]
    def __new__(
        cls,
        rule: DedupRule,
        *,
        kept: str | os.PathLike[str],
        rejected: str | os.PathLike[str],
        partners: bool = False,
        record: str | os.PathLike[str] | None = None,
        input: bytes = ...,  # b"" (the binding's default, which its signature cannot show)
        pictures: NearestHistogram | None = None,
        page: PageFilesPlan | None = None,
        page_folder: str | os.PathLike[str] | None = None,
        forced: list[tuple[int, bool]] = ...,  # [] (the binding's default)
    ) -> Self: ...

@final
class PageFilesPlan:
    """The page's files of picks a one-pass scan makes: ``chunk`` micrographs a file, rules named by ``rules``."""

    chunk: int
    rules: list[str]
    def __new__(cls, chunk: int, rules: list[str]) -> Self: ...

@final
class PageTexts:
    """The page's files of picks made by a one-pass scan, kept until written (``write``: as many paths as files).

    Where the scan was given ``SplitRule.page_folder``, they were written there as they were made
    (``folder``; ``picks_NNNNN.js``) and none is held.
    """

    files: int
    chunk: int
    rules: list[str]
    folder: Path | None
    def write(self, paths: list[str | os.PathLike[str]]) -> None: ...

@final
class NearestHistogram:
    """The nearest-neighbour histogram a one-pass scan counts: measured to ``reach`` Å, over ``edges``."""

    reach: float
    edges: list[float]
    within: float
    def __new__(cls, reach: float, edges: list[float], within: float) -> Self: ...

@final
class ScanPictures:
    """What ``--plot`` counted of a one-pass scan's rows as it decided them (``SplitRule.pictures``)."""

    nearest: tuple[npt.NDArray[np.int64], int] | None
    plan: NearestHistogram
    picks: npt.NDArray[np.int64]
    kept: npt.NDArray[np.int64]
    page: PageTexts | None
    extent: tuple[list[float], list[float]] | None

@final
class ColumnValues:
    """One column set row by row: row i's field becomes ``texts[choice[i] - 1]`` (0: unchanged)."""

    column: int
    choice: npt.NDArray[np.uint8]
    texts: list[str]
    def __new__(cls, column: int, choice: npt.NDArray[np.uint8], texts: list[str]) -> Self: ...

@final
class StarFile:
    def __new__(cls, path: str, defer_rows_of: str | None = None) -> Self: ...
    @property
    def size(self) -> int: ...
    @property
    def deferred(self) -> bool: ...
    def header_blocks(self) -> list[StarBlock]: ...
    def blocks(self) -> list[StarBlock]: ...
    def read(self, start: int, end: int) -> bytes: ...
    def scan(self, block: int, number_cols: list[int], key_col: int | None = None) -> StarScan: ...
    def append_split(
        self,
        block: int,
        keep: npt.NDArray[np.bool_],
        kept_path: str,
        rejected_path: str,
        rewrite: tuple[int, dict[str, str]] | None = None,
        columns: list[int] | None = None,
        values: ColumnValues | None = None,
    ) -> None: ...
    def scan_particles(
        self, block: int, columns: ParticleColumns, psizes: PixelSizes, split: SplitRule | None = None
    ) -> ParticleScan: ...
    def finish_split(self) -> None: ...

def element_texts(xml: bytes, root: str, paths: list[str]) -> tuple[str, list[tuple[str, bool] | None]]: ...
def element_texts_of_files(
    files: list[Path], root: str, paths: list[str]
) -> list[tuple[str, list[tuple[str, bool] | None]] | str | None]: ...
def bin_image(image: npt.NDArray, bin: int) -> npt.NDArray[np.float32]: ...
def bin_images(images: list[npt.NDArray], bin: int) -> list[npt.NDArray[np.float32]]: ...
def append_pair_rows(
    path: str,
    names: list[bytes],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    z: npt.NDArray[np.float64],
    pearson: npt.NDArray[np.float64],
    overlap: npt.NDArray[np.float64],
    dy: npt.NDArray[np.float64],
    dx: npt.NDArray[np.float64],
    duplicate: npt.NDArray[np.bool_],
    uncertain: npt.NDArray[np.bool_],
    joint: npt.NDArray[np.float64],
    distance: npt.NDArray[np.float64] | None,
    binning: int,
    psize: float,
) -> None: ...

@final
class Geometry:
    """The window of each binned image that a ``SpectrumBank`` compares, and its FFT size."""

    y0: int
    x0: int
    height: int
    width: int
    fft_height: int
    fft_width: int

@final
class PairScores:
    """The scores of compared pairs, one entry per pair; shifts in binned pixels."""

    z: npt.NDArray[np.float64]
    dy: npt.NDArray[np.int64]
    dx: npt.NDArray[np.int64]
    pearson: npt.NDArray[np.float64]
    overlap: npt.NDArray[np.float64]

@final
class SpectraBatch: ...

@final
class SpectrumMaker:
    def spectra(self, indices: list[int], images: list[npt.NDArray]) -> SpectraBatch: ...

@final
class SpectrumBank:
    def __new__(
        cls, ny: int, nx: int, bin: int, highpass: float, lowpass: float, pearson_highpass: float | None = None
    ) -> Self: ...
    @property
    def geometry(self) -> Geometry: ...
    def add(self, indices: list[int], images: list[npt.NDArray]) -> None: ...
    @property
    def maker(self) -> SpectrumMaker: ...
    def store(self, batch: SpectraBatch) -> None: ...
    def discard(self, indices: list[int]) -> None: ...
    def image(self, index: int) -> npt.NDArray[np.float32]: ...
    def compare(self, pairs: npt.NDArray[np.int64], pearson_min_z: float = 0.0) -> PairScores: ...

@final
class PickFile:
    """One picker file, besides its rows."""

    labels: list[str] | None
    header: bytes
    footer: bytes
    rows: int

@final
class PickTables:
    """The rows of many picker files, in file order."""

    files: list[PickFile]
    numbers: npt.NDArray[np.float64]
    starts: npt.NDArray[np.uint64]
    ends: npt.NDArray[np.uint64]
    keys: npt.NDArray[np.uint32]
    key_names: list[str]

@final
class PickInput:
    """One picker's picks for ``join_picks``."""

    micrograph: npt.NDArray[np.int32]
    ids: npt.NDArray[np.uint32]
    centres: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64] | None
    def __new__(
        cls,
        micrograph: npt.NDArray[np.int32],
        ids: npt.NDArray[np.uint32],
        centres: npt.NDArray[np.float64],
        scores: npt.NDArray[np.float64] | None = None,
    ) -> Self: ...

@final
class JoinedPicks:
    """Pickers' picks joined into one set: micrograph ids, centres in Å, scores, inputs."""

    groups: npt.NDArray[np.uint32]
    centres: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64] | None
    input_of: npt.NDArray[np.uint32]

@final
class PickOutput:
    """One output file of the pick writers: its path, and the bytes before and after its rows."""

    path: Path
    header: bytes
    footer: bytes
    def __new__(cls, path: str | os.PathLike[str], header: bytes, footer: bytes) -> Self: ...

def read_pick_files(
    paths: list[str],
    layout: str,
    names: list[str],
    numbers: list[str],
    key: str | None = None,
    missing: str | None = None,
) -> PickTables: ...
def write_pick_rows(
    outputs: list[PickOutput],
    target: npt.NDArray[np.uint32],
    sources: list[str],
    files: list[npt.NDArray[np.uint32]],
    starts: list[npt.NDArray[np.uint64]],
    ends: list[npt.NDArray[np.uint64]],
    first_files: list[int] | None = None,
    reorder: list[list[int] | None] | None = None,
) -> None: ...
def join_picks(inputs: list[PickInput], psize: npt.NDArray[np.float64]) -> JoinedPicks: ...
def repeat_int32(values: npt.NDArray[np.int32], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]: ...
def row_targets(keep: npt.NDArray[np.bool_], index: npt.NDArray[np.uint32], n: int) -> npt.NDArray[np.uint32]: ...
def write_pick_numbers(
    outputs: list[PickOutput], target: npt.NDArray[np.uint32], values: npt.NDArray[np.float64]
) -> None: ...
