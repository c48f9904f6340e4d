"""The pipelines' job types: what each cryodedup job of RELION's External job and CCP-EM's pipeliner runs and writes.

The jobs' work (read -> decide -> write) is :mod:`cryodedup.jobs`; a pipeline only turns its
parameters into one of the command line's commands, runs it, and names its outputs. Three job types:

- ``particles``: ``cryodedup particles`` on particle STAR files;
- ``coordinates``: ``cryodedup particles`` on pickers' coordinates (a RELION AutoPick or
  ManualPick job), written back as a RELION coordinate job;
- ``micrographs``: ``cryodedup micrographs`` on a micrographs STAR, optionally splitting a
  particle STAR into the particles of kept and of rejected micrographs.

Options are the command's own: a pipeline's parameter named ``min_dist`` (or ``min-dist``)
is ``--min-dist``, checked by the command's own parser before the job runs, so an option
added to the command line works in the pipelines without a change here.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import click

from ..errors import CryodedupError

__all__ = [
    "COMMAND_OF_JOB",
    "LOGFILE",
    "LOOPING_OPTIONS",
    "MANAGED_OPTIONS",
    "Output",
    "ParameterError",
    "can_plot",
    "check_arguments",
    "cli_args",
    "cli_program",
    "command",
    "default_of",
    "form_field",
    "is_default",
    "option",
    "option_tokens",
    "outputs",
    "refuse_managed",
    "write_logfile_pdf",
]

JOBS = ("particles", "coordinates", "micrographs")

#: The command line's command of each job.
COMMAND_OF_JOB = {"particles": "particles", "coordinates": "particles", "micrographs": "micrographs"}

#: Options a pipeline sets itself: the inputs, the job folder, and how the run reports.
MANAGED_OPTIONS = frozenset({"inputs", "outdir", "force", "quiet", "as_json", "help"})

#: Options that keep the command running until it is stopped (``--watch``): a pipeline waits
#: for its job to end (RELION for an exit file, the pipeliner for the process), so a job that
#: never ends holds up every job after it. Refused in the pipelines, never offered.
LOOPING_OPTIONS = frozenset({"watch", "watch_idle"})

TRUE_WORDS = frozenset({"", "yes", "true", "on", "1", "y"})
FALSE_WORDS = frozenset({"no", "false", "off", "0", "n"})

#: The report's pictures, gathered into one PDF: what RELION's "Display" button opens.
LOGFILE = "logfile.pdf"


class ParameterError(CryodedupError):
    """A pipeline's parameter the job cannot take; its message is one line."""


@dataclass(frozen=True)
class Output:
    """One output file of a job, as a pipeline registers it."""

    name: str  # path inside the job folder
    kind: str  # "particles", "coordinates", "micrographs" or "logfile"
    subset: str  # "kept", "rejected" or "report"


@dataclass(frozen=True)
class FormField:
    """One option of a job as a pipeline's form shows it, made from its declaration (options/).

    ``kind``: ``float``, ``int``, ``bool``, ``choice`` or ``text``; ``default``: the Python
    API's default (None: none to show); ``choices``: a choice's values.
    """

    name: str
    flag: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()


def form_field(job: str | type, name: str) -> FormField:
    """The option ``name`` of ``job`` (or of the options class ``job``) for a pipeline's form.

    A form (Scipion's protocols) shows the declared default and help: neither is typed again.
    """
    options = _OPTIONS_OF_JOB[job]() if isinstance(job, str) else job
    found = {f.name: f for f in fields(options)}.get(name)
    flag = None if found is None else found.metadata.get("flag")
    if found is None or flag is None:
        raise KeyError(f"{getattr(options, '__name__', options)} declares no option {name!r}")
    default: Any = None if found.default is MISSING else found.default  # (a list's default is made anew)
    if isinstance(flag.type, click.Choice):
        kind, choices = "choice", tuple(str(c) for c in flag.type.choices)
    else:
        kind, choices = _kind_of(flag.type, flag.is_flag), ()
    if kind == "float" and default is not None:
        default = float(default)  # (the minimum distance's default is a float of its own type)
    return FormField(name, flag.flags[0], kind, default, flag.help.replace("`", ""), choices)


