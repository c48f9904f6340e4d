"""``--overrides`` in the micrograph job: the file's pairs marked duplicate or distinct, applied to the scored ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InputFileError, one_line
from ...resolve.micrograph_names import name_key
from .decide import MicrographOutcome, group_duplicates

if TYPE_CHECKING:
    from ...formats.overrides import Overrides

__all__ = ["PairsOverridden", "overridden"]


@dataclass(frozen=True)
class PairsOverridden:
    """``--overrides``' pairs in a run: ``applied`` (lines naming two micrographs of it), ``nothing`` (the others)."""

    file: str
    applied: int
    nothing: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The summary's ``overrides``: the ``file``, the ``pairs_applied``, the lines ``naming_nothing``."""
        return {"file": self.file, "pairs_applied": self.applied, "naming_nothing": list(self.nothing)}


def overridden(
    outcome: MicrographOutcome, overrides: Overrides, names: Sequence[str]
) -> tuple[MicrographOutcome, PairsOverridden]:
    """The run's outcome with the file's pairs applied (its decision's pairs, in place) and grouped again.

    The screen's own decision is kept beside (``MicrographDecision.screened``): the margin is measured on it.
    """
    if outcome.decision.screened is None:
        outcome.decision.screened = outcome.decision.duplicate.copy()
    used, added = _overridden_pairs(
        overrides, names, outcome.scores.pairs, outcome.decision.duplicate, outcome.decision.uncertain
    )
    pairs = np.concatenate([outcome.scores.pairs, added])
    duplicate = np.r_[outcome.decision.duplicate, np.ones(len(added), dtype=bool)]
    return replace(outcome, root=group_duplicates(len(outcome.root), pairs, duplicate, outcome.rank)), used


def _overridden_pairs(
    overrides: Overrides, names: Sequence[str], pairs: np.ndarray, duplicate: np.ndarray, uncertain: np.ndarray
) -> tuple[PairsOverridden, np.ndarray]:
    """The file's pairs applied to the scored ones, in place; and the pairs marked duplicate that none scored.

    A pair the file decides is no longer left to check (``uncertain``): the user looked at it.

    A micrograph is named as the input lists it, or by its file name with or without extension
    (``name_key``) where one micrograph alone has it. A pair marked distinct is never a duplicate;
    one marked duplicate always is, scored or not (its group keeps the first acquisition, as the
    screen's). A line naming a micrograph not in the inputs is counted among those naming nothing.
    """
    index = {name: k for k, name in enumerate(names)}
    keys: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        keys.setdefault(name_key(name), []).append(k)

    def found(name: str) -> int | None:
        if name in index:
            return index[name]
        held = keys.get(name_key(name), [])
        return held[0] if len(held) == 1 else None

    where = {(int(a), int(b)): k for k, (a, b) in enumerate(pairs.tolist())}
    added: list[tuple[int, int]] = []
    applied, nothing = 0, []
    for line in overrides.pairs:
        a, b = found(line.a), found(line.b)
        if a is None or b is None:
            missing = line.a if a is None else line.b
            nothing.append(f"line {line.line} (micrograph {missing})")
            continue
        if a == b:  # (two spellings of one micrograph: the format refuses the same spelling twice alike)
            raise InputFileError(
                f"{overrides.where(line.line)}: {one_line(line.a)!r} and {one_line(line.b)!r} name one micrograph, "
                f"{one_line(names[a])!r}; a pair needs two different micrographs"
            )
        applied += 1
        k = where.get((a, b), where.get((b, a), -1))
        if k >= 0:
            duplicate[k], uncertain[k] = line.duplicate, False
        elif line.duplicate:
            added.append((min(a, b), max(a, b)))
    extra = np.array(added, dtype=pairs.dtype).reshape(-1, 2)
    return PairsOverridden(str(overrides.path), applied, tuple(nothing)), extra
