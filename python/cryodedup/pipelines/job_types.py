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
    """Whether Pillow, which draws and reads the pictures, is installed (the ``plot`` extra)."""
    import importlib.util

    return importlib.util.find_spec("PIL") is not None


def write_logfile_pdf(path: Path, title: str, summary: str, pictures: Sequence[Path]) -> None:
    """One PDF at ``path``: a page with the run's summary, then each picture on a page of its own size.

    Written here, without a plotting library: the summary as text in Courier (one of the PDF's
    standard fonts, so nothing is embedded; a character beyond Latin-1 shows as ``?``), each
    picture as its RGB pixels compressed, at 100 pixels to the inch.
    """
    # Long lines (warnings) folded to the page's width, about 190 characters at 7 points.
    lines = [part for line in summary.rstrip().splitlines() for part in textwrap.wrap(line, 190) or [""]]
    lines = lines or ["(no summary)"]
    pages = [_text_page(title, lines)] + [_picture_page(picture) for picture in pictures]
    path.write_bytes(_pdf(pages))


#: A page of the PDF: its width and height in points, its content stream, and its image (width, height, pixels).
_Page = tuple[float, float, bytes, "tuple[int, int, bytes] | None"]


def _text_page(title: str, lines: list[str]) -> _Page:
    """The summary's page: 11.7 inches wide, the title at 11 points, the lines at 7 (as the matplotlib page was)."""
    width, height = 11.7 * 72, max(3.0, 0.17 * (len(lines) + 4)) * 72
    top = height - 0.02 * height - 11
    stream = [f"BT /F2 11 Tf {0.02 * width:.2f} {top:.2f} Td ({_pdf_text(title)}) Tj ET"]
    stream.append(f"BT /F1 7 Tf 8.2 TL {0.02 * width:.2f} {top - 36 + 8.2:.2f} Td")
    stream += [f"T* ({_pdf_text(line)}) Tj" for line in lines]
    stream.append("ET")
    return width, height, "\n".join(stream).encode("latin-1"), None


def _picture_page(picture: Path) -> _Page:
    """A picture on a page of its size: 100 of its pixels to the inch."""
    import zlib

    from PIL import Image

    with Image.open(picture) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size[0] * 0.72, rgb.size[1] * 0.72
    stream = f"q {width:.2f} 0 0 {height:.2f} 0 0 cm /Im0 Do Q".encode("latin-1")
    return width, height, stream, (rgb.size[0], rgb.size[1], zlib.compress(rgb.tobytes(), 6))


def _pdf_text(text: str) -> str:
    """``text`` as a PDF string's inside: Latin-1 (else ``?``), its backslashes and brackets escaped."""
    text = "".join(c if " " <= c <= "\xff" and c != "\x7f" else "?" for c in text)
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(pages: list[_Page]) -> bytes:
    """The PDF of ``pages``: its objects, the cross-reference table and the trailer."""
    objects: list[bytes] = [b"", b""]  # 1: the catalogue, 2: the pages (filled in below)
    fonts = b"<< /F1 << /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >> "
    fonts += b"/F2 << /Type /Font /Subtype /Type1 /BaseFont /Courier-Bold /Encoding /WinAnsiEncoding >> >>"
    kids = []
    for width, height, stream, image in pages:
        resources = b"<< /Font " + fonts
        if image is not None:
            w, h, pixels = image
            head = f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB "
            head += f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(pixels)} >>"
            objects.append(head.encode("latin-1") + b"\nstream\n" + pixels + b"\nendstream")
            resources += f" /XObject << /Im0 {len(objects)} 0 R >>".encode("latin-1")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode("latin-1") + stream + b"\nendstream")
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width:.2f} {height:.2f}] /Contents {len(objects)} 0 R "
        objects.append(page.encode("latin-1") + b"/Resources " + resources + b" >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode("latin-1")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("latin-1") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("latin-1")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("latin-1") for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("latin-1")
    return bytes(out)
