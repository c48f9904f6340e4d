"""cryodedup: remove duplicate particles and duplicate micrographs from cryo-EM datasets.

Python API
----------
dedup
    The core algorithm on arrays (micrograph ids, centres in Å, scores).
remove_duplicate_particles
    The particle job on RELION STAR or CryoSPARC files, as ``cryodedup particles`` runs it.
remove_duplicates
    The same for files or data in memory (Dataset, structured array, DataFrame).
remove_duplicate_centres
    The same decision, consensus included, for centres already in Å (workflow systems).
repair_particle_update
    ``particles --update --repair``: a folder's round files written again from its store.
find_duplicate_micrographs
    The micrograph job: micrographs that image the same area twice.
CryodedupError
    A mistake in the input or the options; its kinds ``InputFileError``, ``PixelSizeError``,
    ``FramesError``, ``OutputError``, ``DamagedStoreError`` and ``OptionError`` are caught without reading the
    message.
"""

from __future__ import annotations

from .errors import (
    CryodedupError,
    DamagedStoreError,
    FramesError,
    InputFileError,
    OptionError,
    OutputError,
    PixelSizeError,
)

__all__ = [
    "CentreReport",
    "CryodedupError",
    "DamagedStoreError",
    "DedupResult",
    "FramesError",
    "InputFileError",
    "MicrographOptions",
    "OptionError",
    "OutputError",
    "ParticleOptions",
    "PixelSizeError",
    "__version__",
    "dedup",
    "find_duplicate_micrographs",
    "remove_duplicate_centres",
    "remove_duplicate_particles",
    "remove_duplicates",
    "repair_particle_update",
]

# Every name but the errors is imported when first used (PEP 562): the command line imports only
# the modules of the job it runs, and handles signals before the extension and numpy load
# (cryodedup.entry: a Ctrl-C while numpy loads inside the extension made it panic).
_WHERE = {
    "__version__": "_core",
    # The core algorithm on arrays, at the package's top: ``cryodedup.dedup(...)``.
    "dedup": "algo.dedup",
    "DedupResult": "algo.dedup",
    "remove_duplicates": "api",
    "remove_duplicate_centres": "api",
    "CentreReport": "api",
    "repair_particle_update": "api",
    "MicrographOptions": "options",
    "find_duplicate_micrographs": "jobs.micrographs.entrance",
    "ParticleOptions": "options",
    "remove_duplicate_particles": "jobs.particles.entrance",
}

# Not typing's TYPE_CHECKING: importing typing costs the command's start-up ~5 ms before its
# signal handlers are in place (cryodedup.entry); mypy takes any TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._core import __version__
    from .algo.dedup import DedupResult, dedup
    from .api import CentreReport, remove_duplicate_centres, remove_duplicates, repair_particle_update
    from .jobs.micrographs.entrance import find_duplicate_micrographs
    from .jobs.particles.entrance import remove_duplicate_particles
    from .options import MicrographOptions, ParticleOptions


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'cryodedup' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
