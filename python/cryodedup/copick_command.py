"""copick's own CLI: ``copick process dedup`` (the particle job) and ``copick evaluation comparepicks``.

copick (1.27 and later) adds to its ``process`` group every click command that an installed
package declares in the entry-point group ``copick.process.commands``, and to its
``evaluation`` group those of ``copick.evaluation.commands`` (pyproject.toml). Each command
takes the project's config as copick's commands do (``-c/--config``, or the ``COPICK_CONFIG``
environment variable; copick's ``add_config_option``), copick's ``--debug``, and options
declared once (:data:`cryodedup.commands.COPICK_DEDUP`, ``COPICK_COMPARE``). ``dedup`` runs
what ``cryodedup particles copick_config.json`` runs, and writes the kept picks back into the
project the same way; ``comparepicks`` compares two of the project's pick sets as ``cryodedup
compare`` compares two files, object by object, writing nothing.

copick imports this module each time its CLI starts, for its help as for any other command:
the job's modules are imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from copick.cli.util import add_config_option, add_debug_option

from .commands import COPICK_COMPARE, COPICK_DEDUP, Command, field_values
from .options.species import SpeciesDistances

__all__ = ["comparepicks", "dedup"]


def _with_options(command: Command) -> Any:
    """The click options of ``command`` (:mod:`cryodedup.commands`) in its order, under copick's config option."""

    def apply(f: Any) -> Any:
        for flag in reversed(command.options):
            decls, kwargs = flag.click_args()
            f = click.option(*decls, **kwargs)(f)
        return add_config_option(f)

    return apply


def _require_config(config: str | None, ctx: click.Context, debug: bool) -> Path:
    """The config's path (copick's words when none is given); copick's debug logging, as its own commands set it."""
    if config is None:
        raise click.UsageError("Configuration file path is required. Use -c/--config option.", ctx)
    if debug:
        from copick.util.log import get_logger

        get_logger(__name__, debug)
    return Path(config)


#: The command's help (click's ``\b`` keeps an example's lines as they are).
HELP = """Remove duplicate picks from a copick project, and write the kept picks back into it (cryodedup).

Picks of one object on one run closer than the minimum distance (the object's radius unless
--min-dist says otherwise) are duplicates; of each group the best-scoring pick is kept. Each
user/session pick set is one input: --prefer ranks them, --min-support keeps only picks that
several pick sets agree on. The kept picks are written into the project as
--copick-out-user/--copick-out-session (cryodedup/0), never read back as an input.

For example:

    \b
    # Deduplicate every particle object's picks, writing cryodedup/0
    copick process dedup -c copick_config.json

    \b
    # What two annotators agree on, alice's picks first, written as cryodedup/1
    copick process dedup -c copick_config.json --min-support 2 --prefer alice --copick-out-session 1
"""


@click.command("dedup", short_help="Remove duplicate picks (cryodedup).", help=HELP)
@_with_options(COPICK_DEDUP)
@add_debug_option
@click.pass_context
def dedup(
    ctx: click.Context,
    config: str | None,
    outdir: Path | None,
    force: bool,
    quiet: bool,
    as_json: bool,
    debug: bool,
    **job: Any,
) -> None:
    """Runs the particle job on the project of ``config`` (:data:`HELP`)."""
    from .cli import run_particle_job
    from .options import ParticleOptions
    from .report.terminal import Reporter

    path = _require_config(config, ctx, debug)
    options = ParticleOptions(**field_values(ParticleOptions, job, partial=True))
    run_particle_job("copick process dedup", [path], outdir, options, Reporter(quiet), force, as_json)


#: ``comparepicks``' help.
COMPARE_HELP = """Compare two pick sets of a copick project: matches, precision, recall, per run and in all (cryodedup).

Each particle object on its own: picks of the two sets on one run within the radius (the
object's radius unless --radius says otherwise) are matched one to one; the candidate's
precision, recall and F-beta against the reference, the picks of each left unmatched, the
Jaccard index of the two sets, and the frame between them (an offset, swapped or mirrored
axes, a scale) if they are not in one: --transform moves a set's centres first. Nothing is
written. As `cryodedup compare` compares two files.

For example:

    \b
    # bob's picks scored against alice's, each object at its radius
    copick evaluation comparepicks -c copick_config.json --reference alice/1 --candidate bob/1

    \b
    # A picker's ribosomes against the annotation, matched within 60 Å, as JSON
    copick evaluation comparepicks -c copick_config.json --reference alice/1 --candidate pytom/0 \\
        --copick-objects ribosome --radius 60 --json

    \b
    # Each object at its own distance (the others at their radius)
    copick evaluation comparepicks -c copick_config.json --reference alice/1 --candidate bob/1 \\
        --radius ribosome=80,apoferritin=40

    \b
    # The CZII challenge's score (hits within half the challenge's radius of each of its species,
    # another object's its config's; F4, weighted)
    copick evaluation comparepicks -c copick_config.json --reference curation/0 --candidate model/0 \\
        --metric czii
"""


@click.command("comparepicks", short_help="Compare two pick sets: precision, recall (cryodedup).", help=COMPARE_HELP)
@_with_options(COPICK_COMPARE)
@add_debug_option
@click.pass_context
def comparepicks(
    ctx: click.Context,
    config: str | None,
    reference: str,
    candidate: str,
    copick_objects: str | None,
    transform: tuple[str, ...],
    radius: float | SpeciesDistances | None,
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
    debug: bool,
) -> None:
    """Compares two pick sets of the project of ``config`` (:data:`COMPARE_HELP`)."""
    from .cli_run import run_job
    from .jobs.compare import compare_copick_picks
    from .report.compare_metric import czii_rows
    from .report.terminal import Reporter, print_json

    path = _require_config(config, ctx, debug)
    if plot is not None and metric != "czii":
        raise click.UsageError("--plot-czii draws the picture of --metric czii: add --metric czii", ctx)
    report = Reporter(quiet)
    summary = run_job(
        lambda: compare_copick_picks(
            path,
            reference,
            candidate,
            radius,
            beta,
            copick_objects,
            transform,
            report.log,
            over,
            metric,
            multiplier,
            weights,
            czii_weights,
            plot,
            force,
        )
    )
    for compared in summary.objects:
        report.table(f"copick evaluation comparepicks: {compared.object}", compared.rows())
    czii = summary.czii
    if czii is not None:
        rows = czii_rows(czii, "Runs")
        if summary.plots is not None:
            rows.append(("Pictures", "\n".join(summary.plots)))
        report.table("copick evaluation comparepicks: the CZII challenge's score", rows)
    if summary.objects_without_picks:
        report.log(f"no picks of {', '.join(summary.objects_without_picks)} in either pick set", "warning")
    if as_json:
        print_json(summary.to_json())
