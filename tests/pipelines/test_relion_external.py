"""cryodedup-relion, the program of a RELION External job; run by RELION 3.1's own relion_pipeliner."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cryodedup.pipelines import job_types
from cryodedup.pipelines.relion_external import ExternalCall, main, output_nodes_star, parse_call, pictures_of, plan
from helpers import (
    EMPTY_RELION_PIPELINE,
    PIPELINE_MICROGRAPHS,
    cli_reference,
    coordinate_merge_args,
    kept_rows,
    missing_program,
    write_pipeline_project,
    write_relion31_tutorial_project,
)
from oracle import oracle, star_centres

BIN = Path(sys.executable).parent
# RELION 3.1's process status numbers (src/pipeline_jobs.h).
SUCCESS, FAILURE, ABORTED = 2, 3, 4


def test_relion_command_line_read_as_relion_writes_it():
    # getCommandsExternalJob: --o, the inputs filled in, --<label> <value> per parameter, --j, other args.
    argv = "--o External/job012/ --in_parts A.star --in_mics M.star --min_dist 40 --remove_entirely --j 4 --sym D7"
    call = parse_call(argv.split())
    assert call.outdir == "External/job012/" and call.threads == "4"
    assert call.inputs == {"parts": ["A.star"], "mics": ["M.star"]}
    assert call.params == [("min_dist", ["40"]), ("remove_entirely", []), ("sym", ["D7"])]
    # A second input by label; RELION 4's --pipeline_control is ignored.
    call = parse_call(
        ["--o", "E/", "--in_parts", "A.star", "--in_parts2", "B.star", "--pipeline_control", "E/", "--j", "1"]
    )
    assert call.inputs == {"parts": ["A.star", "B.star"]} and call.params == []


def test_labels_become_the_commands_options(tmp_path):
    call = ExternalCall(
        outdir="External/job012/",
        inputs={"parts": ["A.star", "B.star"]},
        params=[("min_dist", ["40"]), ("score", ["rlnMaxValueProbDistribution"]), ("remove_entirely", ["yes"])],
    )
    p = plan(call)
    assert p.job == "particles"
    assert p.args[: p.args.index("--force")] == ["particles", "A.star", "B.star", "-o", "External/job012/"]
    tail = p.args[p.args.index("--json") + 1 :]
    assert [w for w in tail if w != "--plot"] == [
        "--min-dist",
        "40",
        "--score",
        "rlnMaxValueProbDistribution",
        "--remove-entirely",
    ]
    # A switch set to no is left out; plot no turns the pictures off.
    p = plan(ExternalCall("E/", {"parts": ["A.star"]}, [("remove_entirely", ["no"]), ("plot", ["no"])]))
    assert "--remove-entirely" not in p.args and "--plot" not in p.args and not p.plot
    # Coordinates with micrographs: the picker job, micrographs named with --micrographs.
    p = plan(ExternalCall("E/", {"coords": ["AutoPick/job006/autopick.star"], "mics": ["M.star"]}, []))
    assert p.job == "coordinates" and p.args[:2] == ["particles", "AutoPick/job006/autopick.star"]
    assert p.args[p.args.index("--micrographs") + 1] == "M.star"
    # Micrographs with particles: the micrograph job splitting them.
    p = plan(ExternalCall("E/", {"mics": ["M.star"], "parts": ["P.star"]}, [("min_z", ["10"])]))
    assert p.job == "micrographs" and p.args[p.args.index("--particles") + 1] == "P.star"
    assert [o.name for o in p.outputs][2:] == [
        "particles_on_kept_micrographs.star",
        "particles_on_rejected_micrographs.star",
    ]


@pytest.mark.parametrize(
    ("params", "job"),
    [
        ([("min_dist", ["40"])], "particles"),
        ([("mic_psize", ["1.06"]), ("plot", ["no"])], "particles"),
        ([("score", ["none"])], "particles"),
        ([("min_z", ["10"])], "micrographs"),
        ([("metadata", ["EPU"]), ("plot", ["no"])], "micrographs"),
    ],
)
def test_particles_with_micrographs_run_the_job_their_parameters_name(params, job):
    # Issue 38, item 15: a user giving the pixel size through Input micrographs means the particle job.
    p = plan(ExternalCall("E/", {"parts": ["P.star"], "mics": ["M.star"]}, params))
    assert p.job == job
    if job == "particles":
        assert p.args[:2] == ["particles", "P.star"] and p.args[p.args.index("--micrographs") + 1] == "M.star"
        assert [o.name for o in p.outputs] == ["particles_kept.star", "particles_rejected.star"]
    else:
        assert p.args[:2] == ["micrographs", "M.star"] and p.args[p.args.index("--particles") + 1] == "P.star"


def test_a_repeatable_option_takes_each_value():
    p = plan(ExternalCall("E/", {"mics": ["M.star"]}, [("metadata", ["EPU/a.xml", "EPU/b.xml"])]))
    assert p.args[p.args.index("--metadata") :][:4] == ["--metadata", "EPU/a.xml", "--metadata", "EPU/b.xml"]


def test_prefer_and_same_image_are_parameters():
    # Issue 39: the hand picks' job first (an input as given, or its position), then the rule for one image twice.
    coords = ["ManualPick/job004/coords_suffix_manualpick.star", "AutoPick/job006/coords_suffix_autopick.star"]
    params = [("prefer", ["2", "1"]), ("same_image", ["reject"])]
    p = plan(ExternalCall("E/", {"coords": coords}, params))
    assert p.args[p.args.index("--prefer") :][:4] == ["--prefer", "2", "--prefer", "1"]
    assert p.args[p.args.index("--same-image") :][:2] == ["--same-image", "reject"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (ExternalCall("E/", {"parts": ["A.star"]}, [("min_dist", ["abc"])]), "Invalid value for '--min-dist': 'abc'"),
        (ExternalCall("E/", {"parts": ["A.star"]}, [("min_distance", ["4"])]), "unknown parameter 'min_distance'"),
        (ExternalCall("E/", {"parts": ["A.star"]}, [("remove_entirely", ["maybe"])]), "is a switch: give yes or no"),
        (ExternalCall("E/", {"parts": ["A.star"]}, [("min_dist", [])]), "'min_dist' (--min-dist) needs a value"),
        (ExternalCall("E/", {}, []), "no input: fill in Input particles"),
        (ExternalCall("E/", {"parts": ["A.star"], "3dref": ["m.mrc"]}, []), "--in_3dref is not an input"),
        (ExternalCall("E/", {"parts": ["A.star"], "coords": ["c.star"]}, []), "not both"),
        # Issue 38, item 15: both particles and micrographs, and no parameter saying which job.
        (ExternalCall("E/", {"parts": ["A.star"], "mics": ["M.star"]}, []), "min_dist, score, mic_psize"),
        (ExternalCall("E/", {"parts": ["A.star"], "mics": ["M.star"]}, [("plot", ["no"])]), "min_z, min_pearson"),
        (
            ExternalCall("E/", {"parts": ["A.star"], "mics": ["M.star"]}, [("min_dist", ["4"]), ("min_z", ["9"])]),
            "min_dist (particle job) and min_z (micrograph job)",
        ),
        (
            ExternalCall("E/", {"parts": ["A.star"], "mics": ["M.star"]}, [("micrographs", ["N.star"])]),
            "micrographs given twice",
        ),
        # A job RELION waits on must end: --watch (a parameter or in Additional arguments) never does.
        (ExternalCall("E/", {"mics": ["M.star"]}, [("watch", ["30"])]), "--watch repeats the run until it is stopped"),
        (
            ExternalCall("E/", {"mics": ["M.star"]}, [("watch", ["30"]), ("watch_idle", ["60"])]),
            "--watch repeats the run",
        ),
        (ExternalCall("E/", {"mics": ["M.star"], "parts": ["P.star"]}, [("watch", ["5"])]), "--watch repeats"),
    ],
)
def test_bad_parameters_are_one_line(call, message):
    with pytest.raises(job_types.ParameterError) as err:
        plan(call)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_output_nodes_carry_both_relion_generations_columns():
    text = output_nodes_star(
        [("External/job012/particles_kept.star", "particles"), ("External/job012/logfile.pdf", "logfile")]
    )
    assert "data_output_nodes" in text
    assert "External/job012/particles_kept.star 3 ParticleGroupMetadata.star.relion" in text
    assert "External/job012/logfile.pdf 13 LogFile.pdf.relion" in text


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("relion_project")
    return root, write_pipeline_project(root)


def run_here(root: Path, argv: list[str]) -> int:
    """cryodedup-relion run from the project folder, as RELION runs it."""
    here = os.getcwd()
    os.chdir(root)
    try:
        return main(argv)
    finally:
        os.chdir(here)


def test_particles_job_keeps_what_the_oracle_keeps(project):
    root, paths = project
    status = run_here(
        root,
        ["--o", "External/job101/", "--in_parts", paths["particles_1"], "--min_dist", "40", "--plot", "no", "--j", "1"],
    )
    job = root / "External/job101"
    assert status == 0 and (job / "RELION_JOB_EXIT_SUCCESS").exists()
    # Oracle: greedy suppression by brute force, on the centres read independently.
    particles, centres, groups = star_centres(root / paths["particles_1"], mic_psize=1.06)
    keep, _ = oracle(groups, centres, particles["rlnAutopickFigureOfMerit"].to_numpy(float), 40.0)
    rows = kept_rows(root / paths["particles_1"])
    assert kept_rows(job / "particles_kept.star") == [r for r, k in zip(rows, keep) if k]
    assert (
        "External/job101/particles_kept.star 3 ParticleGroupMetadata.star.relion"
        in (job / "RELION_OUTPUT_NODES.star").read_text()
    )


def test_particle_sets_of_other_columns_are_each_a_node(tmp_path):
    # Issue 64: a Refine3D set and a set without half-sets are written each to its own files,
    # and those, not the combined particles_kept.star (not written), are the job's nodes.
    from fixtures.refined_and_picks import UNSPLIT, refined_and_unsplit

    project = refined_and_unsplit(tmp_path)
    argv = ["--o", "External/job102/", "--in_parts", project.refined, "--in_parts2", UNSPLIT]
    argv += ["--in_mics", project.micrographs, "--min_dist", "30", "--plot", "no", "--j", "1"]
    assert run_here(tmp_path, argv) == 0
    nodes = (tmp_path / "External/job102/RELION_OUTPUT_NODES.star").read_text()
    for subset in ("kept", "rejected"):
        assert f"External/job102/particles_{subset}.star " not in nodes
        for name in ("run_data", "particles"):
            path = f"External/job102/particles_{subset}_{name}.star"
            assert (tmp_path / path).is_file() and f"{path} 3 ParticleGroupMetadata.star.relion" in nodes


def test_particles_job_adds_batches_with_update(project):
    """Two External runs into one job folder with update: the running kept set, the one node declared."""
    root, paths = project
    for batch in ("particles_1", "particles_2"):
        argv = ["--o", "External/job171/", "--in_parts", paths[batch], "--min_dist", "40", "--update", "yes"]
        assert run_here(root, [*argv, "--j", "1"]) == 0  # (no --plot: a round draws none)
    job = root / "External/job171"
    assert (job / "round_0001_kept.star").exists() and (job / "round_0002_kept.star").exists()
    nodes = (job / "RELION_OUTPUT_NODES.star").read_text()
    assert "External/job171/particles_kept.star 3" in nodes and "particles_rejected" not in nodes
    assert "round_" not in nodes  # (a round's files are not the job's set: the running kept file is)
    assert len(kept_rows(job / "particles_kept.star")) == sum(
        len(kept_rows(job / f"round_000{k}_kept.star")) for k in (1, 2)
    )


def test_a_batch_given_again_adds_nothing_unless_add_again(project, capsys):
    """--add-again is a parameter (``add_again``) of the External job, as every --update option is."""
    root, paths = project
    argv = ["--o", "External/job172/", "--in_parts", paths["particles_1"], "--min_dist", "40", "--update", "yes"]
    job = root / "External/job172"
    assert run_here(root, [*argv, "--j", "1"]) == 0
    kept = kept_rows(job / "particles_kept.star")
    capsys.readouterr()
    # The last round's batch given again: its files put in place, nothing added (an earlier round's is
    # refused: tests/cli/test_messages.py).
    assert run_here(root, [*argv, "--j", "1"]) == 0 and not (job / "round_0002_kept.star").exists()
    said = capsys.readouterr()
    assert "its rows are already in the kept set" in said.out + said.err
    assert run_here(root, [*argv, "--add_again", "yes", "--j", "1"]) == 0 and (job / "RELION_JOB_EXIT_SUCCESS").exists()
    # Added again, each row is rejected as the duplicate of itself: the running set is as it was.
    assert kept_rows(job / "particles_kept.star") == kept
    assert len(kept_rows(job / "round_0002_rejected.star")) == len(kept_rows(root / paths["particles_1"]))


def test_without_the_plot_extra_run_out_says_why_there_are_no_pictures(project, monkeypatch, capsys):
    # The External job draws when Pillow is there; without it, run.out (stdout) says so and
    # no logfile.pdf is declared. "plot no" is the user's own choice: nothing to explain.
    root, paths = project
    monkeypatch.setattr(job_types, "can_plot", lambda: False)
    argv = ["--in_parts", paths["particles_1"], "--min_dist", "40", "--j", "1"]
    assert run_here(root, ["--o", "External/job151/", *argv]) == 0
    out = capsys.readouterr().out
    assert "No pictures and no logfile.pdf: Pillow, which draws them, is not installed" in out
    assert "logfile" not in (root / "External/job151/RELION_OUTPUT_NODES.star").read_text()
    assert not (root / "External/job151/logfile.pdf").exists()
    assert run_here(root, ["--o", "External/job152/", *argv, "--plot", "no"]) == 0
    assert "No pictures" not in capsys.readouterr().out


def test_abort_requested_while_cryodedup_runs(project, monkeypatch):
    root, paths = project
    job = root / "External/job102"
    job.mkdir(parents=True)
    # A command that would run for a minute: the abort must stop it within a second or two.
    monkeypatch.setattr(job_types, "cli_program", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    threading.Timer(1.0, (job / "RELION_JOB_ABORT_NOW").touch).start()
    start = time.monotonic()
    status = run_here(root, ["--o", "External/job102/", "--in_parts", paths["particles_1"], "--plot", "no"])
    assert status == 1 and time.monotonic() - start < 20
    assert (job / "RELION_JOB_EXIT_ABORTED").exists() and not (job / "RELION_OUTPUT_NODES.star").exists()


def test_failure_without_an_output_folder_is_one_line(capsys):
    assert main(["--in_parts", "A.star"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--o External/jobNNN/" in err


def test_particles_with_micrographs_and_min_dist_run_the_particle_job(project):
    # Issue 38, item 15: before, the micrograph job ran and failed on --min-dist.
    root, paths = project
    argv = ["--o", "External/job103/", "--in_parts", paths["particles_1"], "--in_mics", paths["micrographs"]]
    assert run_here(root, [*argv, "--min_dist", "40", "--plot", "no"]) == 0
    job = root / "External/job103"
    reference = cli_reference(
        root, "particles", paths["particles_1"], "--micrographs", paths["micrographs"], "--min-dist", "40"
    )
    assert kept_rows(job / "particles_kept.star") == kept_rows(reference / "particles_kept.star")
    assert (job / "RELION_JOB_EXIT_SUCCESS").exists() and not (job / "micrographs_kept.star").exists()


# --- whatever happens, an exit file and one line (issue 38, items 11 and 12) -----------------------


def read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` is read-only: a read-only bind mount for root, else its mode."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    probe = [unshare or "unshare", "-m", "true"]
    if unshare is None or subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        pytest.skip("root, and no mount namespace (unshare -m) to make a read-only folder")
    mount = f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' && exec \"$0\" \"$@\""
    return [unshare, "-m", "sh", "-c", mount]


def in_the_way(root: Path, case: str) -> tuple[str, list[str]]:
    """Puts ``case`` in the job folder's way; returns the job folder and a command prefix."""
    job = root / "External" / case
    if case == "outdir_is_a_file":
        job.parent.mkdir(exist_ok=True)
        job.write_text("")
    elif case == "outdir_is_a_dangling_link":
        job.parent.mkdir(exist_ok=True)
        job.symlink_to(root / "nowhere")
    elif case.startswith("exit_file_is_a_"):
        job.mkdir(parents=True)
        name = "RELION_JOB_EXIT_SUCCESS" if "folder" in case else "RELION_JOB_EXIT_FAILURE"
        (job / name).mkdir() if "folder" in case else os.mkfifo(job / name)
    elif case == "job_star_is_a_fifo":
        job.mkdir(parents=True)
        os.mkfifo(job / "job.star")
    elif case == "read_only_folder":
        job.mkdir(parents=True)
        return f"External/{case}/", read_only(job)
    return f"External/{case}/", []


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "outdir_is_a_file",
        "outdir_is_a_dangling_link",
        "exit_file_is_a_folder",
        "exit_file_is_a_fifo",
        "job_star_is_a_fifo",
        "read_only_folder",
    ],
)
def test_whatever_is_in_the_way_the_job_ends_with_an_exit_file_and_one_line(tmp_path, case):
    paths = write_pipeline_project(tmp_path)
    outdir, prefix = in_the_way(tmp_path, case)
    program = [*prefix, str(BIN / "cryodedup-relion")]
    argv = ["--o", outdir, "--in_parts", paths["particles_1"], "--plot", "no"]
    # The time limit: a FIFO read or written blocks for ever (what RELION saw as a job that never ended).
    done = subprocess.run([*program, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cryodedup-relion: error: "), done.stderr
    failure = tmp_path / outdir / "RELION_JOB_EXIT_FAILURE"
    if case in ("outdir_is_a_file", "outdir_is_a_dangling_link", "read_only_folder", "exit_file_is_a_fifo"):
        assert f"cannot write {outdir}RELION_JOB_EXIT_FAILURE (" in lines[0]  # why there is no exit file
    else:
        assert failure.is_file()
    assert not (tmp_path / outdir / "RELION_JOB_EXIT_SUCCESS").is_file()
    expected = {
        "outdir_is_a_file": f"the job folder {outdir} is not a folder",
        "outdir_is_a_dangling_link": f"the job folder {outdir} is a dangling link",
        "exit_file_is_a_folder": f"{outdir}RELION_JOB_EXIT_SUCCESS is a folder, not RELION's exit file",
        "job_star_is_a_fifo": f"{outdir}job.star: is a named pipe (FIFO), expected RELION's job.star",
        "read_only_folder": "Read-only file system" if prefix else "Permission denied",
    }
    assert expected.get(case, "") in lines[0]


def test_an_input_fifo_fails_the_job_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "particles.star")
    argv = ["--o", "External/job001/", "--in_parts", "particles.star", "--plot", "no"]
    done = subprocess.run(
        [str(BIN / "cryodedup-relion"), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and done.stderr.startswith(
        "cryodedup-relion: error: particles.star: is a named pipe (FIFO), expected a"
    )
    assert done.stderr.count("\n") == 1
    assert (tmp_path / "External/job001/RELION_JOB_EXIT_FAILURE").is_file()


def run_relion_job(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """cryodedup-relion as a program, from ``root``, with a time limit (a FIFO would block for ever)."""
    program = str(BIN / "cryodedup-relion")
    return subprocess.run([program, *argv], cwd=root, capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stray", "--o", "External/job001/"], "unexpected 'stray' before the first --option"),
        (["--o", "External/job001/", "--in_parts", "a.star", "b.star"], "--in_parts takes one file"),
        (["--o", "External/job\n001/"], "holds a line break, which RELION_OUTPUT_NODES.star cannot"),
        # Found by the barrage (2026-11-26): an empty input ran the job on the whole project
        # folder; words after --j N (RELION's Additional arguments) were dropped unread.
        (["--o", "External/job001/", "--in_parts", ""], "--in_parts is empty: give the input's file"),
        (["--o", "External/job001/", "--in_parts", "a.star", "--j", "1", "-o", "/x"], "'-o /x' after --j 1: give"),
        (["--o", "External/job001/", "--in_parts", "a.star", "--j", "abc"], "--j takes the number of threads, not"),
    ],
)
def test_a_command_line_relion_did_not_write_still_ends_with_an_exit_file(tmp_path, argv, message):
    # Found by the barrage (issue 38, item 11): any mistake after --o is marked in the job folder.
    done = run_relion_job(tmp_path, argv)
    assert done.returncode == 1 and done.stderr.decode().count("\n") == 1 and message in done.stderr.decode()
    assert (tmp_path / argv[argv.index("--o") + 1] / "RELION_JOB_EXIT_FAILURE").is_file()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_program_loads_ends_the_job_as_aborted(project, signum):
    # Issue 38: until the job's handlers were in place, after its imports (half a second on a
    # busy machine), SIGTERM killed cryodedup-relion with no exit file, and RELION waited for ever.
    root, paths = project
    folder = f"External/job3{signum:02d}/"  # (job302, job315: no other test's)
    (root / folder).mkdir(parents=True)
    argv = ["--o", folder, "--in_parts", paths["particles_1"], "--plot", "no"]
    env = dict(os.environ, CRYODEDUP_TEST_PAUSE="starting")  # waits there, handlers in place, for a signal
    program = [str(BIN / "cryodedup-relion"), *argv]
    run = subprocess.Popen(program, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None and run.stderr.readline() == "cryodedup: paused at starting\n"
    run.send_signal(signum)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1 and err == "", err
    assert f"Aborted by {signal.Signals(signum).name} while cryodedup-relion started: no new output nodes" in out
    assert [p.name for p in (root / folder).iterdir()] == ["RELION_JOB_EXIT_ABORTED"]


def test_nodes_file_in_the_way_fails_before_the_run(project):
    root, paths = project
    job = root / "External/job104"
    (job / "RELION_OUTPUT_NODES.star").mkdir(parents=True)
    done = run_relion_job(root, ["--o", "External/job104/", "--in_parts", paths["particles_1"], "--plot", "no"])
    assert done.returncode == 1 and b"RELION_OUTPUT_NODES.star is not a file" in done.stderr
    assert sorted(p.name for p in job.iterdir()) == ["RELION_JOB_EXIT_FAILURE", "RELION_OUTPUT_NODES.star"]


@pytest.mark.parametrize("folder", [b"External/job 105/", b"External/job\xff106/"])
def test_job_folders_with_spaces_or_not_utf8_are_named_whole_in_the_nodes(project, folder):
    root, paths = project
    outdir = os.fsdecode(folder)
    done = run_relion_job(root, ["--o", outdir, "--in_parts", paths["particles_1"], "--plot", "no"])
    assert done.returncode == 0, done.stderr
    nodes = (root / outdir / "RELION_OUTPUT_NODES.star").read_bytes()
    kept = folder + b"particles_kept.star"
    assert (b'"' + kept + b'" 3 ' if b" " in folder else b"\n" + kept + b" 3 ") in nodes


# --- RELION 3.1 itself ------------------------------------------------------------------------


def relion_pipeliner() -> str:
    found = shutil.which("relion_pipeliner")
    if found is None:
        missing_program(
            "RELION is not installed (relion_pipeliner not on PATH; Debian: apt-get install relion)",
            required_by="CRYODEDUP_REQUIRE_RELION",
        )
    if not (BIN / "cryodedup-relion").exists():
        missing_program(f"cryodedup-relion is not installed beside {sys.executable}")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def relion_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("relion31")
    paths = write_pipeline_project(root)
    (root / "default_pipeline.star").write_text(EMPTY_RELION_PIPELINE)
    return root, paths


def add_and_run(root: Path, options: str) -> tuple[str, int]:
    """Adds an External job with ``options`` and runs it with relion_pipeliner; returns its name and status."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    pipeline = (root / "default_pipeline.star").read_text()
    counter = int(pipeline.split("_rlnPipeLineJobCounter", 1)[1].split()[0])
    name = f"External/job{counter:03d}/"
    options = options.replace("JOB/", name)
    for args in (["--addJob", "External", "--addJobOptions", options], ["--RunJobs", name, "--sec_wait_after", "1"]):
        done = subprocess.run(
            [relion_pipeliner(), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
    rows = [line.split() for line in (root / "default_pipeline.star").read_text().splitlines()]
    status = [int(r[3]) for r in rows if len(r) == 4 and r[0] == name]
    return name, status[0]


def pipeline_nodes(root: Path) -> dict[str, int]:
    text = (root / "default_pipeline.star").read_text().split("data_pipeline_nodes", 1)[1].split("data_", 1)[0]
    rows = [line.split() for line in text.splitlines()]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}


def test_relion31_runs_the_particle_job(relion_project):
    root, paths = relion_project
    name, status = add_and_run(
        root,
        f"fn_exe == cryodedup-relion;in_part == {paths['particles_1']};param1_label == in_parts2;"
        f"param1_value == {paths['particles_2']};param2_label == min_dist;param2_value == 40;",
    )
    assert status == SUCCESS, (root / name / "run.err").read_text()
    nodes = pipeline_nodes(root)
    assert nodes[f"{name}particles_kept.star"] == 3 and nodes[f"{name}particles_rejected.star"] == 3
    if job_types.can_plot():
        assert nodes[f"{name}logfile.pdf"] == 13 and (root / name / "logfile.pdf").read_bytes().startswith(b"%PDF")
    reference = cli_reference(root, "particles", paths["particles_1"], paths["particles_2"], "--min-dist", "40")
    assert kept_rows(root / name / "particles_kept.star") == kept_rows(reference / "particles_kept.star")
    assert (root / name / "run.err").read_text() == ""


def test_relion31_registers_each_inputs_own_files_where_the_columns_differ(tmp_path):
    # Issue 64 item 1 in RELION 3.1 itself: a Refine3D set and one without half-sets are written
    # each to its own files; those are the job's nodes in default_pipeline.star, and the combined
    # files (not written, not even left by an earlier run in the same job folder) are none.
    from fixtures.refined_and_picks import UNSPLIT, refined_and_unsplit

    project = refined_and_unsplit(tmp_path)
    (tmp_path / "default_pipeline.star").write_text(EMPTY_RELION_PIPELINE)
    stale = tmp_path / "External/job001/particles_kept.star"  # an earlier run's, of inputs of one set of columns
    stale.parent.mkdir(parents=True)
    stale.write_bytes((tmp_path / UNSPLIT).read_bytes())
    name, status = add_and_run(
        tmp_path,
        f"fn_exe == cryodedup-relion;in_part == {project.refined};in_mic == {project.micrographs};"
        f"param1_label == in_parts2;param1_value == {UNSPLIT};param2_label == min_dist;param2_value == 30;"
        "param3_label == plot;param3_value == no;",
    )
    assert name == "External/job001/" and status == SUCCESS, (tmp_path / name / "run.err").read_text()
    written = sorted(p.name for p in (tmp_path / name).glob("particles_*_*.star"))
    assert written == [f"particles_{s}_{n}.star" for s in ("kept", "rejected") for n in ("particles", "run_data")]
    nodes = {node: kind for node, kind in pipeline_nodes(tmp_path).items() if node.startswith(name)}
    assert nodes == {f"{name}{file}": 3 for file in written}
    # Every kept row is its input's row, byte for byte (the oracle: the rows as the fixture wrote them).
    assert set(kept_rows(tmp_path / name / "particles_kept_run_data.star")) <= set(project.refined_rows)


@pytest.fixture(scope="module")
def tutorial_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("relion31_tutorial")
    return root, write_relion31_tutorial_project(root, relion_pipeliner())


def test_relion31_tutorial_project_runs_the_external_job(tutorial_project):
    # Issue 38, item 14: the route the README gives for RELION 3.1 projects, which the CCP-EM
    # pipeliner cannot open (tests/pipelines/test_ccpem.py): the External job, by relion_pipeliner.
    root, paths = tutorial_project
    class2d = (root / paths["class2d_job_star"]).read_bytes()
    assert b"_rlnJobType " in class2d and b"\a" in class2d  # RELION 3.1's job.star, with its own escape
    name, status = add_and_run(
        root,
        f"fn_exe == cryodedup-relion;in_part == {paths['particles']};in_mic == {paths['micrographs']};"
        "param1_label == min_dist;param1_value == 40;param2_label == plot;param2_value == no;",
    )
    assert name == "External/job009/" and status == SUCCESS, (root / name / "run.err").read_text()
    reference = cli_reference(
        root, "particles", paths["particles"], "--micrographs", paths["micrographs"], "--min-dist", "40"
    )
    assert kept_rows(root / name / "particles_kept.star") == kept_rows(reference / "particles_kept.star")
    assert pipeline_nodes(root)[f"{name}particles_kept.star"] == 3
    assert (root / paths["class2d_job_star"]).read_bytes() == class2d


def coordinate_rows(folder: Path) -> set[tuple[str, str]]:
    """(file, row) of every per-micrograph coordinate file under ``folder``."""
    return {
        (str(p.relative_to(folder)), line)
        for p in folder.rglob("*_autopick.star")
        for line in p.read_text().splitlines()
        if line[:1].isspace() or line[:1].isdigit()
    }


def test_relion31_runs_the_coordinate_job(relion_project):
    root, paths = relion_project
    name, status = add_and_run(
        root,
        f"fn_exe == cryodedup-relion;in_mic == {paths['micrographs']};in_coords == {paths['coordinates_1']};"
        f"param1_label == in_coords2;param1_value == {paths['coordinates_2']};param2_label == min_dist;"
        "param2_value == 40;param3_label == plot;param3_value == no;",
    )
    assert status == SUCCESS, (root / name / "run.err").read_text()
    # RELION 3.1's coordinate nodes: a coords_suffix file naming the micrographs, beside the files.
    nodes = pipeline_nodes(root)
    assert nodes[f"{name}kept/coords_suffix_autopick.star"] == 2
    assert (root / name / "kept/coords_suffix_autopick.star").read_text().strip() == paths["micrographs"]
    reference = cli_reference(root, *coordinate_merge_args(paths))
    kept = coordinate_rows(root / name / "kept")
    assert kept and kept == coordinate_rows(reference / "kept")


def test_relion31_runs_the_micrograph_job(relion_project):
    root, paths = relion_project
    name, status = add_and_run(
        root,
        f"fn_exe == cryodedup-relion;in_mic == {paths['planted_micrographs']};in_part == {paths['planted_particles']};"
        "param1_label == plot;param1_value == no;param2_label == min_z;param2_value == 8;",
    )
    assert status == SUCCESS, (root / name / "run.err").read_text()
    nodes = pipeline_nodes(root)
    assert nodes[f"{name}micrographs_kept.star"] == 1 and nodes[f"{name}particles_on_kept_micrographs.star"] == 3
    # The planted re-exposures among mic_1..mic_10 are mic_6 (of mic_4) and mic_9 (of mic_3).
    rejected = (root / name / "micrographs_rejected.star").read_text()
    assert {f"mic_{k}.mrc" for k in range(1, PIPELINE_MICROGRAPHS + 1) if f"mic_{k}.mrc " in rejected} == {
        "mic_6.mrc",
        "mic_9.mrc",
    }
    on_kept = (root / name / "particles_on_kept_micrographs.star").read_text()
    assert "mic_6.mrc" not in on_kept and on_kept.count("mic_1.mrc") == 3


def test_relion31_fails_a_bad_parameter_with_one_line(relion_project):
    root, paths = relion_project
    name, status = add_and_run(
        root,
        f"fn_exe == cryodedup-relion;in_part == {paths['particles_1']};param1_label == min_dist;param1_value == abc;",
    )
    assert status == FAILURE and (root / name / "RELION_JOB_EXIT_FAILURE").exists()
    assert (root / name / "run.err").read_text() == (
        "cryodedup-relion: error: Invalid value for '--min-dist': 'abc' is not a valid float.\n"
    )
    assert not any(n.startswith(name) for n in pipeline_nodes(root))


def test_relion31_abort_stops_the_job_cleanly(relion_project):
    root, paths = relion_project
    # The user presses Abort as the job starts: RELION writes RELION_JOB_ABORT_NOW into its folder.
    name, status = add_and_run(
        root, f"fn_exe == touch JOB/RELION_JOB_ABORT_NOW && cryodedup-relion;in_part == {paths['particles_1']};"
    )
    assert status == ABORTED and (root / name / "RELION_JOB_EXIT_ABORTED").exists()
    assert not (root / name / "particles_kept.star").exists()
    assert not any(n.startswith(name) for n in pipeline_nodes(root))
    assert (root / name / "run.err").read_text() == ""


def test_the_job_command_has_its_signal_handlers_before_the_command_line_loads(tmp_path):
    # Issue 38: the job ran `python -m cryodedup.cli`, whose handlers came after click, numpy and
    # the extension loaded; a queue's SIGINT to the job's group then put a KeyboardInterrupt
    # traceback into run.out. The command must reach the handlers' test point before any of that.
    env = {**os.environ, "CRYODEDUP_TEST_PAUSE": "starting"}
    run = subprocess.Popen(
        [*job_types.cli_program(), "--version"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=tmp_path
    )
    assert run.stderr is not None
    first = run.stderr.readline().decode()  # the pause says so on stderr; a command that never pauses ends
    if "paused at starting" in first:
        run.send_signal(signal.SIGINT)
    _, rest = run.communicate(timeout=60)
    said = first + rest.decode()
    assert "paused at starting" in first, said
    assert run.returncode == 128 + signal.SIGINT and "Traceback" not in said, said
    assert said.strip().splitlines()[-1].startswith("Stopped by SIGINT"), said


@pytest.mark.parametrize(
    ("params", "job", "tail"),
    [
        ([("mic_psize", ["3.54"]), ("insist_psize", ["yes"])], "particles", ["--mic-psize", "3.54", "--insist-psize"]),
        ([("psize", ["1.37"]), ("insist_psize", ["yes"])], "micrographs", ["--psize", "1.37", "--insist-psize"]),
        ([("psize", ["1.37"]), ("insist_psize", ["no"])], "micrographs", ["--psize", "1.37"]),
    ],
)
def test_the_external_job_insists_on_a_pixel_size_for_either_job(params, job, tail):
    # Issue 54 item 1: --insist-psize is declared once, for both jobs; the other parameter names the job.
    p = plan(ExternalCall("E/", {"parts": ["P.star"], "mics": ["M.star"]}, params))
    assert p.job == job and p.args[-len(tail) :] == tail


def test_the_micrograph_jobs_pictures_are_found_among_its_outputs_for_logfile_pdf():
    # Issue 92: the micrograph job's document names its pictures as an outputs subset (``plots``), not a key
    # of its own; logfile.pdf gathers them from there (before: none found, no logfile.pdf declared).
    micrographs = {"outputs": {"pairs": ["J/pairs.csv"], "plots": ["J/z_distribution.png", "J/report.html"]}}
    assert pictures_of(micrographs) == [Path("J/z_distribution.png")]
    particles = {"outputs": {"kept": ["J/k.star"], "plots": ["J/counts.png", "J/report.html"]}}
    assert pictures_of(particles) == [Path("J/counts.png")]
