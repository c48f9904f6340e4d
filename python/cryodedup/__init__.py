"""cryodedup: remove duplicate particles and duplicate micrographs from cryo-EM datasets.

Python API
----------
dedup
    The core algorithm on arrays (micrograph ids, centres in Å, scores).
remove_duplicate_particles
    The particle job on RELION STAR or CryoSPARC files, as ``cryodedup particles`` runs it.
remove_duplicates
    The same for files or data in memory (Dataset, structured array, DataFrame).
find_duplicate_micrographs
    The micrograph job: micrographs that image the same area twice.
"""

from ._core import __version__
from .api import remove_duplicates
from .dedup import DedupResult, dedup
from .errors import CryodedupError
from .micrographs import MicrographOptions, find_duplicate_micrographs
from .particles import ParticleOptions, remove_duplicate_particles

__all__ = [
    "CryodedupError",
    "DedupResult",
    "MicrographOptions",
    "ParticleOptions",
    "__version__",
    "dedup",
    "find_duplicate_micrographs",
    "remove_duplicate_particles",
    "remove_duplicates",
]
