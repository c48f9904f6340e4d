"""Type stubs of the Rust extension (rust/python/src/lib.rs)."""

import numpy as np
import numpy.typing as npt

__version__: str

class StarSyntaxError(ValueError): ...

def dedup(
    groups: npt.NDArray[np.int64],
    coords: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64] | None,
    min_dist: float,
    higher_is_better: bool,
    remove_entirely: bool,
    seed: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]: ...
def support(
    groups: npt.NDArray[np.int64],
    coords: npt.NDArray[np.float64],
    inputs: npt.NDArray[np.uint32],
    min_dist: float,
) -> npt.NDArray[np.uint32]: ...
def support_masks(
    groups: npt.NDArray[np.int64],
    coords: npt.NDArray[np.float64],
    inputs: npt.NDArray[np.uint32],
    min_dist: float,
) -> npt.NDArray[np.uint64]: ...

class StarFile:
    def __init__(self, path: str) -> None: ...
    @property
    def size(self) -> int: ...
    def blocks(
        self,
    ) -> list[tuple[str, int, int, int, list[str] | None, int, int, int, list[tuple[str, str]]]]: ...
    def read(self, start: int, end: int) -> bytes: ...
    def scan(
        self, block: int, number_cols: list[int], key_col: int | None = None
    ) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.uint32], list[str]]: ...
    def append_split(
        self,
        block: int,
        keep: npt.NDArray[np.bool_],
        kept_path: str,
        rejected_path: str,
        rewrite: tuple[int, dict[str, str]] | None = None,
    ) -> None: ...

def bin_image(image: npt.NDArray, bin: int) -> npt.NDArray[np.float32]: ...

class SpectrumBank:
    def __init__(self, ny: int, nx: int, bin: int, highpass: float, lowpass: float) -> None: ...
    @property
    def binned_shape(self) -> tuple[int, int]: ...
    def add(self, indices: list[int], images: list[npt.NDArray]) -> None: ...
    def discard(self, indices: list[int]) -> None: ...
    def image(self, index: int) -> npt.NDArray[np.float32]: ...
    def compare(
        self, pairs: npt.NDArray[np.int64], pearson_min_z: float = 0.0
    ) -> tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]: ...
