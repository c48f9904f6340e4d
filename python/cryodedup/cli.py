"""The ``cryodedup`` command line."""

from __future__ import annotations

import gc
import json
import shlex
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import rich_click as click

from . import __version__
from .errors import CryodedupError
from .jobs.micrographs.options import ALL_PAIRS_UPTO, MicrographOptions
from .report.summary import micrograph_rows, particle_rows, reading_text

if TYPE_CHECKING:
    from rich.console import Console

    from .jobs.particles import ParticleOptions

# rich, and the modules of each job, are imported where they are used: a job imports only
# what it runs, and --quiet or --json runs print nothing through rich (start-up is a fixed
# cost of every run; benches/RESULTS.md, issue 29).

EXAMPLES = Path(__file__).parent / "examples"

click.rich_click.TEXT_MARKUP = "markdown"
click.rich_click.SHOW_ARGUMENTS = True


class Reporter:
    """Logs and the summary on stderr; info lines only on a terminal; nothing with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.chatty = not quiet and sys.stderr.isatty()
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The console on stderr, made when first needed."""
        if self._console is None:
            self._console = stderr_console()
        return self._console

    def log(self, message: str, level: str) -> None:
        """Print a message: warnings unless quiet, other levels only on a terminal."""
        if level == "warning" and not self.quiet:
            self.console.print(f"[bold yellow]Warning:[/] {escape(message)}", soft_wrap=True)
        elif self.chatty:
            self.console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """Print ``rows`` (label, value) as a table, unless quiet."""
        if self.quiet:
            return
        from rich.measure import Measurement
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(escape(key), escape(value))
        # As wide as the longest path needs, even on a narrow terminal or a pipe (80 columns):
        # a path cut or folded by the table cannot be pasted back.
        width = Measurement.get(self.console, self.console.options.update_width(100_000), table).maximum
        wide = stderr_console(width=max(width, self.console.width))
        wide.print(table, crop=False)


def stderr_console(width: int | None = None) -> Console:
    """A rich console on stderr that highlights nothing but its markup."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, width=width)


def escape(text: str) -> str:
    """``text`` with rich's markup characters escaped."""
    from rich.markup import escape

    return escape(text)


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with status 1."""
    stderr_console().print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(1)


class Stopped(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM) that ends the run: raised so that every output's temporary files go."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` while the block runs; a file size limit is an error.

    Without this, SIGTERM kills the process at once and leaves its temporary files behind.
    SIGXFSZ (``ulimit -f``) is ignored, so that the write fails with EFBIG and is reported.
    """

    def stop(signum: int, frame: object) -> None:
        _signals_received.append(signum)
        raise Stopped(signum)

    handled = [signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ]
    previous = {s: signal.getsignal(s) for s in handled}
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector held off while a job runs, then set back as it was.

    A job makes tens of thousands of small objects (a picker job's file names, headers,
    output paths), each few hundred of which set off a collection that walks everything
    alive; objects without cycles are freed at once as ever, and the few cycles a job
    makes are collected after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: The signals received while a job ran: an exception that escapes after one is the signal's doing.
_signals_received: list[int] = []

Result = TypeVar("Result")


def run_job(job: Callable[[], Result]) -> Result:
    """Runs a job; a user's mistake ends the program with its message and status 1.

    A signal ends it with one line and status 128 + the signal's number (130 for SIGINT,
    143 for SIGTERM), after the outputs' temporary files are removed.
    """
    try:
        with signals_stop_the_run(), cyclic_gc_paused():
            return job()
    except CryodedupError as err:
        fail(str(err))
    except KeyboardInterrupt as err:
        stopped(err.signum if isinstance(err, Stopped) else signal.SIGINT)
    except BaseException as err:
        # A Rust panic (pyo3's PanicException) raised while the interpreter handles a signal
        # is the signal's doing: the user stopped the run and gets the one line, not a traceback.
        if _signals_received and type(err).__name__ == "PanicException":
            stopped(_signals_received[0])
        raise


def stopped(signum: int) -> NoReturn:
    """Print that a signal stopped the run, and exit with status 128 + its number."""
    name = signal.Signals(signum).name
    stderr_console().print(
        f"[bold red]Stopped[/] by {name}: temporary files removed, outputs whole or absent", soft_wrap=True
    )
    sys.exit(128 + signum)


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


