"""The particle job's summary of what it decided (the ``--json`` document)."""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...algo.audit import (
    halfset_audit,
    halfset_sizes,
    most_kept_on_a_micrograph,
    symmetry_copies,
)
from ...algo.dedup import SAME_CENTRE_A, symmetry_setting
from ...algo.density import duplicate_density
from ...algo.filaments import RULES, tube_count
from ...algo.normalisation import labels, zscore_counts
from ...algo.particle_names import Collisions, collision_cause, name_collisions
from ...algo.priority import (
    PriorityCounts,
    count_without_score,
    priority_names,
    removed_per_level,
)
from ...algo.same_image import kept_twice, rows_rejected_as_a_kept_image, same_image_pairs
from ...algo.species import won_table
from ...labels import counted
from ...particle_set import ParticleSet

# (the sections of analyses that may not run imported where they are made: each class costs start-up)
from ...report.sections import Section, Sections, registry_order
from ...report.sections.density import DuplicateDensity
from ...report.sections.inputs import InputCounts, Inputs, Shift
from ...report.sections.pixel_sizes import PixelSizes
from ...report.sections.ranking import Score
from ...report.sections.run import ParticleTimings, RunVerdict
from ..shape import STAGES, JobSummary
from .decide import ParticleDecision, input_voters, ranking_scores
from .read import raw_picker_scores

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ...algo.fsc import FscEstimate
    from ...report.sections.audits import (
        HalfsetAudit,
        HalfsetsByMicrograph,
        HalfsetTrim,
        NameCollisions,
        SymmetryCopies,
    )
    from ...report.sections.consensus import Consensus
    from ...report.sections.exclusion import OwnFrameExclusion
    from ...report.sections.filaments import Filaments
    from ...report.sections.images import SameImage
    from ...report.sections.normalization import ScoreNormalization
    from ...report.sections.overrides import Overrides
    from ...report.sections.priority import Priority
    from ...report.sections.regions import MaskAndEdge
    from ...report.sections.registration import MovedInputs, Registration
    from ...report.sections.run import Outputs, Overview
    from ...report.sections.selection import BestSelection
    from ...report.sections.species import Species
    from .plan import Deciding, Distances

__all__ = [
    "ParticleSummary",
    "decision_warnings",
    "kept_twice_warnings",
    "one_pass_timings",
    "summarize",
    "verdict_of",
]


@dataclass(frozen=True)
class _Key:
    """What a summary field is as a key of the ``--json`` document: its description (docs/reference/outputs.md).

    ``always``: the key is in every document, null or not; others are left out when None.
    """

    doc: str
    always: bool = False

    @classmethod
    def of(cls, f: Field) -> _Key:
        """The key of a field of :class:`ParticleSummary` (its metadata's, by this class)."""
        return f.metadata[cls]


def _doc(text: str, always: bool = False) -> dict[type[_Key], _Key]:
    """A summary field's metadata: its :class:`_Key`."""
    return {_Key: _Key(text, always)}


