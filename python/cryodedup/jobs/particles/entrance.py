"""The particle job's entrance: the API's function, and the runner the command line and the API choose.

:func:`remove_duplicate_particles` and the command line take the options; the runner they
choose (:func:`job_for`) runs the job's stages (``job.run``): the plain runner (``shape.plain``)
or an ``--update`` round's around them (``update.round_runner``). The plain path (``job.py`` and
the stages it calls) knows no runner: only this module, the door, names them.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ...options import ParticleOptions
from ...options.keywords import said_in_python
from ...outputs import all_outputs_at_once
from ...particle_set import Log
from ...paths import StrPath, path_list
from .job import ParticleOutcome, run
from .plan import plan
from .read import Files, silent
from .summary import ParticleSummary

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["job_for", "remove_duplicate_particles"]


@said_in_python()  # (a caller who wrote Python is told keywords, not flags)
@all_outputs_at_once
def remove_duplicate_particles(
    inputs: Iterable[StrPath],
    outdir: StrPath | None,
    options: ParticleOptions | None = None,
    *,
    force: bool = False,
    log: Log = silent,
) -> ParticleSummary:
    """Removes duplicate particles from RELION particle STAR files or CryoSPARC datasets.

    Parameters
    ----------
    inputs : list of path
        Particle STAR files (RELION 3.0 to 5, or files written by other tools in that
        format), or CryoSPARC ``.cs`` / ``.csg`` files. Several are deduplicated together.
    outdir : path or None
        Folder that receives ``particles_kept.star`` and ``particles_rejected.star``, or
        ``particles_kept.cs``, ``particles_rejected.cs`` (and ``.csg`` and passthrough
        files for a result group). None only with ``audit`` and without ``plot``, which
        write nothing.
    options : ParticleOptions
        Minimum distance, pixel size, shift, score and mode.
    force : bool
        Overwrite existing outputs.
    log : callable(message, level)
        Receives progress messages ("info") and warnings ("warning").

    Returns
    -------
    ParticleSummary
        The summary, typed (:class:`~cryodedup.jobs.particles.summary.ParticleSummary`:
        ``summary.kept``, ``summary.rejected``, ``summary.verdict``, its sections such as
        ``summary.score``); its ``to_json()`` is the document ``--json`` prints (counts, pixel
        sizes, shift and score used, outputs, time).
    """
    options = options or ParticleOptions()
    source = Files.of(path_list(inputs))
    options.check()
    return job_for(options.update)(source, outdir, plan(options), force=force, log=log).summary


def job_for(update: bool) -> Callable[..., ParticleOutcome]:
    """The job the command line, the API and the pipelines run: ``job.run``, its stages run plain or as a round.

    ``update``: an ``--update`` round's runner around them (``update.round_runner``).
    """
    if not update:
        return run
    from .update import round_runner  # (its store's modules loaded for a round only)

    return partial(run, runner=round_runner)