SEED = Seed()
FORCE = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
QUIET = click.option("--quiet", "-q", is_flag=True, help="Print nothing on stderr but errors.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")


def inputs_and_outdir(
    outdir_help: str, folders: bool = False, outdir_required: bool = True
) -> Callable[[Callable], Callable]:
    """The INPUTS argument and the -o/--outdir option of a job command.

    INPUTS are files, and folders too when ``folders``. A command whose outdir is not
    ``outdir_required`` checks itself when it needs one.
    """

    def apply(f: Callable) -> Callable:
        f = click.option(
            "-o",
            "--outdir",
            required=outdir_required,
            type=click.Path(path_type=Path, file_okay=False),
            help=outdir_help,
        )(f)
        return click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=folders))(f)

    return apply


def print_json(summary: dict) -> None:
    """The summary on stdout as one line of JSON.

    One line, not indented: Python's indenting encoder is pure Python, 0.1 s for the
    40,000 per-micrograph values of a 10M-pick consensus (``jq`` indents it for reading).
    """
    print(json.dumps(summary))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cryodedup")
def main() -> None:
    """Remove duplicate particles and duplicate micrographs from cryo-EM datasets."""
    numpy_huge_pages(False)


def numpy_huge_pages(wanted: bool) -> bool:
    """Sets whether numpy asks the kernel for huge pages for large arrays; returns the previous setting.

    A run sets it off for its own process (``NUMPY_MADVISE_HUGEPAGE`` in the environment
    decides instead, when set): once reading GBs of inputs has filled the memory with page
    cache, the kernel compacts memory to find each huge page, which cost more system time
    than the arrays' work itself (10M picks: 0.7 s of 0.9 s for the centres in Å,
    benches/RESULTS.md).
    """
    import os

    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2, numpy 1
    setter = getattr(core.multiarray, "_set_madvise_hugepage", None)
    if setter is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return True
    return bool(setter(wanted))


MATCH_MICROGRAPHS = click.option(
    "--match-micrographs",
    type=click.Choice(["auto", "path", "name"]),
    default="auto",
    show_default=True,
    help="How micrographs of different inputs are matched: path (exact), name (file name without folders, "
    "extensions, CryoSPARC's uid and motion-correction endings such as _patch_aligned_doseweighted), auto "
    "(name between inputs that share no path). A file name in two folders of one input is never merged.",
)


