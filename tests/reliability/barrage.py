"""A barrage of bad, extreme and hostile inputs through the ``cryodedup`` command line.

Each case writes its inputs into a folder of its own, runs the CLI as a subprocess with a
time limit (``--timeout``, 10 s) and a memory limit (RLIMIT_AS, ``--memory-gb``, 4 GB), and
checks what a user must be able to count on (issue 11):

- traceback: a Python traceback, a Rust panic, or a crash (killed by a signal, exit > 2);
- hang: still running at the time limit;
- OOM: a MemoryError, a failed allocation, or killed for memory;
- changed input: a file of the case's input folder differs (SHA-256) after the run;
- partial output: a temporary file, a backup or a lock file left in the output folder, half
  of a kept/rejected pair, or any output at all after a failed run;
- unclear error: a failed run whose stderr is not one ``Error: ...`` line (click's usage
  errors, status 2, count as clear);
- wrong result: a case's own check of what the run must have done (``expect``; issue 38's
  store and path cases, ``tests/reliability/barrage_store.py``: a damaged store refused and rebuilt by
  ``--force``, nothing deleted that cryodedup did not write; the metadata cases).

Then (issue 30) real SIGINT and SIGTERM are sent to three jobs (a particle STAR of 1M rows,
a picker job of 3,000 files, ``micrographs --shard``; ``--quick``: 100k rows, 300 files):
at the four named points (``CRYODEDUP_TEST_PAUSE``) and at ``--signals`` times spread from
the moment cryodedup's handlers are in place to past the run's end, each run starting from
the previous outputs; counted are tracebacks, hangs, partial outputs (a temporary file left,
or outputs neither the previous set nor the new complete one) and status mismatches (a
status other than 0 or 128 + the signal, or a line that says other outputs than those left).
Issue 38 adds a whole ``micrographs --update`` round and a ``--watch`` loop to the sweep
(``--signal-jobs`` sweeps only the jobs whose name contains a text).

The pipeline entries' cases (issue 38, ``tests/reliability/barrage_pipelines.py``) run ``cryodedup-relion``
or ``pipeliner --run_job`` instead, and check the job's exit file and status too (``--kinds``
runs some input kinds only, without the signal sweep).

Prints a table of the counts per input kind and writes it with the command into
``--results`` (benches/RESULTS.md) when given. ``--quick`` runs one case of every few, for
the test suite.

    python tests/reliability/barrage.py                    # all cases
    python tests/reliability/barrage.py --quick            # a quarter of them
    python tests/reliability/barrage.py --results benches/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the data generator: tests/fixtures

import barrage_pipelines as pipelines  # issue 38: cryodedup-relion and the CCP-EM jobs (beside this file)
import barrage_store  # issue 38: the --update store and paths

from fixtures.shard_files import edit_pairs, edit_record
from fixtures.synthetic import cs_particles, write_benchmark_file, write_cs, write_mrc

COLUMNS = (
    *("traceback", "hang", "OOM", "changed input", "partial output", "unclear error", "wrong result"),
    *pipelines.COLUMNS,
)
KINDS = ("STAR", ".cs", ".csg", "MRC", "coordinates", "options", "metadata", *barrage_store.KINDS, *pipelines.KINDS)

LABELS = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit"]
OPTICS = "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n_rlnMicrographPixelSize #3\n1 og1 1.0\n\n"


def star(rows: list[str], labels: list[str] = LABELS, optics: str = OPTICS, block: str = "particles") -> str:
    """A particle STAR: the optics table, then ``rows`` (text lines) under ``labels``."""
    head = "".join(f"_{label} #{k + 1}\n" for k, label in enumerate(labels))
    return f"{optics}data_{block}\nloop_\n{head}" + "".join(r + "\n" for r in rows)


GOOD_ROWS = ["100 100 m1.mrc 1 0.5", "105 100 m1.mrc 1 0.7", "900 900 m1.mrc 1 0.1", "100 100 m2.mrc 1 0.2"]


@dataclass
class Case:
    """One run: its input kind, a name, and what it writes into its folder (returns the CLI arguments)."""

    kind: str
    name: str
    build: Callable[[Path], list[str]]
    # What the result must be: a problem (or None) from the output folder, the status, stderr and stdout.
    expect: Callable[[Path, int, str, str], str | None] | None = None
    # Another run of the case writes into the same folder at once; when this run is the one refused, the
    # other's outputs are not leftovers of a failure (``expect`` judges them against a fresh run's).
    shared_folder: bool = False
    # Issue 58 (tests/reliability/barrage_paths_and_names.py): what runs instead of ``python -m cryodedup``
    # (``-c`` and a script: the Python API), without ``-q`` (the summary and warnings are checked too), a signal sent
    # a while after the start (status 128 + it and its one "Stopped by" line are then right), and a
    # file size limit (RLIMIT_FSIZE: a disk that fills up midway).
    entry: tuple[str, ...] = ("-m", "cryodedup")
    quiet: bool = True
    signal_after: tuple[int, float] | None = None
    file_size_limit: int | None = None
    environment: dict[str, str] | None = None  # (CRYODEDUP_TEST_PAUSE: a signal at a named point)


CASES: list[Case] = []


def case(kind: str, name: str) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    def register(build: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(kind, name, build))
        return build

    return register


def text_case(kind: str, name: str, filename: str, content: str | bytes, *extra: str) -> None:
    """A case whose one input file holds ``content``."""

    def build(d: Path) -> list[str]:
        path = d / "in" / filename
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        job = "micrographs" if kind == "MRC" else "particles"
        return [job, str(path), *extra]

    CASES.append(Case(kind, name, build))


# --- STAR -------------------------------------------------------------------------------------------------------

P = "p.star"
text_case("STAR", "empty file", P, b"")
text_case("STAR", "binary junk", P, bytes(range(256)) * 64)
text_case("STAR", "white space only", P, "\n \n\t\n")
text_case("STAR", "no data_ block", P, "loop_\n_rlnCoordinateX\n1\n")
text_case("STAR", "UTF-8 byte-order mark", P, "\ufeff" + star(GOOD_ROWS))
text_case("STAR", "two data_particles blocks", P, star(GOOD_ROWS) + star(GOOD_ROWS, optics=""))
text_case("STAR", "duplicate column label", P, star(["1 2 m 1 0.5 m"], [*LABELS, "rlnMicrographName"]))
text_case("STAR", "NaN coordinate", P, star(["nan 100 m1.mrc 1 0.5", *GOOD_ROWS]))
text_case("STAR", "infinite coordinate", P, star(["inf -inf m1.mrc 1 0.5", *GOOD_ROWS]))
text_case(
    "STAR",
    "coordinate overflowing when scaled",
    P,
    star(["1e308 1 m1.mrc 1 0.5"]),
    "--mic-psize",
    "100",
    "--insist-psize",
)
text_case("STAR", "1e400 coordinate", P, star(["1e400 1 m1.mrc 1 0.5"]))
text_case("STAR", "no micrograph column", P, star(["1 2 1 0.5"], [LABELS[0], LABELS[1], LABELS[3], LABELS[4]]))
text_case("STAR", "row with too few fields", P, star(["1 2 m1.mrc", *GOOD_ROWS]))
text_case("STAR", "row with too many fields", P, star([*GOOD_ROWS, "1 2 m1.mrc 1 0.5 7 8"]))
text_case("STAR", "text in a number column", P, star(["abc 2 m1.mrc 1 0.5"]))
text_case("STAR", "unicode micrograph names", P, star(["1 2 ミクロ.mrc 1 0.5", "3 2 ミクロ.mrc 1 0.4"]))
text_case("STAR", "invalid UTF-8 in names", P, star(GOOD_ROWS).encode() + b"5 5 \xff\xfe.mrc 1 0.3\n")
text_case("STAR", "one line of 2 MB", P, star(GOOD_ROWS) + "#" + "x" * 2_000_000 + "\n")
text_case("STAR", "CRLF line ends", P, star(GOOD_ROWS).replace("\n", "\r\n"))
text_case("STAR", "cut in the middle of a row", P, star(GOOD_ROWS)[:-9])
text_case("STAR", "comment lines among rows", P, star([GOOD_ROWS[0], "# a note", *GOOD_ROWS[1:], "; more"]))
text_case("STAR", "header only, no rows", P, star([]))
text_case("STAR", "optics group absent from data_optics", P, star(["1 2 m1.mrc 7 0.5"]))
text_case("STAR", "pixel size 0 in optics", P, star(GOOD_ROWS, optics=OPTICS.replace("og1 1.0", "og1 0")))
text_case("STAR", "pixel size nan in optics", P, star(GOOD_ROWS, optics=OPTICS.replace("og1 1.0", "og1 nan")))
text_case("STAR", "quote never closed", P, star(['1 2 "m1.mrc 1 0.5']))
text_case("STAR", "NUL byte in the middle", P, star(GOOD_ROWS[:2]) + "\x00\n" + "\n".join(GOOD_ROWS[2:]) + "\n")


@case("STAR", "a FIFO as input")
def _fifo(d: Path) -> list[str]:
    os.mkfifo(d / "in" / P)
    return ["particles", str(d / "in" / P)]


@case("STAR", "a folder named like a STAR")
def _folder_input(d: Path) -> list[str]:
    (d / "in" / "x.star").mkdir()
    return ["particles", str(d / "in" / "x.star")]


@case("STAR", "input that does not exist")
def _missing(d: Path) -> list[str]:
    return ["particles", str(d / "in" / "gone.star")]


@case("STAR", "the same input twice")
def _twice(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    return ["particles", str(d / "in" / P), str(d / "in" / "." / P)]


@case("STAR", "spaces and unicode in the paths")
def _spaces(d: Path) -> list[str]:
    folder = d / "in" / "my data é"
    folder.mkdir()
    (folder / "part icles ü.star").write_text(star(GOOD_ROWS))
    return ["particles", str(folder / "part icles ü.star")]


@case("STAR", "an output named like the input, --force")
def _output_is_input(d: Path) -> list[str]:
    (d / "in" / "particles_kept.star").write_text(star(GOOD_ROWS))
    return ["particles", str(d / "in" / "particles_kept.star"), "--force", "-o", str(d / "in")]


@case("STAR", "a symlink to the input as output, --force")
def _symlink_output(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    (d / "out").mkdir()
    (d / "out" / "particles_rejected.star").symlink_to(d / "in" / P)
    return ["particles", str(d / "in" / P), "--force"]


@case("STAR", "an output that is a folder, --force")
def _folder_output(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    (d / "out" / "particles_rejected.star").mkdir(parents=True)
    return ["particles", str(d / "in" / P), "--force"]


@case("STAR", "a read-only output folder")
def _read_only(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    (d / "out").mkdir(mode=0o555)
    return ["particles", str(d / "in" / P), "--min-dist", "10"]


@case("STAR", "the output folder is a file")
def _outdir_file(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    (d / "out").write_text("")
    return ["particles", str(d / "in" / P)]


@case("STAR", "200k particles (extreme size)")
def _big(d: Path) -> list[str]:
    write_benchmark_file(d / "in" / P, 200_000)
    return ["particles", str(d / "in" / P)]


@case("STAR", "3000 picks at one spot")
def _dense(d: Path) -> list[str]:
    (d / "in" / P).write_text(star([f"500 500 m1.mrc 1 {k}" for k in range(3000)]))
    return ["particles", str(d / "in" / P), "--remove-entirely"]


@case("STAR", "2D and 3D inputs mixed")
def _mixed_dims(d: Path) -> list[str]:
    (d / "in" / "a.star").write_text(star(GOOD_ROWS))
    (d / "in" / "b.star").write_text(
        star(["1 2 3 m1.mrc 1 0.5"], [LABELS[0], LABELS[1], "rlnCoordinateZ", *LABELS[2:]])
    )
    return ["particles", str(d / "in" / "a.star"), str(d / "in" / "b.star")]


# --- CryoSPARC .cs ----------------------------------------------------------------------------------------------


def cs_case(name: str, edit: Callable[[np.ndarray], np.ndarray], *extra: str) -> None:
    def build(d: Path) -> list[str]:
        write_cs(d / "in" / "p.cs", edit(cs_particles(np.random.default_rng(0), 200)))
        return ["particles", str(d / "in" / "p.cs"), *extra]

    CASES.append(Case(".cs", name, build))


def _set(field: str, value: object) -> Callable[[np.ndarray], np.ndarray]:
    def edit(r: np.ndarray) -> np.ndarray:
        r[field] = value
        return r

    return edit


text_case(".cs", "empty file", "p.cs", b"")
text_case(".cs", "binary junk", "p.cs", os.urandom(4096))
text_case(".cs", "numpy magic, then junk", "p.cs", b"\x93NUMPY" + os.urandom(300))
text_case(".cs", "CSDAT magic, then junk", "p.cs", b"\x95CSDAT" + b"\x00" * 300)
text_case(".cs", "a STAR file named .cs", "p.cs", star(GOOD_ROWS))
cs_case("2-D structured array", lambda r: r.reshape(20, 10))
cs_case("one uid on every row", _set("uid", 7))
cs_case("micrograph_shape 0 x 0", _set("location/micrograph_shape", (0, 0)))
cs_case("NaN center_x_frac", _set("location/center_x_frac", np.nan))
cs_case("infinite shift", _set("alignments2D/shift", np.inf))
cs_case("pixel size 0", _set("location/micrograph_psize_A", 0.0))
cs_case("no rows", lambda r: r[:0])
cs_case("huge fractions", _set("location/center_x_frac", 3e38), "--mic-psize", "1e10")


@case(".cs", "truncated numpy .cs")
def _cut_cs(d: Path) -> list[str]:
    write_cs(d / "in" / "p.cs", cs_particles(np.random.default_rng(0), 200))
    data = (d / "in" / "p.cs").read_bytes()
    (d / "in" / "p.cs").write_bytes(data[: len(data) // 2])
    return ["particles", str(d / "in" / "p.cs")]


@case(".cs", "plain integer array")
def _ints(d: Path) -> list[str]:
    with open(d / "in" / "p.cs", "wb") as f:
        np.save(f, np.arange(10))
    return ["particles", str(d / "in" / "p.cs")]


@case(".cs", "object array (pickle)")
def _pickle(d: Path) -> list[str]:
    with open(d / "in" / "p.cs", "wb") as f:
        np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return ["particles", str(d / "in" / "p.cs")]


# --- CryoSPARC .csg ---------------------------------------------------------------------------------------------


def csg_case(name: str, text: str) -> None:
    def build(d: Path) -> list[str]:
        write_cs(d / "in" / "p.cs", cs_particles(np.random.default_rng(0), 100))
        (d / "in" / "g.csg").write_text(text)
        return ["particles", str(d / "in" / "g.csg")]

    CASES.append(Case(".csg", name, build))


csg_case("empty", "")
csg_case("not YAML", "results: [unclosed\n  - {")
csg_case("a YAML list", "- 1\n- 2\n")
csg_case("no results", "group: {name: x}\n")
csg_case("metafile a number", "results:\n  blob: {metafile: 42}\n")
csg_case("metafile null", "results:\n  blob: {metafile: null}\n")
csg_case("metafile ../ outside", "results:\n  blob: {metafile: '>../p.cs'}\n")
csg_case("metafile absolute", "results:\n  blob: {metafile: /etc/passwd}\n")
csg_case("metafile missing", "results:\n  blob: {metafile: '>gone.cs'}\n")
csg_case("metafile is the .csg", "results:\n  blob: {metafile: '>g.csg'}\n")
csg_case(
    "YAML bomb",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nresults: *d\n",
)


@case(".csg", "--force over a file the .csg lists")
def _csg_listed(d: Path) -> list[str]:
    records = cs_particles(np.random.default_rng(0), 60)
    from numpy.lib.recfunctions import repack_fields

    location = ["uid"] + [n for n in records.dtype.names if n.startswith("location/")]
    write_cs(d / "in" / "main.cs", repack_fields(records[[n for n in records.dtype.names if n not in location[1:]]]))
    write_cs(d / "in" / "particles_kept_passthrough_1.cs", repack_fields(records[location]))
    (d / "in" / "g.csg").write_text(
        "results:\n  blob: {metafile: '>main.cs'}\n  location: {metafile: '>particles_kept_passthrough_1.cs'}\n"
    )
    return ["particles", str(d / "in" / "g.csg"), "-o", str(d / "in"), "--force", "--score", "none"]


# --- MRC (the micrograph job) -----------------------------------------------------------------------------------


def mrc_case(name: str, edit: Callable[[Path], None] | None = None, *extra: str, shape=(128, 128), dtype="float32"):
    def build(d: Path) -> list[str]:
        paths = []
        for k in range(3):
            image = np.random.default_rng(k).normal(size=shape).astype(np.float32)
            write_mrc(d / "in" / f"mic_{k}.mrc", image, 4.0, dtype=dtype)
            paths.append(str(d / "in" / f"mic_{k}.mrc"))
        if edit:
            edit(d / "in" / "mic_1.mrc")
        return ["micrographs", *paths, *(extra or ("--bin", "1"))]

    CASES.append(Case("MRC", name, build))


def _nan_pixels(path: Path) -> None:
    import mrcfile

    with mrcfile.open(path, "r+") as mrc:
        mrc.data[5, :] = np.nan


mrc_case("plain (control)")
mrc_case("an empty file", lambda p: p.write_bytes(b""))
mrc_case("junk", lambda p: p.write_bytes(os.urandom(5000)))
mrc_case("cut after the header", lambda p: p.write_bytes(p.read_bytes()[:1100]))
mrc_case("cut in the data", lambda p: p.write_bytes(p.read_bytes()[:20000]))
mrc_case("NaN pixels", _nan_pixels)
mrc_case("mode 0 (int8)", dtype="int8")
mrc_case("complex (mode 4)", dtype="complex64")
mrc_case("4 x 4 images", shape=(4, 4))
mrc_case("--bin 100000", None, "--bin", "100000")
mrc_case("--psize nan", None, "--psize", "nan")
mrc_case("--psize 0", None, "--psize", "0")
mrc_case("--target-psize 0", None, "--target-psize", "0")
mrc_case("--lowpass nan", None, "--lowpass", "nan")
mrc_case("--highpass below --lowpass", None, "--lowpass", "40", "--highpass", "20")
mrc_case("--min-z nan", None, "--min-z", "nan", "--bin", "1")
mrc_case("--min-pearson 2", None, "--min-pearson", "2", "--bin", "1")
mrc_case("a FIFO among the images", lambda p: (p.unlink(), os.mkfifo(p)))
mrc_case("bad --particles", None, "--bin", "1", "--particles", "/nonexistent/p.star")


@case("MRC", "a 3-D stack")
def _stack(d: Path) -> list[str]:
    import mrcfile

    for k in range(2):
        with mrcfile.new(d / "in" / f"s{k}.mrc") as mrc:
            mrc.set_data(np.zeros((3, 64, 64), np.float32))
    return ["micrographs", str(d / "in" / "s0.mrc"), str(d / "in" / "s1.mrc"), "--psize", "4"]


@case("MRC", "a glob that matches nothing")
def _no_match(d: Path) -> list[str]:
    return ["micrographs", str(d / "in" / "*.mrc"), "--psize", "4"]


@case("MRC", "a micrographs STAR naming missing files")
def _mic_star(d: Path) -> list[str]:
    (d / "in" / "m.star").write_text("data_micrographs\nloop_\n_rlnMicrographName\na.mrc\nb.mrc\n")
    return ["micrographs", str(d / "in" / "m.star"), "--psize", "4"]


# --- picker coordinates -----------------------------------------------------------------------------------------


def picks_case(name: str, files: dict[str, str | bytes], *extra: str) -> None:
    def build(d: Path) -> list[str]:
        folder = d / "in" / "picks"
        folder.mkdir()
        for filename, content in files.items():
            data = content if isinstance(content, bytes) else content.encode()
            (folder / filename).write_bytes(data)
        return ["particles", str(folder), "--mic-psize", "1", *extra]

    CASES.append(Case("coordinates", name, build))


picks_case("an empty .box", {"m1.box": ""})


@case("coordinates", "a FIFO given as a .box")
def _fifo_box(d: Path) -> list[str]:
    os.mkfifo(d / "in" / "m1.box")
    return ["particles", str(d / "in" / "m1.box"), "--mic-psize", "1"]


@case("coordinates", "one picker folder given twice")
def _folder_twice(d: Path) -> list[str]:
    (d / "in" / "picks").mkdir()
    (d / "in" / "picks" / "m1.box").write_text("10 10 100 100\n")
    return ["particles", str(d / "in" / "picks"), str(d / "in" / "picks" / "."), "--mic-psize", "1"]


picks_case("junk .box", {"m1.box": os.urandom(2000)})
picks_case("NaN in a .box", {"m1.box": "nan 10 100 100\n20 20 100 100\n"})
picks_case("negative box size", {"m1.box": "10 10 -100 -100\n20 20 100 100\n"})
picks_case("too few fields in a .box", {"m1.box": "10\n20 20 100 100\n"})
picks_case("cut .cbox", {"m1.cbox": "data_cryolo\nloop_\n_CoordinateX #1\n_CoordinateY #2\n10 "})
picks_case(
    "topaz table with inf scores",
    {"picks.txt": "image_name\tx_coord\ty_coord\tscore\nm1\t1\t2\tinf\n"},
    "--topaz-scale",
    "1",
)
picks_case("topaz table, no scale nor micrograph sizes", {"picks.txt": "image_name\tx_coord\ty_coord\nm1\t1\t2\n"})
picks_case("an empty folder", {})
picks_case("EMAN json junk", {"m1_info.json": "{not json"})
picks_case("huge coordinates", {"m1.box": "1e300 1e300 100 100\n-1e300 5 100 100\n"})


# --- issue 30: extreme values, the new readers' empty and hostile files ----------------------------------------

text_case("STAR", "one row at 1e25 Å, default distance [30]", P, star(["1e25 1 m1.mrc 1 0.5", *GOOD_ROWS]))
text_case(
    "STAR", "one row at -1e22 Å at --min-dist 1 [30]", P, star(["-1e22 1 m1.mrc 1 0.5", *GOOD_ROWS]), "--min-dist", "1"
)
text_case(
    "STAR",
    "centres 3e154 Å apart [30]",
    P,
    star(["1.5e154 1 m1.mrc 1 0.5", "-1.5e154 1 m1.mrc 1 0.4"]),
    "--min-dist",
    "1e150",
)
text_case(
    "STAR",
    "subtomograms without their Z coordinate [30]",
    P,
    star(
        ["t1 100 100 0 0 0", "t1 100 100 0 0 50"],
        [
            "rlnTomoName",
            "rlnCenteredCoordinateXAngst",
            "rlnCenteredCoordinateYAngst",
            "rlnOriginXAngst",
            "rlnOriginYAngst",
            "rlnOriginZAngst",
        ],
        optics="",
    ),
)
picks_case("a header-only .cbox [30]", {"m1.cbox": "data_cryolo\nloop_\n_CoordinateX #1\n_CoordinateY #2\n"})
picks_case("an _info.json of {} [30]", {"m1_info.json": "{}"})
picks_case("_info.json boxes of true/false [30]", {"m1_info.json": '{"boxes": [[true, false, "manual"]]}'})
picks_case("_info.json with 10**400 [30]", {"m1_info.json": '{"boxes": [[1' + "0" * 400 + ', 5, "manual"]]}'})
picks_case("_info.json nested 100,000 deep [30]", {"m1_info.json": '{"boxes": ' + "[" * 100_000 + "]" * 100_000 + "}"})


@case("coordinates", "one empty picker of two [30]")
def _one_empty_picker(d: Path) -> list[str]:
    for name, text in (("a", "10 10 100 100\n300 300 100 100\n"), ("b", "")):
        (d / "in" / name).mkdir()
        (d / "in" / name / "m1.box").write_text(text)
    return ["particles", str(d / "in" / "a"), str(d / "in" / "b"), "--mic-psize", "1"]


@case("MRC", "one micrograph given twice, once through a link [30]")
def _mrc_twice(d: Path) -> list[str]:
    from fixtures.synthetic import write_mrc

    rng = np.random.default_rng(0)
    for name in ("a.mrc", "c.mrc"):
        write_mrc(d / "in" / name, rng.normal(size=(128, 128)), 1.0)
    (d / "in" / "b.mrc").symlink_to(d / "in" / "a.mrc")
    return ["micrographs", *(str(d / "in" / n) for n in ("a.mrc", "b.mrc", "c.mrc"))]


@case("MRC", "a superscript digit in a name [30]")
def _mrc_superscript(d: Path) -> list[str]:
    from fixtures.synthetic import write_mrc

    rng = np.random.default_rng(1)
    for name in ("m1²2.mrc", "m1_3.mrc"):
        write_mrc(d / "in" / name, rng.normal(size=(128, 128)), 1.0)
    return ["micrographs", str(d / "in" / "*.mrc")]


# --- issue 30, item 9: a FIFO at any depth of a picker's input -------------------------------------------------

AUTOPICK_ROWS = "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 10\n300 300\n"


def relion3_job(d: Path) -> Path:
    """A RELION 3.x AutoPick job of two micrographs (coords_suffix naming a micrographs STAR)."""
    (d / "in" / "Ctf").mkdir()
    (d / "in" / "Ctf" / "mics.star").write_text("data_micrographs\nloop_\n_rlnMicrographName\nMC/job002/a.mrc\n")
    job = d / "in" / "AutoPick" / "job006"
    job.mkdir(parents=True)
    (job / "coords_suffix_autopick.star").write_text("Ctf/mics.star\n")
    (job / "a_autopick.star").write_text(AUTOPICK_ROWS)
    return job


@case("coordinates", "a coords_suffix file that is a FIFO [30]")
def _fifo_coords_suffix(d: Path) -> list[str]:
    job = relion3_job(d)
    (job / "coords_suffix_autopick.star").unlink()
    os.mkfifo(job / "coords_suffix_autopick.star")
    return ["particles", str(job), "--mic-psize", "1"]


@case("coordinates", "an autopick.star listing a FIFO [30]")
def _fifo_listed(d: Path) -> list[str]:
    job = d / "in" / "AutoPick" / "job010"
    job.mkdir(parents=True)
    (job / "a_autopick.star").write_text(AUTOPICK_ROWS)
    os.mkfifo(job / "b_autopick.star")
    (job / "autopick.star").write_text(
        "data_coordinate_files\nloop_\n_rlnMicrographName\n_rlnMicrographCoordinates\n"
        f"a.mrc {job}/a_autopick.star\nb.mrc {job}/b_autopick.star\n"
    )
    return ["particles", str(job), "--mic-psize", "1"]


@case("coordinates", "a FIFO .box among a folder's files [30]")
def _fifo_in_folder(d: Path) -> list[str]:
    (d / "in" / "picks").mkdir()
    (d / "in" / "picks" / "a.box").write_text("10 10 100 100\n")
    os.mkfifo(d / "in" / "picks" / "b.box")
    return ["particles", str(d / "in" / "picks"), "--mic-psize", "1"]


@case("coordinates", "a FIFO _info.json in a glob [30]")
def _fifo_in_glob(d: Path) -> list[str]:
    (d / "in" / "info").mkdir()
    (d / "in" / "info" / "a_info.json").write_text('{"boxes": [[10, 10, "manual"]]}')
    os.mkfifo(d / "in" / "info" / "b_info.json")
    return ["particles", str(d / "in" / "info" / "*_info.json"), "--mic-psize", "1"]


# --- issue 30, item 4: picks lost without a word -------------------------------------------------------------

picks_case("a .box with CR-only line ends [30]", {"m1.box": "10 10 100 100\r300 300 100 100\r600 600 100 100\r"})
picks_case("a .box row with 8 fields [30]", {"m1.box": "10 10 100 100\n300 300 100 100 600 600 100 100\n"})
picks_case(
    ".box files beside .cbox files [30]",
    {
        "m1.cbox": "data_cryolo\nloop_\n_CoordinateX #1\n_CoordinateY #2\n_Width #3\n_Height #4\n10 10 100 100\n",
        "m2.box": "10 10 100 100\n",
    },
)


# --- issue 30, item 14: micrographs-merge of edited shard files -------------------------------------------------


def shard_case(name: str, edit: Callable[[Path], None]) -> None:
    """Two shards of four micrographs, shard 1's files edited by ``edit``, then merged."""

    def build(d: Path) -> list[str]:
        rng = np.random.default_rng(0)
        files = []
        for k in range(4):
            write_mrc(d / "in" / f"m{k}.mrc", rng.normal(size=(128, 128)).astype(np.float32), 4.0)
            files.append(str(d / "in" / f"m{k}.mrc"))
        for k in (1, 2):
            command = [sys.executable, "-m", "cryodedup.cli", "micrographs", *files, "--bin", "1"]
            subprocess.run([*command, "--shard", f"{k}/2", "-o", str(d / "in" / "shards"), "-q"], check=True)
        edit(d / "in" / "shards" / "shard-1-of-2")
        return ["micrographs-merge", str(d / "in" / "shards")]

    CASES.append(Case("MRC", name, build))


