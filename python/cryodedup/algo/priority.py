"""Which particle wins a group of duplicates before the score does: input priority (``--prefer``).

Each row gets an integer priority level (lower ranks first); the core ranks by level, then by
score (docs/design.md section 2). ``--prefer`` gives the levels of inputs; other rules (e.g. a
species) may give levels of their own, combined by :func:`combine_levels`. Scores that mean
"none" (RELION's ``-999`` figure of merit, anything not finite) rank below every real score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CryodedupError

__all__ = [
    "Level",
    "PriorityCounts",
    "Ties",
    "added_counts",
    "count_without_score",
    "has_none_scores",
    "input_levels",
    "inputs_named",
    "named_levels",
    "preference",
    "preferred_inputs",
    "priority_names",
    "removed_per_level",
    "scores_without_none",
    "tied_groups",
]

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
    prefer: Sequence[str | os.PathLike | int],
    inputs: Sequence[str],
    pick_sets: bool = False,
    is_pattern: Callable[[Path], bool] = lambda path: False,
) -> list[Level]:
    """The priority levels ``--prefer`` names, most preferred first.

    Files (``pick_sets`` False): each value an input, or the inputs in a folder, by
    :func:`preferred_inputs` (``is_pattern``: which inputs are patterns of files, the format
    detector's word). copick pick sets (``inputs`` labelled ``user/session``): by
    :func:`preferred_pick_sets`.
    """
    if pick_sets:
        return preferred_pick_sets(prefer, inputs)
    return named_levels(prefer, preferred_inputs(prefer, [Path(p) for p in inputs], is_pattern), inputs)


def named_levels(
    prefer: Sequence[str | os.PathLike | int], held: Sequence[list[int]], inputs: Sequence[str]
) -> list[Level]:
    """Each ``--prefer`` value's inputs (``held``, :func:`preferred_inputs`) named as the summary names the level.

    A level of one input is shown as the input was given; the inputs in a folder as the folder.
    """
    return [(inputs[levels[0]] if len(levels) == 1 else str(value), levels) for value, levels in zip(prefer, held)]


def preferred_inputs(
    prefer: Sequence[str | os.PathLike | int],
    inputs: Sequence[Path],
    is_pattern: Callable[[Path], bool] = lambda path: False,
) -> list[list[int]]:
    """The inputs each ``--prefer`` value names (indices into ``inputs``), most preferred first.

    A value is an input's path as given (or the same file by another path), else its
    position from 1, else a folder: the inputs beneath it, at one level (``--prefer
    ManualPick/`` for the STAR files of ManualPick's jobs), else an existing file within an
    input folder or matched by an input pattern: that input. Refused: a value that names no
    input (an empty one, a missing file), an input named twice, a folder that holds every
    input (one level for all decides nothing).
    """
    chosen: dict[int, str] = {}
    levels = []
    for value in prefer:
        held = _inputs_named(value, inputs, is_pattern)
        if len(inputs) > 1 and len(held) == len(inputs):
            raise CryodedupError(
                f"--prefer {value}: holds every input ({len(inputs)}), which puts them all at one priority "
                "and decides nothing; name the inputs to prefer"
            )
        if twice := [k for k in held if k in chosen]:
            also = "" if chosen[twice[0]] == str(value) else f" (--prefer {chosen[twice[0]]} too)"
            raise CryodedupError(f"--prefer {value}: {inputs[twice[0]]} is preferred twice{also}; give each input once")
        chosen.update((k, str(value)) for k in held)
        levels.append(held)
    return levels


def _inputs_named(
    value: str | os.PathLike | int,
    inputs: Sequence[Path],
    is_pattern: Callable[[Path], bool],
    flag: str = "--prefer",
) -> list[int]:
    """The inputs ``value`` names (see :func:`preferred_inputs`); ``flag``: the option naming them, for errors."""
    text = str(value)
    if not text.strip():
        raise CryodedupError(
            f"{flag} {text!r}: an empty value names no input; give an input's path, its position, "
            "or a folder that holds inputs"
        )
    for k, path in enumerate(inputs):
        if text == str(path) or Path(text) == path:
            return [k]
    for k, path in enumerate(inputs):
        try:
            if os.path.samefile(text, path):
                return [k]
        except OSError:
            continue  # a glob or a missing file is matched by its text only
    # (a position of more digits than any count of inputs is none: int() refuses 4,300 digits)
    if text.strip().isdigit() and len(text.strip()) <= 18 and 1 <= int(text) <= len(inputs):
        return [int(text) - 1]
    beneath = [k for k, path in enumerate(inputs) if _within(path, text)]
    if beneath:
        return beneath
    if os.path.isfile(text):  # a file an input folder holds or an input pattern matches
        for k, path in enumerate(inputs):
            if _within(text, path) or (is_pattern(path) and _matched_by(text, path)):
                return [k]
    missing = "" if os.path.exists(text) or text.strip().isdigit() else " (no such file or folder)"
    listed = ", ".join(f"{k + 1}: {p}" for k, p in enumerate(inputs))
    raise CryodedupError(
        f"{flag} {text}: not one of the inputs{missing}; give an input's path as given, its position, or a folder "
        f"that holds inputs ({listed})"
    )


def inputs_named(value: str, inputs: Sequence[Path], is_pattern: Callable[[Path], bool], flag: str) -> list[int]:
    """The inputs an option's value names, as ``--prefer`` names them: a path as given, a position, a folder."""
    return _inputs_named(value, inputs, is_pattern, flag)


def _matched_by(file: str, pattern: Path) -> bool:
    """Whether the input ``pattern`` (as a picker's files are given) matches ``file``, by whole path."""
    return Path(_absolute(file)).match(_absolute(pattern))


def _absolute(path: str | os.PathLike) -> str:
    """``path`` made absolute and normal (``a/./b/`` as ``/cwd/a/b``), its links not followed (a glob stays one)."""
    return os.path.abspath(path)


def _within(inner: str | os.PathLike, outer: str | os.PathLike) -> bool:
    """Whether ``inner`` lies beneath the folder ``outer`` (by their paths, links not followed)."""
    return Path(_absolute(inner)).is_relative_to(_absolute(outer)) and _absolute(inner) != _absolute(outer)


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
        _refuse_user_and_slash(str(value).strip(), labels)
        level = _pick_sets_named(str(value).strip(), labels)
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


def _refuse_user_and_slash(text: str, labels: Sequence[str]) -> None:
    """Refuses ``alice/``: a session left out (a slip for one session, or all of the user's?), never guessed."""
    user = text[:-1]
    if not text.endswith("/") or not user or "/" in user:
        return
    sessions = [label for label in labels if label.split("/", 1)[0] == user]
    if sessions:
        raise CryodedupError(
            f"--prefer {text}: no session after the slash; give {' or '.join(sessions[:3])}"
            f"{' (...)' if len(sessions) > 3 else ''}, or {user} for all of {user}'s sessions at one priority"
        )


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


@dataclass(frozen=True)
class PriorityCounts:
    """The groups each priority level decided, as the core counts them in its walk.

    Attributes
    ----------
    groups : int
        Groups of duplicates: kept rows that suppressed at least one row.
    by_priority : list of int
        Per level of the kept row, the groups it won by priority (a suppressed row of a
        higher level); the others were decided by the score.
    against_score : int
        Of the groups decided by priority, those where such a row had the better score (a
        real one; ties to the lower row): where the priority changed the row kept. 0 without scores.
    """

    groups: int
    by_priority: list[int]
    against_score: int

    def __add__(self, other: PriorityCounts) -> PriorityCounts:
        levels = max(len(self.by_priority), len(other.by_priority))
        mine, theirs = (c.by_priority + [0] * (levels - len(c.by_priority)) for c in (self, other))
        by_level = [a + b for a, b in zip(mine, theirs)]
        return PriorityCounts(self.groups + other.groups, by_level, self.against_score + other.against_score)


def added_counts(first: PriorityCounts | None, then: PriorityCounts | None) -> PriorityCounts | None:
    """The counts of two decisions (e.g. two species') as one."""
    if first is None or then is None:
        return then if first is None else first
    return first + then


def priority_names(levels: Sequence[Level], n_inputs: int) -> list[str]:
    """The priority levels' names (``--prefer``) in order; "the other inputs" last where the levels leave some out."""
    names = [name for name, _ in levels]
    if sum(len(held) for _, held in levels) < n_inputs:
        names.append("the other inputs")
    return names


def removed_per_level(levels: Sequence[Level], n_inputs: int, removed: np.ndarray) -> list[int]:
    """The particles removed of each priority level (``removed``: of each input), as :func:`priority_names` names them.

    Under ``--remove-entirely`` no group has a winner (every particle with a duplicate goes,
    whatever its level): the summary says priority decided nothing, and how many of each level went.
    """
    n_levels = len(priority_names(levels, n_inputs))
    per_level = np.bincount(input_levels([held for _, held in levels], n_inputs), removed, n_levels)
    return [int(n) for n in per_level]


@dataclass(frozen=True)
class Ties:
    """Groups of duplicates whose kept row and a row it suppressed (of another input) tie on the score.

    Attributes
    ----------
    by_input_order : int
        Such groups where the two rows are of one priority level (or there is no ``--prefer``):
        the order of the inputs chose the row kept, nobody's rule.
    by_priority : int
        Such groups where ``--prefer`` put the kept row's input first: the score had no
        choice, so these are not groups the score would have given to another pick.
    """

    by_input_order: int
    by_priority: int


def tied_groups(
    suppressed_by: np.ndarray, scores: np.ndarray, input_of: np.ndarray, levels: np.ndarray | None = None
) -> Ties:
    """The groups of duplicates decided between rows of two inputs that tie on ``scores``.

    ``suppressed_by``: each row's kept duplicate (-1: none), as the core's walk gives it;
    ``levels``: each input's priority level (``--prefer``), None without one. Two scores tie
    when equal, or both not finite (no score: both rank last). Rows of one input that tie are
    ranked by their order in it and not counted: that is the input's own order. Only the
    rejected rows are looked at (a few per cent of a run: about 3 ms for a million rows).
    """
    rejected = np.flatnonzero(suppressed_by >= 0)
    kept = suppressed_by[rejected]
    theirs, ours = scores[rejected], scores[kept]
    tied = (theirs == ours) | (~np.isfinite(theirs) & ~np.isfinite(ours))
    tied &= input_of[rejected] != input_of[kept]
    if not tied.any():
        return Ties(0, 0)
    rejected, kept = rejected[tied], kept[tied]
    if levels is None:
        return Ties(int(np.unique(kept).size), 0)
    preferred = levels[input_of[kept]] < levels[input_of[rejected]]
    by_priority = np.unique(kept[preferred])
    # (a group with a tie at its own level as well as one --prefer decided counts for both)
    return Ties(int(np.unique(kept[~preferred]).size), int(by_priority.size))