@main.command()
@inputs_and_outdir(
    "Folder for particles_kept and particles_rejected (.star, or .cs and .csg), or the picks' outputs "
    "(not needed with --audit without --plot).",
    folders=True,
    outdir_required=False,
)
@click.option(
    "--min-dist",
    type=float,
    default=20.0,
    show_default=True,
    help="Minimum separation of particle centres, in Å. 0 removes exact copies only (centres within 0.001 Å).",
)
@click.option(
    "--min-dist-z",
    type=float,
    default=None,
    help="Subtomograms: the minimum separation along z, in Å (the missing wedge blurs z). Two particles "
    "are duplicates when (dx² + dy²) / min-dist² + dz² / min-dist-z² <= 1. Default: --min-dist.",
)
@click.option(
    "--mic-psize",
    type=float,
    default=None,
    help="Pixel size of the micrographs the coordinates refer to, in Å (overrides the files).",
)
@click.option(
    "--micrographs",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A micrographs STAR, or CryoSPARC exposures (.cs/.csg), to take micrograph pixel sizes from; "
    "for picker inputs, it also names the micrographs as RELION or CryoSPARC does; for Dynamo tables, "
    "the table map (.doc) or volume list (.vll) naming the tomograms.",
)
@click.option(
    "--shift-key",
    type=click.Choice(["auto", "none", "alignments2D", "alignments3D"]),
    default="auto",
    show_default=True,
    help="auto: subtract the rlnOrigin columns (STAR), or the alignments3D, else alignments2D shifts "
    "(CryoSPARC); none: locations only; alignments2D/3D: that slot's shifts (CryoSPARC).",
)
@click.option(
    "--score",
    default="auto",
    show_default=True,
    help="Column or field ranking duplicates (best kept), `none` for a seeded random choice, or `auto`: "
    "the first of rlnAutopickFigureOfMerit, rlnMaxValueProbDistribution, rlnLogLikeliContribution "
    "(STAR); pick_stats/ncc_score, else the alignment error (CryoSPARC).",
)
@click.option(
    "--score-order",
    type=click.Choice(["auto", "max", "min"]),
    default="auto",
    show_default=True,
    help="Whether higher (max) or lower (min) scores are better.",
)
@click.option("--remove-entirely", is_flag=True, help="Reject every particle that has a neighbour within the distance.")
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the random ranking used with `--score none`: a non-negative integer.",
)
@click.option(
    "--min-support",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Consensus: keep a pick only if picks of at least this many inputs (its own included) lie within "
    "the minimum distance; the others are rejected.",
)
@click.option(
    "--coverage",
    type=click.Choice(["auto", "all"]),
    default="auto",
    show_default=True,
    help="Consensus: which micrographs each input ran on. auto: as each picker's output says (a RELION job's "
    "micrographs, the files of a crYOLO or EMAN folder, even empty ones; else the micrographs it has picks on); "
    "all: every input ran on every micrograph (of --micrographs when given).",
)
@click.option(
    "--uncovered",
    type=click.Choice(["keep", "reject"]),
    default="keep",
    show_default=True,
    help="Consensus: what becomes of picks on micrographs that fewer than --min-support inputs ran on, "
    "where they cannot be confirmed.",
)
@click.option(
    "--score-normalize",
    type=click.Choice(["none", "rank"]),
    default="none",
    show_default=True,
    help="rank: compare each input's scores as percentiles within that input (pickers' scores are not on one scale).",
)
@click.option(
    "--output-format",
    type=click.Choice(["auto", "relion", "cryosparc", "input"]),
    default="auto",
    show_default=True,
    help="Picker inputs: relion (a coordinate job for Extract), cryosparc (particles .cs with a location "
    "slot), input (each picker's own format); auto: the inputs' format when they share one, else relion.",
)
@click.option(
    "--topaz-scale",
    type=float,
    default=None,
    help="Factor from topaz coordinates to micrograph pixels (the -s of topaz preprocess; 1 after topaz "
    "extract -x) [default: inferred from the micrographs' sizes given with --micrographs, else refused].",
)
@click.option(
    "--filament-mode",
    type=click.Choice(["segment", "tube"]),
    default="segment",
    show_default=True,
    help="Filaments (rlnHelicalTubeID, filament/filament_uid, crYOLO _filamentid): segments of one tube are "
    "never duplicates; segment: remove duplicate segments between tubes; tube: reject a tube whole when more "
    "than half of its segments lie near a better tube (ranked by mean segment score).",
)
@click.option(
    "--audit",
    is_flag=True,
    help="Report only (summary, --json, --plot): duplicate pairs across and within the half-sets of a "
    "refinement, symmetry copies; no particle files are written.",
)
@click.option(
    "--halfsets",
    type=click.Choice(["keep", "micrograph"]),
    default="keep",
    show_default=True,
    help="micrograph: give all kept particles of a micrograph one half-set (rlnRandomSubset, "
    "alignments3D/split), halves balanced in count; only that column changes.",
)
@click.option(
    "--max-angle",
    type=click.FloatRange(0, 180),
    default=None,
    help="Particles within the minimum distance are duplicates only if their orientations (rlnAngleRot/Tilt/Psi, "
    "alignments3D/pose) differ by at most this many degrees [default: orientations not compared].",
)
@click.option(
    "--sym",
    default="C1",
    show_default=True,
    help="Point group of the reference (C1, Cn, Dn, T, O, I) for --max-angle: the smallest angle over its operators.",
)
@MATCH_MICROGRAPHS
@FORCE
@QUIET
@JSON
@click.option("--plot", is_flag=True, help="Also write pictures (PNG) and report.html to OUTDIR.")
@click.option(
    "--plot-mics",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Example micrographs to draw with their picks (those with the most rejections).",
)
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder the relative paths in the inputs start from (micrographs to draw, picker lists) "
    "[default: the current folder, then the folders above the input].",
)
@click.option_panel(
    "Distance and pixel size",
    options=["--min-dist", "--min-dist-z", "--mic-psize", "--micrographs", "--match-micrographs"],
)
@click.option_panel(
    "Ranking",
    options=[
        "--shift-key",
        "--score",
        "--score-order",
        "--score-normalize",
        "--remove-entirely",
        "--seed",
        "--filament-mode",
    ],
)
@click.option_panel(
    "Pickers and consensus", options=["--min-support", "--coverage", "--uncovered", "--output-format", "--topaz-scale"]
)
@click.option_panel("Half-sets and orientations", options=["--audit", "--halfsets", "--max-angle", "--sym"])
@click.option_panel(
    "Output", options=["--outdir", "--force", "--quiet", "--json", "--plot", "--plot-mics", "--project-dir", "--help"]
)
def particles(
    inputs: tuple[Path, ...],
    outdir: Path | None,
    min_dist: float,
    min_dist_z: float | None,
    mic_psize: float | None,
    micrographs: Path | None,
    shift_key: str,
    score: str,
    score_order: str,
    remove_entirely: bool,
    seed: int,
    min_support: int,
    coverage: str,
    uncovered: str,
    score_normalize: str,
    output_format: str,
    topaz_scale: float | None,
    filament_mode: str,
    force: bool,
    quiet: bool,
    as_json: bool,
    plot: bool,
    plot_mics: int,
    project_dir: Path | None,
    audit: bool,
    halfsets: str,
    max_angle: float | None,
    sym: str,
    match_micrographs: str,
) -> None:
    """Remove duplicate particles from RELION, CryoSPARC or picker files.

    INPUTS: RELION STAR files (single particles, filaments, subtomograms; Warp/WarpTools),
    CryoSPARC particles (.cs, .csg), Dynamo tables (.tbl) or pickers' coordinates (RELION
    AutoPick/ManualPick jobs, crYOLO, topaz, EMAN).

    Particles closer than the minimum distance on the same micrograph are duplicates; of each
    group the best-scoring one is kept. Several INPUTS (for example the particles of two
    pickers) are deduplicated together into one kept and one rejected output, each row a copy
    of its input row. Each picker's output (a folder, a quoted glob, a file) is one input;
    --min-support keeps only picks that several pickers agree on.
    """
    if outdir is None and not (audit and not plot):
        # click's own words for a missing option, and when none is needed
        raise click.UsageError("Missing option '-o' / '--outdir' (only --audit without --plot writes nothing).")
    from .jobs.particles import ParticleOptions

    options = ParticleOptions(
        min_dist=min_dist,
        min_dist_z=min_dist_z,
        mic_psize=mic_psize,
        micrographs=micrographs,
        shift_key=shift_key,
        score=score,
        score_order=score_order,
        remove_entirely=remove_entirely,
        seed=seed,
        plot=plot,
        plot_mics=plot_mics,
        project_dir=project_dir,
        min_support=min_support,
        coverage=coverage,
        uncovered=uncovered,
        score_normalize=score_normalize,
        output_format=output_format,
        topaz_scale=topaz_scale,
        filament_mode=filament_mode,
        audit=audit,
        halfsets=halfsets,
        max_angle=max_angle,
        sym=sym,
        match_micrographs=match_micrographs,
    )
    run_particle_job("cryodedup particles", inputs, outdir, options, Reporter(quiet), force, as_json)


