"""``cryodedup select``'s summary (a :class:`~..shape.JobSummary`): what matched, how, and what was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...report.sections.base import Row
from ...report.sections.run import RunVerdict
from ..shape import JobSummary, required

__all__ = ["NAMED", "SelectSummary"]

#: Subset rows named in the summary (matched by nothing, or ambiguously); the count says how many more.
NAMED = 5


@dataclass(frozen=True)
class SelectSummary(JobSummary):
    """What ``select`` matched and wrote: the original's rows selected and deselected, the subset's rows by way.

    ``matched``: the subset rows matched by each way (``uid``, ``image name``, ``position``,
    ``index``; ``none``: by nothing); ``unmatched`` and ``ambiguous``: how many subset rows, and
    the first :data:`NAMED` of them as their file names them; ``taken``: the columns ``--take`` set.
    """

    original: tuple[str, ...] = required("original")
    subset: str = required("subset")
    subset_rows: int = required("subset_rows")
    original_rows: int = required("original_rows")
    selected: int = required("selected")
    matched: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    unmatched_named: tuple[str, ...] = ()
    ambiguous: int = 0
    ambiguous_named: tuple[str, ...] = ()
    min_dist: float = 0.0
    taken: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def deselected(self) -> int:
        """The original's rows not selected."""
        return self.original_rows - self.selected

    def judged(self) -> RunVerdict:
        """``selected`` (good) where every subset row found its row; ``check`` (warn) where some found none."""
        line = (
            f"Selected {self.selected:,} of {self.original_rows:,} rows of {', '.join(self.original)} "
            f"({self.deselected:,} deselected) named by {self.subset_rows:,} rows of {self.subset}"
        )
        if self.unmatched:
            return RunVerdict(f"check {self.unmatched:,} rows", "warn", line=f"{line}; {self.unmatched:,} matched none")
        if not self.subset_rows:
            return RunVerdict("nothing selected", "warn", line=f"{line}: the subset is empty")
        return RunVerdict("selected", "good", line=line)

    def rows(self) -> list[Row]:
        """The command's table."""
        ways = ", ".join(f"{n:,} by {way}" for way, n in self.matched.items() if way != "none" and n)
        found: list[Row] = [
            ("Original", f"{', '.join(self.original)}: {self.original_rows:,} rows"),
            ("Subset", f"{self.subset}: {self.subset_rows:,} rows"),
            ("Matched", ways or "none"),
            ("Selected", f"{self.selected:,}"),
            ("Deselected", f"{self.deselected:,}"),
        ]
        if self.unmatched:
            found.append(("Matched by nothing", _named(self.unmatched, self.unmatched_named)))
        if self.ambiguous:
            found.append(("Matched ambiguously", _named(self.ambiguous, self.ambiguous_named)))
        if self.taken:
            found.append(("Taken from the subset", ", ".join(self.taken)))
        if self.outputs is not None:
            found.extend((f"{subset.capitalize()} files", "\n".join(files)) for subset, files in self.outputs.by_subset)
        if self.timings is not None:
            found.append(("Time", f"{self.timings.seconds:.2f} s"))
        return found

    def to_json(self) -> dict[str, Any]:
        """``--json``'s document: the shared keys, then what was matched and written."""
        return {
            **self.shared_json(),
            "original": list(self.original),
            "original_rows": self.original_rows,
            "subset": self.subset,
            "subset_rows": self.subset_rows,
            "selected": self.selected,
            "deselected": self.deselected,
            "matched": dict(self.matched),
            "unmatched": {"rows": self.unmatched, "named": list(self.unmatched_named)},
            "ambiguous": {"rows": self.ambiguous, "named": list(self.ambiguous_named)},
            "min_dist_A": self.min_dist,
            "taken": list(self.taken),
            "warnings": list(self.warnings),
        }


def _named(count: int, named: tuple[str, ...]) -> str:
    more = f" and {count - len(named):,} more" if count > len(named) else ""
    return f"{count:,}: {', '.join(named)}{more}"
