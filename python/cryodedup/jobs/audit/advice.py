"""What the audit advises, as commands it would run: the set of a refinement to redo, without its duplicates.

A command is built from what the audit read and counted (the set's files, its distance, its poses and point
group, the micrographs it read a pixel size from), so that, run as printed, it rejects the pairs counted.
"""

from __future__ import annotations

import os

from ...errors import shell_command
from .check import SetAudit
from .project import Job, Project

__all__ = ["redo_command"]


def redo_command(project: Project, job: Job, audited: SetAudit) -> str:
    """``cryodedup particles`` on the set as audited (its files, distance, poses, point group), out beside the project.

    The set to refine again, without the duplicates the audit counted.

    Paths are absolute, quoted for a POSIX shell: the command runs as printed from any folder; a name a terminal
    cannot show as it is (an escape sequence, a byte not UTF-8) is written in the shell's ``$'...'`` quoting.
    """
    files = [os.path.abspath(project.root / file) for file in job.particle_sets[audited.file]]
    words = ["cryodedup", "particles", *files, "--min-dist", f"{audited.min_dist_A:g}"]
    if audited.max_angle_deg is not None:
        words += ["--max-angle", f"{audited.max_angle_deg:g}", "--sym", audited.symmetry or "C1"]
    if audited.same_image:  # (one image at two centres: a duplicate whatever the distance, as the audit counted it)
        words += ["--same-image", "reject"]
    if audited.micrographs is not None:  # (the pixel size the set does not give, as the audit read it)
        words += ["--micrographs", os.path.abspath(audited.micrographs)]
    root = os.path.abspath(project.root)
    out = os.path.join(f"{root.rstrip(os.sep)}-cryodedup", job.name.replace("/", "_"))
    return shell_command([*words, "-o", out])
