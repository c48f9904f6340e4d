"""The jobs' summaries as (label, text) rows, with human labels and units.

The terminal's table and the HTML report show the same rows; ``--json`` gives the summary
itself. Nothing here prints or draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..algo.dedup import SAME_CENTRE_A
from ..labels import counted, distinct_labels, input_labels
from .analysis_rows import matching_text
from .sections.base import in_tomograms

if TYPE_CHECKING:  # (a particle job's summary does not load the micrograph job's sections)
    from .micrograph_sections import MicrographSummary, Timing
    from .sections import OwnFrameExclusion, Sections, Species, Timings
    from .sections.run import Outputs

__all__ = [
    "flagged_checks",
    "micrograph_rows",
    "particle_rows",
    "report_rows",
    "short_name",
]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]

#: Micrograph names longer than this are shortened at the front in the report.
NAME_WIDTH = 80


def particle_rows(s: dict, sections: Sections) -> list[Row]:
    """The particle job's summary as rows: ``s`` its ``--json`` document, ``sections`` its typed sections.

    A tomography summary says tomograms where a single-particle one says micrographs. The
    analyses are read from ``sections`` (:mod:`.sections`); the run's counts, the pixel sizes and
    the readers' own keys still from the document.
    """
    # (the sections' classes named here, where rows are made: a run that prints none loads only its own)
    from .sections import (
        Consensus,
        DuplicateDensity,
        Filaments,
        HalfsetAudit,
        HalfsetsByMicrograph,
        Inputs,
        MovedInputs,
        OwnFrameExclusion,
        Registration,
        Species,
        SymmetryCopies,
    )

    unit = "tomogram" if s.get("tomography") else "micrograph"
    inputs = sections.of(Inputs)
    several = inputs is not None and inputs.several
    rows = [("Particles in", f"{s['particles']:,}"), *sections.rows(Inputs, unit)]
    pct = 100 * s["rejected"] / s["particles"] if s["particles"] else 0.0
    rows += [
        ("Kept", f"{s['kept']:,}"),
        ("Rejected", f"{s['rejected']:,} ({pct:.1f} %)"),
        (f"{unit.capitalize()}s", f"{s['micrographs']:,}"),
        *in_tomograms(matching_rows(unless_plain(s.get("micrograph_matching")), unit), unit),
        *dataset_rows(s.get("datasets"), unit),
        ("Minimum distance", f"{distance_text(s, sections.of(Species), sections.of(OwnFrameExclusion))} ({s['mode']})"),
    ]
    psize_label = "Coordinate pixel size" if s.get("tomography") else "Micrograph pixel size"
    rows += pixel_size_rows(s["pixel_sizes"], several_inputs=several, label=psize_label)
    rows += layout_rows(s.get("layouts") or [])
    rows += renumbered_rows(s.get("optics_groups_renumbered") or [])
    rows += sections.rows(SymmetryCopies, unit)
    rows += sections.rows(HalfsetAudit, unit)
    rows += sections.rows(DuplicateDensity, unit)
    rows += sections.rows(HalfsetsByMicrograph, unit)
    if s.get("orientations"):
        rows.append(("Orientations", s["orientations"]))
    rows += sections.rows(Consensus, unit)
    rows += sections.rows(Registration, "run" if s.get("copick") else unit)  # (copick's tomograms: its runs)
    rows += sections.rows(MovedInputs, unit)
    rows += sections.rows(Species, unit)
    rows += sections.rows(OwnFrameExclusion, unit)
    if s.get("copick"):
        rows.append(("copick", _copick_text(s["copick"])))
    rows += sections.rows(Filaments, unit)
    if s.get("reading_notes"):
        rows.append(("Read", "\n".join(s["reading_notes"])))
    rows += import_list_rows(s.get("import_lists"))
    if s.get("output_format"):
        rows.append(("Output format", s["output_format"]))
    return rows + _ranking_and_run_rows(s, sections, unit)


def _ranking_and_run_rows(s: dict, sections: Sections, unit: str) -> list[Row]:
    """The summary's last rows: how picks were ranked and dropped, then the run's own (its files, its time)."""
    from .sections import (
        BestSelection,
        MaskAndEdge,
        NameCollisions,
        Outputs,
        Priority,
        SameImage,
        Score,
        ScoreNormalization,
        Shift,
        Timings,
        UpdateRound,
    )

    return [
        *sections.rows(Shift, unit),
        *sections.rows(Score, unit),
        *sections.rows(ScoreNormalization, unit),
        *sections.rows(MaskAndEdge, unit),
        *sections.rows(Priority, unit),
        *sections.rows(BestSelection, unit),
        *sections.rows(SameImage, unit),
        *sections.rows(NameCollisions, unit),
        *sections.rows(UpdateRound, unit),
        *output_rows(s, sections.of(Outputs)),
        ("Time", particle_time(s, sections.of(Timings))),
    ]


def _copick_text(c: dict) -> str:
    """The copick row: the project, its pick sets and runs, where the kept picks went, the sets left out."""
    written = c.get("written_as")
    into = f"; kept picks written as user {written['user']}, session {written['session']}" if written else ""
    left = c.get("left_out")
    skipped = (
        f"\nleft out, written by cryodedup earlier: {', '.join(left)}\n(name their user in --copick-users to read them)"
        if left
        else ""
    )
    centring = f"\nSTAR files: {c['star_centring']}" if c.get("star_centring") else ""
    return (
        f"{c['config']}: {counted(c['pick_sets'], 'pick set')} on {counted(c['runs'], 'run')}{into}{skipped}{centring}"
    )


def unless_plain(matching: dict | None) -> dict | None:
    """The micrograph matching, unless it only restates the default: ``auto`` found the inputs' paths the same."""
    if not matching or matching.get("mode") != "auto" or matching.get("matched_by_name"):
        return matching
    said = ("kept_apart", "not_matched", "pixel_sizes_by_file_name")
    plain = matching["used"].startswith("exact path") and not any(matching.get(key) for key in said)
    return None if plain else matching


