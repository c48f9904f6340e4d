"""The particle job's pictures and report.html (``--plot``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ...particle_set import ParticleSet
from ...report.summary import flagged_checks, report_rows
from .decide import Decision
from .read import Images
from .summarise import ParticleSummary

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...report.particle_base import ParticleDetails
    from ...report.picks_figures import MicrographImage
    from .plan import Deciding, OutputPlan

__all__ = ["picture_details", "plot_particles"]

T = TypeVar("T")


def picture_details(particles: ParticleSet, decision: Decision, rule: Deciding, registration: str) -> ParticleDetails:
    """What the pictures show of the decision; its nearest-neighbour distances and score histogram counted as drawn.

    ``registration``: ``--registration`` (``ignore``: no registration picture).
    """
    from ...report.particle_base import ParticleDetails
    from ...report.particle_charts import score_counts

    # Species: each decided at its own distance (its --min-dist NAME=Å, a copick object's radius).
    distances = rule.distances
    by_species = None if particles.species is None else distances.by_species
    along_z = None if particles.species is None else distances.z_of_species
    one_z = along_z is None or len(set(along_z)) == 1
    details = ParticleDetails(
        particles,
        decision.keep,
        decision.suppressed_by,
        by_species[0] if by_species is not None and len(by_species) == 1 else rule.distance.min_dist,
        decision.confirmed_by,
        compared_scores=decision.ranked_scores,
        covered=decision.covered,
        unconfirmed=decision.unconfirmed,
        not_confirmable=decision.not_confirmable,
        dropped=None if decision.regions is None else decision.regions.dropped,
        min_support=rule.min_support,
        min_dist_z=(along_z[0] if along_z else rule.distance.min_dist_z) if one_z else None,
        seed=rule.seed,
        remove_entirely=rule.remove_entirely,
        species_min_dist=by_species,
        species_min_dist_z=None if one_z else along_z,
        displaced_by=decision.displaced_by,
    )
    if details.scores is not None:
        details.score_counts = partial(score_counts, details)
    if len(particles.inputs) > 1 and registration != "ignore" and particles.decided is None:
        from ..registration import displacements  # (several inputs: start-up of one does not load it)

        details.registration = cache(partial(displacements, particles, distances))
    return details


@dataclass
class Pictures:
    """The particle job's pictures, rendered (name, caption, PNG bytes), and the example images not found."""

    pngs: list[tuple[str, str, bytes]]
    missing: list[str]


def draw_pictures(details: ParticleDetails, plot_mics: int, images: Images) -> Pictures:
    """The particle job's pictures (``--plot``), rendered; the micrographs' images found by ``images``."""
    from ...report import particle_figures as plots

    drawn = drawn_images(details, plot_mics, images.find)
    return Pictures(*plots.rendered_particle_figures(details, plot_mics, drawn))


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
        if not os.path.exists(path):  # (a name longer than the system takes: not found, as any other)
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
    output: OutputPlan,
    rule: Deciding,
    images: Images,
    force: bool,
    summary: ParticleSummary,
    decision: Decision,
) -> ParticleSummary:
    """The particle job's pictures, report and page of every micrograph (``--plot``): the summary with them.

    The summary also says which images were not found: how many of every micrograph's (each
    looked for once, for the page), how to point at them, and which examples were drawn on a
    blank frame; or, for data in memory, that no image file was given for the examples.
    """
    from ...report.picks_figures import micrographs_to_show
    from .page import thumbnails

    pictures = draw_pictures(details, output.plot_mics, images)
    found = thumbnails(details, images, output.micrographs, output.project_dir)
    missing = pictures.missing
    n_mics = len(details.mic_names)
    # (a tomogram's image is its reconstruction, found otherwise: not counted here)
    absent = None if images.roots is None or details.unit == "tomogram" else n_mics - len(found)
    note = None
    n_examples = len(micrographs_to_show(details, output.plot_mics))
    if missing and absent is None:  # (the caller gave the images)
        note = f"{len(missing)} of {n_examples} examples drawn on a blank frame: "
        note += "no image file was given for their micrographs"
    elif absent or missing:  # None found says the paths start from another folder, a few that files are gone.
        first = missing[0] if missing else str(images.find(details.mic_names[_first_absent(found, n_mics)]))
        drawn = f"{len(missing)} of {n_examples} examples" if missing else "their cards on micrographs.html"
        note = (  # one line each, so that the path stays whole in a table
            f"{absent:,} of {n_mics:,} micrograph images not found; {drawn} drawn on a blank frame\n"
            f"first looked for: {first}\nif the images exist, give the folder their paths start from with --project-dir"
        )
    if note is not None:
        summary = replace(summary, micrograph_images=note)
    report = write_report(details, decision, outdir, output.parameters, rule, pictures, found, summary, force)
    return replace(summary, plots=report)


def _first_absent(found: dict[int, MicrographImage], n_mics: int) -> int:
    """The first micrograph whose image was not found (one is)."""
    return next(mic for mic in range(n_mics) if mic not in found)


def write_report(
    details: ParticleDetails,
    decision: Decision,
    outdir: Path,
    parameters: object,
    rule: Deciding,
    pictures: Pictures,
    found: dict[int, MicrographImage],
    summary: ParticleSummary,
    force: bool,
) -> list[str]:
    """The pictures, report.html (the verdict and warnings, the summary's rows, the options) and the page in ``outdir``.

    The page of every micrograph (``micrographs.html``, each micrograph's image ``found``) is
    linked from the report; ``parameters``: the job's options as the report's Parameters table shows them.
    """
    from ...report import html_report
    from ...report.micrograph_page import micrograph_page
    from .page import page_picks

    title = "cryodedup particles"
    picks = page_picks(details.particles, decision, rule)
    page = micrograph_page(details, picks, found, title)
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
        parameters,
        rows,
        force,
        highlight=highlight,
        unit=details.unit,
        opening=opening,
        page=page,
    )
