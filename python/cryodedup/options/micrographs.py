"""The micrograph job's options (``cryodedup micrographs``) and how its run is checked.

:class:`MicrographOptions` and its check; :class:`MicrographRun`, every rule on how a
micrograph job runs (a shard, on Dask, during collection), for the command line and the
Python API alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from ..errors import CryodedupError, as_option_errors
from ..outputs import check_plotting
from .fields import (
    CLUSTER,
    COLLECTION,
    DECISION,
    OUTPUT,
    PLOT_HELP,
    SCORES,
    check_choices,
    choice,
    insist_psize_option,
    is_real_number,
    is_whole_number,
    option,
    overrides_option,
    project_dir_option,
)

__all__ = ["ALL_PAIRS_UPTO", "MAX_IMAGES", "PANELS", "MicrographOptions", "MicrographRun"]

#: The panels of ``cryodedup micrographs --help``, in their order; each option names its own (``panel=``).
IMAGES = "Images"
METADATA = "Metadata"
PAIRS = "Pairs"
PANELS = (IMAGES, METADATA, PAIRS, COLLECTION, CLUSTER, OUTPUT)

CANDIDATES = ("auto", "window", "pattern", "all", "metadata")
# --candidates auto compares every pair of a set up to this size, and a --window beyond it.
# Every pair of 200 micrographs costs what a 100-image window costs (about 100 pairs per
# image), so up to 200 nothing is saved by leaving pairs out. Measured (benches/RESULTS.md,
# K3 at 12 Å, 2 cores): reading and binning one image costs as much as 31-35 pairs.
ALL_PAIRS_UPTO = 200
ORDERS = ("auto", "metadata", "epu", "mtime", "natural", "input")

#: The most images a size option of the micrograph job may name (--window, --scan-range, ...):
#: a session of a million micrographs is large; above 10 million a value is a typo.
MAX_IMAGES = 10_000_000

#: The largest --bin: a binned image keeps at least 8 pixels a side, and no detector is 800,000 pixels wide.
MAX_BIN = 100_000

#: The largest length in Å of the micrograph job's options (pixel sizes, filters): 0.1 mm.
MAX_ANGSTROM = 1e6


def _check_whole(name: str, value: object, low: int, high: int, unit: str) -> None:
    """Refuses an option that is not a whole number from ``low`` to ``high`` (named, with the range)."""
    if not is_whole_number(value) or not low <= value <= high:  # type: ignore[operator]
        raise CryodedupError(
            f"--{name.replace('_', '-')} must be a whole number{' of ' + unit if unit else ''} "
            f"from {low:,} to {high:,}, got {value!r}"
        )


def _check_numbers(options: MicrographOptions) -> None:
    """Numbers must be numbers: options from the Python API arrive unchecked (``target_psize='5'``)."""
    for name in (
        "target_psize",
        "lowpass",
        "highpass",
        "psize",
        "min_z",
        "min_pearson",
        "shift_calibration",
        "beam_diameter",
    ):
        value = getattr(options, name)
        if value is not None and not is_real_number(value):
            raise CryodedupError(f"--{name.replace('_', '-')} must be a number, got {value!r}")
    _check_whole("plot_pairs", options.plot_pairs, 0, 1000, "pairs")


@dataclass
class MicrographOptions:
    """The parameters of ``cryodedup micrographs``.

    Not among them: how the job runs. ``--update`` is ``find_duplicate_micrographs(...,
    update=True)`` (the particle job's is its option ``ParticleOptions(update=True)``: it decides
    which particles are kept), and ``--particles`` its ``particles=``.
    """

    target_psize: float = option(
        12.0,
        "--target-psize",
        "Pixel size (Å) to bin the micrographs to; the bin is rounded from it.",
        type=float,
        label="target pixel size (Å)",
        affects=SCORES,
        panel=IMAGES,
        essential=True,
    )  # Å per binned pixel
    bin: int | None = option(
        None,
        "--bin",
        "Binning factor (overrides --target-psize).",
        type=int,
        name="bin_",
        label="binning",
        affects=SCORES,
        panel=IMAGES,
    )
    lowpass: float | None = option(  # default 4 binned pixels (0.25 cycles/pixel)
        None,
        "--lowpass",
        "Finest detail used, Å [default: 4 binned pixels].",
        type=float,
        label="low-pass (Å)",
        affects=SCORES,
        panel=IMAGES,
    )
    highpass: float | None = option(  # default 25 binned pixels (0.04 cycles/pixel)
        None,
        "--highpass",
        "Coarsest detail used, Å [default: 25 binned pixels].",
        type=float,
        label="high-pass (Å)",
        affects=SCORES,
        panel=IMAGES,
    )
    candidates: str = choice(
        "auto",
        "--candidates",
        f"auto: every pair up to {ALL_PAIRS_UPTO} micrographs, else window; window: every pair within "
        "--window images in acquisition order; pattern: microduplicate_screener's pairs; all: every pair; "
        "metadata: the pairs whose positions (--metadata) lie within --beam-diameter.",
        choices=CANDIDATES,
        affects=DECISION,
        panel=PAIRS,
        essential=True,
    )
    window: int = option(
        100,
        "--window",
        "Images after each image compared with it (window, and auto on large sets).",
        type=int,
        label="window (images)",
        affects=DECISION,
        panel=PAIRS,
    )
    scan_range: int = option(
        48,
        "--scan-range",
        "pattern: images scanned past the move.",
        type=int,
        label="scan range (images)",
        affects=DECISION,
        panel=PAIRS,
    )
    images_per_move: int = option(
        16,
        "--images-per-move",
        "pattern: images per stage move.",
        type=int,
        show_default=True,
        label="images per move",
        affects=DECISION,
        panel=PAIRS,
    )
    images_per_hole: int = option(
        4,
        "--images-per-hole",
        "pattern: images per hole.",
        type=int,
        label="images per hole",
        affects=DECISION,
        panel=PAIRS,
    )
    order: str = choice(
        "auto",
        "--order",
        "Acquisition order: auto takes the acquisition times of --metadata, else EPU time stamps "
        "(_YYYYMMDD_HHMMSS), else the numbers in the names (natural sort); mtime: file times (a copy or "
        "restore shuffles them).",
        choices=ORDERS,
        label="acquisition order",
        affects=DECISION,
        panel=PAIRS,
    )
    min_z: float = option(
        8.0,
        "--min-z",
        "Phase-correlation peak, in standard deviations, for a duplicate: the floor of the threshold, which "
        "rises to the run's own null (median z of its pairs + 8 robust SD) when that is higher.",
        type=float,
        label="minimum z",
        affects=SCORES,
        panel=PAIRS,
    )
    min_pearson: float = option(
        0.15,
        "--min-pearson",
        "Pearson coefficient over the overlap, for a duplicate.",
        type=float,
        label="minimum Pearson",
        affects=DECISION,
        panel=PAIRS,
    )
    overrides: Path | None = overrides_option(
        "each pair line marks two micrographs (by name) duplicates, one of them rejected as the screen rejects, or "
        "distinct, never duplicates; the others are decided as before.",
        panel=PAIRS,
        affects=DECISION,  # (recorded with a run's shards: their merge reads the same file)
    )
    accept_untrusted: bool = option(
        False,
        "--accept-untrusted",
        "Write the rejected micrographs even when the run's verdict says its decision cannot be trusted "
        "(the thresholds cut through the bulk of the pairs: a wrong pixel size, a binning too coarse; or a "
        "pattern common to the images, a gain reference's, that the run could not remove; or a screen blind at "
        "its scale, where a re-exposure of its images would score under the z threshold); without it such a "
        "run writes nothing and fails.",
        is_flag=True,
        label="untrusted decision accepted",
        panel=PAIRS,
    )
    psize: float | None = option(
        None,
        "--psize",
        "Micrograph pixel size in Å (overrides the input).",
        type=float,
        label="pixel size (Å)",
        affects=SCORES,
        panel=IMAGES,
        essential=True,
    )
    insist_psize: bool = insist_psize_option("--psize", "the MRC headers or the input's pixel sizes", panel=IMAGES)
    project_dir: Path | None = project_dir_option(
        "Folder the input's relative paths start from [default: the current folder, then the folders "
        "above the input file].",
        panel=IMAGES,
    )
    skip_unreadable: bool = option(
        False,
        "--skip-unreadable",
        "Go on without micrographs that cannot be read or whose pixels hold NaN or infinities; list them.",
        is_flag=True,
        label="skip unreadable",
        affects=DECISION,
        panel=IMAGES,
    )
    #: Images read per batch (no command-line option).
    batch: int = field(default=32, metadata={"label": "images per batch"})
    plot: bool = option(False, "--plot", PLOT_HELP, is_flag=True, panel=OUTPUT, essential=True)
    plot_pairs: int = option(
        12,
        "--plot-pairs",
        "Flagged pairs to draw (highest z first).",
        type=click.IntRange(0, 1000),
        label="flagged pairs drawn",
        panel=OUTPUT,
    )
    #: EPU .xml, SerialEM .mdoc: files, folders, globs.
    metadata: list[Path] = option(
        [],
        "--metadata",
        "EPU .xml or SerialEM .mdoc files, folders or quoted globs, and SerialEM Navigator .nav files by name "
        "(repeat the option for several): where "
        "each image was taken, matched to the micrographs by file name.",
        multiple=True,
        metavar="PATH",
        panel=METADATA,
        essential=True,
    )
    shift_calibration: float | None = option(
        None,
        "--shift-calibration",
        "µm of specimen per unit of beam/image shift [default: inferred from how the multi-hole template "
        "repeats between stage stops].",
        type=float,
        metavar="UM_PER_UNIT",
        panel=METADATA,
    )  # None: inferred
    beam_diameter: float | None = option(
        None,
        "--beam-diameter",
        "Pairs closer than this (µm) are compared with --candidates metadata; with --no-images, closer than "
        "half of it are duplicates [default: the metadata's BeamDiameter, else the camera field's diagonal].",
        type=float,
        metavar="UM",
        panel=METADATA,
    )  # None: the metadata's, else the field's diagonal
    no_images: bool = option(
        False,
        "--no-images",
        "Decide from --metadata alone (no image is read: nothing is confirmed by images).",
        is_flag=True,
        panel=METADATA,
    )

    @as_option_errors
    def check(self) -> None:
        """Raises a ``CryodedupError`` naming the first option out of its range."""
        check_choices(self)
        _check_numbers(self)
        given: object = self.overrides  # (the Python API's options arrive unchecked)
        if given is not None and (not isinstance(given, (str, Path)) or not Path(given).is_file()):
            raise CryodedupError(f"--overrides {given}: no such file (a CSV of corrections was expected)")
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

    @as_option_errors
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
            self.check_elsewhere(bool(options.metadata), options.plot)

    @as_option_errors
    def check_elsewhere(self, metadata: bool, plot: bool) -> None:
        """The rules of a job scored in shards: a job array's (``--shard``) or Dask's.

        ``metadata``, ``plot``: whether the job was given ``--metadata``, ``--plot`` (a shard,
        given its options resolved, asks with its plan's).
        """
        if metadata and self.shard is not None:
            raise CryodedupError(
                "--metadata cannot be given with --shard: micrographs-merge does not read the metadata again; "
                "use --dask local (or a scheduler's address) in place of --shard, or one process "
                "(--candidates metadata compares a few pairs per micrograph)"
            )
        if self.shard is not None and (self.dask is not None or self.particles):
            raise CryodedupError("--shard writes scored pairs only: give --particles to micrographs-merge, no --dask")
        if self.shard is not None and plot:
            raise CryodedupError("--plot goes with micrographs-merge, which writes the outputs of all shards")
        if self.shards is not None and self.dask is None:
            raise CryodedupError("--shards goes with --dask (with a job array, give --shard K/N to each task)")