def import_list_rows(written: dict | None) -> list[Row]:
    """The RELION 5 import lists written, and the tomograms each leaves out (no pick of theirs in it)."""
    if not written:
        return []
    lines = []
    for subset, entry in written.items():
        files = f"{entry['files']:,} coordinate file{'' if entry['files'] == 1 else 's'}"
        left = f"; left out (no pick {subset}): {', '.join(entry['left_out'])}" if entry["left_out"] else ""
        lists = ", ".join(entry.get("lists") or [entry["list"]])
        lines.append(f"{subset}: {lists} ({files}){left}")
    return [("Import lists", "\n".join(lines))]


def layout_rows(layouts: list[dict]) -> list[Row]:
    """How each tomography input was read (docs/design.md section 7), one line per input."""
    lines = []
    for entry in layouts:
        text = "; ".join([f"{entry['layout']}, {entry['frame']}", *entry["notes"]])
        lines.append(f"{entry['input']}: {text}" if len(layouts) > 1 else text)
    return [("Read as", "\n".join(lines))] if lines else []


def renumbered_rows(renumbered: list[dict]) -> list[Row]:
    """The inputs whose optics groups the merged output renumbers (their numbers clash with an earlier input's)."""
    if not renumbered:
        return []
    lines = [
        f"{entry['input']}: " + ", ".join(f"{old} -> {new}" for old, new in entry["groups"].items())
        for entry in renumbered
    ]
    note = "(in the outputs: numbers an earlier input's different groups already had; their rows follow)"
    return [("Optics groups renumbered", "\n".join([*lines, note]))]


def output_rows(s: dict, outputs: Outputs | None) -> list[Row]:
    """Where the kept and rejected particles went: files, a copick project, or nowhere (--audit)."""
    written = (s.get("copick") or {}).get("written_as")
    project = f"written into the copick project as {written['user']}/{written['session']}" if written else None
    kept = "\n".join(outputs.files("kept")) if outputs else ""
    rejected = "\n".join(outputs.files("rejected")) if outputs else ""
    if project:
        kept = f"{kept}\n{project}" if kept else project
        rejected = rejected or "not written (-o writes them as STAR files)"
    return [("Kept files", kept or "none written (--audit)"), ("Rejected files", rejected or "none written (--audit)")]


def report_rows(s: dict, sections: Sections) -> tuple[list[Row], dict[str, str]]:
    """The particle job's summary for its report, and the rows to highlight.

    The terminal's rows with the micrographs named for reading (:func:`with_short_micrograph_names`)
    and where the images were looked for (the warnings stand in the box under the verdict);
    the audit's verdict is highlighted red when pairs straddle the half-sets, green when none do.
    """
    rows = particle_rows(s, with_short_micrograph_names(sections))
    if s.get("micrograph_images"):
        rows.append(("Micrograph images", s["micrograph_images"]))
    return rows, report_highlight(sections)


