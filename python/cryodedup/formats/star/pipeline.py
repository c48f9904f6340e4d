"""RELION's ``default_pipeline.star``: a project's jobs, their output nodes and the edges between them.

Two layouts (both read, the same :class:`Pipeline` given back):

- RELION 3.1 numbers each process's type and each node's type (``_rlnPipeLineProcessType``,
  ``_rlnPipeLineNodeType``; RELION's ``pipeline_jobs.h``: process 5 is Extract, node 3 a
  particle STAR);
- RELION 4 and 5 name them (``_rlnPipeLineProcessTypeLabel`` ``relion.joinstar.particles``,
  ``_rlnPipeLineNodeTypeLabel`` ``ParticleGroupMetadata.star.relion.refine3d``).

The blocks are ``data_pipeline_processes`` (name, alias, type, status), ``data_pipeline_nodes``
(name, type), ``data_pipeline_input_edges`` (node -> process that reads it) and
``data_pipeline_output_edges`` (process -> node it wrote). A job's folder name
(``Refine3D/job029/``) says its kind in both layouts.

A job's ``job.star`` (``data_joboptions_values``: variable, value; RELION 3.1 to 5) is read by
:func:`job_options`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CryodedupError, InputFileError, one_line, shortened
from ..files import SMALL_FILE_CAP, check_regular_file, read_foreign
from .file import StarFile, Table, split_fields, star_lines, unquote

__all__ = [
    "PIPELINE_FILE",
    "Pipeline",
    "carries_a_map",
    "carries_particles",
    "job_options",
    "job_options_of",
    "read_pipeline",
]

PIPELINE_FILE = "default_pipeline.star"

#: RELION 3.1's process types (``pipeline_jobs.h``'s PROC_*), as RELION 4's labels name them.
_PROCESS_TYPES_31: dict[int | None, str] = {  # (None: no number, known to none)
    0: "relion.import",
    1: "relion.motioncorr",
    2: "relion.ctffind",
    3: "relion.manualpick",
    4: "relion.autopick",
    5: "relion.extract",
    6: "relion.sort",
    7: "relion.select",
    8: "relion.class2d",
    9: "relion.class3d",
    10: "relion.refine3d",
    11: "relion.polish",
    12: "relion.maskcreate",
    13: "relion.joinstar",
    14: "relion.subtract",
    15: "relion.postprocess",
    16: "relion.localres",
    18: "relion.initialmodel",
    19: "relion.multibody",
    20: "relion.motionrefine",
    21: "relion.ctfrefine",
    99: "relion.external",
}

#: RELION 3.1's status numbers (0 running, 1 scheduled, 2 finished, 3 failed, 4 aborted).
_STATUS_31: dict[int | None, str] = {0: "Running", 1: "Scheduled", 2: "Succeeded", 3: "Failed", 4: "Aborted"}

#: RELION 3.1's node type of a particle STAR (``NODE_PART_DATA``).
_PARTICLES_31 = 3

#: The start of RELION 4/5's node type label of a particle STAR (and of RELION 4.0 betas').
_PARTICLE_LABELS = ("ParticleGroupMetadata", "ParticlesData")

#: The nodes a job reads particles through besides particle STARs: RELION 3.1's model (8) and optimiser (9) STARs
#: of a classification or refinement (a Select reads the model of the iteration it selects from, as
#: ``pipeline_jobs.cpp`` says: "output node model.star to make selections"; MultiBody and Subtract read a refinement's
#: optimiser), RELION 4/5's optimiser (``OptimiserData.star.relion``, 4.0 betas' ``ProcessData.star.relion.optimiser``)
#: and optimisation set (``TomoOptimisationSet.star.relion``, which names its particles). Never a map, mask, half-map,
#: post-processing or Polish parameters: what a refinement takes as its reference is no particle of it.
_CARRIERS_31 = (_PARTICLES_31, 8, 9)
_CARRIER_LABELS = (*_PARTICLE_LABELS, "OptimiserData", "ProcessData.star.relion.optimiser", "TomoOptimisationSet")


@dataclass
class Process:
    """One job of the pipeline: ``name`` as RELION writes it (``Refine3D/job029/``), its kind and status."""

    name: str
    alias: str | None
    type_label: str
    status: str
    #: Its output nodes, as the output edges list them (project-relative paths).
    outputs: list[str] = field(default_factory=list)
    #: The nodes it read, as the input edges list them.
    inputs: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The job's kind as its folder names it (``Refine3D``)."""
        return self.name.split("/", 1)[0]


