"""The particle job's pictures and report.html (``--plot``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ...formats.micrograph_lists import count_absent
from ...options import ParticleOptions
from ...particle_set import ParticleSet
from ...report.summary import flagged_checks, report_rows
from ..species import species_distances, species_distances_z
from .decide import Decision
from .read import Images
from .summarise import ParticleSummary

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...report.particle_base import ParticleDetails
    from ...report.picks_figures import MicrographImage

__all__ = ["picture_details", "plot_particles"]

T = TypeVar("T")


def picture_details(particles: ParticleSet, decision: Decision, options: ParticleOptions) -> ParticleDetails:
    """What the pictures show of the decision; its nearest-neighbour distances and score histogram counted as drawn."""
    from ...report.particle_base import ParticleDetails
    from ...report.particle_charts import score_counts

    # Species: each decided at its own distance (its --min-dist NAME=Å, a copick object's radius).
    by_species = None if particles.species is None else species_distances(particles, options)
    along_z = None if particles.species is None else species_distances_z(particles, options)
    one_z = along_z is None or len(set(along_z)) == 1
    details = ParticleDetails(
        particles,
        decision.keep,
        decision.suppressed_by,
        by_species[0] if by_species is not None and len(by_species) == 1 else options.min_dist,
        decision.confirmed_by,
        compared_scores=decision.ranked_scores,
        covered=decision.covered,
        unconfirmed=decision.unconfirmed,
        not_confirmable=decision.not_confirmable,
        dropped=None if decision.regions is None else decision.regions.dropped,
        min_support=options.min_support,
        min_dist_z=(along_z[0] if along_z else options.min_dist_z) if one_z else None,
        seed=options.seed,
        remove_entirely=options.remove_entirely,
        species_min_dist=by_species,
        species_min_dist_z=None if one_z else along_z,
        displaced_by=decision.displaced_by,
    )
    if details.scores is not None:
        details.score_counts = partial(score_counts, details)
    if len(particles.inputs) > 1 and options.registration != "ignore" and particles.decided is None:
        from ..registration import displacements  # (several inputs: start-up of one does not load it)

        details.registration = cache(partial(displacements, particles, options))
    return details


@dataclass
class Pictures:
    """The particle job's pictures, rendered (name, caption, PNG bytes), and the example images not found.

    ``absent``: how many micrographs have no image file, counted whenever an example's image
    was not found (the summary says so).
    """

    pngs: list[tuple[str, str, bytes]]
    missing: list[str]
    absent: int | None = None


def draw_pictures(details: ParticleDetails, options: ParticleOptions, images: Images) -> Pictures:
    """The particle job's pictures (``--plot``), rendered; the micrographs' images found by ``images``."""
    from ...report import particle_figures as plots
    from ...report.picks_figures import micrographs_to_show, missing_examples

    drawn = drawn_images(details, options.plot_mics, images.find)
    absent = None
    examples = micrographs_to_show(details, options.plot_mics)
    if images.roots is not None and missing_examples(details, examples, drawn):  # (the summary says how many)
        absent = count_absent(details.mic_names, images.roots())
    return Pictures(*plots.rendered_particle_figures(details, options.plot_mics, drawn), absent=absent)


def drawn_images(
    details: ParticleDetails, n_mics: int, find_micrograph: Callable[[str], Path]
) -> dict[int, MicrographImage]:
    """The images of the micrographs the pictures draw, read here: the report draws arrays and opens no file.

    ``find_micrograph(name)`` gives the path of a micrograph's image file, or the path looked
    for in vain. A file that cannot be read is drawn as a blank frame: a picture is not worth
    failing the job for.
    """
    from ...formats.mrc import binned_image
    from ...report.picks_figures import DISPLAY_WIDTH, MicrographImage, micrographs_drawn

    images = {}
    for mic in micrographs_drawn(details, n_mics):
        path = find_micrograph(details.mic_names[mic])
        if not path.exists():
            images[mic] = MicrographImage(missing=str(path))
            continue
        try:
            images[mic] = MicrographImage(*binned_image(path, DISPLAY_WIDTH))
        except Exception:  # any unreadable file: the picture goes without its image, and says so
            images[mic] = MicrographImage(unreadable=True)
    return images


def plot_particles(
    details: ParticleDetails,
    outdir: Path,
    options: ParticleOptions,
    images: Images,
    force: bool,
    summary: ParticleSummary,
    decision: Decision,
) -> ParticleSummary:
    """The particle job's pictures, report and page of every micrograph (``--plot``): the summary with them.

    The summary also says which images were not found.

    When example micrographs' image files are not found, the summary says so and how to
    point at them (files), or that none was given (data in memory).
    """
    from ...report.picks_figures import micrographs_to_show

    pictures = draw_pictures(details, options, images)
    missing = pictures.missing
    if missing:
        n_examples = len(micrographs_to_show(details, options.plot_mics))
        if pictures.absent is None:  # (the caller gave the images)
            note = (
                f"{len(missing)} of {n_examples} examples drawn on a blank frame: "
                "no image file was given for their micrographs"
            )
        else:  # All counted: none found says the paths start from another folder, a few that files are gone.
            note = (  # one line each, so that the path stays whole in a table
                f"{pictures.absent:,} of {len(details.mic_names):,} micrograph images not found; {len(missing)} of "
                f"{n_examples} examples drawn on a blank frame\nfirst looked for: {missing[0]}\n"
                "if the images exist, give the folder their paths start from with --project-dir"
            )
        summary = replace(summary, micrograph_images=note)
    return replace(summary, plots=write_report(details, decision, outdir, options, pictures, images, summary, force))


def write_report(
    details: ParticleDetails,
    decision: Decision,
    outdir: Path,
    options: ParticleOptions,
    pictures: Pictures,
    images: Images,
    summary: ParticleSummary,
    force: bool,
) -> list[str]:
    """The pictures, report.html (the verdict and warnings, the summary's rows, the options) and the page in ``outdir``.

    The page of every micrograph (``micrographs.html``) is linked from the report.
    """
    from ...report import html_report
    from ...report.micrograph_page import micrograph_page
    from .page import page_picks, thumbnails

    title = "cryodedup particles"
    picks = page_picks(details.particles, decision, options)
    page = micrograph_page(details, picks, thumbnails(details, images, options), title)
    rows, highlight = report_rows(summary.overview(), summary.sections())
    warnings = summary.warnings or []
    kind = (
        "bad" if "bad" in highlight.values() else "warn" if warnings or flagged_checks(summary.sections()) else "good"
    )
    opening = html_report.Opening(summary.verdict or "", kind, warnings)
    return html_report.write_all(
        outdir,
        pictures.pngs,
        title,
        options,
        rows,
        force,
        highlight=highlight,
        unit=details.unit,
        opening=opening,
        page=page,
    )
