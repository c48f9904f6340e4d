"""cryodedup's jobs as CCP-EM pipeliner plugins, run by the pipeliner itself in a project."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cryodedup.pipelines import job_types
from helpers import (
    cli_reference,
    coordinate_merge_args,
    kept_rows,
    missing_program,
    write_pipeline_project,
    write_relion31_tutorial_project,
)

try:
    from cryodedup.pipelines import ccpem
except ImportError:  # the pipeliner is not installed
    ccpem = None  # type: ignore[assignment]


@pytest.fixture(autouse=True, scope="module")
def _pipeliner_installed():
    if ccpem is None:
        missing_program("ccpem-pipeliner is not installed (pip install 'cryodedup[ccpem]')")


BIN = Path(sys.executable).parent
JOB_CLASSES = ["ParticlesJob", "CoordinatesJob", "MicrographsJob"]


def pipeliner(root: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "pipeliner"), *args], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_available_jobs_lists_the_three(tmp_path):
    listed = pipeliner(tmp_path, "--available_jobs", "cryodedup")
    assert {"cryodedup.particles", "cryodedup.coordinates", "cryodedup.micrographs"} <= set(listed.split())


@pytest.mark.parametrize("job_class", JOB_CLASSES)
def test_every_option_is_documented_and_inputs_are_relion_nodes(job_class):
    job = getattr(ccpem, job_class)()
    for name, option in job.joboptions.items():
        if option.jobop_group != "Queue submission options":  # the pipeliner's own
            assert option.label.strip() and option.help_text.strip(), name
    kinds = {key: job.joboptions[key].node_type for key in job.INPUTS}
    assert set(kinds.values()) <= {"ParticleGroupMetadata", "MicrographCoordsGroup", "MicrographGroupMetadata"}
    # Every option of the command line that the job does not set itself is offered, with its help.
    assert "min_dist" in job.joboptions or "min_z" in job.joboptions


@pytest.mark.parametrize("job_class", JOB_CLASSES)
def test_options_left_at_their_defaults_are_not_written(job_class):
    # Options without a default (--metadata, repeatable) and flags left off add no word.
    job = getattr(ccpem, job_class)()
    job.output_dir = "Dedup/job001/"
    first_input = next(iter(job.INPUTS))
    job.joboptions[first_input].value = "in.star"
    args = job.command_args()
    assert args == [job_types.COMMAND_OF_JOB[job.JOB], "in.star", "-o", "Dedup/job001/", "--force", "--plot"]
    job.joboptions["min_dist" if "min_dist" in job.joboptions else "min_z"].value = "55"
    assert job.command_args()[-2:] in (["--min-dist", "55.0"], ["--min-z", "55.0"])


def test_update_and_add_again_are_job_options():
    # --add-again (a batch already in the running set added anyway) beside --update, as every
    # option of the command is: the job passes both, without --force (which would start the set anew).
    job = ccpem.ParticlesJob()
    job.output_dir = "Dedup/job001/"
    job.joboptions["input_particles"].value = "in.star"
    job.joboptions["update"].value = "Yes"
    job.joboptions["add_again"].value = "Yes"
    assert job.joboptions["add_again"].label == "Add again:"
    assert job.command_args() == ["particles", "in.star", "-o", "Dedup/job001/", "--update", "--add-again"]


SPACED = "/data/EPU session 1/Images-Disc1"
#: Every path parameter of the three jobs: (job class, job option, the command line's flag or "" for an input).
PATH_PARAMETERS = [
    ("ParticlesJob", "input_particles", ""),
    ("ParticlesJob", "input_particles_2", ""),
    ("ParticlesJob", "input_micrographs", "--micrographs"),
    ("ParticlesJob", "project_dir", "--project-dir"),
    ("ParticlesJob", "mask", "--mask"),
    ("ParticlesJob", "fsc", "--fsc"),
    ("ParticlesJob", "overrides", "--overrides"),
    ("CoordinatesJob", "input_coordinates", ""),
    ("CoordinatesJob", "input_coordinates_2", ""),
    ("CoordinatesJob", "input_micrographs", "--micrographs"),
    ("CoordinatesJob", "project_dir", "--project-dir"),
    ("CoordinatesJob", "mask", "--mask"),
    ("CoordinatesJob", "fsc", "--fsc"),
    ("CoordinatesJob", "overrides", "--overrides"),
    ("MicrographsJob", "input_micrographs", ""),
    ("MicrographsJob", "input_particles", "--particles"),
    ("MicrographsJob", "project_dir", "--project-dir"),
    ("MicrographsJob", "metadata", "--metadata"),
    ("MicrographsJob", "overrides", "--overrides"),
]


@pytest.mark.parametrize("job_class", JOB_CLASSES)
def test_every_path_parameter_is_tested(job_class):
    import click
    from pipeliner.job_options import InputNodeJobOption

    job = getattr(ccpem, job_class)()
    paths = {k for k, o in job.joboptions.items() if isinstance(o, InputNodeJobOption)}
    options = ccpem.command_options(job.JOB).items()
    paths |= {k for k, p in options if isinstance(p.type, click.Path) or p.metavar == "PATH"}
    assert paths == {key for c, key, _ in PATH_PARAMETERS if c == job_class}


@pytest.mark.parametrize(("job_class", "key", "flag"), PATH_PARAMETERS)
def test_a_path_with_spaces_is_one_argument(job_class, key, flag):
    # Issue 38, item 13: '/data/EPU session 1/Images-Disc1' was three --metadata arguments.
    job = getattr(ccpem, job_class)()
    job.output_dir = "Dedup/job001/"
    first_input = next(iter(job.INPUTS))
    job.joboptions[first_input].value = "in.star"
    job.joboptions[key].value = SPACED
    args = job.command_args()
    assert args.count(SPACED) == 1 and not any(a in args for a in ("session", "1/Images-Disc1"))
    at = args.index(SPACED)
    assert args[at - 1] == flag if flag else at in (1, 2)  # an input: the command's arguments after its name


def test_several_metadata_values_are_one_argument_each():
    job = ccpem.MicrographsJob()
    job.output_dir = "Dedup/job001/"
    job.joboptions["input_micrographs"].value = "in.star"
    job.joboptions["metadata"].value = f"{SPACED}:::/data/EPU session 2/*.xml"  # as run.job holds it
    args = job.command_args()
    assert args[args.index("--metadata") :][:4] == ["--metadata", SPACED, "--metadata", "/data/EPU session 2/*.xml"]


def test_prefer_takes_one_input_an_entry():
    # Issue 39: the inputs most preferred first, as the pipeliner holds several values.
    job = ccpem.CoordinatesJob()
    job.output_dir = "Dedup/job001/"
    job.joboptions["input_coordinates"].value = "ManualPick/job004/manualpick.star"
    job.joboptions["input_coordinates_2"].value = "AutoPick/job006/autopick.star"
    job.joboptions["prefer"].value = "ManualPick/job004/manualpick.star:::2"
    args = job.command_args()
    assert args[args.index("--prefer") :][:4] == ["--prefer", "ManualPick/job004/manualpick.star", "--prefer", "2"]


@pytest.mark.parametrize(
    ("job_class", "other_args", "message"),
    [
        ("ParticlesJob", '--score "rlnX', "No closing quotation"),
        ("ParticlesJob", "--no-such-option", "No such option '--no-such-option'"),
        ("ParticlesJob", "", ""),
        # A job the pipeliner waits on must end: --watch never does (and is not a job option).
        ("MicrographsJob", "--watch 30", "--watch repeats the run until it is stopped"),
        # Found by the barrage (2026-11-26): -o in Additional arguments sent the outputs out of
        # the job's folder, where the pipeline's --force replaced a user's files.
        ("ParticlesJob", "--outdir /elsewhere", "--outdir in Additional arguments is set by the pipeline"),
        ("ParticlesJob", "-o /elsewhere", "-o in Additional arguments (--outdir) is set by the pipeline"),
        ("CoordinatesJob", "--outdir=/elsewhere", "--outdir=/elsewhere in Additional arguments (--outdir) is set"),
        ("MicrographsJob", "-qo /elsewhere", "-qo in Additional arguments (--quiet) is set by the pipeline"),
        ("ParticlesJob", "--force", "--force in Additional arguments is set by the pipeline"),
        ("ParticlesJob", "--score-order min --min-dist 30", ""),
    ],
)
def test_additional_arguments_are_checked_before_the_run(job_class, other_args, message):
    # Found by the barrage (issue 38): an open quote was a traceback of shlex's, an unknown
    # option a failed job with click's box in run.err; both are now the pipeliner's validation.
    job = getattr(ccpem, job_class)()
    job.output_dir = "Dedup/job001/"
    job.joboptions[next(iter(job.INPUTS))].value = "in.star"
    assert not {"watch", "watch_idle"} & set(job.joboptions)
    job.joboptions["other_args"].value = other_args
    found = [r.message for r in job.additional_joboption_validation()]
    assert len(found) == (1 if message else 0) and all(message in m and "\n" not in m for m in found)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("ccpem_project")
    paths = write_pipeline_project(root)
    pipeliner(root, "--new_project")
    return root, paths


def run_job(root: Path, job_class: type, values: dict[str, str]) -> Path:
    """Writes the job's default run.job with ``values`` set, runs it with ``pipeliner --run_job``, waits.

    The default run.job is written as ``pipeliner --default_runjob`` writes it (``write_runjob``).
    """
    runjob = root / f"{job_class.PROCESS_NAME.replace('.', '_')}_run.job"
    job_class().write_runjob(str(runjob))
    lines = runjob.read_text().splitlines()
    for label, value in values.items():
        index = lines.index(next(line for line in lines if line.startswith(f"{label} == ")))
        lines[index] = f"{label} == {value}"
    runjob.write_text("\n".join(lines) + "\n")
    ran = pipeliner(root, "--run_job", runjob.name)
    folder = root / ran.split("Ran job as:", 1)[1].split()[0]
    deadline = time.monotonic() + 300
    while not any((folder / f"PIPELINER_JOB_EXIT_{e}").exists() for e in ("SUCCESS", "FAILED", "ABORTED")):
        assert time.monotonic() < deadline, f"{folder} did not finish"
        time.sleep(0.5)
    assert (folder / "PIPELINER_JOB_EXIT_SUCCESS").exists(), (folder / "run.err").read_text()
    assert job_status(root, folder) == "Succeeded"
    return folder


def job_status(root: Path, folder: Path) -> str:
    """The job's status in the pipeline once the pipeliner has looked at its exit file (as Doppio does)."""
    code = (
        "from pipeliner.project_graph import ProjectGraph\n"
        "with ProjectGraph(read_only=False) as pipeline:\n"
        "    pipeline.check_process_completion()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=300)
    name = f"{folder.relative_to(root)}/"
    rows = [line.split() for line in (root / "default_pipeline.star").read_text().splitlines()]
    return next(r[3] for r in rows if len(r) == 4 and r[0] == name)


def node_labels(root: Path) -> dict[str, str]:
    text = (root / "default_pipeline.star").read_text().split("data_pipeline_nodes", 1)[1].split("data_", 1)[0]
    rows = [line.split() for line in text.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) == 2 and not r[0].startswith("_")}


