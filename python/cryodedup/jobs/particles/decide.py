"""Which rows the particle job keeps: the rule, the ranking, consensus, and one pass or two."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import reduce
from typing import TYPE_CHECKING

import numpy as np

from ...algo.dedup import (
    DuplicateRule,
    Ellipsoid,
    Orientations,
    Ranking,
    dedup_and_support_masks,
    find_duplicates,
    picks_per_group,
    popcount,
    symmetry_setting,
)
from ...algo.density import rejected_as_duplicates
from ...algo.normalisation import Normalisation, labels
from ...algo.priority import (
    Level,
    PriorityCounts,
    Ties,
    added_counts,
    tied_groups,
)
from ...algo.same_image import support_of_images
from ...algo.species import cross_species_ranks, suppress_overlaps
from ...errors import CryodedupError
from ...labels import counted
from ...particle_set import Log, ParticleSet, StarFacts, Warn
from ..input_checks import refuse_angles_not_finite

if TYPE_CHECKING:
    from ..._core import NearestHistogram, PageFilesPlan
    from ...algo.selection import SelectionCounts
    from ...formats.star.particle_writer import OnePass
    from .plan import Deciding, ReadPlan
    from .regions import Regions

__all__ = [
    "DECISIONS_FILE",
    "REJECTION_RULES",
    "ParticleDecision",
    "Rule",
    "decide",
    "finished",
    "input_voters",
    "one_pass",
    "ranking_scores",
    "trimmed",
    "warn_not_confirmable",
    "widened",
]


def _silent(message: str, level: str) -> None:
    pass


class Rule(IntEnum):
    """The rules that reject a row, as the record of rejections numbers them (``record.Rejections.rule``)."""

    SCORE = 0  # the partner (kept, within the distance) had the better score
    PRIORITY = 1  # the partner's input is preferred (--prefer)
    INPUT_ORDER = 2  # scores tied (or both without a score): the partner's input was given first
    ROW_ORDER = 3  # scores tied within one input: the partner comes first in it
    RANDOM_ORDER = 4  # no scores (--score none): the seeded random ranking put the partner first
    SAME_IMAGE = 5  # the partner holds the same particle image at another centre (--same-image reject)
    WHOLE_TUBE = 6  # the row's tube lay along a better tube and went whole (--filament-mode tube)
    REMOVE_ENTIRELY = 7  # the row had a neighbour within the distance (the partner: its nearest)
    CONSENSUS_SUPPORT = 8  # too few inputs picked near it (--min-support); no partner
    UNCOVERED_MICROGRAPH = 9  # too few inputs ran on its micrograph (--uncovered reject); no partner
    CROSS_SPECIES_OVERLAP = 10  # a kept pick of another species overlaps it (--cross-species)
    # 11: a runner's rule (:data:`RUNNERS_RULES`), which the stages of the plain path never give
    OUTSIDE_THE_MASK = 12  # its centre lies outside --mask (or beyond its extent); no partner
    AT_THE_EDGE = 13  # its centre lies within --edge of its micrograph's edge; no partner
    BEST_SELECTION = 14  # the partner is a kept duplicate of the set of best score or most picks (--select)
    OVERRIDE = 15  # --overrides: forced rejected (no partner), or within the distance of a forced keep (the partner)
    HALFSET_TRIM = 16  # kept, then trimmed from the larger half-set to balance the halves (--halfsets trim); no partner


#: The rules a runner's stages reject rows by (the plain path's never give them), by number, named in the record with
#: :class:`Rule`'s: 11, an ``--update`` round's (a particle it kept earlier lies within the distance: ``update.py``).
RUNNERS_RULES: dict[int, str] = {11: "earlier round"}

#: The rules as the record of rejections names them (:class:`Rule` indexes this; ``record.RULES``; the page's
#: files of picks, which a one-pass scan makes as it decides, index them too): each rule's name in lower case.
_RULE_NAMES: dict[int, str] = {
    **{rule: rule.name.lower().replace("_", " ").replace("cross species", "cross-species") for rule in Rule},
    **RUNNERS_RULES,
}
REJECTION_RULES = tuple(_RULE_NAMES[number] for number in range(len(_RULE_NAMES)))

#: The record of every rejection's file in the output folder (``--decisions``: the one-pass scan writes it, else
#: :mod:`.record`).
DECISIONS_FILE = "decisions.csv"


def one_pass(read: ReadPlan, facts: StarFacts) -> OnePass | None:
    """Whether the STAR reader decides while it scans, and the rule it decides by: the one place this is decided.

    One pass makes a plain duplicate removal of one file, pictures included (their example
    micrographs decided again): the plan allows it (``plan._one_pass_allowed``: no audit,
    half-set rewrite, orientations, consensus support, rank normalisation, ``--min-dist-z`` ...),
    and no half-sets (their audit), filaments or subtomograms in the rows, each of which needs
    every pair of duplicates or a second look at the rows (docs/design.md section 5).
    ``facts``: what the reader found in the headers. The rule is the two-pass route's start
    (:attr:`.plan.Deciding.duplicate_rule`). The scan keeps each rejected row's partner where
    the pictures' page names it (``--plot``), and writes the record of rejections
    (:data:`DECISIONS_FILE`) where it is asked (``--decisions``), as it writes the rows.
    """
    from ...formats.star.particle_writer import (
        OnePass,
    )  # (asked by the STAR reader alone: a .cs run loads no STAR code)

    plain = read.one_pass is not None and facts.inputs == 1
    plain = plain and not (facts.halfsets or facts.filaments or facts.subtomograms)
    if not plain or read.one_pass is None:
        return None
    forced: tuple[tuple[int, bool], ...] = ()
    if read.overrides is not None:
        from .overrides import forced_in_scan

        # (the page's files of picks are made by the two-pass route where rows are forced: their rules are its)
        found = None if read.plot or not facts.names else forced_in_scan(read.overrides, facts.names[0])
        if found is None:
            return None
        forced = found
    pictures, page, folder = _pictures(read.one_pass.min_dist) if read.plot else (None, None, None)
    record = DECISIONS_FILE if read.record else None
    return OnePass(
        read.one_pass,
        partners=read.partners,
        record=record,
        pictures=pictures,
        page=page,
        page_folder=folder,
        forced=forced,
    )


def _pictures(min_dist: float) -> tuple[NearestHistogram, PageFilesPlan, str]:
    """What ``--plot`` asks a one-pass scan to make as it decides: the nearest-neighbour histogram, the page's files.

    And the page's folder, beside which the scan writes those files as it makes them. The
    pictures' modules are imported on a thread meanwhile (:func:`_import_the_pictures`).
    """
    from ...report.scan_plans import PAGE_FOLDER, nearest_plan, page_files_plan  # (Pillow and the pictures': not yet)

    threading.Thread(target=_import_the_pictures, name="cryodedup-import-pictures", daemon=True).start()
    return nearest_plan(min_dist), page_files_plan(REJECTION_RULES), PAGE_FOLDER


def _import_the_pictures() -> None:
    """The modules the pictures are drawn with (Pillow's too), imported while the scan decides with Python's lock free.

    Imported before and after the scan they stood in its way: 0.25 to 0.3 s uncompiled,
    0.1 to 0.18 s from bytecode, on the shared 2-core machine.
    The job's own (``pictures.py``, ``page.py``, ``record.py``, which import this module) are
    imported after the scan, as before. An import that fails here fails again where the job
    imports it, and says so there.
    """
    try:
        from ...report import (  # noqa: F401 (imported for the job, once the scan ends)
            consensus_figures,
            density_figures,
            html_report,
            micrograph_page,
            particle_charts,
            picks_figures,
            registration_figures,
            verdict,
        )
        from ...report.sections import import_all
        from .regions import regions_of  # noqa: F401 (page.py's)

        import_all()  # (the report's rows)
    except Exception:  # (said where the job imports it)
        return


#: A decision's ties where none were counted.
_NO_TIES = Ties(0, 0)


@dataclass
class ParticleDecision:
    """Which rows are kept, and why the others are not.

    ``suppressed_by`` is the kept-first duplicate of a row rejected as a duplicate (-1
    otherwise), None unless pictures need it; ``confirmed_by`` is, per row, the bitmask of inputs with a row within the
    minimum distance on its micrograph, its own input included (None with one input);
    ``unconfirmed`` marks the rows that no duplicate displaced but that too few inputs
    confirm (None without ``--min-support`` above 1); ``not_confirmable`` the rows that no
    duplicate displaced on micrographs fewer than ``--min-support`` inputs ran on (kept,
    or rejected with ``--uncovered reject``; None without ``--min-support`` above 1);
    ``covered`` whether input k ran on micrograph g (several inputs only);
    ``ranked_scores`` are the scores compared, when not as read (``--score-normalize
    rank``: percentiles within each input); ``levels`` each input's priority level and
    ``priority`` the groups each level decided (``DedupResult.priority``).
    """

    keep: np.ndarray
    suppressed_by: np.ndarray | None
    confirmed_by: np.ndarray | None
    unconfirmed: np.ndarray | None = None
    ranked_scores: np.ndarray | None = None
    not_confirmable: np.ndarray | None = None
    covered: np.ndarray | None = None
    #: Per row, the kept pick of another species that displaced it (--cross-species), else -1.
    displaced_by: np.ndarray | None = None
    #: Each input's priority level (``--prefer``; lower first), None without priorities.
    levels: np.ndarray | None = None
    #: The groups each level decided, as the core counted them (None without priorities).
    priority: PriorityCounts | None = None
    #: The levels ``--prefer`` named, most preferred first (None without it): the summary's names.
    preference: list[Level] | None = None
    #: The rows ``--mask`` and ``--edge`` rejected before the duplicates were looked for (None: neither asked).
    regions: Regions | None = None
    #: With ``--select`` other than greedy: its components and how it differs from the greedy walk.
    selection: SelectionCounts | None = None
    #: The groups decided between inputs tied on the score (by their order, or by ``--prefer``; none where not counted).
    ties: Ties = _NO_TIES
    #: The normalisation the scores were compared by (``--score-normalize``; None: as read).
    normalisation: Normalisation | None = None
    #: ``--overrides``: the rows the file decided (forced, or rejected by a forced keep); None without forced rows.
    overridden: np.ndarray | None = None
    #: The rows kept by the rules above, then rejected to balance the half-sets (``--halfsets trim``); None: not asked.
    trimmed: np.ndarray | None = None

    @property
    def duplicate(self) -> np.ndarray:
        """The rows rejected as duplicates by the distance rule (not those a consensus, a mask or an edge rejected)."""
        duplicate = rejected_as_duplicates(self.keep, self.unconfirmed, self.not_confirmable)
        if self.trimmed is not None:
            duplicate = duplicate & ~self.trimmed
        return duplicate if self.regions is None else duplicate & (self.regions.dropped == 0)

    @property
    def support(self) -> np.ndarray | None:
        """Number of distinct inputs confirming each row (its own included)."""
        return None if self.confirmed_by is None else popcount(self.confirmed_by)


def decide(
    particles: ParticleSet,
    rule: Deciding,
    log: Log = _silent,
    regions: Regions | None = None,
    forced: np.ndarray | None = None,
) -> ParticleDecision:
    """Which rows to keep: each species on its own, then (``--cross-species``) between species.

    One species (no species given) is decided by :func:`decide_species`, as it always was.
    ``rule``: the plan's, resolved for these rows (``ParticlePlan.for_rows``);
    ``regions``: the rows ``--mask`` and ``--edge`` drop, found before (``regions.regions_of``);
    ``forced``: ``--overrides``' rows (``overrides.Forced.rows``; None: none), decided by :func:`_overridden`.
    """
    if forced is not None and forced.any() and particles.decided is not None:  # (one pass: the scan decided them)
        return finished(particles, _scanned_overrides(particles, rule, log), rule)
    if forced is not None and forced.any():
        return finished(particles, _overridden(particles, rule, log, forced, regions), rule)
    return finished(particles, _decided(particles, rule, log, regions), rule)


def _overridden(
    particles: ParticleSet, rule: Deciding, log: Log, forced: np.ndarray, regions: Regions | None
) -> ParticleDecision:
    """The decision with forced rows: keeps kept, rejects rejected, the rows a keep rejects rejected; the rest decided.

    The rest is decided as a run on those rows alone decides them (``overrides.py``): the rows the
    file decided are each put on a micrograph of their own, where they meet no row (no copy of the
    rows: at 1M rows a subset's arrays were 0.3 s), and their decision is then the file's.
    ``regions`` (``--mask``, ``--edge``): a forced row is the file's wherever it lies (a forced
    keep outside the mask kept); a row not forced that they drop is theirs, near a forced keep or not.
    """
    from .overrides import KEEP, NOT_FORCED, blocked_by_forced

    blocked, by = blocked_by_forced(particles, forced, rule, rule_for_rows(particles, rule)[0])
    if regions is not None:
        inside = regions.dropped == 0
        by = np.where(blocked & ~inside, -1, by)
        blocked &= inside
        regions = replace(
            regions, dropped=np.where(forced != NOT_FORCED, 0, regions.dropped).astype(regions.dropped.dtype)
        )
    overridden = (forced != NOT_FORCED) | blocked
    apart = np.flatnonzero(overridden)
    n_mics = len(particles.mic_names)
    groups = np.array(particles.groups, copy=True)
    groups[apart] = n_mics + np.arange(apart.size)
    alone = [f"(decided by --overrides: {k})" for k in range(apart.size)]
    decision = _decided(replace(particles, groups=groups, mic_names=[*particles.mic_names, *alone]), rule, log, regions)
    keep = np.where(overridden, forced == KEEP, decision.keep)
    suppressed_by = None if decision.suppressed_by is None else np.where(overridden, by, decision.suppressed_by)
    covered = None if decision.covered is None else decision.covered[:n_mics]
    return replace(decision, keep=keep, suppressed_by=suppressed_by, covered=covered, overridden=overridden)


def _scanned_overrides(particles: ParticleSet, rule: Deciding, log: Log) -> ParticleDecision:
    """The decision a one-pass scan made with the forced rows (``overrides.forced_in_scan``), the rows they decided."""
    assert particles.decided_overridden is not None, "the scan was given the forced rows"
    overridden = np.zeros(len(particles), dtype=bool)
    overridden[particles.decided_overridden] = True
    return replace(_decided(particles, rule, log, None), overridden=overridden)


def finished(particles: ParticleSet, decision: ParticleDecision, rule: Deciding) -> ParticleDecision:
    """The decision of every row with what the summary says of it, counted once on them all.

    How the scores were compared, and the ties the inputs' order broke (the merge of a run's
    shards, ``shards.py``, finishes the decision it puts together so).
    """
    ties = _ties(particles, decision, rule.remove_entirely, rule.filament_mode)
    return replace(decision, ties=ties, normalisation=rule.normalisation)


def _decided(particles: ParticleSet, rule: Deciding, log: Log, regions: Regions | None) -> ParticleDecision:
    """:func:`decide`'s decision: the rows ``regions`` drop rejected, the others decided species by species."""
    if regions is None or not regions.dropped.any():
        decision = _decide_species_apart(particles, rule, log)
        return decision if regions is None else replace(decision, regions=regions)
    inside = np.flatnonzero(regions.dropped == 0)
    if not inside.size:
        # (no partner for any row: the half-set audit and the record read the pairs all the same)
        no_partner = np.full(len(particles), -1, dtype=np.int64)
        return ParticleDecision(np.zeros(len(particles), dtype=bool), no_partner, None, regions=regions)
    rows = particles.rows(inside)  # (a species' rows: the species of each row is given back)
    if particles.species is not None:
        rows = replace(rows, species=np.take(particles.species, inside))
    if len(particles.inputs) > 1 and particles.coverage is None:
        # An input whose picks on a micrograph all lie outside the mask still ran there (--min-support).
        rows = replace(rows, coverage=coverage(particles, "auto"))
    return replace(widened(_decide_species_apart(rows, rule, log), inside, len(particles)), regions=regions)