def _kind_of(param_type: Any, is_flag: bool) -> str:
    """``float``, ``int``, ``bool`` or ``text``: what a form's field holds for a click type."""
    if is_flag:
        return "bool"
    if param_type is float or isinstance(param_type, click.types.FloatParamType):
        return "float"
    if param_type is int or isinstance(param_type, click.types.IntParamType) or param_type.name == "integer":
        return "int"
    return "text"


def _particle_options() -> type:
    from ..options import ParticleOptions

    return ParticleOptions


def _micrograph_options() -> type:
    from ..options import MicrographOptions

    return MicrographOptions


#: The options class of each job (imported when asked for).
_OPTIONS_OF_JOB = {"particles": _particle_options, "coordinates": _particle_options, "micrographs": _micrograph_options}


def command(job: str) -> click.Command:
    """The command line's command that runs ``job``."""
    from ..cli import main

    return main.commands[COMMAND_OF_JOB[job]]


def outputs(job: str, *, with_particles: bool = False, update: bool = False) -> list[Output]:
    """The files ``job`` writes into its folder (the pictures' PDF aside).

    ``with_particles``: the micrograph job was given particles to split. ``update``: the particle
    job adds a batch to the running kept set (``--update``): that set is its one output node
    (each round's files are named by their round).
    """
    if job == "particles":
        return [Output(f"particles_{s}.star", "particles", s) for s in (("kept",) if update else ("kept", "rejected"))]
    if job == "coordinates":
        return [Output(f"autopick_{s}.star", "coordinates", s) for s in ("kept", "rejected")]
    found = [Output(f"micrographs_{s}.star", "micrographs", s) for s in ("kept", "rejected")]
    if with_particles:
        found += [Output(f"particles_on_{s}_micrographs.star", "particles", s) for s in ("kept", "rejected")]
    return found


def option(cmd: click.Command, label: str) -> click.Option:
    """The option of ``cmd`` a pipeline's parameter ``label`` names (``min_dist``, ``min-dist``, ``--min-dist``)."""
    flag = "--" + label.lstrip("-").replace("_", "-")
    for param in cmd.params:
        if isinstance(param, click.Option) and flag in param.opts and param.name not in MANAGED_OPTIONS:
            return param
    known = ", ".join(
        sorted(
            p.name
            for p in cmd.params
            if isinstance(p, click.Option) and p.expose_value and p.name not in MANAGED_OPTIONS | LOOPING_OPTIONS
        )
    )
    raise ParameterError(f"unknown parameter '{label}': cryodedup {cmd.name} has no option {flag} (it has: {known})")


def option_tokens(cmd: click.Command, label: str, values: Sequence[str]) -> list[str]:
    """The command-line words of one pipeline parameter: ``--label value...``, or the switch alone.

    A switch (``remove_entirely``) is on for an empty value or yes/true/on/1, off for
    no/false/off/0.
    """
    param = option(cmd, label)
    flag = param.opts[0] if param.opts[0].startswith("--") else param.opts[-1]
    if param.is_flag:
        word = " ".join(values).strip().lower()
        if word in TRUE_WORDS:
            return [flag]
        if word in FALSE_WORDS:
            return []
        raise ParameterError(f"parameter '{label}' is a switch: give yes or no, not '{' '.join(values)}'")
    if not values:
        raise ParameterError(f"parameter '{label}' ({flag}) needs a value")
    if param.multiple:  # a repeatable option (--metadata a --metadata b): one value each
        return [word for value in values for word in (flag, value)]
    if param.nargs == 1 and len(values) > 1:
        raise ParameterError(f"parameter '{label}' ({flag}) takes one value, not '{' '.join(values)}'")
    return [flag, *values]


def check_arguments(cmd: click.Command, args: Sequence[str]) -> None:
    """Parses ``args`` with the command's own parser; a value it refuses is a one-line :class:`ParameterError`."""
    try:
        with cmd.make_context(f"cryodedup {cmd.name}", list(args)) as ctx:
            looping = [p for p in cmd.params if p.name in LOOPING_OPTIONS and ctx.params.get(p.name) is not None]
    except click.ClickException as err:
        raise ParameterError(" ".join(err.format_message().split())) from None
    if looping:
        raise ParameterError(
            f"{looping[0].opts[0]} repeats the run until it is stopped, but the pipeline waits for the job to end: "
            "leave it out and run the job again when new micrographs have arrived"
        )


