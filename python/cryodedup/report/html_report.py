"""report.html: one self-contained page of a job's summary, parameters, tables and pictures."""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import printable
from ..labels import human
from ..options import MicrographOptions, ParticleOptions
from ..outputs import write_bytes
from ..paths import StrPath

__all__ = ["STYLE", "Opening", "Page", "PageBatch", "Parameters", "ReportTable", "write_all"]

#: An extra table of the report: heading, column names and rows.
ReportTable = tuple[str, Sequence[str], Sequence[Sequence[object]]]

#: The report's colours of a highlighted summary row, by its kind.
HIGHLIGHTS = {"bad": "#fde0dd", "good": "#e5f5e0", "warn": "#fff3cd"}


def _report_labels(*jobs: type) -> dict[str, str]:
    """The label of each job field that report.html names otherwise than by its name with spaces."""
    labels = {}
    for job in jobs:
        for f in fields(job):
            flag = f.metadata.get("flag")
            label = flag.label if flag is not None else f.metadata.get("label", "")
            if label:
                labels[f.name] = label
    return labels


#: The labels of the jobs' options in report.html's parameters, by field.
REPORT_LABELS = _report_labels(ParticleOptions, MicrographOptions)

#: The labels that name micrographs, for particles in tomograms (3-D centres).
TOMOGRAM_LABELS = {
    "mic_psize": "coordinate pixel size (Å)",
    "micrographs": "tomograms file",
    "match_micrographs": "tomograms matched by",
    "plot_mics": "example tomograms drawn",
}


def parameter_rows(parameters: dict, unit: str = "micrograph") -> list[tuple[str, str]]:
    """The job's options with human labels, for the report (``unit`` ``tomogram``: tomograms named so)."""
    labels = REPORT_LABELS | (TOMOGRAM_LABELS if unit == "tomogram" else {})
    return [(labels.get(k, k.replace("_", " ")), human(v)) for k, v in parameters.items()]


@dataclass(frozen=True)
class Parameters:
    """A job's options as report.html's Parameters table shows them: their values, and those left at their defaults."""

    values: dict[str, Any]
    defaults: frozenset[str]

    def as_run(self, made: Mapping[str, str]) -> Parameters:
        """The table with each option left to the run saying what the run made of it.

        ``made``: by option name, what the run resolved it to, in the summary's words. An option
        at its default (``auto``, or none given) reads ``auto: none (...)``, ``not given: 0.885 Å
        from ...``: beside the summary's rows a bare ``auto`` or ``-`` told another story. An
        option given is shown as given.
        """
        values = dict(self.values)
        for name, words in made.items():
            if name in self.defaults and words:
                value = values[name]
                values[name] = f"{'not given' if value is None else human(value)}: {words}"
        return replace(self, values=values)


@dataclass(frozen=True)
class Opening:
    """What report.html opens with: the verdict line, its colour (``good``, ``warn``, ``bad``) and the warnings."""

    verdict: str
    kind: str = "good"
    warnings: Sequence[str] = ()

    def html(self) -> str:
        """The verdict, then the warnings in a box of their own right under it."""
        parts = [f"<p class='verdict {self.kind}'>{_prose(self.verdict)}</p>"]
        if self.warnings:
            items = "".join(f"<li>{_prose(w)}</li>" for w in self.warnings)
            heading = "Warning" if len(self.warnings) == 1 else f"{len(self.warnings)} warnings"
            parts.append(f"<div class='warnings' role='alert'><b>{heading}</b><ul>{items}</ul></div>")
        return "".join(parts)


@dataclass(frozen=True)
class PageBatch:
    """Files of a page made and written in one call (by the core, on every core): their names, and that call.

    ``write(paths)``: writes each file at the path given (a temporary one, renamed once every
    output is complete).
    """

    names: Sequence[str]
    write: Callable[[Sequence[Path]], None]


