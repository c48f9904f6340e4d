"""Helpers the tests share: small STAR files written by hand, and the real files in ../shared/data.

Tests import these with ``from helpers import ...`` (pytest puts tests/ on ``sys.path``);
conftest.py holds only pytest hooks.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The skip reason of every real-data test; conftest.py counts the skips that carry it.
NO_SHARED_DATA = f"real-data test: {SHARED_DATA} is absent"


@contextmanager
def within(seconds: float):
    """Fails the test when the block spends more than ``seconds`` of CPU (a quadratic walk, a hang that computes).

    CPU time, not the wall's: a machine shared by other work stretches the wall, not the work done.
    """

    def stop(*_):
        raise TimeoutError(f"took more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def missing_program(reason: str, *, required_by: str = "CRYODEDUP_REQUIRE_PIPELINES") -> None:
    """Skips the test because a program it runs is absent; fails it where CI requires the program.

    CI (``.ci/run``) installs the CCP-EM pipeliner and sets ``CRYODEDUP_REQUIRE_PIPELINES=1``;
    it sets ``CRYODEDUP_REQUIRE_RELION=1`` where Debian's relion package could be installed
    (it says so when it could not). Their tests then cannot pass as skips there.
    """
    import os

    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason}, though {required_by}=1")
    pytest.skip(reason)


def shared_file(relative: str) -> Path:
    """A real file from ../shared/data.

    Parameters
    ----------
    relative : str
        The path inside ``../shared/data``, e.g. ``"star/cryodrgn__relion31.star"``.

    Returns
    -------
    Path
        The file. The test is skipped when ``../shared/data`` is absent, and fails when the
        folder is there but the file is not (a misspelt name must not pass as a skip).
    """
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_SHARED_DATA)
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(f"{path} does not exist, though {SHARED_DATA} does")
    return path


OPTICS_LABELS = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographPixelSize"]


def star_text(labels, rows, *, optics=None, optics_labels=OPTICS_LABELS, block="particles", newline="\n") -> str:
    """A RELION 3.1 particle STAR (or 3.0 without ``optics``) from rows of strings/numbers."""
    text = ""
    if optics is not None:
        text += "\n# version 30001\n\ndata_optics\n\nloop_\n"
        text += "".join(f"_{lab} #{i + 1}\n" for i, lab in enumerate(optics_labels))
        text += "".join(" ".join(str(v) for v in row) + "\n" for row in optics)
        text += "\n\n# version 30001\n"
    text += f"\ndata_{block}\n\nloop_\n"
    text += "".join(f"_{lab} #{i + 1}\n" for i, lab in enumerate(labels))
    text += "".join(" ".join(str(v) for v in row) + "\n" for row in rows)
    text += "\n"
    return text.replace("\n", newline)


def write_star(path: Path, labels, rows, **kw) -> Path:
    """Writes :func:`star_text` to ``path`` and returns the path."""
    path.write_bytes(star_text(labels, rows, **kw).encode())
    return path


# --- micrographs with planted re-exposures (shards and Dask) -------------------------------

PLANTED_COUNT, PLANTED_SHAPE = 40, (200, 280)  # binned images of 12 Å, synthesised directly
# Re-exposure number: original number. Boundaries (first number of a chunk, numbers from 1):
# N = 3: 14, 27; N = 7: 6, 12, 18, 23, 29, 35. mic_3, mic_9 and mic_16 show one area.
PLANTED_MICROGRAPHS = {6: 4, 15: 12, 9: 3, 16: 9, 28: 26, 36: 33}


def planted_original(k: int, planted: dict[int, int] = PLANTED_MICROGRAPHS) -> int:
    """The first acquisition of the area micrograph ``k`` shows."""
    while k in planted:
        k = planted[k]
    return k


def write_planted_micrographs(
    folder: Path, count: int = PLANTED_COUNT, planted: dict[int, int] = PLANTED_MICROGRAPHS
) -> list[Path]:
    """mic_1.mrc ... mic_{count}.mrc in ``folder``; each re-exposure shows its original's area shifted by 20-40 %.

    The first micrographs are the same for any ``count`` (a set that grows, for --update).
    """
    from fixtures.synthetic import exposure, specimen_field, write_mrc

    rng = np.random.default_rng(5)
    fields = {}
    ny, nx = PLANTED_SHAPE
    for k in range(1, count + 1):
        if k in planted:
            field, y0, x0 = fields[planted_original(k, planted)], int(rng.integers(40, 80)), int(rng.integers(60, 110))
        else:
            fields[k] = field = specimen_field(rng, ny + 80, nx + 110, 12.0)
            y0, x0 = 0, 0
        image = exposure(rng, field, y0, x0, ny, nx, 12.0, dose=120, defocus=rng.uniform(8000, 30000))
        write_mrc(folder / f"mic_{k}.mrc", image, 12.0)
    return [folder / f"mic_{k}.mrc" for k in range(1, count + 1)]


#: The fields of CryoSPARC's location slot, as extraction writes them.
LOCATION_FIELDS = [
    ("uid", "<u8"),
    ("location/micrograph_uid", "<u8"),
    ("location/micrograph_shape", "<u4", (2,)),
    ("location/center_x_frac", "<f8"),
    ("location/center_y_frac", "<f8"),
    ("location/micrograph_psize_A", "<f4"),
]


def located_records(mic_uid, x_a, y_a, more_fields=(), shape=(4000, 4000)):
    """CryoSPARC particles at (x, y) Å on micrographs of 1 Å pixels, with ``more_fields`` zeroed.

    uids count from 5000; ``shape`` is [ny, nx].
    """
    import numpy as np

    r = np.zeros(len(x_a), dtype=LOCATION_FIELDS + list(more_fields))
    r["uid"] = np.arange(len(x_a)) + 5000
    r["location/micrograph_uid"] = mic_uid
    r["location/micrograph_shape"] = shape
    r["location/center_x_frac"] = np.asarray(x_a, dtype=float) / shape[1]
    r["location/center_y_frac"] = np.asarray(y_a, dtype=float) / shape[0]
    r["location/micrograph_psize_A"] = 1.0
    return r


def bare_particle_set(inputs: list[str], input_of, groups, mic_names: list[str]):
    """A ParticleSet of rows with only an input and a micrograph (centres at 0, unscored)."""
    import numpy as np

    from cryodedup.particle_set import ParticleSet

    n = len(input_of)
    return ParticleSet(
        inputs=inputs,
        input_of=input_of,
        mic_names=mic_names,
        groups=groups,
        centres=np.zeros((n, 2)),
        psize=np.ones(n),
        pixel_sizes=[],
        scores=None,
        score_label=None,
        higher_is_better=True,
    )


def a_comparison(**fields):
    """A ``compare`` Comparison of a.star and b.star (3 + 4 picks on 2 micrographs, Jaccard 0.5), ``fields`` changed."""
    from dataclasses import replace

    from cryodedup.report.comparison import Comparison

    plain = Comparison(
        inputs=("a.star", "b.star"),
        radius_A=100.0,
        picks=(3, 4),
        micrographs=2,
        micrographs_shared=1,
        scored_over="all",
        micrographs_scored=2,
        picks_scored=(3, 4),
        jaccard=0.5,
        matched=2,
        unmatched=(1, 2),
        neighbour_agreement=0.5,
        registration=None,
        pixel_sizes=[],
        tomography=False,
        left_out=None,
        reference=None,
        per_micrograph=(),
        least_agreement=(),
    )
    return replace(plain, **fields)


# --- a RELION-shaped project for the pipeline jobs (RELION External, CCP-EM pipeliner) -----

#: A RELION 3.1 pipeline with no job yet: relion_pipeliner adds jobs to it.
EMPTY_RELION_PIPELINE = (
    "\n# version 30001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter                       1\n\n"
)

PIPELINE_MICROGRAPHS = 10  # mic_1 ... mic_10 of the planted set: mic_6 re-exposes mic_4, mic_9 re-exposes mic_3


def _star_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The labels and rows of the particle loop of a STAR written by synthetic.write_example."""
    text = path.read_text().split("data_particles", 1)[1]
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.startswith(("loop_", "#"))]
    labels = [w[0].lstrip("_") for w in lines if w[0].startswith("_")]
    return labels, [w for w in lines if not w[0].startswith("_")]


