"""The particle job's pictures (``--plot``): their registry :data:`PARTICLE_PICTURES`, drawn, and report.html.

Drawn with :mod:`cryodedup.report.canvas` (Pillow), not matplotlib, whose import alone costs
as much as the whole 1M-particle job; this module is loaded for ``--plot`` alone. The pictures
themselves are drawn by kind in ``report/``: :mod:`~cryodedup.report.particle_charts`
(distances, rejections, scores, inputs, half-set pairs), :mod:`~cryodedup.report.consensus_figures`,
:mod:`~cryodedup.report.picks_figures` (a micrograph's picks over its image),
:mod:`~cryodedup.report.density_figures` and :mod:`~cryodedup.report.registration_figures`. Each
returns a :class:`~cryodedup.report.canvas.Picture` whose panels keep the data they show by name
(``panel.marks``). Here: what the job's pictures are drawn from (:func:`picture_details`), which
pictures it has and in which order (:data:`PARTICLE_PICTURES`), the images read, and the report written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ...particle_set import ParticleSet
from ...report.canvas import Picture, drop_spares
from ...report.consensus_figures import agreement, consensus_by_input
from ...report.density_figures import duplicate_fraction
from ...report.particle_base import ParticleDetails, ScoreCounts
from ...report.particle_charts import (
    halfset_pairs,
    input_contributions,
    nn_histogram,
    rejected_fraction,
    score_counts,
    score_distributions,
)
from ...report.picks_figures import (
    DISPLAY_WIDTH,
    MicrographImage,
    micrographs_drawn,
    micrographs_to_show,
    missing_examples,
    picks_picture,
    worst_outlier,
)
from ...report.registration_figures import registration_picture
from ...report.sections.run import Outputs
from ...report.summary import report_rows
from .decide import ParticleDecision
from .read import Images, Source
from .summary import ParticleSummary

if TYPE_CHECKING:
    from ...formats.star.tomograms import Tomograms
    from ...report.html_report import Page, Parameters
    from .page import StagedPicks
    from .plan import Deciding, ParticleOutputPlan, ParticlePlan

__all__ = ["drawing"]

#: The report's and the page's title.
TITLE = "cryodedup particles"


def picture_details(
    particles: ParticleSet, decision: ParticleDecision, rule: Deciding, registration: str
) -> ParticleDetails:
    """What the pictures show of the decision; its nearest-neighbour distances and score histogram counted as drawn.

    ``registration``: ``--registration`` (``ignore``: no registration picture).
    """
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
    """The particle job's pictures, rendered (name, caption, PNG bytes); the examples drawn, their images not found."""

    pngs: list[tuple[str, str, bytes]]
    examples: list[int]
    missing: list[str]


def draw_pictures(details: ParticleDetails, plot_mics: int, images: Images) -> Pictures:
    """The particle job's pictures (``--plot``), rendered; the micrographs' images found by ``images``."""
    drawn = drawn_images(details, plot_mics, images.find)
    pngs, examples = rendered_particle_figures(details, plot_mics, drawn)
    return Pictures(pngs, examples, missing_examples(details, examples, drawn))


def drawn_images(
    details: ParticleDetails, n_mics: int, find_micrograph: Callable[[str], Path]
) -> dict[int, MicrographImage]:
    """The images of the micrographs the pictures draw, read here: the report draws arrays and opens no file.

    ``find_micrograph(name)`` gives the path of a micrograph's image file, or the path looked
    for in vain. A file that cannot be read is drawn as a blank frame: a picture is not worth
    failing the job for.
    """
    from ...formats.mrc import binned_image  # (the core's binning: loaded with the pictures)

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


@dataclass(frozen=True)
class Drawn:
    """What ``--plot`` draws before its report: the pictures, every micrograph's image found, the page of them all."""

    details: ParticleDetails
    pictures: Pictures
    found: dict[int, MicrographImage]
    page: Page


def draw_all(
    details: ParticleDetails,
    output: ParticleOutputPlan,
    rule: Deciding,
    images: Images,
    decision: ParticleDecision,
    tomograms: Tomograms | None,
    staged: StagedPicks | None = None,
) -> Drawn:
    """The pictures, every micrograph's image (binned small) and the page of every micrograph, made but not written.

    Nothing here needs the summary or writes an output: :func:`start_drawing` runs it while the
    outputs are written, and :func:`plot_particles` writes it with the report. ``staged``: the
    page's files of picks being written already (:func:`.page.stage_picks`).
    """
    from ...report.micrograph_page import micrograph_page
    from .page import page_picks, thumbnails

    if details.score_counts is not None:  # (numpy's and the core's work, Python's lock let go: the other core's)
        details.score_counts = _started(details.score_counts, "score-counts")
    # The page first: its Python work done while the scores are counted, which the pictures wait for.
    found = thumbnails(details, images, tomograms, output.project_dir)
    picks = page_picks(details.particles, decision, rule)
    page = micrograph_page(details, picks, found, TITLE, None if staged is None else staged.put)
    pictures = draw_pictures(details, output.plot_mics, images)
    return Drawn(details, pictures, found, page)