@dataclass(frozen=True)
class ParticleSummary(JobSummary):
    """The particle job's summary: the ``--json`` document, its keys in this order.

    The keys every job's document opens with come first (``verdict``, ``outputs``, ``timings``:
    :class:`~cryodedup.jobs.shape.JobSummary`), then the particle job's own. :meth:`to_json`
    gives it as printed; a field that is None is left out (it does not apply to the run), but
    those every document holds. ``read`` holds what the inputs' readers found, under keys of their own
    (``formats``, ``layouts``, ``micrograph_matching``, ``copick``, ``datasets`` ...): they
    stand in the document at its place, as keys of the document itself. The reference of the
    document (docs/reference/outputs.md) is made from these fields (:func:`reference_table`).
    """

    verdict: RunVerdict | None = field(
        default=None,
        metadata=_doc(
            "the run's verdict: `line`, the line the summary opens with (what was kept of how many, where, and the "
            "checks to look at: `Kept 289 of 471 (182 duplicates) -> result/particles_kept.star. Check: ...`); "
            "`word`, its head (`Kept 289 of 471`); `kind`: `bad` where the kept particles still hold duplicate pairs "
            "across the half-sets (`--audit` removed none: the refinement must be redone without them; `why` says "
            "so), `warn` where the line names checks, else `good`",
            always=True,
        ),
    )
    outputs: Outputs | None = field(
        default=None,
        metadata=_doc(
            "the files written, by subset (`kept`, `rejected` ..., with `--plot` `plots`, the pictures and "
            "report.html; none, as with `--audit`: `{}`)",
            always=True,
        ),
    )
    timings: ParticleTimings | None = field(
        default=None,
        metadata=_doc(
            f"each stage's seconds ({', '.join(f'`{stage}`' for stage in STAGES)}), the run's (`seconds`), and "
            "whether it was read, decided and written in one pass (`one_pass`)",
            always=True,
        ),
    )
    inputs: Inputs | None = field(
        default=None, metadata=_doc("each input: `file`, `particles`, `kept`, `rejected`", always=True)
    )
    particles: int = field(default=0, metadata=_doc("the rows read", always=True))
    kept: int = field(default=0, metadata=_doc("the rows kept", always=True))
    rejected: int = field(default=0, metadata=_doc("the rows rejected", always=True))
    micrographs: int = field(default=0, metadata=_doc("the micrographs (tomograms) the rows lie on", always=True))
    tomography: bool = field(
        default=False, metadata=_doc("whether the centres are 3-D: the micrographs are tomograms", always=True)
    )
    pixel_sizes: PixelSizes | None = field(
        default=None,
        metadata=_doc("the pixel sizes used: per input and optics group, the value and its source", always=True),
    )
    shift: Shift | None = field(default=None, metadata=_doc("the shift subtracted from the coordinates", always=True))
    score: Score | None = field(
        default=None,
        metadata=_doc(
            "the ranking: `column`, `order`; `per_level` (each `--prefer` level ranked by a score of its own), "
            "`normalized` (`--score-normalize`), `scale`, `without_score`, `ties`",
            always=True,
        ),
    )
    score_normalization: ScoreNormalization | None = field(
        default=None,
        metadata=_doc(
            "`--score-normalize zscore`: the `groups` (an input's picks on one micrograph) scaled, those scaled by "
            "the mean absolute deviation (`mean_ad`: MAD 0) and those whose scores are all equal (`constant`: all 0)"
        ),
    )
    mask_and_edge: MaskAndEdge | None = field(
        default=None,
        metadata=_doc(
            "`--mask`, `--edge`: the picks rejected before the dedup: `masks`, `label`, `outside_mask`; "
            "`edge_A`, `at_edge`, `sizes_from`"
        ),
    )
    overrides: Overrides | None = field(
        default=None,
        metadata=_doc(
            "`--overrides`: the `file`, its particle lines `applied`, the rows `forced_kept` and `forced_rejected`, "
            "those `rejected_by_forced` (within the distance of a forced keep), the lines `naming_nothing` in the "
            "inputs and the `pair_lines` (the micrograph job's)"
        ),
    )
    read: Mapping[str, Any] = field(
        default_factory=dict, metadata=_doc("what the readers found (keys of their own, at this place of the document)")
    )
    priority: Priority | None = field(
        default=None,
        metadata=_doc(
            "`--prefer`: the order of the inputs, and the groups each decided; `within_levels`: what decided the "
            "rest when not one score (each level's own score, or the random order)"
        ),
    )
    selection: BestSelection | None = field(
        default=None,
        metadata=_doc(
            "`--select best-score` or `most-particles`: `kept` and `score` (sum) against the greedy default's "
            "(`greedy_kept`, `greedy_score`), the groups of duplicates (`components`) solved `exact`ly or `bounded`"
        ),
    )
    species: Species | None = field(
        default=None, metadata=_doc("each species' counts and distance (`--species-column`, copick objects)")
    )
    own_frame_exclusion: OwnFrameExclusion | None = field(
        default=None,
        metadata=_doc(
            "`--min-dist-ellipsoid`: each `ellipsoids`' `species` (null: all) and `semi_axes_A` along the particle's "
            "x, y, z, the `poses` that turned them, whether `every_species` had one, and the `rule`"
        ),
    )
    duplicate_density: DuplicateDensity | None = field(
        default=None, metadata=_doc("micrographs with too many duplicates", always=True)
    )
    filaments: Filaments | None = field(default=None, metadata=_doc("tubes and segments (`--filament-mode`)"))
    halfset_audit: HalfsetAudit | None = field(
        default=None, metadata=_doc("duplicate pairs across the half-sets (`--audit`, half-sets read)")
    )
    halfsets: HalfsetsByMicrograph | None = field(
        default=None, metadata=_doc("the half-sets reassigned by micrograph (`--halfsets micrograph`)")
    )
    halfset_trim: HalfsetTrim | None = field(
        default=None,
        metadata=_doc(
            "`--halfsets trim`: the kept particles of each half `sizes_before` and `sizes` after, how many were "
            "`trimmed` from the larger half (each in the rejected file, `halfset trim` in decisions.csv) and "
            "`ranked_by` what"
        ),
    )
    orientations: str | None = field(default=None, metadata=_doc("the orientation rule (`--max-angle`, `--sym`)"))
    same_image: SameImage | None = field(
        default=None, metadata=_doc("one particle image in several rows (`--same-image`)")
    )
    particle_names: NameCollisions | None = field(
        default=None, metadata=_doc("particle names kept for different particles of different inputs")
    )
    symmetry_expansion: SymmetryCopies | None = field(
        default=None,
        metadata=_doc(
            "rows sharing an image and how many of each were kept: a symmetry expansion's copies, or "
            "(`copies_at_pose`, RELION files with angles) exact copies at one pose"
        ),
    )
    consensus: Consensus | None = field(
        default=None,
        metadata=_doc(
            "several inputs: each pick's support, `--min-support` (copick: `users`, the support counted in users)"
        ),
    )
    registration: Registration | None = field(
        default=None,
        metadata=_doc(
            "how the inputs' coordinates agree (`--registration`): per pair its `frames`, and its agreement as "
            "read (`jaccard_identity`), by chance (`jaccard_chance`) and, in two frames, before and after the "
            "transform (`jaccard_before`, `jaccard_after`): the picks with a partner within `measured_at_A`, "
            "counted on the side with fewer, over the union of both sets (keys named for Jaccard's form; not a "
            "Jaccard index of one-to-one matches); in two frames, `fix` moves the second input into the first's frame "
            "and `fix_other` the first into the second's (the outputs lie in the frame of the input not moved)"
        ),
    )
    transforms: MovedInputs | None = field(
        default=None,
        metadata=_doc(
            "each input `--transform` moved: `input`, `transform` and `written`, what its rows in the outputs hold "
            "(the moved coordinates where one file combines the inputs; as read in per-input outputs)"
        ),
    )
    #: ``--update``: the round's section, attached by its runner (``update.round_runner``: a ``report.sections.update``
    #: section); typed as any section, so that the plain path names nothing of a round.
    update: Section | None = field(
        default=None,
        metadata=_doc(
            "`--update`: the `round`, the `running_file` and its `running_kept`, the `kept_before`, the new particles "
            "`rejected_by_kept` and how many of them `would_have_won` (ranked above the kept one)"
        ),
    )
    min_dist_A: float | None = field(
        default=None, metadata=_doc("`--min-dist`, Å (left out where species used different ones: `species`)")
    )
    min_dist_z_A: float | None = field(
        default=None, metadata=_doc("`--min-dist-z`, Å (left out where species used different ones: `species`)")
    )
    mode: str | None = field(
        default=None,
        metadata=_doc(
            "`keep best of each group`, `remove entirely`, or with `--select` `keep the most picks of each group` "
            "or `keep the best score sum of each group`"
        ),
    )
    warnings: list[str] | None = field(default=None, metadata=_doc("the warnings, as said"))
    micrograph_images: str | None = field(
        default=None, metadata=_doc("`--plot`: the example micrographs whose image was not found")
    )

    @property
    def plots(self) -> list[str] | None:
        """``--plot``'s pictures and report.html: its ``outputs``' ``plots`` (None: none drawn)."""
        drawn = None if self.outputs is None else self.outputs.files("plots")
        return list(drawn) if drawn else None

    def to_json(self) -> dict[str, Any]:
        """The document ``--json`` prints (and the API returns): the shared keys, then the fields, None left out."""
        document = self.shared_json()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in document:
                continue
            if f.name == "read":
                document.update(value)
            elif value is not None or _Key.of(f).always:
                document[f.name] = value.to_json() if isinstance(value, Section) else value
        return document

    def sections(self) -> Sections:
        """The typed sections this summary holds, in the order of :data:`~cryodedup.report.sections.SECTIONS`."""
        held = (getattr(self, f.name) for f in fields(self) if f.name != "verdict")  # (the verdict has no rows)
        return Sections(tuple(sorted((s for s in held if isinstance(s, Section)), key=registry_order)))

    def overview(self) -> Overview:
        """The run's top-level values and what its readers found, typed for the report.

        The readers' part is read when asked for: a writer completes it as it writes.
        """
        from ...report.sections.readers import ReadersFound
        from ...report.sections.run import Overview

        return Overview(
            particles=self.particles,
            kept=self.kept,
            rejected=self.rejected,
            micrographs=self.micrographs,
            tomography=self.tomography,
            min_dist_A=self.min_dist_A,
            min_dist_z_A=self.min_dist_z_A,
            mode=self.mode,
            orientations=self.orientations,
            seconds=self.timings.seconds if self.timings is not None else 0.0,
            micrograph_images=self.micrograph_images,
            read=ReadersFound.of(self.read),
        )


