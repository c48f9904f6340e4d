"""The audit's pipeline graph (report/audit_page.py), checked on hand-worked chains.

A RELION lineage is one long column (Refine3D -> CtfRefine -> Refine3D -> Polish -> Refine3D): an edge that
passes rows drawn straight down ran under the boxes between, unseen (a new user's trial of the tutorial's
report), and a reference map's edge looked like the particles' own.
"""

from __future__ import annotations

import re

from cryodedup.report.audit_page import GraphJob, pipeline_svg


def _paths(svg: str) -> list[tuple[list[float], bool]]:
    """Each edge's numbers (its path's coordinates, in order) and whether it is dashed."""
    found = []
    for attributes in re.findall(r"<path d='(M[^']*)' fill='none'([^>]*)/>", svg):
        numbers = [float(v) for v in re.findall(r"-?[0-9.]+", attributes[0])]
        found.append((numbers, "stroke-dasharray" in attributes[1]))
    return found


def _boxes(svg: str) -> list[tuple[float, ...]]:
    return [
        tuple(map(float, b))
        for b in re.findall(r"<rect x='([0-9.]+)' y='([0-9.]+)' width='([0-9.]+)' height='38'", svg)
    ]


def test_an_edge_that_passes_rows_is_an_arc_beside_the_boxes_and_a_reference_edge_is_dashed():
    # Refine A -> Polish B -> Refine C (particles); C also reads A's map (a reference: not a particle edge).
    jobs = [
        GraphJob("Refine3D/job025", "Refine3D", "clean", [], ""),
        GraphJob("Polish/job028", "Polish", "clean", ["Refine3D/job025"], "", ["Refine3D/job025"]),
        GraphJob("Refine3D/job029", "Refine3D", "redo", ["Polish/job028", "Refine3D/job025"], "", ["Polish/job028"]),
    ]
    svg = pipeline_svg(jobs)
    boxes = _boxes(svg)
    assert len(boxes) == 3 and len({x for x, _, _ in boxes}) == 1  # (one column, rows 0, 1, 2)
    right = max(x + w for x, _, w in boxes)
    (a_b, a_b_dashed), (b_c, b_c_dashed), (a_c, a_c_dashed) = _paths(svg)
    # One row apart: from the bottom's middle straight down to the top's middle, solid (particles).
    assert not a_b_dashed and not b_c_dashed
    assert a_b[0] == a_b[-2] and b_c[0] == b_c[-2]
    # Two rows apart: from the right side to the right side, bulging out beyond every box, dashed (a map).
    assert a_c_dashed
    start_x, control_x = a_c[0], a_c[2]
    assert start_x == right and control_x > right
    # The picture is wide enough for the arc (the legend stands right of it).
    legend_x = float(re.search(r"<rect x='([0-9.]+)' y='[0-9.]+' width='16'", svg).group(1))
    assert legend_x > control_x
