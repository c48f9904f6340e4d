"""The pixel size of the coordinates (Å/px): one order of sources for every reader.

``--mic-psize``, else ``--micrographs``, else the files' own columns (:func:`pixel_size_source`, which the job asks);
the summary names a list's source alike (:func:`listed_source`; ``particle_set.MIC_PSIZE``
and ``particle_set.pixel_size_entries`` for the others). A micrographs list is looked up by exact path, then by file
name as ``--match-micrographs`` says (:class:`ListedPixelSizes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CryodedupError, InputFileError
from ..particle_set import PsizeFrom
from .micrograph_names import listed_by_file_name, name_key

__all__ = ["ListedPixelSizes", "pixel_size_source"]


def pixel_size_source(mic_psize: float | None, micrographs: object | None) -> PsizeFrom:
    """The one order in which every reader takes the pixel size of its coordinates (Å/px).

    ``--mic-psize`` (``mic_psize``; 0 is a value given, which the reader refuses), else the
    micrographs list the user gave with ``--micrographs``, else what the files themselves say
    (RELION's optics table, CryoSPARC's ``location/micrograph_psize_A``, Dynamo's ``apix``, the
    micrographs STAR a picking job names). The job decides it for each input; each reader reads
    that source alone (one whose format takes no list reads its own) and words what is missing.
    """
    if mic_psize is not None:
        return PsizeFrom.GIVEN
    if micrographs is not None:
        return PsizeFrom.LISTED
    return PsizeFrom.OWN


def listed_source(field: str, path: object) -> str:
    """The summary's source for pixel sizes read from the column ``field`` of the file ``path``."""
    return f"{field} in {path}"


def _place(where: str | Callable[[str], str], name: str) -> str:
    """The file that refers to the micrograph ``name``."""
    return where if isinstance(where, str) else where(name)


@dataclass(frozen=True)
class ListedPixelSizes:
    """The micrograph pixel sizes a list the user gave (``--micrographs``) or a job names, by micrograph.

    A micrograph is looked up by its exact path, then (``match_mode`` auto or name) by its
    file-name key (:meth:`lookup`); :meth:`sizes` refuses one that is missing or has no
    pixel size > 0 in one wording for every reader, naming the file that refers to it, the
    micrograph and the list. ``field`` is the list's pixel-size column (the summary's source).
    CryoSPARC particles look their exposures up by uid: keys that are no paths, ``match_mode``
    path.
    """

    path: object
    psizes: dict[str, float]
    match_mode: str
    field: str

    def sizes(self, where: str | Callable[[str], str], names: Sequence[str]) -> tuple[np.ndarray, set[str]]:
        """The pixel size of each of ``names`` (each > 0), and the names found by file name."""
        listed, by_name = self.lookup(where, names)
        missing = [name for name in names if name not in listed]
        if missing:
            raise CryodedupError(self.not_listed(where, missing, list(names)))
        values = np.array([listed[name] for name in names], dtype=np.float64)
        bad = np.flatnonzero(~(values > 0))
        if len(bad):
            name = names[bad[0]]
            raise InputFileError(
                f"{_place(where, name)}: micrograph {name!r} has no pixel size in {self.path} ({self.field} is "
                f"{values[bad[0]]:g}); give it with --mic-psize"
            )
        return values, by_name

    def lookup(self, where: str | Callable[[str], str], names: Sequence[str]) -> tuple[dict[str, float], set[str]]:
        """The pixel size of each of ``names`` the list gives, and those found by file name.

        A re-processed copy names ``MotionCorr/job099/Movies/x.mrc`` where the STAR lists
        ``MotionCorr/job002/Movies/x.mrc`` (docs/design.md section 2). A key that names listed
        micrographs of different pixel sizes is refused (naming the file ``where``), never guessed.
        Names found neither way are left out (:meth:`not_listed` words them).
        """
        found = {name: self.psizes[name] for name in names if name in self.psizes}
        if self.match_mode == "path" or len(found) == len(names):
            return found, set()
        by_name = listed_by_file_name(names, self.psizes)
        if by_name.ambiguous:
            name, listed = by_name.ambiguous[0]
            choices = ", ".join(f"{other} ({self.psizes[other]:g} Å)" for other in listed[:3])
            more = f"; {len(by_name.ambiguous)} micrographs alike" if len(by_name.ambiguous) > 1 else ""
            raise InputFileError(
                f"{_place(where, name)}: micrograph {name!r} is not in {self.path} by its path, and its file name "
                f"{name_key(name)} names {len(listed)} micrographs there with different pixel sizes: {choices}{more}; "
                "which one it is cannot be told: give a micrographs STAR that lists it by its path, or --mic-psize"
            )
        return {**found, **by_name.found}, set(by_name.found)

    def not_listed(self, where: str | Callable[[str], str], missing: list[str], names: list[str]) -> str:
        """The error for micrographs ``missing`` (of ``names``) that the STAR does not list.

        A re-processed copy names its micrographs under another folder (``MotionCorr/job099/``
        where the micrographs STAR says ``job002``): with ``--match-micrographs path`` they are
        looked up by exact path only, so the message says so and what to give instead; with
        auto or name, those whose file name another micrograph of the same input has are never
        looked up by it, and the message names one.
        """
        message = (
            f"{_place(where, missing[0])}: micrograph {missing[0]!r} is not in {self.path} "
            f"({len(missing)} of {len(names)} micrographs missing)"
        )
        listed = {name_key(name) for name in self.psizes}
        elsewhere = sum(name_key(name) in listed for name in missing)
        if elsewhere and self.match_mode == "path":
            message += (
                f"; {elsewhere} of them are listed there under another folder (the same file name), and with "
                "--match-micrographs path a micrograph's pixel size is looked up by its exact path: use "
                "--match-micrographs auto or name to look it up by file name, or give the micrograph pixel size "
                "with --mic-psize"
            )
        elif elsewhere:
            shared = listed_by_file_name(names, self.psizes).shared
            name, other = shared[0]
            message += (
                f"; {len(shared)} of them have the file name of a micrograph listed there under another folder, but "
                f"so does another micrograph of this file ({name!r} and {other!r}): different micrographs, whose "
                "pixel size is looked up by exact path only; give a micrographs STAR that lists each by its path, or "
                "the micrograph pixel size with --mic-psize"
            )
        return message

    def source(self, n_mics: int, n_by_name: int) -> str:
        """The summary's source for ``n_mics`` micrographs, ``n_by_name`` of them found by file name."""
        source = listed_source(self.field, self.path)
        if n_by_name:
            source += f", {n_by_name:,} of {n_mics:,} micrographs found there by file name under another folder"
        return source