def reference_table() -> str:
    """The ``--json`` reference's table (docs/reference/outputs.md), made from :class:`ParticleSummary`."""
    rows = ["| key | what |", "| --- | --- |"]
    for f in fields(ParticleSummary):
        key = "(the readers' keys)" if f.name == "read" else f"`{f.name}`"
        rows.append(f"| {key} | {_Key.of(f).doc} |")
    return "\n".join(rows) + "\n"


def summarize(
    particles: ParticleSet, decision: ParticleDecision, rule: Deciding, halves: np.ndarray | None = None
) -> ParticleSummary:
    """The summary of the decision: counts per input and in all, pixel sizes, shift, score (the run's parts left out).

    With half-sets in the input, the half-set audit; with symmetry-expanded copies, how
    many of each were kept; with ``halves`` (``--halfsets micrograph``), the new halves.
    The sections this module makes come first (the species' among them), then those of the
    modules that count the half-sets and the consensus (each entered once, in a row).
    """
    counts = particles.counts()
    kept = particles.counts(decision.keep)
    n_kept = int(np.count_nonzero(decision.keep))
    score = _score_summary(
        particles, decision, rule.seed, summed=rule.select == "best-score", ranked=not rule.remove_entirely
    )
    priority = _priority_of(particles, decision, rule.remove_entirely, rule.seed)
    mask_and_edge = _mask_and_edge(decision, rule)
    own_frame = _own_frame(particles, rule)
    filaments = None if particles.tubes is None else _filaments(particles, rule.filament_mode)
    min_dist, min_dist_z = rule.distances.used()
    mode = _mode(rule.remove_entirely, rule.select)
    species = None if particles.species is None else _species(particles, decision, rule.distances)
    audits = _audits(particles, decision, rule, halves)  # (the half-set audit last: algo.audit's)
    consensus = None
    if decision.confirmed_by is not None:  # (several inputs: how many confirmed the picks kept)
        from ...algo.consensus import consensus_report
        from ...report.sections.consensus import Consensus

        agreement = consensus_report(
            particles,
            decision.keep,
            decision.confirmed_by,
            rule.min_support,
            decision.unconfirmed,
            covered=decision.covered,
            not_confirmable=decision.not_confirmable,
            uncovered=rule.uncovered,
            coverage=rule.coverage,
        )
        voters = input_voters(particles)  # (copick: --min-support counted users, not pick sets)
        consensus = Consensus(agreement, None if voters is None else int(voters.max()) + 1)
    return ParticleSummary(
        inputs=Inputs(tuple(InputCounts(name, int(n), int(k)) for name, n, k in zip(particles.inputs, counts, kept))),
        particles=len(particles),
        kept=n_kept,
        rejected=len(particles) - n_kept,
        micrographs=len(particles.mic_names),
        tomography=particles.centres.shape[1] == 3,  # the "micrographs" are tomograms
        pixel_sizes=PixelSizes.of(particles.pixel_sizes, len(particles.inputs) > 1),
        shift=Shift(particles.shift),
        score_normalization=_score_normalization(particles, decision),
        read=particles.summary,  # (the set's own dict: a writer completes its part as it writes)
        selection=_selection(decision),
        species=species,
        duplicate_density=DuplicateDensity(
            duplicate_density(
                particles.groups, decision.duplicate, particles.mic_names, particles.input_of, particles.inputs
            )
        ),
        score=score,
        priority=priority,
        mask_and_edge=mask_and_edge,
        own_frame_exclusion=own_frame,
        filaments=filaments,
        min_dist_A=min_dist,
        min_dist_z_A=min_dist_z,
        mode=mode,
        **audits,
        consensus=consensus,
    )


