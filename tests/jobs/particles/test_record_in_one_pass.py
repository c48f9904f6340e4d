"""``--decisions`` in the one-pass scan: the core writes ``decisions.csv`` as it writes the rows.

The record's bytes are those of the Python record (the route main takes, forced here by a
second run in two passes), and its rows those of a brute force written here (the greedy walk by
hand: partner, distance, rule), on random small STAR files whose names need quoting; the scan
holds no partner a row for it.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryodedup.formats.star import particles as particles_star
from cryodedup.formats.star.file import unquote
from cryodedup.jobs.particles import record as record_module
from cryodedup.jobs.particles.decide import decide, one_pass
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.plan import plan
from cryodedup.options import ParticleOptions
from cryodedup.outputs import output_batch
from fixtures.synthetic import write_benchmark_file
from helpers import shared_file

#: Micrograph names, some of which the CSV quotes (a comma, a quote) or the STAR file does (a space).
MICROGRAPHS = ["m0.mrc", "Movies/a,b.mrc", "say'x'.mrc", '"with space.mrc"', 'q"uote.mrc']


def _star(path: Path, rows: list[tuple[int, float, float, float | None, str]], scored: bool) -> Path:
    """A RELION 3.1 particle file of ``rows`` (micrograph, x, y, score, image name), optics at 1 Å."""
    head = "data_optics\nloop_\n_rlnOpticsGroup\n_rlnOpticsGroupName\n_rlnImagePixelSize\n"
    head += "_rlnMicrographPixelSize\n1 og 1.0 1.0\n\ndata_particles\nloop_\n"
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnImageName", "rlnOpticsGroup"]
    labels += ["rlnAutopickFigureOfMerit"] if scored else []
    lines = [f"_{label}" for label in labels]
    for mic, x, y, score, image in rows:
        fields = [MICROGRAPHS[mic], repr(x), repr(y), image, "1"] + ([repr(score)] if scored else [])
        lines.append(" ".join(fields))
    path.write_text(head + "\n".join(lines) + "\n")
    return path


@st.composite
def _cases(draw):
    """Rows on a few micrographs, grouped by micrograph as RELION writes them; scores with ties; image names."""
    n_mics = draw(st.integers(1, len(MICROGRAPHS)))
    rows = []
    for mic in range(n_mics):
        for _ in range(draw(st.integers(1, 12))):
            x, y = draw(st.integers(0, 60)) / 2, draw(st.integers(0, 60)) / 2
            score = draw(st.sampled_from([1.0, 2.0, 2.5, 0.125, 3.0]))
            index = draw(st.integers(1, 120))
            image = draw(st.sampled_from([f"{index:06d}@s{mic}.mrcs", f"{index}@s.mrcs", f'"{index:03d}@a b.mrcs"']))
            rows.append((mic, x, y, score, image))
    scored = draw(st.booleans())
    mode = draw(st.sampled_from(["best", "remove entirely"]))
    return rows, scored, mode, draw(st.sampled_from([3.0, 7.5, 12.0]))


def _job(path: Path, out: Path, options: ParticleOptions, monkeypatch, one_pass_scan: bool, core=True) -> None:
    """The job on ``path``; in one pass, checked to be the core's record (``core``: the Python one refused).

    In two passes, the record made in Python (the core's record of two passes refused: the oracle).
    """
    with monkeypatch.context() as patch:
        if one_pass_scan and core:
            patch.setattr(record_module, "table", lambda *a: pytest.fail("the record was made in Python"))
        else:
            patch.setattr(particles_star, "start_split", lambda *args: None)
            patch.setattr(record_module, "start_core_record", lambda *args: None)
        remove_duplicate_particles([path], out, options)


def _brute_force(rows, scored: bool, mode: str, min_dist: float) -> dict[int, tuple[int, float, str]]:
    """Each rejected row (from 0) -> (partner, distance, rule): the greedy walk (or nearest neighbour) by hand."""
    n = len(rows)
    near = [
        [j for j in range(n) if j != i and rows[j][0] == rows[i][0] and _gap(rows, i, j) <= min_dist] for i in range(n)
    ]
    if mode == "remove entirely":
        return {
            i: (p, _gap(rows, i, p), "remove entirely")
            for i in range(n)
            if near[i]
            for p in [min(near[i], key=lambda j: (_gap(rows, i, j), j))]
        }
    order = sorted(range(n), key=lambda i: (-rows[i][3], i))  # (best score first, ties by row)
    partner: dict[int, int] = {}
    for i in order:
        if i in partner:
            continue
        for j in near[i]:
            partner.setdefault(j, i)
    return {i: (p, _gap(rows, i, p), _rule(rows, i, p)) for i, p in partner.items()}


def _gap(rows, i: int, j: int) -> float:
    return math.dist(rows[i][1:3], rows[j][1:3])


def _rule(rows, i: int, p: int) -> str:
    return "row order" if rows[i][3] == rows[p][3] else "score"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_cases())
def test_the_record_the_scan_writes_is_the_python_record_and_the_brute_force(tmp_path_factory, monkeypatch, case):
    rows, scored, mode, min_dist = case
    folder = tmp_path_factory.mktemp("record")
    path = _star(folder / "in.star", rows, scored)
    score = "rlnAutopickFigureOfMerit" if scored else "none"
    options = ParticleOptions(min_dist=min_dist, score=score, remove_entirely=mode == "remove entirely", decisions=True)
    _job(path, folder / "one", options, monkeypatch, one_pass_scan=True)
    _job(path, folder / "two", options, monkeypatch, one_pass_scan=False)
    made = (folder / "one" / "decisions.csv").read_bytes()
    assert made == (folder / "two" / "decisions.csv").read_bytes()
    with open(folder / "one" / "decisions.csv", newline="", encoding="utf-8") as f:
        record = list(csv.DictReader(f))
    got = {int(d["row"]) - 1: d for d in record}
    if not scored and mode != "remove entirely":  # (a seeded random ranking: the partner kept and near)
        for i, d in got.items():
            p = int(d["kept_row"]) - 1
            assert d["rule"] == "random order" and rows[p][0] == rows[i][0] and _gap(rows, i, p) <= min_dist
        return
    want = _brute_force(rows, scored, mode, min_dist)
    assert sorted(got) == sorted(want)
    for i, (p, gap, rule) in want.items():
        d = got[i]
        assert (int(d["kept_row"]) - 1, d["rule"], d["input"], d["kept_input"]) == (p, rule, str(path), str(path))
        assert float(d["distance_A"]) == pytest.approx(gap, abs=1e-12)
        assert d["micrograph"] == unquote(MICROGRAPHS[rows[i][0]])  # (the name inside the STAR's quotes)
        for row, told in ((i, d["particle"]), (p, d["kept_particle"])):
            assert told == unquote(rows[row][4])


def test_a_distance_between_two_shortest_digits_is_written_as_python_reprs_it(tmp_path, monkeypatch):
    # 995853563101410.25 Å exactly: 995853563101410.2 and .3 both read back to it; Python's
    # repr (the oracle) takes the even digit, as the Python record writes it.
    gap = 995853563101410.25
    rows = [(0, 0.0, 0.0, 1.0, "1@s.mrcs"), (0, gap, 0.0, 2.0, "2@s.mrcs")]
    path = _star(tmp_path / "in.star", rows, scored=True)
    options = ParticleOptions(min_dist=1e16, score="rlnAutopickFigureOfMerit", decisions=True)
    _job(path, tmp_path / "one", options, monkeypatch, one_pass_scan=True)
    _job(path, tmp_path / "two", options, monkeypatch, one_pass_scan=False)
    made = (tmp_path / "one" / "decisions.csv").read_text()
    assert made.splitlines()[1].split(",")[7] == repr(gap) == "995853563101410.2"
    assert made == (tmp_path / "two" / "decisions.csv").read_text()


def test_the_scan_writes_the_record_and_holds_no_partner_a_row(tmp_path):
    # --decisions alone: the scan keeps the partners of a batch's rejected rows only while it
    # writes them (no int64 a particle, as --plot's page takes), and hands over the record's file.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 150_000, per_mic=300, seed=8)  # (several of the scan's batches of 65,536)
    options = ParticleOptions(min_dist=30.0, score="rlnMaxValueProbDistribution", decisions=True)
    read = plan(options).read
    parts = (read.request.scale, read.request.score_read, read.request.row_read)
    silent = lambda *args: None  # noqa: E731
    with output_batch():
        asked = particles_star.read_star_files(
            [path], tmp_path / "b", *parts, silent, silent, lambda f: one_pass(read, f)
        )
        assert asked.decided is not None and asked.decided_by is None
        assert asked.decided_record is not None
        written = asked.decided_record()
        lines = written.read_bytes().count(b"\n")
    assert lines == 1 + int((~asked.decided).sum())  # (the header, then a row per rejected particle)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name", ["3dem__particles_1k_scipion.star", "cryodrgn__relion31.star", "cryodrgn__relion5.star"]
)
def test_real_files_record_in_one_pass_is_the_python_record(tmp_path, monkeypatch, name):
    source = shared_file(f"star/{name}")
    path = shutil.copy(source, tmp_path / name)
    for min_dist, remove in ((60.0, False), (200.0, False), (60.0, True)):
        options = ParticleOptions(min_dist=min_dist, remove_entirely=remove, decisions=True)
        one, two = tmp_path / f"one{min_dist}{remove}", tmp_path / f"two{min_dist}{remove}"
        # (a file whose rows need a second look is decided in two passes: the Python record both times)
        _job(Path(path), one, options, monkeypatch, one_pass_scan=True, core=name.startswith("3dem"))
        _job(Path(path), two, options, monkeypatch, one_pass_scan=False)
        made = (one / "decisions.csv").read_bytes()
        assert made == (two / "decisions.csv").read_bytes()
        assert made.count(b"\n") > 1 or name != "3dem__particles_1k_scipion.star"


def test_the_api_reads_the_record_the_scan_wrote_as_the_python_columns(tmp_path, monkeypatch):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 4000, per_mic=200, seed=3)
    options = ParticleOptions(min_dist=25.0, score="rlnMaxValueProbDistribution", decisions=True)
    _job(path, tmp_path / "one", options, monkeypatch, one_pass_scan=True)
    read = record_module.columns_of(record_module.RecordFile(tmp_path / "one" / "decisions.csv"))
    request = plan(options).read.request
    parts = (request.scale, request.score_read, request.row_read)
    particles = particles_star.read_star_files([path], tmp_path / "a", *parts, lambda *a: None, lambda *a: None)
    rule = plan(options).for_rows(particles).deciding
    decision = decide(particles, rule)
    made = record_module.table(particles, record_module.rejections(particles, decision, rule))
    assert list(read) == list(made)
    for column, values in made.items():
        np.testing.assert_array_equal(np.asarray(read[column]), np.asarray(values), err_msg=column)
