"""The ranking's sections: the score the rows were ranked by, the inputs' priority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...labels import counted, input_labels
from .base import Row, Section

__all__ = ["Priority", "Score", "ScoreNormalization"]


@dataclass(frozen=True)
class Score(Section):
    """The ranking: the score column and its order (a random order without one), and how the scores were compared.

    ``normalized``: the normalisation's words (``--score-normalize``); ``scale``: the inputs'
    scores compared as read though on different scales; ``without_score``: picks without one
    (ranked last); ``ties_by_input_order``: the groups tied on the score that the inputs' order decided.
    """

    key: ClassVar[str] = "score"

    column: str | None
    order: str
    normalized: str | None = None
    scale: str | None = None
    without_score: int = 0
    ties_by_input_order: int = 0

    @property
    def ties_message(self) -> str:
        """The groups the inputs' order decided, and what decides them instead."""
        return (
            f"{counted(self.ties_by_input_order, 'group')} tied on the score: decided by input order; --prefer chooses"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the column and its order, its normalisation, the picks without one, the ties."""
        text = f"{self.column} ({self.order} first)" if self.column else self.order
        if self.normalized:
            text += f"; {self.normalized}"
        if self.scale:
            text += f"; {self.scale} (--score-normalize rank)"
        if self.without_score:
            text += f"\n{self.without_score:,} picks without a score: ranked last"
        if self.ties_by_input_order:
            text += f"\n{self.ties_message}"
        return [("Score", text)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``order``; ``normalized``, ``scale``, ``without_score`` and ``ties`` where they apply."""
        document: dict[str, Any] = {"column": self.column, "order": self.order}
        if self.normalized is not None:
            document["normalized"] = self.normalized
        if self.scale is not None:
            document["scale"] = self.scale
        if self.without_score:
            document["without_score"] = self.without_score
        if self.ties_by_input_order:
            document["ties"] = {
                "groups": self.ties_by_input_order,
                "decided_by": "input order",
                "message": self.ties_message,
            }
        return document


@dataclass(frozen=True)
class Priority(Section):
    """The inputs' priority (``--prefer``), and which priority decided how many groups of duplicates.

    ``order``: the levels' names, most preferred first; ``inputs``: the job's inputs (to label
    them as the per-input rows do; not in the document). Under ``--remove-entirely``,
    ``removed`` alone ((level, particles removed), in order): no group has a winner. Else the
    groups, those decided by priority, ``won_by`` ((level, groups), in order, none at 0),
    ``against_score`` (with scores: decided by priority where the score chose another pick)
    and ``tied_on_score`` (said when not 0).
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
            f"{f' ({won})' if won else ''}, {self.groups - self.by_priority:,} by score"
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
        return document


@dataclass(frozen=True)
class ScoreNormalization(Section):
    """``--score-normalize zscore``: the groups (an input's picks on one micrograph) scaled, and how.

    ``groups``: the groups with a score; ``mean_ad``: those whose MAD is 0 (more than half their
    scores equal), scaled by their mean absolute deviation x 1.2533; ``constant``: those whose
    scores are all equal, every z-score 0 (their duplicates decided as ties are: input, then row order).
    """

    key: ClassVar[str] = "score_normalization"

    method: str
    groups: int
    mean_ad: int = 0
    constant: int = 0

    def rows(self, unit: str) -> list[Row]:
        """One row: the groups scaled, those scaled by the mean absolute deviation, those all equal."""
        text = (
            f"robust z-scores (median 0, MAD x 1.4826 = 1) within each input's {unit}: "
            f"{counted(self.groups, 'input-' + unit + ' pair')}"
        )
        if self.mean_ad:
            text += (
                f"\n{counted(self.mean_ad, 'pair')} with more than half the scores equal: "
                "scaled by 1.2533 x mean absolute deviation"
            )
        if self.constant:
            text += f"\n{counted(self.constant, 'pair')} with every score equal: all 0 (ties: input, then row order)"
        return [("Score normalization", text)]
