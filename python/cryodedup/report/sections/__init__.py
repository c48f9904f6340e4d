"""The particle summary's typed sections: each analysis's result, its rows and its piece of ``--json``.

A section is a small frozen dataclass (:class:`Section`, in :mod:`.base`): the job fills it,
:meth:`~Section.rows` says it for the terminal and the report, :meth:`~Section.to_json` gives its
piece of the ``--json`` document, under the key :attr:`~Section.key`. The summary
(:class:`~cryodedup.jobs.particles.summarise.ParticleSummary`) holds each section in the field
of that key, at its place of the document; :data:`SECTIONS` is their registry, as
:data:`~cryodedup.report.particle_figures.PARTICLE_PICTURES` is the pictures'. The report reads a
section by its type (:meth:`Sections.of`), never by a string key of the document.

A module per group of related sections: :mod:`.ranking` (the score, the priority),
:mod:`.audits` (the checks of what was kept), :mod:`.density` (the duplicate density),
:mod:`.consensus` (the inputs' agreement), :mod:`.species`,
:mod:`.inputs` (what the inputs hold and how they were taken), :mod:`.registration` (the inputs'
frames), :mod:`.update` (an ``--update``
round), :mod:`.selection` (``--select``'s best selection against greedy), :mod:`.run` (the
run's own: its time, its files). A new analysis adds its class to one of them (or a module of its
own), and its entry to :data:`SECTIONS` here.

Not every part of the summary is a section yet (issue 66, item 1): the pixel sizes and the
readers' own keys are still read from the document by key in
:mod:`cryodedup.report.summary`.
"""

from __future__ import annotations

from .audits import (
    HalfsetAudit,
    HalfsetsByMicrograph,
    NameCollisions,
    SameImage,
    StraddlingMicrograph,
    SymmetryCopies,
)
from .base import Section, Sections
from .consensus import Consensus
from .density import DuplicateDensity
from .inputs import Filaments, InputCounts, Inputs, MovedInput, MovedInputs, Shift
from .ranking import Priority, Score
from .registration import Registration
from .run import Outputs, Timings
from .selection import BestSelection
from .species import CrossSpecies, Species, SpeciesCounts
from .update import UpdateRound

__all__ = [
    "SECTIONS",
    "BestSelection",
    "Consensus",
    "CrossSpecies",
    "DuplicateDensity",
    "Filaments",
    "HalfsetAudit",
    "HalfsetsByMicrograph",
    "InputCounts",
    "Inputs",
    "MovedInput",
    "MovedInputs",
    "NameCollisions",
    "Outputs",
    "Priority",
    "Registration",
    "SameImage",
    "Score",
    "Section",
    "Sections",
    "Shift",
    "Species",
    "SpeciesCounts",
    "StraddlingMicrograph",
    "SymmetryCopies",
    "Timings",
    "UpdateRound",
]

#: The registry of the summary's sections, in the order of their rows. A new analysis adds its
#: class here and a field of its :attr:`~Section.key` to the summary (docs/developers/index.md).
SECTIONS: tuple[type[Section], ...] = (
    Inputs,
    Shift,
    Score,
    SymmetryCopies,
    HalfsetAudit,
    DuplicateDensity,
    HalfsetsByMicrograph,
    Consensus,
    Registration,
    MovedInputs,
    Species,
    Filaments,
    Priority,
    BestSelection,
    SameImage,
    NameCollisions,
    UpdateRound,
    Timings,
    Outputs,
)
