"""``cryodedup-relion``: the "External executable" of a RELION External job (RELION 3.1, 4, 5).

RELION runs, from the project folder (``getCommandsExternalJob`` in RELION's
``src/pipeline_jobs.cpp``)::

    <fn_exe> --o External/jobNNN/ [--in_movies F] [--in_mics F] [--in_parts F] [--in_coords F]
             [--in_3dref F] [--in_mask F] [--<param1_label> <param1_value>] ... --j <threads> <other args>

through the shell, with stdout and stderr appended to the job's ``run.out`` and ``run.err``.
It then waits for ``RELION_JOB_EXIT_SUCCESS``, ``RELION_JOB_EXIT_FAILURE`` or
``RELION_JOB_EXIT_ABORTED`` in the job folder; on success it adds the nodes listed in
``RELION_OUTPUT_NODES.star`` (``data_output_nodes``) to the pipeline. RELION 3.1 reads each
node's ``_rlnPipeLineNodeName`` and numeric ``_rlnPipeLineNodeType``; RELION 4 and 5 read
``_rlnPipeLineNodeName`` and ``_rlnPipeLineNodeTypeLabel`` (``src/pipeliner.cpp``,
``getOutputNodesFromStarFile``). Each ignores the other's column, so the file carries both.
"Abort" in the GUI writes ``RELION_JOB_ABORT_NOW`` into the job folder and waits for
``RELION_JOB_EXIT_ABORTED``.

Which job runs follows from the inputs: Input coordinates (with Input micrographs naming the
micrographs) run the picker job; Input micrographs alone run the micrograph job; Input
particles alone run the particle job. Input particles with Input micrographs can mean either
the particle job (the micrographs giving the pixel size) or the micrograph job splitting the
particles by micrograph: the parameters decide (a parameter only one of the two commands
has), and without one the job is refused, saying which labels choose which.
Each parameter's label is an option of that command (``min_dist`` is ``--min-dist``);
``in_parts2``, ``in_parts3``... (``in_coords2``...) add particle (coordinate) inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

from .. import signals
from ..errors import CryodedupError, printable
from ..formats.files import read_foreign
from ..outputs import PLOT_INSTALL, AtomicOutputs
from . import job_types

__all__ = ["console_main"]

EXIT_SUCCESS = "RELION_JOB_EXIT_SUCCESS"
EXIT_FAILURE = "RELION_JOB_EXIT_FAILURE"
EXIT_ABORTED = "RELION_JOB_EXIT_ABORTED"
ABORT_NOW = "RELION_JOB_ABORT_NOW"
OUTPUT_NODES = "RELION_OUTPUT_NODES.star"

#: RELION 3.1's node types (``src/pipeline_jobs.h``: NODE_MICS 1, NODE_MIC_COORDS 2,
#: NODE_PART_DATA 3, NODE_PDF_LOGFILE 13; NODE_TOMO_OPTIMISATION 50 is from RELION 4.0's
#: development sources: only RELION 4/5 pipelines, which read the label alone, get that node).
NODE_TYPE_31 = {"micrographs": 1, "coordinates": 2, "particles": 3, "logfile": 13, "optimisation_set": 50}
#: RELION 4 and 5's node type labels (``src/pipeline_jobs.h``, ``LABEL_*_CPIPE``; RELION 5's
#: tomography jobs take an optimisation set as ``LABEL_TOMO_OPTSET_CPIPE``).
NODE_LABEL_45 = {
    "micrographs": "MicrographGroupMetadata.star.relion",
    "coordinates": "MicrographCoordsGroup.star.relion",
    "particles": "ParticleGroupMetadata.star.relion",
    "logfile": "LogFile.pdf.relion",
    "optimisation_set": "TomoOptimisationSet.star.relion",
}
#: RELION 3.1's coordinate node: ``<folder>/coords_suffix<suffix>``, naming the micrographs STAR;
#: Extract then reads ``<folder>/<micrograph's path after its job folder, no extension><suffix>``.
COORDS_SUFFIX_31 = "coords_suffix_autopick.star"

#: The External job's input fields (``--in_movies`` ...) and what cryodedup makes of them.
INPUT_FLAGS = {
    "in_movies": "movies",
    "in_mics": "mics",
    "in_parts": "parts",
    "in_coords": "coords",
    "in_3dref": "3dref",
    "in_mask": "mask",
}
EXTRA_INPUT = re.compile(r"^in_(parts|coords)(\d+)$")


class Aborted(Exception):
    """RELION asked the job to stop (``RELION_JOB_ABORT_NOW``), or a signal did."""


@dataclass
class ExternalCall:
    """RELION's command line, read."""

    outdir: str
    inputs: dict[str, list[str]] = field(default_factory=dict)  # "parts", "coords", "mics", ...
    params: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, values), in order
    threads: str | None = None


