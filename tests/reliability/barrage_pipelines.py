"""The barrage's cases on the pipeline entries (issue 38): ``cryodedup-relion`` and the CCP-EM jobs.

Each case writes a small RELION-shaped project (inputs under ``in/``, checksummed) and runs
either ``cryodedup-relion`` from the project folder, as RELION's External job runs it (its
stderr is what RELION appends to ``run.err``), or ``pipeliner --run_job`` on a run.job of one
of cryodedup's CCP-EM jobs in a pipeliner project. Besides the barrage's columns it checks
what a pipeline waits on:

- no exit file: ``cryodedup-relion`` ended without ``RELION_JOB_EXIT_SUCCESS``, ``_FAILURE``
  or ``_ABORTED`` in the job folder and without a line saying why none could be written (a
  pipeliner job: no ``PIPELINER_JOB_EXIT_*`` once the pipeliner returned);
- status mismatch: the exit status and the exit file disagree (0 without ``_SUCCESS``, a
  failure with it, a signal ending other than ``_ABORTED`` or a success), a case's expected
  ending not met, or a success whose output nodes are not all there;
- unclear error: a failure without exactly one ``cryodedup-relion: error: ...`` line on
  stderr (a pipeliner job: without one ``Error: ...`` line in its ``run.err``).

Signals: SIGTERM or SIGINT sent to ``cryodedup-relion`` (or its whole process group, as a
queue's ``scancel`` does) at moments seen on its output (:data:`MOMENTS`: as it prints its
command, and at three points of cryodedup's run), never after a set time: the job must end
aborted, whatever the machine's load.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the data generator: tests/fixtures

from fixtures.synthetic import write_benchmark_file, write_mrc

RELION = "RELION External"
CCPEM = "CCP-EM job"
KINDS = (RELION, CCPEM)
COLUMNS = ("no exit file", "status mismatch")
EXITS = ("RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE", "RELION_JOB_EXIT_ABORTED")
JOB = "External/job001/"

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
OPTICS = "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n_rlnMicrographPixelSize #3\n1 og1 1.0\n\n"
ROWS = ["100 100 m1.mrc 1 0.5", "105 100 m1.mrc 1 0.7", "900 900 m1.mrc 1 0.1", "100 100 m2.mrc 1 0.2"]
MICROGRAPHS = OPTICS + "data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\nm1.mrc 1\nm2.mrc 1\n"


def star(rows: list[str] = ROWS) -> str:
    """A particle STAR of ``rows``."""
    head = "".join(f"_{label} #{k + 1}\n" for k, label in enumerate(LABELS))
    return f"{OPTICS}data_particles\nloop_\n{head}" + "".join(r + "\n" for r in rows)


@dataclass
class PipelineCase:
    """One run of a pipeline entry: ``build`` writes the project into its folder and returns the arguments.

    ``expect``: the ending a user must get ("SUCCESS", "FAILURE", "ABORTED"), None when either
    a clean failure or a success is right. ``stop``: (signal, the moment it is sent, whole
    process group) for the signal cases: a moment of :data:`MOMENTS`, seen on the job's output.
    """

    kind: str
    name: str
    build: Callable[[Path], list[str]]
    program: str = "cryodedup-relion"
    expect: str | None = None
    stop: tuple[int, str, bool] | None = None


PIPELINE_CASES: list[PipelineCase] = []


def relion_case(name: str, expect: str | None = None, **more: object) -> Callable[[Callable], Callable]:
    """Registers a ``cryodedup-relion`` case (the arguments after the program's name)."""

    def register(build: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        PIPELINE_CASES.append(PipelineCase(RELION, name, build, expect=expect, **more))  # type: ignore[arg-type]
        return build

    return register


def particles(d: Path, name: str = "p.star", content: str | bytes | None = None) -> str:
    """Writes a particle STAR (or ``content``) into the case's inputs; returns its project path."""
    path = d / "in" / name
    data = star() if content is None else content
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path.relative_to(d))


def plain(d: Path, *more: str) -> list[str]:
    """The particle job on a valid STAR, without pictures, with ``more`` words."""
    return ["--o", JOB, "--in_parts", particles(d), "--plot", "no", *more]


def job_folder(d: Path) -> Path:
    (d / JOB).mkdir(parents=True, exist_ok=True)
    return d / JOB


# --- the job folder and what is in it ---------------------------------------------------------------------------


@relion_case("--o an existing file", "FAILURE")
def _outdir_file(d: Path) -> list[str]:
    (d / "External").mkdir()
    (d / "External/job001").write_text("")
    return plain(d)


@relion_case("--o a dangling link", "FAILURE")
def _outdir_dangling(d: Path) -> list[str]:
    (d / "External").mkdir()
    (d / "External/job001").symlink_to(d / "nowhere")
    return plain(d)


@relion_case("--o a link to a folder", "SUCCESS")
def _outdir_link(d: Path) -> list[str]:
    (d / "elsewhere").mkdir()
    (d / "External").mkdir()
    (d / "External/job001").symlink_to(d / "elsewhere")
    return plain(d)


@relion_case("--o in folders that do not exist yet", "SUCCESS")
def _outdir_deep(d: Path) -> list[str]:
    return ["--o", "External/a/b/job001/", "--in_parts", particles(d), "--plot", "no"]


@relion_case("--o with spaces", "SUCCESS")
def _outdir_spaces(d: Path) -> list[str]:
    return ["--o", "External/job 001/", "--in_parts", particles(d), "--plot", "no"]


@relion_case("--o with a newline", "FAILURE")
def _outdir_newline(d: Path) -> list[str]:
    return ["--o", "External/job\n001/", "--in_parts", particles(d), "--plot", "no"]


@relion_case("--o not UTF-8", "SUCCESS")
def _outdir_bytes(d: Path) -> list[str]:
    return ["--o", os.fsdecode(b"External/job\xff001/"), "--in_parts", particles(d), "--plot", "no"]


@relion_case("--o given twice")
def _outdir_twice(d: Path) -> list[str]:
    return ["--o", JOB, "--o", "External/job002/", "--in_parts", particles(d)]


@relion_case("no --o")
def _no_outdir(d: Path) -> list[str]:
    return ["--in_parts", particles(d)]


@relion_case("a word before --o", "FAILURE")
def _stray_word(d: Path) -> list[str]:
    return ["stray", *plain(d)]


for exit_name, what in [(EXITS[0], "a folder"), (EXITS[1], "a folder"), (EXITS[2], "a FIFO"), (EXITS[1], "a FIFO")]:

    def _exit_in_the_way(d: Path, exit_name: str = exit_name, what: str = what) -> list[str]:
        path = job_folder(d) / exit_name
        path.mkdir() if what == "a folder" else os.mkfifo(path)
        return plain(d)

    relion_case(f"{exit_name} is {what}", "FAILURE")(_exit_in_the_way)


@relion_case("exit files of an earlier run (files and a link)", "SUCCESS")
def _earlier_exits(d: Path) -> list[str]:
    (job_folder(d) / EXITS[0]).write_text("")
    (d / JOB / EXITS[1]).symlink_to(d / "in")
    return plain(d)


@relion_case("RELION_JOB_ABORT_NOW before the start", "ABORTED")
def _abort_first(d: Path) -> list[str]:
    (job_folder(d) / "RELION_JOB_ABORT_NOW").write_text("")
    return plain(d)


for content, what in [("fifo", "a FIFO"), ("folder", "a folder"), (b"\x00\xff" * 500, "binary"), ("link", "a loop")]:

    def _job_star(d: Path, content: str | bytes = content) -> list[str]:
        path = job_folder(d) / "job.star"
        if content == "fifo":
            os.mkfifo(path)
        elif content == "folder":
            path.mkdir()
        elif content == "link":
            path.symlink_to(path)
        else:
            path.write_bytes(content)  # type: ignore[arg-type]
        return plain(d)

    relion_case(f"job.star is {what}", "SUCCESS" if what == "binary" else "FAILURE")(_job_star)


@relion_case("RELION_OUTPUT_NODES.star is a folder", "FAILURE")
def _nodes_folder(d: Path) -> list[str]:
    (job_folder(d) / "RELION_OUTPUT_NODES.star").mkdir()
    return plain(d)


@relion_case("particles_kept.star is a folder", "FAILURE")
def _output_folder(d: Path) -> list[str]:
    (job_folder(d) / "particles_kept.star").mkdir()
    return plain(d)


@relion_case("outputs of an earlier run", "SUCCESS")
def _earlier_outputs(d: Path) -> list[str]:
    for name in ("particles_kept.star", "particles_rejected.star", "RELION_OUTPUT_NODES.star"):
        (job_folder(d) / name).write_text("old\n")
    return plain(d)


@relion_case("a read-only job folder", "FAILURE")
def _read_only(d: Path) -> list[str]:
    job_folder(d).chmod(0o555)  # (root: a read-only mount, see read_only_prefix)
    return plain(d)


# --- inputs ----------------------------------------------------------------------------------------------------


def _input_fifo(d: Path) -> list[str]:
    os.mkfifo(d / "in" / "p.star")
    return ["--o", JOB, "--in_parts", "in/p.star", "--plot", "no"]


def _input_folder(d: Path) -> list[str]:
    (d / "in" / "p.star").mkdir()
    return ["--o", JOB, "--in_parts", "in/p.star", "--plot", "no"]


for name, build in [("Input particles a FIFO", _input_fifo), ("Input particles a folder", _input_folder)]:
    relion_case(name, "FAILURE")(build)
relion_case("Input particles missing", "FAILURE")(lambda d: ["--o", JOB, "--in_parts", "in/gone.star"])
relion_case("Input particles empty", "FAILURE")(lambda d: ["--o", JOB, "--in_parts", particles(d, content=b"")])
relion_case("Input particles binary junk", "FAILURE")(
    lambda d: ["--o", JOB, "--in_parts", particles(d, content=bytes(range(256)) * 16)]
)
relion_case("Input particles header only")(lambda d: ["--o", JOB, "--in_parts", particles(d, content=star([]))])
relion_case("Input particles with spaces in the path", "SUCCESS")(
    lambda d: ["--o", JOB, "--in_parts", particles(d, "my particles 1.star"), "--plot", "no"]
)
relion_case("Input particles with a newline in the name", "SUCCESS")(
    lambda d: ["--o", JOB, "--in_parts", particles(d, "p\n1.star"), "--plot", "no"]
)
relion_case("Input particles not UTF-8 in the name", "SUCCESS")(
    lambda d: ["--o", JOB, "--in_parts", particles(d, os.fsdecode(b"p\xe9.star")), "--plot", "no"]
)
relion_case("Input particles given two files", "FAILURE")(
    lambda d: ["--o", JOB, "--in_parts", particles(d), particles(d, "q.star")]
)
relion_case("two particle inputs (in_parts2)", "SUCCESS")(lambda d: [*plain(d), "--in_parts2", particles(d, "q.star")])


def _coords_fifo(d: Path) -> list[str]:
    os.mkfifo(d / "in" / "coords_suffix_autopick.star")
    mics = particles(d, "mics.star", MICROGRAPHS)
    return ["--o", JOB, "--in_coords", "in/coords_suffix_autopick.star", "--in_mics", mics, "--plot", "no"]


def _mics_fifo(d: Path) -> list[str]:
    os.mkfifo(d / "in" / "mics.star")
    return ["--o", JOB, "--in_mics", "in/mics.star", "--plot", "no"]


relion_case("Input coordinates a FIFO", "FAILURE")(_coords_fifo)
relion_case("Input micrographs a FIFO", "FAILURE")(_mics_fifo)
relion_case("Input particles and Input coordinates", "FAILURE")(
    lambda d: [*plain(d), "--in_coords", particles(d, "c.star")]
)
relion_case("Input 3D reference given", "FAILURE")(lambda d: [*plain(d), "--in_3dref", "ref.mrc"])

# --- parameters ------------------------------------------------------------------------------------------------

for label, value in [
    ("min_dist", "abc"),
    ("min_dist", "-1"),
    ("min_dist", "nan"),
    ("min_dist", "inf"),
    ("min_distance", "4"),
    ("remove_entirely", "maybe"),
    ("plot", "maybe"),
    ("score", "rlnNoSuchColumn"),
    ("quiet", ""),
    ("shard", "1/2"),
]:
    relion_case(f"parameter {label} = {value!r}", "FAILURE")(lambda d, kv=(label, value): plain(d, f"--{kv[0]}", kv[1]))


def _watching(d: Path, words: list[str]) -> list[str]:
    """The micrograph job on two micrographs that exist, with ``words``: --watch would run until stopped."""
    import numpy as np

    rng = np.random.default_rng(0)
    for name in ("m1.mrc", "m2.mrc"):
        write_mrc(d / name, rng.normal(size=(128, 128)), 1.0)
    return ["--o", JOB, "--in_mics", particles(d, "mics.star", MICROGRAPHS), "--plot", "no", *words]


for words in (["--watch", "30"], ["--watch", "5", "--watch_idle", "1"]):  # a job RELION waits on must end
    relion_case(f"micrograph job, {' '.join(words)}", "FAILURE")(lambda d, w=words: _watching(d, w))
relion_case("parameter with a value in two words", "FAILURE")(lambda d: plain(d, "--min_dist", "4", "5"))
# RELION writes --j N, N >= 1, then the Additional arguments: anything else is refused, not guessed at.
relion_case("--j abc (threads)", "FAILURE")(lambda d: plain(d, "--j", "abc"))
relion_case("--j 0 (threads)", "FAILURE")(lambda d: plain(d, "--j", "0"))
relion_case("words after --j 1 (Additional arguments)", "FAILURE")(lambda d: plain(d, "--j", "1", "-o", "/tmp/x"))
relion_case("Input particles an empty word", "FAILURE")(lambda d: ["--o", JOB, "--in_parts", "", "--j", "1"])
relion_case("particles and micrographs, no job parameter", "FAILURE")(
    lambda d: [*plain(d), "--in_mics", particles(d, "mics.star", MICROGRAPHS)]
)
relion_case("particles and micrographs, min_dist", "SUCCESS")(
    lambda d: [*plain(d, "--min_dist", "30"), "--in_mics", particles(d, "mics.star", MICROGRAPHS)]
)
relion_case("particles and micrographs, min_dist and min_z", "FAILURE")(
    lambda d: [*plain(d, "--min_dist", "30", "--min_z", "9"), "--in_mics", particles(d, "mics.star", MICROGRAPHS)]
)
relion_case("parameter micrographs with Input micrographs", "FAILURE")(
    lambda d: [
        *plain(d, "--micrographs", particles(d, "m2.star", MICROGRAPHS)),
        "--in_mics",
        particles(d, "mics.star", MICROGRAPHS),
    ]
)

# --- signals ---------------------------------------------------------------------------------------------------


def _job(d: Path) -> list[str]:
    write_benchmark_file(d / "in" / "big.star", 2_000)
    return ["--o", JOB, "--in_parts", "in/big.star", "--plot", "no", "--score", "none"]


#: The moments a signal case sends its signal at: each seen on the job's output (its run.out),
#: so that the case is the same on an idle and on a loaded machine. A moment of cryodedup's
#: run is one of its points that wait for a signal (``CRYODEDUP_TEST_PAUSE``, which
#: cryodedup.signals.pause_for_tests reads): "cryodedup: paused at POINT" on its stderr,
#: which cryodedup-relion copies to run.out. (Its seconds after the command line were
#: load-dependent: "SIGTERM 0.6 s into the run" failed on a loaded machine, issue 56.)
MOMENTS = {
    "as the command line is printed": "",  # cryodedup-relion's "Running: cryodedup ..."
    "as cryodedup locks the job folder": "locked",
    "with the outputs written under temporary names": "written",
    "between the outputs' renames": "renames",
}

for moment, point in MOMENTS.items():
    for signum, group in ((signal.SIGTERM, False), (signal.SIGINT, True)):
        # Stopped at any of these moments, the job is aborted: cryodedup-relion had not seen its command end.
        relion_case(
            f"{signal.Signals(signum).name} {'to the group ' if group else ''}{moment}",
            "ABORTED",
            stop=(signum, point, group),
        )(_job)


# --- running ---------------------------------------------------------------------------------------------------


def read_only_prefix(d: Path) -> list[str]:
    """Root writes into a 0o555 folder: for root such a job folder becomes a read-only bind mount."""
    folder = d / JOB
    if os.geteuid() == 0 and folder.is_dir() and not folder.stat().st_mode & 0o200 and shutil.which("unshare"):
        mount = f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' && exec \"$0\" \"$@\""
        return ["unshare", "-m", "sh", "-c", mount]
    return []


def relion_program() -> list[str]:
    """``cryodedup-relion`` under this Python (the console script's function)."""
    return [sys.executable, "-c", "from cryodedup.entry import relion; relion()"]


def send_at(run: subprocess.Popen, stop: tuple[int, str, bool], moment: threading.Event) -> None:
    """Sends the case's signal at its moment (:data:`MOMENTS`), once the job's output showed it."""
    signum, _, group = stop
    if moment.wait(60):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signum) if group else os.kill(run.pid, signum)