@dataclass(frozen=True)
class Page:
    """A page written beside report.html and linked from it: its files (path, bytes; the page first).

    ``folder``: the folder of its other files (written whole, or, with ``--force`` where it
    exists, file by file, its earlier files of the tool's naming removed); ``link``: the words
    of the report's link to it; ``batches``: files made and written together (:class:`PageBatch`).
    """

    files: Sequence[tuple[str, bytes]]
    folder: str
    link: str
    batches: Sequence[PageBatch] = ()

    def names(self) -> list[str]:
        """Every file's path relative to the output folder, the page first."""
        return [name for name, _ in self.files] + [name for batch in self.batches for name in batch.names]


def _parameters_html(parameters: dict, defaults: set[str], unit: str) -> str:
    """The options given, then those at their defaults folded away (a closed ``<details>``)."""
    given = {k: v for k, v in parameters.items() if k not in defaults}
    left = {k: v for k, v in parameters.items() if k in defaults}
    parts = [_table(parameter_rows(given, unit)) if given else "<p>every option at its default</p>"]
    if left:
        parts.append(
            f"<details><summary>{len(left)} options at their defaults</summary>"
            f"{_table(parameter_rows(left, unit))}</details>"
        )
    return "".join(parts)


def _text(text: str) -> str:
    """Text as HTML, each character that could act on a terminal or a page shown escaped (a name from a file)."""
    return html.escape(printable(text))


def _cell(value: object) -> str:
    """A value as HTML: a long path may break after a slash, never inside a name."""
    return _text(str(value)).replace("/", "/<wbr>")


#: An option named in a sentence ("--min-support"): kept on one line, not broken after its dashes.
_OPTION = re.compile(r"--[A-Za-z][\w-]*")


def _prose(text: str) -> str:
    """A sentence as HTML, as :func:`_cell`, each option it names kept whole."""
    return _OPTION.sub(lambda m: f"<span class='opt'>{m.group(0)}</span>", _cell(text))


#: A column's value up to this long (a number, "88%", "-564, 72") is never broken.
SHORT_VALUE = 16


def _short(value: object) -> str:
    """The class of a short value in a table with a header: kept on one line.

    Long names (EPU's ``FoilHole_..._fractions.mrc``) may break anywhere; without this the
    browser broke the numbers beside them instead ("33." over "3").
    """
    return " class='short'" if len(str(value)) <= SHORT_VALUE else ""


def _table(
    rows: Iterable[Sequence[object]], header: Sequence[str] | None = None, highlight: dict[str, str] | None = None
) -> str:
    """An HTML table; without a header the first column labels the rows, those in ``highlight`` coloured.

    A table with a header scrolls sideways in a box of its own when wider than the page (a
    phone): the page itself never does. One that labels its rows lays each row out as its
    label over its value on a narrow page.
    """
    # A column's heading is as wide as its values, not a row label's 14em: six columns of
    # pairs were wider than the page, the last cut off.
    head = "<tr>" + "".join(f"<th class='col'>{_text(h)}</th>" for h in header) + "</tr>" if header else ""
    cell = "td" if header else "th"
    body = []
    for row in rows:
        kind = (highlight or {}).get(str(row[0]))
        style = f" class='{kind}'" if kind else ""
        label = str(row[0])
        indent = " class='sub'" if label.startswith(" ") else ""  # a row under the one above (an input, a detail)
        values = "".join(f"<td{_short(v) if header else ''}>{_cell(v)}</td>" for v in row[1:])
        body.append(f"<tr{style}><{cell}{indent}>{_text(label.strip())}</{cell}>{values}</tr>")
    if header:
        return f"<div class='wide'><table>{head}{''.join(body)}</table></div>"
    return f"<table class='rows'>{''.join(body)}</table>"


