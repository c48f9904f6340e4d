"""The analyses a job adds to its summary, in words: (label, text) rows for the terminal and the report.

The algorithms (``algo.consensus``, ``algo.audit``, ``algo.density``) and the micrograph
matching (``resolve.micrograph_names``) return numbers in the summary; these rows say them.
"""

from __future__ import annotations

from ..labels import input_labels

__all__ = ["consensus_rows", "low_agreement", "matching_text"]

#: Unasked, the consensus block shows when no input has this fraction of its picks confirmed by another.
LOW_AGREEMENT = 0.10


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


def consensus_rows(consensus: dict) -> list[tuple[str, str]]:
    """The report of :func:`consensus_report` as (label, text) rows.

    Per input, the micrographs it ran on when not all, and its picks split by fate (kept
    confirmed, alone or not confirmable; rejected as duplicates, unconfirmed or not
    confirmable: the parts sum to its picks); the neighbour agreement of each pair of inputs on
    the micrographs both ran on; the micrographs where they agree least.
    """
    low = low_agreement(consensus)
    if not (consensus_asked(consensus) or low):
        return []  # a plain merge: the agreement is in --json and the --plot pictures
    labels = input_labels([i["file"] for i in consensus["per_input"]])
    k = consensus["min_support"]
    n_mics = consensus.get("micrographs", 0)
    partial = any(i.get("micrographs", n_mics) < n_mics for i in consensus["per_input"])
    users = consensus.get("users")  # (copick: support counts users, a user's sessions as one)
    of = (
        f"{users} users ({len(labels)} pick sets; a user's sessions confirm as one)"
        if users
        else f"{len(labels)} inputs"
    )
    rows = [("Consensus", f"min support {k} of {of}")]
    if low:
        rows.append(("  Low agreement", low))
    for label, i in zip(labels, consensus["per_input"]):
        text = f"ran on {i['micrographs']:,} of {n_mics:,} micrographs; " if partial else ""
        rows.append((f"  {label}", text + _fates_text(i, k)))
    if k > 1 and consensus.get("micrographs_not_confirmable"):
        rows.append(("  Not confirmable", not_confirmable_text(consensus)))
    matrix, apart = consensus["jaccard"], consensus.get("no_species_in_common", [])
    where = " (on the micrographs both ran on)" if partial else ""
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            value = matrix[a][b]
            undefined = "n/a (no species in common)" if [a, b] in apart else "n/a"
            rows.append(
                (
                    f"  Neighbour agreement {labels[a]} / {labels[b]}",
                    (undefined if value is None else f"{value:.3f}") + where,
                )
            )
    worst = consensus["least_agreement"][:3]
    if worst:
        rows.append(("  Least agreement", "\n".join(f"{w['micrograph']} ({w['mean_jaccard']:.2f})" for w in worst)))
    return rows


def consensus_asked(consensus: dict) -> bool:
    """Whether the run asked for a consensus: --min-support above 1, or --coverage or --uncovered given."""
    changed = consensus.get("coverage", "auto") != "auto" or consensus.get("uncovered", "keep") != "keep"
    return consensus["min_support"] > 1 or changed


def low_agreement(consensus: dict) -> str | None:
    """A warning when the inputs share micrographs but no input has LOW_AGREEMENT of its picks confirmed by another.

    Pickers of one specimen confirm many of each other's picks (the smaller input most of its
    own); almost none points at coordinates that do not match (pixel size, binning, origin).
    """
    matrix = consensus["jaccard"]
    n = len(matrix)
    if not any(matrix[a][b] is not None for a in range(n) for b in range(a + 1, n)):
        return None  # no two inputs ran on one micrograph: nothing to agree on
    best = max(i["confirmed"] / i["picks"] if i["picks"] else 0.0 for i in consensus["per_input"])
    if best >= LOW_AGREEMENT:
        return None
    return (
        f"at most {best:.0%} of an input's picks lie within the minimum distance of another input's: "
        "do their coordinates, pixel sizes and micrograph names match?"
    )


def _fates_text(entry: dict, min_support: int) -> str:
    """One input's picks split by fate, in words: each part once, so that they add up.

    The parts that cannot occur under these options are left out unless they hold picks.
    """
    confirmed = "confirmed by another input" if min_support == 1 else f"confirmed by {min_support} or more inputs"
    kept = [
        ("kept_confirmed", confirmed, True),
        ("kept_alone", "alone (no other input picked them)", min_support == 1),
        ("kept_not_confirmable", "not confirmable", False),
    ]
    rejected = [
        ("rejected_duplicate", "as duplicates", True),
        ("rejected_unconfirmed", f"confirmed by fewer than {min_support} inputs", min_support > 1),
        ("rejected_not_confirmable", "not confirmable", False),
    ]

    def part(fates: list[tuple[str, str, bool]]) -> str:
        return ", ".join(f"{entry[key]:,} {words}" for key, words, always in fates if always or entry[key])

    return f"{entry['picks']:,} picks: kept {part(kept)}; rejected {part(rejected)}"


def not_confirmable_text(consensus: dict) -> str:
    """What could not be confirmed: the picks on micrographs fewer than K inputs ran on, and their fate."""
    k, n_mics = consensus["min_support"], consensus["micrographs"]
    picks = sum(i["kept_not_confirmable"] + i["rejected_not_confirmable"] for i in consensus["per_input"])
    short = consensus["micrographs_not_confirmable"]
    fate = (
        "kept (--uncovered reject rejects them)"
        if consensus.get("uncovered", "keep") == "keep"
        else "rejected (--uncovered reject)"
    )
    return (
        f"{picks:,} picks on {short:,} of {n_mics:,} micrographs that fewer than {k} inputs ran on "
        f"cannot be confirmed: {fate}"
    )