def _decide_species_apart(particles: ParticleSet, rule: Deciding, log: Log) -> ParticleDecision:
    """Each species on its own (one species: :func:`decide_species`), then between species."""
    if particles.species is None:
        return decide_species(particles, rule, log)
    return _decide_several_species(particles, rule, log)


def _decide_several_species(particles: ParticleSet, rule: Deciding, log: Log) -> ParticleDecision:
    """Each species decided on its own (:func:`decide_species`, at its distance), then overlaps between species.

    Within a species, duplicates are removed as for one species, at the species' own minimum
    distance (``--min-dist NAME=Å``; a copick object's radius by default). With
    ``--cross-species``, picks of different species whose spheres overlap are then resolved
    (:mod:`cryodedup.algo.species`, docs/design.md section 13).
    """
    assert particles.species is not None
    own = rule.species_rules
    assert own is not None, "the plan is resolved for the rows (ParticlePlan.for_rows)"
    distances = rule.distances
    radii = distances.radii
    if len(own) == 1 and radii is None:  # one species: the rows as they are (a one-pass decision kept)
        return decide_species(particles, own[0], log)
    parts = []
    for s, species_rule in enumerate(own):
        rows = np.flatnonzero(particles.species == s)
        parts.append((rows, decide_species(particles.rows(rows), species_rule, log)))
    decision = _as_one(parts, len(particles))
    if rule.min_support == 1 and not _several_inputs_in_a_species(particles):
        # One input per species (--species per input): inputs never meet, no consensus to report.
        decision = replace(decision, confirmed_by=None, covered=None)
    if radii is None:
        return decision
    compared = decision.ranked_scores if decision.ranked_scores is not None else particles.scores
    higher = True if decision.ranked_scores is not None else particles.higher_is_better
    # --prefer's priority levels (lower first) go before any score, as within a species.
    levels = None if decision.levels is None else decision.levels[particles.input_of]
    ranks = cross_species_ranks(compared, particles.species, higher, rule.seed, priority=levels)
    displaced_by = suppress_overlaps(
        particles.groups, particles.centres, particles.species, ranks, decision.keep, radii, distances.overlap
    )
    return replace(decision, keep=decision.keep & (displaced_by < 0), displaced_by=displaced_by)