#: The page's style. A label or value as long as two picker files' names wraps (anywhere: paths
#: have no spaces) instead of widening the table past the page; on a page narrower than
#: NARROW (a phone) the labelled rows stack, each label over its value.
NARROW = "640px"
STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 0.8em;color:#222}"
    "th{text-align:left;padding:0.15em 1.5em 0.15em 0.3em;vertical-align:top;"
    "min-width:14em;max-width:26em;overflow-wrap:anywhere}"
    "td{white-space:pre-wrap;padding:0.15em 1em 0.15em 0.3em;overflow-wrap:anywhere}"
    "th.col{min-width:0;overflow-wrap:normal;white-space:nowrap}td.short{white-space:nowrap}th.sub{padding-left:1.5em;font-weight:normal}"
    "table{border-collapse:collapse}tr:nth-child(even){background:#f6f6f6}div.wide{overflow-x:auto}"
    "p.verdict{font-size:1.35em;font-weight:bold;margin:0 0 0.4em;padding:0.5em 0.7em;border-left:0.4em solid;"
    "overflow-wrap:anywhere}"
    "p.verdict.good{border-color:#41ab5d;background:#e5f5e0}p.verdict.warn{border-color:#e6a700;background:#fff3cd}"
    "p.verdict.bad{border-color:#cb181d;background:#fde0dd}"
    "div.warnings{background:#fff3cd;border:1px solid #e6a700;padding:0.5em 0.8em;margin:0 0 1em;"
    "overflow-wrap:anywhere}div.warnings ul{margin:0.3em 0 0;padding-left:1.2em}"
    "span.opt{white-space:nowrap}details summary{cursor:pointer;margin:0.5em 0}"
    "img{max-width:100%;box-sizing:border-box;border:1px solid #ddd;margin:0.5em 0}"
    f"@media (max-width:{NARROW}){{body{{margin:0.8em auto}}table.rows tr,table.rows th,table.rows td{{display:block}}"
    "table.rows th{min-width:0;max-width:none;padding-top:0.4em}table.rows td{padding-left:1em}}"
)


