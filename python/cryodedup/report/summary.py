"""The jobs' summaries as (label, text) rows, with human labels and units.

The terminal's table and the HTML report show the same rows; ``--json`` gives the summary
itself. Nothing here prints or draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..algo.dedup import SAME_CENTRE_A
from ..labels import distinct_labels
from .sections.base import in_tomograms

if TYPE_CHECKING:  # (a particle job's summary does not load the micrograph job's sections)
    from .sections import OwnFrameExclusion, ParticleTimings, Sections, Species
    from .sections.run import Outputs, Overview, RunTimings

__all__ = [
    "flagged_checks",
    "micrograph_time",
    "particle_rows",
    "report_rows",
    "short_name",
]

#: A summary row: label and text (lines separated by newlines).
Row = tuple[str, str]

#: Micrograph names longer than this are shortened at the front in the report.
NAME_WIDTH = 80


def particle_rows(run: Overview, sections: Sections) -> list[Row]:
    """The particle job's summary as rows: ``run`` its top-level values, ``sections`` its typed sections.

    A tomography summary says tomograms where a single-particle one says micrographs. Every value
    is typed (:meth:`~cryodedup.jobs.particles.summary.ParticleSummary.overview` and
    :meth:`~cryodedup.jobs.particles.summary.ParticleSummary.sections`): no string key of the
    ``--json`` document is read here.
    """
    # (the sections' classes named here, where rows are made: a run that prints none loads only its own)
    from .sections import (
        Consensus,
        DuplicateDensity,
        Filaments,
        HalfsetAudit,
        HalfsetsByMicrograph,
        HalfsetTrim,
        Inputs,
        MovedInputs,
        OwnFrameExclusion,
        PixelSizes,
        Registration,
        Species,
        SymmetryCopies,
    )

    unit = run.unit
    read = run.read
    rows = [("Particles in", f"{run.particles:,}"), *sections.rows(Inputs, unit)]
    pct = 100 * run.rejected / run.particles if run.particles else 0.0
    rows += [
        ("Kept", f"{run.kept:,}"),
        ("Rejected", f"{run.rejected:,} ({pct:.1f} %)"),
        (f"{unit.capitalize()}s", f"{run.micrographs:,}"),
        *in_tomograms(read.matching.rows(unit) if read.matching else [], unit),
        *(read.datasets.rows(unit) if read.datasets else []),
        (
            "Minimum distance",
            f"{distance_text(run, sections.of(Species), sections.of(OwnFrameExclusion))} ({run.mode})",
        ),
    ]
    rows += sections.rows(PixelSizes, unit)
    rows += read.layouts.rows(unit)
    rows += read.renumbered.rows(unit)
    rows += sections.rows(SymmetryCopies, unit)
    rows += sections.rows(HalfsetAudit, unit)
    rows += sections.rows(DuplicateDensity, unit)
    rows += sections.rows(HalfsetsByMicrograph, unit)
    rows += sections.rows(HalfsetTrim, unit)
    if run.orientations:
        rows.append(("Orientations", run.orientations))
    rows += sections.rows(Consensus, unit)
    rows += sections.rows(Registration, "run" if read.copick else unit)  # (copick's tomograms: its runs)
    rows += sections.rows(MovedInputs, unit)
    rows += sections.rows(Species, unit)
    rows += sections.rows(OwnFrameExclusion, unit)
    if read.copick:
        rows.append(("copick", read.copick.text()))
    rows += sections.rows(Filaments, unit)
    if read.notes:
        rows.append(("Read", "\n".join(read.notes)))
    rows += read.import_lists.rows(unit) if read.import_lists else []
    if read.output_format:
        rows.append(("Output format", read.output_format))
    return rows + _ranking_and_run_rows(run, sections, unit)


def _ranking_and_run_rows(run: Overview, sections: Sections, unit: str) -> list[Row]:
    """The summary's last rows: how picks were ranked and dropped, then the run's own (its files, its time)."""
    from .sections import (
        BestSelection,
        MaskAndEdge,
        NameCollisions,
        Outputs,
        Overrides,
        ParticleTimings,
        Priority,
        SameImage,
        Score,
        ScoreNormalization,
        Shift,
        UpdateRound,
    )

    return [
        *sections.rows(Shift, unit),
        *sections.rows(Score, unit),
        *sections.rows(ScoreNormalization, unit),
        *sections.rows(MaskAndEdge, unit),
        *sections.rows(Overrides, unit),
        *sections.rows(Priority, unit),
        *sections.rows(BestSelection, unit),
        *sections.rows(SameImage, unit),
        *sections.rows(NameCollisions, unit),
        *sections.rows(UpdateRound, unit),
        *output_rows(run.read.written_into, sections.of(Outputs)),
        ("Time", particle_time(run.seconds, sections.of(ParticleTimings))),
    ]


def output_rows(written_into: str | None, outputs: Outputs | None) -> list[Row]:
    """Where the kept and rejected particles went: files, a copick project (``user/session``), or nowhere (--audit)."""
    project = f"written into the copick project as {written_into}" if written_into else None
    kept = "\n".join(outputs.files("kept")) if outputs else ""
    rejected = "\n".join(outputs.files("rejected")) if outputs else ""
    if project:
        kept = f"{kept}\n{project}" if kept else project
        rejected = rejected or "not written (-o writes them as STAR files)"
    rows = [("Kept files", kept or "none written (--audit)"), ("Rejected files", rejected or "none written (--audit)")]
    optimisation_set = outputs.files("optimisation_set") if outputs else ()
    if optimisation_set:  # (RELION 5's next job takes it: the kept particles and the input's other files)
        rows.append(("Optimisation set", "\n".join(optimisation_set)))
    return rows


def report_rows(run: Overview, sections: Sections) -> tuple[list[Row], dict[str, str]]:
    """The particle job's summary for its report, and the rows to highlight.

    The terminal's rows with the micrographs named for reading (:func:`with_short_micrograph_names`)
    and where the images were looked for (the warnings stand in the box under the verdict);
    the audit's verdict is highlighted red when pairs straddle the half-sets, green when none do.
    """
    rows = particle_rows(run, with_short_micrograph_names(sections))
    if run.micrograph_images:
        rows.append(("Micrograph images", run.micrograph_images))
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


def distance_text(run: Overview, species: Species | None = None, own_frame: OwnFrameExclusion | None = None) -> str:
    """The minimum distance as the summary shows it; 0 says what identical means; species' own below."""
    if own_frame is not None and own_frame.every_species:
        return "an ellipsoid in each particle's frame (Exclusion ellipsoid, below)"
    if run.min_dist_A is None or (species is not None and run.min_dist_z_A is None and species.distances_differ_in_z):
        return "each species its own (Species, below)"  # (distances that differ between species: its row names each)
    if run.min_dist_A == 0:
        return f"0 Å: identical centres (within {SAME_CENTRE_A:g} Å)"
    if run.min_dist_z_A is not None:
        return f"{run.min_dist_A:g} Å in x and y, {run.min_dist_z_A:g} Å in z (an ellipsoid)"
    return f"{run.min_dist_A:g} Å"