def _pairs_of_other_lengths(folder: Path) -> None:
    edit_pairs(folder, lambda arrays: arrays.update(z=arrays["z"][:-1]))


shard_case("shard.json with run: null [30]", lambda f: edit_record(f, lambda r: r.update(run=None)))
shard_case("shard.json without its plan [30]", lambda f: edit_record(f, lambda r: r.pop("plan")))
shard_case("pairs.npz arrays of other lengths [30]", _pairs_of_other_lengths)


# --- issue 30, item 13: the rest of its tracebacks --------------------------------------------------------------

picks_case(
    "a topaz table with a NaN x_coord [30]", {"picks.txt": "image_name\tx_coord\ty_coord\nm1\tnan\t2\nm1\t5\t6\n"}
)


@case("coordinates", "a coords_suffix naming an empty micrographs STAR [30]")
def _suffix_empty_star(d: Path) -> list[str]:
    job = relion3_job(d)
    (d / "in" / "Ctf" / "mics.star").write_text("data_micrographs\nloop_\n_rlnMicrographName\n")
    return ["particles", str(job), "--mic-psize", "1"]


@case("coordinates", "a coords_suffix line of 5000 characters [30]")
def _suffix_long_line(d: Path) -> list[str]:
    job = relion3_job(d)
    (job / "coords_suffix_autopick.star").write_text("x" * 5000 + "\n")
    return ["particles", str(job), "--mic-psize", "1"]


