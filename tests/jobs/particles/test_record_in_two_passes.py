"""``--decisions`` of a job decided in two passes (several inputs): the core writes ``decisions.csv``
on a thread of its own while the kept and rejected rows are written.

Its bytes against the Python record (``record.table`` and ``record.write_decisions``, the route
main takes: the oracle, forced here by refusing the core's), on random sets of two or three STAR
inputs whose micrograph and image names repeat across them (partners in either input, tied
scores, names the CSV quotes, orientations with ``--max-angle``, ``--same-image``, ``--prefer``,
inputs without image names), on CryoSPARC files and pickers' folders (rows named by uid, by file
and line), and on merges of real RELION files and of the tutorial's two real pickers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_particles_priority_oracle import MIN_DIST, cases, write_cs_inputs

from cryodedup.formats.star import particles as particles_star
from cryodedup.jobs.particles import record as record_module
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from helpers import shared_file, write_star

#: Micrograph names, some of which the CSV quotes (a comma, a quote) or the STAR file does (a space).
MICROGRAPHS = ["m0.mrc", "Movies/a,b.mrc", '"with space.mrc"', 'q"uote.mrc']

#: Image names by index: zero-padded or not, a stack the CSV quotes, one the STAR file quotes.
IMAGES = ["{:06d}@s.mrcs", "{}@s.mrcs", "{:04d}@Ex,t.mrcs", '"{:03d}@a b.mrcs"', '{:02d}@q"s.mrcs']


def _star(path: Path, rows: list[tuple], scored: bool, angles: bool, images: bool) -> Path:
    """A RELION 3.1 particle file of ``rows`` (micrograph, x, y, score, image, psi), optics at 1 Å."""
    head = "data_optics\nloop_\n_rlnOpticsGroup\n_rlnOpticsGroupName\n_rlnImagePixelSize\n"
    head += "_rlnMicrographPixelSize\n1 og 1.0 1.0\n\ndata_particles\nloop_\n"
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnOpticsGroup"]
    labels += (["rlnImageName"] if images else []) + (["rlnAutopickFigureOfMerit"] if scored else [])
    labels += ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"] if angles else []
    lines = [f"_{label}" for label in labels]
    for mic, x, y, score, image, psi in rows:
        fields = [MICROGRAPHS[mic], repr(x), repr(y), "1"] + ([image] if images else [])
        fields += ([repr(score)] if scored else []) + (["0", "0", repr(psi)] if angles else [])
        lines.append(" ".join(fields))
    path.write_text(head + "\n".join(lines) + "\n")
    return path


@st.composite
def _inputs(draw):
    """One to three inputs on the same micrographs (the names repeat), rows grouped by micrograph or not."""
    n_mics = draw(st.integers(1, len(MICROGRAPHS)))
    inputs = []
    for _ in range(draw(st.integers(1, 3))):  # (one input: its rows not together, or the split refused)
        rows = []
        for mic in range(n_mics):
            for _ in range(draw(st.integers(0, 8))):
                x, y = draw(st.integers(0, 40)) / 2, draw(st.integers(0, 40)) / 2
                score = draw(st.sampled_from([1.0, 2.0, 2.5, 0.125]))  # (ties within and across inputs)
                image = draw(st.sampled_from(IMAGES)).format(draw(st.integers(1, 12)))  # (the same image again)
                rows.append((mic, x, y, score, image, draw(st.sampled_from([0.0, 10.0, 60.0, 175.0]))))
        if draw(st.booleans()):
            rows = draw(st.permutations(rows))
        inputs.append(rows)
    return inputs


@st.composite
def _options(draw):
    """The options of a case: the distance, the mode, the score, angles, images, a preferred input."""
    mode = draw(st.sampled_from(["best", "best", "remove entirely"]))
    return {
        "min_dist": draw(st.sampled_from([3.0, 7.5, 12.0])),
        "remove_entirely": mode == "remove entirely",
        "scored": draw(st.booleans()),
        "angles": draw(st.booleans()),
        "images": draw(st.sampled_from([True, True, False])),
        "same_image": draw(st.sampled_from(["warn", "reject", "ignore"])),
        "prefer": draw(st.booleans()),
    }


def _run(paths: list[Path], out: Path, options: ParticleOptions, monkeypatch, core: bool) -> bytes:
    """The record of the job on ``paths`` in two passes: the core's (the Python one refused) or the Python one."""
    with monkeypatch.context() as patch:
        patch.setattr(particles_star, "start_split", lambda *args: None)  # (one input: two passes too)
        return _run_any(paths, out, options, monkeypatch, core)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_inputs(), _options())