def _species(particles: ParticleSet, decision: ParticleDecision, rule: Distances) -> Species:
    """Per species: picks, kept, its distance (and radius); with ``--cross-species``, who displaced whom."""
    from ...report.sections.species import CrossSpecies, Species, SpeciesCounts  # (a run of species loads them)

    assert particles.species is not None
    names = particles.species_names
    n_species = len(names)
    picks = np.bincount(particles.species, minlength=n_species)
    kept = np.bincount(particles.species[decision.keep], minlength=n_species)
    distances, along_z, ellipsoids, radii = rule.by_species, rule.z_of_species, rule.ellipsoids, rule.radii
    displaced = decision.displaced_by
    won = None if displaced is None else won_table(particles.species, displaced, n_species)
    lost = np.zeros(n_species, dtype=np.int64) if won is None else won.sum(axis=0)
    per_species = tuple(
        SpeciesCounts(
            name,
            int(picks[s]),
            int(kept[s]),
            int(lost[s]),
            distances[s],
            along_z[s] if rule.z_by_species else None,
            # (the radius --cross-species compares; without it, the object's own where it has one)
            float(radii[s]) if radii is not None else particles.species_radii.get(name),
            ellipsoids[s],
        )
        for s, name in enumerate(names)
    )
    cross = None
    if won is not None:
        words = (
            f"centre distance < (r_a + r_b) x {rule.overlap:g}; ranked by "
            + ("the preferred inputs first, then " if decision.levels is not None else "")
            + "percentile within each species"
        )
        cross = CrossSpecies(rule.overlap, words, tuple(tuple(int(n) for n in row) for row in won))
    return Species(tuple(names), per_species, rule.z_by_species, cross)


def _priority_of(
    particles: ParticleSet, decision: ParticleDecision, remove_entirely: bool, seed: int
) -> Priority | None:
    """The summary's ``priority``: what each ``--prefer`` level decided (None without it)."""
    if decision.levels is None or decision.preference is None:
        return None
    return _priority(particles, decision, remove_entirely, decision.ties.by_priority, seed)


#: The summary's mode for each ``--select`` (greedy: the default's words).
_MODES = {"most-particles": "keep the most picks of each group", "best-score": "keep the best score sum of each group"}


def _mode(remove_entirely: bool, select: str) -> str:
    """The summary's mode: which picks of a group of duplicates stay."""
    if remove_entirely:
        return "remove entirely"
    return _MODES.get(select, "keep best of each group")