def _several_inputs_in_a_species(particles: ParticleSet) -> bool:
    assert particles.species is not None
    n_inputs = len(particles.inputs)
    pairs = particles.species.astype(np.int64) * n_inputs + particles.input_of
    present = np.bincount(pairs, minlength=len(particles.species_names) * n_inputs).reshape(-1, n_inputs) > 0
    return bool((present.sum(axis=1) > 1).any())


#: The ParticleDecision's per-row arrays, and the value of a row without one (the species' decisions merged as one).
_ROW_FIELDS = {
    "keep": False,
    "suppressed_by": -1,
    "confirmed_by": 0,
    "unconfirmed": False,
    "ranked_scores": np.nan,
    "not_confirmable": False,
    "overridden": False,
}


def _as_one(parts: list[tuple[np.ndarray, ParticleDecision]], n: int) -> ParticleDecision:
    """The species' decisions as one, row by row (a duplicate's suppressor renumbered to the whole set's rows)."""
    fields: dict = {}
    for name, fill in _ROW_FIELDS.items():
        pieces = [getattr(decision, name) for _, decision in parts]
        given = [piece for piece in pieces if piece is not None]
        if not given:
            fields[name] = None
            continue
        out = np.full(n, fill, dtype=given[0].dtype)
        for (rows, _), piece in zip(parts, pieces):
            if piece is not None:
                out[rows] = np.where(piece >= 0, rows[piece], -1) if name == "suppressed_by" else piece
        fields[name] = out
    covers = [decision.covered for _, decision in parts if decision.covered is not None]
    fields["covered"] = np.logical_or.reduce(covers) if covers else None
    # (each input's priority level is the whole set's; the groups each decided add up)
    fields["priority"] = reduce(added_counts, (decision.priority for _, decision in parts), None)
    from ...algo.selection import added_selection

    fields["selection"] = reduce(added_selection, (decision.selection for _, decision in parts), None)
    return replace(parts[0][1], **fields)


