"""Every multi-input merge of the test corpus keeps every kept row as read, in some written file (issue 64).

The merges: the output-digest corpus's runs of several inputs (scripts/output_digests.py: two
pickers' particle files, RELION 5 particles, pickers merged and in consensus, each output
format, CryoSPARC joins, crYOLO files of ../shared/data), the projects of
tests/fixtures/refined_and_picks.py (refined particles with hand picks, 2-D and RELION 5),
the tutorial-like picking jobs of tests/algo/test_consensus_coverage.py, the README's hand picks with an
autopicker (tests/project/test_readme.py), and the real RELION 5 Select and Picks jobs.

Each input's rows are read here by plain text (STAR loops, text lines) or numpy (.cs records),
without cryodedup's readers; so are the outputs the summary names (folders walked, RELION
coordinate lists followed). A STAR row is its fields by label, each field's text as written
(columns put in another order, or an optics group renumbered to the same optics, keep every
byte of every value); an optics group stands for its optics row. The check: each input row is
found, byte for byte, among the kept or the rejected outputs' rows, and as many are found in
the kept outputs as the summary says were kept, in the rejected as were rejected.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fixtures.refined_and_picks import refined_2d_project, refined_tomo_project
from helpers import SHARED_DATA

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "output_digests.py"
#: The digest corpus's runs of several inputs.
MERGES = (
    "star31-two-pickers|star31-two-pickers-path|star31-consensus|star31-audit|star5-default|picks-merge|"
    "picks-consensus|picks-consensus-reject|picks-input-format|picks-cryosparc|cs-joined|real-cs-join|real-cbox"
)
#: Blocks that hold no rows of particles or picks.
NOT_ROWS = {"optics", "general", "coordinate_files", "micrographs", "job", "joboptions_values", "global"}

Row = tuple


def star_rows(path: Path) -> list[Row]:
    """The rows of every loop of a STAR file but those :data:`NOT_ROWS` names, as (label, text) pairs."""
    blocks: dict[str, tuple[list[str], list[list[str]]]] = {}
    name, labels, rows, in_loop = "", [], [], False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("data_"):
            name, labels, rows, in_loop = stripped[5:], [], [], False
            blocks[name] = (labels, rows)
        elif stripped.startswith("loop_"):
            in_loop = True
        elif in_loop and stripped.startswith("_"):
            labels.append(stripped.split()[0][1:])
        elif in_loop and labels and stripped and not stripped.startswith("#"):
            rows.append(line.split())
    optics = {}
    if "optics" in blocks:
        labels, rows = blocks["optics"]
        group = labels.index("rlnOpticsGroup")
        same = [j for j, label in enumerate(labels) if label not in ("rlnOpticsGroup", "rlnOpticsGroupName")]
        optics = {row[group]: tuple((labels[j], row[j]) for j in same) for row in rows}
    found = []
    for block, (labels, rows) in blocks.items():
        if block in NOT_ROWS:
            continue
        for row in rows:
            fields = dict(zip(labels, row))
            if "rlnOpticsGroup" in fields and optics:
                fields["rlnOpticsGroup"] = str(optics[fields["rlnOpticsGroup"]])
            found.append(tuple(sorted(fields.items())))
    return found


def cs_rows(path: Path) -> list[Row]:
    """The records of a numpy .cs, each field's bytes by name (the records of a join meet in :func:`rows_of`)."""
    records = np.load(path)
    names = records.dtype.names or ()
    return [tuple((name, record[name].tobytes()) for name in names) for record in records]


def file_rows(path: Path) -> list[Row]:
    """The rows of one file of picks or particles (none from a list or a job's other files)."""
    if path.name.startswith("coords_suffix_") or path.name == "job.star":
        return []
    if path.suffix == ".cs":
        return cs_rows(path)
    if path.suffix in (".star", ".cbox"):
        return star_rows(path)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [(line,) for line in lines if not line.startswith("image_name")]


def rows_under(path: Path, cwd: Path) -> list[Row]:
    """The rows of a file, a folder's files, or a RELION coordinate list's files (paths from ``cwd``)."""
    if path.is_dir():
        return [row for child in sorted(path.rglob("*")) if child.is_file() for row in file_rows(child)]
    if path.suffix == ".star" and "data_coordinate_files" in path.read_text():
        listed = [line.split()[1] for line in path.read_text().splitlines() if line.strip().endswith(".star")]
        return [row for name in listed for row in file_rows(cwd / name)]
    return file_rows(path)


def rows_of(paths: list[Path], cwd: Path) -> Counter:
    """The rows of ``paths`` (:func:`rows_under`), a particle's .cs records of several files (a join) as one row."""
    rows: Counter = Counter()
    joined: dict[bytes, dict] = {}
    paths = [Path(match) for path in paths for match in (sorted(glob.glob(str(path))) if "*" in str(path) else [path])]
    for path in paths:
        for row in rows_under(path, cwd):
            fields = dict(row) if path.suffix == ".cs" else None
            if fields is None:
                rows[row] += 1
            else:
                joined.setdefault(fields["uid"], {}).update(fields)
    rows.update(tuple(sorted(fields.items())) for fields in joined.values())
    return rows


