"""The particle job's inputs read and checked before anything is decided."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np

from ...algo.dedup import (
    MAX_INPUTS,
    picks_per_group,
    scales_differ,
)
from ...algo.normalisation import normalisation
from ...algo.priority import (
    input_levels,
    inputs_named,
    preferred_inputs,
    scores_without_none,
)
from ...errors import CryodedupError
from ...formats.micrograph_lists import find_image, search_roots
from ...formats.particles import read_particle_files
from ...formats.read_request import ReadRequest, Scale
from ...formats.sniff import is_copick_config, is_glob, is_optimisation_set, is_picker_output
from ...labels import input_labels
from ...particle_set import Log, ParticleSet, Warn
from ...paths import StrPath
from ...report.sections.readers import ReadersFound
from ...resolve import pixel_size_source
from ...resolve.datasets import check_shared_names, dataset_labels, dataset_of_inputs, separate_datasets
from ..input_checks import check_centres, check_input_paths
from ..species import assign_species
from .decide import one_pass

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .plan import Deciding, ReadPlan

__all__ = [
    "Files",
    "Held",
    "Images",
    "InMemory",
    "Source",
    "raw_picker_scores",
    "read_inputs",
    "silent",
    "silent_warning",
    "warn_unused_options",
]


#: The inputs each ``--prefer`` value names, parsed once before reading (None: no --prefer, or not known yet).
Held = Optional[list[list[int]]]  # (Optional: an alias is evaluated at run time, and 3.9 has no X | None)


def read_inputs(
    inputs: list[Path],
    outdir: Path | None,
    plan: ReadPlan,
    warn: Warn,
    log: Log,
    held: Held = None,
    writes: bool = True,
) -> ParticleSet:
    """The inputs read by the module of their format (all inputs must share one), after the paths are checked.

    ``outdir`` is None only for a copick project whose kept picks go back into it alone;
    ``writes`` False (``compare``): the readers refuse and warn of nothing only outputs need.
    The STAR reader asks :func:`one_pass` whether it decides while it scans.
    Scores that mean "none" (RELION's -999 figure of merit) are NaN in the set: not finite,
    they rank last, and the score-scale comparison and pictures leave them out.
    """
    check_input_paths(inputs)
    inputs, plan, followed = followed_optimisation_sets(inputs, plan)
    if len(inputs) > MAX_INPUTS:
        raise CryodedupError(
            f"{len(inputs)} inputs: at most {MAX_INPUTS}, since each pick records which inputs confirm it as one "
            "bit per input of a 64-bit mask; give one picker's files as one input (a folder or a quoted glob)"
        )
    request = replace(plan.request_with(held), writes=writes)  # (compare writes no output)
    if plan.input_psize:  # (--mic-psize INPUT=Å: each input's own, by position)
        request = replace(
            request, scale=_scale_by_input(request.scale, _pixel_sizes_by_input(plan.input_psize, inputs))
        )
    particles = read_particle_files(inputs, outdir, request, warn, log, lambda facts: one_pass(plan, facts))
    if followed:  # (the summary's "Read" row: which files an optimisation set named)
        particles.summary["reading_notes"] = [*followed, *ReadersFound.of(particles.summary).notes]
    if particles.scores is not None:
        particles.scores = scores_without_none(particles.scores, particles.score_label)
    return particles


def followed_optimisation_sets(inputs: list[Path], plan: ReadPlan) -> tuple[list[Path], ReadPlan, list[str]]:
    """RELION 5 optimisation sets replaced by the particles files they name; their tomograms file as ``--micrographs``.

    A ``--micrographs`` given stays; optimisation sets naming different tomograms files without
    it are refused (one tomograms file frames the inputs). Also returns what was followed, in words.
    """
    if not any(is_optimisation_set(path) for path in inputs):
        return inputs, plan, []
    from ...formats.star.optimisation_set import read_optimisation_set  # (read for these inputs alone)

    sets = {
        k: read_optimisation_set(path, plan.project_dir) for k, path in enumerate(inputs) if is_optimisation_set(path)
    }
    followed = [
        f"{found.path}: a RELION 5 optimisation set, its particles read from {found.particles}"
        + (f", its tomograms from {found.tomograms}" if found.tomograms is not None else "")
        for found in sets.values()
    ]
    tomograms = list(dict.fromkeys(str(found.tomograms) for found in sets.values() if found.tomograms is not None))
    if plan.request.scale.micrographs is None and len(tomograms) > 1:
        raise CryodedupError(
            f"the optimisation sets name different tomograms files ({', '.join(tomograms)}): give the one that "
            "holds every tomogram with --micrographs"
        )
    particle_files = [sets[k].particles if k in sets else path for k, path in enumerate(inputs)]
    check_input_paths(particle_files)
    if plan.request.scale.micrographs is None and tomograms:
        plan = plan.with_micrographs(Path(tomograms[0]))
    return particle_files, plan, followed


#: Scores a picker gives its picks, each picker on its own scale (RELION's LoG about 0.1,
#: its template matching 0-3, topaz logits; CryoSPARC's blob and template pickers).
PICKER_SCORES = ("rlnAutopickFigureOfMerit", "pick_stats/ncc_score", "pick_stats/power")


def raw_picker_scores(particles: ParticleSet, one_scale: bool, levels: np.ndarray | None) -> str | None:
    """What to say when several inputs' particles are ranked by a picker's score as read, else None.

    Two pickers' figures of merit are not on one scale, so the picker with the larger
    numbers wins nearly every group of duplicates, whatever its picks are worth; several
    files of one picker's particles are (their distributions are compared:
    :func:`cryodedup.algo.dedup.scales_differ`). ``levels``: each input's ``--prefer`` level
    (None: one for all); the score decides only between inputs of one level. ``one_scale``: the scores are
    normalised onto one scale (``--score-normalize``'s entry says so): nothing to say.
    """
    label, n_inputs = particles.score_label, len(particles.inputs)  # (one input: no rows counted, 20 M instructions)
    if label not in PICKER_SCORES or particles.scores is None or one_scale or n_inputs < 2:
        return None
    n_ranked = int(np.count_nonzero(np.bincount(particles.input_of, minlength=n_inputs)))
    if n_ranked < 2:
        return None
    per_input = [particles.scores[particles.input_of == k] for k in range(n_inputs)]
    how = scales_differ(per_input, input_labels(particles.inputs), levels)
    if how is None:  # one picker's particles in several files: one scale
        return None
    return (
        f"the {n_ranked} inputs' particles are ranked by {label} as read, a picker's figure of merit, and "
        f"their scores are on different scales ({how}): the input with the larger numbers wins nearly every "
        "group of duplicates; rank by a score all inputs share after classification "
        "(--score rlnMaxValueProbDistribution) or by each input's percentiles (--score-normalize rank)"
    )


def _scale_by_input(scale: Scale, sizes: tuple[float | None, ...]) -> Scale:
    """``scale`` with each input's own where it is typed its own pixel size (``sizes``), its source decided alike."""
    by_input = tuple(
        None if size is None else replace(scale, mic_psize=size, psize_from=pixel_size_source(size, scale.micrographs))
        for size in sizes
    )
    return replace(scale, by_input=by_input)


def _pixel_sizes_by_input(input_psize: dict[str, float], inputs: list[Path]) -> tuple[float | None, ...]:
    """Each input's own ``--mic-psize INPUT=Å`` (None where not named), inputs named as ``--prefer`` names them."""
    sizes: list[float | None] = [None] * len(inputs)
    for name, size in input_psize.items():
        for k in inputs_named(name, inputs, is_glob, "--mic-psize"):
            if sizes[k] is not None:
                raise CryodedupError(f"--mic-psize {name}={size:g}: {inputs[k]} is given a pixel size twice")
            sizes[k] = float(size)
    return tuple(sizes)


def _levels_of(held: Held, n_inputs: int) -> np.ndarray | None:
    """Each input's ``--prefer`` level from the inputs each value names (None: one level for all)."""
    return None if held is None else input_levels(held, n_inputs)


def warn_inputs_apart(particles: ParticleSet, warn: Warn) -> None:
    """Warn about an input that shares no micrograph with the others.

    Picks are compared only on the same micrograph, so such an input can neither duplicate
    nor confirm another; most often its files are one picker's output given as several
    inputs, where one input (a folder or a quoted glob) was meant.
    """
    n_inputs = len(particles.inputs)
    if n_inputs < 2:
        return
    # present[k, g]: input k has a pick on micrograph g (one pass of the core, no sort of millions of ids)
    present = picks_per_group(particles.input_of, particles.groups, len(particles.mic_names), n_inputs).T > 0
    if np.count_nonzero(present.any(axis=1)) < 2:  # (the others picked nothing: each is warned of as such)
        return
    inputs_on = present.sum(axis=0)
    for k in range(n_inputs):
        mine = present[k]
        if mine.any() and not (inputs_on[mine] > 1).any():
            warn(
                f"{particles.inputs[k]} shares no micrograph with the other inputs, so none of its picks can "
                "duplicate or confirm theirs; if these are one picker's files, give them as one input "
                "(a folder or a quoted glob)"
            )


def check_request(paths: list[Path], outdir: StrPath | None, audit: bool, plot: bool) -> tuple[bool, bool]:
    """Refuses a job that cannot run before anything is read.

    Returns whether the input is a copick project, and whether its kept picks go back into it.
    """
    if not paths:
        raise CryodedupError("no input files given")
    copick = len(paths) == 1 and is_copick_config(paths[0])
    # A copick project takes its kept picks back; an output folder is then for the STAR files.
    into_project = outdir is None and not plot and copick
    if outdir is None and not (audit and not plot) and not into_project:
        raise CryodedupError("outdir: an output folder is needed (only audit=True without plot=True writes nothing)")
    return copick, into_project


def read_checked(
    paths: list[Path], outdir: Path | None, plan: ReadPlan, warn: Warn, log: Log, held: Held = None
) -> ParticleSet:
    """The inputs read, their species assigned, and what they hold checked before anything is decided."""
    particles = read_inputs(paths, outdir, plan, warn, log, held)
    assert particles.writer is not None, "every reader of files gives the set a writer"
    labels = _datasets(paths, particles, list(plan.datasets), warn)
    check_shared_names(particles, labels)
    assign_species(particles, plan.species)
    if is_picker_output(paths[0]):
        warn_inputs_apart(particles, warn)
    elif raw := raw_picker_scores(
        particles,
        normalisation(plan.request.score_read.score_normalize).one_scale,
        _levels_of(held, len(particles.inputs)),
    ):
        warn(raw)  # (picker inputs: their reader says it, naming each picker's score)
    if particles.decided is None:  # (a one-pass scan decided every row: its core refused these already)
        check_centres(particles)
    return particles


def _datasets(paths: list[Path], particles: ParticleSet, datasets: list[str], warn: Warn) -> list[str] | None:
    """Each input's dataset (``--dataset``), its micrographs kept apart from other datasets'; None without it."""
    if not datasets:
        return None
    if particles.pick_sets:  # (a copick project's pick sets, named user/session or by position)
        labels = dataset_labels(datasets, [Path(name) for name in particles.inputs], lambda path: False)
    elif len(particles.inputs) != len(paths):
        raise CryodedupError("--dataset labels input files: give each input as its own file, folder or glob")
    else:
        labels = dataset_labels(datasets, paths, is_glob)
    if len(set(labels)) < 2:
        warn("--dataset decides nothing here: every input is of one dataset")
    n_mics = len(particles.mic_names)
    particles.summary["datasets"] = separate_datasets(particles, labels)
    shared = len(particles.mic_names) - n_mics  # (a name two datasets share: its copy added, kept apart)
    if shared:
        _write_datasets_apart(particles, labels, shared, warn)
    return labels


def _write_datasets_apart(particles: ParticleSet, labels: list[str], shared: int, warn: Warn) -> None:
    """One kept and one rejected file per dataset, where datasets share micrograph or tomogram names.

    The combined outputs hold both datasets' rows under one name, which RELION reads as one
    micrograph or tomogram: each dataset's own files keep them apart (issue 54). A STAR
    writer writes them as it writes species' files; with species, or another writer, the
    combined files are all there is, and a warning says so. ``shared``: the names two datasets share.
    """
    dataset_of, names = dataset_of_inputs(labels)
    from ...formats.star.particle_writer import Apart, StarWriter  # (the STAR writer's)

    writer = particles.writer
    if particles.species is None and isinstance(writer, StarWriter):
        rows = dataset_of[np.asarray(particles.input_of)]
        writer.apart = Apart(rows, [name or "not-labelled" for name in names], "datasets", dataset_of.tolist())
        own = ", ".join(path.name for path in writer.apart_outputs())
        warn(
            f"{_shared_example(particles)} and {shared - 1:,} other micrograph or tomogram names are of two datasets: "
            f"{writer.kept_path.name} and {writer.rejected_path.name} hold both datasets' rows under each such name, "
            f"which RELION reads as one; each dataset's own files ({own} and their rejected ones) keep them apart"
        )
        return
    warn(
        f"{shared:,} micrograph or tomogram names are shared by the datasets: the outputs hold both datasets' rows "
        "under each such name, which RELION reads as one; split the outputs by dataset before going on"
    )


def _shared_example(particles: ParticleSet) -> str:
    """One name two datasets share, as the summary gives the second's copy (``TS_01 [dataset B]``)."""
    copy = next(name for name in particles.mic_names if " [dataset " in name)
    return copy.rpartition(" [dataset ")[0]


def check_prefer(
    paths: list[Path], copick: bool, prefer: list[str | Path | int], remove_entirely: bool, warn: Warn
) -> list[list[int]] | None:
    """The inputs each ``--prefer`` value names, parsed before reading, which refuses a value that names none.

    Warns that ``--remove-entirely`` ignores it. A copick project's pick sets, which
    ``--prefer`` names there, are known once read (None: parsed then, by the plan: ``ParticlePlan.for_rows``).
    """
    if not prefer:
        return None
    held = None
    if not copick:
        held = preferred_inputs(prefer, paths, is_glob)
        if len(paths) == 1:
            warn("--prefer decides nothing with one input: every particle is of that input")
    if remove_entirely:
        warn(
            "--prefer decides nothing with --remove-entirely: every particle that has a duplicate is removed, "
            "preferred or not"
        )
    return held


def warn_unused_options(particles: ParticleSet, plan: ReadPlan, rule: Deciding, warn: Warn) -> None:
    """Warns of an option given that these inputs give nothing to act on: the user believes it did something."""
    if plan.topaz_scale is not None and "topaz" not in ReadersFound.of(particles.summary).formats:
        warn("--topaz-scale was not used: it scales topaz's coordinates, and no input is topaz's")
    if plan.insist_angles and rule.max_angle is None and not rule.own_frame:
        warn("--insist-angles was not used: it lets --max-angle compare angles that look like radians")
    if rule.filament_mode == "tube" and particles.tubes is None:
        warn("--filament-mode tube was not used: no input has filaments (a tube or filament id per segment)")
    if rule.coverage != "auto" and rule.min_support <= 1:
        warn(f"--coverage {rule.coverage} was not used: it serves --min-support 2 or more (consensus)")
    for message in plan.species.absent(particles):
        warn(message)


class Source(Protocol):
    """Where the particle job's rows come from, and what becomes of them: files, or data in memory.

    The job (``job.run``) asks a source for what differs, and does everything else alike.
    """

    def check(self, outdir: StrPath | None, plan: ReadPlan) -> Path | None:
        """Refuses a job that cannot run, before anything is read; the folder the readers' writers get.

        None: no folder (a copick project whose kept picks go back into it alone).
        """
        ...

    def held_by_prefer(self, plan: ReadPlan, warn: Warn) -> list[list[int]] | None:
        """The inputs each ``--prefer`` value names, where they are known before reading (:func:`check_prefer`)."""
        ...

    def read(self, outdir: Path | None, plan: ReadPlan, warn: Warn, log: Log, held: Held = None) -> ParticleSet:
        """The rows read, their species assigned, and checked; ``held``: :meth:`held_by_prefer`'s answer."""
        ...

    def outputs(self) -> dict[str, list[str]] | None:
        """What the summary names as the outputs when the set has no writer (None: the writer's files)."""
        ...

    def images(self, project_dir: Path | None, outdir: Path) -> Images:
        """Where the pictures find the micrographs' image files (``outdir``: the pictures' folder)."""
        ...


@dataclass(frozen=True)
class Images:
    """Where the pictures' example micrographs are found: ``find(name)``, the image file or the path looked for.

    ``roots``: the folders where the job looked, for a count of every micrograph's image not
    found (files); None when the caller gave the images (data in memory).
    """

    find: Callable[[str], Path]
    roots: Callable[[], list[Path]] | None = None


@dataclass(frozen=True)
class Files:
    """Particle files (STAR, CryoSPARC, pickers' outputs, tomography tables, a copick project's config)."""

    paths: list[Path]

    @classmethod
    def of(cls, inputs: Iterable[StrPath]) -> Files:
        """The files named by ``inputs``."""
        return cls([Path(p) for p in inputs])

    @property
    def copick(self) -> bool:
        """Whether the input is a copick project (its config file)."""
        return len(self.paths) == 1 and is_copick_config(self.paths[0])

    def check(self, outdir: StrPath | None, plan: ReadPlan) -> Path | None:
        """As :class:`Source` says."""
        into_project = check_request(self.paths, outdir, plan.audit, plan.plot)[1]
        # Without one (an audit) the readers' writers get the current folder, and are never called.
        return None if into_project else Path(outdir if outdir is not None else ".")

    def held_by_prefer(self, plan: ReadPlan, warn: Warn) -> list[list[int]] | None:
        """As :class:`Source` says."""
        return check_prefer(self.paths, self.copick, list(plan.prefer), plan.remove_entirely, warn)

    def read(self, outdir: Path | None, plan: ReadPlan, warn: Warn, log: Log, held: Held = None) -> ParticleSet:
        """As :class:`Source` says."""
        return read_checked(self.paths, outdir, plan, warn, log, held)

    def outputs(self) -> dict[str, list[str]] | None:
        """As :class:`Source` says."""
        return None

    def images(self, project_dir: Path | None, outdir: Path) -> Images:
        """As :class:`Source` says."""
        first = self.paths[0]
        return Images(lambda name: find_image(name, first, project_dir), lambda: search_roots(first, project_dir))


@dataclass(frozen=True)
class InMemory:
    """Rows the caller holds (a Dataset, a DataFrame, centres in Å), read by ``reader`` into a set without a writer.

    ``reader`` is given what the job's plan asks of a reader (:attr:`.plan.ReadPlan.request`).

    ``kept`` and ``rejected`` say what the caller makes of each (the summary's outputs);
    ``image_files`` are the micrographs' images the caller gives the pictures, by name.
    """

    reader: Callable[[ReadRequest, Warn], ParticleSet]
    kept: str = "the kept rows (returned)"
    rejected: str = "the rejected rows (returned)"
    image_files: dict[str, Path] = field(default_factory=dict)

    def check(self, outdir: StrPath | None, plan: ReadPlan) -> Path | None:
        """As :class:`Source` says."""
        if plan.plot and outdir is None:
            raise CryodedupError("plot=True with particles in memory: give outdir, the folder for the pictures")
        return None if outdir is None else Path(outdir)

    def held_by_prefer(self, plan: ReadPlan, warn: Warn) -> list[list[int]] | None:
        """As :class:`Source` says."""
        return None  # (parsed once read: ParticlePlan.for_rows)

    def read(self, outdir: Path | None, plan: ReadPlan, warn: Warn, log: Log, held: Held = None) -> ParticleSet:
        """As :class:`Source` says."""
        particles = self.reader(plan.request, warn)
        # As the command line reads them: RELION's -999 is no score (NaN, last), species assigned.
        if particles.scores is not None:
            particles.scores = scores_without_none(particles.scores, particles.score_label)
        assign_species(particles, plan.species)
        return particles

    def outputs(self) -> dict[str, list[str]] | None:
        """As :class:`Source` says."""
        return {"kept": [self.kept], "rejected": [self.rejected]}

    def images(self, project_dir: Path | None, outdir: Path) -> Images:
        """As :class:`Source` says."""

        def find(name: str) -> Path:
            return self.image_files.get(name, outdir / "no image" / name)

        return Images(find)


def silent(message: str, level: str) -> None:
    """A log that says nothing (the job's default)."""


def silent_warning(message: str) -> None:
    """A warning said to no one (a second reading's: the first said them)."""
