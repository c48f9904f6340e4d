"""The checks of what was kept: half-sets, symmetry copies, particle names that collide (see also :mod:`.images`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...algo.audit import PAIRS_COUNTED
from ...labels import counted
from .base import Row, Section

if TYPE_CHECKING:
    from ...algo.fsc import FscEstimate

__all__ = [
    "HalfsetAudit",
    "HalfsetTrim",
    "HalfsetsByMicrograph",
    "NameCollisions",
    "StraddlingMicrograph",
    "SymmetryCopies",
]


@dataclass(frozen=True)
class SymmetryCopies(Section):
    """Rows that share a source (an image): the column naming it, the sources, the rows, and how many kept each.

    ``by_copies_kept``: (copies kept, sources with that many), by copies kept. ``at_pose``: how many rows repeat an
    earlier row of their image at its pose (selections joined twice), where the poses were read; None: not read
    (CryoSPARC's ``sym_expand/src_uid`` names an expansion's copies). Copies at other poses are a symmetry
    expansion's; copies at one pose are exact copies, duplicates, and the row says which it saw.
    """

    key: ClassVar[str] = "symmetry_expansion"

    column: str
    sources: int
    copies_in: int
    by_copies_kept: tuple[tuple[int, int], ...]
    at_pose: int | None = None

    def rows(self, unit: str) -> list[Row]:
        """One row: the copies of how many sources, what they are (by their poses), and the sources by copies kept."""
        by = ", ".join(f"{h:,} with {c} kept" for c, h in self.by_copies_kept)
        copies = f"{self.copies_in:,} {'copy' if self.copies_in == 1 else 'copies'}"
        repeats = self.copies_in - self.sources  # (rows beyond each source's first)
        if not self.at_pose:
            return [("Symmetry copies", f"{copies} of {counted(self.sources, 'particle')}; {by}")]
        exact = f"{self.at_pose:,} at the pose of another row of their image (selections joined twice: duplicates)"
        if self.at_pose >= repeats:
            return [("Exact copies", f"{copies} of {counted(self.sources, 'particle')}, {exact}; {by}")]
        other = f"{repeats - self.at_pose:,} at other poses (a symmetry expansion)"
        return [("Copies of one image", f"{copies} of {counted(self.sources, 'particle')}: {other}, {exact}; {by}")]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``sources``, ``copies_in``, ``sources_by_copies_kept`` (copies kept: sources) and more.

        ``copies_at_pose``: rows at the pose of another row of their image, only where the poses were read.
        """
        document: dict[str, Any] = {
            "column": self.column,
            "sources": self.sources,
            "copies_in": self.copies_in,
            "sources_by_copies_kept": dict(self.by_copies_kept),
        }
        if self.at_pose is not None:
            document["copies_at_pose"] = self.at_pose
        return document


