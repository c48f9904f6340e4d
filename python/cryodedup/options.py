"""Every option of the jobs, declared once: its field, its flag, its help and its check.

A job's options are a dataclass (:class:`ParticleOptions`, :class:`MicrographOptions`) whose
fields are made by :func:`option`: the field's default, and in its metadata the
:class:`Flag` (the command line's flag, click type, help). The check of the values (the
Python API's options arrive unchecked) is the dataclass's ``check``; how a micrograph job
runs (a shard, on Dask, during collection) is checked with its options by
:class:`MicrographRun`, for the command line and the Python API alike. Each command's
options in order, those that are no job's field among them, are in ``commands.py``.

Imported by the command line at start-up: nothing here imports a job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click
import numpy as np

from .algo.dedup import MAX_INPUTS
from .algo.filaments import MODES as FILAMENT_MODES
from .errors import CryodedupError, alternatives
from .outputs import check_plotting
from .particle_set import OUTPUT_FORMATS, SHIFT_KEYS
from .resolve.micrograph_names import MATCH_MODES
from .species_options import DEFAULT_MIN_DIST, DefaultDistance, MinDistance, NamedDistance, SpeciesDistances

#: Centres and distances beyond this many Å are refused (the core's MAX_COORDINATE): their squares overflow.
MAX_CENTRE = 1e150
#: Values of ``--coverage``: ``auto`` reads which micrographs each input ran on, ``all`` takes every input to
#: have run on every micrograph.
COVERAGE = ("auto", "all")
#: The point groups the core knows (rust/core/src/pose.rs).
SYMMETRY = re.compile(r"[CcDd][1-9][0-9]{0,2}|[TtOoIi]")
CANDIDATES = ("auto", "window", "pattern", "all", "metadata")
# --candidates auto compares every pair of a set up to this size, and a --window beyond it.
# Every pair of 200 micrographs costs what a 100-image window costs (about 100 pairs per
# image), so up to 200 nothing is saved by leaving pairs out. Measured (benches/RESULTS.md,
# K3 at 12 Å, 2 cores): reading and binning one image costs as much as 31-35 pairs.
ALL_PAIRS_UPTO = 200
ORDERS = ("auto", "metadata", "epu", "mtime", "natural", "input")
#: Values of ``--same-image``: what becomes of rows of one particle image kept at different centres.
SAME_IMAGE = ("warn", "reject", "ignore")


class Seed(click.ParamType):
    """A non-negative integer that fits in 64 bits (click's IntRange would print the range)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The seed as an int; anything else fails with the reason."""
        try:
            seed = int(value)
        except (TypeError, ValueError):
            seed = -1
        if not 0 <= seed < 2**64:
            self.fail(f"{value!r} is not a non-negative integer below 2**64", param, ctx)
        return seed


#: A :class:`Flag`'s default left to click.
NOT_GIVEN = object()


@dataclass(frozen=True)
class Flag:
    """One option as the command line shows it: the keywords of ``click.option`` beside its flags.

    ``name``: the command's parameter name where it is not the flag's (``--json`` is ``as_json``).
    ``default``: :data:`NOT_GIVEN` leaves it to click (a switch's is False, a repeated option's
    empty, a required option's none), which tells it from a default of None.
    """

    flags: tuple[str, ...]
    help: str
    type: Any = None
    default: Any = None
    show_default: bool = False
    is_flag: bool = False
    multiple: bool = False
    metavar: str | None = None
    required: bool = False
    name: str | None = None
    label: str = ""  # in report.html's parameters (the field's name with spaces without one)

    def click_args(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The arguments of ``click.option`` for this option."""
        kwargs: dict[str, Any] = {"help": self.help}
        for key in ("type", "metavar"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        if self.default is not NOT_GIVEN:
            kwargs["default"] = self.default
        for key in ("show_default", "is_flag", "multiple", "required"):  # (the label is the report's)
            if getattr(self, key):
                kwargs[key] = True
        return ((self.name, *self.flags) if self.name else self.flags), kwargs


def option(default: Any, flag: str, help: str, **how: Any) -> Any:
    """A job's field with its command-line option (``how``: :class:`Flag`'s other fields).

    A list default (``--metadata``, repeated) is made anew for each options object.
    """
    given = NOT_GIVEN if default is False or isinstance(default, list) else default
    how.setdefault("show_default", given is not None and given is not NOT_GIVEN)  # the help shows every default
    metadata = {"flag": Flag((flag,), help, default=given, **how)}
    if isinstance(default, (list, dict)):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def choice(default: str, flag: str, help: str, *, choices: Sequence[str], **how: Any) -> Any:
    """A job's field that takes one of ``choices``: click offers them, :func:`check_choices` refuses others."""
    return option(default, flag, help, type=click.Choice(list(choices)), **how)


def check_choices(options: object) -> None:
    """Refuses a value that is not among its option's choices (the Python API's options arrive unchecked)."""
    for f in fields(options):  # type: ignore[arg-type]
        flag = f.metadata.get("flag")
        if flag is not None and isinstance(flag.type, click.Choice):
            value = getattr(options, f.name)
            if value not in flag.type.choices:
                raise CryodedupError(f"{flag.flags[0]} is {alternatives(flag.type.choices)}, got {value!r}")


def path_type(file_okay: bool = True, dir_okay: bool = True) -> click.Path:
    """A path option's click type: a :class:`pathlib.Path`."""
    if not file_okay:
        return click.Path(path_type=Path, file_okay=False)
    return click.Path(path_type=Path, dir_okay=dir_okay)


def project_dir_option(help: str) -> Any:
    """``--project-dir`` of either job: the folder relative paths start from (``help`` says which paths)."""
    return option(None, "--project-dir", help, type=path_type(file_okay=False), label="project folder")


MATCH_MICROGRAPHS_HELP = (
    "How micrographs of different inputs are matched: path (exact), name (file name without folders, "
    "extensions, CryoSPARC's uid and motion-correction endings such as _patch_aligned_doseweighted), auto "
    "(name between inputs that share no path). A file name in two folders of one input is never merged."
)
PLOT_HELP = "Also write pictures (PNG) and report.html to OUTDIR."


@dataclass
class ParticleOptions:
    """The job's parameters; the CLI options of ``cryodedup particles``."""

    min_dist: float = option(
        DEFAULT_MIN_DIST,
        "--min-dist",
        "Minimum separation of particle centres, in Å. 0 removes exact copies only (centres within 0.001 Å). "
        "Several species: NAME=Å pairs, separated by commas (a bare Å for the others) [default: 20; copick "
        "objects: their radius].",
        type=MinDistance(),
        label="minimum distance (Å)",
        show_default=False,
    )
    min_dist_z: float | None = option(
        None,
        "--min-dist-z",
        "Subtomograms: the minimum separation along z, in Å (the missing wedge blurs z). Two particles "
        "are duplicates when (dx² + dy²) / min-dist² + dz² / min-dist-z² <= 1. Default: --min-dist.",
        type=float,
        label="minimum distance along z (Å)",
    )
    mic_psize: float | None = option(
        None,
        "--mic-psize",
        "Pixel size of the micrographs the coordinates refer to, in Å (overrides the files).",
        type=float,
        label="micrograph pixel size (Å)",
    )
    micrographs: Path | None = option(
        None,
        "--micrographs",
        "A micrographs STAR, or CryoSPARC exposures (.cs/.csg), to take micrograph pixel sizes from; "
        "for picker inputs, it also names the micrographs as RELION or CryoSPARC does; for Dynamo tables, "
        "the table map (.doc) or volume list (.vll) naming the tomograms.",
        type=path_type(dir_okay=False),
        label="micrographs file",
    )
    shift_key: str = choice(
        "auto",
        "--shift-key",
        "auto: subtract the rlnOrigin columns (STAR), or the alignments3D, else alignments2D shifts "
        "(CryoSPARC); none: locations only; alignments2D/3D: that slot's shifts (CryoSPARC).",
        choices=SHIFT_KEYS,
        label="shift",
    )
    score: str = option(
        "auto",
        "--score",
        "Column or field ranking duplicates (best kept), `none` for a seeded random choice, or `auto`: "
        "the first of rlnAutopickFigureOfMerit, rlnMaxValueProbDistribution, rlnLogLikeliContribution "
        "(STAR); pick_stats/ncc_score, else the alignment error (CryoSPARC).",
    )
    score_order: str = choice(
        "auto",
        "--score-order",
        "Whether higher (max) or lower (min) scores are better.",
        choices=["auto", "max", "min"],
        label="score order",
    )
    remove_entirely: bool = option(
        False,
        "--remove-entirely",
        "Reject every particle that has a neighbour within the distance.",
        is_flag=True,
        label="remove entirely",
    )
    seed: int = option(
        0,
        "--seed",
        "Seed of the random ranking used with `--score none`: a non-negative integer.",
        type=Seed(),
    )
    plot: bool = option(False, "--plot", PLOT_HELP, is_flag=True)
    plot_mics: int = option(
        3,
        "--plot-mics",
        "Example micrographs to draw with their picks (those with the most rejections).",
        type=click.IntRange(0, 100),
        label="example micrographs drawn",
    )
    project_dir: Path | None = project_dir_option(
        "Folder the relative paths in the inputs start from (micrographs to draw, picker lists) "
        "[default: the current folder, then the folders above the input]."
    )
    min_support: int = option(
        1,
        "--min-support",
        "Consensus: keep a pick only if picks of at least this many inputs (its own included) lie within "
        "the minimum distance; the others are rejected.",
        type=click.IntRange(1, MAX_INPUTS),
        label="minimum support (inputs)",
    )
    coverage: str = choice(
        "auto",
        "--coverage",
        "Consensus: which micrographs each input ran on. auto: as each picker's output says (a RELION job's "
        "micrographs, the files of a crYOLO or EMAN folder, even empty ones; else the micrographs it has picks "
        "on); all: every input ran on every micrograph (of --micrographs when given).",
        choices=COVERAGE,
    )
    uncovered: str = choice(
        "keep",
        "--uncovered",
        "Consensus: what becomes of picks on micrographs that fewer than --min-support inputs ran on, "
        "where they cannot be confirmed.",
        choices=["keep", "reject"],
    )
    score_normalize: str = choice(
        "none",
        "--score-normalize",
        "rank: compare each input's scores as percentiles within that input (pickers' scores are not on one scale).",
        choices=["none", "rank"],
        label="score normalization",
    )
    prefer: list[str | Path | int] = option(
        [],
        "--prefer",
        "An input whose particles win every group of duplicates they are in over those of inputs not "
        "preferred before it, whatever the scores (hand picks over a picker's, a re-refined set over its "
        "source): its path as given or its position (1 for the first input); in a copick project, a pick set "
        "as user/session, a user (all its sessions) or a position in the summary's order. Repeat it; the "
        "order given is the order of priority. The score decides within one priority. --remove-entirely "
        "ignores it.",
        multiple=True,
        metavar="INPUT",
        label="preferred inputs",
    )
    same_image: str = choice(
        "warn",
        "--same-image",
        "Rows of one particle image (RELION rlnImageName, CryoSPARC blob/path + blob/idx) at different "
        "centres, as joined selections refined apart leave them: warn names the images kept more than once; "
        "reject makes such rows duplicates whatever their distance (the best by priority and score kept); "
        "ignore checks nothing. Symmetry-expanded copies (one image at one centre, or CryoSPARC's "
        "sym_expand copies) are not this case.",
        choices=SAME_IMAGE,
        label="same image twice",
    )
    output_format: str = choice(
        "auto",
        "--output-format",
        "Picker inputs: relion (a coordinate job for Extract), cryosparc (particles .cs with a location "
        "slot), input (each picker's own format); auto: the inputs' format when they share one, else relion.",
        choices=["auto", *OUTPUT_FORMATS],
    )
    topaz_scale: float | None = option(
        None,
        "--topaz-scale",
        "Factor from topaz coordinates to micrograph pixels (the -s of topaz preprocess; 1 after topaz "
        "extract -x) [default: inferred from the micrographs' sizes given with --micrographs, else refused].",
        type=float,
    )
    filament_mode: str = choice(
        "segment",
        "--filament-mode",
        "Filaments (rlnHelicalTubeID, filament/filament_uid, crYOLO _filamentid): segments of one tube are "
        "never duplicates; segment: remove duplicate segments between tubes; tube: reject a tube whole when "
        "more than half of its segments lie near a better tube (ranked by mean segment score).",
        choices=FILAMENT_MODES,
    )
    audit: bool = option(
        False,
        "--audit",
        "Report only (summary, --json, --plot): duplicate pairs across and within the half-sets of a "
        "refinement, symmetry copies; no particle files are written.",
        is_flag=True,
    )
    halfsets: str = choice(
        "keep",
        "--halfsets",
        "micrograph: give all kept particles of a micrograph one half-set (rlnRandomSubset, "
        "alignments3D/split), halves balanced in count; only that column changes.",
        choices=["keep", "micrograph"],
        label="half-sets",
    )
    max_angle: float | None = option(
        None,
        "--max-angle",
        "Particles within the minimum distance are duplicates only if their orientations (rlnAngleRot/Tilt/"
        "Psi, alignments3D/pose) differ by at most this many degrees [default: orientations not compared].",
        type=click.FloatRange(0, 180),
        label="maximum angle (°)",
    )
    sym: str = option(
        "C1",
        "--sym",
        "Point group of the reference (C1, Cn, Dn, T, O, I) for --max-angle: the smallest angle over its operators.",
        label="symmetry",
    )
    species: list[str] = option(
        [],
        "--species",
        "Several species (cryo-ET): the species of each input, in the order of the inputs (repeat the option "
        "once per input; inputs may share a species). Duplicates are removed within each species.",
        multiple=True,
        metavar="NAME",
    )
    species_column: str | None = option(
        None,
        "--species-column",
        "Several species in one file: the column holding each particle's species (rlnClassNumber, or "
        "another numeric column).",
        label="species column",
    )
    radius: dict[str, float] = option(
        {},
        "--radius",
        "--cross-species: each species' radius in Å, as NAME=Å pairs separated by commas, or the option "
        "repeated (copick objects carry theirs).",
        type=NamedDistance(),
        multiple=True,
        metavar="NAME=Å,...",
        show_default=False,
    )
    cross_species: bool = option(
        False,
        "--cross-species",
        "Picks of different species whose spheres overlap (centre distance < (r_a + r_b) x --overlap) "
        "cannot both be right: keep the one ranked better within its own species.",
        is_flag=True,
        label="cross-species",
    )
    overlap: float = option(
        1.0,
        "--overlap",
        "--cross-species: the fraction of the sum of two radii below which two species' picks overlap.",
        type=float,
    )
    copick_objects: str | None = option(
        None,
        "--copick-objects",
        "copick project: the objects to read, separated by commas [default: every particle object].",
        metavar="NAME,...",
    )
    copick_users: str | None = option(
        None,
        "--copick-users",
        "copick project: the users (or tools) whose picks to read [default: all but cryodedup's earlier "
        "results, read only when their user is named here].",
        metavar="ID,...",
    )
    copick_sessions: str | None = option(
        None, "--copick-sessions", "copick project: the sessions to read [default: all].", metavar="ID,..."
    )
    copick_out_user: str = option(
        "cryodedup",
        "--copick-out-user",
        "copick project: the user the kept picks are written as (never read as an input).",
        label="copick output user",
    )
    copick_out_session: str = option(
        "0",
        "--copick-out-session",
        "copick project: the session the kept picks are written in (0: copick's session of tools' picks); "
        "cryodedup's earlier picks there are refused unless --force, anyone else's always.",
        label="copick output session",
    )
    #: The ``NAME=Å`` pairs of ``--min-dist`` (the API may give them here): each species' minimum distance.
    species_min_dist: dict[str, float] = field(default_factory=dict, metadata={"label": "minimum distance by species"})
    #: How micrographs of different inputs are matched: auto, path or name (docs/design.md
    #: section 2, "Matching micrographs").
    match_micrographs: str = choice(
        "auto",
        "--match-micrographs",
        MATCH_MICROGRAPHS_HELP,
        choices=MATCH_MODES,
        show_default=True,
        label="micrographs matched by",
    )

    def __post_init__(self) -> None:
        # The command line's --min-dist pairs and repeated --radius, as the API gives them.
        if isinstance(self.min_dist, SpeciesDistances):
            pairs = self.min_dist
            self.min_dist = DEFAULT_MIN_DIST if pairs.default is None else pairs.default
            self.species_min_dist = {**pairs.by_species, **self.species_min_dist}
        given: Any = self.radius
        if given is None:
            self.radius = {}
        elif isinstance(given, (list, tuple)):  # --radius repeated on the command line: one dict each
            merged: dict[str, float] = {}
            for pairs in given:
                for name, value in dict(pairs).items():
                    if name in merged:  # (refused by check(), where a user's mistake is one line)
                        self._radius_twice = name
                    merged[name] = value
            self.radius = merged
        self.species = list(self.species)

    @property
    def symmetry_copies(self) -> bool:
        """Whether the readers name each row's image to find symmetry copies (``--min-dist 0``, ``--audit``)."""
        return self.audit or self.min_dist == 0

    @property
    def min_dist_given(self) -> bool:
        """Whether a distance was given (else copick objects take their radius)."""
        return not isinstance(self.min_dist, DefaultDistance)

    def check(self) -> None:
        """Raises a CryodedupError naming the first option out of its range or of the wrong type."""
        _check_option_types(self)
        _check_species(self)
        check_choices(self)
        if not 0 <= self.min_dist <= MAX_CENTRE:
            raise CryodedupError(
                f"--min-dist must be a distance in Å from 0 to 1e150 (its square finite), got {self.min_dist}"
            )
        if self.min_dist_z is not None:
            if not 0 < self.min_dist_z <= MAX_CENTRE:
                raise CryodedupError(f"--min-dist-z must be a distance in Å above 0, to 1e150, got {self.min_dist_z}")
            if self.min_dist == 0:
                raise CryodedupError(
                    "--min-dist-z needs --min-dist > 0: the duplicate ellipsoid's half-axis in x and y"
                )
        if self.mic_psize is not None and not (np.isfinite(self.mic_psize) and self.mic_psize > 0):
            raise CryodedupError(f"--mic-psize must be a pixel size in Å > 0, got {self.mic_psize}")
        if not _is_whole_number(self.min_support) or not 1 <= self.min_support <= MAX_INPUTS:
            raise CryodedupError(f"--min-support must be a whole number of inputs from 1 to {MAX_INPUTS}")
        if self.uncovered == "reject" and self.min_support == 1:
            # At support 1 every pick confirms itself: nothing is unconfirmable, so the
            # option would change nothing while the user believes uncovered picks are gone.
            raise CryodedupError(
                "--uncovered reject decides the picks that --min-support cannot be asked of, and at "
                "--min-support 1 there are none: give --min-support 2 or more, or drop --uncovered"
            )
        if self.topaz_scale is not None and not (np.isfinite(self.topaz_scale) and self.topaz_scale > 0):
            raise CryodedupError(f"--topaz-scale must be a number > 0, got {self.topaz_scale}")
        if not 0 <= self.seed < 2**64:
            raise CryodedupError(f"--seed must be in [0, 2**64), got {self.seed}")
        if self.filament_mode == "tube" and self.remove_entirely:
            raise CryodedupError(
                "--filament-mode tube and --remove-entirely exclude each other: tubes are kept or rejected whole"
            )
        if self.project_dir is not None and not Path(self.project_dir).is_dir():
            raise CryodedupError(f"--project-dir {self.project_dir}: no such folder")
        if self.max_angle is not None and not (np.isfinite(self.max_angle) and 0 <= self.max_angle <= 180):
            raise CryodedupError(f"--max-angle must be an angle in degrees from 0 to 180, got {self.max_angle}")
        if not SYMMETRY.fullmatch(self.sym):
            raise CryodedupError(f"--sym is C1, Cn, Dn (n >= 1), T, O or I, got {self.sym!r}")
        if self.sym.upper() != "C1" and self.max_angle is None:
            raise CryodedupError(f"--sym {self.sym} compares orientations: give the angle with --max-angle")
        prefer: object = self.prefer  # (the Python API's options arrive unchecked)
        if not isinstance(prefer, (list, tuple)) or not all(
            isinstance(p, (str, Path, int)) and not isinstance(p, bool) for p in prefer
        ):
            raise CryodedupError(
                f"--prefer takes a list of inputs (paths as given, or positions from 1), got {self.prefer!r}"
            )
        if self.audit and self.halfsets != "keep":
            raise CryodedupError("--audit writes no particle files, so --halfsets has nothing to rewrite; drop one")
        check_plotting(self.plot)


def _check_species(options: ParticleOptions) -> None:
    """The species options: distances and radii in range, one way of naming species."""
    twice = getattr(options, "_radius_twice", None)
    if twice is not None:
        raise CryodedupError(f"--radius: species {twice!r} given twice")
    for flag, values in (("--min-dist", options.species_min_dist), ("--radius", options.radius)):
        for name, value in values.items():
            if not (_is_real_number(value) and 0 <= value <= MAX_CENTRE):
                raise CryodedupError(f"{flag} {name}={value}: a distance in Å from 0 to 1e150 was expected")
    if options.species and options.species_column:
        raise CryodedupError(
            "--species names each input's species and --species-column reads it from a column: give one"
        )
    if not (_is_real_number(options.overlap) and 0 < options.overlap <= 10):
        raise CryodedupError(
            f"--overlap must be a fraction of the sum of two radii above 0, to 10, got {options.overlap}"
        )
    if options.overlap != 1.0 and not options.cross_species:
        raise CryodedupError("--overlap is the overlap of --cross-species: give --cross-species too")
    if options.radius and not options.cross_species:
        raise CryodedupError("--radius is used by --cross-species alone: give --cross-species too")


def _check_option_types(options: ParticleOptions) -> None:
    """Numbers must be numbers: options from the Python API arrive unchecked (``min_dist='5'``)."""
    for name in ("min_dist", "mic_psize", "topaz_scale", "max_angle"):
        value = getattr(options, name)
        if value is not None and not _is_real_number(value):
            raise CryodedupError(f"--{name.replace('_', '-')} must be a number, got {value!r}")
    for name in ("seed", "plot_mics"):  # (min_support: checked with its range)
        if not _is_whole_number(getattr(options, name)):
            raise CryodedupError(f"--{name.replace('_', '-')} must be a whole number, got {getattr(options, name)!r}")
    if not isinstance(options.score, str):  # (score=None from the API: "none" is the word for no score)
        raise CryodedupError(f"--score must be a column name, auto or none, got {options.score!r}")


#: The most images a size option of the micrograph job may name (--window, --scan-range, ...):
#: a session of a million micrographs is large; above 10 million a value is a typo.
MAX_IMAGES = 10_000_000

#: The largest --bin: a binned image keeps at least 8 pixels a side, and no detector is 800,000 pixels wide.
MAX_BIN = 100_000

#: The largest length in Å of the micrograph job's options (pixel sizes, filters): 0.1 mm.
MAX_ANGSTROM = 1e6


def _check_whole(name: str, value: object, low: int, high: int, unit: str) -> None:
    """Refuses an option that is not a whole number from ``low`` to ``high`` (named, with the range)."""
    if not _is_whole_number(value) or not low <= value <= high:  # type: ignore[operator]
        raise CryodedupError(
            f"--{name.replace('_', '-')} must be a whole number{' of ' + unit if unit else ''} "
            f"from {low:,} to {high:,}, got {value!r}"
        )


def _is_real_number(value: object) -> bool:
    """An int or float (numpy's included), not a bool or a string."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_whole_number(value: object) -> bool:
    """Whether ``value`` is an int (numpy's included, not a bool): options from the Python API arrive unchecked."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass
class MicrographOptions:
    """The parameters of ``cryodedup micrographs``."""

    target_psize: float = option(
        12.0,
        "--target-psize",
        "Pixel size (Å) to bin the micrographs to; the bin is rounded from it.",
        type=float,
        label="target pixel size (Å)",
    )  # Å per binned pixel
    bin: int | None = option(
        None, "--bin", "Binning factor (overrides --target-psize).", type=int, name="bin_", label="binning"
    )
    lowpass: float | None = option(  # default 4 binned pixels (0.25 cycles/pixel)
        None, "--lowpass", "Finest detail used, Å [default: 4 binned pixels].", type=float, label="low-pass (Å)"
    )
    highpass: float | None = option(  # default 25 binned pixels (0.04 cycles/pixel)
        None, "--highpass", "Coarsest detail used, Å [default: 25 binned pixels].", type=float, label="high-pass (Å)"
    )
    candidates: str = choice(
        "auto",
        "--candidates",
        f"auto: every pair up to {ALL_PAIRS_UPTO} micrographs, else window; window: every pair within "
        "--window images in acquisition order; pattern: microduplicate_screener's pairs; all: every pair; "
        "metadata: the pairs whose positions (--metadata) lie within --beam-diameter.",
        choices=CANDIDATES,
    )
    window: int = option(
        100,
        "--window",
        "Images after each image compared with it (window, and auto on large sets).",
        type=int,
        label="window (images)",
    )
    scan_range: int = option(
        48, "--scan-range", "pattern: images scanned past the move.", type=int, label="scan range (images)"
    )
    images_per_move: int = option(
        16,
        "--images-per-move",
        "pattern: images per stage move.",
        type=int,
        show_default=True,
        label="images per move",
    )
    images_per_hole: int = option(
        4, "--images-per-hole", "pattern: images per hole.", type=int, label="images per hole"
    )
    order: str = choice(
        "auto",
        "--order",
        "Acquisition order: auto takes the acquisition times of --metadata, else EPU time stamps "
        "(_YYYYMMDD_HHMMSS), else the numbers in the names (natural sort); mtime: file times (a copy or "
        "restore shuffles them).",
        choices=ORDERS,
        label="acquisition order",
    )
    min_z: float = option(
        8.0,
        "--min-z",
        "Phase-correlation peak, in standard deviations, for a duplicate: the floor of the threshold, which "
        "rises to the run's own null (median z of its pairs + 8 robust SD) when that is higher.",
        type=float,
        label="minimum z",
    )
    min_pearson: float = option(
        0.15,
        "--min-pearson",
        "Pearson coefficient over the overlap, for a duplicate.",
        type=float,
        label="minimum Pearson",
    )
    psize: float | None = option(
        None, "--psize", "Micrograph pixel size in Å (overrides the input).", type=float, label="pixel size (Å)"
    )
    project_dir: Path | None = project_dir_option(
        "Folder the input's relative paths start from [default: the current folder, then the folders "
        "above the input file]."
    )
    skip_unreadable: bool = option(
        False,
        "--skip-unreadable",
        "Go on without micrographs that cannot be read; list them.",
        is_flag=True,
        label="skip unreadable",
    )
    #: Images read per batch (no command-line option).
    batch: int = field(default=32, metadata={"label": "images per batch"})
    plot: bool = option(False, "--plot", PLOT_HELP, is_flag=True)
    plot_pairs: int = option(
        12,
        "--plot-pairs",
        "Flagged pairs to draw (highest z first).",
        type=click.IntRange(0, 1000),
        label="flagged pairs drawn",
    )
    #: EPU .xml, SerialEM .mdoc: files, folders, globs.
    metadata: list[Path] = option(
        [],
        "--metadata",
        "EPU .xml or SerialEM .mdoc files, folders or quoted globs (repeat the option for several): where "
        "each image was taken, matched to the micrographs by file name.",
        multiple=True,
        metavar="PATH",
    )
    shift_calibration: float | None = option(
        None,
        "--shift-calibration",
        "µm of specimen per unit of beam/image shift [default: inferred from how the multi-hole template "
        "repeats between stage stops].",
        type=float,
        metavar="UM_PER_UNIT",
    )  # None: inferred
    beam_diameter: float | None = option(
        None,
        "--beam-diameter",
        "Pairs closer than this (µm) are compared with --candidates metadata; with --no-images, closer than "
        "half of it are duplicates [default: the metadata's BeamDiameter, else the camera field's diagonal].",
        type=float,
        metavar="UM",
    )  # None: the metadata's, else the field's diagonal
    no_images: bool = option(
        False,
        "--no-images",
        "Decide from --metadata alone (no image is read: nothing is confirmed by images).",
        is_flag=True,
    )

    def check(self) -> None:
        """Raises a ``CryodedupError`` naming the first option out of its range."""
        check_choices(self)
        # Sizes are bounded before anything is allocated: a window or scan range beyond the
        # micrographs is cut to them where it is used (plan.candidate_offsets); beyond these
        # bounds a value is a typo (1e12, 2**62), refused in one line.
        for name in ("window", "scan_range", "images_per_move", "images_per_hole"):
            _check_whole(name, getattr(self, name), 1, MAX_IMAGES, "images")
        if self.bin is not None:
            _check_whole("bin", self.bin, 1, MAX_BIN, "")
        for name in ("target_psize", "lowpass", "highpass", "psize"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and 0 < value <= MAX_ANGSTROM):
                flag, most = name.replace("_", "-"), f"{MAX_ANGSTROM:,.0f}"
                raise CryodedupError(f"--{flag} must be a finite number of Å above 0, to {most}, got {value}")
        if self.lowpass is not None and self.highpass is not None and self.highpass <= self.lowpass:
            raise CryodedupError(
                f"--highpass ({self.highpass} Å, the coarsest detail used) must be above --lowpass "
                f"({self.lowpass} Å, the finest); the band between them would be empty"
            )
        if self.project_dir is not None and not Path(self.project_dir).is_dir():
            raise CryodedupError(f"--project-dir {self.project_dir}: no such folder")
        if not np.isfinite(self.min_z):
            raise CryodedupError(f"--min-z must be a finite number of standard deviations, got {self.min_z}")
        if not -1 <= self.min_pearson <= 1:  # NaN fails too
            raise CryodedupError(f"--min-pearson must be a coefficient from -1 to 1, got {self.min_pearson}")
        check_plotting(self.plot)
        self._check_metadata()

    def _check_metadata(self) -> None:
        needs = [
            what
            for what, used in (
                ("--candidates metadata", self.candidates == "metadata"),
                ("--no-images", self.no_images),
                ("--order metadata", self.order == "metadata"),
                ("--shift-calibration", self.shift_calibration is not None),
                ("--beam-diameter", self.beam_diameter is not None),
            )
            if used
        ]
        if needs and not self.metadata:
            raise CryodedupError(f"{needs[0]} needs --metadata (EPU .xml or SerialEM .mdoc files, folders or globs)")
        if self.shift_calibration is not None and not (np.isfinite(self.shift_calibration) and self.shift_calibration):
            raise CryodedupError(
                f"--shift-calibration must be a finite, non-zero µm per unit, got {self.shift_calibration}"
            )
        if self.beam_diameter is not None and not (np.isfinite(self.beam_diameter) and self.beam_diameter > 0):
            raise CryodedupError(f"--beam-diameter must be a finite number of µm > 0, got {self.beam_diameter}")


@dataclass(frozen=True)
class MicrographRun:
    """How a micrograph job runs: in one process or elsewhere, as one shard, again during collection.

    The command line's ``--shard``, ``--dask``, ``--shards``, ``--update``, ``--watch``,
    ``--watch-idle`` and whether ``--particles`` was given; the Python API sets what its call
    says (``in_process``: scored by the job's own process, not by a runner such as Dask's).
    :meth:`check` holds every rule on how these go together and with the job's options.
    """

    shard: str | None = None
    dask: str | None = None
    shards: int | None = None
    update: bool = False
    watch: float | None = None
    watch_idle: float | None = None
    particles: bool = False
    in_process: bool = True

    def check(self, options: MicrographOptions) -> None:
        """Refuses options that do not go together, in one line naming them."""
        if any(value is not None and math.isnan(value) for value in (self.watch, self.watch_idle)):
            raise CryodedupError("--watch (seconds) and --watch-idle (minutes) must be numbers, got NaN")
        if self.watch_idle is not None and self.watch is None:
            raise CryodedupError("--watch-idle goes with --watch SECONDS")
        update = self.update or self.watch is not None
        if update and (self.shard is not None or self.dask is not None or not self.in_process):
            raise CryodedupError("--update runs in one process: it cannot be given with --shard or --dask")
        if update and options.no_images:
            raise CryodedupError("--update keeps the images it read; with --no-images nothing is read: run without it")
        if self.watch is None:
            self._check_elsewhere(options)

    def _check_elsewhere(self, options: MicrographOptions) -> None:
        """The rules of a job scored in shards: a job array's (``--shard``) or Dask's."""
        if options.metadata and self.shard is not None:
            raise CryodedupError(
                "--metadata cannot be given with --shard: micrographs-merge does not read the metadata again; "
                "use --dask, or one process (--candidates metadata compares a few pairs per micrograph)"
            )
        if self.shard is not None and (self.dask is not None or self.particles):
            raise CryodedupError("--shard writes scored pairs only: give --particles to micrographs-merge, no --dask")
        if self.shard is not None and options.plot:
            raise CryodedupError("--plot goes with micrographs-merge, which writes the outputs of all shards")
        if self.shards is not None and self.dask is None:
            raise CryodedupError("--shards goes with --dask (with a job array, give --shard K/N to each task)")
