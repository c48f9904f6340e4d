"""A run folder's picks as its page wrote them (``--plot``: ``micrographs/``), for the napari plugin.

The page's files hold every pick the plugin shows: the index (each micrograph's name, frame and
thumbnails), the files of picks (centres in Å, input, species, the rule that rejected each pick
and its partner) and of names (each pick's row within its input and particle name, as
``decisions.csv``; ``report.micrograph_page``). Read here without napari.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CryodedupError
from ..report.micrograph_page import INDEX_FILE, PAGE_FOLDER
from ..report.scan_plans import picks_file

__all__ = ["MicrographPicks", "RunFolder", "read_run"]


@dataclass(frozen=True)
class MicrographPicks:
    """One micrograph's (or tomogram's) picks, as its page's files hold them.

    Centres (n, 2 or 3; x, y, z Å), each one's input, species, rule (-1: kept), partner (its place
    here; -1: none), row within its input (from 1) and particle name.
    """

    name: str
    centres: np.ndarray
    inputs: np.ndarray
    species: np.ndarray | None
    rules: np.ndarray
    partners: np.ndarray
    rows: np.ndarray | None
    names: list[str] | None
    frame: tuple[float, float, float, float]  # x0, y0, width, height (Å)
    thumbnails: list[Path]  # the image under the picks (a tomogram's: one a slab along z)

    @property
    def kept(self) -> np.ndarray:
        """Whether each pick was kept."""
        return self.rules < 0


@dataclass(frozen=True)
class RunFolder:
    """A run's page: its index and the folder of its files."""

    folder: Path
    index: dict

    @property
    def micrographs(self) -> list[str]:
        """The micrographs' (or tomograms') names, in the page's order."""
        return list(self.index["names"])

    @property
    def inputs(self) -> list[str]:
        """The inputs as the summary (and ``decisions.csv``) names them."""
        return list(self.index["inputs"])

    @property
    def editable(self) -> bool:
        """Whether the page named each pick (``ids_NNNNN.js``): without, nothing can be corrected."""
        return bool(self.index.get("editable"))

    def picks(self, m: int) -> MicrographPicks:
        """Micrograph ``m``'s picks."""
        chunk = self.index["chunk"]
        k, j = divmod(m, chunk)
        columns = _columns(self.folder / PAGE_FOLDER / picks_file(k), self.index["columns"])
        lo, hi = columns["o"][j], columns["o"][j + 1]
        keys = ["x", "y", "z"] if "z" in columns else ["x", "y"]
        centres = np.stack([columns[key][lo:hi] for key in keys], axis=1).astype(np.float64)
        partners = columns["p"][lo:hi].astype(np.int64)
        partners = np.where(partners >= 0, partners - lo, -1)
        rows, names = None, None
        ids_path = self.folder / PAGE_FOLDER / f"ids_{k:05d}.js"
        if ids_path.exists():
            ids = _call_argument(ids_path, "cryodedupIds")
            rows = _decoded(ids["w"], "<i4")[lo:hi].astype(np.int64)
            names = list(ids["n"][lo:hi])
        return MicrographPicks(
            name=self.index["names"][m],
            centres=centres,
            inputs=columns["i"][lo:hi].astype(np.int64),
            species=columns["s"][lo:hi].astype(np.int64) if "s" in columns else None,
            rules=columns["r"][lo:hi].astype(np.int64),
            partners=partners,
            rows=rows,
            names=names,
            frame=tuple(float(v) for v in self.index["frames"][m]),  # type: ignore[arg-type]
            thumbnails=self._thumbnails(m),
        )

    def _thumbnails(self, m: int) -> list[Path]:
        """Micrograph ``m``'s thumbnails: its image's, or each slab's of a tomogram (empty: none found)."""
        thumbs, slabs = self.index["thumbs"][m], self.index.get("slabs") or 0
        folder = self.folder / PAGE_FOLDER
        if not slabs:
            return [folder / f"m{m:06d}.jpg"] if thumbs else []
        return [folder / f"m{m:06d}_{s}.jpg" for s in range(slabs) if (thumbs >> s) & 1]


def read_run(folder: str | Path) -> RunFolder:
    """The run in ``folder`` (written with ``--plot``), by its page's index; refused in one line where there is none."""
    folder = Path(folder)
    path = folder / INDEX_FILE
    if not path.is_file():
        raise CryodedupError(f"{folder}: no {INDEX_FILE}: open a run folder written with --plot (its page's files)")
    text = path.read_text(encoding="utf-8")
    return RunFolder(folder, json.loads(text[text.index("{") : text.rindex("}") + 1]))


def _call_argument(path: Path, function: str) -> dict:
    """The object a page's file hands to ``function`` (``function(k,{...});``)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(function) + len(function)
    return json.loads(text[text.index("{", start) : text.rindex("}") + 1])


def _columns(path: Path, widest: dict[str, str]) -> dict[str, np.ndarray]:
    """A file of picks' columns decoded (each its own type, ``t``, else the index's widest)."""
    found = _call_argument(path, "cryodedupPicks")
    types = found.get("t") or widest
    columns = {name: _decoded(found[name], types[name]) for name in widest if name in found}
    columns["o"] = np.asarray(found["o"], dtype=np.int64)
    return columns


def _decoded(text: str, dtype: str) -> np.ndarray:
    """A column: base64 of its numbers' little-endian bytes."""
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype))
