"""The particle job's options (``cryodedup particles``): :class:`ParticleOptions` and its check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..algo import MAX_CENTRE, SELECTIONS
from ..algo.dedup import MAX_INPUTS
from ..algo.filaments import MODES as FILAMENT_MODES
from ..algo.normalisation import NORMALISATIONS, option_help
from ..errors import CryodedupError, as_option_errors
from ..outputs import check_plotting
from ..particle_set import OUTPUT_FORMATS, SHIFT_KEYS
from ..resolve.micrograph_names import MATCH_MODES
from .exclusion import check_ellipsoids, check_masks, check_overrides, ellipsoid_text_parses
from .fields import (
    CENTRES,
    COLLECTION,
    COMPARE,
    COPICK,
    DECISION,
    MATCH_MICROGRAPHS_HELP,
    OUTPUT,
    PLOT_HELP,
    InputPixelSizes,
    PixelSizes,
    Seed,
    check_choices,
    choice,
    insist_psize_option,
    is_real_number,
    is_whole_number,
    option,
    overrides_option,
    path_type,
    project_dir_option,
)
from .input_texts import check_dataset_values, check_transforms
from .species import (
    DEFAULT_MIN_DIST,
    DefaultDistance,
    EllipsoidAxes,
    MinDistance,
    NamedDistance,
    SpeciesEllipsoids,
    named_distances,
    parse_ellipsoids,
)

__all__ = ["COPICK_PROJECTS", "INPUTS", "PANELS", "ParticleOptions"]

#: The panels of ``cryodedup particles --help``, in their order; each option names its own (``panel=``).
DISTANCE = "Distance and pixel size"
INPUTS = "Inputs and frames"
RANKING = "Ranking"
SPECIES = "Several species (cryo-ET)"
MASKS = "Masks and edges"
COPICK_PROJECTS = "copick projects"
PICKERS = "Pickers and consensus"
ORIENTATIONS = "Half-sets and orientations"
PANELS = (DISTANCE, INPUTS, RANKING, SPECIES, MASKS, COPICK_PROJECTS, PICKERS, ORIENTATIONS, COLLECTION, OUTPUT)

#: Values of ``--coverage``: ``auto`` reads which micrographs each input ran on, ``all`` takes every input to
#: have run on every micrograph.
COVERAGE = ("auto", "all")
SYMMETRY = re.compile(r"([Cc]|[Dd][XxYy]?)[1-9]\d{0,2}|[TtOoIi]|[Ii][1-4]|[Tt](222|[Zz]3)")  # (the core's: pose.rs)
#: Values of ``--same-image``: what becomes of rows of one particle image kept at different centres.
SAME_IMAGE = ("warn", "reject", "ignore")
#: The largest order n of Cn and Dn taken (RELION 3.1.3's own programs take n up to 99).
MAX_SYMMETRY_ORDER = 999
#: Values of ``--registration``: what a merge of inputs whose picks register only under a transform does.
REGISTRATION = ("check", "warn", "ignore")


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
        metavar="Å|NAME=Å,...",
        panel=DISTANCE,
        affects=DECISION,
        taken_by=(CENTRES, COPICK),
        essential=True,
    )
    min_dist_z: float | None = option(
        None,
        "--min-dist-z",
        "Subtomograms: the minimum separation along z, in Å (the missing wedge blurs z). Two particles "
        "are duplicates when (dx² + dy²) / min-dist² + dz² / min-dist-z² <= 1. Several species: NAME=Å pairs, "
        "separated by commas (a bare Å for the others). Default: --min-dist.",
        type=MinDistance("--min-dist-z"),
        metavar="Å|NAME=Å,...",
        label="minimum distance along z (Å)",
        panel=DISTANCE,
        affects=DECISION,
        taken_by=(CENTRES, COPICK),
    )
    min_dist_ellipsoid: tuple[float, float, float] | None = option(
        None,
        "--min-dist-ellipsoid",
        "Subtomograms with orientations: exclusion in each particle's own frame, an ellipsoid with semi-axes "
        "A, B, C in Å along the particle's x, y and z (the reference's axes), turned by its pose (RELION's "
        "rlnAngleRot/Tilt/Psi). Two particles are duplicates when either centre lies inside the other's "
        "ellipsoid. Replaces --min-dist. Several species: NAME=A,B,C groups separated by commas (a bare A,B,C "
        "for the others).",
        type=EllipsoidAxes(),
        metavar="A,B,C|NAME=A,B,C,...",
        label="exclusion ellipsoid in the particle's frame (Å)",
        panel=DISTANCE,
        taken_by=(COPICK,),
    )
    mic_psize: float | None = option(
        None,
        "--mic-psize",
        "Pixel size of the micrographs the coordinates refer to, in Å (overrides the files). Particle STAR "
        "inputs at different pixel sizes: INPUT=Å pairs separated by commas, an input named as --prefer names "
        "it (a bare Å for the inputs not named): --mic-psize 10,warp_b/particles.star=12.",
        type=PixelSizes(),
        label="micrograph pixel size (Å)",
        metavar="Å|INPUT=Å,...",
        panel=DISTANCE,
        affects=DECISION,
        taken_by=(COMPARE,),
        essential=True,
    )
    insist_psize: bool = insist_psize_option(
        "--mic-psize",
        "the optics table, a micrographs STAR, CryoSPARC's psize_A fields or the micrographs' extent",
        panel=DISTANCE,
    )
    micrographs: Path | None = option(
        None,
        "--micrographs",
        "A micrographs STAR, or CryoSPARC exposures (.cs/.csg), to take micrograph pixel sizes from; "
        "for picker inputs, it also names the micrographs as RELION or CryoSPARC does; for Dynamo tables, "
        "the table map (.doc) or volume list (.vll) naming the tomograms; for RELION tomography, RELION 5's "
        "tomograms.star (tomogram pixel sizes, and the sizes that put centred Å and pixel files in one frame).",
        type=path_type(dir_okay=False),
        label="micrographs file",
        panel=DISTANCE,
        taken_by=(COMPARE,),
        essential=True,
    )
    shift_key: str = choice(
        "auto",
        "--shift-key",
        "auto: subtract the rlnOrigin columns (STAR), or the alignments3D, else alignments2D shifts "
        "(CryoSPARC); none: locations only; alignments2D/3D: that slot's shifts (CryoSPARC).",
        choices=SHIFT_KEYS,
        label="shift",
        panel=RANKING,
        affects=DECISION,
        taken_by=(COMPARE,),
    )
    score: str = option(
        "auto",
        "--score",
        "Column or field ranking duplicates (best kept), `none` for a seeded random choice, or `auto`: "
        "the first of rlnAutopickFigureOfMerit, rlnMaxValueProbDistribution, rlnLogLikeliContribution "
        "(STAR); pick_stats/ncc_score, else the alignment error (CryoSPARC).",
        panel=RANKING,
        affects=DECISION,
        essential=True,
    )
    score_order: str = choice(
        "auto",
        "--score-order",
        "Whether higher (max) or lower (min) scores are better.",
        choices=["auto", "max", "min"],
        label="score order",
        panel=RANKING,
        affects=DECISION,
        taken_by=(COPICK,),
    )
    remove_entirely: bool = option(
        False,
        "--remove-entirely",
        "Reject every particle that has a neighbour within the distance.",
        is_flag=True,
        label="remove entirely",
        panel=RANKING,
        taken_by=(CENTRES, COPICK),
    )
    select: str = choice(
        "greedy",
        "--select",
        "Which picks of a group of duplicates are kept: `greedy` (from the best score down, as RELION and "
        "CryoSPARC do), `best-score` (the set with the largest sum of scores) or `most-particles` (the set with "
        "the most picks), no two within the distance either way; exact up to 128 picks, beyond by HiGHS "
        "(`cryodedup[select]`, 30 s a group) else bounded, the bound said; past 2^24 pairs a micrograph is greedy.",
        choices=list(SELECTIONS),
        label="selection",
        panel=RANKING,
        affects=DECISION,
        taken_by=(COPICK,),
    )
    seed: int = option(
        0,
        "--seed",
        "Seed of the random ranking used with `--score none`: a non-negative integer.",
        type=Seed(),
        panel=RANKING,
        affects=DECISION,
        taken_by=(CENTRES,),
    )
    overrides: Path | None = overrides_option(
        "each particle line forces its particle kept (it rejects its neighbours as any kept one) or rejected (it "
        "rejects none); the others are decided as before. A line naming a row that holds another particle is refused.",
        panel=RANKING,
    )
    plot: bool = option(False, "--plot", PLOT_HELP, is_flag=True, panel=OUTPUT, taken_by=(COPICK,), essential=True)
    plot_mics: int = option(
        3,
        "--plot-mics",
        "Example micrographs to draw with their picks (those with the most rejections).",
        type=click.IntRange(0, 100),
        label="example micrographs drawn",
        panel=OUTPUT,
        taken_by=(COPICK,),
    )
    decisions: bool = option(
        False,
        "--decisions",
        "Also write decisions.csv to OUTDIR: each rejected particle, the kept particle it lost to, their "
        "distance and the rule that decided.",
        is_flag=True,
        panel=OUTPUT,
    )
    project_dir: Path | None = project_dir_option(
        "Folder the relative paths in the inputs start from (micrographs to draw, picker lists) "
        "[default: the current folder, then the folders above the input].",
        panel=OUTPUT,
        taken_by=(COMPARE,),
    )
    min_support: int = option(
        1,
        "--min-support",
        "Consensus: keep a pick only if picks of at least this many inputs (its own included) lie within "
        "the minimum distance; the others are rejected.",
        type=click.IntRange(1, MAX_INPUTS),
        label="minimum support (inputs)",
        panel=PICKERS,
        taken_by=(CENTRES, COPICK),
        essential=True,
    )
    coverage: str = choice(
        "auto",
        "--coverage",
        "Consensus: which micrographs each input ran on. auto: as each picker's output says (a RELION job's "
        "micrographs, the files of a crYOLO or EMAN folder, even empty ones; else the micrographs it has picks "
        "on); all: every input ran on every micrograph (of --micrographs when given).",
        choices=COVERAGE,
        panel=PICKERS,
        taken_by=(CENTRES,),
    )
    uncovered: str = choice(
        "keep",
        "--uncovered",
        "Consensus: what becomes of picks on micrographs that fewer than --min-support inputs ran on, "
        "where they cannot be confirmed.",
        choices=["keep", "reject"],
        panel=PICKERS,
        taken_by=(CENTRES, COPICK),
    )
    score_normalize: str = choice(
        "none",
        "--score-normalize",
        option_help(),
        choices=list(NORMALISATIONS),
        label="score normalization",
        panel=RANKING,
        taken_by=(CENTRES, COPICK),
    )
    prefer: list[str | Path | int] = option(
        [],
        "--prefer",
        "An input whose particles win every group of duplicates they are in over those of inputs not "
        "preferred before it, whatever the scores (hand picks over a picker's, a re-refined set over its "
        "source): its path as given, its position (1 for the first input) or a folder (the inputs beneath it, "
        "at one priority); in a copick project, a pick set "
        "as user/session, a user (all its sessions) or a position in the summary's order. Repeat it; the "
        "order given is the order of priority. The score decides within one (STAR inputs sharing no score: "
        "each by one it has, rlnLCCmax too, else file order). --remove-entirely ignores it.",
        multiple=True,
        metavar="INPUT",
        label="preferred inputs",
        panel=RANKING,
        taken_by=(COPICK,),
        essential=True,
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
        panel=RANKING,
        affects=DECISION,
    )
    output_format: str = choice(
        "auto",
        "--output-format",
        "Picker inputs: relion (a coordinate job for Extract), cryosparc (particles .cs with a location "
        "slot), input (each picker's own format); auto: the inputs' format when they share one, else relion.",
        choices=["auto", *OUTPUT_FORMATS],
        panel=PICKERS,
    )
    topaz_scale: float | None = option(
        None,
        "--topaz-scale",
        "Factor from topaz coordinates to micrograph pixels (the -s of topaz preprocess; 1 after topaz "
        "extract -x) [default: inferred from the micrographs' sizes given with --micrographs, else refused].",
        type=float,
        panel=PICKERS,
        taken_by=(COMPARE,),
    )
    import_scale: float = option(
        1.0,
        "--import-scale",
        "RELION 5 import lists: the factor RELION's import multiplies a text coordinate file's x y z by "
        "(its --scale_factor); STAR coordinate files are never scaled.",
        type=float,
        panel=INPUTS,
        taken_by=(COMPARE,),
    )
    import_add: float = option(
        0.0,
        "--import-add",
        "RELION 5 import lists: what RELION's import adds to a text coordinate file's x y z after scaling "
        "(its --add_factor); STAR coordinate files are never shifted.",
        type=float,
        panel=INPUTS,
        taken_by=(COMPARE,),
    )
    import_centered: bool = option(
        False,
        "--import-centered",
        "RELION 5 import lists: a text coordinate file's x y z are Å from the tomogram's centre (RELION's "
        "import --centered), not tilt-series pixels from its corner.",
        is_flag=True,
        panel=INPUTS,
        taken_by=(COMPARE,),
    )
    filament_mode: str = choice(
        "segment",
        "--filament-mode",
        "Filaments (rlnHelicalTubeID, filament/filament_uid, crYOLO _filamentid): segments of one tube are "
        "never duplicates; segment: remove duplicate segments between tubes; tube: reject a tube whole when "
        "more than half of its segments lie near a better tube (ranked by mean segment score).",
        choices=FILAMENT_MODES,
        panel=RANKING,
    )
    audit: bool = option(
        False,
        "--audit",
        "Report only (summary, --json, --plot): duplicate pairs across and within the half-sets of a "
        "refinement, symmetry copies; no particle files are written.",
        is_flag=True,
        panel=ORIENTATIONS,
    )
    fsc: Path | None = option(
        None,
        "--fsc",
        "With --audit, a refinement's FSC (RELION's postprocess.star or run_model.star, or relion_image_handler "
        "--fsc's table): the resolution at FSC 0.143 as refined and as predicted without the duplicate pairs "
        "across the half-sets, from the share of the half-maps' noise they hold.",
        type=path_type(),
        metavar="STAR",
        label="FSC",
        panel=ORIENTATIONS,
    )
    halfsets: str = choice(
        "keep",
        "--halfsets",
        "micrograph: give all kept particles of a micrograph one half-set (rlnRandomSubset, "
        "alignments3D/split), halves balanced in count; only that column changes. trim: reject the larger half's "
        "lowest-scored kept particles (random by --seed without a score) until the halves differ by at most one; "
        "none changes half.",
        choices=["keep", "micrograph", "trim"],
        label="half-sets",
        panel=ORIENTATIONS,
    )
    max_angle: float | None = option(
        None,
        "--max-angle",
        "Particles within the minimum distance are duplicates only if their orientations (rlnAngleRot/Tilt/"
        "Psi, alignments3D/pose) differ by at most this many degrees (0: positions only) [default: not compared].",
        type=click.FloatRange(0, 180),
        label="maximum angle (°)",
        panel=ORIENTATIONS,
        taken_by=(COPICK,),
        essential=True,
    )
    insist_angles: bool = option(
        False,
        "--insist-angles",
        "Compare the orientations of --max-angle as written even where every angle lies within ±π, radians "
        "written as degrees by the look of it (by default refused; the summary says they were insisted on).",
        is_flag=True,
        label="angles insisted on",
        panel=ORIENTATIONS,
    )
    sym: str = option(
        "C1",
        "--sym",
        "Point group for --max-angle (the least angle over its operators): C1, Cn, Dn, T, O, I as the poses' package "
        "sets them (RELION's T: three-fold on z, I = I2; CryoSPARC's Dn: two-fold on y), or by name: I1-I4, Tz3, T222.",
        label="symmetry",
        panel=ORIENTATIONS,
        taken_by=(COPICK,),
    )
    species: list[str] = option(
        [],
        "--species",
        "Several species (cryo-ET): the species of each input, in the order of the inputs (repeat the option "
        "once per input; inputs may share a species). Duplicates are removed within each species.",
        multiple=True,
        metavar="NAME",
        panel=SPECIES,
    )
    species_column: str | None = option(
        None,
        "--species-column",
        "Several species in one file: the column holding each particle's species (rlnClassNumber, or "
        "another numeric column).",
        label="species column",
        panel=SPECIES,
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
        panel=SPECIES,
        taken_by=(COPICK,),
    )
    cross_species: bool = option(
        False,
        "--cross-species",
        "Picks of different species whose spheres overlap (centre distance < (r_a + r_b) x --overlap) "
        "cannot both be right: keep the one ranked better within its own species.",
        is_flag=True,
        label="cross-species",
        panel=SPECIES,
        taken_by=(COPICK,),
    )
    overlap: float = option(
        1.0,
        "--overlap",
        "--cross-species: the fraction of the sum of two radii below which two species' picks overlap.",
        type=float,
        panel=SPECIES,
        taken_by=(COPICK,),
    )
    mask: Path | None = option(
        None,
        "--mask",
        "Reject the picks outside a mask before removing duplicates (as pytom-match-pick's --tomogram-mask): an "
        "MRC file for every micrograph or tomogram, or a folder of one per micrograph or tomogram, named after it "
        "(TS_01.mrc, or TS_01_*.mrc). Inside: a value above 0, or --mask-label. Its voxel size from its header "
        "(a binned mask is scaled).",
        type=path_type(),
        metavar="MRC|FOLDER",
        panel=MASKS,
    )
    mask_label: int | None = option(
        None,
        "--mask-label",
        "--mask: inside is this value (one label of a multi-label segmentation), not every value above 0.",
        type=int,
        metavar="K",
        panel=MASKS,
    )
    mask_psize: float | None = option(
        None,
        "--mask-psize",
        "--mask: its voxel size in Å, where its header has none or a wrong one.",
        type=float,
        metavar="Å",
        panel=MASKS,
    )
    edge: float | None = option(
        None,
        "--edge",
        "Reject the picks whose centre lies within this distance (Å) of their micrograph's or tomogram's edge "
        "(its size from the micrographs' MRC headers, CryoSPARC's micrograph_shape or the tomograms STAR given "
        "as --micrographs).",
        type=float,
        metavar="Å",
        panel=MASKS,
        taken_by=(COPICK,),
    )
    copick_objects: str | None = option(
        None,
        "--copick-objects",
        "copick project: the objects to read, separated by commas [default: every particle object].",
        metavar="NAME,...",
        panel=COPICK_PROJECTS,
        taken_by=(COPICK,),
    )
    copick_users: str | None = option(
        None,
        "--copick-users",
        "copick project: the users (or tools) whose picks to read [default: all but cryodedup's earlier "
        "results, read only when their user is named here].",
        metavar="ID,...",
        panel=COPICK_PROJECTS,
        taken_by=(COPICK,),
    )
    copick_sessions: str | None = option(
        None,
        "--copick-sessions",
        "copick project: the sessions to read [default: all].",
        metavar="ID,...",
        panel=COPICK_PROJECTS,
        taken_by=(COPICK,),
    )
    copick_out_user: str = option(
        "cryodedup",
        "--copick-out-user",
        "copick project: the user the kept picks are written as (never read as an input).",
        label="copick output user",
        panel=COPICK_PROJECTS,
        taken_by=(COPICK,),
    )
    copick_out_session: str = option(
        "0",
        "--copick-out-session",
        "copick project: the session the kept picks are written in (0: copick's session of tools' picks); "
        "cryodedup's earlier picks there are refused unless --force, anyone else's always.",
        label="copick output session",
        panel=COPICK_PROJECTS,
        taken_by=(COPICK,),
    )
    #: The ``NAME=Å`` pairs of ``--min-dist`` (the API may give them here): each species' minimum distance.
    species_min_dist: dict[str, float] = field(default_factory=dict, metadata={"label": "minimum distance by species"})
    #: Each named input's own typed pixel size (``--mic-psize INPUT=Å``), by the name given.
    input_psize: dict[str, float] = field(default_factory=dict, metadata={"label": "pixel size by input (Å)"})
    #: The ``NAME=Å`` pairs of ``--min-dist-z``: each species' minimum distance along z.
    species_min_dist_z: dict[str, float] = field(
        default_factory=dict, metadata={"label": "minimum distance along z by species"}
    )
    #: The ``NAME=A,B,C`` groups of ``--min-dist-ellipsoid``: each species' ellipsoid in its own frame.
    species_min_dist_ellipsoid: dict[str, tuple[float, float, float]] = field(
        default_factory=dict, metadata={"label": "exclusion ellipsoid by species (Å)"}
    )
    #: How micrographs of different inputs are matched: auto, path or name
    #: (docs/developers/decisions/matching-micrographs.md).
    match_micrographs: str = choice(
        "auto",
        "--match-micrographs",
        MATCH_MICROGRAPHS_HELP,
        choices=MATCH_MODES,
        show_default=True,
        label="micrographs matched by",
        panel=INPUTS,
        affects=DECISION,
        taken_by=(COMPARE,),
    )
    #: Inputs labelled as separate datasets (``INPUT=LABEL``): their micrographs never match
    #: across labels (docs/developers/decisions/matching-micrographs.md).
    datasets: list[str] = option(
        [],
        "--dataset",
        "INPUT=LABEL: the input (its path as given, its position from 1, or a folder of inputs) belongs to "
        "the dataset LABEL. Micrographs and tomograms of different datasets are never one, whatever their "
        "names (two sessions that both start at mic_0001); inputs not labelled form one dataset. Repeat it.",
        multiple=True,
        metavar="INPUT=LABEL",
        name="datasets",
        label="datasets",
        panel=INPUTS,
        taken_by=(COPICK,),
    )

    update: bool = option(
        False,
        "--update",
        "Batch by batch: deduplicate these INPUTS (RELION particle STAR, or CryoSPARC .cs/.csg) against every "
        "particle an earlier --update run into OUTDIR kept, and among themselves. The kept ones are appended to "
        "particles_kept.star (particles_kept.cs for CryoSPARC batches), the round's to round_NNNN_kept and "
        "round_NNNN_rejected. A particle kept is never revoked.",
        is_flag=True,
        label="update",
        panel=COLLECTION,
        essential=True,
    )
    add_again: bool = option(
        False,
        "--add-again",
        "--update: add a batch though some of its rows are already in the kept set (the same micrograph, centre "
        "and score as a kept particle: a batch given again); those rows are then rejected as duplicates of "
        "themselves. Without it such a batch is refused (the last round's batch given again adds nothing: a "
        "retry).",
        is_flag=True,
        label="add a batch again",
        panel=COLLECTION,
    )
    repair: bool = option(
        False,
        "--repair",
        "--update: read no batch and add no round; write again from the store in OUTDIR/kept_store every round "
        "file and the running kept file that is missing or not what the rounds wrote (byte for byte what they "
        "wrote), touching nothing else. Prints one line per file written. No INPUTS.",
        is_flag=True,
        label="repair",
        panel=COLLECTION,
    )
    registration: str = choice(
        "check",
        "--registration",
        "Several inputs: measure how each pair's picks register (a constant offset, x and y swapped, an axis "
        "mirrored, a scale) on the micrographs they share. check: refuse to merge inputs in two frames (apply "
        "the transform with --transform); warn: say so and merge them as they are; ignore: measure nothing.",
        choices=REGISTRATION,
        label="registration between inputs",
        panel=INPUTS,
        taken_by=(COPICK,),
    )
    transform: list[str] = option(
        [],
        "--transform",
        "Move an input's centres into the other inputs' frame before deciding: INPUT=OP+OP+... applied in "
        "order, in the input's own pixels; OP is swap (x and y), swap-yz, swap-xz, mirror-x[:W] (x -> W - x; W: "
        "the micrograph's width), "
        "mirror-y[:H], mirror-z[:D], scale:S, shift:DX,DY[,DZ]. INPUT: its path as given or its position (1 "
        "for the first). Repeat it for several inputs. An output file that holds several inputs' rows holds its "
        "rows with the moved coordinates (the summary's Moved row says so); per-input outputs (--output-format "
        "input) keep them as read.",
        multiple=True,
        metavar="INPUT=OPS",
        label="transforms",
        panel=INPUTS,
        taken_by=(COMPARE, COPICK),
    )

    def __post_init__(self) -> None:
        # The command line's --min-dist pairs and repeated --radius, as the API gives them.
        given_sizes: Any = self.mic_psize
        if isinstance(given_sizes, InputPixelSizes):  # (--mic-psize 10,b.star=12 on the command line)
            self.mic_psize = given_sizes.default
            self.input_psize = {**given_sizes.by_input, **self.input_psize}
        pairs = named_distances(self.min_dist)
        if pairs is not None:
            self.min_dist = DEFAULT_MIN_DIST if pairs.default is None else pairs.default
            self.species_min_dist = {**pairs.by_species, **self.species_min_dist}
        pairs = named_distances(self.min_dist_z)
        if pairs is not None:
            self.min_dist_z = pairs.default
            self.species_min_dist_z = {**pairs.by_species, **self.species_min_dist_z}
        ellipsoids: Any = self.min_dist_ellipsoid
        if isinstance(ellipsoids, str) and ellipsoid_text_parses(
            ellipsoids
        ):  # (the API's text; check() refuses one that does not)
            ellipsoids = parse_ellipsoids(ellipsoids)
        if isinstance(ellipsoids, SpeciesEllipsoids):
            self.min_dist_ellipsoid = ellipsoids.default
            self.species_min_dist_ellipsoid = {**ellipsoids.by_species, **self.species_min_dist_ellipsoid}
        elif isinstance(ellipsoids, list):
            self.min_dist_ellipsoid = tuple(ellipsoids)  # (three numbers: check() says so)
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
        given_species: Any = self.species
        if not isinstance(given_species, str):  # (a text is refused by check(): not read letter by letter)
            self.species = list(given_species)
        given_transform: Any = self.transform
        if not isinstance(given_transform, str):
            self.transform = list(given_transform)

    @property
    def symmetry_copies(self) -> bool:
        """Whether the readers name each row's image to find symmetry copies (``--min-dist 0``, ``--audit``)."""
        return self.audit or self.min_dist == 0

    @property
    def pixel_size_decides(self) -> bool:
        """Whether the micrograph pixel size changes the decision.

        Not at ``--min-dist 0 --shift-key none``: duplicates are picks at the same coordinates of
        one micrograph, whatever its pixel size, so a warning about it would be a false alarm.
        """
        return not (self.min_dist == 0 and self.shift_key == "none")

    @property
    def own_frame(self) -> bool:
        """Whether an ellipsoid in each particle's frame (``--min-dist-ellipsoid``) is given, for any species."""
        return self.min_dist_ellipsoid is not None or bool(self.species_min_dist_ellipsoid)

    @property
    def min_dist_given(self) -> bool:
        """Whether a distance was given (else copick objects take their radius)."""
        return not isinstance(self.min_dist, DefaultDistance)

    @as_option_errors
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
        check_ellipsoids(self)
        if self.mic_psize is not None and not (np.isfinite(self.mic_psize) and self.mic_psize > 0):
            raise CryodedupError(f"--mic-psize must be a pixel size in Å > 0, got {self.mic_psize}")
        for name, size in self.input_psize.items():
            if not (is_real_number(size) and np.isfinite(size) and size > 0):
                raise CryodedupError(f"--mic-psize {name}={size}: a pixel size in Å > 0 expected")
        if not is_whole_number(self.min_support) or not 1 <= self.min_support <= MAX_INPUTS:
            raise CryodedupError(f"--min-support must be a whole number of inputs from 1 to {MAX_INPUTS}")
        if self.add_again and not self.update:
            raise CryodedupError("--add-again is for --update rounds: give --update too")
        if self.repair and not self.update:
            raise CryodedupError("--repair rewrites the files of --update rounds: give --update too")
        if self.uncovered == "reject" and self.min_support == 1:
            # At support 1 every pick confirms itself: nothing is unconfirmable, so the
            # option would change nothing while the user believes uncovered picks are gone.
            raise CryodedupError(
                "--uncovered reject decides the picks that --min-support cannot be asked of, and at --min-support 1 "
                "there are none: drop --uncovered, or give --min-support 2 or more (several pickers' inputs)"
            )
        if self.topaz_scale is not None and not (np.isfinite(self.topaz_scale) and self.topaz_scale > 0):
            raise CryodedupError(f"--topaz-scale must be a number > 0, got {self.topaz_scale}")
        for flag, factor in (("--import-scale", self.import_scale), ("--import-add", self.import_add)):
            if not np.isfinite(factor):
                raise CryodedupError(f"{flag} must be a finite number, got {factor}")
        if not self.import_scale > 0:  # (0 moves every pick of a text file onto one point)
            raise CryodedupError(
                f"--import-scale must be a factor above 0 (RELION's import scale factor: x y z times it), "
                f"got {self.import_scale:g}"
            )
        if not 0 <= self.seed < 2**64:
            raise CryodedupError(f"--seed must be in [0, 2**64), got {self.seed}")
        for flag, name in (
            ("--copick-out-user", self.copick_out_user),
            ("--copick-out-session", self.copick_out_session),
        ):
            if not str(name).strip():  # (copick makes a file name of it: an empty one is none)
                raise CryodedupError(f"{flag} {name!r}: an empty name names no pick set; give a name")
        self._check_selection()
        if self.filament_mode == "tube" and self.remove_entirely:
            raise CryodedupError(
                "--filament-mode tube and --remove-entirely exclude each other: tubes are kept or rejected whole"
            )
        if self.project_dir is not None and not Path(self.project_dir).is_dir():
            raise CryodedupError(f"--project-dir {self.project_dir}: no such folder")
        self._check_poses()
        prefer: object = self.prefer  # (the Python API's options arrive unchecked)
        if not isinstance(prefer, (list, tuple)) or not all(
            isinstance(p, (str, Path, int)) and not isinstance(p, bool) for p in prefer
        ):
            raise CryodedupError(
                f"--prefer takes a list of inputs (paths as given, or positions from 1), got {self.prefer!r}"
            )
        check_dataset_values(self.datasets)
        if self.audit and self.halfsets != "keep":
            raise CryodedupError("--audit writes no particle files, so --halfsets has nothing to rewrite; drop one")
        if self.fsc is not None and not self.audit:
            raise CryodedupError("--fsc estimates what the duplicates did to a refinement's FSC: add --audit")
        if self.audit and self.decisions:
            raise CryodedupError("--audit rejects no particle, so --decisions has nothing to record; drop one")
        check_masks(self)
        if self.score == "none" and self.score_normalize != "none":  # (it would quietly do nothing)
            raise CryodedupError(
                f"--score-normalize {self.score_normalize} normalises the scores, and --score none ranks by none: "
                "drop one"
            )
        check_transforms(self.transform)
        check_plotting(self.plot)
        check_overrides(self)

    def _check_poses(self) -> None:
        """``--max-angle`` and ``--sym``: an angle, a point group a package names, and the two together."""
        if self.max_angle is not None and not (np.isfinite(self.max_angle) and 0 <= self.max_angle <= 180):
            raise CryodedupError(f"--max-angle must be an angle in degrees from 0 to 180, got {self.max_angle}")
        if not SYMMETRY.fullmatch(self.sym):
            raise CryodedupError(_wrong_symmetry(self.sym))
        if self.sym.upper() != "C1" and not self.max_angle:  # (0: positions only, as audit takes it)
            raise CryodedupError(f"--sym {self.sym} compares orientations: give the angle with --max-angle, above 0")

    def _check_selection(self) -> None:
        """``--select`` other than greedy, refused where another rule already says which picks go (one line each)."""
        if self.select == "greedy":
            return
        refused = [
            (self.remove_entirely, "--remove-entirely", "which removes every pick that has a duplicate"),
            (bool(self.prefer), "--prefer", "which ranks picks one by one; the best selection weighs sets"),
        ]
        for given, flag, why in refused:
            if given:
                raise CryodedupError(f"--select {self.select} and {flag} exclude each other: {why}")