@case("options", "-o with a 300-character name [30]")
def _long_outdir(d: Path) -> list[str]:
    (d / "in" / P).write_text(star(GOOD_ROWS))
    return ["particles", str(d / "in" / P), "-o", str(d / ("o" * 300))]


# --- options ----------------------------------------------------------------------------------------------------


def option_case(name: str, *options: str) -> None:
    def build(d: Path) -> list[str]:
        (d / "in" / P).write_text(star(GOOD_ROWS))
        return ["particles", str(d / "in" / P), *options]

    CASES.append(Case("options", name, build))


option_case("--min-dist -1", "--min-dist", "-1")
option_case("--min-dist nan", "--min-dist", "nan")
option_case("--min-dist inf", "--min-dist", "inf")
option_case("--min-dist 1e308", "--min-dist", "1e308")
option_case("--mic-psize -1", "--mic-psize", "-1")
option_case("--mic-psize nan", "--mic-psize", "nan")
option_case("--seed -1", "--seed", "-1")
option_case("--seed 2**64", "--seed", str(2**64))
option_case("--score unknown", "--score", "rlnNothing")
option_case("--score of a text column", "--score", "rlnMicrographName")
option_case("--shift-key alignments2D on STAR", "--shift-key", "alignments2D")
option_case("--min-support 5 with one input", "--min-support", "5")
option_case("--micrographs missing", "--micrographs", "/nonexistent/m.star")
option_case("--topaz-scale 0", "--topaz-scale", "0")
option_case("--min-dist 2e154 [30]", "--min-dist", "2e154")
option_case("--min-dist 1e-300 [30]", "--min-dist", "1e-300")
option_case("no -o", "-o")