def _own_frame(particles: ParticleSet, rule: Deciding) -> OwnFrameExclusion | None:
    """``--min-dist-ellipsoid``'s section: each species' ellipsoid as decided (None without one)."""
    if not rule.own_frame:
        return None
    from ...report.sections.exclusion import OwnFrameExclusion, SpeciesEllipsoid

    if particles.species is None:
        axes = rule.distances.base.ellipsoid
        assert axes is not None, "species' ellipsoids are refused without species"
        ellipsoids = [SpeciesEllipsoid(None, _floats(axes))]
        return OwnFrameExclusion(tuple(ellipsoids), particles.pose_label, True)
    own = rule.distances.ellipsoids
    ellipsoids = [
        SpeciesEllipsoid(name, _floats(axes)) for name, axes in zip(particles.species_names, own) if axes is not None
    ]
    if len({e.semi_axes_A for e in ellipsoids}) == 1 and len(ellipsoids) == len(own):
        ellipsoids = [SpeciesEllipsoid(None, ellipsoids[0].semi_axes_A)]  # (one for all: not said per species)
    return OwnFrameExclusion(tuple(ellipsoids), particles.pose_label, all(axes is not None for axes in own))


def _floats(axes: tuple[float, float, float]) -> tuple[float, float, float]:
    return (float(axes[0]), float(axes[1]), float(axes[2]))


def _filaments(particles: ParticleSet, filament_mode: str) -> Filaments:
    """The summary's ``filaments``: the tubes the particles lie on, and ``--filament-mode``'s rule."""
    from ...report.sections.filaments import Filaments

    assert particles.tubes is not None, "called for a set of helical segments"
    return Filaments(particles.tube_column or "", tube_count(particles.tubes), filament_mode, RULES[filament_mode])


def _selection(decision: ParticleDecision) -> BestSelection | None:
    """The summary's ``selection``: the best selection's counts against greedy's (None under greedy)."""
    counts = decision.selection
    if counts is None:
        return None
    from ...report.sections.selection import BestSelection

    return BestSelection(**asdict(counts))


def _priority(
    particles: ParticleSet, decision: ParticleDecision, remove_entirely: bool, tied: int, seed: int
) -> Priority:
    """The summary's ``priority``: the inputs' order (``--prefer``) and the groups each level decided.

    ``tied``: the groups priority decided between rows tied on the score (``decision.ties``).
    """
    from ...report.sections.priority import Priority

    assert decision.preference is not None, "called for a run with --prefer"
    n_inputs = len(particles.inputs)
    names = priority_names(decision.preference, n_inputs)
    inputs = tuple(particles.inputs)
    if remove_entirely:
        removed = np.bincount(particles.input_of[~decision.keep], minlength=n_inputs)
        return Priority(
            tuple(names), inputs, removed=tuple(zip(names, removed_per_level(decision.preference, n_inputs, removed)))
        )
    counts = decision.priority or PriorityCounts(0, [], 0)
    scored = ranking_scores(particles, decision)[0] is not None
    within = "score" if scored else f"the random order (seed {seed})"
    if particles.scores_per_level and decision.ranked_scores is None:
        # Scores of different levels are never compared: "the score would have chosen another" means nothing.
        scored, within = False, "each level's own score (file order in a level with none)"
    return Priority(
        tuple(names),
        inputs,
        groups=int(counts.groups),
        by_priority=int(sum(counts.by_priority)),
        won_by=tuple((names[level], int(n)) for level, n in enumerate(counts.by_priority) if n),
        against_score=int(counts.against_score) if scored else None,
        tied_on_score=int(tied),
        within_levels=within,
    )


def _score_summary(
    particles: ParticleSet, decision: ParticleDecision, seed: int, summed: bool = False, ranked: bool = True
) -> Score:
    """The summary's ``score``: the column and order the rows were ranked by, and how the scores were compared.

    ``ties_by_input_order``: the groups tied on the score that the inputs' order decided (``decision.ties``).
    ``ranked`` False (``--remove-entirely``): no score decided, so their scales are not said.
    """
    score_label, entry = particles.score_label, decision.normalisation
    normalized = None if entry is None else entry.summary
    one_scale = entry is not None and entry.one_scale
    scale = "compared as read across inputs, though the inputs' scores are on different scales"
    return Score(
        column=score_label,
        order=("max" if particles.higher_is_better else "min") if score_label else f"random (seed {seed})",
        normalized=normalized if score_label and normalized else None,
        scale=scale if ranked and raw_picker_scores(particles, one_scale, decision.levels) else None,
        without_score=int(count_without_score(particles.scores)),
        ties_by_input_order=int(decision.ties.by_input_order),
        summed=summed,
        per_level=particles.scores_per_level and decision.ranked_scores is None,
    )


def _score_normalization(particles: ParticleSet, decision: ParticleDecision) -> ScoreNormalization | None:
    """The summary's ``score_normalization`` (``--score-normalize zscore``): its groups told from the z-scores."""
    entry = decision.normalisation
    if entry is None or not entry.per_micrograph or decision.ranked_scores is None:
        return None
    from ...report.sections.normalization import ScoreNormalization

    by = labels(entry, particles.input_of, particles.groups, particles.species)
    return ScoreNormalization(entry.name, *zscore_counts(decision.ranked_scores, by))


