"""``cryodedup audit --plot DIR``'s report.html: the project's pipeline drawn as a graph coloured by verdict.

Self-contained: the graph is an inline SVG (no script, no picture file), the page's style
report.html's own. Jobs stand in rows by their depth in the lineage (a job one row below its
deepest parent: a project's lineage is long and narrow, so the page scrolls down, not sideways),
edges run from a job to the jobs that read its outputs; each box is coloured by the job's
verdict and its line of the report is its tooltip.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..outputs import AtomicOutputs, write_bytes
from .html_report import STYLE, Opening

__all__ = ["GraphJob", "write_audit_report"]

#: Each verdict's fill and what the legend calls it, worst first; every two at least 10 CIEDE2000 apart (the closest:
#: "not run" white and "no particles" grey, 12; tests/report/test_audit_colours.py).
VERDICT_COLOURS = {
    "redo": ("#e34a33", "half-sets share duplicates: redo"),
    "carried": ("#fbb4ae", "cleared by redoing a later one"),
    "damaged": ("#9e9ac8", "damaged: not audited"),
    "running": ("#e7298a", "running on duplicates"),
    "entered": ("#fd8d3c", "duplicates entered here"),
    "inherited": ("#fee391", "duplicates from upstream"),
    "negligible": ("#c2e699", "negligible across half-sets"),
    "superseded": ("#80cdc1", "superseded by a later one"),
    "clean": ("#4daf4a", "no duplicates"),
    "not run": ("#ffffff", "not run yet"),
    "no particles": ("#c8c8c8", "no particles"),
}

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 170, 38, 24, 26, 10
#: The widest a character of the boxes' bold 12 px sans-serif draws (px; DejaVu Sans Bold's "W" is 12.3,
#: its digits and lower case 8.3 at most): a box is as wide as its longest name needs.
_CHAR_W = 8.4
#: How far right of the boxes an arc bulges for each row it passes (px), and the rows past which it bulges no more.
_ARC_STEP, _ARC_ROWS = 14, 8
#: The page's own style: the graph scaled to the page, a job's name never broken in the table.
_STYLE = (
    "svg{max-width:100%;height:auto}table.rows th{overflow-wrap:normal;white-space:nowrap}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"  # (a redo command as long as its paths: wrapped, not cut)
)


@dataclass(frozen=True)
class GraphJob:
    """One job as the graph draws it: its name, kind, verdict, parents and its line of the report."""

    name: str
    kind: str
    verdict: str
    parents: Sequence[str]
    line: str
    #: The parents whose particles it read (the lineage, drawn solid); its other inputs (a map, a mask) dashed.
    particle_parents: Sequence[str] = ()


def _depths(jobs: Sequence[GraphJob]) -> dict[str, int]:
    """Each job's row: one below its deepest parent (a cycle's back edge is not followed)."""
    parents = {j.name: [p for p in j.parents if p != j.name] for j in jobs}
    column: dict[str, int] = {}

    def depth(name: str, walking: frozenset[str]) -> int:
        if name in column:
            return column[name]
        ups = [p for p in parents.get(name, []) if p in parents and p not in walking]
        column[name] = 1 + max((depth(p, walking | {name}) for p in ups), default=-1)
        return column[name]

    for job in jobs:
        depth(job.name, frozenset())
    return column


def _edge(parent: tuple[int, int], child: tuple[int, int], box_w: int) -> str:
    """An edge's path: the parent's bottom to the child's top, or an arc beside the boxes.

    One row apart: a curve down. Further: an arc from the parent's right side to the child's, out beside the
    boxes between them (a straight line would run under them, unseen).
    """
    (x0, y0), (x1, y1) = parent, child
    rows = round((y1 - y0) / (_BOX_H + _GAP_Y))
    if rows == 1:
        start, end = (x0 + box_w / 2, y0 + _BOX_H), (x1 + box_w / 2, y1)
        bend = (end[1] - start[1]) / 2
        return f"M{start[0]},{start[1]} C{start[0]},{start[1] + bend} {end[0]},{end[1] - bend} {end[0]},{end[1]}"
    side0, side1, mid0, mid1 = x0 + box_w, x1 + box_w, y0 + _BOX_H / 2, y1 + _BOX_H / 2
    out = max(side0, side1) + _ARC_STEP * min(max(abs(rows), 1), _ARC_ROWS)
    return f"M{side0},{mid0} C{out},{mid0} {out},{mid1} {side1},{mid1}"


def _arc_room(row: dict[str, int], jobs: Sequence[GraphJob]) -> int:
    """The width the arcs of edges that pass rows take right of the boxes."""
    spans = [abs(row[j.name] - row[p]) for j in jobs for p in j.parents if p in row and p != j.name]
    longest = max((span for span in spans if span != 1), default=0)
    return _ARC_STEP * min(longest, _ARC_ROWS)


def pipeline_svg(jobs: Sequence[GraphJob]) -> str:
    """The pipeline as an SVG: a box per job in its column, an arrow per parent, the legend under it."""
    row = _depths(jobs)
    # (every name whole inside its box: RELION 5's ExcludeTiltImages/job004 is wider than the 170 px default)
    box_w = max([_BOX_W, *(int(_CHAR_W * max(len(j.name), len(j.kind))) + 16 for j in jobs)])
    used: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for job in jobs:  # (in the project's order along each row)
        r = row[job.name]
        place[job.name] = (_MARGIN + used.get(r, 0) * (box_w + _GAP_X), _MARGIN + r * (_BOX_H + _GAP_Y))
        used[r] = used.get(r, 0) + 1
    # (room right of the boxes for the arcs of edges that pass rows: a lineage is often one column)
    legend_x = _MARGIN + max(used.values(), default=0) * (box_w + _GAP_X) + _arc_room(row, jobs)
    width = legend_x + 230
    height = max(_MARGIN * 2 + (max(row.values(), default=0) + 1) * (_BOX_H + _GAP_Y), 22 * len(VERDICT_COLOURS) + 20)
    legend_y = _MARGIN
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        "font-family='sans-serif' font-size='12' role='img' aria-label='the pipeline, each job coloured by verdict'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' "
        "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#666'/></marker></defs>",
    ]
    for job in jobs:
        for parent in job.parents:
            if parent in place and parent != job.name:
                dash = "" if parent in job.particle_parents else " stroke-dasharray='5,4'"
                parts.append(
                    f"<path d='{_edge(place[parent], place[job.name], box_w)}' fill='none' stroke='#888' "
                    f"stroke-width='1.2'{dash} marker-end='url(#arrow)'/>"
                )
    for job in jobs:
        x, y = place[job.name]
        fill = VERDICT_COLOURS.get(job.verdict, VERDICT_COLOURS["no particles"])[0]
        parts.append(
            f"<g><title>{html.escape(job.line)}</title><rect x='{x}' y='{y}' width='{box_w}' height='{_BOX_H}' "
            f"rx='5' fill='{fill}' stroke='#555'/><text x='{x + 8}' y='{y + 16}' font-weight='bold'>"
            f"{html.escape(job.name)}</text><text x='{x + 8}' y='{y + 31}' fill='#333'>"
            f"{html.escape(job.kind)}</text></g>"
        )
    for k, (fill, words) in enumerate(VERDICT_COLOURS.values()):
        y = legend_y + 22 * k
        parts.append(
            f"<rect x='{legend_x}' y='{y}' width='16' height='14' fill='{fill}' stroke='#555'/>"
            f"<text x='{legend_x + 24}' y='{y + 12}'>{html.escape(words)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def write_audit_report(
    outdir: Path,
    title: str,
    opening: Opening,
    jobs: Sequence[GraphJob],
    rows: Sequence[tuple[str, str]],
    force: bool,
    commands: Sequence[tuple[str, str, str]] = (),
    figures: Sequence[str] = (),
) -> Path:
    """report.html in ``outdir``: the verdict, the pipeline's graph, one line per job; written whole or not at all.

    ``commands``: what the table's lines point to ("the command under the table"), each its purpose, the command
    and the route through RELION's External job, printed under the table. ``figures``: each refinement's FSC
    (inline SVGs, :mod:`.fsc_figure`), after them.
    """
    table = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in rows)
    under = "".join(
        f"<p>{html.escape(purpose)}:</p><pre>{html.escape(command)}</pre>"
        + (f"<p>{html.escape(route)}</p>" if route else "")
        for purpose, command, route in commands
    )
    drawn = "".join(f"<div class='wide'>{svg}</div>" for svg in figures)
    fsc = f"<h2>FSC as refined and without the duplicates across the half-sets</h2>{drawn}" if figures else ""
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}{_STYLE}</style></head><body>"
        f"{opening.html()}<h1>{html.escape(title)}</h1><h2>Pipeline</h2><div class='wide'>{pipeline_svg(jobs)}</div>"
        f"<h2>Jobs, worst first</h2><table class='rows'>{table}</table>{under}{fsc}</body></html>"
    )
    path = outdir / "report.html"
    with AtomicOutputs([path], force=force) as tmp:
        write_bytes(tmp[path], page.encode())
    return path
