"""cryodedup's jobs as CCP-EM pipeliner plugins (``pip install "cryodedup[ccpem]"``).

The pipeliner finds jobs through the ``ccpem_pipeliner.jobs`` entry-point group; cryodedup
registers three (``pipeliner --available_jobs cryodedup`` lists them):

- ``cryodedup.particles``: duplicate particles of one or two particle sets;
- ``cryodedup.coordinates``: duplicate picks of one or two coordinate sets (pickers' merge);
- ``cryodedup.micrographs``: micrographs that image the same area, and the particles on them.

Inputs and outputs are RELION-style nodes (``ParticleGroupMetadata.star.relion``,
``MicrographCoordsGroup.star.relion``, ``MicrographGroupMetadata.star.relion``), so the
outputs feed the pipeliner's RELION jobs (Extract, Class2D ...); the ``optimisation_set.star``
a particle job writes for RELION 5 optimisation sets is a ``TomoOptimisationSet`` node, for its
tomography jobs. Every other option of the
command is a job option, made from the command line's own option (its help shown as the
pipeliner's help text), so options added to the command appear here without a change.
Each job runs the command line (``python3 -m cryodedup.cli``) with ``--plot``; the
report's pictures are the job's results in Doppio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import click
from pipeliner.display_tools import create_results_display_object
from pipeliner.job_options import (
    BooleanJobOption,
    FloatJobOption,
    InputNodeJobOption,
    IntJobOption,
    JobOption,
    JobOptionValidationResult,
    MultipleChoiceJobOption,
    MultiStringJobOption,
    StringJobOption,
)
from pipeliner.nodes import (
    NODE_MICROGRAPHCOORDSGROUP,
    NODE_MICROGRAPHGROUPMETADATA,
    NODE_PARTICLEGROUPMETADATA,
    NODE_TOMOOPTIMISATIONSET,
)
from pipeliner.pipeliner_job import PipelinerCommand, PipelinerJob
from pipeliner.results_display_objects import ResultsDisplayObject

from .._core import __version__
from ..formats.star.optimisation_set import OPTIMISATION_SET_NAME
from . import job_types

__all__ = ["CoordinatesJob", "MicrographsJob", "ParticlesJob"]

NODE_OF_KIND = {
    "particles": NODE_PARTICLEGROUPMETADATA,
    "coordinates": NODE_MICROGRAPHCOORDSGROUP,
    "micrographs": NODE_MICROGRAPHGROUPMETADATA,
}

#: Options that are input nodes here, or change what the job writes (a cluster's shard).
NOT_JOB_OPTIONS = frozenset({"plot", "micrographs", "particles", "shard", "dask", "shards"})

DOCUMENTATION = "cryodedup documentation, docs/integrations/ccpem.md"


def job_option(param: click.Option) -> JobOption:
    """The pipeliner's job option for one option of the command line, with its help."""
    label = (param.name or "").replace("_", " ").capitalize() + ":"
    flag = next(o for o in param.opts if o.startswith("--"))
    several = " Several values: one per entry (in run.job, separated by :::)." if param.multiple else ""
    help_text = f"{param.help or ''}{several} (command line: {flag})".strip()
    group = "Options"
    default = job_types.default_of(param)
    if param.multiple:  # each value one argument: a path with spaces stays whole
        return MultiStringJobOption(label=label, help_text=help_text, jobop_group=group)
    if param.is_flag:
        return BooleanJobOption(label=label, default_value=False, help_text=help_text, jobop_group=group)
    if isinstance(param.type, click.Choice):
        choices = [str(c) for c in param.type.choices]
        return MultipleChoiceJobOption(
            label=label, choices=choices, default_value=str(default), help_text=help_text, jobop_group=group
        )
    if isinstance(param.type, (click.types.FloatParamType, click.FloatRange)):
        value = None if default is None else float(default)
        return FloatJobOption(label=label, default_value=value, help_text=help_text, jobop_group=group)
    if isinstance(param.type, (click.types.IntParamType, click.IntRange)):
        value = None if default is None else int(default)
        return IntJobOption(label=label, default_value=value, help_text=help_text, jobop_group=group)
    text = "" if default is None else str(default)
    return StringJobOption(label=label, default_value=text, help_text=help_text, jobop_group=group)


def command_options(job: str) -> dict[str, click.Option]:
    """The command line's options that are this job's options, by name."""
    skip = job_types.MANAGED_OPTIONS | job_types.LOOPING_OPTIONS | NOT_JOB_OPTIONS
    params = job_types.command(job).params
    # (not -h, which shows help: an option that gives the job no value)
    return {
        p.name: p for p in params if isinstance(p, click.Option) and p.expose_value and p.name and p.name not in skip
    }


def input_option(label: str, kind: str, help_text: str, required: bool) -> InputNodeJobOption:
    """An input node of a RELION-style type."""
    return InputNodeJobOption(
        label=label,
        node_type=NODE_OF_KIND[kind],
        node_kwds=["relion"],
        default_value="",
        help_text=help_text,
        is_required=required,
    )