def write_pipeline_project(root: Path) -> dict[str, str]:
    """A RELION-shaped project in ``root``: what the pipeline jobs read, as RELION 3.1 lays it out.

    - ``Select/job020/particles.star``, ``Select/job021/particles.star``: the shipped example's
      two pickers' particles (on ``CtfFind/job003/micrographs_ctf.star``, 1.06 Å);
    - ``AutoPick/job006`` and ``AutoPick/job007``: RELION 3.1 AutoPick jobs holding the same
      picks (``coords_suffix_autopick.star`` and ``Movies/*_autopick.star``);
    - ``CtfFind/job010/micrographs_ctf.star``: 10 MRC micrographs (12 Å) with planted
      re-exposures, and ``Extract/job011/particles.star``: three particles on each.

    Returns the project-relative paths by name.
    """
    import shutil

    import cryodedup

    examples = Path(cryodedup.__file__).parent / "examples"
    paths = {
        "particles_1": "Select/job020/particles.star",
        "particles_2": "Select/job021/particles.star",
        "micrographs": "CtfFind/job003/micrographs_ctf.star",
        "coordinates_1": "AutoPick/job006/coords_suffix_autopick.star",
        "coordinates_2": "AutoPick/job007/coords_suffix_autopick.star",
        "planted_micrographs": "CtfFind/job010/micrographs_ctf.star",
        "planted_particles": "Extract/job011/particles.star",
    }
    for name, picker in (("particles_1", "log"), ("particles_2", "template")):
        (root / paths[name]).parent.mkdir(parents=True)
        shutil.copy(examples / f"particles_{picker}.star", root / paths[name])
        labels, rows = _star_rows(root / paths[name])
        job = (root / paths[name.replace("particles", "coordinates")]).parent
        job.mkdir(parents=True)
        (job / "coords_suffix_autopick.star").write_text(paths["micrographs"] + "\n")
        x, y, fom, mic = (
            labels.index(k)
            for k in ("rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnMicrographName")
        )
        for micrograph in sorted({r[mic] for r in rows}):
            picks = "".join(f"{r[x]} {r[y]} {r[fom]} 0 0.0 \n" for r in rows if r[mic] == micrograph)
            target = job / "Movies" / (Path(micrograph).stem + "_autopick.star")
            target.parent.mkdir(exist_ok=True)
            target.write_text(
                "\n# version 30001\n\ndata_\n\nloop_ \n_rlnCoordinateX #1 \n_rlnCoordinateY #2 \n"
                "_rlnAutopickFigureOfMerit #3 \n_rlnClassNumber #4 \n_rlnAnglePsi #5 \n" + picks + "\n"
            )
    (root / paths["micrographs"]).parent.mkdir(parents=True)
    shutil.copy(examples / "micrographs_ctf.star", root / paths["micrographs"])
    movies = root / "MotionCorr/job009/Movies"
    movies.mkdir(parents=True)
    for path in write_planted_micrographs(movies)[PIPELINE_MICROGRAPHS:]:
        path.unlink()
    names = [f"MotionCorr/job009/Movies/mic_{k}.mrc" for k in range(1, PIPELINE_MICROGRAPHS + 1)]
    optics = [[1, "opticsGroup1", 12.0, 12.0]]
    (root / paths["planted_micrographs"]).parent.mkdir(parents=True)
    write_star(
        root / paths["planted_micrographs"],
        ["rlnMicrographName", "rlnOpticsGroup"],
        [[n, 1] for n in names],
        optics=optics,
        block="micrographs",
    )
    (root / paths["planted_particles"]).parent.mkdir(parents=True)
    rows = [
        [100 + 50 * i, 80, n, f"{3 * k + i + 1:06d}@Extract/job011/particles.mrcs", 1]
        for k, n in enumerate(names)
        for i in range(3)
    ]
    write_star(
        root / paths["planted_particles"],
        ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnImageName", "rlnOpticsGroup"],
        rows,
        optics=optics,
    )
    return paths