def test_the_core_record_of_two_passes_is_the_python_record(tmp_path_factory, monkeypatch, inputs, asked):
    folder = tmp_path_factory.mktemp("two")
    paths = [
        _star(folder / f"in{k},{k}.star", rows, asked["scored"], asked["angles"], asked["images"])
        for k, rows in enumerate(inputs)
    ]
    if asked["same_image"] == "reject" and not asked["images"]:
        asked["same_image"] = "warn"  # (no image names to compare)
    options = ParticleOptions(
        min_dist=asked["min_dist"],
        score="rlnAutopickFigureOfMerit" if asked["scored"] else "none",
        remove_entirely=asked["remove_entirely"],
        max_angle=40.0 if asked["angles"] else None,
        same_image=asked["same_image"],
        prefer=[str(paths[-1])] if asked["prefer"] else [],
        decisions=True,
    )
    made = _run(paths, folder / "core", options, monkeypatch, core=True)
    assert made == _run(paths, folder / "python", options, monkeypatch, core=False)
    rejected = sum(1 for line in (folder / "core" / "particles_rejected.star").read_text().splitlines() if "@" in line)
    assert made.count(b"\n") >= 1 and (rejected == 0 or made.count(b"\n") > 1 or not asked["images"])


def test_a_distance_between_two_shortest_digits_is_written_as_python_reprs_it(tmp_path, monkeypatch):
    # 995853563101410.25 Å exactly between the two inputs' particles: Python's repr (the
    # oracle) takes the even digit of the two that read back to it, as the Python record does.
    gap = 995853563101410.25
    a, b = [(0, 0.0, 0.0, 1.0, "1@s.mrcs", 0.0)], [(0, gap, 0.0, 2.0, "2@s.mrcs", 0.0)]
    paths = [_star(tmp_path / f"{k}.star", rows, True, False, True) for k, rows in (("a", a), ("b", b))]
    options = ParticleOptions(
        min_dist=1e16, score="rlnAutopickFigureOfMerit", registration="ignore", decisions=True
    )  # (centres beyond the registration check's grid)
    made = _run(paths, tmp_path / "core", options, monkeypatch, core=True).decode()
    assert made.splitlines()[1].split(",")[7] == repr(gap) == "995853563101410.2"
    assert made.encode() == _run(paths, tmp_path / "python", options, monkeypatch, core=False)


