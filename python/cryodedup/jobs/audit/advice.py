"""What the audit advises, as commands it would run: the set of a refinement to redo, without its duplicates.

A command is built from what the audit read and counted (the set's files, its distance, its poses and point
group, the micrographs it read a pixel size from), so that, run as printed, it rejects the pairs counted.
"""

from __future__ import annotations

import os

from ...errors import shell_command
from .check import SetAudit
from .project import Job, Project, redo_folder

__all__ = ["external_route", "redo_command"]


def _options(audited: SetAudit) -> list[tuple[str, str]]:
    """The particle job's options that count as the audit counted (its distance, poses, images twice, micrographs)."""
    options = [("min-dist", f"{audited.min_dist_A:g}")]
    if audited.max_angle_deg is not None and not audited.within_class:
        options += [("max-angle", f"{audited.max_angle_deg:g}"), ("sym", audited.symmetry or "C1")]
    if audited.same_image:  # (one image at two centres: a duplicate whatever the distance, as the audit counted it)
        options += [("same-image", "reject")]
    if audited.micrographs is not None:  # (the pixel size the set does not give, as the audit read it)
        options += [("micrographs", audited.micrographs)]
    return options


def redo_command(project: Project, job: Job, audited: SetAudit, name: str | None = None) -> str:
    """``cryodedup particles`` on the set as audited (its files, distance, poses, point group), out beside the project.

    The set to refine again, without the duplicates the audit counted; ``name``: the refinement it is for, where not
    ``job`` (a damaged refinement's input).

    Paths are absolute, quoted for a POSIX shell: the command runs as printed from any folder; a name a terminal
    cannot show as it is (an escape sequence, a byte not UTF-8) is written in the shell's ``$'...'`` quoting.
    """
    files = [os.path.abspath(project.root / file) for file in job.particle_sets[audited.file]]
    words = ["cryodedup", "particles", *files]
    for option, value in _options(audited):
        words += [f"--{option}", os.path.abspath(value) if option == "micrographs" else value]
    return shell_command([*words, "-o", redo_folder(project.root, name or job.name)])


def external_route(project: Project, job: Job, audited: SetAudit, then: str = "refine") -> str:
    """The same as RELION's External job (``cryodedup-relion``) does it, whose output the pipeline links to the job.

    Its fields as the GUI names them; empty for a set that is no single RELION file (CryoSPARC's, a joined group).
    Paths are the project's own (RELION runs the job from the project's folder). ``then``: what to do with its
    kept set (``refine``; ``go on from``).
    """
    files = job.particle_sets[audited.file]
    if "/" not in job.name or len(files) != 1 or not files[0].endswith(".star"):
        return ""
    root = os.path.abspath(project.root)
    params = []
    for k, (option, value) in enumerate(_options(audited), 1):
        if option == "micrographs":
            inside = os.path.relpath(os.path.abspath(value), root)
            value = value if inside.startswith("..") else inside
        params.append(f"Param{k} label {option.replace('-', '_')} value {value}")
    return (
        "Or, to keep RELION's lineage, a new External job: External executable cryodedup-relion, Input particles "
        f"{files[0]}, {', '.join(params)}; then {then} External/jobNNN/particles_kept.star"
    )
