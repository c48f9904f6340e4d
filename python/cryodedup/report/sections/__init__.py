"""The particle summary's typed sections: each analysis's result, its rows and its piece of ``--json``.

A section is a small frozen dataclass (:class:`Section`, in :mod:`.base`): the job fills it,
:meth:`~Section.rows` says it for the terminal and the report, :meth:`~Section.to_json` gives its
piece of the ``--json`` document, under the key :attr:`~Section.key`. The summary
(:class:`~cryodedup.jobs.particles.summary.ParticleSummary`) holds each section in the field
of that key, at its place of the document; :data:`SECTIONS` is their registry, as
:data:`~cryodedup.jobs.particles.pictures.PARTICLE_PICTURES` is the pictures'. The report reads a
section by its type (:meth:`Sections.of`), never by a string key of the document.

A module per group of related sections: :mod:`.ranking` (the score), :mod:`.priority` (``--prefer``),
:mod:`.audits` (the checks of what was kept), :mod:`.images` (one image in several rows),
:mod:`.density` (the duplicate density), :mod:`.consensus` (the inputs' agreement), :mod:`.species`,
:mod:`.filaments`, :mod:`.exclusion` (``--min-dist-ellipsoid``), :mod:`.regions` (masks
and edges), :mod:`.inputs` (what the inputs hold and how they were taken),
:mod:`.registration` (the inputs' frames, ``--transform``), :mod:`.update` (an ``--update`` round),
:mod:`.selection` (``--select``), :mod:`.pixel_sizes` (the pixel sizes used), :mod:`.run` (the run's own: its
time, its files, and :class:`~.run.Overview`, its top-level counts as the report reads them). A new
analysis adds its class to one of them (or a module of its own), and its entry to
:data:`SECTIONS` here.

The classes are imported when first asked for (``from cryodedup.report.sections import Consensus``
imports :mod:`.consensus` then): each frozen dataclass costs about a millisecond to create, and a
run of one input makes few of the sections. The job imports a section's module where it makes the
section, the report where it words the rows.

The readers' own keys (the micrograph matching, the datasets, the layouts, the optics groups
renumbered, the import lists ...) are the readers' piece of the document, printed as they filled
it; :class:`~.readers.ReadersFound` types them once for the report (:mod:`.readers`), so that
:mod:`cryodedup.report.summary` reads no string key of the particle job's document.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Section, Sections

if TYPE_CHECKING:
    from .audits import HalfsetAudit, HalfsetsByMicrograph, HalfsetTrim, NameCollisions, SymmetryCopies
    from .consensus import Consensus
    from .density import DuplicateDensity
    from .exclusion import OwnFrameExclusion
    from .filaments import Filaments
    from .images import SameImage
    from .inputs import Inputs, Shift
    from .normalization import ScoreNormalization
    from .overrides import Overrides
    from .pixel_sizes import PixelSizes
    from .priority import Priority
    from .ranking import Score
    from .regions import MaskAndEdge
    from .registration import MovedInputs, Registration
    from .run import Outputs, ParticleTimings
    from .selection import BestSelection
    from .species import Species
    from .update import UpdateRound

__all__ = [
    "BestSelection",
    "Consensus",
    "DuplicateDensity",
    "Filaments",
    "HalfsetAudit",
    "HalfsetTrim",
    "HalfsetsByMicrograph",
    "Inputs",
    "MaskAndEdge",
    "MovedInputs",
    "NameCollisions",
    "Outputs",
    "Overrides",
    "OwnFrameExclusion",
    "ParticleTimings",
    "PixelSizes",
    "Priority",
    "Registration",
    "SameImage",
    "Score",
    "ScoreNormalization",
    "Section",
    "Sections",
    "Shift",
    "Species",
    "SymmetryCopies",
    "UpdateRound",
    "import_all",
    "registry_order",
]

#: The registry of the summary's sections, in the order of their rows: each class by name, with its module.
#: A new analysis adds its class here and a field of its :attr:`~Section.key` to the summary
#: (docs/developers/index.md). By name: a section's module is imported when its analysis runs, or
#: when the report names its class (each class costs start-up: a one-input run loads few of them).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Inputs", "inputs"),
    ("PixelSizes", "pixel_sizes"),
    ("Shift", "inputs"),
    ("Score", "ranking"),
    ("ScoreNormalization", "normalization"),
    ("MaskAndEdge", "regions"),
    ("Overrides", "overrides"),
    ("SymmetryCopies", "audits"),
    ("HalfsetAudit", "audits"),
    ("DuplicateDensity", "density"),
    ("HalfsetsByMicrograph", "audits"),
    ("HalfsetTrim", "audits"),
    ("Consensus", "consensus"),
    ("Registration", "registration"),
    ("MovedInputs", "registration"),
    ("Species", "species"),
    ("OwnFrameExclusion", "exclusion"),
    ("Filaments", "filaments"),
    ("Priority", "priority"),
    ("BestSelection", "selection"),
    ("SameImage", "images"),
    ("NameCollisions", "audits"),
    ("UpdateRound", "update"),
    ("ParticleTimings", "run"),
    ("Outputs", "run"),
)

#: The other public classes of the section modules (the parts of sections), by name: their module.
_PARTS = {
    "StraddlingMicrograph": "audits",
    "InputCounts": "inputs",
    "MovedInput": "registration",
    "CrossSpecies": "species",
    "SpeciesCounts": "species",
}
_MODULE_OF = {**dict(SECTIONS), **_PARTS}


def __getattr__(name: str) -> Any:
    """A section class, its module imported on first use (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)


def import_all() -> None:
    """Every section's module imported: a report's rows ask for them all (``--plot``: while the scan runs)."""
    for module in sorted(set(_MODULE_OF.values())):
        importlib.import_module(f".{module}", __name__)


def registry_order(section: Section) -> int:
    """The place of ``section``'s class in :data:`SECTIONS` (the summary's sections in the order of their rows)."""
    return next(i for i, (kind, _) in enumerate(SECTIONS) if kind == type(section).__name__)