def run_particle_job(
    title: str,
    inputs: Sequence[Path],
    outdir: Path | None,
    options: ParticleOptions,
    report: Reporter,
    force: bool,
    as_json: bool,
) -> None:
    """Runs the job; a user's mistake ends the program with its message and status 1."""
    from .jobs.particles import remove_duplicate_particles

    summary = run_job(lambda: remove_duplicate_particles(inputs, outdir, options, force=force, log=report.log))
    rows = particle_rows(summary)
    if summary.get("plots"):
        rows.append(("Pictures", "\n".join(summary["plots"])))
    if summary.get("micrograph_images"):
        rows.append(("Micrograph images", summary["micrograph_images"]))
    report.table(title, rows)
    if as_json:
        print_json(summary)


@main.command()
@click.argument("outdir", type=click.Path(path_type=Path, file_okay=False), default="cryodedup-demo")
@FORCE
@QUIET
@JSON
@click.option("--plot", is_flag=True, help="Also write pictures (PNG) and report.html.")
def demo(outdir: Path, force: bool, quiet: bool, as_json: bool, plot: bool) -> None:
    """Write the example dataset to OUTDIR and remove its duplicate particles.

    The example: four micrographs picked by two pickers (LoG and template picking), the
    particles of both extracted and 2D-classified; many particles were picked by both.
    The command it runs is printed; run it yourself with other options. The example has
    no micrograph images: with --plot, its pictures draw the picks on a blank frame.
    """
    report = Reporter(quiet)
    data = outdir / "input"
    inputs: list[Path] = []
    try:
        data.mkdir(parents=True, exist_ok=True)
        for src in sorted(EXAMPLES.glob("*.star")):
            dst = data / src.name
            if not dst.exists() or force:
                shutil.copyfile(src, dst)
            inputs.append(dst)
    except OSError as err:
        fail(f"{outdir}: cannot write the example data ({err.strerror})")
    pickers = [p for p in inputs if p.name.startswith("particles_")]
    micrographs = data / "micrographs_ctf.star"
    result = outdir / "result"
    if not quiet:
        command = ["cryodedup", "particles", *map(str, pickers), "--micrographs", str(micrographs)]
        command += ["--score", "rlnMaxValueProbDistribution", "-o", str(result)] + (["--plot"] if plot else [])
        # Quoted for a shell, on one line (no wrapping), markup characters shown as they are.
        report.console.print(f"Running: {escape(shlex.join(command))}", soft_wrap=True)
    from .jobs.particles import ParticleOptions

    options = ParticleOptions(micrographs=micrographs, score="rlnMaxValueProbDistribution", plot=plot)
    run_particle_job("cryodedup demo", pickers, result, options, report, force, as_json)


