"""The consensus's section: how far the inputs agree, each input's picks by fate (:mod:`cryodedup.algo.consensus`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

from ...algo.consensus import Agreement, InputFates
from ...labels import counted, input_labels
from .base import Row, Section, in_tomograms

__all__ = ["Consensus"]

#: Unasked, the consensus block shows when no input has this fraction of its picks confirmed by another.
LOW_AGREEMENT = 0.10


@dataclass(frozen=True)
class Consensus(Section):
    """Several inputs: each pick's support, the inputs' agreement, and ``--min-support``'s decision.

    ``found``: the algorithm's numbers; ``users``: copick's, the users the support was counted in
    (a user's sessions confirm as one), None elsewhere.
    """

    key: ClassVar[str] = "consensus"

    found: Agreement
    users: int | None = None

    @property
    def asked(self) -> bool:
        """Whether the run asked for a consensus: --min-support above 1, or --coverage or --uncovered given."""
        found = self.found
        return found.min_support > 1 or found.coverage != "auto" or found.uncovered != "keep"

    def highlight(self) -> dict[str, str]:
        """Its low-agreement row as a warning, when no input has enough of its picks confirmed by another."""
        return {"  Low agreement": "warn"} if self.low_agreement else {}

    @property
    def low_agreement(self) -> str | None:
        """A warning when the inputs share micrographs but no input has LOW_AGREEMENT of its picks confirmed by another.

        Pickers of one specimen confirm many of each other's picks (the smaller input most of its
        own); almost none points at coordinates that do not match (pixel size, binning, origin).
        """
        matrix = self.found.jaccard
        n = len(matrix)
        if not any(matrix[a][b] is not None for a in range(n) for b in range(a + 1, n)):
            return None  # no two inputs ran on one micrograph: nothing to agree on
        best = max(i.confirmed / i.picks if i.picks else 0.0 for i in self.found.per_input)
        if best >= LOW_AGREEMENT:
            return None
        return (
            f"at most {best:.0%} of an input's picks lie within the minimum distance of another input's: "
            "do their coordinates, pixel sizes and micrograph names match?"
        )

    def rows(self, unit: str) -> list[Row]:
        """The consensus block; none for a plain merge that agrees (its agreement is in --json and the pictures).

        Per input, the micrographs it ran on when not all, and its picks split by fate (kept
        confirmed, alone or not confirmable; rejected as duplicates, unconfirmed or not
        confirmable: the parts sum to its picks); the neighbour agreement of each pair of inputs on
        the micrographs both ran on; the micrographs where they agree least.
        """
        low = self.low_agreement
        if not (self.asked or low):
            return []
        found = self.found
        labels = input_labels([i.file for i in found.per_input])
        k = found.min_support
        partial = any(i.micrographs < found.micrographs for i in found.per_input)
        of = (
            f"{self.users} users ({len(labels)} pick sets; a user's sessions confirm as one)"
            if self.users
            else f"{len(labels)} inputs"
        )
        rows = [("Consensus", f"min support {k} of {of}")]
        if low:
            rows.append(("  Low agreement", low))
        for label, i in zip(labels, found.per_input):
            ran_on = f"ran on {i.micrographs:,} of {found.micrographs:,} micrographs; " if partial else ""
            rows.append((f"  {label}", ran_on + _fates_text(i, k)))
        if k > 1 and found.micrographs_not_confirmable:
            rows.append(("  Not confirmable", self._not_confirmable_text()))
        rows += _pair_rows(found, labels, partial)
        worst = found.least_agreement[:3]
        if worst:
            rows.append(("  Least agreement", "\n".join(f"{name} ({mean:.2f})" for name, mean in worst)))
        return in_tomograms(rows, unit)

    def _not_confirmable_text(self) -> str:
        """What could not be confirmed: the picks on micrographs fewer than K inputs ran on, and their fate."""
        found = self.found
        picks = sum(i.kept_not_confirmable + i.rejected_not_confirmable for i in found.per_input)
        fate = (
            "kept (--uncovered reject rejects them)" if found.uncovered == "keep" else "rejected (--uncovered reject)"
        )
        return (
            f"{counted(picks, 'pick')} on {found.micrographs_not_confirmable:,} of {found.micrographs:,} micrographs "
            f"that fewer than {found.min_support} inputs ran on cannot be confirmed: {fate}"
        )

    def micrographs_listed(self) -> tuple[str, ...]:
        """The micrographs where the inputs agree least."""
        return tuple(name for name, _ in self.found.least_agreement)

    def with_micrographs_named(self, shown: Mapping[str, str]) -> Consensus:
        """The section with its least-agreeing micrographs named as ``shown`` names them."""
        least = tuple((shown.get(name, name), mean) for name, mean in self.found.least_agreement)
        return replace(self, found=replace(self.found, least_agreement=least))

    def to_json(self) -> dict[str, Any]:
        """The algorithm's numbers in its order (``no_species_in_common`` where some pair has none), then ``users``."""
        found = self.found
        document: dict[str, Any] = {
            "min_support": found.min_support,
            "micrographs": found.micrographs,
            "uncovered": found.uncovered,
            "coverage": found.coverage,
            "not_covered": found.not_covered,
            "micrographs_not_confirmable": found.micrographs_not_confirmable,
            "per_input": [asdict(i) for i in found.per_input],
            "jaccard": found.jaccard,
        }
        if found.no_species_in_common:
            document["no_species_in_common"] = [list(pair) for pair in found.no_species_in_common]
        document["jaccard_per_micrograph"] = found.jaccard_per_micrograph
        document["least_agreement"] = [{"micrograph": m, "mean_jaccard": mean} for m, mean in found.least_agreement]
        if self.users is not None:
            document["users"] = self.users
        return document


def _fates_text(entry: InputFates, min_support: int) -> str:
    """One input's picks split by fate, in words: each part once, so that they add up.

    The parts that cannot occur under these options are left out unless they hold picks.
    """
    confirmed = "confirmed by another input" if min_support == 1 else f"confirmed by {min_support} or more inputs"
    kept = [
        (entry.kept_confirmed, confirmed, True),
        (entry.kept_alone, "alone (no other input picked them)", min_support == 1),
        (entry.kept_not_confirmable, "not confirmable", False),
    ]
    rejected = [
        (entry.rejected_duplicate, "as duplicates", True),
        (entry.rejected_unconfirmed, f"confirmed by fewer than {min_support} inputs", min_support > 1),
        (entry.rejected_not_confirmable, "not confirmable", False),
    ]

    def part(fates: list[tuple[int, str, bool]]) -> str:
        return ", ".join(f"{n:,} {words}" for n, words, always in fates if always or n)

    return f"{counted(entry.picks, 'pick')}: kept {part(kept)}; rejected {part(rejected)}"


def _pair_rows(found: Agreement, labels: list[str], partial: bool) -> list[Row]:
    """The neighbour agreement of each pair of inputs; "no agreement measured" where none could be.

    (No micrograph both ran on, or no species in common.)
    """
    rows = []
    where = " (on the micrographs both ran on)" if partial else ""
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            value = found.jaccard[a][b]
            undefined = "no agreement measured" + (
                " (no species in common)" if (a, b) in found.no_species_in_common else " (no micrograph both ran on)"
            )
            rows.append(
                (
                    f"  Neighbour agreement {labels[a]} / {labels[b]}",
                    undefined if value is None else f"{value:.3f}{where}",
                )
            )
    return rows