def test_a_partner_in_the_other_input_is_named_by_its_own_input_row_and_image(tmp_path, monkeypatch):
    # By hand: b's (1,0) at 2.0 beats a's (0,0) at 1.0 on m0 (1 Å); a's (50,0) and b's (50,0)
    # tie at 1.0: a is given first, b's row loses by input order, 0 Å.
    a = [(0, 0.0, 0.0, 1.0, "000007@s.mrcs", 0.0), (0, 50.0, 0.0, 1.0, "000008@s.mrcs", 0.0)]
    b = [(0, 1.0, 0.0, 2.0, "7@s.mrcs", 0.0), (0, 50.0, 0.0, 1.0, '"08@a b.mrcs"', 0.0)]
    paths = [_star(tmp_path / f"{k}.star", rows, True, False, True) for k, rows in (("a", a), ("b", b))]
    options = ParticleOptions(min_dist=10.0, score="rlnAutopickFigureOfMerit", decisions=True)
    made = _run(paths, tmp_path / "out", options, monkeypatch, core=True).decode()
    assert made.splitlines()[1:] == [
        f"{paths[0]},1,000007@s.mrcs,m0.mrc,{paths[1]},1,7@s.mrcs,1.0,score",
        f"{paths[1]},2,08@a b.mrcs,m0.mrc,{paths[0]},2,000008@s.mrcs,0.0,input order",  # (as RELION reads it)
    ]


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("3dem__particles_1k_scipion.star", "3dem__particles_1k_scipion.star"),
        ("cryodrgn__relion31.star", "cryodrgn__relion31.star"),
        ("cryodrgn__relion5.star", "cryodrgn__relion5.star"),
    ],
)
def test_real_files_merged_record_is_the_python_record(tmp_path, monkeypatch, first, second):
    # A real file merged with a copy of itself: every row's micrograph and image named again in the
    # other input (each a duplicate at 0 Å, by input order), and the file's own duplicates.
    paths = [Path(shutil.copy(shared_file(f"star/{first}"), tmp_path / f"a_{first}"))]
    paths.append(Path(shutil.copy(shared_file(f"star/{second}"), tmp_path / f"b_{second}")))
    for min_dist, remove in ((60.0, False), (200.0, False), (60.0, True)):
        options = ParticleOptions(min_dist=min_dist, remove_entirely=remove, decisions=True)
        core, python = tmp_path / f"core{min_dist}{remove}", tmp_path / f"python{min_dist}{remove}"
        made = _run(paths, core, options, monkeypatch, core=True)
        assert made == _run(paths, python, options, monkeypatch, core=False)
        assert made.count(b"\n") > 2


def _run_any(paths: list[Path], out: Path, options: ParticleOptions, monkeypatch, core: bool) -> bytes:
    """:func:`_run` of inputs of any format (no one-pass split to refuse)."""
    with monkeypatch.context() as patch:
        if core:
            patch.setattr(record_module, "table", lambda *a: pytest.fail("the record was made in Python"))
        else:
            patch.setattr(record_module, "start_core_record", lambda *args: None)
        remove_duplicate_particles(paths, out, options)
    return (out / "decisions.csv").read_bytes()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_the_core_record_of_cryosparc_files_and_pickers_is_the_python_record(tmp_path_factory, monkeypatch, case):
    # CryoSPARC's rows named by uid, a picker's by its file and line: numbered names, in the core too.
    inputs, prefer, mode = case
    folder = tmp_path_factory.mktemp("cs")
    paths = write_cs_inputs(folder, inputs)
    options = ParticleOptions(min_dist=MIN_DIST, prefer=[str(p) for p in prefer], same_image=mode, decisions=True)
    made = _run_any(paths, folder / "core", options, monkeypatch, core=True)
    assert made == _run_any(paths, folder / "python", options, monkeypatch, core=False)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit"]
    pickers = []
    for k, rows in enumerate(inputs):
        pickers.append(folder / f"Picker,{k}")
        pickers[-1].mkdir()
        for mic in (0, 1):
            mine = [[row[1], row[2], j, row[5]] for j, row in enumerate(rows) if row[0] == mic]
            if mine:
                write_star(pickers[-1] / f"m{mic}_autopick.star", labels, mine, block="")
    if not all(any(p.iterdir()) for p in pickers):
        return  # (a picker's folder without a pick is no picker output)
    options = ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0, decisions=True)
    made = _run_any(pickers, folder / "picks_core", options, monkeypatch, core=True)
    assert made == _run_any(pickers, folder / "picks_python", options, monkeypatch, core=False)


@pytest.mark.real_data
def test_the_real_tutorial_two_picker_merge_record_is_the_python_record(tmp_path, monkeypatch):
    # The RELION 3.1 tutorial's template (job011) and LoG (job006) pickers on their 5 shared
    # micrographs, merged at 100 Å (test_particles_decisions checks its rows against a brute force).
    folders = [shared_file(f"picks/relion31-tutorial/AutoPick/{job}/Movies") for job in ("job011", "job006")]
    micrographs = shared_file("picks/relion31-tutorial/CtfFind/job003/micrographs_ctf.star")
    options = ParticleOptions(micrographs=micrographs, min_dist=100.0, decisions=True)
    made = _run_any(folders, tmp_path / "core", options, monkeypatch, core=True)
    assert made == _run_any(folders, tmp_path / "python", options, monkeypatch, core=False)
    assert made.count(b"\n") > 100
