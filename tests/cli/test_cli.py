"""The ``cryodedup`` command line: exit codes, messages, and that bad input writes nothing."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.cli_run import numpy_huge_pages
from helpers import star_text, write_star

P31 = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
OPTICS = [[1, "og1", 2.0, 1.0]]
GOOD_ROWS = [[1000, 1000, "m.mrc", 1, 0.5], [1010, 1000, "m.mrc", 1, 0.7], [3000, 3000, "m.mrc", 1, 0.1]]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def good(tmp_path):
    return write_star(tmp_path / "good.star", P31, GOOD_ROWS, optics=OPTICS)


def test_runs_and_prints_a_summary(tmp_path, good):
    result = cli("particles", good, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Particles in" in result.stderr and "Rejected" in result.stderr
    assert (tmp_path / "out" / "particles_kept.star").exists()


def test_json_and_quiet(tmp_path, good):
    result = cli("particles", good, "-o", tmp_path / "out", "--json", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert (summary["particles"], summary["kept"], summary["rejected"]) == (3, 2, 1)
    assert summary["score"] == {"column": "rlnAutopickFigureOfMerit", "order": "max"}


def bad_input(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


CASES = {
    "missing file": (lambda t: t / "nope.star", [], r"nope.star: file not found"),
    "empty file": (lambda t: bad_input(t, "e.star", ""), [], r"e.star: the file is empty"),
    "no particle block": (
        lambda t: bad_input(t, "o.star", star_text(["a"], [[1]], block="one") + star_text(["b"], [[1]], block="two")),
        [],
        r"o.star: no particle block found .*blocks present: data_one, data_two",
    ),
    "wrong field count": (
        lambda t: bad_input(t, "f.star", star_text(P31, [*GOOD_ROWS, [1, 2, "m.mrc", 1]], optics=OPTICS)),
        [],
        r"f.star: line {line_of '1 2 m.mrc 1'}: row has 4 fields, expected 5",
    ),
    "non-numeric coordinate": (
        lambda t: bad_input(t, "n.star", star_text(P31, [*GOOD_ROWS, ["12a", 2, "m.mrc", 1, 0.2]], optics=OPTICS)),
        [],
        r"n.star: line {line_of '12a 2 m.mrc 1 0.2'}: column rlnCoordinateX holds \"12a\", expected a number",
    ),
    "missing coordinates": (
        lambda t: bad_input(t, "c.star", star_text(P31[1:], [r[1:] for r in GOOD_ROWS], optics=OPTICS)),
        [],
        r"c.star: data_particles \(line \d+\): no rlnCoordinateX column",
    ),
    "missing micrograph name": (
        lambda t: bad_input(
            t, "m.star", star_text(P31[:2] + P31[3:], [r[:2] + r[3:] for r in GOOD_ROWS], optics=OPTICS)
        ),
        [],
        r"m.star: data_particles \(line \d+\): no rlnMicrographName column",
    ),
    "no micrograph pixel size": (
        lambda t: bad_input(
            t,
            "p.star",
            star_text(
                P31,
                GOOD_ROWS,
                optics=[[1, "og1", 2.0]],
                optics_labels=["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize"],
            ),
        ),
        [],
        r"p.star: .*no micrograph pixel size .*--mic-psize",
    ),
    "negative distance": (
        lambda t: write_star(t / "g.star", P31, GOOD_ROWS, optics=OPTICS),
        ["--min-dist", "-5"],
        r"--min-dist must be a distance in Å from 0 to 1e150 .*, got -5",
    ),
    "unknown score": (
        lambda t: write_star(t / "g.star", P31, GOOD_ROWS, optics=OPTICS),
        ["--score", "rlnFoo"],
        r"unknown score column 'rlnFoo'; score columns present: rlnAutopickFigureOfMerit$",
    ),
}


#: The cases that are an option's value refused: a usage error, status 2 as click's own refusals.
OPTION_CASES = {
    "negative distance",
    "--min-z nan",
    "--lowpass nan",
    "--highpass below --lowpass",
    "--target-psize 0",
    "--psize negative",
    "--psize nan",
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_a_message(tmp_path, case):
    make, extra, message = CASES[case]
    path = make(tmp_path)
    if "{line_of" in message:  # the line number, counted here from the file's text
        wanted = message.split("{line_of '")[1].split("'}")[0]
        line = path.read_text().splitlines().index(wanted) + 1
        message = message.replace(f"{{line_of '{wanted}'}}", str(line))
    result = cli("particles", path, "-o", tmp_path / "out", *extra)
    assert result.exit_code == (2 if case in OPTION_CASES else 1), result.output  # (2: click's usage error)
    assert result.stderr.startswith("Error: ")
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_existing_outputs_need_force(tmp_path, good):
    assert cli("particles", good, "-o", tmp_path / "out").exit_code == 0
    kept = tmp_path / "out" / "particles_kept.star"
    kept.write_text("precious")
    result = cli("particles", good, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "already exists; use --force" in result.stderr
    assert kept.read_text() == "precious"
    assert cli("particles", good, "-o", tmp_path / "out", "--force").exit_code == 0
    assert kept.read_text() != "precious"


def test_windows_line_endings_are_accepted(tmp_path):
    path = write_star(tmp_path / "w.star", P31, GOOD_ROWS, optics=OPTICS, newline="\r\n")
    result = cli("particles", path, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] == 1
    kept = (tmp_path / "out" / "particles_kept.star").read_bytes()
    assert b"1010 1000 m.mrc 1 0.7\r\n" in kept and b"3000 3000 m.mrc 1 0.1\r\n" in kept


def test_usage_errors_exit_2(tmp_path, good):
    assert cli("particles", good).exit_code == 2  # no -o
    assert cli("particles", good, "-o", tmp_path, "--score-order", "up").exit_code == 2


def test_installed_entry_point_and_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", "demo", str(tmp_path / "demo"), "--json"],
        capture_output=True,
        text=True,
        check=False,  # the assert below shows stderr when it fails
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["particles"] == 471 and 0 < summary["rejected"] < summary["particles"]
    assert (tmp_path / "demo" / "result" / "particles_kept.star").exists()
    # The example is two pickers' particles, each extracted by its own job: no image is in it twice,
    # so the first run a user makes warns of nothing.
    assert "Warning" not in result.stderr, result.stderr
    assert summary["same_image"]["images_kept_twice"] == 0


def test_the_demo_says_its_example_has_no_micrograph_images(tmp_path):
    # It told a new user to give --project-dir, which the demo has not and which finds nothing.
    result = cli("demo", tmp_path / "demo", "--plot", "--json")
    assert result.exit_code == 0, result.output
    note = "the example has no micrograph images: its pictures draw the picks on a blank frame"
    assert json.loads(result.stdout)["micrograph_images"] == note
    assert "blank frame" in result.stderr and "--project-dir" not in result.stderr, result.stderr


def test_the_examples_images_are_each_named_once():
    import starfile

    from cryodedup.cli import EXAMPLES

    names = []
    for picker in ("log", "template"):
        names += list(starfile.read(EXAMPLES / f"particles_{picker}.star")["particles"]["rlnImageName"])
    images = {(int(name.split("@")[0]), name.split("@")[1]) for name in names}
    assert len(images) == len(names) == 471


def test_inputs_are_told_apart_and_paths_are_never_cut(tmp_path):
    # Two particles.star of different jobs, deep enough that paths pass 80 columns.
    deep = tmp_path / ("a_rather_long_project_folder_name_" * 3) / "Select"
    files = []
    for job in ("job020", "job021"):
        (deep / job).mkdir(parents=True)
        files.append(write_star(deep / job / "particles.star", P31, GOOD_ROWS, optics=OPTICS))
    out = deep / "Dedup" / "job030"
    for columns in ("80", "40"):  # a pipe (80 columns) and a narrow terminal
        result = CliRunner(env={"COLUMNS": columns}).invoke(
            main, ["particles", *map(str, files), "-o", str(out), "--force"]
        )
        assert result.exit_code == 0, result.output
        assert "job020/particles.star" in result.stderr and "job021/particles.star" in result.stderr
        assert str(out / "particles_kept.star") in result.stderr, result.stderr


def test_demo_command_pastes_into_a_shell(tmp_path):
    outdir = tmp_path / "my demo [1]"
    result = cli("demo", outdir)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Running: ")]
    args = shlex.split(line.removeprefix("Running: "))
    assert args[:2] == ["cryodedup", "particles"]
    assert args[2:4] == [
        str(outdir / "input" / "particles_log.star"),
        str(outdir / "input" / "particles_template.star"),
    ]
    assert args[args.index("-o") + 1] == str(outdir / "result")
    assert args[args.index("--micrographs") + 1] == str(outdir / "input" / "micrographs_ctf.star")


def test_demo_runs_twice_and_prints_its_force(tmp_path):
    outdir = tmp_path / "demo"

    def printed(result):
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("Running: ")]
        return shlex.split(line.removeprefix("Running: "))

    first = cli("demo", outdir)
    assert first.exit_code == 0, first.output
    assert "--force" not in printed(first)
    # Again: its own result replaced, and the command printed is the one run.
    again = cli("demo", outdir)
    assert again.exit_code == 0, again.output
    assert printed(again)[-1] == "--force"
    forced = cli("demo", outdir, "--force")
    assert forced.exit_code == 0 and printed(forced)[-1] == "--force"
    # Input files that are no longer the example's: the folder is the user's, its result kept.
    with (outdir / "input" / "particles_log.star").open("a") as f:
        f.write("# edited\n")
    edited = cli("demo", outdir)
    assert edited.exit_code == 1 and "already exists; use --force" in edited.output


def test_seed_help_and_plot_message(tmp_path, good, monkeypatch):
    help_text = cli("particles", "--help").output
    assert "non-negative integer" in help_text and "18446744073709551615" not in help_text
    # --min-dist takes NAME=Å pairs too: its help says so, not FLOAT (a new user).
    assert "Å|NAME=Å,..." in help_text
    assert cli("particles", good, "-o", tmp_path / "out", "--seed", "-1").exit_code == 2
    # Without Pillow, --plot says how to get it, brackets and all.
    import cryodedup.outputs

    real = cryodedup.outputs.importlib.util.find_spec
    monkeypatch.setattr(
        cryodedup.outputs.importlib.util, "find_spec", lambda name, *a: None if name == "PIL" else real(name, *a)
    )
    result = cli("particles", good, "-o", tmp_path / "out", "--plot")
    assert result.exit_code == 1
    assert "pip install 'cryodedup[plot]'" in result.stderr, result.stderr
    # ... and from a clone of the source, where the PyPI name is not the package's folder.
    assert "in a clone of the source: pip install '.[plot]'" in result.stderr, result.stderr


# --- issue 11: bad input is one line, status 1, no output, inputs unchanged -------------------------------------

PARTICLE_LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"]


def _particles(folder, rows=(("100", "100"), ("110", "100"), ("900", "900")), name="p.star", **kw):
    table = [[x, y, "m.mrc", 1] for x, y in rows]
    return write_star(folder / name, PARTICLE_LABELS, table, optics=OPTICS, **kw)


def _cs(folder, edit=None, name="p.cs"):
    import numpy as np

    from fixtures.synthetic import cs_particles, write_cs

    records = cs_particles(np.random.default_rng(0), 50)
    records = edit(records) if edit else records
    write_cs(folder / name, records)
    return folder / name


def _mrcs(folder, edit=None, dtype="float32", shape=(128, 128)):
    import numpy as np

    from fixtures.synthetic import write_mrc

    paths = []
    for k in range(2):
        image = np.random.default_rng(k).normal(size=shape).astype(np.float32)
        path = folder / f"mic_{k}.mrc"
        write_mrc(path, image, 4.0, dtype=dtype)
        paths.append(path)
    if edit:
        edit(paths[1])
    return paths


def _two_blocks(folder):
    text = star_text(PARTICLE_LABELS, [[1, 1, "m.mrc", 1]], optics=OPTICS)
    path = folder / "p.star"
    path.write_text(text + star_text(PARTICLE_LABELS, [[5, 5, "m.mrc", 1]]))
    return ["particles", path]


def _nan_pixels(path):
    import mrcfile

    with mrcfile.open(path, "r+") as mrc:
        mrc.data[10, :10] = float("nan")


def _csg(folder, metafile):
    cs = _cs(folder)
    (folder / "p.csg").write_text(
        "created: 2024-01-01\ngroup:\n  name: particles\n  title: Particles\n  type: particle\n  description: x\n"
        f"results:\n  blob:\n    metafile: {metafile}\n    num_items: 50\n    type: particle.blob\n"
    )
    return cs


def _write(path, text):
    path.write_text(text)
    return path


def _fifo(folder):
    os.mkfifo(folder / "p.star")
    return ["particles", folder / "p.star"]


BAD_INPUTS = {
    # Tracebacks listed in issue 11, and items 3, 9, 11, 12.
    "nan coordinate": (
        lambda d: ["particles", _particles(d, [("nan", "100"), ("5", "5")])],
        r"p\.star: particle 1 has no finite centre",
    ),
    "inf coordinate": (
        lambda d: ["particles", _particles(d, [("5", "5"), ("inf", "100")])],
        r"p\.star: particle 2 has no finite centre",
    ),
    "coordinate overflowing when scaled": (
        # (10 Å contradicts the file's 1 Å: insisted on, to reach the centres)
        lambda d: ["particles", _particles(d, [("1e308", "1"), ("5", "5")]), "--mic-psize", "10", "--insist-psize"],
        r"particle 1 has no finite centre",
    ),
    "nan center_x_frac": (
        lambda d: ["particles", _cs(d, lambda r: (r.__setitem__("location/center_x_frac", float("nan")), r)[1])],
        r"p\.cs: particle 1 has no finite centre",
    ),
    "micrograph_shape 0 x 0": (
        lambda d: ["particles", _cs(d, lambda r: (r.__setitem__("location/micrograph_shape", (0, 0)), r)[1])],
        r"location/micrograph_shape \[0, 0\]",
    ),
    "a uid twice in a .cs": (
        lambda d: ["particles", _cs(d, lambda r: (r.__setitem__("uid", 7), r)[1])],
        r"p\.cs: uid 7 is held by 50 rows",
    ),
    "2-D structured .cs": (
        lambda d: ["particles", _cs(d, lambda r: r.reshape(5, 10))],
        r"p\.cs: a 5x10 array of named fields",
    ),
    ".csg metafile a number": (lambda d: ["particles", _csg(d, "42").with_suffix(".csg")], r"metafile entry is 42"),
    ".csg metafile outside its folder": (
        lambda d: ["particles", _csg(d, "'>../elsewhere.cs'").with_suffix(".csg")],
        r"metafile '>\.\./elsewhere\.cs' lies outside the folder of the \.csg",
    ),
    "two data_particles blocks": (_two_blocks, r"p\.star: 2 data_particles blocks"),
    "duplicate column label": (
        lambda d: [
            "particles",
            write_star(d / "p.star", [*PARTICLE_LABELS, "rlnMicrographName"], [[1, 1, "a", 1, "b"]], optics=OPTICS),
        ],
        r"label _rlnMicrographName is listed twice, as column 3 and column 5",
    ),
    "the same input twice": (
        lambda d: ["particles", _particles(d), d / "." / "p.star"],
        r"the same file as the input",
    ),
    "a quoted pattern of particle STARs": (
        lambda d: ["particles", (_particles(d, name="a.star"), _particles(d, name="b.star"), f"{d}/*.star")[-1]],
        r"a\.star: a particle STAR .* give each particle STAR as an input of its own, or the pattern without quotes",
    ),
    "an EPU XML as particles": (
        lambda d: ["particles", _write(d / "FoilHole_1_Data_2.xml", "<MicroscopeImage/>")],
        r"FoilHole_1_Data_2\.xml: microscope metadata \(EPU \.xml or SerialEM \.mdoc\), not particles or picks; "
        r"it is read by `cryodedup micrographs --metadata`",
    ),
    "a SerialEM mdoc as a micrograph": (
        lambda d: ["micrographs", _write(d / "m.tif.mdoc", "[ZValue = 0]\n"), *_mrcs(d)],
        r"m\.tif\.mdoc: microscope metadata .*, not a micrograph image; it is read by `cryodedup micrographs",
    ),
    "a FIFO as input": (_fifo, r"p\.star: is a named pipe \(FIFO\), expected a particle or coordinate file"),
    "a FIFO as a picker file": (
        lambda d: (os.mkfifo(d / "m1.box"), ["particles", d / "m1.box", "--mic-psize", "1"])[1],
        r"m1\.box: is a named pipe \(FIFO\)",
    ),
    "--min-z nan": (lambda d: ["micrographs", *_mrcs(d), "--min-z", "nan"], r"--min-z must be a finite number"),
    "--lowpass nan": (lambda d: ["micrographs", *_mrcs(d), "--lowpass", "nan"], r"--lowpass must be a finite number"),
    "--highpass below --lowpass": (
        lambda d: ["micrographs", *_mrcs(d), "--lowpass", "40", "--highpass", "20"],
        r"--highpass \(20\.0 Å, the coarsest detail used\) must be above --lowpass",
    ),
    "--target-psize 0": (lambda d: ["micrographs", *_mrcs(d), "--target-psize", "0"], r"--target-psize must be"),
    "--psize negative": (lambda d: ["micrographs", *_mrcs(d), "--psize", "-1"], r"--psize must be a finite number"),
    "--psize nan": (lambda d: ["micrographs", *_mrcs(d), "--psize", "nan"], r"--psize must be a finite number"),
    "--bin 100000": (lambda d: ["micrographs", *_mrcs(d), "--bin", "100000"], r"leaves fewer than 8 x 8 pixels"),
    "4 x 4 images": (
        lambda d: ["micrographs", *_mrcs(d, shape=(4, 4)), "--bin", "1"],
        r"binning 4 x 4 pixel images by 1 leaves fewer than 8 x 8",
    ),
    "MRC mode 0 with NaN-free int8 is read": (
        lambda d: [
            "micrographs",
            *_mrcs(d, dtype="int8"),
            "--bin",
            "1",
            "--lowpass",
            "12",
            "--min-z",
            "1e9",
            "--particles",
            d / "missing.star",
        ],
        r"missing\.star: file not found",
    ),
    "complex MRC": (
        lambda d: ["micrographs", *_mrcs(d, dtype="complex64"), "--bin", "1"],
        r"mic_0\.mrc: complex pixels \(MRC mode 4\)",
    ),
    "NaN pixels": (
        lambda d: ["micrographs", *_mrcs(d, edit=_nan_pixels), "--bin", "1"],
        r"mic_1\.mrc: holds NaN or infinite pixels",
    ),
    "a bad --particles found before scoring": (
        lambda d: ["micrographs", *_mrcs(d), "--bin", "1", "--particles", write_star(d / "q.star", ["rlnX"], [[1]])],
        r"q\.star: no particle table with rlnMicrographName",
    ),
    "MRC header warnings as one line": (
        lambda d: ["micrographs", *_mrcs(d, edit=lambda p: p.write_bytes(p.read_bytes()[:1100])), "--bin", "1"],
        r"mic_1\.mrc: .*",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_status_1_or_2_and_writes_nothing(tmp_path, case):
    build, message = BAD_INPUTS[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    args = build(inputs)
    before = {p: p.read_bytes() for p in inputs.iterdir() if p.is_file()}
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "cryodedup.cli", *map(str, args), "-o", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stderr.strip().splitlines() if not line.startswith("Warning: ")]
    assert run.returncode == (2 if case in OPTION_CASES else 1), run.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), run.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists(), sorted(out.rglob("*"))
    assert {p: p.read_bytes() for p in inputs.iterdir() if p.is_file()} == before


def test_a_run_asks_numpy_for_no_huge_pages(tmp_path, monkeypatch):
    # Huge pages cost the kernel a compaction each once the page cache fills the memory
    # (benches/RESULTS.md): a run turns them off for its process, unless the environment says.
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    numpy_huge_pages(True)
    try:
        CliRunner().invoke(main, ["particles", str(tmp_path / "missing.star"), "-o", str(tmp_path / "out")])
        assert numpy_huge_pages(True) is False
    finally:
        numpy_huge_pages(True)


def _modules_of_quiet_run(inputs: list[Path], out: Path) -> set[str]:
    """The modules a ``cryodedup particles INPUTS --quiet`` run loaded, in a fresh interpreter."""
    script = (
        "import sys\nfrom cryodedup.cli import main\n"
        f"sys.argv = ['cryodedup', 'particles', *{[str(p) for p in inputs]!r}, '-o', {str(out)!r}, '--quiet']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return set(done.stdout.split())


def test_a_quiet_star_job_imports_only_what_it_runs(tmp_path):
    # Start-up is a fixed cost of every run (issue 29): a STAR job run with --quiet must not
    # load rich (nothing printed), the other formats' readers or the API, nor numpy.ma
    # (numpy's plain unique imports it: 5-15 ms) and the thread pools of --plot.
    from fixtures.synthetic import write_benchmark_file

    star = tmp_path / "p.star"
    write_benchmark_file(star, 500, seed=0)
    loaded = _modules_of_quiet_run([star], tmp_path / "out")
    assert (tmp_path / "out" / "particles_kept.star").exists()
    assert "cryodedup.formats.star.particles" in loaded  # the job did run
    never = {"rich", "cryodedup.formats.cryosparc.particles", "cryodedup.formats.picks.particles", "cryodedup.api"}
    never |= {"numpy.ma", "concurrent.futures", "matplotlib"}
    assert not never & loaded


#: What a run of one input has no use for (issue 66, item 3): the registration of several inputs'
#: frames, and the summary's sections of analyses that did not run. Each frozen dataclass costs
#: ~1 ms to create (4 M instructions); together they made a 1,000-particle run's start-up 7 % slower.
ONE_INPUT_NEVER = {
    "cryodedup.jobs.registration",
    "cryodedup.algo.registration",
    "cryodedup.algo.registration_fit",
    "cryodedup.algo.consensus",
    "cryodedup.report.sections.registration",
    "cryodedup.report.sections.consensus",
    "cryodedup.report.sections.priority",
    "cryodedup.report.sections.filaments",
    "cryodedup.report.sections.species",
    "cryodedup.report.sections.update",
    "cryodedup.report.micrograph_sections",
}


def test_a_one_input_run_loads_no_registration_nor_the_sections_of_analyses_not_run(tmp_path):
    from fixtures.synthetic import write_benchmark_file

    star, second = tmp_path / "p.star", tmp_path / "q.star"
    write_benchmark_file(star, 500, seed=0)
    loaded = _modules_of_quiet_run([star], tmp_path / "one")
    assert "cryodedup.report.sections.density" in loaded  # the job did summarise
    assert not ONE_INPUT_NEVER & loaded, sorted(ONE_INPUT_NEVER & loaded)
    # The control: two inputs do load the registration (the names above are the modules it takes).
    write_benchmark_file(second, 500, seed=1)
    both = _modules_of_quiet_run([star, second], tmp_path / "two")
    assert {"cryodedup.jobs.registration", "cryodedup.algo.consensus", "cryodedup.report.sections.consensus"} <= both


def _command_line(args: list[str], cwd) -> tuple[subprocess.CompletedProcess, set[str]]:
    """``cryodedup ARGS`` as the installed command runs it (cryodedup.entry), and the modules it loaded."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sorted(sys.modules))))\n"
        f"sys.argv = ['cryodedup', *{args!r}]\n"
        "from cryodedup.entry import main\nmain()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=False)
    return done, set(done.stdout.split())


