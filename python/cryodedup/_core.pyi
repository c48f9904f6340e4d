"""Type stubs of the Rust extension (rust/python/src/lib.rs)."""

import numpy as np
import numpy.typing as npt

__version__: str
SAME_CENTRE_A: float

def dedup(
    groups: npt.NDArray[np.int64] | npt.NDArray[np.uint32],
    coords: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64] | None,
    min_dist: float,
    higher_is_better: bool,
    remove_entirely: bool,
    seed: int,
    inputs: npt.NDArray[np.uint32] | None = None,
    want_suppressed_by: bool = True,
    tubes: npt.NDArray[np.uint32] | None = None,
    whole_tubes: bool = False,
    poses: npt.NDArray[np.float64] | None = None,
    pose_kind: str = "relion",
    max_angle: float = 180.0,
    sym: str = "C1",
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64] | None, npt.NDArray[np.uint64] | None]: ...
def agreement_counts(
    groups: npt.NDArray[np.uint32],
    inputs: npt.NDArray[np.uint32],
    masks: npt.NDArray[np.uint64] | None,
    keep: npt.NDArray[np.bool_] | None,
    n_groups: int,
    n_inputs: int,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]: ...
def nearest_distances(groups: npt.NDArray[np.int64], coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

class StarBlock:
    """One ``data_`` block: where it is, and its labels if it holds a loop."""

    name: str
    line: int
    start: int
    end: int
    labels: list[str] | None
    rows_start: int
    rows_end: int
    first_row_line: int
    pairs: list[tuple[str, str]]

class StarScan:
    """The rows of one loop, scanned: the numbers of the requested columns and each row's key."""

    rows: int
    numbers: list[npt.NDArray[np.float64]]
    keys: npt.NDArray[np.uint32]
    key_names: list[str]
    comment_lines: int

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
    split_note: str | None

class StarFile:
    def __init__(self, path: str, defer_rows_of: str | None = None) -> None: ...
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
        values: tuple[int, npt.NDArray[np.uint8], list[str]] | None = None,
    ) -> None: ...
    def scan_particles(
        self,
        block: int,
        key: int,
        coords: list[int],
        origins: list[int | None],
        origin_pixels: tuple[int, int] | None,
        psize: tuple,
        score: int | None = None,
        split: tuple[float, bool, bool, int, str, str] | None = None,
    ) -> ParticleScan: ...

def bin_image(image: npt.NDArray, bin: int) -> npt.NDArray[np.float32]: ...

class PairScores:
    """The scores of compared pairs, one entry per pair; shifts in binned pixels."""

    z: npt.NDArray[np.float64]
    dy: npt.NDArray[np.int64]
    dx: npt.NDArray[np.int64]
    pearson: npt.NDArray[np.float64]
    overlap: npt.NDArray[np.float64]

class SpectraBatch: ...

class SpectrumMaker:
    def spectra(self, indices: list[int], images: list[npt.NDArray]) -> SpectraBatch: ...

class SpectrumBank:
    def __init__(self, ny: int, nx: int, bin: int, highpass: float, lowpass: float) -> None: ...
    @property
    def geometry(self) -> tuple[tuple[int, int, int, int], tuple[int, int]]: ...
    def add(self, indices: list[int], images: list[npt.NDArray]) -> None: ...
    @property
    def maker(self) -> SpectrumMaker: ...
    def store(self, batch: SpectraBatch) -> None: ...
    def discard(self, indices: list[int]) -> None: ...
    def image(self, index: int) -> npt.NDArray[np.float32]: ...
    def compare(self, pairs: npt.NDArray[np.int64], pearson_min_z: float = 0.0) -> PairScores: ...

def read_pick_files(
    paths: list[str],
    layout: str,
    names: list[str],
    numbers: list[str],
    key: str | None = None,
    missing: str | None = None,
) -> tuple[
    list[tuple[list[str] | None, bytes, bytes, int]],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint32],
    list[str],
]: ...
def write_pick_rows(
    outputs: list[tuple[str, bytes, bytes]],
    target: npt.NDArray[np.uint32],
    sources: list[str],
    files: list[npt.NDArray[np.uint32]],
    starts: list[npt.NDArray[np.uint64]],
    ends: list[npt.NDArray[np.uint64]],
    first_files: list[int] | None = None,
    reorder: list[list[int] | None] | None = None,
) -> None: ...
def join_picks(
    inputs: list[
        tuple[
            npt.NDArray[np.int32],
            npt.NDArray[np.uint32],
            npt.NDArray[np.float64],
            npt.NDArray[np.float64] | None,
        ]
    ],
    psize: npt.NDArray[np.float64],
) -> tuple[
    npt.NDArray[np.uint32],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.uint32],
]: ...
def repeat_int32(values: npt.NDArray[np.int32], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]: ...
def row_targets(keep: npt.NDArray[np.bool_], index: npt.NDArray[np.uint32], n: int) -> npt.NDArray[np.uint32]: ...
def write_pick_numbers(
    outputs: list[tuple[str, bytes, bytes]], target: npt.NDArray[np.uint32], values: npt.NDArray[np.float64]
) -> None: ...