def results_images(root: Path, folder: Path, monkeypatch) -> list[str]:
    """The titles of the job's results as the pipeliner makes them for Doppio (images only)."""
    from pipeliner.api.manage_project import PipelinerProject

    monkeypatch.chdir(root)
    job = PipelinerProject().get_job(f"{folder.relative_to(root)}/")
    shown = job.create_results_display()
    assert all(Path(r.image_path).exists() for r in shown)
    return [r.title for r in shown]


def test_particle_job_runs_in_a_pipeliner_project(project, monkeypatch):
    root, paths = project
    folder = run_job(
        root,
        ccpem.ParticlesJob,
        {"Input particles:": paths["particles_1"], "Second input particles:": paths["particles_2"], "Min dist:": "40"},
    )
    name = f"{folder.relative_to(root)}"
    labels = node_labels(root)
    assert labels[f"{name}/particles_kept.star"] == "ParticleGroupMetadata.star.relion.cryodedup.kept"
    assert labels[f"{name}/particles_rejected.star"] == "ParticleGroupMetadata.star.relion.cryodedup.rejected"
    reference = cli_reference(root, "particles", paths["particles_1"], paths["particles_2"], "--min-dist", "40")
    assert kept_rows(folder / "particles_kept.star") == kept_rows(reference / "particles_kept.star")
    assert "Nn distances" in results_images(root, folder, monkeypatch)


