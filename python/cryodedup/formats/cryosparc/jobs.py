"""A CryoSPARC project folder's jobs as read from disk: each job folder's ``job.json``.

CryoSPARC writes the job's database document into its folder (``P1/J17/job.json``), in one of
two shapes, both read:

- CryoSPARC 4's (cryosparc-tools 4's ``JobDocument``): ``uid`` (``J17``), ``type`` (``job_type``
  in some releases: ``homo_refine_new``), ``status``, ``parents`` (the jobs behind every input),
  ``input_slot_groups`` (each input group's ``type``, ``particle`` for particles, and its
  ``connections``: the parent's ``job_uid`` and output ``group_name``), ``params_spec`` (the
  parameters set, each ``{"value": ...}``), ``output_result_groups`` (each output group's
  ``name`` and ``type``) and ``output_results`` (each result slot of a group, with
  ``metafiles``: the ``.cs`` of each version, project-relative, the last the final one);
- CryoSPARC 5's (cryosparc-tools 5's ``Job``): the same ``uid``, ``status``, ``parents``, and a
  ``spec`` holding ``type``, ``params`` (each value as it is), ``inputs`` (input name: its
  ``type`` and ``connections``, each with its ``job_uid`` and ``output``) and ``outputs``
  (output name: its ``type`` and ``results``, each with its ``metafiles``).

A particle group's dataset is its slots' final files joined on ``uid`` (a job's own ``.cs`` and
its ``_passthrough_particles.cs``), as cryosparc-tools' ``Job.load_output`` joins them. A job's
particle parents are the jobs its ``particle`` inputs connect to, not every parent: a
refinement's initial volume or mask is no source of its particles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ...errors import CryodedupError, InputFileError, one_line, shortened
from ..files import read_foreign_json

__all__ = ["JOB_DOCUMENT", "SYMMETRY_PARAMS", "job_folders", "job_symmetry", "read_job_document"]

JOB_DOCUMENT = "job.json"
_JOB_FOLDER = re.compile(r"J([0-9]+)$")


#: The shapes of job.json read, as a job's ``shape`` says them.
SHAPE_4, SHAPE_5 = "CryoSPARC 4 job.json", "CryoSPARC 5 job.json (spec)"
#: The parameters a job names its point group by (a refinement's, an ab-initio's, a heterogeneous refinement's).
SYMMETRY_PARAMS = ("refine_symmetry", "abinit_symmetry", "multirefine_symmetry")
#: When a job ran, by the first of its document's times it holds.
_TIMES = ("started_at", "launched_at", "created_at")


@dataclass
class CsJob:
    """One job's document: its uid, type, status, parents, particle output groups (name: files) and parameters.

    ``particle_parents``: the jobs its particle inputs connect to; ``number``: its uid's; ``started``: when it
    started (seconds since the epoch; None: not said); ``shape``: the shape of job.json read.
    """

    uid: str
    type: str
    title: str
    status: str
    parents: list[str]
    particle_groups: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    particle_parents: list[str] = field(default_factory=list)
    number: int = 0
    started: float | None = None
    shape: str = SHAPE_4
    #: What the document lacks that would name its outputs ('' where nothing): its particles cannot be found then.
    missing: str = ""
    #: The jobs its volume inputs connect to (a refinement's initial or reference volume).
    volume_parents: list[str] = field(default_factory=list)


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
    spec = document.get("spec")
    if isinstance(spec, dict):  # (CryoSPARC 5: type, params, inputs and outputs nested under spec)
        return _job_5(path, document, spec, parents)
    _check_kinds(path, document)
    params = {
        name: given.get("value")
        for name, given in (document.get("params_spec") or {}).items()
        if isinstance(given, dict)
    }
    return CsJob(
        document["uid"],
        str(document.get("type") or document.get("job_type") or "?"),
        str(document.get("title") or ""),
        str(document.get("status") or ""),
        parents,
        _particle_groups(path, document),
        params,
        _connected(path, _listed(document.get("input_slot_groups")), "input_slot_groups", parents),
        _number(path, document),
        _started(document),
        missing="" if "output_result_groups" in document else 'no "output_result_groups" (its outputs\' list)',
        volume_parents=_connected(path, _listed(document.get("input_slot_groups")), "input_slot_groups", [], "volume"),
    )


def _job_5(path: Path, document: dict, spec: dict, parents: list[str]) -> CsJob:
    """A CryoSPARC 5 document: ``spec``'s type, params, inputs (name: input) and outputs (name: output)."""
    params = spec.get("params")
    inputs, outputs = _named(spec.get("inputs")), _named(spec.get("outputs"))
    groups: dict[str, list[str]] = {}
    for name, output in outputs:
        if output.get("type") == "particle":
            files = _final_files(path, f"{name}", _listed(output.get("results")))
            if files:
                groups[name] = files
    return CsJob(
        document["uid"],
        str(spec.get("type") or "?"),
        str(document.get("title") or ""),
        str(document.get("status") or ""),
        parents,
        groups,
        dict(params) if isinstance(params, dict) else {},
        _connected(path, [{**group, "name": name} for name, group in inputs], "spec.inputs", parents),
        _number(path, document),
        _started(document),
        SHAPE_5,
        "" if "outputs" in spec else 'no "spec.outputs" (its outputs\' list)',
        _connected(path, [{**group, "name": name} for name, group in inputs], "spec.inputs", [], "volume"),
    )