def moment_line(stop: tuple[int, str, bool] | None) -> bytes:
    """The start of the line of run.out that shows the signal's moment (:data:`MOMENTS`)."""
    point = stop[1] if stop else ""
    return f"cryodedup: paused at {point}".encode() if point else b"Running: "


def run_program(c: PipelineCase, d: Path, command: list[str], timeout: float, memory: int) -> dict[str, object]:
    """Runs one command from the project folder; returns its status, output, and whether it hung.

    Its address space is limited to ``memory`` bytes as it starts (prlimit: this process has threads).
    """
    start = time.monotonic()
    env = dict(os.environ)
    if c.stop and c.stop[1]:
        env["CRYODEDUP_TEST_PAUSE"] = c.stop[1]  # the job waits there for the signal
    run = subprocess.Popen(
        command, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    with contextlib.suppress(ProcessLookupError):
        resource.prlimit(run.pid, resource.RLIMIT_AS, (memory, memory))
    moment, shows = threading.Event(), moment_line(c.stop)
    out: list[bytes] = []

    def read_stdout() -> None:
        assert run.stdout is not None
        for line in run.stdout:
            out.append(line)
            moment.set() if line.startswith(shows) else None

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    if c.stop:
        threading.Thread(target=send_at, args=(run, c.stop, moment), daemon=True).start()
    assert run.stderr is not None
    try:
        err = run.stderr.read() if timeout is None else _read_with_timeout(run, timeout)
        run.wait(timeout=max(timeout - (time.monotonic() - start), 0.1))
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        err, hung = b"", True
    reader.join(5)
    return {
        "code": run.returncode,
        "moment": moment.is_set(),
        "stdout": b"".join(out).decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
        "hang": hung,
        "seconds": time.monotonic() - start,
    }


def _read_with_timeout(run: subprocess.Popen, timeout: float) -> bytes:
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(run.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise subprocess.TimeoutExpired(run.args, timeout)
    return b"".join(chunks)


def exit_files(folder: Path) -> list[str]:
    """The RELION exit files in ``folder`` that are regular files."""
    try:
        return [name for name in EXITS if (folder / name).is_file() and not (folder / name).is_symlink()]
    except OSError:
        return []


def nodes_missing(folder: Path, d: Path) -> list[str]:
    """Output nodes RELION_OUTPUT_NODES.star names that are not there."""
    nodes = folder / "RELION_OUTPUT_NODES.star"
    if not nodes.is_file():
        return ["RELION_OUTPUT_NODES.star"]
    text = nodes.read_text(encoding="utf-8", errors="surrogateescape")
    rows = [line.rsplit(maxsplit=2)[0].strip('"') for line in text.splitlines() if line.startswith(('"', "External"))]
    return [name for name in rows if not (d / name).exists()]


def judge_relion(c: PipelineCase, d: Path, outdir: str, ran: dict[str, object]) -> dict[str, object]:
    """The barrage's verdict on one ``cryodedup-relion`` run."""
    code, stderr, stdout = ran["code"], str(ran["stderr"]), str(ran["stdout"])
    lines = [line for line in stderr.splitlines() if line.strip()]
    folder = d / outdir
    found = exit_files(folder)
    said_why = any("cannot write" in line and "RELION_JOB_EXIT_" in line for line in lines)
    usage = code == 2 and not found  # no job folder given: nothing to mark
    ending = found[0].rsplit("_", 1)[1] if len(found) == 1 else None
    mismatch = []
    if len(found) > 1:
        mismatch.append(f"exit files {found}")
    if code == 0 and (ending != "SUCCESS" or lines):
        mismatch.append(f"exit 0 with {found} and {lines[-1:]}")
    if code not in (0, 2) and ending == "SUCCESS":
        mismatch.append(f"exit {code} with {found}")
    if c.expect and not ran["hang"] and ending != c.expect and not (said_why and c.expect == "FAILURE"):
        mismatch.append(f"expected {c.expect}, got {found or 'no exit file'} (exit {code})")
    if c.stop and not ran["moment"]:
        mismatch.append(f"the signal's moment never came ({moment_line(c.stop).decode()!r} not in run.out)")
    if ending == "SUCCESS" and nodes_missing(folder, d):
        mismatch.append(f"nodes missing: {nodes_missing(folder, d)}")
    clear = code == 0 or ending == "ABORTED" or (len(lines) == 1 and lines[0].startswith("cryodedup-relion: error: "))
    traceback = any(t in stderr + stdout for t in ("Traceback (most recent call last)", "panicked at"))
    return {
        "code": code,
        "traceback": traceback or (not ran["hang"] and isinstance(code, int) and (code < 0 or code > 2)),
        "hang": ran["hang"],
        "OOM": "MemoryError" in stderr + stdout,
        "no exit file": not ran["hang"] and not found and not said_why and not usage,
        "status mismatch": bool(mismatch),
        "unclear error": not clear and not traceback,
        "message": lines[-1] if lines else "",
        "details": "; ".join(mismatch) + (stderr[-600:] if traceback or not clear else ""),
    }


# --- the CCP-EM pipeliner's jobs --------------------------------------------------------------------------------

PIPELINER_EXITS = ("PIPELINER_JOB_EXIT_SUCCESS", "PIPELINER_JOB_EXIT_FAILED", "PIPELINER_JOB_EXIT_ABORTED")


def pipeliner_project(d: Path, job: str, values: dict[str, str]) -> list[str]:
    """A pipeliner project in ``d`` and the run.job of ``job`` (ParticlesJob ...) with ``values``; its arguments."""
    from cryodedup.pipelines import ccpem

    subprocess.run([pipeliner_program(), "--new_project"], cwd=d, capture_output=True, check=True)
    runjob = d / "cryodedup_run.job"
    getattr(ccpem, job)().write_runjob(str(runjob))
    lines = runjob.read_text().splitlines()
    for label, value in values.items():
        lines = [f"{label} == {value}" if line.startswith(f"{label} == ") else line for line in lines]
    runjob.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    return ["--run_job", runjob.name]


def pipeliner_program() -> str:
    return str(Path(sys.executable).parent / "pipeliner")


def ccpem_case(name: str, job: str, values: Callable[[Path], dict[str, str]], expect: str | None = None) -> None:
    """Registers a case of one of cryodedup's pipeliner jobs; ``values`` writes its inputs, returns run.job values.

    Without the pipeliner (``pip install ".[ccpem]"``) there is no such case.
    """
    if importlib.util.find_spec("pipeliner") is None:
        return
    PIPELINE_CASES.append(
        PipelineCase(CCPEM, name, lambda d: pipeliner_project(d, job, values(d)), program="pipeliner", expect=expect)
    )


PARTICLES = "Input particles:"
ccpem_case("particles, valid", "ParticlesJob", lambda d: {PARTICLES: particles(d)}, "SUCCESS")
ccpem_case("particles, a FIFO", "ParticlesJob", lambda d: (_input_fifo(d), {PARTICLES: "in/p.star"})[1], "FAILURE")
ccpem_case("particles, a folder", "ParticlesJob", lambda d: (_input_folder(d), {PARTICLES: "in/p.star"})[1])
ccpem_case("particles, binary junk", "ParticlesJob", lambda d: {PARTICLES: particles(d, content=b"\xff" * 999)})
ccpem_case("particles, spaces in the path", "ParticlesJob", lambda d: {PARTICLES: particles(d, "a b.star")}, "SUCCESS")
ccpem_case("particles, min dist -5", "ParticlesJob", lambda d: {PARTICLES: particles(d), "Min dist:": "-5"}, "FAILURE")
ccpem_case(
    "particles, project dir missing",
    "ParticlesJob",
    lambda d: {PARTICLES: particles(d), "Project dir:": "no such folder"},
)
ccpem_case(
    "particles, other args unknown",
    "ParticlesJob",
    lambda d: {PARTICLES: particles(d), "Additional arguments:": "--no-such-option"},
    "FAILURE",
)


def _outdir_in_other_args(d: Path) -> dict[str, str]:
    """A user's own particles_kept.star in in/mine, and -o in/mine in Additional arguments."""
    (d / "in" / "mine").mkdir()
    return {
        PARTICLES: particles(d),
        "Additional arguments:": "-o " + str(Path(particles(d, "mine/particles_kept.star")).parent),
    }


# The job folder is the output: -o there sent the outputs over a user's files (the pipeline's --force).
ccpem_case("particles, -o in other args", "ParticlesJob", _outdir_in_other_args, "FAILURE")
ccpem_case(
    "particles, other args with an open quote",
    "ParticlesJob",
    lambda d: {PARTICLES: particles(d), "Additional arguments:": '--score "rlnX'},
)
ccpem_case(
    "micrographs, metadata with spaces missing",
    "MicrographsJob",
    lambda d: {"Input micrographs:": particles(d, "mics.star", MICROGRAPHS), "Metadata:": "EPU session 1/x"},
    "FAILURE",
)
ccpem_case(
    "micrographs, micrographs a FIFO",
    "MicrographsJob",
    lambda d: (_mics_fifo(d), {"Input micrographs:": "in/mics.star"})[1],
    "FAILURE",
)
ccpem_case(
    "coordinates, coordinates a FIFO",
    "CoordinatesJob",
    lambda d: (_coords_fifo(d), {"Input coordinates:": "in/coords_suffix_autopick.star"})[1],
    "FAILURE",
)


def run_ccpem(c: PipelineCase, d: Path, args: list[str], timeout: float, memory: int) -> dict[str, object]:
    """``pipeliner --run_job``, then the job's exit file awaited; the verdict on the run."""
    start = time.monotonic()
    ran = run_program(c, d, [pipeliner_program(), *args], timeout, memory)
    said = str(ran["stdout"]) + str(ran["stderr"])
    name = said.split("Ran job as:", 1)[1].split()[0] if "Ran job as:" in said else None
    folder = d / name if name else None
    while folder and not any((folder / e).exists() for e in PIPELINER_EXITS) and time.monotonic() - start < timeout:
        time.sleep(0.2)
    found = [e.rsplit("_", 1)[1] for e in PIPELINER_EXITS if folder and (folder / e).exists()]
    logs = "".join(
        (folder / f).read_text(errors="replace") for f in ("run.out", "run.err") if folder and (folder / f).exists()
    )
    errors = (
        [line for line in (folder / "run.err").read_text(errors="replace").splitlines() if line.strip()]
        if folder and (folder / "run.err").exists()
        else []
    )
    ending = {"SUCCESS": "SUCCESS", "FAILED": "FAILURE", "ABORTED": "ABORTED"}.get(found[0]) if found else None
    # The pipeliner's own refusals (an input file it cannot find, invalid job options) come as a
    # traceback of its command line's; a traceback counts when it runs through cryodedup's code,
    # comes from the job's run, or ends the pipeliner otherwise.
    refused = folder is None and any(r in said for r in ("Job cannot be run because", "appear to be invalid"))
    # (cryodedup's package, installed or in the source tree: not any folder of that name, such as a
    # clone holding the venv whose pipeliner raised)
    ours = re.search(r'File "[^"]*/(?:site-packages|python)/cryodedup/', said) is not None
    traceback = ours or "Traceback (most recent call last)" in logs or "panicked at" in said + logs
    traceback = traceback or (folder is None and not refused and "Traceback (most recent call last)" in said)
    mismatch = []
    if c.expect and ending != c.expect and not (refused and c.expect == "FAILURE"):
        mismatch.append(f"expected {c.expect}, got {ending or 'no job'}")
    clear = ending in ("SUCCESS", "ABORTED") or refused or (len(errors) == 1 and errors[0].startswith("Error: "))
    return {
        "code": ran["code"],
        "traceback": traceback,
        "hang": bool(ran["hang"] or (folder and not found)),
        "OOM": "MemoryError" in said + logs,
        "no exit file": bool(folder and not found and not ran["hang"]),
        "status mismatch": bool(mismatch),
        "unclear error": not clear and not traceback,
        "message": (errors or said.strip().splitlines() or [""])[-1],
        "details": "; ".join(mismatch) + ((said + logs)[-600:] if traceback or not clear else ""),
        "folder": folder,
        "succeeded": ending == "SUCCESS",
    }


def run_pipeline_case(
    c: PipelineCase, d: Path, timeout: float, memory_gb: float, checksums: Callable, partial: Callable
):
    """Runs one case in its folder ``d``; the barrage's columns and this module's, as barrage.run_case gives them."""
    (d / "in").mkdir(parents=True)
    args = c.build(d)
    limit = int(memory_gb * 2**30)
    before = checksums(d / "in")
    start = time.monotonic()
    if c.program == "pipeliner":
        verdict = run_ccpem(c, d, args, timeout, limit)
        folder, succeeded = verdict.pop("folder"), verdict.pop("succeeded")
        left = partial(folder, bool(succeeded), set()) if folder else []
    else:
        outdir = args[args.index("--o") + 1] if args.count("--o") == 1 else JOB
        there_before = {str(p) for p in (d / outdir).rglob("*")} if (d / outdir).is_dir() else set()
        ran = run_program(c, d, [*read_only_prefix(d), *relion_program(), *args], timeout, limit)
        verdict = judge_relion(c, d, outdir, ran)
        succeeded = verdict["code"] == 0 or c.stop is not None  # a stopped run: the previous or the new set
        left = partial(d / outdir, succeeded, there_before) if (d / outdir).is_dir() else []
        (d / outdir).chmod(0o755) if (d / outdir).is_dir() and not (d / outdir).is_symlink() else None
    changed = sorted(k for k, v in before.items() if checksums(d / "in").get(k) != v)
    seconds = time.monotonic() - start
    verdict.update({"case": c, "seconds": seconds, "changed input": bool(changed), "partial output": bool(left)})
    verdict["details"] = (
        str(verdict["details"]) + (f" changed {changed}" if changed else "") + (f" left {left}" if left else "")
    )
    return verdict