@pytest.mark.parametrize("quiet", [True, False])
def test_a_job_on_the_command_line_loads_no_rich(tmp_path, quiet):
    # rich draws help, click's errors and the summary on a terminal; a job's run from a script
    # (stderr a pipe) needs none of them: the summary is drawn without rich (report/terminal.py).
    from fixtures.synthetic import write_benchmark_file

    write_benchmark_file(tmp_path / "p.star", 500, seed=0)
    done, loaded = _command_line(["particles", "p.star", "-o", "out", *(["--quiet"] if quiet else [])], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "particles_kept.star").exists()
    assert "cryodedup.formats.star.particles" in loaded  # the job did run
    assert "rich_click" in loaded and not {m for m in loaded if m.split(".")[0] == "rich"}
    assert ("│ Kept files            │ out/particles_kept.star" in done.stderr) is not quiet


@pytest.mark.parametrize("kind", ["star", "cs"])
def test_a_particle_job_loads_neither_the_micrograph_job_nor_the_other_formats(tmp_path, kind):
    # A format's modules load when a file of that format is read, a job's when it runs.
    from fixtures.synthetic import write_benchmark_file

    if kind == "star":
        write_benchmark_file(tmp_path / "p.star", 500, seed=0)
    else:
        _cs(tmp_path)
    done, loaded = _command_line(["particles", f"p.{kind}", "-o", "out", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / f"particles_kept.{kind}").exists()
    never = {"cryodedup.jobs.micrographs"}
    if kind == "star":
        never |= {"cryodedup.formats.cryosparc.dataset", "cryodedup.formats.cryosparc.exposures"}
    else:
        never |= {
            "cryodedup.formats.star.file",
            "cryodedup.formats.star.micrographs",
            "cryodedup.formats.star.particles",
        }
    assert not never & loaded


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["particles", "p.star", "-o", "out", "--min-dist", "abc"],  # a bad value
        ["particles", "p.star", "--no-such-flag", "-o", "out"],  # an unknown option
        ["particles", "p.star"],  # no -o (the command's own check)
        ["nosuchcommand"],
        ["particles", "p.star", "-o", "out", "-qh"],  # help in a cluster of short flags
        ["micrographs", "--help"],
        ["micrographs", "p.star", "--window", "0"],  # the options of a command other than particles
        ["--", "particles", "p.star", "-o", "out", "--min-dist", "abc"],  # the command after "--"
        ["micrographs-merge", "-o", "out"],  # no SHARD_DIRS
        ["demo", "--plott"],
    ],
)
def test_what_click_says_is_drawn_by_rich_click_as_before(tmp_path, args):
    # The oracle: cryodedup.cli imported as a library does, which declares its commands with rich-click.
    from fixtures.synthetic import write_benchmark_file

    write_benchmark_file(tmp_path / "p.star", 50, seed=0)
    env = {**os.environ, "COLUMNS": "100"}
    oracle = f"from cryodedup.cli import main\nmain(args={args!r}, prog_name='python -m cryodedup')"
    rich = subprocess.run([sys.executable, "-c", oracle], cwd=tmp_path, env=env, capture_output=True, check=False)
    ours = subprocess.run(
        [sys.executable, "-m", "cryodedup", *args], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert rich.returncode == ours.returncode
    assert (rich.stdout, rich.stderr) == (ours.stdout, ours.stderr)
    assert (rich.stdout + rich.stderr).strip()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Found by the barrage and a new user (2026-11-26): '' was read as the current folder
        # (every coordinate file in it merged); a folder of micrographs got click's "is a directory".
        (["particles", "", "--mic-psize", "1"], "an input is empty (''): give a file, a folder or a pattern"),
        (["micrographs", "mics"], "mics is a folder: give its micrographs ('mics/*.mrc', quoted), or a micrographs"),
    ],
)
def test_inputs_that_name_no_file_are_refused_with_what_to_give(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mics").mkdir()
    result = CliRunner().invoke(main, [*args, "-o", "out"])
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["particles", "x.star", "--min-dst", "5", "-o", "o"],
            "No such option '--min-dst'. (Did you mean one of: '--min-dist'",
        ),
        (
            ["particles", "x.star", "--min-dist", "abc", "-o", "o"],
            "Invalid value for '--min-dist': 'abc' is not a valid float.",
        ),
        (["partcles", "x.star"], "No such command 'partcles'. (Did you mean one of: 'particles', 'particles-merge'?)"),
        # An input's pixel size is INPUT=Å (it said NAME=Å, the species' form), and the sentence ends before "Try".
        (
            ["particles", "x.star", "--mic-psize", "1.06,x", "-o", "o"],
            "--mic-psize takes Å or INPUT=Å, got 'x'. Try '",
        ),
    ],
)
def test_a_usage_error_is_one_line_with_its_suggestion(args, said):
    # The installed command, as a user meets it (click's CliRunner does not go through main's exit).
    done = subprocess.run([sys.executable, "-m", "cryodedup", *args], check=False, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], done.stderr
    assert lines[0].endswith("-h' for help.")


