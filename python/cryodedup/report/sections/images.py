"""The check of the kept particles' images: one image in several rows (``--same-image``).

Its own module (not :mod:`.audits`): nearly every run reads its images' names and makes a
:class:`SameImage`; the audits' classes are loaded only when one runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Row, Section

__all__ = ["SameImage"]


@dataclass(frozen=True)
class SameImage(Section):
    """One particle image in several rows (``--same-image``): the images kept twice, or the rows ``reject`` removed.

    ``rows_kept_twice``: the kept rows of the images kept twice (``rows`` in the document);
    ``rows_rejected``: with ``reject`` alone; ``named``: the first images kept twice, by name;
    ``cause``: what made them, where known (particle names that collide across inputs).
    """

    key: ClassVar[str] = "same_image"

    column: str
    mode: str
    images_kept_twice: int = 0
    rows_kept_twice: int = 0
    rows_rejected: int | None = None
    named: tuple[str, ...] = ()
    cause: str | None = None

    def highlight(self) -> dict[str, str]:
        """Its row as a warning, when images were kept twice."""
        return {"Same image twice": "warn"} if self.images_kept_twice else {}

    @property
    def message(self) -> str | None:
        """The warning, when images were kept twice: how many, why, the first by name, and what removes them."""
        if not self.images_kept_twice:
            return None
        images = "image" if self.images_kept_twice == 1 else "images"
        more = self.images_kept_twice - len(self.named)
        listed = ", ".join(self.named) + (f" and {more:,} more" if more else "")
        why = "as joined selections refined apart leave them" if self.cause is None else self.cause
        return (
            f"{self.images_kept_twice:,} {images} kept twice ({self.rows_kept_twice:,} rows of one {self.column} at "
            f"different centres, {why}): {listed}; --same-image reject keeps the best of each"
        )

    def rows(self, unit: str) -> list[Row]:
        """The images kept twice (the warning), or the rows ``reject`` removed; none when neither."""
        if self.message is not None:
            return [("Same image twice", self.message)]
        if self.rows_rejected:
            rows = "row" if self.rows_rejected == 1 else "rows"
            return [
                (
                    "Same image twice",
                    f"{self.rows_rejected:,} {rows} rejected as the same {self.column} as a kept row at another "
                    "centre or on another micrograph (--same-image reject)",
                )
            ]
        return []

    def to_json(self) -> dict[str, Any]:
        """The document's ``same_image``, its keys in the order main printed them.

        ``column``, ``mode``, ``images_kept_twice``, ``rows``; ``rows_rejected`` (``reject``); ``named``,
        ``cause`` (where known) and ``message`` when images were kept twice.
        """
        document: dict[str, Any] = {
            "column": self.column,
            "mode": self.mode,
            "images_kept_twice": self.images_kept_twice,
            "rows": self.rows_kept_twice,
        }
        if self.rows_rejected is not None:
            document["rows_rejected"] = self.rows_rejected
        if self.images_kept_twice:
            document["named"] = list(self.named)
            if self.cause is not None:
                document["cause"] = self.cause
            document["message"] = self.message
        return document