def _check_species(options: ParticleOptions) -> None:
    """The species options: distances and radii in range, one way of naming species."""
    twice = getattr(options, "_radius_twice", None)
    if twice is not None:
        raise CryodedupError(f"--radius: species {twice!r} given twice")
    for flag, values in (("--min-dist", options.species_min_dist), ("--radius", options.radius)):
        for name, value in values.items():
            if not (is_real_number(value) and 0 <= value <= MAX_CENTRE):
                raise CryodedupError(f"{flag} {name}={value}: a distance in Å from 0 to 1e150 was expected")
    for name, value in options.species_min_dist_z.items():
        if not (is_real_number(value) and 0 < value <= MAX_CENTRE):
            raise CryodedupError(f"--min-dist-z {name}={value}: a distance in Å above 0, to 1e150, was expected")
    if options.species and options.species_column:
        raise CryodedupError(
            "--species names each input's species and --species-column reads it from a column: give one"
        )
    if not (is_real_number(options.overlap) and 0 < options.overlap <= 10):
        raise CryodedupError(
            f"--overlap must be a fraction of the sum of two radii above 0, to 10, got {options.overlap}"
        )
    if options.overlap != 1.0 and not options.cross_species:
        raise CryodedupError("--overlap is the overlap of --cross-species: give --cross-species too")
    if options.radius and not options.cross_species:
        raise CryodedupError("--radius is used by --cross-species alone: give --cross-species too")


