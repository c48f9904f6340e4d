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
micrographs) run the picker job; Input micrographs without coordinates run the micrograph
job (with Input particles split by micrograph); Input particles alone run the particle job.
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

from ..errors import CryodedupError
from ..outputs import AtomicOutputs
from . import jobs

EXIT_SUCCESS = "RELION_JOB_EXIT_SUCCESS"
EXIT_FAILURE = "RELION_JOB_EXIT_FAILURE"
EXIT_ABORTED = "RELION_JOB_EXIT_ABORTED"
ABORT_NOW = "RELION_JOB_ABORT_NOW"
OUTPUT_NODES = "RELION_OUTPUT_NODES.star"

#: RELION 3.1's node types (``src/pipeline_jobs.h``: NODE_MICS 1, NODE_MIC_COORDS 2,
#: NODE_PART_DATA 3, NODE_PDF_LOGFILE 13).
NODE_TYPE_31 = {"micrographs": 1, "coordinates": 2, "particles": 3, "logfile": 13}
#: RELION 4 and 5's node type labels (``src/pipeline_jobs.h``, ``LABEL_*_CPIPE``).
NODE_LABEL_45 = {
    "micrographs": "MicrographGroupMetadata.star.relion",
    "coordinates": "MicrographCoordsGroup.star.relion",
    "particles": "ParticleGroupMetadata.star.relion",
    "logfile": "LogFile.pdf.relion",
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
            raise jobs.ParameterError(f"unexpected '{word}' before the first --option")
        else:
            groups[-1][1].append(word)
    return groups


def parse_call(argv: Sequence[str]) -> ExternalCall:
    """Reads RELION's command line (see the module's docstring)."""
    groups = split_words(argv)
    outdirs = [values for key, values in groups if key == "o"]
    if len(outdirs) != 1 or len(outdirs[0]) != 1:
        raise jobs.ParameterError("give the job folder once, as RELION does: --o External/jobNNN/")
    call = ExternalCall(outdir=outdirs[0][0])
    for key, values in groups:
        extra = EXTRA_INPUT.match(key)
        if key in ("o", "pipeline_control"):
            continue
        if key == "j":
            call.threads = values[0] if values else None
        elif key in INPUT_FLAGS or extra:
            kind = INPUT_FLAGS[key] if extra is None else extra.group(1)
            if len(values) != 1:
                raise jobs.ParameterError(f"--{key} takes one file, not '{' '.join(values)}'")
            call.inputs.setdefault(kind, []).append(values[0])
        else:
            call.params.append((key, values))
    return call


def job_of(call: ExternalCall) -> str:
    """Which job RELION's inputs ask for."""
    unused = [f"--in_{k}" for k in ("movies", "3dref", "mask") if k in call.inputs]
    if unused:
        raise jobs.ParameterError(f"{', '.join(unused)} is not an input of cryodedup: leave that field empty")
    if "coords" in call.inputs:
        if "parts" in call.inputs:
            raise jobs.ParameterError("give Input coordinates or Input particles, not both")
        return "coordinates"
    if "mics" in call.inputs:
        if len(call.inputs.get("parts", [])) > 1:
            raise jobs.ParameterError("the micrograph job splits one particle file: give one Input particles")
        return "micrographs"
    if "parts" in call.inputs:
        return "particles"
    raise jobs.ParameterError(
        "no input: fill in Input particles, Input coordinates (with Input micrographs) or Input micrographs"
    )


@dataclass
class Plan:
    """What the job runs: the command's arguments, and the files it writes."""

    job: str
    args: list[str]
    outputs: list[jobs.Output]
    plot: bool


def plan(call: ExternalCall) -> Plan:
    """The command line's arguments for RELION's call, checked by the command's own parser."""
    job = job_of(call)
    cmd = jobs.command(job)
    inputs = call.inputs.get("coords" if job == "coordinates" else "mics" if job == "micrographs" else "parts", [])
    tokens: list[str] = []
    if job == "coordinates" and "mics" in call.inputs:
        tokens += ["--micrographs", call.inputs["mics"][0]]
    if job == "micrographs" and "parts" in call.inputs:
        tokens += ["--particles", call.inputs["parts"][0]]
    plot = jobs.can_plot()
    for label, values in call.params:
        words = jobs.option_tokens(cmd, label, values)
        if jobs.option(cmd, label).name == "plot":
            plot = bool(words)
        else:
            tokens += words
    args = jobs.cli_args(job, inputs, call.outdir, tokens, plot=plot, as_json=True)
    jobs.check_arguments(cmd, args[1:])
    return Plan(job, args, jobs.outputs(job, with_particles="parts" in call.inputs), plot)


# --- the run ---------------------------------------------------------------------------------


class ExternalJob:
    """One run in a RELION job folder: exit files, abort requests, the command, the nodes."""

    def __init__(self, outdir: str) -> None:
        self.outdir = outdir
        self.folder = Path(outdir)

    def node_name(self, name: str) -> str:
        """A file of the job folder as the pipeline names it (``External/job012/particles_kept.star``)."""
        return f"{self.outdir.rstrip('/')}/{name}"

    def clear_exit_files(self) -> None:
        """Removes the exit files of an earlier run (RELION does the same before it starts a job)."""
        for name in (EXIT_SUCCESS, EXIT_FAILURE, EXIT_ABORTED):
            (self.folder / name).unlink(missing_ok=True)

    def mark(self, name: str) -> None:
        """Writes one exit file: RELION's sign that the job ended."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).touch()

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
        print(f"Running: cryodedup {' '.join(args)}", flush=True)
        child = subprocess.Popen(
            [*jobs.cli_program(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
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
        generation = relion_generation(self.folder)
        nodes = [(o.name, o.kind) for o in plan.outputs if o.kind != "coordinates" or generation != "3.1"]
        if plan.job == "coordinates" and generation != "4/5":
            nodes += relion31_coordinate_nodes(self.folder, generation)
        pictures = [Path(p) for p in summary.get("plots", []) if str(p).endswith(".png")]
        if plan.plot and pictures:
            nodes.append((jobs.LOGFILE, "logfile"))
        own_files = [self.folder / jobs.LOGFILE] if (jobs.LOGFILE, "logfile") in nodes else []
        with AtomicOutputs([*own_files, self.folder / OUTPUT_NODES], force=True) as tmp:
            if own_files:
                title = f"cryodedup {plan.job}: {self.outdir}"
                jobs.write_logfile_pdf(tmp[self.folder / jobs.LOGFILE], title, self.summary_text, pictures)
            tmp[self.folder / OUTPUT_NODES].write_text(output_nodes_star([(self.node_name(n), k) for n, k in nodes]))
        return [f"{self.node_name(n)} ({NODE_LABEL_45[k]}, type {NODE_TYPE_31[k]})" for n, k in nodes]


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
    """
    try:
        text = (folder / "job.star").read_text(errors="replace")
    except OSError:
        return None
    if re.search(r"^_rlnJobTypeLabel\s", text, re.MULTILINE):
        return "4/5"
    if re.search(r"^_rlnJobType\s", text, re.MULTILINE):
        return "3.1"
    return None


def output_nodes_star(nodes: Sequence[tuple[str, str]]) -> str:
    """RELION_OUTPUT_NODES.star: each node's name with its RELION 3.1 type and its RELION 4/5 type label."""
    rows = "".join(f"{name} {NODE_TYPE_31[kind]} {NODE_LABEL_45[kind]}\n" for name, kind in nodes)
    return (
        "\n# version 30001\n\ndata_output_nodes\n\nloop_\n"
        "_rlnPipeLineNodeName #1\n_rlnPipeLineNodeType #2\n_rlnPipeLineNodeTypeLabel #3\n" + rows + "\n"
    )


def _stop_on_signal(signum: int, frame: object) -> NoReturn:
    raise Aborted(f"by {signal.Signals(signum).name}")


def execute(job: ExternalJob, argv: Sequence[str]) -> None:
    """The phases of a run, with an abort honoured before each and while the command runs."""
    job.check_abort("checking the parameters")
    call = parse_call(argv)
    the_plan = plan(call)
    job.check_abort("running cryodedup")
    summary = job.run_command(the_plan.args, call.threads)
    job.check_abort("registering the outputs")
    for line in job.write_nodes(the_plan, summary):
        print(f"Output node: {line}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: exit files always written, a user's mistake as one line in run.err."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        outdir = parse_call(argv).outdir
    except jobs.ParameterError as err:
        print(f"cryodedup-relion: error: {err}", file=sys.stderr, flush=True)
        return 2
    job = ExternalJob(outdir)
    job.clear_exit_files()
    previous = {s: signal.signal(s, _stop_on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        execute(job, argv)
    except Aborted as stop:
        print(f"Aborted {stop}: no new output nodes", flush=True)
        job.mark(EXIT_ABORTED)
        return 1
    except CryodedupError as err:
        print(f"cryodedup-relion: error: {err}", file=sys.stderr, flush=True)
        job.mark(EXIT_FAILURE)
        return 1
    except BaseException:
        job.mark(EXIT_FAILURE)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    job.mark(EXIT_SUCCESS)
    return 0


def console_main() -> NoReturn:
    """The ``cryodedup-relion`` console script."""
    sys.exit(main())