def kept_rows(path: Path) -> list[str]:
    """The particle rows of a STAR written by cryodedup (rows are byte copies of input rows)."""
    text = path.read_text().split("data_particles", 1)[-1]
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("_", "loop_", "#"))]


def cli_reference(root: Path, *args: str) -> Path:
    """The command line's own run of a job from the project ``root``, into ``Reference/N``.

    What a pipeline's run of the same job must match.
    """
    import subprocess
    import sys

    out = root / "Reference" / str(len(list(root.glob("Reference/*"))))
    cryodedup = Path(sys.executable).parent / "cryodedup"
    done = subprocess.run(
        [str(cryodedup), *args, "-o", str(out), "--quiet"], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return out


def coordinate_merge_args(paths: dict[str, str]) -> list[str]:
    """The command line that merges the project's two AutoPick jobs at 40 Å (the coordinate job's reference)."""
    coordinates = [str(Path(paths[k]).parent) for k in ("coordinates_1", "coordinates_2")]
    return ["particles", *coordinates, "--micrographs", paths["micrographs"], "--min-dist", "40"]


#: The RELION 3.1 tutorial's first jobs (relion31_tutorial.pdf), as ``relion_pipeliner --addJob`` takes them.
#: Class2D/job008's Additional arguments hold a quoted path: RELION 3.1 writes the value in quotes with
#: the inner quote marked by a BEL (its own escape), which STAR readers (gemmi) end at that quote.
RELION31_TUTORIAL_JOBS = [
    ("CtfFind", "input_star_mics == MotionCorr/job002/corrected_micrographs.star;use_ctffind4 == Yes;box == 512;"),
    ("ManualPick", "fn_in == CtfFind/job003/micrographs_ctf.star;diameter == 200;micscale == 0.25;"),
    ("Select", "fn_mic == CtfFind/job003/micrographs_ctf.star;"),
    ("AutoPick", "fn_input_autopick == Select/job005/micrographs_selected.star;do_log == Yes;log_diam_min == 150;"),
    (
        "Extract",
        "star_mics == CtfFind/job003/micrographs_ctf.star;"
        "coords_suffix == AutoPick/job006/coords_suffix_autopick.star;",
    ),
    (
        "Class2D",
        "fn_img == Extract/job007/particles.star;nr_classes == 50;particle_diameter == 200;nr_mpi == 5;"
        "nr_threads == 6;use_gpu == Yes;gpu_ids == 0:1:2:3;"
        'other_args == --scratch_dir "/ssd/my scratch" --preread_images;',
    ),
]


def write_relion31_tutorial_project(root: Path, relion_pipeliner: str, jobs: int = 8) -> dict[str, str]:
    """A RELION 3.1 project shaped as the public tutorial's, made by RELION 3.1's own ``relion_pipeliner``.

    Import/job001 and MotionCorr/job002 (RELION's own motion correction) run on three small
    movies; CtfFind/job003 to Class2D/job008 are added as RELION adds them (their job.star
    written by RELION), with the shipped example's micrographs and particles standing in for
    the outputs of CtfFind/job003 and Extract/job007 (ctffind is not part of RELION).
    ``jobs``: how many of these jobs (1: Import alone). Returns the project-relative paths by name.
    """
    import shutil
    import subprocess

    import mrcfile

    import cryodedup

    (root / "Movies").mkdir()
    for k in range(1, 4):
        with mrcfile.new(root / "Movies" / f"20170629_0000{k}_frameImage.mrc") as movie:
            movie.set_data(np.random.default_rng(k).normal(size=(3, 64, 64)).astype(np.float32))
            movie.voxel_size = 0.885
    (root / "default_pipeline.star").write_text(EMPTY_RELION_PIPELINE)
    run = [
        ("Import", "fn_in_raw == Movies/*.mrc;is_multiframe == Yes;angpix == 0.885;kV == 200;Cs == 1.4;Q0 == 0.1;"),
        ("MotionCorr", "input_star_mics == Import/job001/movies.star;do_own_motioncor == Yes;dose_per_frame == 1.277;"),
    ]
    for k, (job, options) in enumerate([*run, *RELION31_TUTORIAL_JOBS][:jobs], start=1):
        commands = [["--addJob", job, "--addJobOptions", options]]
        commands += [["--RunJobs", f"{job}/job{k:03d}/", "--sec_wait_after", "1"]] if k <= len(run) else []
        for args in commands:
            done = subprocess.run([relion_pipeliner, *args], cwd=root, capture_output=True, text=True, check=False)
            assert done.returncode == 0 and f"{job}/job{k:03d}/" in (root / "default_pipeline.star").read_text(), (
                done.stdout + done.stderr
            )
    examples = Path(cryodedup.__file__).parent / "examples"
    paths = {"micrographs": "CtfFind/job003/micrographs_ctf.star", "particles": "Extract/job007/particles.star"}
    for name, example in (("micrographs", "micrographs_ctf.star"), ("particles", "particles_log.star")):
        (root / paths[name]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(examples / example, root / paths[name])
    return {**paths, "class2d_job_star": "Class2D/job008/job.star"}


def overview_of(document: dict):
    """The report's :class:`~cryodedup.report.sections.run.Overview` of an API's ``--json`` document.

    For tests that hold the document alone (``--json``'s; the API's summary has its own
    ``overview()``): its top-level keys as the job's summary gives them, and the readers' keys typed.
    """
    from cryodedup.report.sections.readers import ReadersFound
    from cryodedup.report.sections.run import Overview

    return Overview(
        document["particles"],
        document["kept"],
        document["rejected"],
        document["micrographs"],
        document["tomography"],
        document.get("min_dist_A"),
        document.get("min_dist_z_A"),
        document.get("mode"),
        document.get("orientations"),
        document.get("seconds") or 0.0,
        document.get("micrograph_images"),
        ReadersFound.of(document),
    )


def one_error_line(stderr: str) -> str:
    """The one line of a refused run (warnings aside); fails on a traceback or several lines."""
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def run_briefly(*args, cwd=None, timeout=60, quiet=True):
    """The CLI in a subprocess, which must end within ``timeout`` s: (status, stderr); a hang fails the test."""
    try:
        run = subprocess.run(
            [sys.executable, "-m", "cryodedup.cli", *map(str, args), *(["-q"] if quiet else [])],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"cryodedup {' '.join(map(str, args))} still running after {timeout} s (it waits on a FIFO)")
    return run.returncode, run.stderr


def read_request(options):
    """What the particle job asks its readers under ``options``: its plan's request (``jobs/particles/plan.py``)."""
    from cryodedup.jobs.particles.plan import plan

    return plan(options).read.request


def decided(particles, options, log=None, held=None):
    """The particle job's decision of ``particles`` under ``options``, the plan resolved for them as the job does."""
    from cryodedup.jobs.particles.decide import decide
    from cryodedup.jobs.particles.plan import plan

    rule = plan(options).for_rows(particles, held).deciding
    return decide(particles, rule) if log is None else decide(particles, rule, log)


def package_with(folder: Path, *edits: tuple[str, str, str], new: dict[str, str] | None = None) -> Path:
    """A copy of the package in ``folder`` with a contributor's ``edits`` made, as the developer guide says.

    Each edit: (a file of the package, the text there, the text it becomes); ``new``: files added, by path.
    The compiled extension is linked, not copied. Put ``folder`` first on ``PYTHONPATH`` to run it.
    """
    import importlib.util
    import shutil

    package = Path(__file__).resolve().parents[1] / "python" / "cryodedup"
    copy = folder / "cryodedup"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "_core*.so"))
    # The compiled core wherever this run imports it from: the source tree's (an editable install) or an
    # installed wheel's (CI's wheel stage, where python/cryodedup holds no extension).
    core = Path(importlib.util.find_spec("cryodedup._core").origin)
    (copy / core.name).symlink_to(core)
    for where, before, after in edits:
        text = (copy / where).read_text(encoding="utf-8")
        assert text.count(before) == 1, f"{where} no longer holds the place the guide's toy is added at: {before!r}"
        (copy / where).write_text(text.replace(before, after), encoding="utf-8")
    for where, text in (new or {}).items():
        (copy / where).write_text(text, encoding="utf-8")
    return copy


def project_checks_on(copy: Path, *tests: str) -> subprocess.CompletedProcess:
    """The project's ``tests`` (paths from the repository's root) run on the package ``copy`` (:func:`package_with`)."""
    import os

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=600)


def functions_taking(package: Path, *annotations: str) -> set[str]:
    """Each function outside ``options/`` with a parameter annotated as one of ``annotations``, as ``path name``.

    Read from the syntax tree (annotations, not text): a comment or a docstring naming the type is not counted.
    """
    import ast

    found = set()
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where.startswith("options/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if any(a.annotation is not None and _names_any(a.annotation, annotations) for a in arguments):
                    found.add(f"{where} {node.name}")
    return found


def _names_any(annotation, names) -> bool:
    import ast

    text = ast.unparse(annotation)
    return any(name in text for name in names)


class CommandPickle:
    """A pickle that calls ``os.system(command)`` when loaded: what a malicious ``ind.pkl`` would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))
