"""The decisions every reader makes alike, one module each.

``score``: ``--score`` and ``--score-order`` (which column ranks duplicates, and which way).
``pixel_size``: ``--mic-psize``, else ``--micrographs``, else the files' own columns;
``given_psize``: whether a typed pixel size agrees with what the files state.
``micrograph_names``: ``--match-micrographs`` (which names of several inputs are one
micrograph). Each format says what its files have and words the outcome for them; the job
decides the pixel size's source and hands the readers the judge of a typed one; the job
words what the summary shows (``report``).
"""

from .micrograph_names import match_micrographs, match_particle_set, name_key
from .pixel_size import pixel_size_source
from .score import (
    NO_AUTO_SCORE,
    UNDECIDED_BY_PREFER,
    UNKNOWN_COLUMN,
    UNKNOWN_ORDER,
    Score,
    resolve_score,
    score_direction,
)

__all__ = [
    "NO_AUTO_SCORE",
    "UNDECIDED_BY_PREFER",
    "UNKNOWN_COLUMN",
    "UNKNOWN_ORDER",
    "Score",
    "match_micrographs",
    "match_particle_set",
    "name_key",
    "pixel_size_source",
    "resolve_score",
    "score_direction",
]