def test_particle_sets_of_other_columns_are_each_a_node_in_the_pipeline(tmp_path, monkeypatch):
    # Issue 64 item 1: a Refine3D set and one without half-sets are written each to its own
    # files and no combined particles_kept.star. The pipeliner keeps a node declared before
    # the run whose file never comes (only a warning in its log), so the nodes are the files
    # written: declared after the run, each kept file a .kept node and each rejected a .rejected.
    from fixtures.refined_and_picks import UNSPLIT, refined_and_unsplit

    project = refined_and_unsplit(tmp_path)
    pipeliner(tmp_path, "--new_project")
    values = {"Input particles:": project.refined, "Second input particles:": UNSPLIT}
    folder = run_job(tmp_path, ccpem.ParticlesJob, {**values, "Micrographs:": project.micrographs, "Min dist:": "30"})
    name = f"{folder.relative_to(tmp_path)}"
    written = sorted(p.name for p in folder.glob("particles_*.star"))
    assert written == [f"particles_{s}_{n}.star" for s in ("kept", "rejected") for n in ("particles", "run_data")]
    labels = {node: label for node, label in node_labels(tmp_path).items() if node.startswith(f"{name}/")}
    assert labels == {
        f"{name}/{file}": f"ParticleGroupMetadata.star.relion.cryodedup.{file.split('_')[1]}" for file in written
    }
    assert set(kept_rows(folder / "particles_kept_run_data.star")) <= set(project.refined_rows)
    assert "Nn distances" in results_images(tmp_path, folder, monkeypatch)