class ProgressBar:
    """Images read per second, on stderr, only on a terminal."""

    def __init__(self, console: Console, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("scoring micrographs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.speed} images/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("micrographs", total=total)
        self.progress.start()

    def advance(self, k: int) -> None:
        """Count ``k`` more images read."""
        self.progress.advance(self.task, k)

    def close(self) -> None:
        """Remove the bar."""
        self.progress.stop()


MICROGRAPH_PARTICLES = click.option(
    "--particles",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A particle STAR or .cs to split into the particles of kept and rejected micrographs.",
)
PLOT_PAIRS = click.option(
    "--plot-pairs",
    type=click.IntRange(0, 1000),
    default=12,
    show_default=True,
    help="Flagged pairs to draw (highest z first).",
)


@main.command()
@inputs_and_outdir("Folder for pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.")
@click.option(
    "--target-psize",
    type=float,
    default=12.0,
    show_default=True,
    help="Pixel size (Å) to bin the micrographs to; the bin is rounded from it.",
)
@click.option("--bin", "bin_", type=int, default=None, help="Binning factor (overrides --target-psize).")
@click.option("--lowpass", type=float, default=None, help="Finest detail used, Å [default: 4 binned pixels].")
@click.option("--highpass", type=float, default=None, help="Coarsest detail used, Å [default: 25 binned pixels].")
@click.option(
    "--candidates",
    type=click.Choice(["auto", "window", "pattern", "all", "metadata"]),
    default="auto",
    show_default=True,
    help=f"auto: every pair up to {ALL_PAIRS_UPTO} micrographs, else window; window: every pair within "
    "--window images in acquisition order; pattern: microduplicate_screener's pairs; all: every pair; "
    "metadata: the pairs whose positions (--metadata) lie within --beam-diameter.",
)
@click.option(
    "--window",
    type=int,
    default=MicrographOptions.window,
    show_default=True,
    help="Images after each image compared with it (window, and auto on large sets).",
)
@click.option("--scan-range", type=int, default=48, show_default=True, help="pattern: images scanned past the move.")
@click.option("--images-per-move", type=int, default=16, show_default=True, help="pattern: images per stage move.")
@click.option("--images-per-hole", type=int, default=4, show_default=True, help="pattern: images per hole.")
@click.option(
    "--order",
    type=click.Choice(["auto", "metadata", "epu", "mtime", "natural", "input"]),
    default="auto",
    show_default=True,
    help="Acquisition order: auto takes the acquisition times of --metadata, else EPU time stamps "
    "(_YYYYMMDD_HHMMSS), else the numbers in the names (natural sort); mtime: file times (a copy or "
    "restore shuffles them).",
)
@click.option(
    "--min-z",
    type=float,
    default=MicrographOptions.min_z,
    show_default=True,
    help="Phase-correlation peak, in standard deviations, for a duplicate: the floor of the threshold, which "
    "rises to the run's own null (median z of its pairs + 8 robust SD) when that is higher.",
)
@click.option(
    "--min-pearson",
    type=float,
    default=MicrographOptions.min_pearson,
    show_default=True,
    help="Pearson coefficient over the overlap, for a duplicate.",
)
@click.option("--psize", type=float, default=None, help="Micrograph pixel size in Å (overrides the input).")
@click.option(
    "--project-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder the input's relative paths start from [default: the current folder, then the folders "
    "above the input file].",
)
@click.option("--skip-unreadable", is_flag=True, help="Go on without micrographs that cannot be read; list them.")
@click.option(
    "--metadata",
    multiple=True,
    metavar="PATH",
    help="EPU .xml or SerialEM .mdoc files, folders or quoted globs (repeat the option for several): where "
    "each image was taken, matched to the micrographs by file name.",
)
@click.option(
    "--shift-calibration",
    type=float,
    default=None,
    metavar="UM_PER_UNIT",
    help="µm of specimen per unit of beam/image shift [default: inferred from how the multi-hole template "
    "repeats between stage stops].",
)
@click.option(
    "--beam-diameter",
    type=float,
    default=None,
    metavar="UM",
    help="Pairs closer than this (µm) are compared with --candidates metadata; with --no-images, closer than "
    "half of it are duplicates [default: the metadata's BeamDiameter, else the camera field's diagonal].",
)
@click.option(
    "--no-images",
    is_flag=True,
    help="Decide from --metadata alone (no image is read: nothing is confirmed by images).",
)
@MICROGRAPH_PARTICLES
@MATCH_MICROGRAPHS
@FORCE
@QUIET
@JSON
@click.option_panel(
    "Images",
    options=["--target-psize", "--bin", "--lowpass", "--highpass", "--psize", "--project-dir", "--skip-unreadable"],
)
@click.option_panel("Metadata", options=["--metadata", "--shift-calibration", "--beam-diameter", "--no-images"])
@click.option_panel(
    "Pairs",
    options=[
        "--candidates",
        "--window",
        "--scan-range",
        "--images-per-move",
        "--images-per-hole",
        "--order",
        "--min-z",
        "--min-pearson",
    ],
)
@click.option("--plot", is_flag=True, help="Also write pictures (PNG) and report.html to OUTDIR.")
@PLOT_PAIRS
@click.option(
    "--shard",
    default=None,
    metavar="K/N",
    help="Score only the K-th of N chunks (K from 1: `--shard ${SLURM_ARRAY_TASK_ID}/N` with `--array=1-N`) "
    "into OUTDIR/shard-K-of-N; a complete shard is not redone. Then run `cryodedup micrographs-merge`.",
)
@click.option(
    "--dask",
    default=None,
    metavar="SCHEDULER",
    help="Score the shards as Dask tasks: a scheduler address (tcp://node:8786), a scheduler file, or "
    '`local` (one worker per core). Needs `pip install "cryodedup[dask]"`.',
)
@click.option(
    "--shards", type=click.IntRange(1), default=None, help="With --dask: how many shards [default: one per worker]."
)
@click.option_panel("Cluster", options=["--shard", "--dask", "--shards"])
@click.option_panel(
    "Output",
    options=[
        "--outdir",
        "--particles",
        "--match-micrographs",
        "--force",
        "--quiet",
        "--json",
        "--plot",
        "--plot-pairs",
        "--help",
    ],
)
def micrographs(
    inputs: tuple[Path, ...],
    outdir: Path,
    target_psize: float,
    bin_: int | None,
    lowpass: float | None,
    highpass: float | None,
    candidates: str,
    window: int,
    scan_range: int,
    images_per_move: int,
    images_per_hole: int,
    order: str,
    min_z: float,
    min_pearson: float,
    psize: float | None,
    project_dir: Path | None,
    skip_unreadable: bool,
    metadata: tuple[str, ...],
    shift_calibration: float | None,
    beam_diameter: float | None,
    no_images: bool,
    particles: Path | None,
    match_micrographs: str,
    force: bool,
    quiet: bool,
    as_json: bool,
    plot: bool,
    plot_pairs: int,
    shard: str | None,
    dask: str | None,
    shards: int | None,
) -> None:
    """Find micrographs that image the same area twice (multi-hole beam-shift collection).

    INPUTS: a micrographs STAR, CryoSPARC exposures (.cs/.csg), or MRC files or globs (with
    --no-images, the movies or micrographs are only named, not read).

    On a cluster: `--shard K/N` in each task of a job array, then `micrographs-merge`; or `--dask`.
    """
    options = MicrographOptions(
        target_psize=target_psize,
        bin=bin_,
        lowpass=lowpass,
        highpass=highpass,
        candidates=candidates,
        window=window,
        scan_range=scan_range,
        images_per_move=images_per_move,
        images_per_hole=images_per_hole,
        order=order,
        min_z=min_z,
        min_pearson=min_pearson,
        psize=psize,
        project_dir=project_dir,
        skip_unreadable=skip_unreadable,
        plot=plot,
        plot_pairs=plot_pairs,
        metadata=[Path(m) for m in metadata],
        shift_calibration=shift_calibration,
        beam_diameter=beam_diameter,
        no_images=no_images,
    )
    from .jobs.micrographs.dask import dask_runner
    from .jobs.micrographs.job import find_duplicate_micrographs
    from .jobs.micrographs.score import run_in_process
    from .jobs.micrographs.shards import parse_shard, run_micrograph_shard

    report = Reporter(quiet)
    bars = (lambda total: ProgressBar(report.console, total)) if report.chatty else None

    def run() -> dict:
        if metadata and (shard is not None or dask is not None):
            raise CryodedupError("--metadata runs in one process: it cannot be given with --shard or --dask yet")
        if shard is not None:
            if dask is not None or particles is not None:
                raise CryodedupError(
                    "--shard writes scored pairs only: give --particles to micrographs-merge, no --dask"
                )
            k, n = parse_shard(shard)
            return run_micrograph_shard(
                inputs, outdir, options, k, n, force=force, log=report.log, progress_factory=bars
            )
        if shards is not None and dask is None:
            raise CryodedupError("--shards goes with --dask (with a job array, give --shard K/N to each task)")
        runner = run_in_process if dask is None else dask_runner(dask, shards)
        return find_duplicate_micrographs(
            inputs,
            outdir,
            options,
            particles=particles,
            match_micrographs=match_micrographs,
            force=force,
            log=report.log,
            progress_factory=bars,
            runner=runner,
        )

    s = run_job(run)
    if shard is not None:
        report.table("cryodedup micrographs --shard", shard_summary_rows(s))
    else:
        report.table("cryodedup micrographs", micrograph_rows(s))
    if as_json:
        print_json(s)


def shard_summary_rows(s: dict) -> list[tuple[str, str]]:
    """One shard's summary as (label, value) rows."""
    done = "already complete, not redone" if s["already_complete"] else "scored"
    return [
        ("Shard", f"{s['shard']} of {s['shards']} ({done})"),
        ("Folder", s["folder"]),
        ("Micrographs", f"{s['micrographs']:,}"),
        ("Pairs scored", f"{s['pairs_scored']:,}"),
        ("Read", reading_text(s, named=False)),  # the shard is named above; where it ran needs no name
        ("Time", f"{s['seconds']:.2f} s"),
    ]


@main.command("micrographs-merge")
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--outdir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for pairs.csv, duplicates.csv, micrographs_kept.* and micrographs_rejected.*.",
)
@MICROGRAPH_PARTICLES
@MATCH_MICROGRAPHS
@FORCE
@QUIET
@JSON
@click.option("--plot", is_flag=True, help="Also write pictures (PNG) and report.html to OUTDIR.")
@PLOT_PAIRS
def micrographs_merge(
    shard_dirs: tuple[Path, ...],
    outdir: Path,
    particles: Path | None,
    match_micrographs: str,
    force: bool,
    quiet: bool,
    as_json: bool,
    plot: bool,
    plot_pairs: int,
) -> None:
    """Merge the shards of `cryodedup micrographs --shard K/N` into the outputs of one run.

    SHARD_DIRS: the shard folders (shard-K-of-N), or the folder holding them. All N must be
    there and complete, from the same inputs and options; the inputs and options are theirs.
    """
    from .jobs.micrographs.shards import merge_micrograph_shards

    report = Reporter(quiet)
    s = run_job(
        lambda: merge_micrograph_shards(
            shard_dirs,
            outdir,
            particles=particles,
            match_micrographs=match_micrographs,
            plot=plot,
            plot_pairs=plot_pairs,
            force=force,
            log=report.log,
        )
    )
    report.table("cryodedup micrographs-merge", micrograph_rows(s))
    if as_json:
        print_json(s)


if __name__ == "__main__":  # pragma: no cover
    main()
