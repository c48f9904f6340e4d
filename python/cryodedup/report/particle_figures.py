"""The particle job's pictures, in the report's order: the registry :data:`PARTICLE_PICTURES`.

Drawn with :mod:`cryodedup.report.canvas` (Pillow), not matplotlib, whose import alone costs
as much as the whole 1M-particle job. The pictures themselves are drawn by kind:
:mod:`.particle_charts` (distances, rejections, scores, inputs, half-set pairs),
:mod:`.consensus_figures`, :mod:`.picks_figures` (a micrograph's picks over its image),
:mod:`.density_figures` and :mod:`.registration_figures`. Each returns a :class:`Picture`
whose panels keep the data they show by name (``panel.marks``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from .canvas import Picture, drop_spares
from .consensus_figures import agreement, consensus_by_input
from .density_figures import duplicate_fraction
from .particle_base import ParticleDetails, ScoreCounts
from .particle_charts import (
    halfset_pairs,
    input_contributions,
    nn_histogram,
    rejected_fraction,
    score_counts,
    score_distributions,
)
from .picks_figures import MicrographImage, micrographs_to_show, missing_examples, picks_picture, worst_outlier
from .registration_figures import registration_picture

__all__ = ["rendered_particle_figures"]

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
    drawings, missing = figure_drawings(details, n_mics, images)
    return [(name, caption, draw()) for name, caption, draw in drawings], missing


def rendered_particle_figures(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """:func:`particle_figures` rendered: (file name, title, PNG bytes), and the missing images.

    Each picture is encoded as soon as it is drawn, so that its canvas serves the next.
    """
    drawings, missing = figure_drawings(details, n_mics, images)
    try:
        pngs = [_drawn_png(drawing.draw) for drawing in drawings]
    finally:
        drop_spares()
    return [(name, caption, data) for (name, caption, _), data in zip(drawings, pngs)], missing


def _drawn_png(draw: Callable[[], Picture]) -> bytes:
    return draw().png_once()


def figure_drawings(
    details: ParticleDetails, n_mics: int, images: Mapping[int, MicrographImage]
) -> tuple[list[Drawing], list[str]]:
    """What draws each picture of :func:`particle_figures`, in order, and the image files not found.

    The example micrographs first, then each picture of :data:`PARTICLE_PICTURES` this job has.
    """
    scores = details.score_counts
    if scores is None and details.scores is not None:  # (not counted by the job already)
        scores = partial(score_counts, details)
    examples = micrographs_to_show(details, n_mics)
    figures = Figures(details, images, examples, worst_outlier(details), scores)
    drawings = [_example(figures, k) for k in range(len(examples))]
    drawings += [picture.drawing(figures) for picture in PARTICLE_PICTURES if picture.drawn(figures)]
    return drawings, missing_examples(details, examples, images)


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


def rendered(pictures: Sequence[NamedPicture]) -> list[tuple[str, str, bytes]]:
    """Each picture's file name, caption and PNG bytes."""
    return [(name, caption, picture.png()) for name, caption, picture in pictures]
