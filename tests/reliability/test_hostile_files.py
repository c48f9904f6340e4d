"""Issue 30, round two, the files a job opens: FIFOs anywhere (item 9), picks lost silently
(item 4), edited shard files (item 14), files left behind (item 15), and the rest of item 13.

Each test builds its own hostile fixture; the expected outcome is worked out by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from fixtures.shard_files import edit_pairs, edit_record
from helpers import one_error_line, run_briefly
from picker_files import autopick_text, cbox_text, relion3_job

PICKS = {"a": [(10.0, 10.0, 0.5), (300.0, 300.0, 0.4)], "b": [(50.0, 50.0, 0.3)]}


def two_particles(path):
    """A RELION 3.1 particle STAR of two particles 490 Å apart on one micrograph."""
    path.write_text(
        "data_optics\nloop_\n_rlnOpticsGroup\n_rlnOpticsGroupName\n_rlnMicrographPixelSize\n1 og1 1.0\n\n"
        "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n_rlnOpticsGroup\n"
        "10 10 m.mrc 1\n500 500 m.mrc 1\n"
    )
    return path


# Item 9: a FIFO anywhere a job opens a file hung the job (the reader waits for a writer).


def _fifo_coords_suffix(root):
    job, _ = relion3_job(root, PICKS)
    (job / "coords_suffix_autopick.star").unlink()
    os.mkfifo(job / "coords_suffix_autopick.star")
    return [job], job / "coords_suffix_autopick.star"


def _fifo_in_a_relion3_job(root):
    job, _ = relion3_job(root, PICKS)
    (job / "Movies/b_autopick.star").unlink()
    os.mkfifo(job / "Movies/b_autopick.star")
    return [job], job / "Movies/b_autopick.star"


def _fifo_listed_in_autopick_star(root):
    job = root / "AutoPick/job010"
    (job / "Movies").mkdir(parents=True)
    (job / "Movies/a_autopick.star").write_text(autopick_text(PICKS["a"]))
    os.mkfifo(job / "Movies/b_autopick.star")
    (job / "autopick.star").write_text(
        "data_coordinate_files\nloop_\n_rlnMicrographName\n_rlnMicrographCoordinates\n"
        "MotionCorr/job002/a.mrc AutoPick/job010/Movies/a_autopick.star\n"
        "MotionCorr/job002/b.mrc AutoPick/job010/Movies/b_autopick.star\n"
    )
    return [job], job / "Movies/b_autopick.star"


def _fifo_in_a_glob(suffix, text):
    def build(root):
        (root / "picks").mkdir()
        (root / "picks" / f"a{suffix}").write_text(text)
        os.mkfifo(root / "picks" / f"b{suffix}")
        return [f"{root / 'picks'}/*{suffix}"], root / "picks" / f"b{suffix}"

    return build


def _fifo_in_a_folder(root):
    (root / "picks").mkdir()
    (root / "picks/a.box").write_text("10 10 100 100\n")
    os.mkfifo(root / "picks/b.box")
    return [root / "picks"], root / "picks/b.box"


def _fifo_topaz_table(root):
    (root / "topaz").mkdir()
    os.mkfifo(root / "topaz/picks.txt")
    return [f"{root / 'topaz'}/*.txt", "--topaz-scale", "1"], root / "topaz/picks.txt"


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_fifo_coords_suffix, id="coords_suffix file"),
        pytest.param(_fifo_in_a_relion3_job, id="a micrograph's file in a RELION 3 job"),
        pytest.param(_fifo_listed_in_autopick_star, id="listed in autopick.star"),
        pytest.param(_fifo_in_a_glob(".box", "10 10 100 100\n"), id="a .box in a glob"),
        pytest.param(_fifo_in_a_glob(".cbox", cbox_text([(10, 10, 100, 100, 0.5)])), id="a .cbox in a glob"),
        pytest.param(_fifo_in_a_glob("_info.json", '{"boxes": [[10, 10, "manual"]]}'), id="an _info.json in a glob"),
        pytest.param(_fifo_in_a_glob("_autopick.star", autopick_text(PICKS["a"])), id="a coordinate STAR in a glob"),
        pytest.param(_fifo_in_a_folder, id="a .box in a folder"),
        pytest.param(_fifo_topaz_table, id="a topaz table"),
    ],
)
def test_a_fifo_anywhere_is_refused_in_one_line_naming_it(tmp_path, build):
    args, fifo = build(tmp_path)
    status, stderr = run_briefly("particles", *args, "--mic-psize", "1", "-o", tmp_path / "out", cwd=tmp_path)
    assert status == 1, stderr
    line = one_error_line(stderr)
    assert f"{fifo}: " in line and "named pipe (FIFO)" in line, line
    assert not (tmp_path / "out").exists()


def test_a_fifo_as_the_dynamo_table_map_is_refused(tmp_path):
    # Two particles of tomogram 1 (Dynamo: column 20 the tomogram, 24-26 x y z).
    rows = []
    for xyz in ("10 10 10", "500 500 500"):
        fields = ["1"] + ["0"] * 18 + ["1", "0", "0", "0", *xyz.split()]
        rows.append(" ".join(fields))
    (tmp_path / "t.tbl").write_text("\n".join(rows) + "\n")
    os.mkfifo(tmp_path / "map.doc")
    status, stderr = run_briefly(
        "particles",
        tmp_path / "t.tbl",
        "--micrographs",
        tmp_path / "map.doc",
        "--mic-psize",
        "1",
        "-o",
        tmp_path / "out",
    )
    assert status == 1, stderr
    assert f"{tmp_path / 'map.doc'}: is a named pipe (FIFO)" in one_error_line(stderr)


# Item 4: picks lost without a word.


def picks_in(path):
    """The rows of a written coordinate file (not blank)."""
    return [line for line in path.read_bytes().decode().splitlines() if line.strip()]


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"], ids=["CR only", "LF", "CRLF"])
def test_every_pick_of_a_box_file_is_read_whatever_its_line_ends(tmp_path, end):
    # Three picks 290 px apart: none is a duplicate of another at 20 px, so all three are kept.
    rows = ["10 10 100 100", "300 300 100 100", "600 600 100 100 -3"]
    (tmp_path / "m1.box").write_bytes(end.join(rows).encode() + end.encode())
    status, stderr = run_briefly("particles", tmp_path / "m1.box", "--mic-psize", "1", "-o", tmp_path / "out")
    assert status == 0, stderr
    assert [row.split()[:2] for row in picks_in(tmp_path / "out/kept/m1.box")] == [r.split()[:2] for r in rows]


def test_a_box_row_with_more_fields_than_the_format_is_refused(tmp_path):
    # Two rows run together (a lost line end): 8 fields, of which only the first pick was read.
    (tmp_path / "m1.box").write_text("10 10 100 100\n300 300 100 100 600 600 100 100\n")
    status, stderr = run_briefly("particles", tmp_path / "m1.box", "--mic-psize", "1", "-o", tmp_path / "out")
    assert status == 1, stderr
    line = one_error_line(stderr)
    assert "m1.box: line 2" in line and "found 8 fields" in line, line


def test_box_files_beside_the_cbox_files_read_are_warned_about(tmp_path):
    folder = tmp_path / "picks"
    folder.mkdir()
    for name, (x, y) in (("m1", (10, 10)), ("m2", (50, 50))):
        (folder / f"{name}.cbox").write_text(cbox_text([(x, y, 100, 100, 0.5)]))
    for name in ("m3", "m4", "m5"):
        (folder / f"{name}.box").write_text("10 10 100 100\n")
    status, stderr = run_briefly("particles", folder, "--mic-psize", "1", "-o", tmp_path / "out", quiet=False)
    assert status == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and "3 .box files (e.g. m3.box)" in warnings[0] and "left out" in warnings[0], stderr


# Item 14 (and item 7's pairs.npz of arrays of different lengths): micrographs-merge of edited
# shard files were tracebacks (KeyError, IndexError, TypeError, ValueError).


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory):
    """Two shards of a run over four 128 x 128 micrographs."""
    import numpy as np

    from cryodedup import MicrographOptions
    from cryodedup.jobs.micrographs.plan import micrograph_plan
    from cryodedup.jobs.micrographs.shards import run_micrograph_shard
    from fixtures.synthetic import write_mrc

    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    files = []
    for k in range(4):
        write_mrc(root / f"m{k}.mrc", rng.normal(size=(128, 128)), 4.0)
        files.append(root / f"m{k}.mrc")
    for k in (1, 2):
        run_micrograph_shard(files, root / "shards", micrograph_plan(MicrographOptions(bin=1)), k, 2)
    return root / "shards"


def _edit_record(edit):
    return lambda folder: edit_record(folder, edit)


def _edit_pairs(edit):
    return lambda folder: edit_pairs(folder, edit)


def _corrupt_deflate(folder):
    """``pairs.npz`` compressed, its first deflate block made invalid, its digest recorded."""
    import hashlib
    import io

    import numpy as np

    with np.load(folder / "pairs.npz") as f:
        arrays = {k: f[k] for k in f.files}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = bytearray(buffer.getvalue())
    start = 30 + int.from_bytes(data[26:28], "little") + int.from_bytes(data[28:30], "little")  # after the local header
    data[start] = 0b111  # the first deflate block: the last, of the reserved type 3
    (folder / "pairs.npz").write_bytes(bytes(data))
    digest = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    edit_record(folder, lambda r: r.update(pairs_file=digest))


def _member_not_npy(folder):
    """``pairs.npz`` whose ``z.npy`` holds bytes that are no .npy (numpy then gives the bytes), its digest recorded."""
    import hashlib
    import io
    import zipfile

    import numpy as np

    buffer = io.BytesIO()
    with np.load(folder / "pairs.npz") as f, zipfile.ZipFile(buffer, "w") as out:
        for name in f.files:
            if name == "z":
                out.writestr("z.npy", b"not an array")
            else:
                with out.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, f[name])
    data = buffer.getvalue()
    (folder / "pairs.npz").write_bytes(data)
    digest = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    edit_record(folder, lambda r: r.update(pairs_file=digest))


def _set(path, value):
    def edit(record):
        *parents, last = path.split(".")
        for key in parents:
            record = record[key]
        if value is _DELETE:
            del record[last]
        else:
            record[last] = value

    return edit


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(_edit_record(_set("run", _DELETE)), "shard.json: run is missing", id="run missing"),
        pytest.param(_edit_record(_set("run", None)), "shard.json: run is null, expected an object", id="run null"),
        pytest.param(
            _edit_record(_set("shard", "1")), 'shard.json: shard is "1", expected a whole number', id="shard text"
        ),
        pytest.param(_edit_record(_set("shard", 3)), "shard 3 of 2, expected 1 <= shard <= shards", id="shard 3 of 2"),
        pytest.param(
            _edit_record(_set("plan.shape", [128])), "shard.json: plan.shape is [128], expected [ny, nx]", id="shape"
        ),
        pytest.param(
            _edit_record(_set("reading.seconds", _DELETE)), "reading.seconds is missing", id="seconds missing"
        ),
        pytest.param(_edit_record(_set("pairs_file", "x")), 'pairs_file is "x", expected an object', id="pairs_file"),
        pytest.param(
            _edit_record(_set("run.files", ["a.mrc"])), "run.files, run.micrographs and images differ", id="files"
        ),
        pytest.param(_edit_record(_set("run.options.min_z", "abc")), "run.options cannot be used", id="options"),
        pytest.param(_edit_pairs(lambda a: a.update(z=a["z"][:-1])), "one value per pair, as z", id="z shorter"),
        pytest.param(
            _edit_pairs(lambda a: a.update(dx=a["dx"].astype(object))), "cannot be read as a shard's", id="objects"
        ),
        pytest.param(_edit_pairs(lambda a: a.pop("pearson")), "no array pearson", id="pearson missing"),
        pytest.param(
            _edit_pairs(lambda a: a["pairs"].__setitem__((0, 1), 99)), "indices outside 0 to 3", id="index 99"
        ),
        # Found by fuzzing (fuzz/corpus/shards): an IndexError, an OverflowError, a zlib.error.
        pytest.param(
            _edit_record(_set("plan.positions", [0, 1, 2, 99])),
            "plan.positions holds 99, expected indices of run.micrographs (0 to 3)",
            id="position 99",
        ),
        pytest.param(
            _edit_record(_set("plan.positions", [0, 1, 2, 2**70])),
            "plan.positions holds 1180591620717411303424",
            id="position 2**70",
        ),
        pytest.param(
            _edit_record(_set("plan.positions", [0, 1, 2, 2])), "plan.positions names a micrograph twice", id="twice"
        ),
        pytest.param(
            _edit_record(lambda r: r["plan"].update(layouts=r["plan"]["layouts"][:1])),
            "plan.layouts has 1 entries, expected one per position (4)",
            id="layouts",
        ),
        pytest.param(
            _corrupt_deflate, "scored pairs (Error -3 while decompressing data: invalid block type)", id="deflate"
        ),
        pytest.param(_member_not_npy, "z is not a numpy array (.npy), expected numbers", id="member not npy"),
    ],
)
def test_an_edited_shard_file_is_one_line_naming_its_field(tmp_path, two_shards, edit, message):
    shards = tmp_path / "shards"
    shutil.copytree(two_shards, shards)
    for folder in ("shard-1-of-2", "shard-2-of-2"):
        edit(shards / folder)
    status, stderr = run_briefly("micrographs-merge", shards, "-o", tmp_path / "out")
    assert status == 1, stderr
    line = one_error_line(stderr)
    assert "shard-1-of-2" in line and message in line, line
    assert not (tmp_path / "out").exists()


# Found by fuzzing (fuzz/corpus/shards/crash_oom_shards_count_1e19): the missing shards were
# listed from a set of all 1..shards, memory without end for a shards count of 10**19.


def test_a_shard_count_of_10_19_names_the_first_missing_shards(tmp_path, two_shards):
    import resource

    shards = tmp_path / "shards"
    shutil.copytree(two_shards, shards)
    for folder in ("shard-1-of-2", "shard-2-of-2"):
        edit_record(shards / folder, lambda record: record.update(shards=10**19))

    def four_gigabytes():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    args = [sys.executable, "-m", "cryodedup.cli", "micrographs-merge", str(shards), "-o", str(tmp_path / "out")]
    run = subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=four_gigabytes, check=False)
    assert run.returncode == 1, run.stderr
    expected = "shards " + ", ".join(map(str, range(3, 23))) + f" and {10**19 - 22:,} more of {10**19} missing"
    assert expected in one_error_line(run.stderr)


# Item 15 (its first case): micrographs-merge made OUTDIR and left .cryodedup.lock after a failure.


def test_a_merge_that_fails_after_beginning_its_outputs_leaves_nothing(tmp_path, two_shards, monkeypatch):
    from cryodedup.errors import CryodedupError
    from cryodedup.jobs.micrographs import job, shards

    def fail(*args, **kwargs):
        raise CryodedupError("disk full (planted)")

    monkeypatch.setattr(job, "write_results", fail)  # (the merge's stages write as the plain run's do)
    with pytest.raises(CryodedupError, match="planted"):
        shards.merge_micrograph_shards([two_shards], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nor its lock, nor a temporary file


# Item 15 (its last case): a run killed (SIGKILL) left its temporary files, hundreds of MB, for ever.


def _pid_of_a_process_that_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_later_run_removes_the_temporary_files_of_a_run_that_is_gone(tmp_path):
    star = two_particles(tmp_path / "p.star")
    out = tmp_path / "out"
    out.mkdir()
    gone, alive = _pid_of_a_process_that_is_gone(), os.getpid()  # this test's own process is alive
    orphans = [f".particles_kept.star.{gone}.scratch", f".particles_rejected.star.{gone}.tmp"]
    kept_alone = [f".particles_kept.star.{alive}.scratch", f".report.html.{gone}.old", "notes.txt"]
    for name in orphans + kept_alone:
        (out / name).write_text("x" * 1000)
    (out / f".kept.{gone}.tmp").mkdir()  # a new folder filled before its rename
    (out / f".kept.{gone}.tmp" / "m.box").write_text("1 2 3 4\n")
    status, stderr = run_briefly("particles", star, "-o", out)
    assert status == 0, stderr
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([*kept_alone, "particles_kept.star", "particles_rejected.star"]), left


# Item 15 (its second case): SIGTERM during --shard left .pairs.npz.<pid>.tmp and an empty shard folder.


@pytest.mark.parametrize("when", ["scoring", "writing pairs.npz"])
def test_a_shard_stopped_leaves_no_temporary_file_nor_an_empty_folder(tmp_path, two_shards, monkeypatch, when):
    import numpy as np

    from cryodedup import MicrographOptions
    from cryodedup.jobs.micrographs import shards
    from cryodedup.jobs.micrographs.plan import micrograph_plan

    def stopped(*args, **kwargs):
        if when == "writing pairs.npz":
            args[0].write(b"PK half a zip")  # the temporary file begun, as a signal finds it
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler raises, as Ctrl-C does

    if when == "scoring":
        monkeypatch.setattr(shards, "score_shard", stopped)
    else:
        monkeypatch.setattr(np, "savez", stopped)
    files = sorted(two_shards.parent.glob("m*.mrc"))
    with pytest.raises(KeyboardInterrupt):
        shards.run_micrograph_shard(files, tmp_path / "shards", micrograph_plan(MicrographOptions(bin=1)), 1, 2)
    assert not (tmp_path / "shards" / "shard-1-of-2").exists()


# Item 13 (its remaining cases): tracebacks for a NaN topaz coordinate while inferring the scale,
# a coords_suffix file of one huge line or naming an empty micrographs STAR, and a 300-character -o.


def test_a_nan_topaz_coordinate_is_named_by_its_line_before_the_scale_is_inferred(tmp_path):
    import numpy as np

    from fixtures.synthetic import write_mrc
    from picker_files import MICROGRAPHS, write_topaz

    write_mrc(tmp_path / "m1.mrc", np.zeros((256, 256), np.float32), 1.0)
    (tmp_path / "mics.star").write_text(MICROGRAPHS.format(rows="m1.mrc 1\n"))
    write_topaz(tmp_path / "picks.txt", [("m1", 10.0, 10.0, 1.0), ("m1", float("nan"), 20.0, 0.5)])
    status, stderr = run_briefly(
        "particles", "picks.txt", "--micrographs", "mics.star", "-o", tmp_path / "out", cwd=tmp_path
    )
    assert status == 1, stderr
    assert "picks.txt: line 3: x_coord nan" in one_error_line(stderr)  # line 1 is the header


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x" * 50_000_000, "is 50 MB, larger than a RELION 3 coords_suffix file (one line naming a micrographs STAR)"),
        ("x" * 5000, "(5000 characters), which cannot be looked for (File name too long)"),
        ("CtfFind/job003/empty.star", "lists no micrographs"),
    ],
    ids=["a 50 MB line", "a 5000-character name", "an empty micrographs STAR"],
)
def test_a_coords_suffix_file_naming_no_usable_star_is_one_line(tmp_path, line, message):
    job, _ = relion3_job(tmp_path, PICKS)
    (tmp_path / "CtfFind/job003/empty.star").write_text("data_micrographs\nloop_\n_rlnMicrographName\n")
    (job / "coords_suffix_autopick.star").write_text(line + "\n")
    status, stderr = run_briefly("particles", job, "--mic-psize", "1", "-o", tmp_path / "out", cwd=tmp_path)
    assert status == 1, stderr
    text = one_error_line(stderr)
    assert "coords_suffix_autopick.star: " in text and message in text and len(text) < 1000, text[:2000]


@pytest.mark.parametrize("plot", [[], ["--plot"]], ids=["", "--plot"])
def test_an_output_folder_name_too_long_is_one_line(tmp_path, plot):
    star = two_particles(tmp_path / "p.star")
    status, stderr = run_briefly("particles", star, *plot, "-o", tmp_path / ("o" * 300))
    assert status == 1, stderr
    assert "cannot create the output folder (File name too long)" in one_error_line(stderr)