def drawing(
    particles: ParticleSet,
    decision: ParticleDecision,
    job: ParticlePlan,
    source: Source,
    folder: Path | None,
    force: bool,
    tomograms: Tomograms | None,
) -> Callable[[ParticleSummary], ParticleSummary]:
    """The pictures and the page of every micrograph (``--plot``) drawn on a thread from now on: what writes them.

    It writes them and report.html once the drawing is done (raising its error there), and
    gives the summary naming them.
    """
    assert folder is not None, "the source refuses --plot without an output folder"
    from .page import stage_picks

    details = picture_details(particles, decision, job.deciding, job.output.registration)
    images = source.images(job.output.project_dir, folder)
    staged = stage_picks(details, folder, _started)  # (the scan's files of picks written from now on)
    drawn = start_drawing(details, job.output, job.deciding, images, decision, tomograms, staged)
    return lambda summary: plot_particles(drawn(), folder, job.output, images, force, summary)


def start_drawing(
    details: ParticleDetails,
    output: ParticleOutputPlan,
    rule: Deciding,
    images: Images,
    decision: ParticleDecision,
    tomograms: Tomograms | None,
    staged: StagedPicks | None = None,
) -> Callable[[], Drawn]:
    """:func:`draw_all` on a thread of its own from now on; what waits for it and gives its result, or raises its error.

    Started once the rows are decided, while the job counts its summary and the core writes
    the outputs (the last rows of a one-pass scan: the core's writer, Python's lock let go),
    so that the drawing's Python work and the writing share the two cores instead of taking
    turns. The drawing writes nothing: a run stopped meanwhile leaves it behind.
    """
    return _started(partial(draw_all, details, output, rule, images, decision, tomograms, staged), "pictures")


T = TypeVar("T")