def split_words(argv: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``--key value value --flag --key2 v`` -> [(key, [values])]; a word after no key is refused."""
    groups: list[tuple[str, list[str]]] = []
    for word in argv:
        if word.startswith("--") and len(word) > 2:
            groups.append((word[2:], []))
        elif not groups:
            raise job_types.ParameterError(f"unexpected '{word}' before the first --option")
        else:
            groups[-1][1].append(word)
    return groups


def outdir_of(argv: Sequence[str]) -> str:
    """The job folder (``--o X``), found before anything else is read, so that every later error is marked there."""
    places = [k for k, word in enumerate(argv) if word == "--o"]
    if len(places) != 1 or places[0] + 1 == len(argv) or argv[places[0] + 1].startswith("--"):
        raise job_types.ParameterError("give the job folder once, as RELION does: --o External/jobNNN/")
    return argv[places[0] + 1]


def parse_call(argv: Sequence[str]) -> ExternalCall:
    """Reads RELION's command line (see the module's docstring)."""
    groups = split_words(argv)
    outdirs = [values for key, values in groups if key == "o"]
    if len(outdirs) != 1 or len(outdirs[0]) != 1:
        raise job_types.ParameterError("give the job folder once, as RELION does: --o External/jobNNN/")
    call = ExternalCall(outdir=outdirs[0][0])
    for key, values in groups:
        extra = EXTRA_INPUT.match(key)
        if key in ("o", "pipeline_control"):
            continue
        if key == "j":
            call.threads = threads_of(values)
        elif key in INPUT_FLAGS or extra:
            kind = INPUT_FLAGS[key] if extra is None else extra.group(1)
            if len(values) != 1:
                raise job_types.ParameterError(f"--{key} takes one file, not '{' '.join(values)}'")
            if not values[0].strip():
                raise job_types.ParameterError(f"--{key} is empty: give the input's file, or leave the field out")
            call.inputs.setdefault(kind, []).append(values[0])
        else:
            call.params.append((key, values))
    return call


def threads_of(values: Sequence[str]) -> str:
    """RELION's ``--j N``: one whole number; the Additional arguments RELION writes after it are ``--label value``."""
    if len(values) == 1 and values[0].isdigit() and int(values[0]) > 0:
        return values[0]
    if len(values) > 1 and values[0].isdigit():
        raise job_types.ParameterError(
            f"'{' '.join(values[1:])}' after --j {values[0]}: give Additional arguments as --label value "
            "(a parameter's label is a cryodedup option without its dashes: --min_dist 40)"
        )
    raise job_types.ParameterError(f"--j takes the number of threads, not '{' '.join(values)}'")