#: The per-row fields of a decision, and what a row decided elsewhere (outside the mask, at the edge) holds.
_ROW_FILLS = {**_ROW_FIELDS, "displaced_by": -1}


#: The per-row fields that name another row.
_PARTNERS = ("suppressed_by", "displaced_by")


def widened(decision: ParticleDecision, rows: np.ndarray, n: int) -> ParticleDecision:
    """The decision of the rows ``rows`` as one of all ``n`` rows (the others rejected; partners renumbered)."""
    fields: dict = {}
    for name, fill in _ROW_FILLS.items():
        piece = getattr(decision, name)
        if piece is None:
            continue
        out = np.full(n, fill, dtype=piece.dtype)
        # (a partner is a row of the part: renumbered as a row of the whole)
        out[rows] = np.where(piece >= 0, rows[np.maximum(piece, 0)], -1) if name in _PARTNERS else piece
        fields[name] = out
    return replace(decision, **fields)


def decide_species(particles: ParticleSet, rule: Deciding, log: Log = _silent) -> ParticleDecision:
    """Which rows of one species to keep.

    Duplicates are removed by score-ordered greedy suppression over all inputs; then, with
    ``min_support`` K > 1, a kept row on a micrograph that at least K inputs ran on stays
    kept only if rows of at least K distinct inputs (its own included, kept or suppressed)
    lie within ``min_dist``. Elsewhere it cannot be confirmed: it stays kept, or is rejected
    with ``--uncovered reject``.
    """
    n_inputs = len(particles.inputs)
    voters = input_voters(particles)
    _refuse_support_beyond_voters(particles, voters, rule.min_support)
    scores, higher = particles.scores, particles.higher_is_better
    entry = rule.normalisation
    if entry.apply is not None and scores is not None:
        scores, higher = entry.apply(scores, labels(entry, particles.input_of, particles.groups), higher)
    ranked = None if scores is particles.scores else scores
    if rule.select == "best-score":
        from ...algo.selection import refuse_negative_scores, unscored_in_sum

        column = particles.score_label if ranked is None else "the normalised score"
        refuse_negative_scores(scores, higher, column)
        if unscored := unscored_in_sum(scores, column):
            log(unscored, "warning")
    mics = len(particles.mic_names)
    log(f"removing duplicates among {len(particles):,} particles on {mics:,} micrograph{'s' * (mics != 1)}", "info")
    if particles.decided is not None:  # decided while read, as read_inputs asked (one_pass)
        return ParticleDecision(particles.decided, particles.decided_by, None)
    for given, flag in (
        (rule.distance.min_dist_z is not None, "--min-dist-z"),
        (rule.own_frame, "--min-dist-ellipsoid"),
    ):
        if given and particles.centres.shape[1] != 3:
            raise CryodedupError(
                f"{flag}: these particles are 2-D (micrograph coordinates, no z); it is for subtomograms"
            )
    preference, levels = rule.preference, rule.levels
    dedup_rule, want_pairs = rule_for_rows(particles, rule)
    groups, centres = particles.groups, particles.centres  # (the core walks micrographs that share an image as one)
    if n_inputs == 1:
        priorities = None if levels is None else np.zeros(len(particles), np.uint32)  # (one input: one level)
        result = find_duplicates(groups, centres, dedup_rule, Ranking(scores, higher, priorities), want_pairs)
        return ParticleDecision(
            result.keep,
            result.suppressed_by,
            None,
            ranked_scores=ranked,
            levels=levels,
            priority=result.priority,
            preference=preference,
            selection=result.selection,
        )
    # Each input's level, looked up by the core through the rows' inputs (no array of a level per row).
    ranking = Ranking(scores, higher, input_priorities=levels)
    result, confirmed_by = dedup_and_support_masks(groups, centres, particles.input_of, dedup_rule, ranking, want_pairs)
    # (--same-image reject: one image's rows confirm as one; the image keys the rule took, asked of the images once)
    confirmed_by = support_of_images(dedup_rule.images, confirmed_by)
    covered = coverage(particles, rule.coverage)
    keep, unconfirmed, not_confirmable = result.keep, None, None
    if rule.min_support > 1:
        keep, unconfirmed, not_confirmable = _supported(
            particles, result.keep, confirmed_by, covered, voters, rule.min_support, rule.uncovered
        )
    return ParticleDecision(
        keep,
        result.suppressed_by,
        confirmed_by,
        unconfirmed,
        ranked,
        not_confirmable,
        covered,
        None,
        levels,
        result.priority,
        preference,
        selection=result.selection,
    )