@dataclass
class Pipeline:
    """A project's ``default_pipeline.star``: its processes in order, its nodes' types, the layout read."""

    path: Path
    layout: str
    processes: dict[str, Process]
    node_types: dict[str, str]
    #: The particle STAR nodes (by the node's type), in the file's order.
    particle_nodes: list[str]
    #: Edges naming a node or process the other blocks do not list: one line each.
    problems: list[str] = field(default_factory=list)
    #: Rows left out, by the job whose folder they name (``Select/job003``): a file name RELION wrote that the
    #: STAR syntax cannot hold (a control character, a space, both quote kinds); one line each.
    damaged_rows: dict[str, list[str]] = field(default_factory=dict)

    def writer_of(self, node: str) -> str | None:
        """The process whose output the node is, if the pipeline says."""
        return next((p.name for p in self.processes.values() if node in p.outputs), None)


def _table(star: StarFile | _LenientPipeline, block_name: str) -> Table | None:
    """The loop of ``data_<block_name>`` as text (None: no such loop); its nodes are files: a name as written opens."""
    if isinstance(star, _LenientPipeline):
        lenient = star.block(block_name)
        return None if lenient is None else star.table(lenient)
    block = star.block(block_name)
    return None if block is None else star.table(block, errors="surrogateescape")


def _column(star: StarFile | _LenientPipeline, block_name: str, label: str, required: bool = True) -> list[str] | None:
    """One column of one of the pipeline's loops as text (an absent block: an empty column)."""
    table = _table(star, block_name)
    if table is None:
        return [] if required else None
    if label not in table.labels:
        if not required:
            return None
        raise InputFileError(f"{star.path}: data_{block_name} has no _{label} column")
    return table.column(label)


def read_pipeline(path: Path) -> Pipeline:
    """Reads a ``default_pipeline.star`` of RELION 3.1, 4 or 5.

    A row that the STAR syntax cannot hold (RELION writes a node's file name as it is: one with a control character,
    a space, or both quote kinds) is left out and named by the job whose folder it names
    (:attr:`Pipeline.damaged_rows`), the rest read; the file is refused only where such a row names no job.

    Raises :class:`InputFileError` naming the file and what is missing when it is not one.
    """
    checked = check_regular_file(path, "RELION's default_pipeline.star", SMALL_FILE_CAP)
    try:
        return _read_pipeline(StarFile(checked), path)
    except InputFileError as err:
        if not any(said in str(err) for said in _ROW_DAMAGE):
            raise
        lenient = _LenientPipeline(path, read_foreign(path, "RELION's default_pipeline.star"))
        if not lenient.damaged or any(job is None for job, _ in lenient.damaged):
            raise
        pipeline = _read_pipeline(lenient, path)
        for job, line in lenient.damaged:
            pipeline.damaged_rows.setdefault(job or "", []).append(line)
        return pipeline


def _read_pipeline(star: StarFile | _LenientPipeline, path: Path) -> Pipeline:
    """:func:`read_pipeline` of the file's loops (``star``)."""
    if star.block("pipeline_processes") is None:
        raise InputFileError(f"{path}: no data_pipeline_processes loop; is this RELION's default_pipeline.star?")
    names = _column(star, "pipeline_processes", "rlnPipeLineProcessName") or []
    aliases = _column(star, "pipeline_processes", "rlnPipeLineProcessAlias") or []
    labels = _column(star, "pipeline_processes", "rlnPipeLineProcessTypeLabel", required=False)
    problems: list[str] = []
    if labels is not None:
        layout = "RELION 4/5"
        types = labels
        statuses = _column(star, "pipeline_processes", "rlnPipeLineProcessStatusLabel", required=False) or []
    else:
        layout = "RELION 3.1"
        codes = _column(star, "pipeline_processes", "rlnPipeLineProcessType") or []
        types = [_PROCESS_TYPES_31.get(_whole_number(c), f"type {shortened(one_line(c), 20)}") for c in codes]
        numbers = _column(star, "pipeline_processes", "rlnPipeLineProcessStatus", required=False) or []
        statuses = [_STATUS_31.get(_whole_number(s), shortened(one_line(s), 20)) for s in numbers]
        problems += _not_numbers(path, names, codes, "rlnPipeLineProcessType", "process")
        problems += _not_numbers(path, names, numbers, "rlnPipeLineProcessStatus", "process")
    processes = {
        name: Process(
            name,
            None if alias in ("None", "") else alias,
            kind,
            statuses[k] if k < len(statuses) else "",
        )
        for k, (name, alias, kind) in enumerate(zip(names, aliases, types))
    }
    node_types = _node_types(star, path, layout)
    if layout == "RELION 3.1":
        problems += _not_numbers(path, list(node_types), list(node_types.values()), "rlnPipeLineNodeType", "node")
    particle_nodes = [n for n, t in node_types.items() if _is_particles(t)]
    pipeline = Pipeline(path, layout, processes, node_types, particle_nodes, problems)
    _read_edges(star, pipeline)
    return pipeline