def job_of(call: ExternalCall) -> str:
    """Which job RELION's inputs ask for."""
    unused = [f"--in_{k}" for k in ("movies", "3dref", "mask") if k in call.inputs]
    if unused:
        raise job_types.ParameterError(f"{', '.join(unused)} is not an input of cryodedup: leave that field empty")
    if "coords" in call.inputs:
        if "parts" in call.inputs:
            raise job_types.ParameterError("give Input coordinates or Input particles, not both")
        return "coordinates"
    if "mics" in call.inputs:
        if "parts" not in call.inputs:
            return "micrographs"
        job = job_of_parameters(call)
        if job == "micrographs" and len(call.inputs["parts"]) > 1:
            raise job_types.ParameterError("the micrograph job splits one particle file: give one Input particles")
        return job
    if "parts" in call.inputs:
        return "particles"
    raise job_types.ParameterError(
        "no input: fill in Input particles, Input coordinates (with Input micrographs) or Input micrographs"
    )


def labels_only_of(job: str, other: str, labels: Sequence[str]) -> list[str]:
    """The parameter labels among ``labels`` that name an option of ``job``'s command and not of ``other``'s."""
    names = {p.name for p in job_types.command(other).params}
    found = []
    for label in labels:
        with contextlib.suppress(job_types.ParameterError):
            if job_types.option(job_types.command(job), label).name not in names:
                found.append(label)
    return found


def job_of_parameters(call: ExternalCall) -> str:
    """Input particles with Input micrographs: the job the parameters name, else a one-line refusal.

    Either job takes both inputs (the particle job the micrographs' pixel size, the micrograph
    job particles to split), so only a parameter one of them has tells what the user meant.
    """
    labels = [label for label, _ in call.params]
    particle_labels = labels_only_of("particles", "micrographs", labels)
    micrograph_labels = labels_only_of("micrographs", "particles", labels)
    if particle_labels and micrograph_labels:
        raise job_types.ParameterError(
            f"parameters of two jobs: {', '.join(particle_labels)} (particle job) and "
            f"{', '.join(micrograph_labels)} (micrograph job): give those of one"
        )
    if particle_labels or len(call.inputs["parts"]) > 1:
        return "particles"
    if micrograph_labels:
        return "micrographs"
    raise job_types.ParameterError(
        "Input particles with Input micrographs: add a parameter of the job you mean, "
        "min_dist, score, mic_psize... for the particle job (the micrographs give the pixel size), "
        "min_z, min_pearson, metadata... for the micrograph job (the particles split by micrograph)"
    )


@dataclass
class Plan:
    """What the job runs: the command's arguments, and the files it writes."""

    job: str
    args: list[str]
    outputs: list[job_types.Output]
    plot: bool
    #: Said in run.out before the run: why there will be no pictures though none were declined.
    note: str | None = None


#: run.out's line when the environment cannot draw (no ``plot`` extra) and the user did not say ``plot no``.
NO_PICTURES = (
    "No pictures and no logfile.pdf: Pillow, which draws them, is not installed in cryodedup-relion's "
    f"environment ({PLOT_INSTALL} there adds them)"
)


def plan(call: ExternalCall) -> Plan:
    """The command line's arguments for RELION's call, checked by the command's own parser."""
    job = job_of(call)
    cmd = job_types.command(job)
    inputs = call.inputs.get("coords" if job == "coordinates" else "mics" if job == "micrographs" else "parts", [])
    tokens: list[str] = []
    if job == "coordinates" and "mics" in call.inputs:
        tokens += ["--micrographs", call.inputs["mics"][0]]
    if job == "micrographs" and "parts" in call.inputs:
        tokens += ["--particles", call.inputs["parts"][0]]
    if job == "particles" and "mics" in call.inputs:
        if any(job_types.option(cmd, label).name == "micrographs" for label, _ in call.params):
            raise job_types.ParameterError(
                "micrographs given twice: as Input micrographs and as the parameter micrographs"
            )
        tokens += ["--micrographs", call.inputs["mics"][0]]
    plot = job_types.can_plot()
    note = None if plot else NO_PICTURES
    chosen = False
    for label, values in call.params:
        words = job_types.option_tokens(cmd, label, values)
        if job_types.option(cmd, label).name == "plot":
            plot, note, chosen = bool(words), None, True  # the user's choice: nothing to explain
        else:
            tokens += words
    if "--update" in tokens and not chosen:  # (a round draws no pictures: --plot is refused with --update)
        plot, note = False, "No pictures and no logfile.pdf: an --update round draws none"
    args = job_types.cli_args(job, inputs, call.outdir, tokens, plot=plot, as_json=True)
    job_types.check_arguments(cmd, args[1:])
    found = job_types.outputs(job, with_particles="parts" in call.inputs, update="--update" in args)
    return Plan(job, args, found, plot, note)