def _mask_and_edge(decision: ParticleDecision, rule: Deciding) -> MaskAndEdge | None:
    """The summary's ``mask_and_edge``: the picks ``--mask`` and ``--edge`` rejected (None: neither asked)."""
    regions, asked = decision.regions, rule.regions
    if regions is None or asked is None:
        return None
    from ...report.sections.regions import MaskAndEdge

    masks = regions.masks if asked.mask is not None else None
    return MaskAndEdge(masks, asked.mask_label, regions.outside_mask, asked.edge, regions.at_edge, regions.sizes_from)


def _name_collisions(particles: ParticleSet, keep: np.ndarray) -> Collisions | None:
    """The particle names kept for different particles of different inputs (issue 54, section 4), and their rows."""
    if particles.particle_names is None:
        return None
    return name_collisions(
        particles.particle_names, particles.inputs, particles.input_of, particles.groups, particles.centres, keep
    )


def _audit_criterion(particles: ParticleSet, rule: Deciding) -> str:
    """What made two particles a duplicate pair, as decided: each species' own distance where they differ."""
    if rule.own_frame:  # (the section names each ellipsoid)
        angle = f" and {rule.max_angle:g}°" if rule.max_angle is not None else ""
        return f"within an exclusion ellipsoid in a particle's own frame{angle}"
    if particles.species is None:
        return _duplicate_criterion(rule.distance.min_dist, rule.max_angle, rule.distance.min_dist_z)
    distances, along_z = rule.distances.by_species, rule.distances.z_of_species
    if len(set(distances)) == 1 and len(set(along_z)) == 1:
        return _duplicate_criterion(distances[0], rule.max_angle, along_z[0])
    each = "; ".join(
        f"{name}: {d:g} Å" + (f", {z:g} Å in z" if z is not None and d > 0 else "")
        for name, d, z in zip(particles.species_names, distances, along_z)
    )
    return f"within each species' distance ({each})" + (
        f" and {rule.max_angle:g}°" if rule.max_angle is not None else ""
    )


def _duplicate_criterion(min_dist: float, max_angle: float | None = None, min_dist_z: float | None = None) -> str:
    """What made two particles a duplicate pair at one distance, as the audit's verdict says it."""
    where = f"within {min_dist:g} Å" if min_dist > 0 else f"at the same centre (within {SAME_CENTRE_A:g} Å)"
    if min_dist_z is not None and min_dist > 0:
        where += f" ({min_dist_z:g} Å in z)"
    return where + (f" and {max_angle:g}°" if max_angle is not None else "")


def _audits(
    particles: ParticleSet, decision: ParticleDecision, rule: Deciding, halves: np.ndarray | None
) -> dict[str, Any]:
    """The summary's checks of what was kept: half-sets, orientations, one image twice, symmetry copies."""
    audits: dict[str, Any] = {}
    if halves is not None:
        audits["halfsets"] = _halfsets(particles, decision.keep, halves)
    if decision.trimmed is not None:
        audits["halfset_trim"] = _halfset_trim(particles, decision, rule.seed)
    if rule.max_angle is not None:
        audits["orientations"] = (
            f"duplicates only within {rule.max_angle:g}° ({particles.pose_label}, "
            f"symmetry {symmetry_setting(rule.sym, particles.pose_convention)})"
        )
    audits.update(_kept_twice(particles, decision.keep, rule))
    if particles.sources is not None:
        from ...report.sections.audits import SymmetryCopies

        sources, by_copies_kept = symmetry_copies(particles.sources, decision.keep)
        at_pose = None if particles.copies_at_pose is None else int(np.count_nonzero(particles.copies_at_pose))
        audits["symmetry_expansion"] = SymmetryCopies(
            particles.sources_label, sources, int(particles.sources.size), by_copies_kept, at_pose
        )
    if particles.halfsets is not None or rule.audit:  # (last: algo.audit's, where the summary goes on to the next)
        audits["halfset_audit"] = _halfset_audit(particles, decision, rule)
    return audits


def _kept_twice(particles: ParticleSet, keep: np.ndarray, rule: Deciding) -> dict[str, Any]:
    """The summary's ``same_image`` and ``particle_names``: one image kept twice, one name kept for two particles."""
    audits: dict[str, Any] = {}
    collisions = _name_collisions(particles, keep)
    column = "" if particles.particle_names is None else particles.particle_names.label
    cause = None if collisions is None else (collisions.rows, collision_cause(column))
    same_image = None if particles.images is None else _same_image(particles, keep, rule.same_image, cause)
    if same_image is not None:
        audits["same_image"] = same_image
    if collisions is not None:  # (after extraction: the cause of an image kept twice, said there)
        from ...report.sections.audits import NameCollisions

        extracted = same_image is not None and same_image.cause is not None
        audits["particle_names"] = NameCollisions(
            column,
            collisions.names,
            int(collisions.rows.size),
            tuple(collisions.named),
            tuple(collisions.example_inputs),
            extracted,
        )
    return audits


def kept_twice_warnings(same_image: SameImage | None, names: NameCollisions | None) -> list[str]:
    """What a run warns of its summary's ``same_image`` and ``particle_names`` (names before extraction alone)."""
    said = [] if same_image is None or same_image.message is None else [same_image.message]
    return said + ([names.message] if names is not None and not names.extracted else [])


