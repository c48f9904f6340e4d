"""CryoSPARC exposures (Patch Motion, Patch CTF, Curate Exposures outputs): what they say of each micrograph.

Each exposure names its micrograph by ``micrograph_blob/path``
(``J3/motioncorrected/<uid>_<movie>_patch_aligned_doseweighted.mrc``), with its pixel size
``micrograph_blob/psize_A`` and its size ``micrograph_blob/shape`` [ny, nx]; particles name
their exposure by its ``uid``. The particle job's ``--micrographs`` and the micrograph job's
exposures input are read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import InputFileError
from ...paths import StrPath
from .dataset import CsGroup, as_text

__all__ = ["PATH_FIELD", "PIXEL_SIZE_FIELD", "Exposures", "exposure_pixel_sizes"]

PATH_FIELD = "micrograph_blob/path"
#: The field an exposure gives its micrograph's pixel size in (Å).
PIXEL_SIZE_FIELD = "micrograph_blob/psize_A"
SHAPE_FIELD = "micrograph_blob/shape"


@dataclass
class Exposures:
    """An exposures dataset (``.cs`` or ``.csg``) and its micrographs' names, one an exposure."""

    group: CsGroup
    names: list[str]

    @classmethod
    def read(cls, path: StrPath, fields: Sequence[str] = (PATH_FIELD,)) -> Exposures:
        """The exposures of ``path``, refused unless they have every one of ``fields``."""
        group = load_exposures(path, fields)
        return cls(group, as_text(group.column(PATH_FIELD), f"{group.path}: {PATH_FIELD}"))

    def pixel_sizes(self) -> dict[str, float]:
        """Micrograph pixel size in Å by name."""
        return dict(zip(self.names, self.group.column(PIXEL_SIZE_FIELD).astype(np.float64).tolist()))

    def pixel_size(self) -> float | None:
        """The one pixel size of every exposure (None without the field); refused when they differ."""
        if not self.group.has(PIXEL_SIZE_FIELD):
            return None
        values = np.unique(self.group.column(PIXEL_SIZE_FIELD))
        if len(values) > 1:
            raise InputFileError(f"{self.group.path}: exposures have different pixel sizes ({values.tolist()})")
        return float(values[0]) if len(values) else None

    def shapes(self) -> dict[str, tuple[int, int]] | None:
        """Each micrograph's [ny, nx] by name; None without the field."""
        if not self.group.has(SHAPE_FIELD):
            return None
        shape = np.asarray(self.group.column(SHAPE_FIELD)).reshape(len(self.names), -1)[:, -2:]
        return {n: (int(ny), int(nx)) for n, (ny, nx) in zip(self.names, shape.tolist())}

    def uids(self) -> dict[str, int]:
        """Each micrograph's exposure uid by name."""
        return dict(zip(self.names, (int(u) for u in self.group.column("uid").tolist())))


def exposure_pixel_sizes(path: StrPath) -> dict[int, float]:
    """Exposure uid -> micrograph pixel size in Å (how particles, which name their exposure by uid, find it)."""
    exposures = load_exposures(path, (PIXEL_SIZE_FIELD,))
    return dict(zip(exposures.column("uid").tolist(), exposures.column(PIXEL_SIZE_FIELD).tolist()))


def load_exposures(path: StrPath, fields: Sequence[str]) -> CsGroup:
    """A CryoSPARC exposures dataset, refused unless it has every one of ``fields``."""
    exposures = CsGroup.load(path)
    for needed in fields:
        if not exposures.has(needed):
            raise InputFileError(
                f"{path}: no {needed} field; expected CryoSPARC exposures with micrographs (the exposures output "
                "of Patch Motion Correction, Patch CTF Estimation or Curate Exposures)"
            )
    return exposures