# --- the run ---------------------------------------------------------------------------------


class ExternalJob:
    """One run in a RELION job folder: exit files, abort requests, the command, the nodes."""

    def __init__(self, outdir: str) -> None:
        self.outdir = outdir
        self.folder = Path(outdir)
        self.generation: str | None = None

    def node_name(self, name: str) -> str:
        """A file of the job folder as the pipeline names it (``External/job012/particles_kept.star``)."""
        return f"{self.outdir.rstrip('/')}/{name}"

    def prepare(self) -> None:
        """The job folder made if needed and checked, an earlier run's exit files removed, job.star read.

        Anything in the way (the folder a file or a dangling link, an exit file that is a
        folder, job.star a FIFO) is a :class:`CryodedupError` before any work.
        """
        if os.path.lexists(self.folder) and not self.folder.is_dir():
            what = "a dangling link" if self.folder.is_symlink() and not self.folder.exists() else "not a folder"
            raise CryodedupError(f"the job folder {self.outdir} is {what}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CryodedupError(f"cannot make the job folder {self.outdir} ({err.strerror})") from None
        self.clear_exit_files()
        if "\n" in self.outdir or "\r" in self.outdir:
            raise CryodedupError(f"the job folder {self.outdir!r} holds a line break, which {OUTPUT_NODES} cannot")
        for name in (OUTPUT_NODES, job_types.LOGFILE):  # found before the run, not after it
            path = self.folder / name
            if os.path.lexists(path) and not (path.is_symlink() or path.is_file()):
                raise CryodedupError(f"{path} is not a file: remove it and run the job again")
        self.generation = relion_generation(self.folder)

    def clear_exit_files(self) -> None:
        """Removes the exit files of an earlier run (RELION does the same before it starts a job).

        Anything else of that name (a folder, a FIFO) is not removed, not being the job's: the
        job fails, saying so.
        """
        for name in (EXIT_SUCCESS, EXIT_FAILURE, EXIT_ABORTED):
            path = self.folder / name
            if os.path.lexists(path) and not (path.is_symlink() or path.is_file()):
                what = "a folder" if path.is_dir() else "not a file"
                raise CryodedupError(f"{path} is {what}, not RELION's exit file: remove it and run the job again")
            try:
                if os.path.lexists(path):  # (unlinking an absent file on a read-only mount is an error)
                    path.unlink()
            except OSError as err:
                raise CryodedupError(f"cannot remove the earlier run's {path} ({err.strerror})") from None

    def mark(self, name: str) -> None:
        """Writes one exit file: RELION's sign that the job ended. Raises OSError when it cannot.

        Opened without blocking and without following a link: a FIFO or a folder of that name
        is an error, never a wait.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW
        os.close(os.open(self.folder / name, flags, 0o666))

    def end(self, name: str, message: str | None) -> int:
        """Writes the exit file ``name`` and ``message`` (an error, for run.err) in one line; returns the status.

        When the exit file cannot be written, the line says why; a success that cannot be
        marked is a failure.
        """
        try:
            self.mark(name)
        except OSError as err:
            reason = f"cannot write {self.folder / name} ({err.strerror})"
            if name == EXIT_SUCCESS:
                return self.end(EXIT_FAILURE, reason)
            message = f"{message}; {reason}" if message else reason
        if message is not None:
            say_error(message)
        return 0 if name == EXIT_SUCCESS and message is None else 1

    def check_abort(self, phase: str) -> None:
        """Stops before ``phase`` when RELION asked for an abort."""
        if (self.folder / ABORT_NOW).exists():
            raise Aborted(f"before {phase}")

    def run_command(self, args: list[str], threads: str | None) -> dict:
        """Runs cryodedup's command; its messages go to run.out as they come. Returns its JSON summary.

        An abort request while it runs stops it with SIGTERM: the command removes its
        temporary files and leaves the outputs whole or absent.
        """
        env = dict(os.environ)
        if threads and threads.isdigit() and int(threads) > 0:
            env["RAYON_NUM_THREADS"] = threads
        print(printable(f"Running: cryodedup {' '.join(args)}"), flush=True)
        child = subprocess.Popen(
            [*job_types.cli_program(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        messages: list[str] = []
        assert child.stdout is not None and child.stderr is not None
        relay = threading.Thread(target=_relay, args=(child.stderr, messages), daemon=True)
        relay.start()
        out: list[str] = []
        stdout = child.stdout
        reader = threading.Thread(target=lambda: out.append(stdout.read()), daemon=True)
        reader.start()
        try:
            while child.poll() is None:
                if (self.folder / ABORT_NOW).exists():
                    child.terminate()
                    child.wait()
                    raise Aborted("while cryodedup ran; it removed its temporary files")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=0.5)
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()
            relay.join()
            reader.join()
        self.summary_text = "".join(messages)
        if child.returncode != 0:
            errors = [m.strip() for m in messages if m.startswith("Error:")]
            reason = (
                errors[-1][len("Error:") :].strip() if errors else f"cryodedup exited with status {child.returncode}"
            )
            raise CryodedupError(reason)
        text = "".join(out).strip()
        return json.loads(text.splitlines()[-1]) if text else {}

    def write_nodes(self, plan: Plan, summary: dict) -> list[str]:
        """Writes logfile.pdf and RELION_OUTPUT_NODES.star; returns the node lines, for run.out."""
        generation = self.generation
        nodes = [(o.name, o.kind) for o in plan.outputs if o.kind != "coordinates" or generation != "3.1"]
        if plan.job == "particles":
            nodes = particle_nodes(nodes, summary, self.folder)
            if generation != "3.1":  # (RELION 3.1 has no tomography optimisation sets)
                nodes += optimisation_set_nodes(summary, self.folder)
        if plan.job == "coordinates" and generation != "4/5":
            nodes += relion31_coordinate_nodes(self.folder, generation)
        pictures = pictures_of(summary)
        if plan.plot and pictures:
            nodes.append((job_types.LOGFILE, "logfile"))
        own_files = [self.folder / job_types.LOGFILE] if (job_types.LOGFILE, "logfile") in nodes else []
        with AtomicOutputs([*own_files, self.folder / OUTPUT_NODES], force=True) as tmp:
            if own_files:
                title = f"cryodedup {plan.job}: {self.outdir}"
                job_types.write_logfile_pdf(tmp[self.folder / job_types.LOGFILE], title, self.summary_text, pictures)
            star = output_nodes_star([(self.node_name(n), k) for n, k in nodes])
            # A folder's name is bytes to RELION: one that is not UTF-8 is written as it is.
            tmp[self.folder / OUTPUT_NODES].write_text(star, encoding="utf-8", errors="surrogateescape")
        return [f"{self.node_name(n)} ({NODE_LABEL_45[k]}, type {NODE_TYPE_31[k]})" for n, k in nodes]


def pictures_of(summary: dict) -> list[Path]:
    """The pictures a run drew (logfile.pdf gathers them): its ``outputs``' ``plots`` (as every job names them)."""
    drawn = summary.get("outputs", {}).get("plots", [])
    return [Path(p) for p in drawn if str(p).endswith(".png")]


def particle_nodes(planned: list[tuple[str, str]], summary: dict, folder: Path) -> list[tuple[str, str]]:
    """The particle files this run wrote, as nodes: those its summary names, not those planned.

    Two particle sets of different columns (a refinement's and a Picks job's) are written each to
    ``particles_kept_LABEL.star`` and ``particles_rejected_LABEL.star``, without the combined
    files (issue 64). A planned file is a node only where the summary names it: one left in the
    job folder by an earlier run is not this run's. An ``--update`` round's node is the running
    kept set alone (``outputs.running``), not the round's own files.
    """
    outputs = summary.get("outputs", {})
    subsets = ("running",) if "running" in outputs else ("kept", "rejected")
    named = [Path(p).name for subset in subsets for p in outputs.get(subset, [])]
    if not named:  # (a summary without outputs: the planned files that are there)
        return [(name, kind) for name, kind in planned if (folder / name).is_file()]
    return [(name, "particles") for name in named if name.endswith(".star") and (folder / name).is_file()]


def optimisation_set_nodes(summary: dict, folder: Path) -> list[tuple[str, str]]:
    """The ``optimisation_set.star`` this run wrote (its inputs were RELION 5 optimisation sets), as a node.

    RELION 5's tomography jobs (Extract, Reconstruct, Refine3D, CtfRefine, ...) take an
    optimisation set, and offer only the nodes of its type: without this node the kept set
    could not feed them.
    """
    named = [Path(p).name for p in summary.get("outputs", {}).get("optimisation_set", [])]
    return [(name, "optimisation_set") for name in named if (folder / name).is_file()]


def relion31_coordinate_nodes(folder: Path, generation: str | None) -> list[tuple[str, str]]:
    """RELION 3.1's coordinate nodes: the ``coords_suffix`` files the picker job wrote for 3.x inputs.

    The picker job writes ``kept/coords_suffix_autopick.star`` (and ``rejected/``) naming a
    micrographs STAR that lists every micrograph, when an input is a RELION 3.x job; without
    them RELION 3.1's Extract cannot take the output, which run.out says.
    """
    found = [f"{s}/{COORDS_SUFFIX_31}" for s in ("kept", "rejected") if (folder / s / COORDS_SUFFIX_31).is_file()]
    if not found and generation == "3.1":
        print(
            f"Warning: no {COORDS_SUFFIX_31} was written (see the warnings above), "
            "so RELION 3.1's Extract cannot take these coordinates",
            flush=True,
        )
    return [(name, "coordinates") for name in found]


def _relay(stream: IO[str], messages: list[str]) -> None:
    """Copies the command's messages to run.out line by line, and keeps them."""
    for line in stream:
        messages.append(line)
        sys.stdout.write(line)
        sys.stdout.flush()


def relion_generation(folder: Path) -> str | None:
    """The RELION generation ("3.1" or "4/5") from the job folder's job.star; None without one.

    RELION 3.1 writes ``_rlnJobType 99``; RELION 4 and 5 write ``_rlnJobTypeLabel relion.external``.
    A job.star that is not a regular file (a FIFO would block the read) is a :class:`CryodedupError`.
    """
    path = folder / "job.star"
    if not os.path.lexists(path):
        return None
    text = read_foreign(path, "RELION's job.star").decode("utf-8", errors="replace")
    if re.search(r"^_rlnJobTypeLabel\s", text, re.MULTILINE):
        return "4/5"
    if re.search(r"^_rlnJobType\s", text, re.MULTILINE):
        return "3.1"
    return None


def star_value(text: str) -> str:
    """A STAR value: in double quotes when it holds white space (a job folder with spaces), as RELION writes it."""
    return f'"{text}"' if any(c.isspace() for c in text) else text


def output_nodes_star(nodes: Sequence[tuple[str, str]]) -> str:
    """RELION_OUTPUT_NODES.star: each node's name with its RELION 3.1 type and its RELION 4/5 type label."""
    rows = "".join(f"{star_value(name)} {NODE_TYPE_31[kind]} {NODE_LABEL_45[kind]}\n" for name, kind in nodes)
    return (
        "\n# version 30001\n\ndata_output_nodes\n\nloop_\n"
        "_rlnPipeLineNodeName #1\n_rlnPipeLineNodeType #2\n_rlnPipeLineNodeTypeLabel #3\n" + rows + "\n"
    )


class _Stopping:
    """Whether a signal still stops the run: the first one does, later ones wait for its end."""

    armed = True


def _stop_on_signal(signum: int, frame: object) -> None:
    if _Stopping.armed:
        _Stopping.armed = False
        raise Aborted(f"by {signal.Signals(signum).name}")


def say_error(message: str) -> None:
    """One line on stderr (RELION's run.err); a message's own line breaks are shown as a backslash and n."""
    with contextlib.suppress(OSError, ValueError):
        print(printable(f"cryodedup-relion: error: {message}").replace("\n", "\\n"), file=sys.stderr, flush=True)


def describe(err: BaseException) -> str:
    """What went wrong, for run.err: a user's mistake as it is, a system error with its file, a bug as a bug."""
    if isinstance(err, CryodedupError):
        return str(err)
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror or err}"
    return f"unexpected {type(err).__name__}: {err} (a bug in cryodedup-relion: please report it)"