def particle_time(seconds: float, timings: ParticleTimings | None) -> str:
    """The run's time, and where it went when it took long enough to tell."""
    text = f"{seconds:.2f} s"
    if timings is None or seconds < 0.1:
        return text
    if timings.one_pass:
        return text + " (read, decided and written in one pass)"
    parts = (
        ("reading", timings.stage("read")),
        ("deciding", timings.stage("decide")),
        ("writing", timings.stage("write")),
    )
    return text + " (" + ", ".join(f"{what} {_seconds(value)}" for what, value in parts) + ")"


def _seconds(value: float) -> str:
    """A time in seconds, to two significant digits below 0.1 s (0.0041 s, not 0.00 s)."""
    return f"{value:.2f} s" if value >= 0.1 else f"{value:.2g} s"


def micrograph_time(images_read: int, timing: RunTimings) -> str:
    """The run's time and its images' rate, over the time the rate counts (reading and scoring).

    The whole run also holds the writing and the pictures (``--plot``): its time did not divide
    into the rate (2.75 s for 52 images shown with 43.2 images/s).
    """
    from .micrograph_sections import MicrographTimings

    text = f"{timing.seconds:.2f} s"
    if not isinstance(timing, MicrographTimings) or not timing.images_per_second or timing.scoring_seconds is None:
        return text
    read = f"{images_read:,} images read and scored in {_seconds(timing.scoring_seconds)}"
    return f"{text} ({read}: {timing.images_per_second:,} images/s)"


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
