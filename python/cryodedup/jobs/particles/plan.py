"""The particle job's plan: its options resolved once into the typed values each stage takes.

:func:`plan` is the one place the job reads its options (``ParticleOptions``, filled by the
command line, the Python API and the pipeline plugins): it builds what the readers are asked
(:class:`ReadPlan`), the decision's rule (:class:`Deciding`: the distance, the ranking, the
selection, the consensus, the regions), the registration's check and the outputs
(:class:`ParticleOutputPlan`: which files, the partners kept, the pictures, the record), and the
options' values it was made from (``given``: an ``--update`` round's runner builds its own part
of them, ``update.round_runner``). What the inputs say joins it once they are read:
:meth:`ParticlePlan.for_rows` resolves, once, each species' distance (:class:`Distances`) and
rule, ``--prefer``'s levels and whether one image's rows are joined (``--same-image reject``).
No stage sees the options themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...algo.dedup import DuplicateRule
from ...algo.normalisation import Normalisation, normalisation
from ...algo.priority import input_levels, named_levels, preference
from ...algo.same_image import images_for_the_core
from ...errors import CryodedupError
from ...formats.overrides import Overrides, read_overrides
from ...formats.read_request import CopickSelection, ReadRequest, RowRead, Scale, ScoreRead
from ...formats.sniff import is_glob
from ...labels import listed
from ...options.fields import DECISION, marked_options, shown_values
from ...options.particles import ParticleOptions
from ...resolve import pixel_size_source
from ...resolve.given_psize import judge_typed_psize

if TYPE_CHECKING:
    from ...algo.priority import Level
    from ...particle_set import ParticleSet
    from ...report.html_report import Parameters

__all__ = [
    "DECISION_OPTIONS",
    "Deciding",
    "Distances",
    "ParticleOutputPlan",
    "ParticlePlan",
    "ReadPlan",
    "RegionsAsked",
    "RegistrationCheck",
    "SpeciesAsked",
    "plan",
]

# The plan's records are frozen but never compared: ``eq=False`` spares each class the
# generated ``__eq__``/``__hash__`` that Python compiles at every start (about 1M instructions a
# class, 0.3 % of a 1M-particle run's; the instructions guard of benches/RESULTS.md).

#: The options that decide which particles are duplicates (marked ``affects=DECISION`` where declared):
#: an ``--update`` store records them (``store.decision_record``) and refuses a round given others.
DECISION_OPTIONS = marked_options(ParticleOptions, DECISION)

#: One ellipsoid's semi-axes in Å, along the particle's x, y, z (``--min-dist-ellipsoid``).
Axes = tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Distance:
    """One distance rule: all rows' (no species) or one species'."""

    #: ``--min-dist`` (Å), as given (the default's type kept: copick objects then take their radius).
    min_dist: float
    #: ``--min-dist-z`` (Å; None: a sphere).
    min_dist_z: float | None = None
    #: ``--min-dist-ellipsoid``'s semi-axes (None: none).
    ellipsoid: Axes | None = None


@dataclass(frozen=True, eq=False)
class Distances:
    """The distance rule resolved for the rows read, once: all rows' (``base``) and each species' own.

    ``species``: per species (``ParticleSet.species_names``' order), None without species;
    ``radii``: each species' radius for ``--cross-species`` (None without it); ``overlap``:
    ``--overlap``; ``z_by_species``: whether ``--min-dist-z NAME=Å`` was given (the summary then
    names each species' own); ``own_frame``: whether any ``--min-dist-ellipsoid`` was given.
    """

    base: Distance
    species: tuple[Distance, ...] | None = None
    radii: np.ndarray | None = None
    overlap: float = 1.0
    z_by_species: bool = False
    own_frame: bool = False

    @property
    def by_species(self) -> list[float]:
        """Each species' minimum distance (Å)."""
        assert self.species is not None, "asked of rows with species"
        return [d.min_dist for d in self.species]

    @property
    def z_of_species(self) -> list[float | None]:
        """Each species' minimum distance along z (None: a sphere)."""
        assert self.species is not None, "asked of rows with species"
        return [d.min_dist_z for d in self.species]

    @property
    def ellipsoids(self) -> list[Axes | None]:
        """Each species' ellipsoid in its own frame (None: none); without species, the one given."""
        if self.species is None:
            return [self.base.ellipsoid]
        return [d.ellipsoid for d in self.species]

    def used(self) -> tuple[float | None, float | None]:
        """The summary's ``min_dist_A`` and ``min_dist_z_A``: the distances every species used, None where they differ.

        Without species, the options'. Species each at their own distance say it per species: a
        distance no species used (the default 20 Å beside each species' own) is not named.
        """
        if self.species is None:
            return None if self.own_frame else self.base.min_dist, self.base.min_dist_z
        if all(d.ellipsoid is not None for d in self.species):  # (no sphere: said by its section)
            return None, None
        distances = set(self.by_species)
        along_z = set(self.z_of_species)
        return (
            distances.pop() if len(distances) == 1 else None,
            along_z.pop() if len(along_z) == 1 else None,
        )


@dataclass(frozen=True, eq=False)
class SpeciesAsked:
    """What the options say of species: their names, each one's distances, ``--cross-species``.

    Resolved against the rows' species once read (:meth:`resolved`).
    """

    #: ``--species``: each input's species, in the order of the inputs (empty: none named so).
    names: tuple[str, ...] = ()
    #: ``--species-column``.
    column: str | None = None
    cross_species: bool = False
    overlap: float = 1.0
    #: ``--radius NAME=Å``.
    radius: dict[str, float] = field(default_factory=dict)
    #: ``--min-dist NAME=Å``, ``--min-dist-z NAME=Å``, ``--min-dist-ellipsoid NAME=A,B,C``.
    min_dist: dict[str, float] = field(default_factory=dict)
    min_dist_z: dict[str, float] = field(default_factory=dict)
    ellipsoids: dict[str, Axes] = field(default_factory=dict)
    #: Whether ``--min-dist`` was given (else copick objects take their radius).
    min_dist_given: bool = True

    def unresolved(self, base: Distance, own_frame: bool) -> Distances:
        """The distance rule before the rows are read: all rows' alone (``own_frame``: an ellipsoid is given)."""
        return Distances(base, overlap=self.overlap, z_by_species=bool(self.min_dist_z), own_frame=own_frame)

    def resolved(self, particles: ParticleSet, base: Distance, own_frame: bool) -> Distances:
        """The distance rule of ``particles``: each species' own distances, computed here once.

        A species' distance is its ``--min-dist NAME=Å``, else a given ``--min-dist``, else its
        radius where the input gives one (a copick object), else the default 20 Å; along z its
        ``--min-dist-z NAME=Å``, else ``--min-dist-z``; its ellipsoid its own, else the bare one.
        """
        resolved = self.unresolved(base, own_frame)
        if particles.species is None:
            return resolved
        names = particles.species_names
        own = particles.species_radii if not self.min_dist_given else {}
        species = tuple(
            Distance(
                float(self.min_dist.get(name, own.get(name, base.min_dist))),
                self.min_dist_z.get(name, base.min_dist_z),
                self.ellipsoids.get(name, base.ellipsoid),
            )
            for name in names
        )
        at = {name: d.min_dist for name, d in zip(names, species)}
        radii = _species_radii(particles, self.radius, at) if self.cross_species else None
        return replace(resolved, species=species, radii=radii)

    def absent(self, particles: ParticleSet) -> list[str]:
        """What to say of the species ``--min-dist NAME=Å`` and ``--radius NAME=Å`` name that ``particles`` do not hold.

        One configuration serves every tomogram of a project, and a tomogram may hold no pick of a
        species it names: that is no mistake to refuse, but a typo looks the same, so it is said.
        """
        if particles.species is None:
            return []
        names = particles.species_names
        named = (
            ("--min-dist", self.min_dist),
            ("--min-dist-z", self.min_dist_z),
            ("--min-dist-ellipsoid", self.ellipsoids),
            ("--radius", self.radius),
        )
        said = []
        for flag, given in named:
            absent = [name for name in given if name not in names]
            if absent:
                said.append(
                    f"{flag} {listed([f'{name}=...' for name in absent])}: no species {listed(absent)} in these "
                    f"particles (the species are {', '.join(names)}), so not used"
                )
        return said


def _species_radii(particles: ParticleSet, radius: dict[str, float], at: dict[str, float]) -> np.ndarray:
    """Each species' radius for ``--cross-species``: ``--radius NAME=Å``, else the input's (copick).

    ``at``: each species' minimum distance, which the refusal of a species without a radius
    prints as its value (a copick object's radius is its distance, the other way round), so
    the option it names runs as printed; the user puts each radius in its place.
    """
    names = particles.species_names
    radii = {**particles.species_radii, **radius}
    missing = [name for name in names if name not in radii]
    if missing:
        pairs = ",".join(f"{name}={at[name]:g}" for name in missing)
        one = len(missing) == 1
        its = "its" if one else "each one's"
        raise CryodedupError(
            f"--cross-species compares each species' size, and {listed(missing)} {'has' if one else 'have'} none: "
            f"give --radius {pairs} ({its} distance as its radius, as a copick object's distance is its radius), "
            f"or {its} radius in Å"
        )
    return np.array([radii[name] for name in names], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class RegionsAsked:
    """``--mask`` and ``--edge``, and where their files are found (``regions.regions_of``).

    (``--micrographs``' tomograms STAR, which places RELION 5's centred Å, is read by the job once:
    ``regions.tomograms_of``.)
    """

    mask: Path | None
    mask_label: int | None
    mask_psize: float | None
    edge: float | None
    #: ``--project-dir``: where the micrographs' images are found (their sizes, a folder of masks named after them).
    project_dir: Path | None

    @property
    def asked(self) -> bool:
        """Whether either is asked."""
        return self.mask is not None or self.edge is not None


@dataclass(frozen=True)
class AuditAsked:
    """``--audit``: a report only, the half-set audit asked, and ``--fsc``'s file (None: none given).

    ``fsc``: the refinement's FSC the audit estimates the straddling pairs' effect on.
    """

    fsc: Path | None = None


@dataclass(frozen=True, eq=False)
class Deciding:
    """What the decision takes: the distance, the ranking and selection, the pairing, the consensus, the regions.

    ``distance`` is the rule of the rows being decided (a species' own, in its turn);
    ``distances`` every species' (:meth:`ParticlePlan.for_rows`).
    """

    distance: Distance
    distances: Distances
    #: The ranking: ``--remove-entirely``, ``--seed``, ``--select``, ``--score-normalize``, ``--prefer``.
    remove_entirely: bool = False
    seed: int = 0
    select: str = "greedy"
    score_normalize: str = "none"
    prefer: tuple[str | Path | int, ...] = ()
    #: The priority levels ``--prefer`` names, most preferred first, as the rows' inputs are named, and each
    #: input's level (lower first); None without it: parsed once (:meth:`ParticlePlan.for_rows`).
    preference: list[Level] | None = None
    levels: np.ndarray | None = None
    #: What makes a pair beyond the distance: ``--filament-mode``, ``--max-angle``, ``--sym``, ``--same-image``.
    filament_mode: str = "segment"
    max_angle: float | None = None
    sym: str = "C1"
    same_image: str = "warn"
    #: The consensus: ``--min-support``, ``--coverage``, ``--uncovered``.
    min_support: int = 1
    coverage: str = "auto"
    uncovered: str = "keep"
    #: ``--mask``, ``--edge``.
    regions: RegionsAsked | None = None
    #: Whether each rejected row's partner is kept (the pictures' page, the record of rejections).
    partners: bool = False
    #: Each species' rule, at its own distance (None without species): :meth:`for_species`, made once by
    #: :meth:`ParticlePlan.for_rows`.
    species_rules: tuple[Deciding, ...] | None = None
    #: Whether the core's rule joins the rows of one image (``--same-image reject``, and the rows hold an image
    #: twice): asked of the rows' images once (:meth:`ParticlePlan.for_rows`); the decision and the record take it.
    joins_images: bool = False
    #: ``--audit``: the decision is a report only, the half-set audit asked (None: not), with ``--fsc``'s file.
    audit: AuditAsked | None = None
    #: ``--overrides``: the user's corrections, read once here (None: none); matched to the rows once read
    #: (``overrides.forced_rows``).
    overrides: Overrides | None = None
    #: ``--update``: the rows are one batch of several (an override naming another batch's input names nothing).
    batches: bool = False
    #: The core's rule before the rows are read, made once of the distance and the ranking: the one-pass
    #: route's whole rule, the two-pass route's start (``decide.rule_for_rows`` adds what the rows hold).
    duplicate_rule: DuplicateRule = field(init=False)
    #: ``--score-normalize``'s entry (``algo.normalisation``), looked up once.
    normalisation: Normalisation = field(init=False)

    def __post_init__(self) -> None:
        d = self.distance
        rule = DuplicateRule(d.min_dist, d.min_dist_z, self.remove_entirely, self.seed, selection=self.select)
        object.__setattr__(self, "duplicate_rule", rule)  # (frozen: set once, here)
        object.__setattr__(self, "normalisation", normalisation(self.score_normalize))

    @property
    def own_frame(self) -> bool:
        """Whether an ellipsoid in each particle's frame is given, for any species."""
        return self.distances.own_frame

    def for_species(self) -> tuple[Deciding, ...] | None:
        """Each species' rule, at its own distance (``ParticleSet.species_names``' order); None without species."""
        if self.distances.species is None:
            return None
        return tuple(replace(self, distance=distance) for distance in self.distances.species)


@dataclass(frozen=True, eq=False)
class ReadPlan:
    """What reading takes, before any row exists: the readers' request and the checks made as they read."""

    #: What the format readers are asked (``--prefer``'s inputs joined once parsed: :meth:`request_with`).
    request: ReadRequest
    #: ``--mic-psize INPUT=Å``.
    input_psize: dict[str, float]
    #: ``--dataset INPUT=LABEL``.
    datasets: tuple[str, ...]
    species: SpeciesAsked
    #: ``--prefer``'s values and ``--remove-entirely`` (which ignores them), parsed against the paths.
    prefer: tuple[str | Path | int, ...]
    remove_entirely: bool
    #: ``--audit`` and ``--plot``: whether an output folder is needed.
    audit: bool
    plot: bool
    #: ``--project-dir``: where relative paths start (optimisation sets, micrographs' images).
    project_dir: Path | None
    #: The one-pass decision the options allow (None: they need two passes); whether its scan keeps each
    #: rejected row's partner (``--plot``'s page) and writes the record of rejections (``--decisions``) itself.
    one_pass: DuplicateRule | None
    partners: bool
    record: bool
    #: ``--overrides``' file (None: none): a one-pass scan decides its forced rows with the others.
    overrides: Overrides | None
    #: Options said unused when the inputs give them nothing to act on (``read.warn_unused_options``).
    topaz_scale: float | None
    insist_angles: bool

    def request_with(self, held: list[list[int]] | None) -> ReadRequest:
        """The readers' request, with the inputs each ``--prefer`` value names (None: one level for all)."""
        if held is None:
            return self.request
        prefer_held = tuple(tuple(levels) for levels in held)
        return replace(self.request, score_read=replace(self.request.score_read, prefer_held=prefer_held))

    def with_micrographs(self, micrographs: Path) -> ReadPlan:
        """The plan with ``--micrographs`` given (an optimisation set's tomograms file), its pixel sizes' source too."""
        scale = self.request.scale
        scale = replace(scale, micrographs=micrographs, psize_from=pixel_size_source(scale.mic_psize, micrographs))
        return replace(self, request=replace(self.request, scale=scale))

    def shift_aware(self) -> ReadPlan:
        """The plan reading the inputs with their origins subtracted and no ``--transform`` (``--shift-key none``)."""
        # (--shift-key auto: the pixel size decides again, as it does but at --min-dist 0 --shift-key none)
        scale = replace(self.request.scale, pixel_size_decides=True)
        row_read = replace(self.request.row_read, shift_key="auto")
        return replace(self, request=replace(self.request, scale=scale, row_read=row_read, moves_inputs=False))


@dataclass(frozen=True, eq=False)
class RegistrationCheck:
    """``--registration`` and what its check and ``--transform`` take."""

    mode: str
    audit: bool
    shift_key: str
    transforms: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ParticleOutputPlan:
    """What the job writes: the particle files (none with ``--audit``), the record, the pictures."""

    audit: bool
    #: ``--halfsets``: ``micrograph`` rewrites the kept rows' half-sets, ``trim`` rejects some of the larger half's.
    halfsets: str
    #: ``--decisions``: ``decisions.csv``.
    decisions: bool
    #: ``--plot`` and ``--plot-mics``: the pictures, report.html and the page of every micrograph.
    plot: bool
    plot_mics: int
    #: ``--project-dir`` and ``--micrographs``: where the pictures find images and tomograms.
    project_dir: Path | None
    micrographs: Path | None
    #: ``--registration``: the registration picture is drawn unless ``ignore``.
    registration: str
    #: The options as report.html's Parameters table shows them, made once here (with ``--plot``; None without).
    parameters: Parameters | None = None

    @property
    def reassign_halves(self) -> bool:
        """Whether the kept rows' half-sets are rewritten by micrograph (``--halfsets micrograph``)."""
        return self.halfsets == "micrograph"

    @property
    def trim_halves(self) -> bool:
        """Whether the larger half's worst kept rows are rejected until the halves balance (``--halfsets trim``)."""
        return self.halfsets == "trim"

    @property
    def partners(self) -> bool:
        """Whether each rejected row's partner is kept: the page of every micrograph and the record name it."""
        return self.plot or self.decisions


@dataclass(frozen=True, eq=False)
class ParticlePlan:
    """The particle job's options resolved: what each stage takes."""

    read: ReadPlan
    deciding: Deciding
    registration: RegistrationCheck
    output: ParticleOutputPlan
    species: SpeciesAsked
    #: The options' values the plan was made from, by field (what a shard records of its run).
    given: Mapping[str, Any] = field(default_factory=dict)

    def for_rows(self, particles: ParticleSet, held: list[list[int]] | None = None) -> ParticlePlan:
        """The plan with what the rows say, resolved once: each species' distance, ``--prefer``'s levels, the images.

        ``held``: the inputs each ``--prefer`` value names, as parsed against the input paths
        before they were read (``read.check_prefer``; None: parsed here, against the rows' inputs).
        """
        deciding = self.deciding
        distances = self.species.resolved(particles, deciding.distance, deciding.distances.own_frame)
        named = _preference(particles, list(deciding.prefer), held)
        levels = None if named is None else input_levels([inputs for _, inputs in named], len(particles.inputs))
        joins_images = images_for_the_core(particles.images, deciding.same_image) is not None
        deciding = replace(deciding, distances=distances, preference=named, levels=levels, joins_images=joins_images)
        return replace(self, deciding=replace(deciding, species_rules=deciding.for_species()))

    @property
    def distances(self) -> Distances:
        """The distance rule (resolved for the rows once :meth:`for_rows` is called)."""
        return self.deciding.distances


def _score_read(score: str, order: str, deciding: Deciding) -> ScoreRead:
    """What the readers are asked of the score: ``--score``, its order, and what the decision does with it."""
    return ScoreRead(
        score,
        order,
        deciding.score_normalize,
        deciding.seed,
        bool(deciding.prefer),
        decides=not deciding.remove_entirely,  # (--remove-entirely: no score decides)
    )


def plan(options: ParticleOptions) -> ParticlePlan:
    """The job's plan from its options: the one function that reads them (checked first by ``options.check()``)."""
    base = Distance(options.min_dist, options.min_dist_z, options.min_dist_ellipsoid)
    species = SpeciesAsked(
        tuple(options.species),
        options.species_column,
        options.cross_species,
        options.overlap,
        dict(options.radius),
        dict(options.species_min_dist),
        dict(options.species_min_dist_z),
        dict(options.species_min_dist_ellipsoid),
        options.min_dist_given,
    )
    regions = RegionsAsked(options.mask, options.mask_label, options.mask_psize, options.edge, options.project_dir)
    output = ParticleOutputPlan(
        options.audit,
        options.halfsets,
        options.decisions,
        options.plot,
        options.plot_mics,
        options.project_dir,
        options.micrographs,
        options.registration,
        _report_table()(*shown_values(options)) if options.plot else None,  # (only with a report)
    )
    deciding = Deciding(
        base,
        species.unresolved(base, options.own_frame),
        remove_entirely=options.remove_entirely,
        seed=options.seed,
        select=options.select,
        score_normalize=options.score_normalize,
        prefer=tuple(options.prefer),
        filament_mode=options.filament_mode,
        max_angle=options.max_angle or None,  # (0: positions only, as in audit: orientations not compared)
        sym=options.sym,
        same_image=options.same_image,
        min_support=options.min_support,
        coverage=options.coverage,
        uncovered=options.uncovered,
        regions=regions if regions.asked else None,
        partners=output.partners,
        audit=AuditAsked(options.fsc) if options.audit else None,
        overrides=None if options.overrides is None else read_overrides(options.overrides),
        batches=options.update,
    )
    registration = RegistrationCheck(options.registration, options.audit, options.shift_key, tuple(options.transform))
    scale = Scale(
        mic_psize=options.mic_psize,
        insist_psize=options.insist_psize,
        micrographs=options.micrographs,
        match_micrographs=options.match_micrographs,
        project_dir=options.project_dir,
        pixel_size_decides=options.pixel_size_decides,
        topaz_scale=options.topaz_scale,
        import_scale=options.import_scale,
        import_add=options.import_add,
        import_centered=options.import_centered,
        psize_from=pixel_size_source(options.mic_psize, options.micrographs),
        judge_psize=judge_typed_psize,
    )
    copick = CopickSelection(
        options.copick_objects,
        options.copick_users,
        options.copick_sessions,
        options.copick_out_user,
        options.copick_out_session,
        frozenset(options.species_min_dist),
        float(options.min_dist),
    )
    rows = _row_read(deciding, species, registration, options.symmetry_copies, options.insist_angles)
    score = _score_read(options.score, options.score_order, deciding)
    request = ReadRequest(scale, score, rows, copick, options.output_format, bool(registration.transforms))
    one_pass = deciding.duplicate_rule if _one_pass_allowed(deciding, species, output, options.update) else None
    read = _read_plan(request, deciding, output, species, dict(options.input_psize), tuple(options.datasets), one_pass)
    given = {f.name: getattr(options, f.name) for f in fields(options)}
    return ParticlePlan(read, deciding, registration, output, species, given)


def _preference(
    particles: ParticleSet, prefer: list[str | Path | int], held: list[list[int]] | None
) -> list[Level] | None:
    """The priority levels ``--prefer`` names, most preferred first (None without it).

    ``held``: the inputs each value names, as parsed against the input paths before they were
    read; here they are named as the set names its inputs. Without them (a copick project's
    pick sets, data in memory), the values are parsed here.
    """
    if not prefer:
        return None
    if held is not None:
        return named_levels(prefer, held, particles.inputs)
    return preference(prefer, particles.inputs, particles.pick_sets, is_glob)


def _report_table() -> type[Parameters]:
    """report.html's table of the options (its modules loaded for ``--plot`` alone)."""
    from ...report.html_report import Parameters

    return Parameters


def _row_read(
    deciding: Deciding,
    species: SpeciesAsked,
    registration: RegistrationCheck,
    symmetry_copies: bool,
    insist_angles: bool,
) -> RowRead:
    """What the readers take of each row: the shift, orientations where the decision needs them, the species' column."""
    return RowRead(
        shift_key=registration.shift_key,
        orientations=deciding.max_angle is not None or deciding.own_frame,
        species_column=species.column,
        same_image=deciding.same_image,
        symmetry_copies=symmetry_copies,
        insist_angles=insist_angles,
    )


def _read_plan(
    request: ReadRequest,
    deciding: Deciding,
    output: ParticleOutputPlan,
    species: SpeciesAsked,
    input_psize: dict[str, float],
    datasets: tuple[str, ...],
    one_pass: DuplicateRule | None,
) -> ReadPlan:
    """What reading takes: the readers' request, the inputs' pixel sizes and datasets, what it checks as it reads."""
    return ReadPlan(
        request,
        input_psize,
        datasets,
        species,
        deciding.prefer,
        deciding.remove_entirely,
        output.audit,
        output.plot,
        output.project_dir,
        one_pass,
        output.plot,  # (the one pass writes the record from each batch's partners: none kept a row for it)
        output.decisions,
        deciding.overrides,
        request.scale.topaz_scale,
        request.row_read.insist_angles,
    )


def _one_pass_allowed(deciding: Deciding, species: SpeciesAsked, output: ParticleOutputPlan, update: bool) -> bool:
    """Whether the plan allows the STAR reader to decide while it scans (what the files hold is asked then).

    No audit, half-set rewrite, orientations, consensus support, rank normalisation or
    ``--min-dist-z``, species, mask or edge, best selection, or ``--update`` round: each needs
    every pair of duplicates or a second look at the rows (docs/design.md section 5).
    """
    plain = not (deciding.audit or deciding.max_angle is not None or output.halfsets != "keep")
    as_read = deciding.normalisation.apply is None
    plain = plain and deciding.min_support == 1 and as_read and deciding.distance.min_dist_z is None
    plain = plain and not (species.column or species.cross_species or species.min_dist)
    plain = plain and not species.min_dist_z and not deciding.own_frame
    plain = plain and deciding.same_image != "reject"  # (rows of one image may be micrographs apart in the file)
    plain = plain and not update  # (a round decides with the kept particles of earlier rounds)
    plain = plain and deciding.regions is None  # (the rows dropped before the dedup)
    return plain and deciding.select == "greedy"  # (the scan walks greedily)
