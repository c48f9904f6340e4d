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

import numpy as np

from ...algo.fsc import FscEstimate, pairs_estimate, straddling_turns
from ...errors import CryodedupError
from ...formats.star.fsc import FscCurve, model_nyquist, read_model_fsc, read_postprocess_fsc
from .check import SetAudit
from .project import Job, Project

__all__ = ["FscFound", "fsc_figures", "fsc_rows", "judge", "refinement_estimate", "set_estimate"]

MODEL_FILE, POSTPROCESS_FILE, POSTPROCESS_KIND = "run_model.star", "postprocess.star", "PostProcess"
#: Why a refinement has no estimate where no file was found.
NO_FSC = "no FSC found (no PostProcess of it with a postprocess.star, no run_model.star)"


@dataclass(frozen=True)
class FscFound:
    """A refinement's FSC estimate (None: no FSC found, or none read), why none, and the files it fell back from.

    ``fell_back``: each FSC file passed over before the one read (or all of them), and why: not found, damaged
    (cannot be read, not a number, stopping short of the refinement's Nyquist frequency).
    """

    estimate: FscEstimate | None = None
    note: str = ""
    fell_back: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """``--json``'s ``fsc`` of the refinement: the estimate, or its ``source`` null and ``why`` none was made."""
        said = {"fell_back": list(self.fell_back)}
        if self.estimate is not None:
            return {**self.estimate.to_json(), **said}
        return {"source": None, "why": self.note or NO_FSC, **said}


def refinement_fsc(
    project: Project, job: Job, children: dict[str, list[str]]
) -> tuple[FscCurve | None, tuple[str, ...]]:
    """The refinement's FSC curve (None where none is usable) and each file passed over before it, and why.

    The latest PostProcess's ``postprocess.star`` first, then the next, then its ``run_model.star``: a file missing,
    unreadable, not a number before its crossing, or (a postprocess.star) stopping short of the refinement's Nyquist
    frequency (truncated) is passed over, said. ``children``: the project's (:meth:`Project.children`, made once for
    every refinement: a project of thousands).
    """
    if "/" not in job.name:  # (CryoSPARC: its curves are in its database, not its folder)
        return None, ()
    model = project.root / job.name / MODEL_FILE
    nyquist = model_nyquist(model) if model.is_file() else None
    passed: list[str] = []
    for path in _fsc_files(project, job, children.get(job.name, [])):
        shown = str(path.relative_to(project.root))
        if not path.is_file():
            if path.name == POSTPROCESS_FILE or passed:  # (a run_model.star not written, alone: no FSC found)
                passed.append(f"{shown}: not found")
            continue
        try:
            read = read_postprocess_fsc if path.name == POSTPROCESS_FILE else read_model_fsc
            curve = read(path, shown)
        except (CryodedupError, OSError) as err:
            passed.append(f"{shown} could not be read ({_first_line(err)})")
            continue
        why = curve.unusable() or (_short(curve, nyquist) if path.name == POSTPROCESS_FILE else "")
        if why:
            passed.append(f"{shown} gives no resolution ({why})")
            continue
        return curve, tuple(passed)
    return None, tuple(passed)


def _short(curve: FscCurve, nyquist: float | None) -> str:
    """Why a curve stops over half a shell short of the refinement's Nyquist frequency ('' where it does not)."""
    if nyquist is None or len(curve.frequency) < 3:
        return ""
    spacing = float(np.median(np.diff(curve.frequency[1:])))
    last = float(curve.frequency[-1])
    if last >= nyquist - spacing / 2:
        return ""
    return (
        f"its data_fsc stops at {1 / last:.2f} Å, shell {len(curve.frequency) - 1} of {round(nyquist / spacing)}, "
        f"short of the refinement's Nyquist {1 / nyquist:.2f} Å: truncated"
    )


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _fsc_files(project: Project, job: Job, children: list[str]) -> list[Path]:
    """A RELION refinement's FSC files, the preferred first: its PostProcesses' (of its ``children``), latest first.

    Each PostProcess's ``postprocess.star`` whether or not it is there (a missing one is said), then ``run_model.star``.
    """
    posts = sorted(
        (project.jobs[c] for c in children if project.jobs[c].kind == POSTPROCESS_KIND),
        key=lambda j: j.number,
        reverse=True,
    )
    return [*(project.root / p.name / POSTPROCESS_FILE for p in posts), project.root / job.name / MODEL_FILE]


def refinement_estimate(
    project: Project, job: Job, audit: SetAudit | None, children: dict[str, list[str]], sym: str = "C1"
) -> FscFound | None:
    """The estimate for a refinement's set from its FSC; None for a job that is no refinement or has no set.

    ``children``: the project's, as :func:`refinement_fsc` takes them; ``sym``: the point group it refined with.
    """
    if not job.refinement or audit is None:
        return None
    curve, passed = refinement_fsc(project, job, children)
    if curve is None:
        missing = [step.removesuffix(": not found") for step in passed if step.endswith(": not found")]
        if len(missing) == len(passed):  # (none there: no FSC found, naming where it was looked for)
            return FscFound(None, f"no FSC found ({', '.join(missing)} not found)" if missing else "", passed)
        return FscFound(None, f"no FSC read: {'; '.join(passed)}", passed)
    convention = "relion" if "/" in job.name else "cryosparc"
    return FscFound(set_estimate(curve, audit, sym, convention), "", passed)


def set_estimate(curve: FscCurve, audit: SetAudit, sym: str = "C1", convention: str = "relion") -> FscEstimate | None:
    """The estimate for a refinement's set and its curve; None for a set without half-sets.

    ``sym``: the point group the refinement imposed, in the setting of ``convention``: a pair whose poses are one
    under it counts whole, one whose poses are apart by what its two central sections share.
    """
    if audit.half_sizes is None:
        return None
    offsets = None if audit.straddling is None else audit.straddling.offsets_A()
    poses = None if audit.straddling is None else audit.straddling.poses()
    kind = "relion" if audit.straddling is None else audit.straddling.pose_kind
    turns, under = straddling_turns(poses, kind, sym, convention)
    boxes = audit.straddling
    return pairs_estimate(
        curve.curve, curve.frequency, curve.fsc, offsets, audit.same_image_straddling, audit.half_sizes, turns, under,
        None if boxes is None else boxes.sides, None if boxes is None else (boxes.a, boxes.b),
    )  # fmt: skip


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
    """The table's rows of the refinements' FSC: one read (and the files passed over before it), or none read."""
    rows = []
    for job, worst, found in jobs:
        if found is None:
            continue
        if found.estimate is not None or (worst is not None and worst.straddles) or found.fell_back:
            said = fsc_row(job.label, found.estimate, found.note)
            if found.fell_back and found.estimate is not None:
                said += f"; read after passing over {'; '.join(found.fell_back)}"
            rows.append(("FSC", said))
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
