"""A CryoSPARC project folder's jobs as read from disk: each job folder's ``job.json``.

CryoSPARC writes the job's database document into its folder (``P1/J17/job.json``;
cryosparc-tools' ``JobDocument``): ``uid`` (``J17``), ``type`` (``job_type`` in newer
releases: ``homo_refine_new``), ``status``, ``parents`` (the jobs its inputs come from),
``params_spec`` (the parameters set, each ``{"value": ...}``), ``output_result_groups``
(each output group's ``name`` and ``type``, ``particle`` for particles) and
``output_results`` (each result slot of a group, with ``metafiles``: the ``.cs`` of each
version, project-relative, the last the final one). A particle group's dataset is its
slots' final files joined on ``uid`` (a job's own ``.cs`` and its ``_passthrough_particles.cs``),
as cryosparc-tools' ``Job.load_output`` joins them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputFileError
from ..files import read_foreign_json

__all__ = ["JOB_DOCUMENT", "job_folders", "read_job_document"]

JOB_DOCUMENT = "job.json"
_JOB_FOLDER = re.compile(r"J([0-9]+)$")


@dataclass
class CsJob:
    """One job's document: its uid, type, status, parents, particle output groups (name: files) and parameters."""

    uid: str
    type: str
    title: str
    status: str
    parents: list[str]
    particle_groups: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def job_folders(root: Path) -> list[Path]:
    """The job folders of a project folder (``J1``, ``J2`` ...), by number."""
    found = [p for p in root.iterdir() if p.is_dir() and _JOB_FOLDER.match(p.name)]
    return sorted(found, key=lambda p: int(p.name[1:]))


def read_job_document(path: Path) -> CsJob:
    """Reads one ``job.json``. Raises :class:`InputFileError` naming the file and the field when it is not one."""
    document = read_foreign_json(path, "a CryoSPARC job.json")
    if not isinstance(document, dict) or not isinstance(document.get("uid"), str):
        raise InputFileError(f'{path}: no job uid ("uid": "J17"); is this CryoSPARC\'s job.json?')
    parents = document.get("parents") or []
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise InputFileError(f'{path}: "parents" is not a list of job uids')
    _check_kinds(path, document)
    params = {
        name: spec.get("value") for name, spec in (document.get("params_spec") or {}).items() if isinstance(spec, dict)
    }
    return CsJob(
        document["uid"],
        str(document.get("type") or document.get("job_type") or "?"),
        str(document.get("title") or ""),
        str(document.get("status") or ""),
        parents,
        _particle_groups(path, document),
        params,
    )


#: The fields read besides uid and parents, and the kind each must be when present (and not null).
_FIELD_KINDS = {
    "params_spec": (dict, "an object"),
    "output_result_groups": (list, "a list"),
    "output_results": (list, "a list"),
}


def _check_kinds(path: Path, document: dict) -> None:
    """Refuses a field read of the wrong kind, naming it (a list where an object is: no traceback, no guess)."""
    for name, (kind, said) in _FIELD_KINDS.items():
        value = document.get(name)
        if value is not None and not isinstance(value, kind):
            raise InputFileError(f'{path}: "{name}" is {_json_kind(value)}, expected {said}')


def _json_kind(value: Any) -> str:
    kinds = (
        (bool, "true or false"),
        (dict, "an object"),
        (list, "a list"),
        (str, "a string"),
        ((int, float), "a number"),
    )
    return next(said for kind, said in kinds if isinstance(value, kind))


def _particle_groups(path: Path, document: dict) -> dict[str, list[str]]:
    """Each particle output group's final files: the last metafile of each of its result slots, in order."""
    groups = [
        g.get("name")
        for g in document.get("output_result_groups") or []
        if isinstance(g, dict) and g.get("type") == "particle"
    ]
    found: dict[str, list[str]] = {}
    for group in groups:
        files: list[str] = []
        for result in document.get("output_results") or []:
            if not isinstance(result, dict) or result.get("group_name") != group:
                continue
            metafiles = result.get("metafiles") or []
            if not isinstance(metafiles, list) or not all(isinstance(m, str) for m in metafiles):
                raise InputFileError(f'{path}: output {group}/{result.get("name")}: "metafiles" is not a list of paths')
            if metafiles and metafiles[-1] not in files:
                files.append(metafiles[-1])
        if files:
            found[str(group)] = files
    return found
