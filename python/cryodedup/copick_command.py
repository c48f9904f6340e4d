"""``copick process dedup``: the particle job on a copick project, as a command of copick's own CLI.

copick (1.27 and later) adds to its ``process`` group every click command that an installed
package declares in the entry-point group ``copick.process.commands`` (pyproject.toml). The
command takes the project's config as copick's commands do (``-c/--config``, or the
``COPICK_CONFIG`` environment variable; copick's ``add_config_option``), copick's ``--debug``,
and the particle job's options that concern a copick project, declared once in
:data:`cryodedup.commands.COPICK_DEDUP`; it runs what ``cryodedup particles copick_config.json``
runs, and writes the kept picks back into the project the same way.

copick imports this module each time its CLI starts, for its help as for any other command:
the job's modules are imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from copick.cli.util import add_config_option, add_debug_option

from .commands import COPICK_DEDUP, field_values

__all__ = ["dedup"]


def _with_options(f: Any) -> Any:
    """The click options of :data:`~cryodedup.commands.COPICK_DEDUP` in its order, under copick's config option."""
    for flag in reversed(COPICK_DEDUP.options):
        decls, kwargs = flag.click_args()
        f = click.option(*decls, **kwargs)(f)
    return add_config_option(f)


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
@_with_options
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

    if config is None:  # (copick's words for it)
        raise click.UsageError("Configuration file path is required. Use -c/--config option.", ctx)
    if debug:
        from copick.util.log import get_logger

        get_logger(__name__, debug)  # copick's debug logging, as its own commands set it
    options = ParticleOptions(**field_values(ParticleOptions, job, partial=True))
    run_particle_job("copick process dedup", [Path(config)], outdir, options, Reporter(quiet), force, as_json)
