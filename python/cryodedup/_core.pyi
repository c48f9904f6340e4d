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

class StarFile:
    def __init__(self, path: str) -> None: ...
    @property
    def size(self) -> int: ...
    def blocks(
        self,
    ) -> list[
        tuple[str, int, int, int, list[str] | None, int, int, int, list[tuple[str, str]]]
    ]: ...
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