# ccpem-pipeliner 1.6's spelling of an optimisation set, from its source: pipeliner/data_structure.py
# ``NODE_TOMOOPTIMISATIONSET = "TomoOptimisationSet"``, made by pipeliner/nodes.py's
# ``TomoOptimisationSetNode`` (format "star" where the file reads as STAR, else "XstarX"); its
# tomography jobs declare theirs as that type with their own keywords (tomo_pseudosubtomo_job.py:
# ``"optimisation_set.star", NODE_TOMOOPTIMISATIONSET, ["relion", "tomo", "extract"]``), and its
# Reconstruct particle job ("relion.reconstructparticletomo") takes one as "in_optimisation", an
# input of that type.
OPTSET_TYPE = "TomoOptimisationSet"


def test_a_relion5_optimisation_set_is_a_tomography_node(tmp_path, monkeypatch):
    # A RELION 5 Refine3D optimisation set in: the optimisation_set.star the run writes (naming
    # the kept particles) is declared as the pipeliner's tomography jobs declare theirs, so that
    # the next tomography job is offered it; the kept particles are the fixture's hand-worked three.
    from pipeliner.job_factory import new_job_of_type
    from pipeliner.nodes import TomoOptimisationSetNode
    from pipeliner.project_graph import ProjectGraph

    from fixtures.optimisation_set import relion_project

    relion_project(tmp_path)
    pipeliner(tmp_path, "--new_project")
    values = {"Input particles:": "Refine3D/job012/run_optimisation_set.star", "Min dist:": "20"}
    folder = run_job(tmp_path, ccpem.ParticlesJob, values)
    name = f"{folder.relative_to(tmp_path)}/optimisation_set.star"
    assert node_labels(tmp_path)[name] == f"{OPTSET_TYPE}.star.relion.cryodedup.kept"
    monkeypatch.chdir(tmp_path)
    with ProjectGraph(read_only=True) as pipeline:
        node = pipeline.find_node(name)
    assert isinstance(node, TomoOptimisationSetNode) and node.toplevel_type == OPTSET_TYPE
    assert new_job_of_type("relion.reconstructparticletomo").joboptions["in_optimisation"].node_type == OPTSET_TYPE
    named = (folder / "optimisation_set.star").read_text().split("_rlnTomoParticlesFile", 1)[1].split()[0]
    assert named == f"{folder.relative_to(tmp_path)}/particles_kept.star"
    kept = [line.split()[1] for line in (folder / "particles_kept.star").read_text().splitlines() if "TS_0" in line]
    assert kept == ["TS_01/2", "TS_01/3", "TS_03/1"]


def test_coordinate_job_runs_in_a_pipeliner_project(project, monkeypatch):
    root, paths = project
    folder = run_job(
        root,
        ccpem.CoordinatesJob,
        {
            "Input coordinates:": paths["coordinates_1"],
            "Second input coordinates:": paths["coordinates_2"],
            "Micrographs:": paths["micrographs"],
            "Min dist:": "40",
        },
    )
    name = f"{folder.relative_to(root)}"
    assert node_labels(root)[f"{name}/autopick_kept.star"] == "MicrographCoordsGroup.star.relion.cryodedup.kept"
    reference = cli_reference(root, *coordinate_merge_args(paths))
    kept = {p.relative_to(folder / "kept"): p.read_text() for p in (folder / "kept").rglob("*.star")}
    assert kept and kept == {
        p.relative_to(reference / "kept"): p.read_text() for p in (reference / "kept").rglob("*.star")
    }
    assert results_images(root, folder, monkeypatch)