#: What the STAR reader says of a file whose rows RELION wrote with names the syntax cannot hold.
_ROW_DAMAGE = ("binary content", "fields, expected")
#: A job's folder named in a row (``Select/job003``).
_JOB_FOLDER = re.compile(r"(?<![\w/])([A-Za-z][A-Za-z0-9]*/job[0-9]+)(?=/)")


def _control(line: str) -> str | None:
    """The first control character of ``line`` the STAR reader takes for binary content (its code), None: none."""
    found = next((c for c in line if c < "\t" or "\x0e" <= c < " " or c == "\x7f"), None)
    return None if found is None else f"0x{ord(found):02x}"


@dataclass
class _LenientBlock:
    """One loop of a pipeline read by :class:`_LenientPipeline`: its labels and the rows kept."""

    name: str
    labels: list[str]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class _LenientPipeline:
    """A ``default_pipeline.star`` read line by line, the rows the STAR syntax cannot hold left out and listed.

    Read only where the STAR reader refused the file for such a row (:func:`read_pipeline`); ``damaged``: each row
    left out, (the job whose folder it names, None: none; the line saying why).
    """

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.loops: dict[str, _LenientBlock] = {}
        self.damaged: list[tuple[str | None, str]] = []
        block: _LenientBlock | None = None
        name, in_loop = "", False
        for number, line in enumerate(star_lines(data.decode("utf-8", errors="surrogateescape")), 1):
            word = line.strip(" \t")
            if not word or word[0] in "#;":
                continue
            if word.startswith("data_"):
                name, in_loop, block = word.split()[0][5:], False, None
            elif word.startswith("loop_"):
                in_loop, block = True, None
            elif in_loop and word.startswith("_") and (block is None or not block.rows):
                if block is None:  # (a block's first loop is its table, as the STAR reader's: a later one is not)
                    block = _LenientBlock(name, [])
                    self.loops.setdefault(name, block)
                block.labels.append(word.split()[0][1:])
            elif in_loop and block is not None:
                self._row(block, number, line)

    def _row(self, block: _LenientBlock, number: int, line: str) -> None:
        fields = [f for _, _, f in split_fields(line)]
        control = _control(line)
        if control is None and len(fields) == len(block.labels):
            block.rows.append(fields)
            block.lines.append(line)
            return
        why = (
            f"a file name holding a control character ({control})"
            if control is not None
            else f"{len(fields)} fields, expected {len(block.labels)} (a file name holding a space or both quote kinds)"
        )
        found = _JOB_FOLDER.search(line)
        self.damaged.append(
            (found and found.group(1), f"{self.path}: line {number} (data_{block.name}): {why}; left out")
        )

    def block(self, name: str) -> _LenientBlock | None:
        """The loop of the block ``data_<name>``, or None."""
        return self.loops.get(name)

    def table(self, block: _LenientBlock, errors: str = "surrogateescape") -> Table:
        """The loop's rows kept, as :meth:`.file.StarFile.table` gives them."""
        return Table(list(block.labels), block.rows, block.lines)