def write_report(
    path: StrPath,
    title: str,
    parameters: dict,
    summary: Sequence[tuple[str, str]],
    figures: Sequence[tuple[str, str, bytes]],
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
    opening: Opening | None = None,
    defaults: set[str] | frozenset[str] = frozenset(),
    page: tuple[str, str] | None = None,
) -> None:
    """One self-contained HTML file: the verdict and warnings, summary, parameters, extra tables and the figures.

    ``opening``: the verdict the page opens with and the warnings under it. ``summary`` holds the
    rows of the terminal's table (:mod:`cryodedup.report.summary`); rows whose label is in
    ``highlight`` are coloured by its kind (``bad``, ``good``, ``warn``). ``parameters``: the
    options, those named in ``defaults`` (left at their defaults) folded away. ``tables``
    holds (heading, header, rows); the figures' PNGs are embedded. ``page``: (file, words) of
    a page beside the report it links to.
    """
    colours = "".join(f"tr.{kind}{{background:{colour}}}" for kind, colour in HIGHLIGHTS.items())
    colours += "tr.bad td,tr.good td{font-weight:bold}"  # the audit's verdict; warnings are coloured only
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_text(title)}</title><style>{STYLE}{colours}</style></head><body>",
        opening.html() if opening else "",
        f"<h1>{_text(title)}</h1>",
        f"<p class='page'><a href='{_text(page[0])}'>{_text(page[1])}</a></p>" if page else "",
        "<h2>Summary</h2>",
        _table(summary, highlight=highlight),
        "<h2>Parameters</h2>",
        _parameters_html(parameters, set(defaults), unit),
    ]
    for heading, header, rows in tables:
        parts += [f"<h2>{_text(heading)}</h2>", _table(rows, header) if rows else "<p>none</p>"]
    parts.append("<h2>Pictures</h2>")
    for name, caption, png in figures:
        data = base64.b64encode(png).decode()
        parts.append(f"<h3>{_text(caption)}</h3><img alt='{_text(name)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    write_bytes(Path(path), "".join(parts).encode())


def write_all(
    outdir: Path,
    pngs: Sequence[tuple[str, str, bytes]],
    title: str,
    shown: Parameters,
    summary: Sequence[tuple[str, str]],
    force: bool,
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
    opening: Opening | None = None,
    page: Page | None = None,
) -> list[str]:
    """Saves the pictures, report.html and ``page`` (linked from it) in ``outdir`` (complete files or none).

    ``pngs`` are the pictures rendered (``figures.rendered``: file name, caption, PNG bytes);
    ``shown`` the job's options as its Parameters table shows them (those at their defaults folded away);
    ``summary`` and ``highlight`` the report's summary rows and those to colour
    (:func:`write_report`); ``unit`` what the particles lie in (``tomogram``: the Parameters
    table names tomograms); ``opening`` the verdict and warnings the page opens with.
    """
    from ..outputs import AtomicOutputs

    parameters, defaults = shown.values, set(shown.defaults)
    paths = [outdir / name for name, _, _ in pngs] + [outdir / "report.html"]
    names = [] if page is None else page.names()
    page_paths = [outdir / name for name in names]
    stale = stale_pictures(outdir, {name for name, _, _ in pngs}) if force else []
    if force and page is not None:
        stale += _stale_page_files(outdir / page.folder, set(page_paths))
    folders = [] if page is None else [outdir / page.folder]
    link = None if page is None or not names else (names[0], page.link)
    with AtomicOutputs(paths + page_paths, force=force, folders=folders) as tmp:
        for (_, _, png), path in zip(pngs, paths):
            write_bytes(tmp[path], png)
        for name, data in [] if page is None else page.files:
            write_bytes(tmp[outdir / name], data)
        for batch in [] if page is None else page.batches:
            batch.write([tmp[outdir / name] for name in batch.names])
        write_report(
            tmp[paths[-1]],
            title,
            parameters,
            summary,
            pngs,
            tables,
            highlight,
            unit,
            opening,
            defaults=defaults,
            page=link,
        )
    for path in stale:  # (once the new report stands: a failed run leaves the earlier one whole)
        path.unlink(missing_ok=True)
    return [str(p) for p in paths] + [str(p) for p in page_paths[:1]]


#: The names a page's folder holds: its index, picks and thumbnails (``report.micrograph_page``), overlays
#: (``report.pair_page``).
_PAGE_NAME = re.compile(r"index\.js|(?:picks|ids)_[0-9]{5}\.js|m[0-9]{6}(?:_[0-9])?\.jpg|p[0-9]{7}\.jpg")


def _stale_page_files(folder: Path, new: set[Path]) -> list[Path]:
    """The files of an earlier page in ``folder`` that the new page does not write (of the tool's naming only)."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False)]
    except OSError:  # (no earlier page)
        return []
    return [folder / name for name in sorted(names) if _PAGE_NAME.fullmatch(name) and folder / name not in new]


#: A picture's name in report.html (the tool names its pictures so: ``example_micrograph_3.png``).
_PICTURE = re.compile(r"<img alt='([^'<>]*)' src='data:image/png;base64,")
_PICTURE_NAME = re.compile(r"[a-z][a-z0-9_]*\.png")


def stale_pictures(outdir: Path, new: set[str]) -> list[Path]:
    """The pictures of the earlier report.html in ``outdir`` that the new report does not write.

    Only pictures the earlier report names (the tool wrote them beside it) and that are still
    files of the tool's naming: a file of the user's in the folder is never one of them.
    """
    try:
        earlier = (outdir / "report.html").read_text(encoding="utf-8", errors="replace")
    except OSError:  # (no earlier report, or none to read: nothing of it to remove)
        return []
    names = {html.unescape(name) for name in _PICTURE.findall(earlier)}
    stale = [outdir / name for name in sorted(names - new) if _PICTURE_NAME.fullmatch(name)]
    return [path for path in stale if path.is_symlink() or path.is_file()]
