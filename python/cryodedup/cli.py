"""The ``cryodedup`` command line: its commands. Their options are declared in options/."""

from __future__ import annotations

import filecmp
import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rich_click as click
from click.exceptions import Abort, ClickException, UsageError
from click.formatting import HelpFormatter

from . import commands
from ._core import __version__
from .cli_run import json_asked, numpy_huge_pages, refusal_document, refused, run_job
from .commands import field_values as job_fields
from .options.fields import Flag
from .report.summary import particle_rows
from .report.terminal import ProgressBar, Reporter, escape, print_json
from .signals import deferred, pause_for_tests

if TYPE_CHECKING:
    from .jobs.micrographs.shard_record import ShardSummary
    from .jobs.micrographs.summary import MicrographSummary
    from .jobs.particles.plan import ReadPlan
    from .jobs.particles.summary import ParticleSummary
    from .options import ParticleOptions

__all__ = ["main", "run_particle_job"]

# rich, and the modules of each job, are imported where they are used: a job imports what it runs.

click.rich_click.TEXT_MARKUP = "markdown"
click.rich_click.SHOW_ARGUMENTS = True

EXAMPLES = Path(__file__).parent / "examples"


class _JobCommand(click.RichCommand):
    """A command whose options (``declared``: its declaration in commands.py) are made when it is first run or shown.

    Made at import, every command's options were made by every run: a particle job built the
    micrograph job's and compare's options (importing their declarations), a micrograph job
    the particle job's (importing its readers and algorithms).
    """

    def __init__(self, *args: Any, declared: Callable[[], commands.Command], **kwargs: Any) -> None:
        self._declared: Callable[[], commands.Command] | None = declared
        super().__init__(*args, **kwargs)

    @property
    def params(self) -> list[click.Parameter]:
        """The command's own parameters (its arguments), then ``-h`` and its options in their order."""
        self._declare()
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value

    @property
    def panels(self) -> list[Any]:
        """The panels of its help (``--help``)."""
        self._declare()
        return self._panels

    @panels.setter
    def panels(self, value: list[Any]) -> None:
        self._panels = value

    def _declare(self) -> None:
        if self._declared is None:
            return
        command = self._declared()
        self._declared = None
        options = [click.RichOption(decls, **kwargs) for decls, kwargs in map(Flag.click_args, command.options)]
        self._params = [*self._params, _short_help(command.essentials), *options]
        self._panels = [click.RichOptionPanel(title, options=flags) for title, flags in command.panel_flags()]