@pytest.mark.parametrize("command", ["particles", "micrographs"])
def test_short_help_shows_the_options_most_runs_need_and_long_help_every_one(command):
    from cryodedup import commands

    declared = getattr(commands, command.upper())
    short, full = cli(command, "-h"), cli(command, "--help")
    assert short.exit_code == 0 and full.exit_code == 0
    assert len(short.output.splitlines()) < 60
    every = [next(f for f in flag.flags if f.startswith("--")) for flag in declared.options]
    for flag in every:
        shown = re.search(rf"^  (-\w, )?{flag}\b", short.output, re.MULTILINE) is not None
        assert (flag in declared.essentials) == shown, flag
        assert flag in full.output
    assert f"{len(every) - len(declared.essentials)} more options" in short.output


# An option's value refused by click (a type, a range, a choice) or by the options' own checks (a range
# click cannot state, options that do not go together): both a usage error, status 2 (a user's trial
# found 1 for the second kind). An input that cannot be read stays 1.
USAGE_ERRORS = [
    (["particles", "{star}", "-o", "{out}", "--min-dist", "abc"], "Invalid value for '--min-dist'"),
    (["particles", "{star}", "-o", "{out}", "--min-dist", "-5"], "--min-dist must be a distance"),
    (["particles", "{star}", "-o", "{out}", "--sym", "C99999999999", "--max-angle", "5"], "from 1 to 999"),
    (["particles", "{star}", "-o", "{out}", "--shard", "0/3"], "--shard '0/3': expected K/N"),
    (["particles", "{star}", "-o", "{out}", "--score-normalize", "rank", "--score", "none"], "drop one"),
    (["micrographs", "{star}", "-o", "{out}", "--bin", "0"], "--bin must be a whole number"),
    (["micrographs", "{star}", "-o", "{out}", "--shard", "5/3"], "--shard '5/3'"),
    (["compare", "{star}", "--radius", "-1"], "--radius must be a distance"),
    (["compare", "{star}"], "compare takes two inputs"),
]


@pytest.mark.parametrize(("args", "said"), USAGE_ERRORS, ids=[" ".join(a[3:] or a[:2]) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_status_2_whoever_refuses_them(tmp_path, args, said):
    star = write_star(tmp_path / "g.star", P31, GOOD_ROWS, optics=OPTICS)
    if args[0] == "compare" and "--radius" in args:
        args = [args[0], "{star}", "{star}", *args[2:]]
    given = [a.format(star=star, out=tmp_path / "out") for a in args]
    result = cli(*given)
    assert result.exit_code == 2, result.output
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_an_input_not_found_stays_status_1(tmp_path):
    result = cli("particles", tmp_path / "nowhere.star", "-o", tmp_path / "out")
    assert result.exit_code == 1 and "file not found" in result.stderr, result.stderr
