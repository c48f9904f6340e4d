"""Text for people: how paths and values read in the summary table and the report."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .paths import StrPath

__all__ = ["counted", "distinct_labels", "human", "input_labels", "listed"]


def distinct_labels(paths: Sequence[StrPath]) -> list[str]:
    """The shortest trailing part of each path that tells it apart from the others.

    Parameters
    ----------
    paths : list of str or Path

    Returns
    -------
    list of str
        ``Select/job020/particles.star`` and ``Select/job021/particles.star`` give
        ``job020/particles.star`` and ``job021/particles.star``; a path given twice keeps
        its whole text.
    """
    parts = [Path(p).parts for p in paths]
    labels = []
    for i, own in enumerate(parts):
        tail = own
        for k in range(1, len(own) + 1):
            tail = own[-k:]
            if all(other[-k:] != tail for j, other in enumerate(parts) if j != i):
                break
        labels.append(str(Path(*tail)) if tail else str(paths[i]))
    return labels


def input_labels(paths: Sequence[StrPath]) -> list[str]:
    """Labels of inputs read side by side: :func:`distinct_labels` cut at one depth, the deepest any needs.

    ``alice/1``, ``bob/1`` and ``pytom/0`` (copick users' sessions) stay whole: cut alone,
    ``pytom/0`` would read ``0``, its user lost. So do ``alice/1`` and ``pytom/0`` alone,
    though ``1`` and ``0`` tell them apart: a copick pick set (``user/session``, no file of
    that name) is never cut.
    """
    parts = [Path(p).parts for p in paths]
    depth = max((len(Path(label).parts) for label in distinct_labels(paths)), default=0)
    if any(_pick_set(path) for path in paths):
        depth = max(depth, 2)
    return [str(Path(*own[-depth:])) if own else str(path) for own, path in zip(parts, paths)]


def _pick_set(path: StrPath) -> bool:
    """Whether an input is a copick pick set's name, ``user/session``: two parts without a file's dot, no such file."""
    text = str(path)
    return bool(re.fullmatch(r"[^/\\.]+/[^/\\.]+", text)) and not Path(text).exists()


def human(value: object) -> str:
    """A value as a person reads it.

    ``-`` for nothing (an option not given: None, or a repeatable option's empty list or
    mapping), ``yes``/``no`` for a truth value, numbers without trailing zeros, a list's
    items (a mapping's ``key: value``) separated by commas.
    """
    if value is None or (isinstance(value, (list, tuple, dict)) and not value):
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {human(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def counted(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless one: "1 micrograph", "2 micrographs"."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def listed(names: Sequence[str]) -> str:
    """Names as a sentence lists them: "ribosome", "ribosome and proteasome", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
