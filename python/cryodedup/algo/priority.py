"""Which particle wins a group of duplicates before the score does: input priority (``--prefer``).

Each row gets an integer priority level (lower ranks first); the core ranks by level, then by
score (docs/design.md section 2). ``--prefer`` gives the levels of inputs; other rules (e.g. a
species) may give levels of their own, combined by :func:`combine_levels`. Scores that mean
"none" (RELION's ``-999`` figure of merit, anything not finite) rank below every real score.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CryodedupError

#: Score columns with a value that means "no score": RELION's ManualPick writes
#: ``rlnAutopickFigureOfMerit -999`` for every hand pick (and Extract carries it along).
NONE_SCORES = {"rlnAutopickFigureOfMerit": -999.0}


def scores_without_none(scores: np.ndarray, label: str | None) -> np.ndarray:
    """``scores`` with the values that mean "none" for ``label`` made NaN (a copy, only where there are some)."""
    none = NONE_SCORES.get(label or "")
    if none is None:
        return scores
    is_none = scores == none
    if not is_none.any():
        return scores
    return np.where(is_none, np.nan, scores)


def has_none_scores(scores: np.ndarray | None, label: str | None) -> bool:
    """Whether ``scores`` hold a value that means "none" for ``label`` (RELION's -999)."""
    none = NONE_SCORES.get(label or "")
    return none is not None and scores is not None and bool((scores == none).any())


def count_without_score(scores: np.ndarray | None) -> int:
    """The rows whose score is not a score (not finite): they rank last."""
    if scores is None:
        return 0
    return int(scores.size - np.count_nonzero(np.isfinite(scores)))


#: One priority level of ``--prefer``: its name (as the summary shows it) and the inputs it holds.
Level = tuple[str, list[int]]


def preference(
    prefer: Sequence[str | os.PathLike | int], inputs: Sequence[str], pick_sets: bool = False
) -> list[Level]:
    """The priority levels ``--prefer`` names, most preferred first.

    Files (``pick_sets`` False): each value one input, by :func:`preferred_inputs`. copick
    pick sets (``inputs`` labelled ``user/session``): by :func:`preferred_pick_sets`.
    """
    if pick_sets:
        return preferred_pick_sets(prefer, inputs)
    return [(inputs[k], [k]) for k in preferred_inputs(prefer, [Path(p) for p in inputs])]


def preferred_inputs(prefer: Sequence[str | os.PathLike | int], inputs: Sequence[Path]) -> list[int]:
    """The inputs ``--prefer`` names (indices into ``inputs``), most preferred first.

    A value is an input's path as given (or the same file by another path), else its
    position from 1. Refused: a value that names no input, an input named twice.
    """
    chosen: list[int] = []
    for value in prefer:
        k = _input_named(value, inputs)
        if k in chosen:
            raise CryodedupError(f"--prefer {value}: {inputs[k]} is preferred twice; give each input once")
        chosen.append(k)
    return chosen


def _input_named(value: str | os.PathLike | int, inputs: Sequence[Path]) -> int:
    text = str(value)
    for k, path in enumerate(inputs):
        if text == str(path) or Path(text) == path:
            return k
    for k, path in enumerate(inputs):
        try:
            if os.path.samefile(text, path):
                return k
        except OSError:
            continue  # a glob or a missing file is matched by its text only
    if text.strip().isdigit() and 1 <= int(text) <= len(inputs):
        return int(text) - 1
    listed = ", ".join(f"{k + 1}: {p}" for k, p in enumerate(inputs))
    raise CryodedupError(
        f"--prefer {text}: not one of the inputs; give an input's path as given or its position ({listed})"
    )


def preferred_pick_sets(prefer: Sequence[str | os.PathLike | int], labels: Sequence[str]) -> list[Level]:
    """The copick pick sets ``--prefer`` names (``labels``: ``user/session`` each), most preferred first.

    A value is a pick set's ``user/session``; a user alone, all that user's sessions as one
    level (the score decides between them); else a position from 1 in ``labels``' order
    (the summary's). A name goes before a position: a user called ``2`` is that user.
    Refused: a value that names no pick set read, a pick set named twice.
    """
    levels: list[Level] = []
    taken: dict[int, str] = {}
    for value in prefer:
        level = _pick_sets_named(str(value).strip().rstrip("/"), labels)
        if level is None:
            listed = ", ".join(f"{k + 1}: {label}" for k, label in enumerate(labels))
            raise CryodedupError(
                f"--prefer {value}: not one of the copick pick sets read; give a user/session, a user (all its "
                f"sessions) or a position ({listed})"
            )
        if twice := [k for k in level[1] if k in taken]:
            raise CryodedupError(
                f"--prefer {value}: {labels[twice[0]]} is preferred twice (--prefer {taken[twice[0]]} too); "
                "give each pick set once"
            )
        taken.update((k, str(value)) for k in level[1])
        levels.append(level)
    return levels


def _pick_sets_named(text: str, labels: Sequence[str]) -> Level | None:
    """The level ``text`` names: a ``user/session`` label, else a user's sets, else a position from 1."""
    if text in labels:
        return text, [labels.index(text)]
    of_user = [k for k, label in enumerate(labels) if label.split("/", 1)[0] == text]
    if of_user:
        return text, of_user
    if text.isdigit() and 1 <= int(text) <= len(labels):
        return labels[int(text) - 1], [int(text) - 1]
    return None


def input_levels(levels: Sequence[Sequence[int]], n_inputs: int) -> np.ndarray:
    """Each input's priority level: the inputs of the k-th level k, the others all after them."""
    out = np.full(n_inputs, len(levels), dtype=np.uint32)
    for level, held in enumerate(levels):
        out[list(held)] = level
    return out


def combine_levels(first: np.ndarray | None, then: np.ndarray | None) -> np.ndarray | None:
    """Row levels ranked by ``first``, ties by ``then`` (either may be None: no levels)."""
    if first is None or then is None:
        return then if first is None else first
    span = np.uint64(int(then.max(initial=0)) + 1)
    combined = first.astype(np.uint64) * span + then
    if combined.size and combined.max() >= 2**32:
        raise CryodedupError("too many priority levels to combine (more than 2**32)")
    return combined.astype(np.uint32)


#: The groups each priority level decided, as the core counts them (``DedupResult.priority``).
Counts = tuple[int, list[int], int]


def added_counts(first: Counts | None, then: Counts | None) -> Counts | None:
    """The counts of two decisions (e.g. two species') as one."""
    if first is None or then is None:
        return then if first is None else first
    levels = max(len(first[1]), len(then[1]))
    by_level = [a + b for a, b in zip(first[1] + [0] * levels, then[1] + [0] * levels)][:levels]
    return first[0] + then[0], by_level, first[2] + then[2]


def priority_summary(
    levels: Sequence[Level],
    n_inputs: int,
    counts: Counts | None,
    removed: np.ndarray | None = None,
    scored: bool = True,
) -> dict:
    """The inputs in their order of priority (``--prefer``), and which priority decided how many groups.

    ``counts`` are the core's (``DedupResult.priority``): a group is a kept row and the rows
    it suppressed; priority decided it when one of those rows has a lower priority (higher
    level) than the kept one, else the score did; ``against_score`` (with ``scored``) counts
    the groups decided by priority where a less preferred row had the better score: where
    ``--prefer`` changed which pick was kept, not only agreed with the score.

    Under ``--remove-entirely`` (``removed``: the particles removed of each input) no group
    has a winner (every particle with a duplicate goes, whatever its level): the summary says
    priority decided nothing, and how many particles of each level were removed.
    """
    names = [name for name, _ in levels]
    if sum(len(held) for _, held in levels) < n_inputs:
        names.append("the other inputs")
    if removed is not None:
        per_level = np.bincount(input_levels([held for _, held in levels], n_inputs), removed, len(names))
        return {
            "order": names,
            "applied": False,
            "removed": {name: int(n) for name, n in zip(names, per_level)},
        }
    groups, by_level, against = counts if counts is not None else (0, [], 0)
    by_priority = int(sum(by_level))
    out: dict[str, object] = {
        "order": names,
        "groups": int(groups),
        "by_priority": by_priority,
        "by_score": int(groups) - by_priority,
        "won_by": {names[level]: int(n) for level, n in enumerate(by_level) if n},
    }
    if scored:
        out["against_score"] = int(against)
    return out
