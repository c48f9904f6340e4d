"""Each command's options in the order of its parameters, and its help's panels.

A job's options are its fields (``options/``: :class:`~cryodedup.options.ParticleOptions`,
:class:`~cryodedup.options.MicrographOptions`); a command adds the options that are no job's
field (``--outdir``, ``--force``, ``--particles``, ``--shard`` ...), declared here as
:class:`~cryodedup.options.fields.Flag` constants. Each option names the panel of ``--help``
it sits in and whether ``-h`` shows it where it is declared (``panel=``, ``essential=``), and
which other commands take it (``taken_by=``); a command here lists its panels' titles alone.
``cli.py`` makes the click options from :data:`PARTICLES`, :data:`DEMO`, :data:`MICROGRAPHS`
and :data:`MICROGRAPHS_MERGE`, and the pipelines (``pipelines/``) read them back from the
commands. Each command's options are made when first asked for (PEP 562), and the command
line asks only for those of the command it runs: a particle job does not import the
micrograph job's options, nor a micrograph job the particle job's (with its readers and
algorithms, about 40 ms of a run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options.fields import (
    CLUSTER,
    COLLECTION,
    MATCH_MICROGRAPHS_HELP,
    NOT_GIVEN,
    OUTPUT,
    Flag,
    path_type,
    taken_by,
)
from .options.fields import COMPARE as TAKEN_BY_COMPARE  # (COMPARE here is the command's options)
from .options.fields import COPICK as TAKEN_BY_COPICK
from .resolve.micrograph_names import MATCH_MODES

__all__ = [
    "AUDIT",
    "COMPARE",
    "COPICK_COMPARE",
    "COPICK_DEDUP",
    "DEMO",
    "MICROGRAPHS",
    "MICROGRAPHS_MERGE",
    "PARTICLES",
    "PARTICLES_MERGE",
    "SELECT",
    "Command",
    "field_values",
]

# --- the options of the commands that are no job's field ------------------------------------------------

FORCE = Flag(("--force",), "Overwrite existing outputs.", default=NOT_GIVEN, is_flag=True, panel=OUTPUT, essential=True)
QUIET = Flag(("--quiet", "-q"), "Print nothing on stderr but errors.", default=NOT_GIVEN, is_flag=True, panel=OUTPUT)
JSON = Flag(
    ("--json",),
    "Print the summary as JSON on stdout.",
    default=NOT_GIVEN,
    is_flag=True,
    name="as_json",
    panel=OUTPUT,
    essential=True,
)
MATCH_MICROGRAPHS = Flag(
    ("--match-micrographs",),
    MATCH_MICROGRAPHS_HELP,
    type=click.Choice(MATCH_MODES),
    default="auto",
    show_default=True,
    panel=OUTPUT,
)
MICROGRAPH_PARTICLES = Flag(
    ("--particles",),
    "A particle STAR or .cs to split into the particles of kept and rejected micrographs.",
    type=path_type(dir_okay=False),
    panel=OUTPUT,
    essential=True,
)
MICROGRAPHS_OUTDIR = "Folder for pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*."
SHARD = Flag(
    ("--shard",),
    "Score only the K-th of N chunks (K from 1: `--shard ${SLURM_ARRAY_TASK_ID}/N` with `--array=1-N`) "
    "into OUTDIR/shard-K-of-N; a complete shard is not redone. Then run `cryodedup micrographs-merge`.",
    metavar="K/N",
    panel=CLUSTER,
)
PARTICLE_SHARD = Flag(
    ("--shard",),
    "Decide only the K-th of N chunks of the micrographs (or tomograms) (K from 1: `--shard "
    "${SLURM_ARRAY_TASK_ID}/N` with `--array=1-N`) into OUTDIR/shard-K-of-N; every shard reads the whole input. "
    "A complete shard is not redone unless its inputs changed since. Then run `cryodedup particles-merge`.",
    metavar="K/N",
    panel=CLUSTER,
)
PARTICLE_DASK = Flag(
    ("--dask",),
    "Decide the shards as Dask tasks and merge them here: a scheduler address (tcp://node:8786), a scheduler "
    "file, or `local` (one worker per core). The workers reach the inputs and OUTDIR's folder at the same paths. "
    'Needs `pip install "cryodedup[dask]"`.',
    metavar="SCHEDULER",
    panel=CLUSTER,
)
PARTICLE_SHARDS = Flag(
    ("--shards",),
    "With --dask: how many shards [default: one per worker].",
    type=click.IntRange(1, 1_000_000),
    panel=CLUSTER,
)
DASK = Flag(
    ("--dask",),
    "Score the shards as Dask tasks: a scheduler address (tcp://node:8786), a scheduler file, or "
    '`local` (one worker per core). Needs `pip install "cryodedup[dask]"`.',
    metavar="SCHEDULER",
    panel=CLUSTER,
)
SHARDS = Flag(
    ("--shards",),
    "With --dask: how many shards [default: one per worker].",
    type=click.IntRange(1, 10_000_000),  # MAX_IMAGES; more shards than micrographs score nothing more
    panel=CLUSTER,
)
UPDATE = Flag(
    ("--update",),
    "Read only the micrographs not seen by an earlier --update run into OUTDIR (it keeps their binned images "
    "and scores in OUTDIR/seen) and replace its outputs by those of a fresh run of the whole set. A change of "
    "an option that affects the scores means a full run; with --force, always a full run.",
    is_flag=True,
    panel=COLLECTION,
    essential=True,
)
WATCH = Flag(
    ("--watch",),
    "Repeat --update every SECONDS while new micrographs appear (a STAR that grows, a quoted glob that matches "
    "more), until Ctrl-C or --watch-idle; with --json, one line per round. A micrograph that cannot be read is "
    "skipped and listed, as with --skip-unreadable: one bad file does not end the watch.",
    type=click.FloatRange(min=0.1, max=7 * 86400),  # a week; NaN is refused by the command
    metavar="SECONDS",
    panel=COLLECTION,
)
WATCH_IDLE = Flag(
    ("--watch-idle",),
    "With --watch: stop after this many minutes without a new micrograph [default: never].",
    type=click.FloatRange(min=0, max=1e6, min_open=True),  # two years; NaN is refused by the command
    metavar="MINUTES",
    panel=COLLECTION,
)


def outdir(help: str, required: bool = True) -> Flag:
    """The -o/--outdir option of a job command."""
    return Flag(
        ("-o", "--outdir"),
        help,
        type=path_type(file_okay=False),
        default=NOT_GIVEN,
        required=required,
        panel=OUTPUT,
        essential=True,
    )


def flags_of(options: type) -> list[Flag]:
    """The options of a job's fields, in the fields' order."""
    return [f.metadata["flag"] for f in fields(options) if "flag" in f.metadata]


def job_then_outputs(options: type, before: Sequence[Flag], outputs: Sequence[Flag]) -> list[Flag]:
    """A job command's options: ``before``, the job's fields but its outputs, ``outputs``, the job's output fields."""
    flags = flags_of(options)
    return [
        *before,
        *(f for f in flags if f.panel != OUTPUT),
        *outputs,
        *(f for f in flags if f.panel == OUTPUT),
    ]