def decision_warnings(particles: ParticleSet, decision: ParticleDecision, rule: Deciding) -> list[str]:
    """The warnings a run's summary raises, counted without the summary: what ``audit`` keeps of a set's run.

    The project audit counts 100,000 sets with no summary of each (issue 99); these are all the summarise stage
    says of the counts (:func:`kept_twice_warnings`).
    """
    found = _kept_twice(particles, decision.keep, rule)
    return kept_twice_warnings(found.get("same_image"), found.get("particle_names"))


def _halfset_audit(particles: ParticleSet, decision: ParticleDecision, rule: Deciding) -> HalfsetAudit:
    """The summary's ``halfset_audit``: the duplicate pairs straddling the half-sets (``--audit``: none to audit)."""
    from ...report.sections.audits import HalfsetAudit, StraddlingMicrograph

    fsc = rule.audit.fsc if rule.audit is not None else None
    if particles.halfsets is None and fsc is not None:
        from ...errors import CryodedupError

        raise CryodedupError(
            f"--fsc {fsc}: the particles carry no half-set column (rlnRandomSubset, alignments3D/split): "
            "give the particles of the refinement that FSC is of"
        )
    if particles.halfsets is None:
        return HalfsetAudit(None)  # (asked, but nothing to audit)
    assert decision.suppressed_by is not None, "decide() keeps the pairs when there are half-sets"
    criterion = _audit_criterion(particles, rule)
    images = particles.images
    pairs = same_image_pairs(images, particles.groups, particles.centres) if images is not None else None
    counts = halfset_audit(particles, decision.suppressed_by, pairs)
    return HalfsetAudit(
        particles.halfsets.label,
        criterion,
        counts.duplicate_pairs,
        counts.straddling_pairs,
        counts.particles_straddling,
        counts.fraction,
        counts.micrographs_with_straddling,
        tuple(StraddlingMicrograph(*m) for m in counts.top_micrographs),
        counts.same_image,
        None if fsc is None else _fsc_estimate(particles, decision.suppressed_by, fsc, counts.same_image, rule),
    )


def _fsc_estimate(
    particles: ParticleSet,
    suppressed_by: np.ndarray,
    path: Path,
    same_image: tuple[int, int] | None,
    rule: Deciding,
) -> FscEstimate:
    """``--fsc``: what the straddling pairs did to the refinement's FSC read from ``path`` (:mod:`...algo.fsc`)."""
    from ...algo.fsc import group_pairs, half_sizes, pairs_estimate, straddling_turns
    from ...errors import InputFileError
    from ...formats.star.fsc import StraddlingBoxes, fsc_refinement_said, read_fsc

    refinement = fsc_refinement_said(path, [Path(f) for f in particles.read_files])
    curve = read_fsc(path)
    if why := curve.unusable():
        raise InputFileError(f"--fsc {why}")
    first, second, sides = group_pairs(particles, suppressed_by)
    pairs = (first, second)
    boxes = StraddlingBoxes.of([Path(f) for f in particles.read_files], particles, first, second, sides)
    images = same_image[1] if same_image else 0
    sym, sym_from = _point_group(path, particles, rule)
    poses: tuple[np.ndarray, np.ndarray] | None = boxes.poses() if particles.poses is None else None
    kind = boxes.pose_kind if particles.poses is None else particles.pose_kind
    if particles.poses is not None:
        poses = (particles.poses[pairs[0]], particles.poses[pairs[1]])
    turns, under = straddling_turns(poses, kind, sym, particles.pose_convention)
    found = pairs_estimate(
        curve.curve, curve.frequency, curve.fsc, boxes.offsets_A(), images, half_sizes(particles), turns, under,
        sides, (boxes.a, boxes.b),
    )  # fmt: skip
    return replace(found, point_group=sym.upper(), point_group_from=sym_from, refinement=refinement)


#: Where the FSC's point group came from when no file of the refinement says it.
SYM_GIVEN, SYM_ASSUMED = (
    "--sym",
    "no file of the refinement says it: C1, as a local refinement of expanded particles runs",
)


def _point_group(fsc: Path, particles: ParticleSet, rule: Deciding) -> tuple[str, str]:
    """The point group the refinement imposed (its poses compared under it) and where it was read.

    The refinement's own files (the FSC's folder, or the one a PostProcess read: job.star ``sym_name``,
    run_sampling.star ``rlnSymmetryGroup``), or the CryoSPARC job's ``job.json`` beside the particles; else
    ``--sym`` (given with ``--max-angle``); else C1.
    """
    from ...formats.cryosparc.jobs import job_symmetry
    from ...formats.star.fsc import refinement_symmetry

    found = refinement_symmetry(fsc)
    if found is None and particles.pose_convention == "cryosparc" and particles.read_files:
        found = job_symmetry(Path(particles.read_files[0]).parent)
    if found is not None:
        return found
    return (rule.sym, SYM_GIVEN) if rule.max_angle is not None else ("C1", SYM_ASSUMED)


