"""``cryodedup select``'s own options (:class:`SelectOptions`); it reads its inputs as the particle job does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import CryodedupError, as_option_errors
from .fields import OUTPUT, check_choices, choice, is_real_number, option, path_type

__all__ = ["PANELS", "READING", "SelectOptions"]

SELECTION = "Selection"
READING = "Reading"
PANELS = (SELECTION, READING, OUTPUT)

#: ``--min-dist``'s default (Å): a re-extracted or recentred copy's centre is its original's to a
#: fraction of a pixel (RELION writes the rounding back to the origin), but a refinement moves the
#: origins on: the RELION 3.1 tutorial's Refine3D/job029 lies up to 10.5 Å from its Select/job017
#: (13 of 4,501 beyond 5 Å); far below a particle's size, and the particle job's own default.
DEFAULT_MATCH_DIST = 20.0

#: ``--take``'s groups, and the columns (RELION) or fields (CryoSPARC) each stands for.
TAKE_GROUPS = ("angles", "shifts", "class", "halfset", "ctf")


@dataclass
class SelectOptions:
    """Which rows of the original a subset names, how they are matched, and what they take from it."""

    subset: Path | None = option(
        None,
        "--subset",
        "The subset: any particle file cryodedup reads (derived from ORIGINAL in any way: filtered, reordered, "
        "re-extracted, recentred, binned, another picker's set), or an index file of 0-based rows (.pkl as "
        "cryoDRGN, drgnai, recovar and cryostar write it, .npy, or text with one integer a line).",
        type=path_type(dir_okay=False),
        metavar="FILE",
        required=True,
        panel=SELECTION,
        essential=True,
    )
    subset_of: Path | None = option(
        None,
        "--subset-of",
        "With an index file: the particle file whose rows the indices count (the one the downstream tool read) "
        "[default: ORIGINAL].",
        type=path_type(dir_okay=False),
        metavar="FILE",
        panel=SELECTION,
    )
    index_of: str = choice(
        "rows",
        "--index-of",
        "With an index file: what an index counts. rows: the file's rows; particles: cryoDRGN-ET's particles of a "
        "tilt-series STAR (each one's tilt rows share rlnGroupName, else rlnGroupNumber, numbered in the order "
        "they first appear: cryodrgn filter_star --et), each mapped to all its tilt rows; particles-sorted: recovar's "
        "particles of a tilt-series STAR, numbered in the sorted order of their rlnGroupName.",
        choices=["rows", "particles", "particles-sorted"],
        panel=SELECTION,
    )
    min_dist: float = option(
        DEFAULT_MATCH_DIST,
        "--min-dist",
        "Rows matched by position (neither uid nor image name in common) are the same particle where their "
        "centres, coordinates minus origins in Å through each file's own pixel size, lie on one micrograph at "
        "most this many Å apart, matched one to one.",
        type=float,
        metavar="Å",
        label="match distance (Å)",
        panel=SELECTION,
    )
    take: str | None = option(
        None,
        "--take",
        "Each selected row takes these values from its subset row, converted into ORIGINAL's frame: "
        "angles, shifts (the origins, from the subset's centre), class, halfset, ctf, or column labels "
        "(rlnXxx, slot/field), separated by commas. Every other column stays the original's bytes.",
        metavar="GROUPS",
        panel=SELECTION,
    )
    ambiguous: bool = option(
        False,
        "--ambiguous",
        "Accept rows matched ambiguously by position (a subset row with two original rows within --min-dist, or "
        "the other way round): the one-to-one matching chooses. By default they are refused.",
        is_flag=True,
        panel=SELECTION,
    )

    @as_option_errors
    def check(self) -> None:
        """Raises a CryodedupError naming the first option out of its range."""
        if self.subset is None:
            raise CryodedupError("--subset names the subset: a particle file or an index file")
        if not (is_real_number(self.min_dist) and 0 <= self.min_dist < math.inf):
            raise CryodedupError(f"--min-dist must be a distance in Å of 0 or more, got {self.min_dist!r}")
        check_choices(self)
        for group in self.take_groups():
            if group not in TAKE_GROUPS and not (group.startswith("rln") or "/" in group):
                raise CryodedupError(
                    f"--take names {', '.join(TAKE_GROUPS)} or column labels (rlnXxx, slot/field), got {group!r}"
                )

    def take_groups(self) -> tuple[str, ...]:
        """``--take``'s groups and labels, in order, each once."""
        given = [g.strip().lstrip("_") for g in (self.take or "").split(",") if g.strip()]
        return tuple(dict.fromkeys(given))
