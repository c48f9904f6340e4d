"""``remove_duplicates``: the particle job for data in memory as well as in files.

In memory, CryoSPARC particles are a cryosparc-tools ``Dataset`` or a numpy structured
array with CryoSPARC's fields; RELION particles are a pandas DataFrame with RELION's
labels, or the dict that ``starfile.read`` returns (``{"optics": ..., "particles": ...}``).
Kept and rejected come back in the form that came in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .csfile import CsFile
from .outputs import StrPath
from .particle_set import Log, ParticleSet, Warn
from .particles import ParticleOptions, decide, remove_duplicate_particles
from .particles_cs import read_dataset
from .particles_star import DataFrame, read_frame


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
        Receives progress messages and warnings.
    **options
        The fields of :class:`ParticleOptions`: ``min_dist``, ``mic_psize``, ``shift_key``,
        ``score``, ``score_order``, ``remove_entirely``, ``seed``, ``micrographs``,
        ``max_angle`` and ``sym`` (orientations compared, docs/design.md section 9).

    Returns
    -------
    (kept, rejected)
        For files, the lists of output paths; otherwise two objects of the input's type
        holding the kept and the rejected particles, rows in input order.
    """
    opts = ParticleOptions(**options)
    opts.check()
    report: Log = log or (lambda message, level: None)

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
        keep = _keep_cryosparc(CsFile(data, "numpy"), opts, warn)
        return data[keep], data[~keep]
    if type(data).__name__ == "Dataset" and hasattr(data, "fields"):
        keep = _keep_cryosparc(CsFile(data, "csdat"), opts, warn)
        return data.mask(keep), data.mask(~keep)
    if isinstance(data, dict) and "particles" in data:
        keep = _keep_relion(data["particles"], data.get("optics"), opts, warn)
        return ({**data, "particles": data["particles"][keep]}, {**data, "particles": data["particles"][~keep]})
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):
        keep = _keep_relion(data, None, opts, warn)
        return data[keep], data[~keep]
    raise TypeError(f"cannot remove duplicates from a {type(data).__name__}; see help(remove_duplicates)")


def _keep(particles: ParticleSet, options: ParticleOptions) -> np.ndarray:
    return decide(particles, options).keep


def _keep_cryosparc(cs: CsFile, options: ParticleOptions, warn: Warn) -> np.ndarray:
    return _keep(read_dataset(cs, options, warn), options)


def _keep_relion(particles: DataFrame, optics: DataFrame | None, options: ParticleOptions, warn: Warn) -> np.ndarray:
    return _keep(read_frame(particles, optics, options, warn), options)
