"""Output files that appear complete or not at all."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Union

from .errors import CryodedupError

#: A path as users give one.
StrPath = Union[str, "os.PathLike[str]"]


class AtomicOutputs:
    """Outputs written under temporary names, all renamed when the block succeeds.

    The temporary files sit in the outputs' folders; on any error they are removed and
    nothing appears. Existing outputs are refused unless ``force``. Use as a context manager that yields
    {final path: temporary path}.
    """

    def __init__(self, paths: Iterable[StrPath], *, force: bool = False, inputs: Iterable[StrPath] = ()) -> None:
        self.paths = [Path(p) for p in paths]
        resolved_inputs = {Path(p).resolve() for p in inputs}
        for p in self.paths:
            if p.resolve() in resolved_inputs:
                raise CryodedupError(f"{p}: is also an input; choose another output folder")
            if p.exists() and not force:
                raise CryodedupError(f"{p}: already exists; use --force to overwrite it")
        self.temporary = {p: p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in self.paths}

    def __enter__(self) -> dict[Path, Path]:
        for p in self.paths:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CryodedupError(f"{p.parent}: cannot create the output folder ({err.strerror})") from None
        return self.temporary

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            for final, tmp in self.temporary.items():
                os.replace(tmp, final)
        else:
            for tmp in self.temporary.values():
                tmp.unlink(missing_ok=True)


def check_plotting(plot: bool) -> None:
    """``--plot`` needs matplotlib, an optional dependency: say so before any work."""
    if plot and importlib.util.find_spec("matplotlib") is None:
        raise CryodedupError("--plot needs matplotlib: pip install 'cryodedup[plot]' (or matplotlib)")
