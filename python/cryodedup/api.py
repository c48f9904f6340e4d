"""``remove_duplicates``: the particle job for data in memory as well as in files.

In memory, CryoSPARC particles are a cryosparc-tools ``Dataset`` or a numpy structured
array with CryoSPARC's fields; RELION particles are a pandas DataFrame with RELION's
labels, or the dict that ``starfile.read`` returns (``{"optics": ..., "particles": ...}``).
Kept and rejected come back in the form that came in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import particles as star_job
from . import particles_cs
from .csfile import CsFile, CsGroup
from .dedup import dedup
from .errors import CryodedupError
from .particles import ParticleOptions, remove_duplicate_particles
from .star import Table


def remove_duplicates(data, outdir=None, *, force: bool = False, log=None, **options):
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
        ``score``, ``score_order``, ``remove_entirely``, ``seed``, ``micrographs``.

    Returns
    -------
    (kept, rejected)
        For files, the lists of output paths; otherwise two objects of the input's type
        holding the kept and the rejected particles, rows in input order.
    """
    opts = ParticleOptions(**options)
    opts.check()
    log = log or (lambda message, level: None)

    def warn(message):
        log(message, "warning")

    if isinstance(data, (str, Path)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, Path)) for p in data)
    ):
        if outdir is None:
            raise ValueError("outdir is needed when the particles are files")
        paths = [data] if isinstance(data, (str, Path)) else list(data)
        summary = remove_duplicate_particles(paths, outdir, opts, force=force, log=log)
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


def _keep_cryosparc(cs: CsFile, options: ParticleOptions, warn) -> np.ndarray:
    slots = {f.split("/")[0]: 0 for f in cs.fields if "/" in f}
    group = CsGroup(Path(f"<{type(cs.data).__name__}>"), [cs], slots, [np.arange(len(cs))])
    result, _ = particles_cs.decide(group, options, warn)
    return result.keep


class _FrameParticles:
    """A RELION particle table in memory, seen as the STAR job sees a file."""

    def __init__(self, particles, optics, shift_key: str):
        self.path = Path("<DataFrame>")
        self.frame = particles
        self.labels = [str(c) for c in particles.columns]
        self.optics = None
        if optics is not None:
            rows = [[_text(v) for v in row] for row in optics.itertuples(index=False)]
            self.optics = Table([str(c) for c in optics.columns], rows, [])
        self.columns = star_job.choose_columns(self.labels, self.optics is not None, self.where(), shift_key)

    def where(self) -> str:
        return "the particle table"

    def numeric_labels(self) -> list[str]:
        return [c for c in self.labels if self.frame[c].dtype.kind in "iuf"]


def _text(value) -> str:
    """A table value as RELION writes it (integers without a decimal point)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _keep_relion(particles, optics, options: ParticleOptions, warn) -> np.ndarray:
    part = _FrameParticles(particles, optics, options.shift_key)
    needs = star_job.Needs()
    score, higher = star_job.score_column([part], options, warn, needs)
    needs.check()
    numbers = {}
    for label in part.columns.numbers(score):
        try:
            numbers[label] = particles[label].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise CryodedupError(f"column {label} of the particle table is not numeric") from None
    names, keys = np.unique(particles[part.columns.key].astype(str).to_numpy(), return_inverse=True)
    mic_psizes = star_job.micrograph_pixel_sizes(options.micrographs) if options.micrographs else None
    psize, _ = star_job.row_pixel_sizes(part, numbers, keys, list(names), options, mic_psizes, warn)
    centres = star_job.centres_in_angstrom(part, numbers, psize)
    result = dedup(
        keys.astype(np.int64),
        centres,
        numbers[score] if score else None,
        min_dist=options.min_dist,
        higher_is_better=higher,
        remove_entirely=options.remove_entirely,
        seed=options.seed,
    )
    return result.keep