@dataclass(frozen=True)
class HalfsetsByMicrograph(Section):
    """The kept particles' half-sets reassigned by micrograph (``--halfsets micrograph``).

    ``half_names``: the two halves as the column writes them (1 and 2, 0 and 1): in the message, not the document.
    """

    key: ClassVar[str] = "halfsets"

    column: str
    sizes: tuple[int, int]
    largest_micrograph: int
    half_names: tuple[str, str]

    @property
    def message(self) -> str:
        """How many kept particles each half holds, and the largest micrograph (none split)."""
        return (
            f"{self.column} of the kept particles reassigned per micrograph: {self.sizes[0]:,} in half "
            f"{self.half_names[0]}, {self.sizes[1]:,} in half {self.half_names[1]} (no micrograph split; the largest "
            f"holds {self.largest_micrograph:,})"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the message."""
        return [("Half-sets", self.message)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``rule`` (micrograph), ``sizes``, ``largest_micrograph`` and ``message``."""
        return {
            "column": self.column,
            "rule": "micrograph",
            "sizes": list(self.sizes),
            "largest_micrograph": self.largest_micrograph,
            "message": self.message,
        }


@dataclass(frozen=True)
class HalfsetTrim(Section):
    """The kept particles trimmed from the larger half-set until the halves differ by at most one (``--halfsets trim``).

    ``before``, ``after``: the kept particles in each half (as the column writes them: ``half_names``) before and
    after; ``ranked_by``: what chose the trimmed ones (the score and its direction, or the seeded random order).
    """

    key: ClassVar[str] = "halfset_trim"

    column: str
    before: tuple[int, int]
    after: tuple[int, int]
    ranked_by: str
    half_names: tuple[str, str]

    @property
    def trimmed(self) -> int:
        """The kept particles rejected to balance the halves."""
        return sum(self.before) - sum(self.after)

    @property
    def message(self) -> str:
        """How many were trimmed from which half, chosen how, and the halves after."""
        after = f"{self.after[0]:,} in half {self.half_names[0]}, {self.after[1]:,} in half {self.half_names[1]}"
        if not self.trimmed:
            return f"{self.column}: the kept halves differ by at most one ({after}): none trimmed"
        larger = self.half_names[int(self.before[1] > self.before[0])]
        return (
            f"{self.column}: {counted(self.trimmed, 'kept particle')} of half {larger} trimmed ({self.ranked_by}) "
            f"to balance the halves: {after}; none changed half"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row: the message."""
        return [("Half-sets", self.message)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``rule`` (trim), ``sizes_before``, ``sizes``, ``trimmed``, ``ranked_by`` and ``message``."""
        return {
            "column": self.column,
            "rule": "trim",
            "sizes_before": list(self.before),
            "sizes": list(self.after),
            "trimmed": self.trimmed,
            "ranked_by": self.ranked_by,
            "message": self.message,
        }


@dataclass(frozen=True)
class NameCollisions(Section):
    """Particle names kept for different particles of different inputs (RELION issue 1069).

    ``rows_kept``: their kept rows (``rows`` in the document); ``named``: the first names;
    ``example_inputs``: the inputs of the first; ``extracted``: the rows were extracted already
    (the image kept twice says the cause: no row of its own).
    """

    key: ClassVar[str] = "particle_names"

    column: str
    names: int
    rows_kept: int
    named: tuple[str, ...]
    example_inputs: tuple[str, ...]
    extracted: bool

    @property
    def message(self) -> str:
        """How many names, the first, where, what RELION's extraction does with them and what to do."""
        more = self.names - len(self.named)
        listed = ", ".join(self.named) + (f" and {more:,} more" if more else "")
        return (
            f"{self.names:,} {self.column} value{'s' * (self.names != 1)} kept for different particles of "
            f"different inputs ({listed}; e.g. in {' and '.join(self.example_inputs)}): RELION's extraction names "
            "each subtomogram's files by it and writes both particles to one file (RELION issue 1069); renumber one "
            f"input's {self.column} before extracting the joined set"
        )

    def rows(self, unit: str) -> list[Row]:
        """One row before extraction; none after (the image kept twice names the cause)."""
        return [] if self.extracted else [("Particle names", self.message)]

    def to_json(self) -> dict[str, Any]:
        """``column``, ``names``, ``rows``, ``named``, ``example_inputs``, ``message`` and ``extracted``."""
        return {
            "column": self.column,
            "names": self.names,
            "rows": self.rows_kept,
            "named": list(self.named),
            "example_inputs": list(self.example_inputs),
            "message": self.message,
            "extracted": self.extracted,
        }


#: The change in resolution (Fourier shells) under which ``--fsc``'s estimate calls the straddling pairs negligible
#: (``cryodedup audit``'s default ``--negligible``).
NEGLIGIBLE_SHELLS = 1.0

#: The audit's message when the particles carry no half-sets (``--audit`` asked all the same).
NO_HALFSETS = "the particles carry no half-sets (rlnRandomSubset 1/2, alignments3D/split 0/1): nothing to audit"


@dataclass(frozen=True)
class StraddlingMicrograph:
    """A micrograph the audit names: its duplicate pairs straddling the half-sets, and its particles."""

    micrograph: str
    straddling_pairs: int
    particles: int


def _fsc_words(found: FscEstimate) -> str:
    """``--fsc``'s row: the resolution as refined, and without the straddling pairs, with the change in shells."""
    if found.resolution_A is None:
        return f"the FSC never rises above 0.143 past its origin ({found.source})"
    refined = (
        f"{found.resolution_A:.2f} Å at FSC 0.143"
        if found.crosses
        else (f"above FSC 0.143 to its last shell, {found.resolution_A:.2f} Å")
    )
    said = f"as refined {refined}"
    if found.resolution_without_A is not None and found.change_shells is not None:
        bound = f"{found.caveats}; " if found.caveats else ""
        said += (
            f", without its {found.pairs:,} straddling pairs about {found.resolution_without_A:.2f} Å "
            f"({bound}{found.change_shells:.2g} Fourier shells; shared fraction {found.shared_fraction:.3g}"
            f"{found.turned_words})"
        )
    elif found.why:
        said += f"; {found.why}"
    return f"{said} ({found.source}){found.point_group_words}"


@dataclass(frozen=True)
class HalfsetAudit(Section):
    """The half-set audit: the duplicate pairs that straddle the half-sets of a refinement, and where.

    ``column``: the half-sets' column, None when the particles carry none (``--audit``: nothing
    to audit); ``criterion``: what made two particles a pair (the verdict names it: pairs
    farther apart were not looked for; not in the document); ``fraction``: of all particles,
    those in a straddling pair (rounded to 6 places in the document); ``same_image``: the pairs
    of rows of one image at different centres and those straddling, when the images were read.
    """

    key: ClassVar[str] = "halfset_audit"

    column: str | None
    criterion: str = ""
    duplicate_pairs: int = 0
    straddling_pairs: int = 0
    particles_straddling: int = 0
    fraction: float = 0.0
    micrographs_with_straddling: int = 0
    top_micrographs: tuple[StraddlingMicrograph, ...] = ()
    same_image: tuple[int, int] | None = None
    #: ``--fsc``: the refinement's FSC, and the resolution predicted without the straddling pairs.
    fsc: FscEstimate | None = None

    @property
    def straddles(self) -> bool:
        """Whether any pair straddles the half-sets (one of the same image counts): the report says it in red."""
        return bool(self.straddling_pairs or (self.same_image and self.same_image[1]))

    @property
    def negligible(self) -> bool:
        """Whether ``--fsc``'s estimate says the straddling pairs move the resolution by under one Fourier shell.

        Known only from a crossing on both curves (not a lower bound), as the audit's default ``--negligible``.
        """
        found = self.fsc
        if found is None or found.lower_bound or found.change_shells is None:
            return False
        return bool(np.isfinite(found.change_shells)) and found.change_shells < NEGLIGIBLE_SHELLS

    @property
    def harms(self) -> bool:
        """Whether pairs straddle the half-sets and no FSC estimate says they are negligible: the refinement to redo."""
        return self.straddles and not self.negligible

    def highlight(self) -> dict[str, str]:
        """The audit's verdict, red when pairs straddle the half-sets (unless negligible), else green."""
        return {"Half-set audit": "bad" if self.harms else "good"} if self.column else {}

    @property
    def message(self) -> str:
        """The verdict: the pairs straddling (and their share of the particles) and what to do, or that none do."""
        if self.column is None:
            return NO_HALFSETS
        n = self.straddling_pairs
        if not n:
            message = f"no duplicate pairs {self.criterion} straddle the half-sets"
        else:
            pairs = (
                f"{n:,} duplicate pair {self.criterion} straddles"
                if n == 1
                else f"{n:,} duplicate pairs {self.criterion} straddle"
            )
            message = (
                f"{pairs} the half-sets ({100 * self.fraction:.1f} % of particles): the FSC of a refinement "
                "on this input may be inflated; refine the kept set"
            )
            if self.negligible:
                message = (
                    f"{pairs} the half-sets ({100 * self.fraction:.1f} % of particles): by its FSC they move the "
                    f"resolution under {NEGLIGIBLE_SHELLS:g} Fourier shell (negligible): nothing to refine again"
                )
        if self.same_image and self.same_image[1]:
            straddling = self.same_image[1]
            pairs, verb = ("pair", "straddles") if straddling == 1 else ("pairs", "straddle")
            message += (
                f"; {straddling:,} {pairs} of rows of one particle image (at different centres) {verb} "
                "the half-sets: the same image in both halves"
            )
        return message

    def rows(self, unit: str) -> list[Row]:
        """The verdict; the pairs across and within the halves; those of one image; the most straddling micrographs."""
        if self.column is None:
            return [("Half-set audit", self.message)]
        rows = [
            ("Half-set audit", self.message),
            (
                "  Duplicate pairs",
                f"{self.duplicate_pairs:,}: {self.straddling_pairs:,} across the half-sets, "
                f"{self.duplicate_pairs - self.straddling_pairs:,} within one ({self.column})",
            ),
        ]
        if self.same_image is not None:
            pairs, straddling = self.same_image
            rows.append(
                (
                    "  Same image twice",
                    f"{pairs:,} pairs of rows of one image at different centres: {straddling:,} across the half-sets",
                )
            )
        if self.fsc is not None:
            rows.append(("  FSC", _fsc_words(self.fsc)))
        if self.top_micrographs:
            listed = "\n".join(
                f"{m.micrograph}: {m.straddling_pairs:,} (of {counted(m.particles, 'particle')})"
                for m in self.top_micrographs
            )
            rows.append((f"  Most straddling ({counted(self.micrographs_with_straddling, unit)})", listed))
        return rows

    def micrographs_listed(self) -> tuple[str, ...]:
        """The micrographs named: the most straddling."""
        return tuple(m.micrograph for m in self.top_micrographs)

    def with_micrographs_named(self, shown: Mapping[str, str]) -> HalfsetAudit:
        """The audit with its micrographs named as ``shown`` names them."""
        named = tuple(replace(m, micrograph=shown.get(m.micrograph, m.micrograph)) for m in self.top_micrographs)
        return replace(self, top_micrographs=named)

    def to_json(self) -> dict[str, Any]:
        """``column`` and ``message`` alone without half-sets; else the counts, the micrographs, the message.

        ``column``, ``duplicate_pairs``, ``straddling_pairs``, ``within_half_pairs`` (``pairs_counted`` says what),
        ``particles_straddling``, ``fraction``, ``micrographs_with_straddling``, ``top_micrographs``,
        ``message``; ``same_image_pairs`` and ``same_image_straddling`` when the images were read.
        """
        if self.column is None:
            return {"column": None, "message": self.message}
        document: dict[str, Any] = {
            "column": self.column,
            "duplicate_pairs": self.duplicate_pairs,
            "straddling_pairs": self.straddling_pairs,
            "within_half_pairs": self.duplicate_pairs - self.straddling_pairs,
            "pairs_counted": PAIRS_COUNTED,
            "particles_straddling": self.particles_straddling,
            "fraction": round(self.fraction, 6),
            "micrographs_with_straddling": self.micrographs_with_straddling,
            "top_micrographs": [asdict(m) for m in self.top_micrographs],
            "message": self.message,
        }
        if self.same_image is not None:
            document["same_image_pairs"], document["same_image_straddling"] = self.same_image
        if self.fsc is not None:
            document["fsc"] = self.fsc.to_json()
        return document
