"""The priority's section: the inputs' order (``--prefer``) and the groups each level decided.

Its own module: only runs with ``--prefer`` make it (each section's class costs start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...labels import counted, input_labels
from .base import Row, Section

__all__ = ["Priority"]


@dataclass(frozen=True)
class Priority(Section):
    """The inputs' priority (``--prefer``), and which priority decided how many groups of duplicates.

    ``order``: the levels' names, most preferred first; ``inputs``: the job's inputs (to label
    them as the per-input rows do; not in the document). Under ``--remove-entirely``,
    ``removed`` alone ((level, particles removed), in order): no group has a winner. Else the
    groups, those decided by priority, ``won_by`` ((level, groups), in order, none at 0),
    ``against_score`` (with scores: decided by priority where the score chose another pick)
    and ``tied_on_score`` (said when not 0). ``within_levels``: what decided the groups priority did
    not: the score, the seeded random order (no score), or each level's own score (``--prefer``
    levels ranked each by a score of its own, file order in a level with none).
    """

    key: ClassVar[str] = "priority"

    order: tuple[str, ...]
    inputs: tuple[str, ...]
    removed: tuple[tuple[str, int], ...] | None = None
    groups: int = 0
    by_priority: int = 0
    won_by: tuple[tuple[str, int], ...] = ()
    against_score: int | None = None
    tied_on_score: int = 0
    within_levels: str = "score"

    def rows(self, unit: str) -> list[Row]:
        """One row: the order, then what priority decided (or, removing entirely, that it decided nothing)."""
        label_of = dict(zip(self.inputs, input_labels(list(self.inputs))))
        labels = [label_of.get(name, name) for name in self.order]  # (a name no input is, as it is)
        order = " > ".join(labels)
        if self.removed is not None:
            removed = ", ".join(f"{n:,} of {label}" for label, (_, n) in zip(labels, self.removed))
            text = (
                f"{order}\nnot applied: --remove-entirely removes every particle that has a duplicate, "
                f"preferred or not (removed: {removed})"
            )
            return [("Priority", text)]
        won = ", ".join(f"{n:,} by {label_of.get(name, name)}" for name, n in self.won_by)
        if won and self.against_score is not None:
            # Of those, where the score alone (a strictly better score) kept another pick.
            won += f"; {self.against_score:,} that the score would have given to another pick"
        if won and self.tied_on_score:
            won += f"; {self.tied_on_score:,} tied on the score"
        text = (
            f"{order}\n{counted(self.groups, 'group')} of duplicates: {self.by_priority:,} decided by priority"
            f"{f' ({won})' if won else ''}, {self.groups - self.by_priority:,} by {self.within_levels}"
        )
        return [("Priority", text)]

    def to_json(self) -> dict[str, Any]:
        """The document's ``priority``, its keys in the order main printed them.

        ``order``; ``applied`` (false) and ``removed``, or ``groups``, ``by_priority``, ``by_score``,
        ``won_by``, ``against_score`` (with scores) and ``tied_on_score`` (when not 0).
        """
        if self.removed is not None:
            return {"order": list(self.order), "applied": False, "removed": dict(self.removed)}
        document: dict[str, Any] = {
            "order": list(self.order),
            "groups": self.groups,
            "by_priority": self.by_priority,
            "by_score": self.groups - self.by_priority,
            "won_by": dict(self.won_by),
        }
        if self.against_score is not None:
            document["against_score"] = self.against_score
        if self.tied_on_score:
            document["tied_on_score"] = self.tied_on_score
        if self.within_levels != "score":
            document["within_levels"] = self.within_levels
        return document