def execute(job: ExternalJob, argv: Sequence[str]) -> None:
    """The phases of a run, with an abort honoured before each and while the command runs."""
    job.prepare()
    job.check_abort("checking the parameters")
    call = parse_call(argv)
    the_plan = plan(call)
    if the_plan.note:
        print(the_plan.note, flush=True)
    job.check_abort("running cryodedup")
    summary = job.run_command(the_plan.args, call.threads)
    job.check_abort("registering the outputs")
    for line in job.write_nodes(the_plan, summary):
        print(f"Output node: {line}", flush=True)


def outcome(job: ExternalJob, argv: Sequence[str]) -> tuple[str, str | None]:
    """Runs the job; returns its exit file and the error for run.err (None: no error)."""
    try:
        execute(job, argv)
    except Aborted as stop:
        return aborted(stop)
    except Exception as err:  # whatever it is, RELION must get an exit file and a line
        return EXIT_FAILURE, describe(err)
    return EXIT_SUCCESS, None


def aborted(stop: Aborted) -> tuple[str, None]:
    """The ending of a stopped job, said in run.out."""
    with contextlib.suppress(OSError, ValueError):
        print(f"Aborted {stop}: no new output nodes", flush=True)
    return EXIT_ABORTED, None


def stop_if_signalled_while_starting() -> None:
    """Stops the job before it begins if a signal came while the program loaded (recorded by cryodedup.entry)."""
    early = signals.handed_over()
    if early:
        raise Aborted(f"by {signals.NAMES[early[0]]} while cryodedup-relion started")


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: an exit file always written (or run.err says why not), an error as one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        outdir = outdir_of(argv)
    except job_types.ParameterError as err:
        say_error(str(err))
        return 2
    job = ExternalJob(outdir)
    _Stopping.armed = True
    previous: dict[signal.Signals, object] = {}
    try:
        try:  # (the handlers installed inside: a signal the instant after is an Aborted caught here)
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, _stop_on_signal)
            stop_if_signalled_while_starting()
            ending = outcome(job, argv)
            _Stopping.armed = False
        except Aborted as stop:  # while starting, or in the instant between the run's end and here
            ending = aborted(stop)
        return job.end(*ending)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def console_main() -> NoReturn:
    """The ``cryodedup-relion`` console script."""
    sys.exit(main())
