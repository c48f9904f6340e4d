"""The micrograph matching (``resolve.micrograph_names``) in words, for the terminal and the report.

The analyses the particle job's summary says (the consensus, the half-set audit, the duplicate
density ...) are typed sections that word themselves (:mod:`cryodedup.report.sections`); the
matching is typed too (:class:`~cryodedup.report.sections.readers.MicrographMatching`), this its
words for a matcher's entry as the micrograph job holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sections.readers import MicrographMatching

__all__ = ["matching_text"]


def matching_text(matching: Mapping[str, Any]) -> str:
    """A summary's ``micrograph_matching`` entry in words, for the terminal and the report."""
    return MicrographMatching.of(matching).text()