def _whole_number(text: str) -> int | None:
    """A RELION 3.1 type or status: a few ASCII digits; None when ``text`` is none (``²``, 5,000 digits)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MOST_DIGITS else None


#: The most digits a RELION 3.1 type or status is read with (its largest, 99, has two).
_MOST_DIGITS = 9


def _not_numbers(path: Path, names: list[str], values: list[str], label: str, what: str) -> list[str]:
    """A line for each value of a RELION 3.1 column of whole numbers that is none: its process or node named."""
    return [
        f"{path}: {what} {shortened(one_line(name))}: _{label} is {shortened(one_line(value), 40)}, "
        "expected a whole number (RELION 3.1); read as no type known"
        for name, value in zip(names, values)
        if _whole_number(value) is None
    ]


def _node_types(star: StarFile | _LenientPipeline, path: Path, layout: str) -> dict[str, str]:
    nodes = _column(star, "pipeline_nodes", "rlnPipeLineNodeName") or []
    if layout == "RELION 3.1":
        types = _column(star, "pipeline_nodes", "rlnPipeLineNodeType") or []
    else:
        types = _column(star, "pipeline_nodes", "rlnPipeLineNodeTypeLabel") or []
    return dict(zip(nodes, types))


def _is_particles(node_type: str) -> bool:
    if node_type.isdigit():  # (any digits, ``²`` too: a number of RELION 3.1's, or none)
        return _whole_number(node_type) == _PARTICLES_31
    return node_type.startswith(_PARTICLE_LABELS)


def carries_particles(node: str, node_type: str | None) -> bool:
    """Whether a job that reads ``node`` (of ``node_type``, None: a node the pipeline does not list) reads particles.

    A particle STAR, or a classification's or refinement's model or optimiser STAR (what a Select or MultiBody
    reads its particles through). A node of no listed type: a STAR (``.star``), as only STARs carry particles.
    """
    if node_type is None or not node_type.strip():
        return node.endswith(".star")
    if node_type.isdigit():
        return _whole_number(node_type) in _CARRIERS_31
    return node_type.startswith(_CARRIER_LABELS)


#: The nodes a job reads a map through (a refinement's reference, a PostProcess's half-maps): RELION 3.1's 3-D
#: reference (6), half-map (10) and final map (11); RELION 4/5's ``DensityMap`` labels. Never a mask (7, ``Mask3D``).
_MAPS_31 = (6, 10, 11)
_MAP_LABELS = ("DensityMap",)


def carries_a_map(node_type: str | None) -> bool:
    """Whether a node of ``node_type`` (None: a node the pipeline does not list) is a map: a reference, a half-map."""
    if node_type is None or not node_type.strip():
        return False
    if node_type.isdigit():
        return _whole_number(node_type) in _MAPS_31
    return node_type.startswith(_MAP_LABELS)


def _read_edges(star: StarFile | _LenientPipeline, pipeline: Pipeline) -> None:
    """The input and output edges into each process's ``inputs`` and ``outputs``; unknown names noted."""
    into = zip(
        _column(star, "pipeline_input_edges", "rlnPipeLineEdgeFromNode") or [],
        _column(star, "pipeline_input_edges", "rlnPipeLineEdgeProcess") or [],
    )
    out_of = zip(
        _column(star, "pipeline_output_edges", "rlnPipeLineEdgeProcess") or [],
        _column(star, "pipeline_output_edges", "rlnPipeLineEdgeToNode") or [],
    )
    for node, process in into:
        if process not in pipeline.processes:
            pipeline.problems.append(f"{pipeline.path}: an input edge names process {process}, not in the pipeline")
            continue
        pipeline.processes[process].inputs.append(node)
    for process, node in out_of:
        if process not in pipeline.processes:
            pipeline.problems.append(f"{pipeline.path}: an output edge names process {process}, not in the pipeline")
            continue
        pipeline.processes[process].outputs.append(node)


def job_options(folder: Path) -> dict[str, str]:
    """The options a RELION job recorded in its folder's ``job.star`` (variable: value); {} without one.

    Read line by line, each row's first word the variable and the rest its value: RELION 3.1
    writes a value holding a quote (Additional arguments) in quotes with the inner one marked by
    a BEL, which a STAR reader takes for more fields. A ``job.star`` that cannot be read (no
    regular file, or too large to be one) gives {} too: the options are a help (the particle
    diameter), not what the audit checks (which names such a file: ``jobs/audit/project.py``).
    """
    try:
        data = read_foreign(folder / "job.star", "RELION's job.star")
    except CryodedupError:
        return {}
    return job_options_of(data)


def job_options_of(data: bytes) -> dict[str, str]:
    """The options (variable: value) of a ``job.star``'s bytes, as :func:`job_options` reads them."""
    text = data.decode("utf-8", errors="replace")
    values: dict[str, str] = {}
    block = ""
    for line in star_lines(text):
        words = [w for w in re.split(r"[ \t]+", line.strip(" \t"), maxsplit=1) if w]  # (as RELION: spaces, tabs)
        if not words or words[0].startswith(("#", "_", "loop_")):
            continue
        if words[0].startswith("data_"):
            block = words[0]
        elif block == "data_joboptions_values" and len(words) == 2:
            values[words[0]] = unquote(words[1].strip())
    return values