def _listed(value: object) -> list[dict]:
    """The dicts of a list field (anything else in it, or a field that is no list: nothing)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _named(value: object) -> list[tuple[str, dict]]:
    """The (name, dict) items of a mapping field (CryoSPARC 5's inputs and outputs)."""
    return [(str(k), v) for k, v in value.items() if isinstance(v, dict)] if isinstance(value, dict) else []


def _connected(
    path: Path, groups: list[dict], field_name: str, parents: list[str], kind: str = "particle"
) -> list[str]:
    """The jobs the input groups of type ``kind`` connect to, in order; ``parents`` where the document has no inputs.

    A document without input groups at all (one written by hand, or an import job's) says nothing of which
    parent gave particles: every parent is taken, as before this was read.
    """
    if not groups:
        return list(parents)
    found: dict[str, None] = {}  # (each once, in order)
    for group in groups:
        if group.get("type") != kind:
            continue
        for connection in _listed(group.get("connections")):
            uid = connection.get("job_uid")
            if not isinstance(uid, str):
                raise InputFileError(f'{path}: {field_name} {group.get("name")}: a connection without its "job_uid"')
            found[uid] = None
    return list(found)


def _number(path: Path, document: dict) -> int:
    """The job's number: its ``uid_num``, else the digits of its uid (``J17``: 17; none: 0).

    A uid of more digits than a job number has (``J`` and 5,000 digits) is no uid: an error naming it.
    """
    number = document.get("uid_num")
    if isinstance(number, int) and not isinstance(number, bool):
        return number
    uid = str(document.get("uid"))
    digits = re.sub(r"[^0-9]", "", uid)
    if len(digits) > _MOST_DIGITS:
        raise InputFileError(
            f'{path}: "uid" {shortened(one_line(uid), 40)} is no job uid (more than {_MOST_DIGITS} digits, '
            'no "uid_num")'
        )
    return int(digits) if digits else 0


#: The most digits of a job's number read from its uid (CryoSPARC numbers jobs from 1: J1, J2 ...).
_MOST_DIGITS = 18
#: The times read (milliseconds since the epoch) lie within these bounds (years 1970 to about 5000): beyond them a
#: number is no time (400 digits, 1e400), and is passed over as a time that cannot be read.
_MOST_MS = 10**14


def _started(document: dict) -> float | None:
    """When the job started (seconds since the epoch): its first time given; None when none is given or readable.

    An ISO date (``"2025-01-01T00:00:00Z"``), or MongoDB's ``{"$date": ...}`` (ISO, or milliseconds). A number
    out of bounds (400 digits, infinity) or a date Python cannot place is passed over, as a time not given.
    """
    for key in _TIMES:
        value = document.get(key)
        if isinstance(value, dict):
            value = value.get("$date")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if -_MOST_MS <= value <= _MOST_MS:  # (False for NaN and infinities too)
                return value / 1000
            continue
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except (ValueError, OverflowError, OSError):
                continue
    return None


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
        results = [r for r in _listed(document.get("output_results")) if r.get("group_name") == group]
        files = _final_files(path, str(group), results)
        if files:
            found[str(group)] = files
    return found


def _final_files(path: Path, group: str, results: list[dict]) -> list[str]:
    """The last metafile of each result slot, in order, each once."""
    files: list[str] = []
    for result in results:
        metafiles = result.get("metafiles") or []
        if not isinstance(metafiles, list) or not all(isinstance(m, str) for m in metafiles):
            raise InputFileError(f'{path}: output {group}/{result.get("name")}: "metafiles" is not a list of paths')
        if metafiles and metafiles[-1] not in files:
            files.append(metafiles[-1])
    return files


def job_symmetry(folder: Path) -> tuple[str, str] | None:
    """The point group a job's ``job.json`` in ``folder`` names (:data:`SYMMETRY_PARAMS`) and where; None: none named.

    A document not there or not readable names none (the point group is then taken from elsewhere, said).
    """
    path = folder / JOB_DOCUMENT
    if not path.is_file():
        return None
    try:
        params = read_job_document(path).params
    except (CryodedupError, OSError):
        return None
    return next(
        ((str(params[p]).strip(), f"{path} {p}") for p in SYMMETRY_PARAMS if params.get(p) and str(params[p]).strip()),
        None,
    )