class CryodedupJob(PipelinerJob):
    """What the three jobs share: options from the command line, the command, outputs, results."""

    JOB = ""
    OUT_DIR = "Dedup"
    CATEGORY_LABEL = "Subset Selection"
    #: {job option: (command-line flag or "" for an input, kind, label, help, required)}
    INPUTS: ClassVar[dict[str, tuple[str, str, str, str, bool]]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.programs = []
        self.jobinfo.version = __version__
        self.jobinfo.job_author = "cryodedup"
        self.jobinfo.documentation = DOCUMENTATION
        for key, (_, kind, label, help_text, required) in self.INPUTS.items():
            self.joboptions[key] = input_option(label, kind, help_text, required)
        for name, param in command_options(self.JOB).items():
            self.joboptions[name] = job_option(param)
        self.get_runtab_options(addtl_args=True)
        command_name = job_types.COMMAND_OF_JOB[self.JOB]
        self.joboptions["other_args"].help_text = f"More options of cryodedup {command_name}, as on its command line."

    def command_args(self) -> list[str]:
        """The command line's arguments for the job's options."""
        inputs: list[str] = []
        args: list[str] = []
        for key, (flag, *_) in self.INPUTS.items():
            value = self.joboptions[key].get_string()
            if value and flag:
                args += [flag, value]
            elif value:
                inputs.append(value)
        cmd = job_types.command(self.JOB)
        for name, param in command_options(self.JOB).items():
            joboption = self.joboptions[name]
            if isinstance(joboption, BooleanJobOption):
                args += job_types.option_tokens(cmd, name, ["yes" if joboption.get_boolean() else "no"])
            elif isinstance(joboption, MultiStringJobOption):  # a repeatable option (--metadata)
                values = joboption.get_list()
                args += job_types.option_tokens(cmd, name, values) if values else []
            elif not job_types.is_default(param, joboption.get_string()):
                args += job_types.option_tokens(cmd, name, [joboption.get_string()])  # one argument, spaces and all
        plot = "--update" not in args  # (a round draws no pictures: --plot is refused with --update)
        return [*job_types.cli_args(self.JOB, inputs, self.output_dir, args, plot=plot), *self.parse_additional_args()]

    def additional_joboption_validation(self) -> list[JobOptionValidationResult]:
        """The command the job would run, checked by the command's own parser before the pipeliner runs it.

        A mistake (an unknown option or an unclosed quote in Additional arguments, a value the
        command refuses) is then the pipeliner's one-line validation error, not a failed job.
        """
        if not self.joboptions[next(iter(self.INPUTS))].get_string():
            return []  # the pipeliner says that the required input is missing
        try:
            job_types.refuse_managed(job_types.command(self.JOB), self.parse_additional_args())
            args = self.command_args()
            job_types.check_arguments(job_types.command(self.JOB), args[1:])
        except ValueError as err:  # shlex's, and job_types.ParameterError
            return [JobOptionValidationResult("error", [self.joboptions["other_args"]], str(err))]
        return []

    def get_commands(self) -> list[PipelinerCommand]:
        """One command: the command line under the pipeliner's Python."""
        return [PipelinerCommand(["python3", "-m", "cryodedup", *self.command_args()])]

    def job_outputs(self) -> list[job_types.Output]:
        """The files known before the run to be written (the micrograph job splits particles only when given some).

        Two particle inputs: none. Their combined files are written only where the inputs'
        columns agree, else each input's own (issue 64), which only the run can tell; the
        pipeliner keeps a node declared before the run whose file never comes (a warning in its
        log, a node no file backs), so those are declared after it (:meth:`create_post_run_output_nodes`).
        """
        splits = self.JOB == "micrographs" and bool(self.joboptions["input_particles"].get_string())
        update = self.JOB == "particles" and self.joboptions["update"].get_boolean()
        if self.JOB == "particles" and not update and self.joboptions["input_particles_2"].get_string():
            return []
        return job_types.outputs(self.JOB, with_particles=splits, update=update)

    def written_outputs(self) -> list[job_types.Output]:
        """The files declared before the run, and the particle files it wrote besides (each input's, each species')."""
        declared = self.job_outputs()
        if self.JOB != "particles":
            return declared
        # (the job's folder is the pipeliner's own: new, emptied to run the job again, or an --update round's)
        found = [
            job_types.Output(path.name, "particles", subset)
            for subset in ("kept", "rejected")
            for path in sorted(Path(self.output_dir).glob(f"particles_{subset}*.star"))
        ]
        return declared + [o for o in found if o.name not in {d.name for d in declared}]

    def create_output_nodes(self) -> None:
        """Kept and rejected sets as RELION-style nodes (``ParticleGroupMetadata.star.relion.cryodedup.kept``)."""
        for output in self.job_outputs():
            self.add_output_node(output.name, NODE_OF_KIND[output.kind], ["relion", "cryodedup", output.subset])

    def create_post_run_output_nodes(self) -> None:
        """The particle files written that were not declared before the run, as nodes of the same kinds.

        And the ``optimisation_set.star`` naming the kept particles, which the run writes where
        its inputs were RELION 5 optimisation sets (only the run can tell: two sets naming
        different tomograms get none), as the pipeliner's tomography jobs declare theirs: a
        ``TomoOptimisationSet`` node, the only type their optimisation-set input is offered.
        """
        declared = {output.name for output in self.job_outputs()}
        for output in self.written_outputs():
            if output.name not in declared:
                self.add_output_node(output.name, NODE_OF_KIND[output.kind], ["relion", "cryodedup", output.subset])
        if self.JOB == "particles" and (Path(self.output_dir) / OPTIMISATION_SET_NAME).is_file():
            self.add_output_node(OPTIMISATION_SET_NAME, NODE_TOMOOPTIMISATIONSET, ["relion", "cryodedup", "kept"])

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        """The report's pictures, in the report's order, each with the files it describes."""
        folder = Path(self.output_dir)
        data = [str(folder / o.name) for o in self.written_outputs()]
        pictures = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime_ns)
        return [
            create_results_display_object(
                "image",
                title=picture.stem.replace("_", " ").capitalize(),
                image_path=str(picture),
                image_desc=f"cryodedup {self.JOB}: {picture.name} (the whole report: {folder / 'report.html'})",
                associated_data=data,
            )
            for picture in pictures
        ]