def _started(work: Callable[[], T], name: str) -> Callable[[], T]:
    """``work`` started on a daemon thread; what waits for it and gives its result, or raises its error.

    The error is raised where the result is asked for, as it was when ``work`` ran there (its
    traceback kept: the thread's frames and the waiter's). A daemon thread, so that a run
    ended meanwhile (an error, a signal) does not wait for it.
    """
    outcome: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # (any: given to the waiter, who raises it)
            failed.append(error)

    thread = threading.Thread(target=run, name=f"cryodedup-{name}", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if failed:
            raise failed[0]
        return outcome[0]

    return result


def plot_particles(
    drawn: Drawn, outdir: Path, output: ParticleOutputPlan, images: Images, force: bool, summary: ParticleSummary
) -> ParticleSummary:
    """The particle job's pictures, report and page of every micrograph (``--plot``) written: the summary with them.

    The summary also says which images were not found: how many of every micrograph's (each
    looked for once, for the page), how to point at them, and which examples were drawn on a
    blank frame; or, for data in memory, that no image file was given for the examples.
    """
    details, found, missing = drawn.details, drawn.found, drawn.pictures.missing
    n_mics = len(details.mic_names)
    # (a tomogram's image is its reconstruction, found otherwise: not counted here)
    absent = None if images.roots is None or details.unit == "tomogram" else n_mics - len(found)
    note = None
    n_examples = len(drawn.pictures.examples)
    if missing and absent is None:  # (the caller gave the images)
        note = f"{len(missing)} of {n_examples} examples drawn on a blank frame: "
        note += "no image file was given for their micrographs"
    elif absent or missing:  # None found says the paths start from another folder, a few that files are gone.
        first = missing[0] if missing else str(images.find(details.mic_names[_first_absent(found, n_mics)]))
        drawn_on = f"{len(missing)} of {n_examples} examples" if missing else "their cards on micrographs.html"
        note = (  # one line each, so that the path stays whole in a table
            f"{absent:,} of {n_mics:,} micrograph images not found; {drawn_on} drawn on a blank frame\n"
            f"first looked for: {first}\nif the images exist, give the folder their paths start from with --project-dir"
        )
    if note is not None:
        summary = replace(summary, micrograph_images=note)
    report = write_report(drawn, outdir, output.parameters, summary, force)
    return replace(summary, outputs=(summary.outputs or Outputs(())).with_plots(report))


def _first_absent(found: dict[int, MicrographImage], n_mics: int) -> int:
    """The first micrograph whose image was not found (one is)."""
    return next(mic for mic in range(n_mics) if mic not in found)


def write_report(
    drawn: Drawn, outdir: Path, parameters: Parameters | None, summary: ParticleSummary, force: bool
) -> list[str]:
    """The pictures, report.html (the verdict and warnings, the summary's rows, the options) and the page in ``outdir``.

    The page of every micrograph (``micrographs.html``, each micrograph's image found) is
    linked from the report; ``parameters``: the job's options as the report's Parameters table shows them.
    """
    from ...report import html_report

    assert parameters is not None, "the plan keeps report.html's Parameters with --plot"
    by_input = "input_psize" not in parameters.defaults  # (the options as the run took them)
    parameters = parameters.as_run(_as_run(summary, drawn.details.unit, by_input))
    rows, highlight = report_rows(summary.overview(), summary.sections())
    verdict = summary.verdict
    assert verdict is not None, "the report is written once the verdict is said"
    opening = html_report.Opening(verdict.line, verdict.kind, summary.warnings or [])
    return html_report.write_all(
        outdir,
        drawn.pictures.pngs,
        TITLE,
        parameters,
        rows,
        force,
        highlight=highlight,
        unit=drawn.details.unit,
        opening=opening,
        page=drawn.page,
    )


#: The words of an automatic shift that found nothing to subtract.
_NO_SHIFT = "none (the inputs have no origin columns or shift fields)"


def _as_run(summary: ParticleSummary, unit: str, psize_by_input: bool) -> dict[str, str]:
    """What the run made of the options it resolves, by option name, in the summary's words.

    For report.html's Parameters (:meth:`~cryodedup.report.html_report.Parameters.as_run`): the
    shift subtracted, the score column and its order, the pixel sizes used (unless
    ``psize_by_input``: --mic-psize named inputs), the output format, how micrographs were matched.
    """
    made = {}
    if summary.shift is not None:
        subtracted = summary.shift.subtracted
        made["shift_key"] = _NO_SHIFT if subtracted == "none" else subtracted
    score = summary.score
    if score is not None:
        made["score"] = score.column or f"none found, {score.order}"
        made["score_order"] = score.order if score.column else ""
    if summary.pixel_sizes is not None and not psize_by_input:
        made["mic_psize"] = "; ".join(str(value) for _, value in summary.pixel_sizes.rows(unit))
    read = summary.overview().read
    made["output_format"] = read.output_format or ""
    made["match_micrographs"] = read.matching.used if read.matching is not None else ""
    return made


#: A picture of the job: file name, caption and the picture.
NamedPicture = tuple[str, str, Picture]


class Drawing(NamedTuple):
    """A picture to draw: its file name, its caption, and what draws it."""

    name: str
    caption: str
    draw: Callable[[], Picture]


@dataclass(frozen=True)
class Figures:
    """What the pictures of one particle job are drawn from: the job's details and the micrographs drawn."""

    details: ParticleDetails
    images: Mapping[int, MicrographImage]
    examples: list[int]  # the micrographs drawn as examples (:func:`micrographs_to_show`)
    worst: tuple[int, str] | None  # :func:`worst_outlier`
    scores: Callable[[], ScoreCounts] | None  # the scores' histogram, counted when drawn (None: no scores)


@dataclass(frozen=True)
class ParticlePicture:
    """One picture of the particle job, after the example micrographs: an entry of :data:`PARTICLE_PICTURES`.

    ``name`` and ``caption`` may hold ``{unit}`` (micrograph, tomogram); ``caption`` may be a
    function of the :class:`Figures`. ``drawn``: whether this job has the picture.
    """

    name: str
    caption: str | Callable[[Figures], str]
    draw: Callable[[Figures], Picture]
    drawn: Callable[[Figures], bool] = lambda figures: True

    def drawing(self, figures: Figures) -> Drawing:
        """The drawing of this picture for the job of ``figures``."""
        unit = figures.details.unit
        caption = self.caption(figures) if callable(self.caption) else self.caption.format(unit=unit)
        return Drawing(self.name.format(unit=unit), caption, partial(self.draw, figures))


def particle_figures(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[NamedPicture], list[str]]:
    """(file name, title, Picture) for every picture of the particle job, and the missing images.

    ``images``: the image of each micrograph of :func:`micrographs_drawn`, as the job found it.
    The second list names the image files of the example micrographs that were not found.
    The micrograph of the highest outlying duplicate fraction is drawn too
    (``duplicate_outlier.png``) unless it is an example, whose caption then says so.
    """
    drawings, examples = figure_drawings(details, n_mics, images)
    return [(name, caption, draw()) for name, caption, draw in drawings], missing_examples(details, examples, images)


def rendered_particle_figures(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[tuple[str, str, bytes]], list[int]]:
    """:func:`particle_figures` rendered: (file name, title, PNG bytes), and the example micrographs drawn.

    Each picture is encoded as soon as it is drawn, so that its canvas serves the next.
    """
    drawings, examples = figure_drawings(details, n_mics, images)
    try:
        pngs = [_drawn_png(drawing.draw) for drawing in drawings]
    finally:
        drop_spares()
    return [(name, caption, data) for (name, caption, _), data in zip(drawings, pngs)], examples


def _drawn_png(draw: Callable[[], Picture]) -> bytes:
    return draw().png_once()


def figure_drawings(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[Drawing], list[int]]:
    """What draws each picture of :func:`particle_figures`, in order, and the example micrographs drawn.

    The example micrographs first, then each picture of :data:`PARTICLE_PICTURES` this job has.
    """
    scores = details.score_counts
    if scores is None and details.scores is not None:  # (not counted by the job already)
        scores = partial(score_counts, details)
    examples = micrographs_to_show(details, n_mics)
    figures = Figures(details, images, examples, worst_outlier(details), scores)
    drawings = [_example(figures, k) for k in range(len(examples))]
    drawings += [picture.drawing(figures) for picture in PARTICLE_PICTURES if picture.drawn(figures)]
    return drawings, examples


def _example(figures: Figures, k: int) -> Drawing:
    """The picture of example micrograph ``k`` (counted from 0), its caption naming it the worst outlier if it is."""
    unit, mic, worst = figures.details.unit, figures.examples[k], figures.worst
    caption = f"Example {unit} {k + 1}" + (f": {worst[1]}" if worst and worst[0] == mic else "")
    draw = partial(picks_picture, figures.details, mic, figures.images)
    return Drawing(f"example_{unit}_{k + 1}.png", caption, draw)


def _outlier_shown(figures: Figures) -> bool:
    # (its image, if not found, is not counted with the examples')
    return figures.worst is not None and figures.worst[0] not in figures.examples


def _outlier_caption(figures: Figures) -> str:
    assert figures.worst is not None
    return figures.worst[1][0].upper() + figures.worst[1][1:]


def _outlier_picture(figures: Figures) -> Picture:
    assert figures.worst is not None
    return picks_picture(figures.details, figures.worst[0], figures.images)


#: The particle job's pictures after the example micrographs, in the report's order. A new
#: picture: a function of :class:`ParticleDetails` (or of the :class:`Figures`) that returns
#: a :class:`Picture`, and its entry here (docs/developers/index.md, "Extension points").
PARTICLE_PICTURES: list[ParticlePicture] = [
    ParticlePicture("nn_distances.png", "Nearest-neighbour distances", lambda f: nn_histogram(f.details)),
    ParticlePicture("rejected_per_micrograph.png", "Rejected per {unit}", lambda f: rejected_fraction(f.details)),
    ParticlePicture("duplicate_fraction.png", "Duplicate fraction per {unit}", lambda f: duplicate_fraction(f.details)),
    ParticlePicture("duplicate_outlier.png", _outlier_caption, _outlier_picture, _outlier_shown),
    ParticlePicture(
        "scores.png",
        "Scores",
        lambda f: score_distributions(f.details, f.scores() if f.scores else None),
        lambda f: f.scores is not None,
    ),
    ParticlePicture(
        "inputs.png", "Inputs", lambda f: input_contributions(f.details), lambda f: len(f.details.inputs) > 1
    ),
    ParticlePicture(
        "halfset_pairs.png",
        "Duplicate pairs across the half-sets",
        lambda f: halfset_pairs(f.details),
        lambda f: f.details.particles.halfsets is not None,
    ),
    ParticlePicture(
        "consensus.png",
        "Consensus by input",
        lambda f: consensus_by_input(f.details),
        lambda f: f.details.confirmed_by is not None,
    ),
    ParticlePicture(
        "agreement.png",
        "Agreement between inputs",
        lambda f: agreement(f.details),
        lambda f: f.details.confirmed_by is not None,
    ),
    ParticlePicture(
        "registration.png",
        "Registration between inputs",
        lambda f: registration_picture(f.details),
        lambda f: f.details.registration is not None and bool(f.details.registration()),
    ),
]