# --- issue 30, item 10: size options ---------------------------------------------------------------------------

HUGE = str(2**62)


def size_case(name: str, *options: str) -> None:
    """The micrograph job on three MRC files with a size option out of reason (or just beyond the input)."""
    mrc_case(f"{name} [30]", None, "--bin", "1", *options)


size_case("--window 2**62", "--candidates", "window", "--window", HUGE)
size_case("--window 1e12", "--candidates", "window", "--window", "1000000000000")
size_case("--window 1e7 (beyond the input)", "--candidates", "window", "--window", "9999999")
size_case("--scan-range 1e12", "--candidates", "pattern", "--scan-range", "1000000000000")
size_case("--scan-range 1e7 (beyond the input)", "--candidates", "pattern", "--scan-range", "9999999")
size_case("--images-per-move 2**62", "--candidates", "pattern", "--images-per-move", HUGE)
size_case("--images-per-hole -1", "--candidates", "pattern", "--images-per-hole", "-1")
size_case("--window NaN", "--candidates", "window", "--window", "nan")
size_case("--bin 2**62", "--bin", HUGE)
size_case("--target-psize 1e300", "--target-psize", "1e300")
size_case("--lowpass NaN", "--lowpass", "nan")
size_case("--highpass 1e300", "--highpass", "1e300")
size_case("--psize -1", "--psize", "-1")
size_case("--shard 1/2**62", "--shard", f"1/{HUGE}")
size_case("--shard 3/8 (more shards than micrographs)", "--shard", "3/8")
size_case("--watch 1e300", "--watch", "1e300")
size_case("--watch NaN", "--watch", "nan")
size_case("--plot-pairs 2**62", "--plot-pairs", HUGE)
size_case("--project-dir missing", "--project-dir", "/nonexistent")
option_case("--plot-mics 2**62 [30]", "--plot-mics", HUGE)
option_case("--plot-mics -1 [30]", "--plot-mics", "-1")
option_case("--min-support 2**62 [30]", "--min-support", HUGE)
option_case("--seed NaN [30]", "--seed", "nan")