def refuse_managed(cmd: click.Command, words: Sequence[str]) -> None:
    """Refuses, among a user's extra command-line words, an option the pipeline sets itself.

    ``-o``/``--outdir`` there would send the outputs out of the job's folder (and the
    pipeline's ``--force`` would let them replace whatever lies there), while the pipeline
    registers, as the job's outputs, files in its folder that never get written.
    """
    flags = {opt: p for p in cmd.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts}
    for word in words:
        if not word.startswith("-") or word == "--":
            continue
        name = word.split("=", 1)[0]
        if name in flags:
            found = [flags[name]]
        elif not name.startswith("--"):  # -qo X: short switches written together, as click reads them
            found = [flags[f"-{letter}"] for letter in name[1:] if f"-{letter}" in flags]
        else:
            found = []
        managed = [p for p in found if p.name in MANAGED_OPTIONS]
        if managed:
            flag = max(managed[0].opts, key=len)  # (the long form names it best)
            raise ParameterError(
                f"{word} in Additional arguments{'' if word == flag else f' ({flag})'} is set by the pipeline "
                "(the job's folder receives its outputs, which the pipeline registers): leave it out"
            )


def cli_args(
    job: str, inputs: Sequence[str], outdir: str, tokens: Sequence[str], *, plot: bool, as_json: bool = False
) -> list[str]:
    """The arguments of the command that runs ``job`` (after the program's name).

    The job folder is the pipeline's: outputs of an earlier run of the same job are replaced;
    but with ``--update``, a run adds its batch to the kept set of the earlier runs there (each
    round's files are named by their round, none replaced; ``--force`` would start the set anew).
    ``as_json``: the summary on stdout too.
    """
    args = [COMMAND_OF_JOB[job], *inputs, "-o", outdir, *([] if "--update" in tokens else ["--force"])]
    args += ["--json"] if as_json else []
    return [*args, "--plot", *tokens] if plot else [*args, *tokens]


def default_of(param: click.Option) -> str | int | float | None:
    """The option's default value, or None when it has none to show (unset, computed, several)."""
    default = param.default
    return default if isinstance(default, (str, int, float)) and not isinstance(default, bool) else None


def is_default(param: click.Option, value: str) -> bool:
    """Whether ``value`` (text) is the option's default, which need not be written out."""
    if default_of(param) is None:
        return value == ""
    try:
        return param.type.convert(value, param, None) == param.default
    except click.BadParameter:
        return False


def cli_program() -> list[str]:
    """The command line of the cryodedup this module belongs to, under the running Python.

    ``-m cryodedup`` (``cryodedup.entry``), not ``-m cryodedup.cli``: that one installed its
    signal handlers only after importing the whole command line, so a queue's SIGINT to the
    job's process group in those tenths of a second printed Python's ``KeyboardInterrupt``
    traceback into run.out (the barrage's "SIGINT to the group 0.35 s", about 1 run in 40).
    """
    return [sys.executable, "-m", "cryodedup"]


def can_plot() -> bool:
    """Whether matplotlib, which draws the pictures, is installed."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def write_logfile_pdf(path: Path, title: str, summary: str, pictures: Sequence[Path]) -> None:
    """One PDF at ``path``: a page with the run's summary, then each picture on a page of its own size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        # Long lines (warnings) folded to the page's width, about 190 characters at 7 points.
        lines = [part for line in summary.rstrip().splitlines() for part in textwrap.wrap(line, 190) or [""]]
        lines = lines or ["(no summary)"]
        page = plt.figure(figsize=(11.7, max(3.0, 0.17 * (len(lines) + 4))))
        page.text(0.02, 0.98, title, family="monospace", fontsize=11, weight="bold", va="top")
        page.text(0.02, 0.98 - 0.5 / page.get_figheight(), "\n".join(lines), family="monospace", fontsize=7, va="top")
        pdf.savefig(page)
        plt.close(page)
        for picture in pictures:
            image = mpimg.imread(picture)
            height, width = image.shape[:2]
            page = plt.figure(figsize=(width / 100, height / 100), dpi=100)
            page.figimage(image, resize=False)
            pdf.savefig(page, dpi=100)
            plt.close(page)
