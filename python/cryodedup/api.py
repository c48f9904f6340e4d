"""``remove_duplicates``: the particle job for data in memory as well as in files.

In memory, CryoSPARC particles are a cryosparc-tools ``Dataset`` or a numpy structured
array with CryoSPARC's fields; RELION particles are a pandas DataFrame with RELION's
labels, or the dict that ``starfile.read`` returns (``{"optics": ..., "particles": ...}``).
Kept and rejected come back in the form that came in.

Warnings (a pixel size taken from ``rlnMicrographOriginalPixelSize``, say) are issued with
Python's :mod:`warnings`, and messages name the keyword arguments (``mic_psize=``), not the
CLI's options (``--mic-psize``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CryodedupError
from .formats.cryosparc.dataset import CsFile
from .formats.cryosparc.particles import read_dataset
from .formats.star.particles import DataFrame, read_frame
from .jobs.particles import decide, remove_duplicate_particles
from .model import Log, ParticleSet, Warn
from .options import ParticleOptions
from .outputs import StrPath


def remove_duplicates(
    data: Any, outdir: StrPath | None = None, *, force: bool = False, log: Log | None = None, **options: Any
) -> tuple[Any, Any]:
    """Remove duplicate particles from files or from data in memory.

    Parameters
    ----------
    data : path, list of paths, Dataset, numpy structured array, DataFrame or dict
        STAR or CryoSPARC files (written to ``outdir``), or particles in memory: a
        cryosparc-tools ``Dataset`` or structured array with CryoSPARC fields, a pandas
        DataFrame with RELION labels, or ``starfile.read``'s dict of tables.
    outdir : path, optional
        Output folder; needed (and used) only for files.
    force : bool
        Overwrite existing output files.
    log : callable(message, level), optional
        Receives progress messages and warnings. Warnings are issued with
        :func:`warnings.warn` (``UserWarning``) as well, once the job is done or has failed.
    **options
        The fields of :class:`ParticleOptions`: ``min_dist``, ``min_dist_z`` (subtomograms:
        the distance along z), ``mic_psize``, ``shift_key``,
        ``score``, ``score_order``, ``remove_entirely``, ``seed``, ``micrographs``,
        ``max_angle`` and ``sym`` (orientations compared, docs/design.md section 9),
        ``prefer`` (a list of inputs, paths as given or positions from 1, most preferred
        first: their particles win groups of duplicates whatever the scores).

    Returns
    -------
    (kept, rejected)
        For files, the lists of output paths; otherwise two objects of the input's type
        holding the kept and the rejected particles, rows in input order.
    """
    said: list[str] = []

    def report(message: str, level: str) -> None:
        message = keyword_names(message)
        if level == "warning":
            said.append(message)
        if log is not None:
            log(message, level)

    try:
        return _remove_duplicates(data, outdir, force, report, options)
    except CryodedupError as err:
        raise CryodedupError(keyword_names(str(err))) from None
    finally:
        for message in said:
            warnings.warn(message, UserWarning, stacklevel=2)  # (the caller's line)


#: The CLI's options that are keyword arguments of :func:`remove_duplicates`, by option name.
_KEYWORDS = {f"--{f.name.replace('_', '-')}": f"{f.name}=" for f in fields(ParticleOptions)} | {"--force": "force="}


def keyword_names(message: str) -> str:
    """``message`` with the CLI's options named as keyword arguments (``--mic-psize`` as ``mic_psize=``)."""
    return re.sub(r"--[a-z][a-z-]*", lambda m: _KEYWORDS.get(m.group(0), m.group(0)), message)


def _remove_duplicates(data: Any, outdir: StrPath | None, force: bool, report: Log, options: dict) -> tuple[Any, Any]:
    """:func:`remove_duplicates`, its messages (warnings included) sent to ``report``."""
    opts = ParticleOptions(**options)
    opts.check()

    def warn(message: str) -> None:
        report(message, "warning")

    if isinstance(data, (str, Path)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, Path)) for p in data)
    ):
        if outdir is None:
            raise ValueError("outdir is needed when the particles are files")
        paths = [data] if isinstance(data, (str, Path)) else list(data)
        summary = remove_duplicate_particles(paths, outdir, opts, force=force, log=report)
        return summary["outputs"]["kept"], summary["outputs"]["rejected"]
    if isinstance(data, np.ndarray) and data.dtype.names:
        if data.ndim != 1:
            raise CryodedupError(f"a structured array of particles must be one-dimensional, got shape {data.shape}")
        keep = _keep_cryosparc(CsFile(data, "numpy"), opts, warn)
        return data[keep], data[~keep]
    if type(data).__name__ == "Dataset" and hasattr(data, "fields"):
        keep = _keep_cryosparc(CsFile(data, "csdat"), opts, warn)
        return data.mask(keep), data.mask(~keep)
    if isinstance(data, dict) and "particles" in data:
        for key in ("particles", "optics"):
            if data.get(key) is not None and not _is_frame(data[key]):
                raise TypeError(
                    f"data[{key!r}] is a {type(data[key]).__name__}; expected a pandas DataFrame, as starfile.read "
                    "gives (starfile.read(path, always_dict=True))"
                )
        keep = _keep_relion(data["particles"], data.get("optics"), opts, warn)
        return ({**data, "particles": data["particles"][keep]}, {**data, "particles": data["particles"][~keep]})
    if _is_frame(data):
        keep = _keep_relion(data, None, opts, warn)
        return data[keep], data[~keep]
    raise TypeError(f"cannot remove duplicates from a {type(data).__name__}; see help(remove_duplicates)")


def _is_frame(data: Any) -> bool:
    """Whether ``data`` is a pandas DataFrame (pandas is not imported for the test)."""
    return hasattr(data, "columns") and hasattr(data, "to_numpy")


def _keep(particles: ParticleSet, options: ParticleOptions) -> np.ndarray:
    return decide(particles, options).keep


def _keep_cryosparc(cs: CsFile, options: ParticleOptions, warn: Warn) -> np.ndarray:
    return _keep(read_dataset(cs, options, warn), options)


def _keep_relion(particles: DataFrame, optics: DataFrame | None, options: ParticleOptions, warn: Warn) -> np.ndarray:
    return _keep(read_frame(particles, optics, options, warn), options)