# --- issue 38: the --update store and paths (barrage_store.py), the pipeline entries -----------------------------

barrage_store.register(CASES, Case)
CASES += pipelines.PIPELINE_CASES  # type: ignore[arg-type]


# --- issue 38: the microscope metadata (EPU XML, SerialEM .mdoc), in a module of their own -----------------------

from barrage_metadata import CASES as METADATA_CASES  # noqa: E402

CASES += [Case(c.kind, c.name, c.build, c.expect) for c in METADATA_CASES]


# --- issue 58: paths that lead elsewhere, escapes, FIFOs, huge fields, copick write-back, the API -------------

from barrage_paths_and_names import CASES as ROUND4_CASES  # noqa: E402

CASES += [Case(c.kind, c.name, c.build, c.expect, **c.how) for c in ROUND4_CASES]
KINDS += tuple(k for k in dict.fromkeys(c.kind for c in ROUND4_CASES) if k not in KINDS)


# --- running ----------------------------------------------------------------------------------------------------


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False for a name the system cannot even look up (too long)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file below ``folder`` (FIFOs and folders by their kind only)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path)] = "other"
    return out


def partial_outputs(out: Path, succeeded: bool, there_before: set[str]) -> list[str]:
    """Leftovers that must never be there: temporary files, backups, a lock, half a pair, or output after a failure.

    Files that were there before the run (inputs, a folder or link the case put there) do not count.
    """
    if not _is_dir(out):
        return []
    found = []
    names = {p.name for p in out.rglob("*") if str(p) not in there_before}
    for name in names:
        if re.search(r"\.\d+\.(tmp|old)$", name) or name == ".cryodedup.lock":
            found.append(name)
    for pair in (("particles_kept.star", "particles_rejected.star"), ("particles_kept.cs", "particles_rejected.cs")):
        if (pair[0] in names) != (pair[1] in names):
            found.append(f"half of {pair}")
    if not succeeded:
        found += sorted(n for n in names if n.startswith(("particles_", "micrographs_", "pairs", "duplicates")))
    return sorted(set(found))