def _halfsets(particles: ParticleSet, keep: np.ndarray, halves: np.ndarray) -> HalfsetsByMicrograph:
    """The summary's ``halfsets``: what ``--halfsets micrograph`` did."""
    from ...report.sections.audits import HalfsetsByMicrograph

    assert particles.halfsets is not None, "--halfsets micrograph is refused without half-sets"
    small, large = halfset_sizes(halves, keep)
    largest = most_kept_on_a_micrograph(particles.groups, keep)
    return HalfsetsByMicrograph(particles.halfsets.label, (small, large), largest, particles.halfsets.texts)


def _halfset_trim(particles: ParticleSet, decision: ParticleDecision, seed: int) -> HalfsetTrim:
    """The summary's ``halfset_trim``: what ``--halfsets trim`` did."""
    from ...report.sections.audits import HalfsetTrim

    halfsets, trimmed = particles.halfsets, decision.trimmed
    assert halfsets is not None and trimmed is not None, "--halfsets trim is refused without half-sets"
    before = halfset_sizes(halfsets.half, decision.keep | trimmed)
    after = halfset_sizes(halfsets.half, decision.keep)
    scores, higher = ranking_scores(particles, decision)
    label = particles.score_label or "the score"
    if scores is None:
        ranked_by = f"at random, --seed {seed}"
    elif decision.ranked_scores is not None:
        ranked_by = f"the lowest normalised {label} first"
    else:
        ranked_by = f"the {'lowest' if higher else 'highest'} {label} first"
    return HalfsetTrim(halfsets.label, (before[0], before[1]), (after[0], after[1]), ranked_by, halfsets.texts)


def _same_image(particles: ParticleSet, keep: np.ndarray, mode: str, cause: tuple[np.ndarray, str] | None) -> SameImage:
    """The summary's ``same_image``: the images kept twice (``cause``: rows and what made them, where known)."""
    from ...report.sections.images import SameImage

    images = particles.images
    assert images is not None, "called for a set whose images were read"
    found = kept_twice(images, particles.groups, particles.centres, keep, None if cause is None else cause[0])
    rejected = (
        rows_rejected_as_a_kept_image(images, particles.groups, particles.centres, keep) if mode == "reject" else None
    )
    return SameImage(
        column=images.label,
        mode=mode,
        images_kept_twice=found.images,
        rows_kept_twice=found.rows,
        rows_rejected=rejected,
        named=tuple(found.named),
        cause=cause[1] if cause is not None and found.among else None,
    )


def one_pass_timings(particles: ParticleSet) -> ParticleTimings:
    """The run's timings before the runner fills them: whether it was decided and written while read (one pass)."""
    return ParticleTimings(0.0, one_pass=particles.decided is not None)  # docs/design.md section 5


def verdict_of(summary: ParticleSummary, audit: bool) -> RunVerdict:
    """The run's verdict: the line the summary opens with (what was kept of how many, where, what to check), its kind.

    ``Kept 289 of 471 (182 duplicates) -> result/particles_kept.star. Check: ...``: the checks are
    the warnings' gists and the rows the report highlights (half-set pairs straddling, outlying
    micrographs, inputs that hardly agree). A consensus (``--min-support``) also rejects picks
    that are no duplicate: its rejected are called so. Its ``word`` is the line's head (``Kept 289
    of 471``); its kind ``bad`` where what the run keeps still holds duplicate pairs across the
    half-sets (``audit``: nothing removed, pairs straddle: the refinement is to be redone without
    them), ``warn`` where the line names checks, ``good`` otherwise.
    """
    from ...report.summary import flagged_checks
    from ...report.verdict import gist, with_checks

    asked_consensus = summary.consensus is not None and summary.consensus.found.min_support > 1
    others = asked_consensus or summary.mask_and_edge is not None  # (rules that reject what is no duplicate)
    trimmed = summary.halfset_trim.trimmed if summary.halfset_trim is not None else 0
    rejected = f"{summary.rejected:,} rejected" if others else counted(summary.rejected - trimmed, "duplicate")
    if trimmed and not others:  # (not duplicates: trimmed to balance the half-sets)
        rejected += f", {trimmed:,} trimmed to balance the half-sets"
    word = f"Kept {summary.kept:,} of {summary.particles:,}"
    checks = [*map(gist, summary.warnings or []), *flagged_checks(summary.sections())]
    line = with_checks(f"{word} ({rejected}) -> {_kept_where(summary)}", checks)
    audited = summary.halfset_audit
    if audit and audited is not None and audited.harms:
        pairs = counted(audited.straddling_pairs, "duplicate pair")
        why = f"{pairs} straddle the half-sets and --audit removed none: refine again without them"
        return RunVerdict(word, "bad", line, why)
    return RunVerdict(word, "warn" if any(checks) else "good", line)


def _kept_where(summary: ParticleSummary) -> str:
    """Where the kept particles went: their files (:func:`named_files`), the copick project, or nowhere."""
    from ...report.verdict import named_files

    written = summary.overview().read.written_into
    places = [named_files(list(summary.outputs.files("kept")) if summary.outputs else [])]
    if written:
        places.append(f"the copick project as {written}")
    return ", ".join(p for p in places if p) or "nothing written (--audit)"