def _refuse_support_beyond_voters(particles: ParticleSet, voters: np.ndarray | None, min_support: int) -> None:
    """``--min-support`` above the number of inputs (copick: users) that can confirm a pick, refused."""
    n_inputs = len(particles.inputs)
    n_voters = n_inputs if voters is None else int(voters.max()) + 1
    if min_support <= n_voters:
        return
    if voters is not None:  # (copick: a user's sessions are one voice)
        users = "there is only 1 user" if n_voters == 1 else f"there are only {n_voters} users"
        raise CryodedupError(
            f"--min-support {min_support}: {users} ({', '.join(particles.inputs)}); support counts "
            "users, a user's sessions confirming as one"
        )
    inputs = "there is only 1 input" if n_inputs == 1 else f"there are only {n_inputs} inputs"
    raise CryodedupError(f"--min-support {min_support}: {inputs}; give each picker as its own input")


def _supported(
    particles: ParticleSet,
    kept: np.ndarray,
    confirmed_by: np.ndarray,
    covered: np.ndarray,
    voters: np.ndarray | None,
    min_support: int,
    uncovered: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The consensus rule on the rows ``kept`` as duplicates: (keep, unconfirmed, not confirmable).

    A kept row stays kept when rows of ``--min-support`` inputs (voters) confirm it; on a
    micrograph fewer of them ran on it cannot be confirmed, and ``--uncovered`` says its fate.
    """
    supported = popcount(_by_voter(confirmed_by, voters)) >= min_support
    confirmable = (_voters_covering(covered, voters) >= min_support)[particles.groups]
    not_confirmable = kept & ~confirmable
    keep = kept & (supported | (not_confirmable if uncovered == "keep" else False))
    return keep, kept & confirmable & ~supported, not_confirmable


def input_voters(particles: ParticleSet) -> np.ndarray | None:
    """Each input's voice in ``--min-support``: copick pick sets of one user are one (None: each input its own).

    alice/1 and alice/2 are one annotator's two sessions: her picks confirming each other is no
    agreement between annotators.
    """
    if not particles.pick_sets:
        return None
    users = [label.partition("/")[0] for label in particles.inputs]
    names = list(dict.fromkeys(users))
    if len(names) == len(users):
        return None
    return np.array([names.index(user) for user in users], dtype=np.uint64)


def _by_voter(confirmed_by: np.ndarray, voters: np.ndarray | None) -> np.ndarray:
    """The bitmask of inputs confirming each row as one of voters (each input's bit moved to its voter's)."""
    if voters is None:
        return confirmed_by
    masks = np.ascontiguousarray(confirmed_by, dtype=np.uint64)
    out = np.zeros_like(masks)
    for k, voter in enumerate(voters):
        out |= ((masks >> np.uint64(k)) & np.uint64(1)) << voter
    return out


def _voters_covering(covered: np.ndarray, voters: np.ndarray | None) -> np.ndarray:
    """How many voters ran on each micrograph (``covered``: n_micrographs x n_inputs)."""
    if voters is None:
        return covered.sum(axis=1)
    per_voter = np.zeros((covered.shape[0], int(voters.max()) + 1), dtype=bool)
    for k, voter in enumerate(voters):
        per_voter[:, int(voter)] |= covered[:, k]
    return per_voter.sum(axis=1)


def ranking_scores(particles: ParticleSet, decision: ParticleDecision) -> tuple[np.ndarray | None, bool]:
    """The scores the decision ranked by, and whether higher ranks first."""
    if decision.ranked_scores is not None:  # (--score-normalize rank: percentiles, higher first)
        return decision.ranked_scores, True
    return particles.scores, particles.higher_is_better


def trimmed(particles: ParticleSet, decision: ParticleDecision, seed: int) -> ParticleDecision:
    """The decision with the larger half-set's worst kept rows rejected until the halves balance (``--halfsets trim``).

    Ranked by the scores the decision ranked by (:func:`ranking_scores`), else at random by ``seed``
    (:func:`~cryodedup.algo.audit.halfset_trim`); a particle forced kept by ``--overrides`` is never trimmed. Made
    on the whole set's decision (a shard's part is trimmed by the merge of the shards).
    """
    from ...algo.audit import halfset_trim

    assert particles.halfsets is not None, "--halfsets trim is refused without half-sets"
    scores, higher = ranking_scores(particles, decision)
    forced_kept = None if decision.overridden is None else decision.overridden & decision.keep
    trim = halfset_trim(particles.halfsets.half, decision.keep, scores, higher, seed, fixed=forced_kept)
    return replace(decision, keep=decision.keep & ~trim, trimmed=trim)


def rule_for_rows(particles: ParticleSet, rule: Deciding) -> tuple[DuplicateRule, bool]:
    """The plan's rule (``Deciding.duplicate_rule``) with what the rows hold; and whether the pairs are wanted.

    What the rows hold: their tubes, images and orientations.

    The pairs (``suppressed_by``) serve the pictures, the record of rejections, the half-set audit and the ties.
    Refuses the rules that exclude each other: ``--same-image reject`` or ``--max-angle``
    with whole tubes, ``--max-angle`` without orientations or with orientations not finite.
    """
    # The half-set audit counts (rejected, suppressor) pairs (the core counts which priority decided a group).
    want_pairs = particles.halfsets is not None
    whole_tubes = particles.tubes is not None and rule.filament_mode == "tube"
    # (--same-image reject: the image keys of these rows, where the plan found one image's rows to join)
    images = particles.images.keys if rule.joins_images and particles.images is not None else None
    if whole_tubes and rule.select != "greedy":
        raise CryodedupError(
            f"--select {rule.select} keeps a set of picks, and --filament-mode tube keeps or rejects tubes whole: "
            "give --filament-mode segment"
        )
    if images is not None and whole_tubes:
        raise CryodedupError(
            "--same-image reject compares segments, and --filament-mode tube compares whole tubes: "
            "give --filament-mode segment, or --same-image warn"
        )
    # Ties on the score between inputs are counted from the pairs (8 bytes per particle, as the masks).
    want_ties = ties_countable(particles, rule.remove_entirely, whole_tubes)
    orientations = None
    if rule.max_angle is not None:
        if particles.poses is None:
            raise CryodedupError(
                "--max-angle: the particles carry no orientations (rlnAngleRot/Tilt/Psi, alignments3D/pose, "
                "a Dynamo table's tdrot/tilt/narot)"
            )
        if whole_tubes:
            raise CryodedupError("--max-angle and --filament-mode tube exclude each other: tubes are compared whole")
        refuse_angles_not_finite(particles)
        symmetry_setting(rule.sym, particles.pose_convention)  # (refused here, naming why, where not defined)
        orientations = Orientations(
            particles.poses, particles.pose_kind, rule.max_angle, rule.sym.upper(), particles.pose_convention
        )
    dedup_rule = replace(
        rule.duplicate_rule,
        orientations=orientations,
        tubes=particles.tubes,
        whole_tubes=whole_tubes,
        images=images,
        ellipsoid=own_frame_ellipsoid(particles, rule.distance.ellipsoid),
    )
    return dedup_rule, rule.partners or want_pairs or want_ties


def own_frame_ellipsoid(
    particles: ParticleSet, min_dist_ellipsoid: tuple[float, float, float] | None
) -> Ellipsoid | None:
    """``--min-dist-ellipsoid``'s ellipsoid turned by each row's pose (None without it), refused without poses.

    ``min_dist_ellipsoid``: one species' own (``jobs.species``).
    """
    if min_dist_ellipsoid is None:
        return None
    if particles.poses is None:
        raise CryodedupError(
            "--min-dist-ellipsoid turns each particle's ellipsoid by its pose, and the particles carry no "
            "orientations (rlnAngleRot/Tilt/Psi, alignments3D/pose, a Dynamo table's tdrot/tilt/narot)"
        )
    refuse_angles_not_finite(particles)
    return Ellipsoid(particles.poses, tuple(min_dist_ellipsoid), particles.pose_kind)


def ties_countable(particles: ParticleSet, remove_entirely: bool, whole_tubes: bool) -> bool:
    """Whether groups decided between inputs that tie on the score can be counted (issue 54, section 5).

    Several inputs ranked by a score, a kept row for each group (not ``--remove-entirely``)
    and rows ranked one by one (not whole tubes, ranked by their mean score).
    """
    several = len(particles.inputs) > 1 and particles.scores is not None
    return several and not remove_entirely and not whole_tubes


def _ties(particles: ParticleSet, decision: ParticleDecision, remove_entirely: bool, filament_mode: str) -> Ties:
    """The groups decided between inputs tied on the score the decision ranked by (none where not counted).

    Only where :func:`ties_countable`: the pairs ``--plot`` or ``--decisions`` ask for are
    also there with ``--remove-entirely`` (a rejected row's nearest, no kept row) or whole tubes.
    """
    scores = ranking_scores(particles, decision)[0]
    whole_tubes = particles.tubes is not None and filament_mode == "tube"
    if decision.suppressed_by is None or scores is None or not ties_countable(particles, remove_entirely, whole_tubes):
        return _NO_TIES
    return tied_groups(decision.suppressed_by, scores, particles.input_of, decision.levels)


def coverage(particles: ParticleSet, rule: str) -> np.ndarray:
    """Whether input k ran on micrograph g, shape (n_micrographs, n_inputs).

    ``all`` (``--coverage all``): every input on every micrograph. ``auto``: as the inputs
    say (a picker's job names the micrographs it ran on); inputs that do not say are taken
    to have run on the micrographs they have rows on.
    """
    n_mics, n_inputs = len(particles.mic_names), len(particles.inputs)
    if rule == "all":
        return np.ones((n_mics, n_inputs), dtype=bool)
    if particles.coverage is not None:
        return particles.coverage
    return picks_per_group(particles.input_of, particles.groups, n_mics, n_inputs) > 0


def warn_not_confirmable(
    particles: ParticleSet, decision: ParticleDecision, min_support: int, uncovered: str, warn: Warn
) -> None:
    """Says how many picks could not be confirmed (too few inputs ran on their micrographs), and their fate."""
    if decision.not_confirmable is None or decision.covered is None or not decision.not_confirmable.any():
        return
    fate = "kept (--uncovered reject rejects them)" if uncovered == "keep" else "rejected (--uncovered reject)"
    if particles.species is not None:  # (coverage is each species' own: the inputs that hold it)
        return warn(_species_not_confirmable(particles, decision.not_confirmable, min_support, fate))
    short = np.flatnonzero(_voters_covering(decision.covered, input_voters(particles)) < min_support)
    example = particles.mic_names[short[0]]
    lone = int(decision.not_confirmable.sum())
    warn(
        f"{counted(lone, 'pick')} {'lies' if lone == 1 else 'lie'} on {len(short):,} of {len(particles.mic_names):,} "
        f"micrographs that fewer than {min_support} inputs ran on (e.g. {example}), so --min-support "
        f"{min_support} cannot be asked of them: {fate}"
    )


def _species_not_confirmable(particles: ParticleSet, not_confirmable: np.ndarray, min_support: int, fate: str) -> str:
    """Why picks of several species could not be confirmed: too few inputs hold their species there.

    Support is asked within a species, so an input of another species on the same
    tomogram does not count: the warning names the species and how many inputs hold it.
    """
    assert particles.species is not None
    names, n_inputs = particles.species_names, len(particles.inputs)
    rows = np.flatnonzero(not_confirmable)
    pairs = particles.species.astype(np.int64) * n_inputs + particles.input_of
    holds = np.bincount(pairs, minlength=len(names) * n_inputs).reshape(-1, n_inputs) > 0
    by_species = np.bincount(particles.species[rows], minlength=len(names))
    parts = []
    for s in np.flatnonzero(by_species):
        held = int(holds[s].sum())
        inputs = "1 input holds" if held == 1 else f"{held} inputs hold"
        mics = np.unique(particles.groups[rows[particles.species[rows] == s]])
        where = (
            f"{len(mics):,} {'micrograph' if len(mics) == 1 else 'micrographs'} (e.g. {particles.mic_names[mics[0]]})"
        )
        parts.append(
            f"{by_species[s]:,} {names[s]} pick{'' if by_species[s] == 1 else 's'} on {where}: {inputs} {names[s]}"
            + ("" if held < min_support else f", fewer than {min_support} of them there")
        )
    return (
        f"{'; '.join(parts)}; --min-support {min_support} is asked within each species, so it cannot be asked "
        f"of these {len(rows):,} picks: {fate}"
    )
