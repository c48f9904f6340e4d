"""The names of the audit's verdicts on a job (``--json``'s ``verdict``, report.html's colours)."""

__all__ = [
    "CARRIED",
    "CLEAN",
    "DAMAGED",
    "ENTERED",
    "INHERITED",
    "NEGLIGIBLE",
    "NONE",
    "NOT_RUN",
    "REDO",
    "RUNNING",
    "SUPERSEDED",
]

#: A refinement to redo, a set where duplicates entered or that inherited them, ... (job.py's _RANK: their order).
REDO, ENTERED, INHERITED, CLEAN, DAMAGED = "redo", "entered", "inherited", "clean", "damaged"
NONE, NOT_RUN, RUNNING = "no particles", "not run", "running"
#: A refinement whose half-sets share duplicates, but a later refinement of its particles, deduplicated,
#: replaced it; or whose straddling particles are too few to move its FSC: neither to redo.
SUPERSEDED, NEGLIGIBLE = "superseded", "negligible"
#: A refinement whose half-sets share duplicates that a later refinement to redo carries: redoing that one
#: supersedes it, so it is not redone itself (one redo for a chain of refinements, not one each).
CARRIED = "carried"