def flags_named(options: type, *names: str) -> list[Flag]:
    """The options of the job's fields ``names``, in that order (a command that takes a few of them)."""
    flags = {f.name: f.metadata["flag"] for f in fields(options) if "flag" in f.metadata}
    return [flags[n] for n in names]


def field_values(options: type, params: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """The job's fields among a command's parameters (``bin_`` is the field ``bin``, ``--metadata`` a list).

    ``partial``: the command takes some of the fields only (:data:`COPICK_DEDUP`); the others keep their defaults.
    """
    values = {}
    for f in fields(options):
        flag = f.metadata.get("flag")
        if partial and flag is not None and (flag.name or f.name) not in params:
            continue
        if flag is not None:
            value = params[flag.name or f.name]
            values[f.name] = [Path(v) if f.name == "metadata" else v for v in value] if flag.multiple else value
    return values


#: The help's own options (``-h``: cli.py's), in the last panel of every command.
HELP_FLAGS = ("--help", "-h")


def long_flag(flag: Flag) -> str:
    """The option's long flag (``--outdir`` of ``-o/--outdir``)."""
    return next(f for f in flag.flags if f.startswith("--"))


@dataclass(frozen=True)
class Command:
    """A command's options in the order of its parameters, and the titles of its help's panels in order.

    Each option sits in the panel it names (``Flag.panel``), ``--help`` and ``-h`` in the last.
    ``short``: ``-h`` shows the options marked essential alone (else the whole help).
    """

    options: Sequence[Flag]
    panels: Sequence[str] = (OUTPUT,)
    short: bool = False

    def __post_init__(self) -> None:
        for flag in self.options:
            if flag.panel not in self.panels:
                raise ValueError(f"{long_flag(flag)}'s panel {flag.panel!r} is none of {list(self.panels)}")

    @property
    def essentials(self) -> list[str]:
        """The options most runs need, all that ``-h`` shows (none: ``-h`` shows the whole help, as ``--help``)."""
        return [long_flag(f) for f in self.options if f.essential] if self.short else []

    def panel_flags(self) -> list[tuple[str, list[str]]]:
        """Each panel's title and its options' flags, in the command's order."""
        shown: dict[str, list[str]] = {title: [] for title in self.panels}
        for flag in self.options:
            shown[flag.panel].append(long_flag(flag))
        shown[self.panels[-1]].extend(HELP_FLAGS)
        return list(shown.items())


def _particle_command() -> Command:
    """``cryodedup particles``' options and its help's panels."""
    from .options.particles import PANELS, ParticleOptions

    return Command(
        [
            *job_then_outputs(
                ParticleOptions,
                [
                    outdir(
                        "Folder for particles_kept and particles_rejected (.star, or .cs and .csg), or the picks' "
                        "outputs (not needed with --audit without --plot).",
                        required=False,
                    )
                ],
                [FORCE, QUIET, JSON],
            ),
            PARTICLE_SHARD,
            PARTICLE_DASK,
            PARTICLE_SHARDS,
        ],
        (*PANELS[:-1], CLUSTER, PANELS[-1]),
        short=True,
    )


def _particles_merge_command() -> Command:
    """``cryodedup particles-merge``'s options: the output folder, the pictures, how it reports."""
    from .options.particles import ParticleOptions

    written = outdir("Folder for what one run of the shards' inputs and options writes (kept, rejected, record).")
    return Command([written, *flags_named(ParticleOptions, "plot", "plot_mics"), FORCE, QUIET, JSON])


def _compare_command() -> Command:
    """``cryodedup compare``'s options: its own, how the particle job reads inputs, how it reports."""
    from .options.compare import PANELS, READING, CompareOptions
    from .options.particles import ParticleOptions

    reading = flags_named(ParticleOptions, *taken_by(ParticleOptions, TAKEN_BY_COMPARE))
    return Command(
        [
            *flags_of(CompareOptions),
            *(replace(flag, panel=READING) for flag in reading),
            COMPARE_PLOT,
            FORCE,
            QUIET,
            JSON,
        ],
        PANELS,
    )


def _select_command() -> Command:
    """``cryodedup select``'s options: the output folder, its own, how the particle job reads inputs, how it reports."""
    from .options.particles import ParticleOptions
    from .options.select import PANELS, READING, SelectOptions

    reading = flags_named(ParticleOptions, *taken_by(ParticleOptions, TAKEN_BY_COMPARE))
    return Command(
        [
            outdir("Folder for particles_selected and particles_deselected (.star, or .cs and .csg)."),
            *flags_of(SelectOptions),
            *(replace(flag, panel=READING) for flag in reading),
            FORCE,
            QUIET,
            JSON,
        ],
        PANELS,
    )


#: ``compare``'s and ``comparepicks``' ``--plot-czii DIR``: --metric czii's picture and report.html (not
#: the particle job's ``--plot``, which draws what the job decided).
COMPARE_PLOT = Flag(
    ("--plot-czii",),
    "With --metric czii: write its picture (each species' precision-recall curve and F-beta) and report.html "
    "into this folder.",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=None,
    name="plot",
    panel=OUTPUT,
)


def _copick_command() -> Command:
    """``copick process dedup``'s options (copick's plugin command, :mod:`cryodedup.copick_command`).

    The particle job's options that concern a copick project (``taken_by=COPICK``): the copick
    project's first, then in the order of the particle command's panels; copick's own
    ``-c/--config`` and ``--debug`` are added there.
    """
    from .options.particles import COPICK_PROJECTS, PANELS, ParticleOptions

    names = taken_by(ParticleOptions, TAKEN_BY_COPICK)
    taken = dict(zip(names, flags_named(ParticleOptions, *names)))
    taken["transform"] = replace(
        taken["transform"],
        help="Move a pick set's centres into the others' frame before deciding, and its kept picks as "
        "written: USER/SESSION=OP+OP+... applied in order, in Å; OP is swap, mirror-x:W (x -> W - x), "
        "mirror-y:H, mirror-z:D, scale:S, shift:DX,DY[,DZ] (the registration names the one that fits). "
        "Repeat it for several pick sets.",
        metavar="USER/SESSION=OPS",
    )
    taken["datasets"] = replace(
        taken["datasets"],
        help="USER/SESSION=LABEL: the pick set (or its position from 1) belongs to the dataset LABEL; runs "
        "of different datasets are never one, whatever their names. Repeat it.",
        metavar="USER/SESSION=LABEL",
    )
    taken["score_normalize"] = replace(
        taken["score_normalize"],
        help="Put the pick sets' scores on one scale before ranking. rank: each pick set's scores as percentiles "
        "within that pick set (user/session). zscore: each pick set's scores on each run shifted to median 0 and "
        "scaled to robust SD 1 (MAD x 1.4826, as WarpTools normalises template-matching scores), the better "
        "higher, the set's objects together; where more than half of them are equal, their mean absolute "
        "deviation x 1.2533 scales them.",
    )
    taken["min_dist_ellipsoid"] = replace(
        taken["min_dist_ellipsoid"],
        help="Exclusion in each pick's own frame, for elongated objects: an ellipsoid with semi-axes A, B, C in Å "
        "along the object's x, y and z, turned by the pick's transformation (copick's rotation from the object's "
        "frame into the tomogram's). Two picks are duplicates when either centre lies inside the other's "
        "ellipsoid. Replaces --min-dist. Several objects: NAME=A,B,C groups separated by commas (a bare A,B,C "
        "for the others).",
        metavar="A,B,C|NAME=A,B,C,...",
    )
    taken["edge"] = replace(
        taken["edge"],
        help="Reject the picks whose centre lies within this distance (Å) of their run's tomogram's edge, before "
        "removing duplicates: the tomogram in the project at the run's smallest voxel spacing with one, its shape "
        "x that spacing (a run without a tomogram is refused).",
    )
    given = outdir(
        "Also write the kept and rejected picks as RELION 5 STAR files, one pair per object, into this folder "
        "(the kept picks go into the project in any case).",
        required=False,
    )
    options = [given, FORCE, QUIET, JSON, *taken.values()]
    order = (COPICK_PROJECTS, *(title for title in PANELS if title != COPICK_PROJECTS))
    return Command(sorted(options, key=lambda flag: order.index(flag.panel)), order)


def _copick_compare_command() -> Command:
    """``copick evaluation comparepicks``' options: ``cryodedup compare``'s, for two pick sets of a copick project.

    copick's own ``-c/--config`` and ``--debug`` are added in :mod:`cryodedup.copick_command`.
    """
    from .options.compare import COMPARISON, CompareOptions
    from .options.particles import COPICK_PROJECTS, INPUTS, ParticleOptions
    from .options.species import MinDistance

    reference, radius, beta, over, metric, multiplier, weights, czii_weights = flags_of(CompareOptions)
    pick_set = "USER/SESSION"
    return Command(
        [
            replace(
                reference,
                help="The pick set that is the truth, as user/session (alice/1): the candidate's picks are scored "
                "against it by precision, recall and F-beta, each matched to at most one of its picks within the "
                "radius.",
                metavar=pick_set,
                default=NOT_GIVEN,  # (click takes a default of None for a value given)
                required=True,
            ),
            Flag(
                ("--candidate",),
                "The pick set scored against the reference, as user/session (bob/1).",
                metavar=pick_set,
                default=NOT_GIVEN,
                required=True,
                panel=COMPARISON,
            ),
            *flags_named(ParticleOptions, "copick_objects"),
            replace(
                *flags_named(ParticleOptions, "transform"),
                help="Move a pick set's centres into the other's frame before comparing: USER/SESSION=OP+OP+... "
                "applied in order, in Å; OP is swap, swap-yz, swap-xz, mirror-x:W (x -> W - x), mirror-y:H, "
                "mirror-z:D, scale:S, shift:DX,DY[,DZ] (the registration row names the one that fits, if any).",
                metavar="USER/SESSION=OPS",
            ),
            replace(
                radius,
                help="Picks of the two sets on one run at most this many Å apart are the same particle: Å, or "
                "NAME=Å pairs separated by commas (one object each; a bare Å for the others) [default: each "
                "object's radius; 20 Å for an object without one].",
                type=MinDistance("--radius"),
                metavar="Å|NAME=Å,...",
                default=None,
                show_default=False,
            ),
            beta,
            replace(
                over,
                help="The runs scored: shared, those both pick sets have picks of the object on; all, every run "
                "with picks of either (--metric czii: the runs the reference has picks on, or with all every run).",
            ),
            replace(
                metric,
                help="Also: czii, the CZII cryo-ET challenge's score per object (a pick within the object's radius "
                "x --multiplier of a reference pick hits it; a second hit on one reference pick is a false positive; "
                "counts summed over the runs, F-beta per object, weighted by --weights), a sweep of the score "
                "threshold and the localisation error. matching: the one-to-one matching alone.",
            ),
            multiplier,
            weights,
            czii_weights,
            COMPARE_PLOT,
            FORCE,
            QUIET,
            JSON,
        ],
        (COMPARISON, COPICK_PROJECTS, INPUTS, OUTPUT),
    )


#: ``cryodedup audit``'s panel of its own options.
AUDITING = "Audit"

AUDIT = Command(
    [
        Flag(
            ("--min-dist",),
            "Look for duplicates within this many Å in every job [default: each job's own: the threshold of a "
            "RELION Select that removed duplicates in its lineage, else a quarter of the particle (mask) diameter it, "
            "or the nearest job of its lineage, recorded; else 20 Å].",
            type=click.FloatRange(min=0, max=1e5),
            metavar="Å",
            panel=AUDITING,
        ),
        Flag(
            ("--negligible",),
            "The change in resolution that does not matter: a refinement whose FSC (its PostProcess's, else its "
            "run_model.star's) is predicted to move by less than this many Fourier shells at 0.143 without the "
            "duplicate pairs across its half-sets is said, not to redo. Where no FSC is found: the share of its "
            "particles (%) in those pairs under which it is not to redo.",
            type=click.FloatRange(min=0, max=100),
            default=1.0,
            show_default=True,
            metavar="SHELLS|PERCENT",
            panel=AUDITING,
        ),
        Flag(
            ("--max-angle",),
            "In a particle set that carries orientations (rlnAngleRot/Tilt/Psi, alignments3D/pose), particles within "
            "the distance are duplicates only if their poses agree within this many degrees under the point group "
            "its job recorded, in its package's setting (RELION's sym_name, CryoSPARC's refine_symmetry; else C1); "
            "0: positions only. Sets without orientations (extractions, joined picks) are compared by position.",
            type=click.FloatRange(min=0, max=180),
            default=15.0,
            show_default=True,
            metavar="DEG",
            panel=AUDITING,
        ),
        Flag(
            ("--plot",),
            "Also write report.html into this folder (outside the project): the pipeline drawn as a graph, each "
            "job coloured by its verdict, and its line.",
            type=click.Path(path_type=Path, file_okay=False),
            metavar="DIR",
            panel=OUTPUT,
        ),
        FORCE,
        QUIET,
        JSON,
    ],
    (AUDITING, OUTPUT),
)

DEMO = Command(
    [
        FORCE,
        QUIET,
        JSON,
        Flag(("--plot",), "Also write pictures (PNG) and report.html.", default=NOT_GIVEN, is_flag=True, panel=OUTPUT),
    ]
)


def _micrograph_commands() -> dict[str, Any]:
    """The micrograph commands' options (and what the job and the merge of its shards write, and how they report)."""
    from .options.micrographs import PANELS, MicrographOptions

    written = [MICROGRAPH_PARTICLES, MATCH_MICROGRAPHS, FORCE, QUIET, JSON]
    micrographs = Command(
        [
            *job_then_outputs(MicrographOptions, [outdir(MICROGRAPHS_OUTDIR)], written),
            SHARD,
            DASK,
            SHARDS,
            UPDATE,
            WATCH,
            WATCH_IDLE,
        ],
        PANELS,
        short=True,
    )
    outputs = [*written, *(f for f in flags_of(MicrographOptions) if f.panel == OUTPUT)]
    merge = Command([outdir(MICROGRAPHS_OUTDIR), *outputs])
    return {"MICROGRAPH_OUTPUTS": outputs, "MICROGRAPHS": micrographs, "MICROGRAPHS_MERGE": merge}


if TYPE_CHECKING:
    #: ``cryodedup particles``' options.
    PARTICLES: Command
    #: ``cryodedup particles-merge``'s options.
    PARTICLES_MERGE: Command
    #: ``copick process dedup``'s options (:func:`_copick_command`).
    COPICK_DEDUP: Command
    #: What the micrograph job and the merge of its shards write, and how they report.
    MICROGRAPH_OUTPUTS: list[Flag]
    MICROGRAPHS: Command
    MICROGRAPHS_MERGE: Command
    #: ``cryodedup compare``'s options (made when first asked for).
    COMPARE: Command
    #: ``copick evaluation comparepicks``'s options (made when first asked for).
    COPICK_COMPARE: Command
    #: ``cryodedup select``'s options (made when first asked for).
    SELECT: Command


#: The commands whose options are made when first asked for, and what makes them.
_MADE_BY = {
    "PARTICLES": _particle_command,
    "PARTICLES_MERGE": _particles_merge_command,
    "COPICK_DEDUP": _copick_command,
    "COMPARE": _compare_command,
    "COPICK_COMPARE": _copick_compare_command,
    "SELECT": _select_command,
}


def __getattr__(name: str) -> Any:
    if name in _MADE_BY:
        globals()[name] = _MADE_BY[name]()
        return globals()[name]
    if name not in ("MICROGRAPH_OUTPUTS", "MICROGRAPHS", "MICROGRAPHS_MERGE"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals().update(_micrograph_commands())
    return globals()[name]