def run_case(c: Case, root: Path, timeout: float, memory_gb: float) -> dict[str, object]:
    """Runs one case; returns its flags per column and what happened."""
    d = root / re.sub(r"[^A-Za-z0-9]+", "_", f"{c.kind}_{c.name}")
    if isinstance(c, pipelines.PipelineCase):  # cryodedup-relion or the pipeliner, with the exit file checked
        return pipelines.run_pipeline_case(c, d, timeout, memory_gb, checksums, partial_outputs)
    (d / "in").mkdir(parents=True)
    args = c.build(d)
    if "-o" not in args:
        args += ["-o", str(d / "out")]
    elif args[-1] == "-o":
        args = args[:-1]  # the case without -o
    out = Path(args[args.index("-o") + 1]) if "-o" in args else d / "out"
    before = checksums(d / "in")
    there_before = {str(p) for p in out.rglob("*")} if _is_dir(out) else set()
    limit = int(memory_gb * 2**30)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if c.file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (c.file_size_limit, c.file_size_limit))

    command = [sys.executable, *c.entry, *args, *(["-q"] if c.quiet else [])]  # the console script's entry
    start = time.monotonic()
    run = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limits,  # noqa: PLW1509 (this script starts no threads)
        start_new_session=True,
        env={**os.environ, **(c.environment or {})},
    )
    if c.signal_after is not None:
        time.sleep(c.signal_after[1])
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, c.signal_after[0])
    try:
        output, err = run.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        output, err = run.communicate()
        hung = True
    seconds = time.monotonic() - start
    stderr = err.decode("utf-8", "replace")
    code = run.returncode
    oom = bool(re.search(r"MemoryError|memory allocation of|Cannot allocate memory|out of memory", stderr))
    stopped = c.signal_after is not None and code == 128 + c.signal_after[0]
    crashed = not hung and (code < 0 or code > 2) and not stopped
    traceback = "Traceback (most recent call last)" in stderr or "panicked at" in stderr or (crashed and not oom)
    after = checksums(d / "in")
    changed = sorted(k for k in before if after.get(k) != before[k])
    lines = [line for line in stderr.strip().splitlines() if line.strip() and not line.startswith("cryodedup: paused")]
    said = ("Stopped by ",) if stopped else ("Error: ",)
    clear = code in (0, 2) or hung or (len(lines) == 1 and lines[0].startswith(said))
    wrong = c.expect(out, code, stderr, output.decode("utf-8", "replace")) if c.expect and not hung else None
    if (d / "out").exists():
        os.chmod(d / "out", 0o755) if (d / "out").is_dir() else None
    succeeded = code == 0 or c.shared_folder
    return {
        "case": c,
        "code": code,
        "seconds": seconds,
        "message": lines[-1] if lines else "",
        "traceback": traceback,
        "hang": hung,
        "OOM": oom,
        "changed input": bool(changed),
        "partial output": bool(partial_outputs(out, succeeded, there_before)),
        "unclear error": not clear and not traceback,
        "wrong result": bool(wrong),
        **dict.fromkeys(pipelines.COLUMNS, False),
        "details": (stderr[-800:] if traceback or not clear else "")
        + (f" {wrong}" if wrong else "")
        + (f" changed {changed}" if changed else "")
        + (
            f" left {partial_outputs(out, succeeded, there_before)}"
            if partial_outputs(out, succeeded, there_before)
            else ""
        ),
    }