def report_highlight(sections: Sections) -> dict[str, str]:
    """The particle summary's rows the report colours, by label: the half-set audit's verdict, what to look at.

    Each section says its own (:meth:`~cryodedup.report.sections.Section.highlight`): the audit's
    verdict red when pairs straddle the half-sets, green when none do; outlying micrographs,
    low agreement and images kept twice as warnings.
    """
    return sections.highlight()


def flagged_checks(sections: Sections) -> list[str]:
    """The rows the report highlights as needing a look, named for the verdict's "Check:".

    An image kept twice is left out: its warning names it already.
    """
    flagged = report_highlight(sections)
    return [label.strip().lower() for label, kind in flagged.items() if kind != "good" and label != "Same image twice"]


def distance_text(summary: dict, species: Species | None = None, own_frame: OwnFrameExclusion | None = None) -> str:
    """The minimum distance as the summary shows it; 0 says what identical means; species' own below."""
    if own_frame is not None and own_frame.every_species:
        return "an ellipsoid in each particle's frame (Exclusion ellipsoid, below)"
    if summary.get("min_dist_A") is None or (
        species is not None and summary.get("min_dist_z_A") is None and species.distances_differ_in_z
    ):  # (distances that differ between species: the species' row names each)
        return "each species its own (Species, below)"
    if summary["min_dist_A"] == 0:
        return f"0 Å: identical centres (within {SAME_CENTRE_A:g} Å)"
    if summary.get("min_dist_z_A") is not None:
        return f"{summary['min_dist_A']:g} Å in x and y, {summary['min_dist_z_A']:g} Å in z (an ellipsoid)"
    return f"{summary['min_dist_A']:g} Å"


def particle_time(s: dict, timings: Timings | None) -> str:
    """The run's time, and where it went when it took long enough to tell."""
    text = f"{s['seconds']:.2f} s"
    if timings is None or s["seconds"] < 0.1:
        return text
    if timings.one_pass:
        return text + " (read, decided and written in one pass)"
    parts = (("reading", timings.read), ("deciding", timings.decide), ("writing", timings.write))
    return text + " (" + ", ".join(f"{what} {_seconds(value)}" for what, value in parts) + ")"


def _seconds(value: float) -> str:
    """A time in seconds, to two significant digits below 0.1 s (0.0041 s, not 0.00 s)."""
    return f"{value:.2f} s" if value >= 0.1 else f"{value:.2g} s"


def matching_rows(matching: dict | None, unit: str = "micrograph") -> list[Row]:
    """How micrographs (or tomograms, ``unit``) of different inputs were matched, as one row."""
    return [(f"{unit.capitalize()} matching", matching_text(matching))] if matching else []


def dataset_rows(datasets: dict | None, unit: str = "micrograph") -> list[Row]:
    """The inputs of each dataset (``--dataset``) and how many names several datasets share, as one row."""
    if not datasets:
        return []
    every = [f for files in datasets["labels"].values() for f in files]
    label_of = dict(zip(every, input_labels(every)))  # (told apart across the datasets, not within each)
    lines = [f"{label}: {', '.join(label_of[f] for f in files)}" for label, files in datasets["labels"].items()]
    apart = datasets["names_kept_apart"]
    lines.append(f"{apart:,} {unit} name{'s' * (apart != 1)} of one dataset also in another: kept apart")
    return [("Datasets", "\n".join(lines))]


def pixel_size_rows(pixel_sizes: list[dict], several_inputs: bool, label: str = "Micrograph pixel size") -> list[Row]:
    """One row per distinct (pixel size, source), naming the optics groups it served (per input)."""
    used: dict[tuple, dict[str, list[str]]] = {}
    for p in pixel_sizes:
        groups = used.setdefault((p["psize"], p["source"]), {}).setdefault(p["input"] if several_inputs else "", [])
        if p["optics_group"] != "all":
            groups.append(str(p["optics_group"]))
    rows: list[Row] = []
    for (psize, source), by_input in used.items():
        value = f"{psize:g} Å from {source}" if psize is not None else source
        # Each input named (with its optics groups, when it has them): every input's pixel size is said.
        named = [f"{name} {group_list(groups) if groups else ''}".strip() for name, groups in by_input.items()]
        named = [text for text in named if text]
        if named and len(used) > 1:
            value += f" ({'; '.join(named)})"
        rows.append((label if not rows else "", value))
    return rows