def _check_option_types(options: ParticleOptions) -> None:
    """Numbers must be numbers: options from the Python API arrive unchecked (``min_dist='5'``)."""
    for name in (
        "min_dist",
        "mic_psize",
        "topaz_scale",
        "max_angle",
        "import_scale",
        "import_add",
        "mask_psize",
        "edge",
    ):
        value = getattr(options, name)
        if value is not None and not is_real_number(value):
            raise CryodedupError(f"--{name.replace('_', '-')} must be a number, got {value!r}")
    for name in ("seed", "plot_mics"):  # (min_support: checked with its range)
        if not is_whole_number(getattr(options, name)):
            raise CryodedupError(f"--{name.replace('_', '-')} must be a whole number, got {getattr(options, name)!r}")
    if options.mask_label is not None and not is_whole_number(options.mask_label):
        raise CryodedupError(f"--mask-label must be a whole number (a label of the mask), got {options.mask_label!r}")
    if options.mask is not None and not isinstance(options.mask, (str, Path)):
        raise CryodedupError(f"--mask must be a path (an MRC file or a folder of them), got {options.mask!r}")
    if not isinstance(options.score, str):  # (score=None from the API: "none" is the word for no score)
        raise CryodedupError(f"--score must be a column name, auto or none, got {options.score!r}")


def _wrong_symmetry(sym: str) -> str:
    """Why ``--sym`` is not a point group taken: an order out of range said so, else the groups named."""
    order = re.fullmatch(r"([Cc]|[Dd][XxYy]?)([+-]?\d+)", sym)
    if order:
        digits = order[2].lstrip("+")
        shown = digits if len(digits) <= 12 else f"{digits[:6]}...({len(digits):,} digits)"
        return (
            f"--sym {order[1]}{shown}: the order n of Cn and Dn is a whole number from 1 to {MAX_SYMMETRY_ORDER} "
            "(RELION 3.1.3's own programs take 1 to 99)"
        )
    return f"--sym is C1, Cn, Dn, T, O, I or I1-I4, Tz3, T222, Dxn, Dyn; got {sym!r}"
