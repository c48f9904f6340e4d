"""What a refinement's duplicates across its half-sets did to its FSC: its curve, the estimate, the verdict's words.

A RELION refinement's FSC is the corrected curve of the latest PostProcess that read its half-map
(``postprocess.star``: the resolution users report), else its own ``run_model.star``'s gold-standard
FSC. CryoSPARC keeps a refinement's FSC curves as plot files in its database (its event log's
``FSC Iteration`` text files, fetched by file id), not in the job folder: none is found there, and
such a refinement is judged by the share of its particles (said). The estimate itself is
:mod:`cryodedup.algo.fsc`'s; the verdict's size is ``--negligible`` Fourier shells at the crossing,
or, where no FSC is found, the share (%) of its particles in pairs across the half-sets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...algo.fsc import FscEstimate, pairs_estimate, straddling_turns
from ...errors import CryodedupError
from ...formats.star.fsc import FscCurve, read_model_fsc, read_postprocess_fsc
from .check import SetAudit
from .project import Job, Project

__all__ = ["FscFound", "fsc_figures", "fsc_rows", "judge", "refinement_estimate"]

MODEL_FILE, POSTPROCESS_FILE, POSTPROCESS_KIND = "run_model.star", "postprocess.star", "PostProcess"
#: Why a refinement has no estimate where no file was found.
NO_FSC = "no FSC found (no PostProcess of it with a postprocess.star, no run_model.star)"


@dataclass(frozen=True)
class FscFound:
    """A refinement's FSC estimate (None: no FSC found, or none read) and, where one could not be read, why."""

    estimate: FscEstimate | None = None
    note: str = ""

    def to_json(self) -> dict:
        """``--json``'s ``fsc`` of the refinement: the estimate, or its ``source`` null and ``why`` none was made."""
        if self.estimate is not None:
            return self.estimate.to_json()
        return {"source": None, "why": self.note or NO_FSC}


def refinement_fsc(project: Project, job: Job, children: dict[str, list[str]]) -> tuple[FscCurve | None, str]:
    """The refinement's FSC curve (None where none is found) and, when one could not be read, why.

    ``children``: the project's (:meth:`Project.children`, made once for every refinement: a project of thousands).
    """
    if "/" not in job.name:  # (CryoSPARC: its curves are in its database, not its folder)
        return None, ""
    for path in _fsc_files(project, job, children.get(job.name, [])):
        try:
            shown = str(path.relative_to(project.root))
            read = read_postprocess_fsc if path.name == POSTPROCESS_FILE else read_model_fsc
            curve = read(path, shown)
        except (CryodedupError, OSError) as err:
            return None, f"its FSC could not be read ({str(err).splitlines()[0]})"
        why = curve.unusable()
        return (None, f"its FSC gives no resolution ({why})") if why else (curve, "")
    return None, ""


def _fsc_files(project: Project, job: Job, children: list[str]) -> list[Path]:
    """The FSC files of a RELION refinement, the preferred first: its latest PostProcess's (of its ``children``)."""
    posts = sorted(
        (project.jobs[c] for c in children if project.jobs[c].kind == POSTPROCESS_KIND),
        key=lambda j: j.number,
        reverse=True,
    )
    found = [project.root / p.name / POSTPROCESS_FILE for p in posts]
    found.append(project.root / job.name / MODEL_FILE)
    return [path for path in found if path.is_file()]


def refinement_estimate(
    project: Project, job: Job, audit: SetAudit | None, children: dict[str, list[str]], sym: str = "C1"
) -> FscFound | None:
    """The estimate for a refinement's set from its FSC; None for a job that is no refinement or has no set.

    ``children``: the project's, as :func:`refinement_fsc` takes them; ``sym``: the point group it refined with.
    """
    if not job.refinement or audit is None:
        return None
    curve, why = refinement_fsc(project, job, children)
    convention = "relion" if "/" in job.name else "cryosparc"
    return FscFound(None, why) if curve is None else FscFound(set_estimate(curve, audit, sym, convention))


def set_estimate(curve: FscCurve, audit: SetAudit, sym: str = "C1", convention: str = "relion") -> FscEstimate | None:
    """The estimate for a refinement's set and its curve; None for a set without half-sets.

    ``sym``: the point group the refinement imposed, in the setting of ``convention``: a pair whose poses are one
    under it counts whole, one whose poses are apart by what its two central sections share.
    """
    if audit.half_sizes is None:
        return None
    offsets = None if audit.straddling is None else audit.straddling.offsets_A()
    poses = None if audit.straddling is None else audit.straddling.poses()
    turns, under = straddling_turns(poses, "relion", sym, convention)
    return pairs_estimate(
        curve.curve, curve.frequency, curve.fsc, offsets, audit.same_image_straddling, audit.half_sizes, turns, under
    )


@dataclass(frozen=True)
class FscEffect:
    """The effect as a line says it, and whether it matters (a change of at least ``--negligible`` shells)."""

    matters: bool
    words: str