class ParticlesJob(CryodedupJob):
    """cryodedup.particles: duplicate particles of one or two particle sets."""

    PROCESS_NAME = "cryodedup.particles"
    JOB = "particles"
    INPUTS: ClassVar[dict[str, tuple[str, str, str, str, bool]]] = {
        "input_particles": ("", "particles", "Input particles:", "A particle STAR file (RELION 3.0 to 5).", True),
        "input_particles_2": (
            "",
            "particles",
            "Second input particles:",
            "Optional: a second set (another picker's particles), deduplicated together with the first.",
            False,
        ),
        "input_micrographs": (
            "--micrographs",
            "micrographs",
            "Micrographs:",
            "Optional: the micrographs STAR the particles come from (its rlnMicrographPixelSize).",
            False,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "cryodedup: remove duplicate particles"
        self.jobinfo.short_desc = "Remove duplicate particles (closer than a minimum distance on one micrograph)"
        self.jobinfo.long_desc = (
            "Particles whose centres (coordinates minus origin shifts, in Å) lie within the minimum distance"
            " on the same micrograph are duplicates; of each group the best-scoring one is kept. Writes"
            " particles_kept.star and particles_rejected.star, each row a copy of its input row (two inputs whose"
            " columns differ: each input's own particles_kept_<input>.star and particles_rejected_<input>.star)."
        )


class CoordinatesJob(CryodedupJob):
    """cryodedup.coordinates: duplicate picks of one or two pickers, written as a RELION coordinate job."""

    PROCESS_NAME = "cryodedup.coordinates"
    JOB = "coordinates"
    INPUTS: ClassVar[dict[str, tuple[str, str, str, str, bool]]] = {
        "input_coordinates": (
            "",
            "coordinates",
            "Input coordinates:",
            "A picking job's coordinates (RELION autopick.star / manualpick.star, or 3.1 coords_suffix file).",
            True,
        ),
        "input_coordinates_2": (
            "",
            "coordinates",
            "Second input coordinates:",
            "Optional: a second picker's coordinates, merged with the first.",
            False,
        ),
        "input_micrographs": (
            "--micrographs",
            "micrographs",
            "Micrographs:",
            "The micrographs STAR the picks are on: their names and pixel size.",
            False,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "cryodedup: merge pickers, remove duplicate picks"
        self.jobinfo.short_desc = "Remove duplicate picks of one or two pickers (with consensus)"
        self.jobinfo.long_desc = (
            "Picks within the minimum distance on one micrograph are duplicates; the best-scoring is kept."
            " Writes a RELION coordinate job: autopick_kept.star and autopick_rejected.star, each listing"
            " one STAR per micrograph, for Extract."
        )


class MicrographsJob(CryodedupJob):
    """cryodedup.micrographs: micrographs that image one area, and the particles on them."""

    PROCESS_NAME = "cryodedup.micrographs"
    JOB = "micrographs"
    INPUTS: ClassVar[dict[str, tuple[str, str, str, str, bool]]] = {
        "input_micrographs": (
            "",
            "micrographs",
            "Input micrographs:",
            "A micrographs STAR (motion-corrected or CTF-estimated micrographs).",
            True,
        ),
        "input_particles": (
            "--particles",
            "particles",
            "Particles to split:",
            "Optional: a particle STAR split into the particles on kept and on rejected micrographs.",
            False,
        ),
    }

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "cryodedup: find duplicate micrographs"
        self.jobinfo.short_desc = "Find micrographs that image the same area twice (multi-hole re-exposures)"
        self.jobinfo.long_desc = (
            "Each pair of candidate micrographs is phase-correlated on binned, band-passed images; pairs"
            " above the thresholds are duplicates and the later acquisition of each group is rejected."
            " Writes micrographs_kept.star, micrographs_rejected.star and pairs.csv."
        )
