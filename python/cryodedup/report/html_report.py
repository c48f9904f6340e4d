"""report.html: one self-contained page of a job's summary, parameters, tables and pictures."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from ..errors import printable
from ..labels import human
from ..options import MicrographOptions, ParticleOptions
from ..outputs import StrPath, write_bytes

__all__ = ["ReportTable", "write_all"]

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


def _text(text: str) -> str:
    """Text as HTML, each character that could act on a terminal or a page shown escaped (a name from a file)."""
    return html.escape(printable(text))


def _cell(value: object) -> str:
    """A value as HTML: a long path may break after a slash, never inside a name."""
    return _text(str(value)).replace("/", "/<wbr>")


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
    """An HTML table; without a header the first column labels the rows, those in ``highlight`` coloured."""
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
    return f"<table>{head}{''.join(body)}</table>"


def write_report(
    path: StrPath,
    title: str,
    parameters: dict,
    summary: Sequence[tuple[str, str]],
    figures: Sequence[tuple[str, str, bytes]],
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
) -> None:
    """One self-contained HTML file: summary, parameters, extra tables and the figures.

    ``summary`` holds the rows of the terminal's table (:mod:`cryodedup.report.summary`); rows
    whose label is in ``highlight`` are coloured by its kind (``bad``, ``good``, ``warn``).
    ``tables`` holds (heading, header, rows); the figures' PNGs are embedded.
    """
    colours = "".join(f"tr.{kind}{{background:{colour}}}" for kind, colour in HIGHLIGHTS.items())
    colours += "tr.bad td,tr.good td{font-weight:bold}"  # the verdict; warnings are coloured only
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_text(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        # A label or value as long as two picker files' names wraps (anywhere: paths have no
        # spaces) instead of widening the table past the page.
        "th{text-align:left;padding:0.15em 1.5em 0.15em 0.3em;vertical-align:top;"
        "min-width:14em;max-width:26em;overflow-wrap:anywhere}"
        "td{white-space:pre-wrap;padding:0.15em 1em 0.15em 0.3em;overflow-wrap:anywhere}"
        "th.col{min-width:0;overflow-wrap:normal}td.short{white-space:nowrap}th.sub{padding-left:1.5em;font-weight:normal}table{border-collapse:collapse}tr:nth-child(even){background:#f6f6f6}"
        f"{colours}img{{max-width:100%;box-sizing:border-box;border:1px solid #ddd;margin:0.5em 0}}"
        "</style></head><body>",
        f"<h1>{_text(title)}</h1><h2>Summary</h2>",
        _table(summary, highlight=highlight),
        "<h2>Parameters</h2>",
        _table(parameter_rows(parameters, unit)),
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
    parameters: dict,
    summary: Sequence[tuple[str, str]],
    force: bool,
    tables: Iterable[ReportTable] = (),
    highlight: dict[str, str] | None = None,
    unit: str = "micrograph",
) -> list[str]:
    """Saves the pictures and report.html in ``outdir`` (complete files or none).

    ``pngs`` are the pictures rendered (``figures.rendered``: file name, caption, PNG bytes);
    ``summary`` and ``highlight`` the report's summary rows and those to colour
    (:func:`write_report`); ``unit`` what the particles lie in (``tomogram``: the Parameters
    table names tomograms).
    """
    from ..outputs import AtomicOutputs

    paths = [outdir / name for name, _, _ in pngs] + [outdir / "report.html"]
    stale = stale_pictures(outdir, {name for name, _, _ in pngs}) if force else []
    with AtomicOutputs(paths, force=force) as tmp:
        for (_, _, png), path in zip(pngs, paths):
            write_bytes(tmp[path], png)
        write_report(tmp[paths[-1]], title, parameters, summary, pngs, tables, highlight, unit)
    for path in stale:  # (once the new report stands: a failed run leaves the earlier one whole)
        path.unlink(missing_ok=True)
    return [str(p) for p in paths]


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