def group_list(groups: list[str], most: int = 6) -> str:
    """Optics groups as a reader takes them in: ``groups 1-4, 7``; past ``most`` runs, how many."""
    if not all(g.isdigit() for g in groups):
        return f"group{'s' if len(groups) > 1 else ''} {', '.join(groups)}"
    numbers = sorted({int(g) for g in groups})
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    if len(runs) > most:
        return counted(len(numbers), "group")
    listed = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
    return f"group{'s' if len(numbers) > 1 else ''} {listed}"


def micrograph_rows(s: MicrographSummary) -> list[Row]:
    """The micrograph job's (or merge's) summary as rows.

    The time and reading rate are left out while the job is still running (its report is
    written before the end).
    """
    if s.confirmed_by_images:
        image_rows = [
            ("Binning", f"{s.bin} ({s.pixel_size_A:g} Å to {s.binned_pixel_size_A:g} Å per pixel)"),
            *s.band_A.rows("micrograph"),
        ]
    else:
        image_rows = [("Images", "not read (--no-images): no pair was confirmed by its images")]
    reach = "" if s.candidates == "metadata" else f"; up to {s.reach:,} images apart"
    unreadable = f" ({len(s.unreadable)} unreadable, skipped)" if s.unreadable else ""
    rows = [
        ("Micrographs", f"{s.micrographs:,}{unreadable}"),
        *(s.metadata.rows("micrograph") if s.metadata else []),
        ("Acquisition order", s.order),
        *([("Files found under", s.root)] if s.root else []),
        *image_rows,
        *([("Pixel size", s.pixel_size_insisted)] if s.pixel_size_insisted else []),
        ("Pairs scored", f"{s.pairs_scored:,} ({s.candidates}{reach})"),
        ("Duplicate pairs", f"{s.duplicate_pairs:,} ({s.thresholds.rule})"),
        *margin_rows(s),
        ("Kept", f"{s.kept:,}"),
        ("Rejected", f"{s.rejected:,} (later exposures of an area)"),
        *(s.particles.rows("micrograph") if s.particles else []),
        *s.workers.rows("micrograph"),
        ("Outputs", "\n".join(s.outputs + (s.plots or []))),
    ]
    if s.timing is not None:
        rows.append(("Time", micrograph_time(s.images_read, s.timing)))
    return rows


def micrograph_time(images_read: int, timing: Timing) -> str:
    """The run's time and its images' rate, over the time the rate counts (reading and scoring).

    The whole run also holds the writing and the pictures (``--plot``): its time did not divide
    into the rate (2.75 s for 52 images shown with 43.2 images/s).
    """
    text = f"{timing.seconds:.2f} s"
    if not timing.images_per_second or timing.scoring_seconds is None:
        return text
    read = f"{images_read:,} images read and scored in {_seconds(timing.scoring_seconds)}"
    return f"{text} ({read}: {timing.images_per_second:,} images/s)"


def margin_rows(s: MicrographSummary) -> list[Row]:
    """The run's margin (weakest duplicate against strongest other pair), its uncertain pairs, its verdict."""
    uncertain = f"{s.uncertain_pairs:,} pairs near the boundary (pairs.csv: uncertain = 1)"
    return [
        *s.margin.rows("micrograph"),
        *([("Uncertain", uncertain)] if s.uncertain_pairs else []),
        *s.verdict.rows("micrograph"),
    ]


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """A name cut to its last ``width`` characters, the cut marked at the front.

    The end of a micrograph's name tells it apart (EPU's hole and time stamp, the
    motion-correction suffix); a cut in the middle would hide which one it is.
    """
    return name if len(name) <= width else "…" + name[-width + 1 :]


def with_short_micrograph_names(sections: Sections) -> Sections:
    """A particle summary's sections whose listed micrographs are named for the report.

    Each by the shortest end of its path that tells it apart from the others listed
    (``FoilHole_..._fractions.mrc`` rather than ``MotionCorr/job002/Movies/GridSquare_.../Data/...``),
    then shortened at the front to :data:`NAME_WIDTH` characters. ``--json`` has them whole.
    """
    names = sorted(sections.micrographs_listed())
    shown = {name: short_name(label) for name, label in zip(names, distinct_labels(names))}
    return sections.with_micrographs_named(shown)
