"""What a refinement's duplicates across its half-sets did to its FSC: its curve found and the estimate made.

A RELION refinement's FSC is the corrected curve of the latest PostProcess that read its half-map
(``postprocess.star``: the resolution users report), else its own ``run_model.star``'s gold-standard
FSC. CryoSPARC keeps a refinement's FSC curves as plot files in its database (its event log's
``FSC Iteration`` text files, fetched by file id), not in the job folder: none is found there, and
such a refinement is judged by the share of its particles (said). The estimate itself is
:mod:`cryodedup.algo.fsc`'s; the verdict's size is ``--negligible`` Fourier shells at the crossing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...algo.fsc import FscEstimate, pairs_estimate
from ...errors import CryodedupError
from ...formats.star.fsc import FscCurve, read_model_fsc, read_postprocess_fsc
from .check import SetAudit
from .project import Job, Project

__all__ = ["fsc_effect", "fsc_figure", "fsc_row", "refinement_estimate"]

MODEL_FILE, POSTPROCESS_FILE, POSTPROCESS_KIND = "run_model.star", "postprocess.star", "PostProcess"


def refinement_fsc(project: Project, job: Job) -> tuple[FscCurve | None, str]:
    """The refinement's FSC curve (None where none is found) and, when one could not be read, why."""
    if "/" not in job.name:  # (CryoSPARC: its curves are in its database, not its folder)
        return None, ""
    for path in _fsc_files(project, job):
        try:
            shown = str(path.relative_to(project.root))
            read = read_postprocess_fsc if path.name == POSTPROCESS_FILE else read_model_fsc
            return read(path, shown), ""
        except (CryodedupError, OSError) as err:
            return None, f"its FSC could not be read ({str(err).splitlines()[0]})"
    return None, ""


def _fsc_files(project: Project, job: Job) -> list[Path]:
    """The FSC files of a RELION refinement, the preferred first: its latest PostProcess's, then its own."""
    children = project.children().get(job.name, [])
    posts = sorted(
        (project.jobs[c] for c in children if project.jobs[c].kind == POSTPROCESS_KIND),
        key=lambda j: j.number,
        reverse=True,
    )
    found = [project.root / p.name / POSTPROCESS_FILE for p in posts]
    found.append(project.root / job.name / MODEL_FILE)
    return [path for path in found if path.is_file()]


def refinement_estimate(project: Project, job: Job, audit: SetAudit) -> tuple[FscEstimate | None, str]:
    """The estimate for a refinement's set from its FSC (None: none found, or no half-sets), and why none was read."""
    curve, why = refinement_fsc(project, job)
    return (None, why) if curve is None else (set_estimate(curve, audit), "")


def set_estimate(curve: FscCurve, audit: SetAudit) -> FscEstimate | None:
    """The estimate for a refinement's set and its curve; None for a set without half-sets."""
    if audit.half_sizes is None:
        return None
    offsets = None if audit.straddling is None else audit.straddling.offsets_A()
    return pairs_estimate(
        curve.curve, curve.frequency, curve.fsc, offsets, audit.same_image_straddling, audit.half_sizes
    )


@dataclass(frozen=True)
class FscEffect:
    """The effect as a line says it, and whether it matters (a change of at least ``--negligible`` shells)."""

    matters: bool
    words: str


def fsc_effect(found: FscEstimate, negligible_shells: float) -> FscEffect | None:
    """The change in resolution as a verdict weighs it; None where the crossings are not known (no effect read)."""
    change, shells = found.change_A, found.change_shells
    if change is None or shells is None or found.resolution_A is None or found.resolution_without_A is None:
        return None
    pairs = f"{found.pairs:,} duplicate pair{'s' if found.pairs != 1 else ''}"
    words = (
        f"as refined {found.resolution_A:.2f} Å, without its {pairs} about {found.resolution_without_A:.2f} Å "
        f"({shells:.2g} Fourier shells; shared fraction {found.shared_fraction:.3g}, from "
        f"{found.source.split(': ')[0]})"
    )
    return FscEffect(shells >= negligible_shells, words)


def fsc_row(name: str, found: FscEstimate | None, note: str = "") -> str:
    """The table's row of a refinement's FSC: its resolution as refined, and without its duplicates where it has any.

    None found: why, and that its verdict goes by the share of its particles.
    """
    if found is None:
        why = note or "no FSC found (no PostProcess of it with a postprocess.star, no run_model.star)"
        return f"{name}: {why}; judged by the share of its particles in pairs across the half-sets"
    refined = "no 0.143 crossing" if found.resolution_A is None else f"{found.resolution_A:.2f} Å at FSC 0.143"
    said = f"{name}: {refined} ({found.source})"
    if found.pairs and found.resolution_without_A is not None:
        said += f"; without its duplicates about {found.resolution_without_A:.2f} Å"
    return said


def fsc_figure(name: str, found: FscEstimate) -> str:
    """report.html's figure of the refinement's FSC: as refined, predicted without its duplicates, the 0.143 line."""
    from ...report.fsc_figure import fsc_svg

    curve = found.source.split(": ")[0]
    title = f"{name}: {curve} (shared fraction {found.shared_fraction:.3g}, {found.pairs:,} pairs)"
    crossings = (found.resolution_A, found.resolution_without_A)
    return fsc_svg(title, found.frequency, found.fsc, list(found.fsc_without), crossings)