def run_merge(cwd: Path, args: list[str], outdir: str) -> dict:
    command = [sys.executable, "-c", "import sys; from cryodedup.cli import main; sys.exit(main())"]
    arguments = [*command, "particles", *args, "-o", outdir, "--json", "-q"]
    done = subprocess.run(arguments, cwd=cwd, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def check_rows_kept(cwd: Path, inputs: list[str], summary: dict) -> None:
    """Each input row is found as read among the kept or the rejected outputs, as many kept as the summary says."""
    read = rows_of([cwd / given for given in inputs], cwd)
    assert read, inputs
    found = {}
    for subset in ("kept", "rejected"):
        written = rows_of([cwd / path for path in summary["outputs"][subset]], cwd)
        found[subset] = sum((read & written).values())
    assert (found["kept"], found["rejected"]) == (summary["kept"], summary["rejected"]), inputs
    assert found["kept"] + found["rejected"] == sum(read.values())


@pytest.fixture(scope="module")
def digest_corpus(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("output_digests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["output_digests"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp("corpus")
    import re

    runs = module.build_corpus(root, re.compile(f"^({MERGES})$"), SHARED_DATA)
    yield root, runs
    del sys.modules["output_digests"]


def test_every_digest_corpus_merge_keeps_its_rows(digest_corpus):
    root, runs = digest_corpus
    names = {run.name for run in runs}
    assert {"star31-two-pickers", "star5-default", "picks-merge", "picks-cryosparc", "cs-joined"} <= names
    for run in runs:
        args = run.args[1:]  # (after the command)
        inputs = list(args[: next(k for k, a in enumerate(args) if a.startswith("-"))])
        assert len(inputs) > 1, run.name
        outdir = f"walked/{run.name}"
        if "--audit" in args:  # (an audit writes nothing: the same merge, written)
            args = [a for a in args if a != "--audit"]
        options = [a for a in args[len(inputs) :] if a != "-o" and a != run.outdir]
        check_rows_kept(root / run.cwd, inputs, run_merge(root / run.cwd, [*inputs, *options], outdir))


def test_refined_particles_with_hand_picks_keep_their_rows(tmp_path):
    two = refined_2d_project(tmp_path / "two")
    tomo = refined_tomo_project(tmp_path / "tomo")
    for project, distance in ((two, "30"), (tomo, "50")):
        inputs = [project.refined, project.picks]
        for k, options in enumerate(([], ["--prefer", project.picks], ["--remove-entirely"])):
            args = [*inputs, "--min-dist", distance, "--micrographs", project.micrographs, *options]
            summary = run_merge(project.root, args, f"Dedup/job{50 + k:03d}")
            check_rows_kept(project.root, inputs, summary)


def test_other_tests_merges_keep_their_rows(tmp_path, monkeypatch):
    from test_readme import relion_picks_project

    from fixtures.autopick_jobs import tutorial_like

    tutorial_like(tmp_path / "tutorial", np.random.default_rng(5))
    check_rows_kept(
        tmp_path / "tutorial",
        ["AutoPick/job006", "AutoPick/job011"],
        run_merge(tmp_path / "tutorial", ["AutoPick/job006", "AutoPick/job011", "--min-dist", "40"], "Dedup/job050"),
    )
    relion_picks_project(tmp_path / "readme")
    inputs = ["ManualPick/job004", "AutoPick/job010"]
    check_rows_kept(
        tmp_path / "readme",
        inputs,
        run_merge(tmp_path / "readme", [*inputs, "--min-dist", "30", "--mic-psize", "1.06"], "o"),
    )


@pytest.mark.real_data
def test_real_relion5_merges_keep_their_rows(tmp_path):
    tomo = SHARED_DATA / "tomo"
    select, picks = "cets-relion__Select_job077_particles_removed.star", "cets-relion__Picks_job019_particles.star"
    annotation, tomograms = (
        "cets-relion__Picks_job019_TS_54_particles.star",
        "cets-relion__Tomograms_job006_tomograms.star",
    )
    for inputs, options in (
        ([select, picks], ["--min-dist", "50"]),
        # Two frames: the annotation file's pixels carried to centred Å (its own file keeps them). (Not with the
        # Picks job's file: its TS_54 rows are the annotation file's carried there, so rows of two inputs are one.)
        ([select, annotation], ["--min-dist", "50", "--micrographs", tomograms]),
    ):
        outdir = str(tmp_path / f"o{len(os.listdir(tmp_path))}")
        check_rows_kept(tomo, inputs, run_merge(tomo, [*inputs, *options], outdir))