# --- issue 30, items 1 and 11: signals swept over whole runs -----------------------------------------------------

SIGNAL_COLUMNS = ("traceback", "hang", "partial output", "status mismatch")


def _signal_verdict(found: list[str]) -> dict[str, bool]:
    """The contract's breaches (fixtures.signal_runs.problems) by column."""
    return {
        "traceback": any(f == "traceback" for f in found),
        "hang": "hang" in found,
        "partial output": any(f.startswith(("left ", "outputs neither")) for f in found),
        "status mismatch": any(f.startswith(("status", "said", "exit 0 with")) for f in found),
    }


def signal_sweep(root: Path, per_job: int, quick: bool, only: str | None = None) -> list[dict[str, object]]:
    """Real SIGINT/SIGTERM sent to real runs: at each named point, then at times spread from the
    moment cryodedup's handlers are in place to past the run's end (start-up imports, reading,
    deciding, writing, the renames, the summary). Each run starts from the previous outputs."""
    from fixtures.signal_runs import particle_job, picker_job, problems, run_stopped, shard_job, update_job, watch_job

    jobs = [
        (f"particles, {'100k' if quick else '1M'} rows", lambda d: particle_job(d, 100_000 if quick else 1_000_000)),
        (f"picker job, {300 if quick else 3000} files", lambda d: picker_job(d, 300 if quick else 3000)),
        ("micrographs --shard", lambda d: shard_job(d, 8)),
        ("micrographs --update", lambda d: update_job(d, 8)),  # issue 38: a whole round
        ("micrographs --watch", lambda d: watch_job(d, 8)),  # a round, then the loop
    ]
    results = []
    for name, make in [(n, m) for n, m in jobs if only is None or only in n]:
        job = make(root / re.sub(r"\W+", "_", name))
        whole = run_stopped(job, signal.SIGINT, pause="never").seconds
        runs = [(p, None) for p in ("starting", "written", "renames", "ending")]
        runs += [(None, whole * k / max(per_job - 3, 1)) for k in range(per_job)]  # the last few past the end
        for k, (point, delay) in enumerate(runs):
            signum = (signal.SIGINT, signal.SIGTERM)[k % 2]
            outcome = run_stopped(job, signum, pause=point, delay=delay)
            found = problems(job, signum, outcome)
            when = point or f"{delay:.3f} s"
            left = "new" if outcome.outputs == job.new else "old" if outcome.outputs == job.old else "mixed"
            results.append({"job": name, "when": when, "code": outcome.code, "left": left, "found": found})
            results[-1].update(_signal_verdict(found))
            flags = ", ".join(found) if found else "ok"
            sent = signal.Signals(signum).name
            print(f"{'signals':12} {name[:26]:26} {when:>9} {sent:7} exit {outcome.code!s:4} {flags}", flush=True)
    return results