def _short_help(essentials: Sequence[str]) -> click.Option:
    """``-h``: the command's usage, its first paragraph and the options most runs need (``essentials``).

    On one screen, as plain text; ``--help`` shows every option in its panel. A command
    without essentials shows its whole help.
    """

    def show(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        if not essentials:
            click.echo(ctx.get_help())
            ctx.exit()
        options = {
            opt: p for p in ctx.command.params if isinstance(p, click.Option) and p is not param for opt in p.opts
        }
        records = [
            (record[0], _first_sentence(record[1]))
            for flag in essentials
            if (record := options[flag].get_help_record(ctx))
        ]
        formatter = HelpFormatter(width=min(shutil.get_terminal_size().columns, 100))
        formatter.write_usage(ctx.command_path, " ".join(ctx.command.collect_usage_pieces(ctx)))
        formatter.write_paragraph()
        formatter.write_text((ctx.command.help or "").split("\n\n")[0])
        with formatter.section("Options most runs need"):
            formatter.write_dl(records)
        others = len({id(p) for p in options.values()}) - len(records)
        formatter.write_paragraph()
        formatter.write_text(f"{others} more options, grouped, with {ctx.command_path} --help.")
        click.echo(formatter.getvalue().rstrip("\n"))
        ctx.exit()

    return click.RichOption(
        ["-h"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=show,
        help="Show the options most runs need and exit (--help shows them all).",
    )


def _first_sentence(text: str) -> str:
    """An option's help cut to its first sentence, its default kept (``-h``: one line an option)."""
    first, dot, rest = text.partition(". ")
    default = text[text.rindex("[default:") :] if "[default:" in rest else ""
    return f"{first}{dot.strip()} {default}".strip()


class _InputPath(click.Path):
    """A path of INPUTS; an empty word is refused: as a path it would be the current folder, read whole."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(f"an input is empty ({value!r}): give a file, a folder or a pattern", param, ctx)
        if not self.dir_okay and isinstance(value, str) and os.path.isdir(value):
            folder = value.rstrip("/")
            self.fail(
                f"{value} is a folder: give its micrographs ('{folder}/*.mrc', quoted), or a micrographs STAR",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def inputs(folders: bool = False, required: bool = True) -> Callable[[Callable], Callable]:
    """The INPUTS argument of a job command: files, and folders too when ``folders``.

    Not ``required``: the command refuses their absence itself (``particles --update --repair`` reads none).
    """
    kind = _InputPath(path_type=Path, dir_okay=folders)
    return click.argument("inputs", cls=_Inputs, nargs=-1, required=required, type=kind)


class _Inputs(click.RichArgument):
    """INPUTS, named as a required argument's in the usage line and errors when the command checks them itself."""

    def make_metavar(self, ctx: click.Context) -> str:
        return "INPUTS..."


class _OneLineErrors(click.RichGroup):
    """rich-click's group whose usage errors are one line on stderr, with click's "did you mean" (status 2).

    A mistyped option or a bad value is the commonest mistake: the line says it, what click
    suggests, and where the help is, as a job's own errors do (not an 8-line box).
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            ended = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as err:
            given = list(sys.argv[1:] if args is None else args)
            if json_asked(getattr(err, "ctx", None), given):  # (a document on every run, as refused runs)
                print_json(refusal_document(" ".join(err.format_message().split()), err.exit_code))
            click.echo(f"Error: {_one_line_usage(err)}", err=True)
            raise SystemExit(err.exit_code) from None
        except Abort:
            click.echo("Aborted!", err=True)
            raise SystemExit(1) from None
        # (not standalone, click returns --help's and --version's status, or the command's value)
        raise SystemExit(ended if isinstance(ended, int) and not isinstance(ended, bool) else 0)


def _one_line_usage(err: ClickException) -> str:
    """The message of click's error on one line, and for a usage error where the command's help is."""
    message = " ".join(err.format_message().split())
    if isinstance(err, UsageError) and err.ctx is not None:
        ended = message.endswith((".", "?", "!", ")"))  # (one sentence ends before the next)
        message += f"{'' if ended else '.'} Try '{err.ctx.command_path} -h' for help."
    return escape(message)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["--help"]})
@click.help_option("-h", "--help")
@click.version_option(__version__, prog_name="cryodedup")
def main() -> None:
    """Remove duplicate particles and duplicate micrographs from cryo-EM datasets."""
    numpy_huge_pages(False)


def pickers_named_in_help(f: Callable) -> Callable:
    """The command's help with PICKERS replaced by the pickers whose files are read (formats/picker_formats.py)."""
    from .formats.picker_formats import pickers_named

    f.__doc__ = (f.__doc__ or "").replace("PICKERS", pickers_named())
    return f


@main.command(cls=_JobCommand, declared=lambda: commands.PARTICLES)
@inputs(folders=True, required=False)
@pickers_named_in_help
def particles(
    inputs: tuple[Path, ...],
    outdir: Path | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    shard: str | None,
    dask: str | None,
    shards: int | None,
    **job: Any,
) -> None:
    """Remove duplicate particles from RELION, CryoSPARC or picker files.

    INPUTS: RELION STAR files (single particles, filaments, subtomograms; Warp/WarpTools),
    CryoSPARC particles (.cs, .csg), Dynamo tables (.tbl) or pickers' coordinates (PICKERS).

    Particles closer than the minimum distance on the same micrograph are duplicates; of each
    group the best-scoring one is kept. Several INPUTS (for example the particles of two
    pickers) are deduplicated together into one kept and one rejected output, each row a copy
    of its input row. Each picker's output (a folder, a quoted glob, a file) is one input;
    --min-support keeps only picks that several pickers agree on.

    On a cluster: `--shard K/N` in each task of a job array, then `particles-merge`; or `--dask`.
    """
    from .options import ParticleOptions

    options = ParticleOptions(**job_fields(ParticleOptions, job))
    if shard is not None or dask is not None or shards is not None:
        report = Reporter(quiet)

        def planned() -> Any:
            from .jobs.particles.plan import plan

            options.check()
            return plan(options)

        def on_dask(out: Path, scheduler: str, n: int | None) -> Any:
            from .jobs.particles.dask import run_on_dask

            return run_on_dask(inputs, out, planned(), scheduler, n, force=force, log=report.log)

        def one_shard(out: Path, k: int, n: int) -> Any:
            from .jobs.particles.shards import run_particle_shard

            return run_particle_shard(inputs, out, planned(), k, n, force=force, log=report.log)

        _across_machines(outdir, (shard, dask, shards), report, as_json, (on_dask, one_shard))
        return
    if options.repair:
        _repair(inputs, outdir, options.check, force, quiet, as_json)
        return
    if not inputs:
        context = click.get_current_context()
        assert context is not None, "a command runs in its context"
        raise click.MissingParameter(ctx=context, param=next(p for p in context.command.params if p.name == "inputs"))
    if outdir is None and not (options.audit and not options.plot) and not _copick_only(inputs, options.plot):
        _refuse_missing_inputs(inputs)  # (a mistyped copick config is no missing -o)
        # click's own words for a missing option, and when none is needed
        why = "only --audit without --plot, or a copick project, writes nothing there"
        if len(inputs) == 1 and inputs[0].suffix.lower() == ".json":
            why = f'{inputs[0]} is no copick project\'s config: no "pickable_objects" in it'
        raise click.UsageError(f"Missing option '-o' / '--outdir' ({why}).")
    run_particle_job("cryodedup particles", inputs, outdir, options, Reporter(quiet), force, as_json)


def _across_machines(
    outdir: Path | None,
    how: tuple[str | None, str | None, int | None],
    report: Reporter,
    as_json: bool,
    runs: tuple[Callable[[Path, str, int | None], Any], Callable[[Path, int, int], Any]],
) -> None:
    """``particles --shard K/N`` (one shard into OUTDIR/shard-K-of-N, and its table) or ``--dask`` (every shard).

    ``runs``: the job on Dask (the folder, the scheduler, the number of shards) and one shard (the folder, K, N).
    """
    shard, dask, shards = how
    if shard is not None and dask is not None:
        raise click.UsageError("--shard runs one shard here and --dask every shard on a cluster: give one of them.")
    if dask is None and shards is not None:
        raise click.UsageError("--shards is the number of --dask's shards: give --dask too (or --shard K/N).")
    if outdir is None:
        raise click.UsageError("Missing option '-o' / '--outdir' (the shards and their merge write there).")
    on_dask, one_shard = runs
    if dask is not None:
        summary = run_job(lambda: report.holding_warnings(lambda: on_dask(outdir, dask, shards)))
        _show_particle_summary("cryodedup particles --dask", summary, report, as_json)
        return
    assert shard is not None, "--shard, --dask or --shards was given"
    from .jobs.particles.shards import parse_shard

    def decided() -> Any:
        k, n = parse_shard(shard)
        return one_shard(outdir, k, n)

    summary = run_job(lambda: report.holding_warnings(decided))
    report.release_warnings()  # (a shard's decision is a part: no verdict)
    report.table("cryodedup particles --shard", summary.table())
    if as_json:
        print_json(summary.to_json())


def _repair(
    inputs: Sequence[Path], outdir: Path | None, check: Callable[[], None], force: bool, quiet: bool, as_json: bool
) -> None:
    """``--update --repair``: a line per file written again from the store, or that there was nothing to repair.

    ``check``: the options' check (``ParticleOptions.check``), made where a user's mistake is one line.

    ``--json``: ``{"repaired": [{"file": ..., "was": "missing" or "stale"}, ...]}`` (empty: nothing to repair).
    """
    from .jobs.particles.update import repair

    if inputs:
        refused(f"{inputs[0]}: --repair reads no batch (it adds no round): give -o OUTDIR --update --repair alone")

    def checked_repair() -> list[tuple[Path, str]]:
        check()
        return repair(outdir, force)

    written = run_job(checked_repair)
    if as_json:
        print_json({"repaired": [{"file": str(path), "was": was} for path, was in written]})
    elif not quiet:
        lines = [f"{path}: {was}, written again from the --update store" for path, was in written]
        for line in lines or [f"{outdir}: nothing to repair (every file is as the --update store records it)"]:
            click.echo(line)


def _refuse_missing_inputs(inputs: Sequence[Path]) -> None:
    """One line for an input that is neither a file, a folder nor a pattern."""
    from .formats.sniff import is_glob

    for path in inputs:
        if not is_glob(path) and not path.exists():
            refused(f"{path}: no such file or folder")


def _copick_only(inputs: Sequence[Path], plot: bool) -> bool:
    """Whether the input is a copick project that takes the kept picks back (no output folder needed)."""
    from .formats.sniff import is_copick_config

    return len(inputs) == 1 and not plot and is_copick_config(inputs[0])


def run_particle_job(
    title: str,
    inputs: Sequence[Path],
    outdir: Path | None,
    options: ParticleOptions,
    report: Reporter,
    force: bool,
    as_json: bool,
    images_note: str | None = None,
) -> None:
    """Runs the job; a user's mistake ends the program with its message and status 1.

    ``images_note``: what to say of the micrograph images not found instead of how to find
    them (the demo's example has none).
    """
    from dataclasses import replace

    from .jobs.particles.entrance import job_for
    from .jobs.particles.plan import plan
    from .jobs.particles.read import Files
    from .outputs import all_outputs_at_once

    # (the summary alone: the rows read and the decision are let go; the outputs, the folder's lock and
    # a killed run's leftovers handled as remove_duplicate_particles handles them)
    run = job_for(options.update)  # (--update: a round around the job)

    def planned_run():  # (the options checked and planned inside the output batch, as the job did)
        source = Files.of(inputs)
        options.check()
        return run(source, outdir, plan(options), force=force, log=report.log)

    summarised = all_outputs_at_once(planned_run)
    typed = run_job(lambda: report.holding_warnings(lambda: summarised().summary))
    if images_note and typed.micrograph_images:
        typed = replace(typed, micrograph_images=images_note)
    _show_particle_summary(title, typed, report, as_json)


def _show_particle_summary(title: str, typed: ParticleSummary, report: Reporter, as_json: bool) -> None:
    """A particle run's summary: its verdict and rows (pictures, images not found), and ``--json``'s document."""
    # (--quiet shows no rows: the sections' classes they name are not loaded for them)
    rows = [] if report.quiet else particle_rows(typed.overview(), typed.sections())
    if typed.plots:
        rows.append(("Pictures", "\n".join(typed.plots)))
    if typed.micrograph_images:
        rows.append(("Micrograph images", typed.micrograph_images))
    report.summary(title, typed.verdict.line if typed.verdict is not None else "", rows)
    if as_json:
        print_json(typed.to_json())  # (the document at the edge alone)


@main.command(cls=_JobCommand, declared=lambda: commands.COMPARE)
@inputs(folders=True)
def compare(
    inputs: tuple[Path, ...],
    reference: str | None,
    radius: float,
    beta: float | None,
    over: str,
    metric: str,
    multiplier: float,
    weights: dict[str, float],
    czii_weights: str,
    plot: Path | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    **job: Any,
) -> None:
    """Compare two pick sets: agreement per micrograph, the frame between them, and scores against a reference.

    INPUTS: two pickers' outputs or particle files, as `cryodedup particles` reads them.
    Each pick matched to at most one of the other set's within the radius: the Jaccard index
    of the two sets from those matches, per micrograph and in all; the transform that
    registers one set on the other (an offset, swapped or mirrored axes, a scale), if any;
    with --reference, the other input's precision, recall and F-beta (--metric czii: also
    the CZII cryo-ET challenge's score). Scored over the micrographs both inputs cover
    (--over all: every one). Nothing is written.
    """
    from .jobs.compare import compare_picks
    from .options import CompareOptions, ParticleOptions

    reading = ParticleOptions(**job)
    report = Reporter(quiet)
    given: dict[str, Any] = {
        "beta": beta,
        "over": over,
        "metric": metric,
        "multiplier": multiplier,
        "weights": weights,
        "czii_weights": czii_weights,
    }
    options = CompareOptions(reference=reference, radius=radius, **given)
    if plot is not None and metric != "czii":
        raise click.UsageError("--plot-czii draws the picture of --metric czii: add --metric czii")
    summary = run_job(lambda: compare_picks(inputs, options, reading, report.log, plot, force))
    rows = summary.rows()
    if summary.plots is not None:
        rows.append(("Pictures", "\n".join(summary.plots)))
    report.table("cryodedup compare", rows)
    if as_json:
        print_json(summary.to_json())


@main.command(cls=_JobCommand, declared=lambda: commands.SELECT)
@inputs()
def select(
    inputs: tuple[Path, ...],
    outdir: Path,
    subset: Path,
    subset_of: Path | None,
    index_of: str,
    min_dist: float,
    take: str | None,
    ambiguous: bool,
    force: bool,
    quiet: bool,
    as_json: bool,
    **job: Any,
) -> None:
    """Write the rows of the original particles that a subset names, and the rest: by uid, image name or position.

    INPUTS: the original particle files (STAR or CryoSPARC .cs), as `cryodedup particles` reads
    them. The subset is a particle file derived from them in any way (filtered, reordered,
    re-extracted, recentred, binned, another picker's set) or an index file of 0-based rows
    (cryoDRGN's, drgnai's, recovar's, cryostar's ind.pkl; .npy; text). Each subset row is
    matched to one original row by uid, else by image name, else by position within
    --min-dist, one to one. OUTDIR gets particles_selected (the original's rows matched, byte
    for byte in its order; --take puts the subset's poses or classes into them) and
    particles_deselected (the rest).
    """
    from .jobs.select.job import select_particles
    from .options import ParticleOptions, SelectOptions

    reading = ParticleOptions(**{**job, "registration": "ignore", "score": "none"})  # (rows matched, not ranked)
    report = Reporter(quiet)
    options = SelectOptions(
        subset=subset, subset_of=subset_of, index_of=index_of, min_dist=min_dist, take=take, ambiguous=ambiguous
    )
    summary = run_job(lambda: select_particles(inputs, outdir, options, _checked(reading), report.log, force))
    report.table("cryodedup select", summary.rows())
    if as_json:
        print_json(summary.to_json())


def _checked(reading: ParticleOptions) -> ReadPlan:
    """The particle job's reading options checked and resolved (``select`` reads as it does)."""
    from .jobs.particles.plan import plan

    reading.check()
    return plan(reading).read


@main.command(cls=_JobCommand, declared=lambda: commands.AUDIT)
@click.argument("project_dir", type=click.Path(path_type=Path, exists=True))  # (a file: pointed to its folder)
def audit(
    project_dir: Path,
    min_dist: float | None,
    negligible: float,
    max_angle: float,
    plot: Path | None,
    force: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Audit a RELION or CryoSPARC project: every job's particles checked for duplicates, and where they entered.

    PROJECT_DIR: a RELION 3.1 to 5 project (its default_pipeline.star lists the jobs, their
    outputs and inputs) or a CryoSPARC project folder (each job folder's job.json: its type,
    parents and particle outputs, read from disk). For each particle set: its duplicate pairs
    within a distance that suits its job (the duplicate threshold of a RELION "remove
    duplicates" in its lineage, else a quarter of the particle or mask diameter the job, or the
    nearest job of its lineage, recorded), one particle image twice, and in a refinement the
    pairs that straddle the half-sets (rlnRandomSubset, alignments3D/split), which inflate its
    FSC: where the refinement's FSC is found (its PostProcess's postprocess.star, else its
    run_model.star), the audit predicts its resolution without them from the share of the
    half-maps' noise they hold. A set that carries orientations is counted pose-aware: close
    particles are duplicates only when their poses agree within --max-angle under the point
    group its job recorded (else C1). Duplicates are traced to the first job of the lineage
    whose output holds them. One line per job, worst first, says what to redo: not a refinement
    superseded by a later refinement of its particles deduplicated (its redo command's kept
    file, browsed in, or an External job's), nor one whose resolution they move by less than
    --negligible Fourier shells (without an FSC: whose straddling particles are under
    --negligible %); of a chain of refinements holding the same copies, the last one. Nothing is
    written. Exit status: 0 when nothing needs redoing, 1 when a refinement's half-sets share
    duplicates, 2 for a usage error, a report that cannot be written, or a project of which
    nothing could be read (a damaged job is named, the rest audited) or in which no particle set
    was found.
    """
    from .errors import CryodedupError, printable
    from .jobs.audit.job import audit_rows, redo_commands
    from .jobs.audit.stages import audit_project
    from .report.terminal import fitted_rows

    report = Reporter(quiet)

    def page(write: Callable[[], Path]) -> Path:
        """report.html written as a job's outputs are; refused or not writable: 2, as 1 says a refinement is to redo."""
        return run_job(write, refusal=2)

    try:
        result = audit_project(project_dir, min_dist, report.log, negligible, max_angle, plot, force, page)
    except CryodedupError as err:
        raise UsageError(str(err)) from None
    rows = audit_rows(result)
    if result.plots is not None:
        rows.append(("Report", result.plots[0]))
    # (the lines are sentences: folded to the terminal's width, COLUMNS or 80 on a pipe, as rich measures it)
    columns = shutil.get_terminal_size((80, 24)).columns
    assert result.verdict is not None, "the report stage gives the verdict"
    report.summary(f"cryodedup audit ({result.layout})", result.verdict.line, fitted_rows(rows, columns))
    for advice in [] if quiet else redo_commands(result):  # (the commands whole, unwrapped: copied as they are)
        # (every character of the command printable already: printable() shows the names of the words alike)
        click.echo(printable(f"{advice.purpose}:\n  {advice.command}"), err=True)
        if advice.route:  # (words, not a command: folded to the terminal's width)
            click.echo(
                printable(textwrap.fill(advice.route, columns, initial_indent="  ", subsequent_indent="  ")), err=True
            )
    if as_json:
        print_json(result.to_json())
    raise SystemExit(result.exit_status)


@main.command(cls=_JobCommand, declared=lambda: commands.DEMO)
@click.argument("outdir", type=click.Path(path_type=Path, file_okay=False), default="cryodedup-demo")
def demo(outdir: Path, force: bool, quiet: bool, as_json: bool, plot: bool) -> None:
    """Write the example dataset to OUTDIR and remove its duplicate particles.

    The example: four micrographs picked by two pickers (LoG and template picking), the
    particles of both extracted and 2D-classified; many particles were picked by both.
    The command it runs is printed; run it yourself with other options. Run again, it
    replaces its own result (its input files unchanged). The example has no micrograph
    images: with --plot, its pictures draw the picks on a blank frame.
    """
    report = Reporter(quiet)
    data = outdir / "input"
    inputs: list[Path] = []
    try:
        # A signal waits until the example's files are whole: a half-copied one would be taken
        # as it is by the next demo (an existing file is not copied again without --force).
        with deferred():
            _copy_example(data, force, inputs)
    except OSError as err:
        refused(f"{outdir}: cannot write the example data ({err.strerror})")
    pickers = [p for p in inputs if p.name.startswith("particles_")]
    micrographs = data / "micrographs_ctf.star"
    result = outdir / "result"
    # A demo run again replaces its own result (its inputs the example's, unchanged): it just works twice.
    force = force or (result.exists() and _is_example(inputs))
    if not quiet:
        command = ["cryodedup", "particles", *map(str, pickers), "--micrographs", str(micrographs)]
        command += ["--score", "rlnMaxValueProbDistribution", "-o", str(result)] + (["--plot"] if plot else [])
        command += ["--force"] if force else []
        # Quoted for a shell, on one line (no wrapping), markup characters shown as they are.
        report.console.print(f"Running: {escape(shlex.join(command))}", soft_wrap=True)
    from .options import ParticleOptions

    options = ParticleOptions(micrographs=micrographs, score="rlnMaxValueProbDistribution", plot=plot)
    no_images = "the example has no micrograph images: its pictures draw the picks on a blank frame"
    run_particle_job("cryodedup demo", pickers, result, options, report, force, as_json, images_note=no_images)


def _is_example(inputs: list[Path]) -> bool:
    """Whether ``inputs`` hold the shipped example's files unchanged (a folder the demo wrote)."""
    return all(filecmp.cmp(EXAMPLES / path.name, path, shallow=False) for path in inputs)


def _copy_example(data: Path, force: bool, inputs: list[Path]) -> None:
    """The shipped example's files into ``data`` (kept where they exist, unless ``force``), appended to ``inputs``."""
    data.mkdir(parents=True, exist_ok=True)
    for src in sorted(EXAMPLES.glob("*.star")):
        dst = data / src.name
        if not dst.exists() or force:
            shutil.copyfile(src, dst)
            pause_for_tests("example")
        inputs.append(dst)


@main.command(cls=_JobCommand, declared=lambda: commands.MICROGRAPHS)
@inputs()
def micrographs(
    inputs: tuple[Path, ...],
    outdir: Path,
    shard: str | None,
    dask: str | None,
    shards: int | None,
    update: bool,
    watch: float | None,
    watch_idle: float | None,
    particles: Path | None,
    match_micrographs: str,
    force: bool,
    quiet: bool,
    as_json: bool,
    **job: Any,
) -> None:
    """Find micrographs that image the same area twice (multi-hole beam-shift collection).

    INPUTS: a micrographs STAR, CryoSPARC exposures (.cs/.csg), or MRC files or globs (with
    --no-images, the movies or micrographs are only named, not read).

    On a cluster: `--shard K/N` in each task of a job array, then `micrographs-merge`; or `--dask`.
    During collection: `--update` (or `--watch SECONDS`) reads only the micrographs not seen before.
    """
    from dataclasses import replace

    from .jobs.micrographs.summary import micrograph_rows
    from .options import MicrographOptions, MicrographRun

    options = MicrographOptions(**job_fields(MicrographOptions, job))
    how = MicrographRun(shard, dask, shards, update, watch, watch_idle, particles is not None)
    report = Reporter(quiet)
    bars = (lambda total: ProgressBar(report.console, total)) if report.chatty else None

    def show(s: MicrographSummary) -> None:
        report.summary("cryodedup micrographs", s.judged.line, micrograph_rows(s))
        if as_json:
            print_json(s.to_json())

    def run() -> MicrographSummary | ShardSummary | None:
        from .jobs.micrographs.plan import micrograph_plan

        how.check(options)
        if watch is not None:
            from .jobs.micrographs.watch import watch_micrographs

            # (a watch runs unattended: each round goes on without the micrographs it cannot read)
            unattended = replace(options, skip_unreadable=True)
            unattended.check()
            rounds = watch_micrographs(
                inputs, outdir, micrograph_plan(unattended), watch, watch_idle, particles=particles,
                match_micrographs=match_micrographs,
                force=force, show=show, log=report.log, progress_factory=bars,
            )  # fmt: skip
            report.log(f"--watch: {rounds} round(s); stopped", "info")
            return None
        if shard is not None:
            from .jobs.micrographs.shards import parse_shard, run_micrograph_shard

            k, n = parse_shard(shard)
            options.check()
            return run_micrograph_shard(
                inputs, outdir, micrograph_plan(options), k, n, force=force, log=report.log, progress_factory=bars
            )
        from .jobs.micrographs.dask import dask_scorer
        from .jobs.micrographs.entrance import job_for
        from .jobs.micrographs.score import run_in_process

        run = job_for(update, run_in_process if dask is None else dask_scorer(dask, shards))  # (--update: a round)
        options.check()
        return run(
            inputs, outdir, micrograph_plan(options), particles=particles, match_micrographs=match_micrographs,
            force=force, log=report.log, progress_factory=bars,
        )  # fmt: skip

    _show_micrograph_run(report, run_job(lambda: report.holding_warnings(run)), show, as_json)


def _show_micrograph_run(
    report: Reporter,
    summary: MicrographSummary | ShardSummary | None,
    show: Callable[[MicrographSummary], None],
    as_json: bool,
) -> None:
    """What ``micrographs`` prints once its job ended: a run's summary, a shard's table, or (--watch) nothing more.

    ``summary``: the run's, a shard's, or None (--watch: each round was shown as it ended).
    """
    from .jobs.micrographs.summary import MicrographSummary  # (a shard's is a runner's: not loaded for a run)

    if summary is None:
        report.release_warnings()  # (each round was shown as it ended, its warnings under its verdict)
        return
    if isinstance(summary, MicrographSummary):
        show(summary)
        return
    report.release_warnings()  # (a shard decides nothing: no verdict)
    report.table("cryodedup micrographs --shard", summary.rows())
    if as_json:
        print_json(summary.to_json())


#: The shards a merge reads (both jobs' merges).
_SHARD_DIRS = click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))


def _merged(quiet: bool, merge: Callable[[Callable[..., None]], Any]) -> tuple[Reporter, Any]:
    """The reporter and the summary of ``merge`` (given the reporter's log), its warnings held until the end."""
    report = Reporter(quiet)
    return report, run_job(lambda: report.holding_warnings(lambda: merge(report.log)))


@main.command("micrographs-merge", cls=_JobCommand, declared=lambda: commands.MICROGRAPHS_MERGE)
@_SHARD_DIRS
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
    from .jobs.micrographs.summary import micrograph_rows

    report, s = _merged(
        quiet,
        lambda log: merge_micrograph_shards(
            shard_dirs,
            outdir,
            particles=particles,
            match_micrographs=match_micrographs,
            plot=plot,
            plot_pairs=plot_pairs,
            force=force,
            log=log,
        ),
    )
    report.summary("cryodedup micrographs-merge", s.judged.line, micrograph_rows(s))
    if as_json:
        print_json(s.to_json())


@main.command("particles-merge", cls=_JobCommand, declared=lambda: commands.PARTICLES_MERGE)
@_SHARD_DIRS
def particles_merge(
    shard_dirs: tuple[Path, ...], outdir: Path, plot: bool, plot_mics: int, force: bool, quiet: bool, as_json: bool
) -> None:
    """Merge the shards of `cryodedup particles --shard K/N` into the outputs of one run.

    SHARD_DIRS: the shard folders (shard-K-of-N), or the folder holding them. All N must be
    there and complete, from the same inputs and options; the inputs and options are theirs.
    """
    from .jobs.particles.shards import merge_particle_shards

    report, s = _merged(
        quiet,
        lambda log: merge_particle_shards(shard_dirs, outdir, plot=plot, plot_mics=plot_mics, force=force, log=log),
    )
    _show_particle_summary("cryodedup particles-merge", s, report, as_json)


if __name__ == "__main__":  # pragma: no cover
    from .cli_run import run_command  # the signals' contract (``python -m cryodedup`` starts it sooner)

    run_command(main)
