"""The micrograph matching (``resolve.micrograph_names``) in words, for the terminal and the report.

The analyses the particle job's summary says (the consensus, the half-set audit, the duplicate
density ...) are typed sections that word themselves (:mod:`cryodedup.report.sections`).
"""

from __future__ import annotations

__all__ = ["matching_text"]


def matching_text(matching: dict) -> str:
    """The summary's ``micrograph_matching`` in words, for the terminal and the report."""
    if "matched_by_name" not in matching:  # the micrograph job's --particles found by CryoSPARC uid
        return str(matching["used"])
    text = f"--match-micrographs {matching['mode']}: "
    if matching["matched_by_name"]:
        text += f"{matching['matched_by_name']:,} micrographs matched by file name, e.g. {matching['example']}"
    else:  # what was done, though no name matched (not "by exact path" when names were compared)
        text += f"by {matching['used']}"
    if matching.get("kept_apart"):
        text += f"; {matching['kept_apart']:,} micrographs sharing a file name within one input kept apart"
    if matching.get("not_matched"):
        text += f"; {matching['not_matched']:,} with a file name of another input's micrograph not compared"
    if matching.get("pixel_sizes_by_file_name"):
        text += (
            f"; the pixel sizes of {matching['pixel_sizes_by_file_name']:,} micrographs found in the --micrographs "
            "STAR by file name (listed there under another folder)"
        )
    return text