def signal_table(results: list[dict[str, object]]) -> str:
    """The signal runs' counts per job, as a Markdown table."""
    header = (
        "| job | runs | exit 0 | stopped, previous outputs | stopped, new outputs | "
        + " | ".join(SIGNAL_COLUMNS)
        + " |"
    )
    lines = [header, "|" + "---|" * (5 + len(SIGNAL_COLUMNS))]
    for job in [*dict.fromkeys(str(r["job"]) for r in results), "all"]:
        rows = [r for r in results if job in ("all", r["job"])]
        stopped = [r for r in rows if r["code"] not in (0, -999)]
        old = sum(r["left"] == "old" for r in stopped)
        new = sum(r["left"] == "new" for r in stopped)
        counts = [sum(bool(r[c]) for r in rows) for c in SIGNAL_COLUMNS]
        lines.append(
            f"| {job} | {len(rows)} | {sum(r['code'] == 0 for r in rows)} | {old} | {new} | "
            + " | ".join(map(str, counts))
            + " |"
        )
    return "\n".join(lines)


def table(results: list[dict[str, object]]) -> str:
    """The counts per input kind and column, as a Markdown table."""
    header = "| inputs | cases | exit 0 | exit 1/2 | " + " | ".join(COLUMNS) + " |"
    lines = [header, "|" + "---|" * (4 + len(COLUMNS))]
    for kind in (*KINDS, "all"):
        rows = [r for r in results if kind == "all" or r["case"].kind == kind]  # type: ignore[attr-defined]
        if not rows:
            continue
        ok = sum(r["code"] == 0 for r in rows)
        failed = sum(r["code"] in (1, 2) for r in rows)
        counts = [sum(bool(r.get(c)) for r in rows) for c in COLUMNS]  # a pipeline case has no wrong-result check
        lines.append(f"| {kind} | {len(rows)} | {ok} | {failed} | " + " | ".join(map(str, counts)) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run every fourth case only (for the test suite)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a run counts as hung")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address-space limit of each run (RLIMIT_AS)")
    parser.add_argument("--results", type=Path, help="append the table and the command to this Markdown file")
    parser.add_argument("-k", dest="only", help="run only the cases whose name contains this text")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, help="run only the cases of these input kinds")
    parser.add_argument(
        "--signals", type=int, help="signals swept over each of three jobs (default 24, --quick 6; 0: none)"
    )
    parser.add_argument("--signal-jobs", help="sweep signals over only the jobs whose name contains this text")
    args = parser.parse_args()
    per_job = args.signals if args.signals is not None else 6 if args.quick else 24
    cases = CASES[::4] if args.quick else CASES
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    if args.kinds:
        cases = [c for c in cases if c.kind in args.kinds]
    root = Path(tempfile.mkdtemp(prefix="cryodedup-barrage-"))
    results = []
    try:
        sweep = per_job and not args.only and not args.kinds
        signalled = signal_sweep(root / "signals", per_job, args.quick, args.signal_jobs) if sweep else []
        for c in cases:
            r = run_case(c, root, args.timeout, args.memory_gb)
            results.append(r)
            flags = [col for col in COLUMNS if r.get(col)]
            status = ("BAD " + ", ".join(flags)) if flags else "ok"
            print(f"{c.kind:12} {c.name[:48]:48} exit {r['code']!s:4} {r['seconds']:5.1f} s  {status}", flush=True)
            if flags:
                print("    " + str(r["details"]).replace("\n", "\n    "), flush=True)
    finally:
        for path in root.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
    text = table(results)
    if signalled:
        text += f"\n\nSignals ({len(signalled)} runs, each from the previous outputs):\n\n" + signal_table(signalled)
    print(f"\n{len(results)} cases\n{text}")
    if args.results:
        command = "python tests/reliability/barrage.py" + (" --quick" if args.quick else "")
        with open(args.results, "a") as f:
            f.write(
                f"\n### Barrage of bad inputs (issue 11)\n\n`{command}` ({len(results)} cases, "
                f"{args.timeout:g} s and {args.memory_gb:g} GB per run):\n\n{text}\n"
            )
    clean = all(not any(r.get(c) for c in COLUMNS) for r in results)
    return 0 if clean and all(not any(r[c] for c in SIGNAL_COLUMNS) for r in signalled) else 1


if __name__ == "__main__":
    sys.exit(main())