def fsc_effect(found: FscEstimate, negligible_shells: float) -> FscEffect | None:
    """The change in resolution as a verdict weighs it; None where it is not known (no effect read).

    A change that is a lower bound (the curve never crosses as refined, or f past first order) matters from
    ``negligible_shells``; under it nothing is known (the share decides).
    """
    change, shells = found.change_A, found.change_shells
    if change is None or shells is None or found.resolution_A is None or found.resolution_without_A is None:
        return None
    if not (math.isfinite(change) and math.isfinite(shells)):  # (a curve not read as a number: no effect known)
        return None
    if found.lower_bound and shells < negligible_shells:
        return None
    pairs = f"{found.pairs:,} duplicate pair{'s' if found.pairs != 1 else ''}"
    size = f"{shells:.2g}"
    bound = f"{found.caveats}; " if found.caveats else ""
    refined = f"{found.resolution_A:.2f} Å" if found.crosses else f"beyond {found.resolution_A:.2f} Å"
    words = (
        f"as refined {refined}, without its {pairs} about {found.resolution_without_A:.2f} Å "
        f"({bound}{size} Fourier shell{'' if size == '1' else 's'}; shared fraction {found.shared_fraction:.3g}, "
        f"from {found.source.split(': ')[0]}{found.turned_words})"
    )
    return FscEffect(shells >= negligible_shells, words)


@dataclass(frozen=True)
class Judged:
    """A refinement whose half-sets share pairs, judged: whether negligible, and the words its line goes on with."""

    negligible: bool
    words: str


def judge(found: FscFound | None, worst: SetAudit, negligible: float) -> Judged:
    """By the change its FSC is predicted to make (``negligible``: Fourier shells), else by the share (%).

    The share: the particles in straddling pairs under ``negligible`` % of its particles, and no image in both
    halves; the words then say that no FSC was found (or why none was read).
    """
    estimate = found.estimate if found is not None else None
    effect = fsc_effect(estimate, negligible) if estimate is not None else None
    if effect is not None and not effect.matters:
        return Judged(True, f"; {effect.words}: negligible (under {negligible:g} Fourier shell; --negligible sets "
                      "the change)")  # fmt: skip
    if effect is not None:
        return Judged(False, f"; {effect.words}")
    if 100 * worst.fraction < negligible and not worst.same_image_straddling:
        why = (found.note if found is not None else "") or (estimate.why if estimate is not None else "")
        if estimate is not None and not why and estimate.lower_bound:
            why = f"its FSC gives a change of {estimate.bound_words}"
        why = why or "no FSC found"
        return Judged(True, f": negligible (under {negligible:g} % of its particles; {why}, judged by the share; "
                      "--negligible sets the share)")  # fmt: skip
    return Judged(False, "")


def fsc_rows(jobs: Iterable[tuple[Job, SetAudit | None, FscFound | None]]) -> list[tuple[str, str]]:
    """The table's rows of the refinements' FSC: one read, or none for a refinement whose half-sets share pairs."""
    rows = []
    for job, worst, found in jobs:
        if found is not None and (found.estimate is not None or (worst is not None and worst.straddles)):
            rows.append(("FSC", fsc_row(job.label, found.estimate, found.note)))
    return rows


def fsc_row(name: str, found: FscEstimate | None, note: str = "") -> str:
    """The table's row of a refinement's FSC: its resolution as refined, and without its duplicates where it has any.

    None found: why, and that its verdict goes by the share of its particles.
    """
    if found is None:
        return f"{name}: {note or NO_FSC}; judged by the share of its particles in pairs across the half-sets"
    return f"{name}: {estimate_words(found)}"


def estimate_words(found: FscEstimate) -> str:
    """An estimate as a table's row says it: the resolution as refined, and without the duplicates where it has any."""
    if found.resolution_A is None:
        refined = "no 0.143 crossing"
    elif not found.crosses:
        refined = f"above FSC 0.143 to its last shell, {found.resolution_A:.2f} Å"
    else:
        refined = f"{found.resolution_A:.2f} Å at FSC 0.143"
    said = f"{refined} ({found.source})"
    if found.pairs and found.resolution_without_A is not None:
        bound = f" ({found.caveats})" if found.caveats else ""
        shells = found.change_shells
        count = f", {shells:.2g} Fourier shells" if shells is not None else ""
        said += f"; without its duplicates about {found.resolution_without_A:.2f} Å{count}{bound}{found.turned_words}"
    elif found.pairs and found.why:
        said += f"; {found.why}"
    return said


def fsc_figures(jobs: Iterable[tuple[str, FscFound | None]]) -> list[str]:
    """report.html's figures: each refinement's FSC as refined, predicted without its duplicates, the 0.143 line."""
    from ...report.fsc_figure import fsc_svg

    figures = []
    for name, found in jobs:
        if found is None or found.estimate is None:
            continue
        estimate = found.estimate
        title = f"{name}: shared fraction {estimate.shared_fraction:.3g} ({estimate.pairs:,} pairs across the halves)"
        crossings = (estimate.resolution_A if estimate.crosses else None, estimate.resolution_without_A)
        without = list(estimate.fsc_without)
        figures.append(fsc_svg(title, estimate.source, estimate.frequency, estimate.fsc, without, crossings))
    return figures