def test_paths_with_spaces_reach_the_command_whole(project):
    # Issue 38, item 13: the pipeliner runs the command's arguments as they are, spaces and all.
    root, paths = project
    session = root / "EPU session 1"
    session.mkdir()
    (session / "particles of job 020.star").write_bytes((root / paths["particles_1"]).read_bytes())
    folder = run_job(
        root,
        ccpem.ParticlesJob,
        {"Input particles:": "EPU session 1/particles of job 020.star", "Project dir:": str(root), "Min dist:": "40"},
    )
    reference = cli_reference(root, "particles", paths["particles_1"], "--min-dist", "40")
    assert kept_rows(folder / "particles_kept.star") == kept_rows(reference / "particles_kept.star")


def test_micrograph_job_runs_in_a_pipeliner_project(project, monkeypatch):
    root, paths = project
    folder = run_job(
        root,
        ccpem.MicrographsJob,
        {"Input micrographs:": paths["planted_micrographs"], "Particles to split:": paths["planted_particles"]},
    )
    name = f"{folder.relative_to(root)}"
    labels = node_labels(root)
    assert labels[f"{name}/micrographs_kept.star"] == "MicrographGroupMetadata.star.relion.cryodedup.kept"
    assert labels[f"{name}/particles_on_kept_micrographs.star"] == "ParticleGroupMetadata.star.relion.cryodedup.kept"
    # The planted re-exposures among mic_1..mic_10 are mic_6 (of mic_4) and mic_9 (of mic_3).
    rejected = (folder / "micrographs_rejected.star").read_text()
    assert [k for k in range(1, 11) if f"mic_{k}.mrc " in rejected] == [6, 9]
    assert results_images(root, folder, monkeypatch)


def relion31_project_and_runjob(root: Path, jobs: int) -> tuple[dict[str, str], str]:
    """A RELION 3.1 tutorial-shaped project (``jobs`` of its jobs) and a particle job's run.job in it."""
    import shutil

    relion = shutil.which("relion_pipeliner")
    if relion is None:
        missing_program("RELION is not installed (relion_pipeliner)", required_by="CRYODEDUP_REQUIRE_RELION")
    paths = write_relion31_tutorial_project(root, str(relion), jobs)
    runjob = root / "cryodedup_particles_run.job"
    ccpem.ParticlesJob().write_runjob(str(runjob))
    lines = [
        f"Input particles: == {paths['particles']}" if line.startswith("Input particles: == ") else line
        for line in runjob.read_text().splitlines()
    ]
    runjob.write_text("\n".join(lines) + "\n")
    return paths, str(relion)


def test_the_pipeliner_cannot_open_a_relion31_project_as_the_readme_says(tmp_path):
    # Issue 38, item 14: on first use the pipeliner converts a RELION 3.1 project's pipeline,
    # reading every job's job.star as RELION 4 writes it; it dies before any job of cryodedup's
    # is loaded, so cryodedup cannot help it: the README sends RELION 3.1 projects to the
    # External job (tests/pipelines/test_relion_external.py runs it in this same project).
    relion31_project_and_runjob(tmp_path, 8)
    pipeline = (tmp_path / "default_pipeline.star").read_bytes()
    runjob = tmp_path / "cryodedup_particles_run.job"
    done = subprocess.run(
        [str(BIN / "pipeliner"), "--run_job", runjob.name], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    # Class2D/job008's job.star (Additional arguments with a quoted path, as RELION 3.1 escapes it)
    # is not STAR to gemmi, the pipeliner's reader: the "Wrong number of values in loop" users saw.
    assert done.returncode != 0 and "Wrong number of values in loop" in done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "Dedup").exists() and (tmp_path / "default_pipeline.star").read_bytes() == pipeline


def test_where_the_pipeliner_opens_a_relion31_project_relion_31_cannot_any_more(tmp_path):
    # Issue 38, item 14: with job.star files it can read (Import alone), the pipeliner rewrites
    # default_pipeline.star in its own (RELION 4/5) format, which RELION 3.1 then cannot read.
    _, relion = relion31_project_and_runjob(tmp_path, 1)
    pipeliner(tmp_path, "--run_job", "cryodedup_particles_run.job")
    assert (tmp_path / "default_pipeline.star.old").exists()
    done = subprocess.run(
        [relion, "--addJob", "External", "--addJobOptions", "fn_exe == cryodedup-relion;"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PipeLine::read: cannot find name or type in pipeline_nodes table" in done.stdout + done.stderr
