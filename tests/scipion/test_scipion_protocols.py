"""The Scipion plugin's protocols run by a Scipion project, against brute force and the CLI.

Each test builds its inputs with pwem's objects in a project of its own (a temporary
SCIPION_HOME and SCIPION_USER_DATA, conftest.py), launches the protocol through the project
(``project.launchProtocol(prot, wait=True)``, the protocol running in a child process as
Scipion runs it), and compares the outputs with a brute-force reference and with the command
line on the same data. Skipped without scipion-em; CI installs it (``.ci/run``) and sets
CRYODEDUP_REQUIRE_SCIPION=1, which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipion_project as sp

from helpers import missing_program
from oracle import oracle_by_group, oracle_support

HAVE_SCIPION = all(importlib.util.find_spec(name) is not None for name in ("pwem", "cryodedup_scipion"))


@pytest.fixture(autouse=True)
def _scipion_installed():
    if not HAVE_SCIPION:
        missing_program(
            "scipion-em or the plugin is not installed (pip install scipion-em scipion-pyworkflow ./scipion)",
            required_by="CRYODEDUP_REQUIRE_SCIPION",
        )


MIC_PSIZE = 12.0


def run_cli(cwd: Path, *args: str) -> Path:
    """``cryodedup ARGS -o OUT`` run by the command line under this Python; returns OUT."""
    out = cwd / f"cli_{len(list(cwd.glob('cli_*')))}"
    command = [sys.executable, "-m", "cryodedup.cli", *args, "-o", str(out), "--quiet"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def star_column(path: Path, label: str, block: str = "particles") -> list[str]:
    import starfile

    return [str(v) for v in starfile.read(path, always_dict=True)[block][label]]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return sp.new_project(tmp_path, "cryodedup_test")


@pytest.fixture
def micrographs(tmp_path, project):
    from helpers import write_planted_micrographs

    folder = tmp_path / "mics"
    folder.mkdir()
    paths = write_planted_micrographs(folder, 8, {5: 2, 8: 6})  # mic_5 repeats mic_2, mic_8 mic_6
    return sp.add_micrographs(project, paths, MIC_PSIZE), paths


def clustered_picks(rng, n: int, mics: range, spread: float = 4.0):
    """Picks in clusters (so that many are duplicates): rows of (mic, x, y, score)."""
    centres = rng.uniform(40, 360, (n // 3 + 1, 2))
    rows = []
    for _ in range(n):
        cx, cy = centres[rng.integers(len(centres))]
        rows.append(
            (int(rng.choice(list(mics))), cx + rng.normal(0, spread), cy + rng.normal(0, spread), rng.uniform())
        )
    return rows


# --- coordinates: two pickers, consensus -----------------------------------------------------------


def test_coordinates_of_two_pickers_match_brute_force_and_the_cli(tmp_path, project, micrographs):
    mics_prot, paths = micrographs
    rng = np.random.default_rng(3)
    picks_a = clustered_picks(rng, 300, range(8))
    picks_b = clustered_picks(rng, 200, range(5))  # picker B ran on mic_1 ... mic_5 only
    # B's micrographs: a set of its own holding mic_1 ... mic_5 (matched to A's by name).
    mics_b = sp.add_micrographs(project, paths[:5], MIC_PSIZE, label="micrographs of B")
    prot_a = sp.add_coordinates(project, mics_prot, picks_a, "picker A", "_rlnAutopickFigureOfMerit")
    prot_b = sp.add_coordinates(project, mics_b, picks_b, "picker B", "_cryoloScore")
    min_dist = 8 * MIC_PSIZE
    prot = sp.launch(
        project,
        "ProtCryodedupCoordinates",
        inputCoordinates=[(prot_a, "outputCoordinates"), (prot_b, "outputCoordinates")],
        minDist=min_dist,
        minSupport=2,
    )
    assert prot.isFinished(), sp.run_log(prot)

    # Brute force: positions as stored (whole pixels), in Å; dedup, then support >= 2 where
    # both pickers ran (mic_1 ... mic_5), kept unconfirmable elsewhere.
    rows = [(0, *p) for p in picks_a] + [(1, *p) for p in picks_b]
    inputs = np.array([r[0] for r in rows])
    groups = np.array([r[1] for r in rows])
    centres = np.array([(int(r[2]), int(r[3])) for r in rows], dtype=float) * MIC_PSIZE
    scores = np.array([r[4] for r in rows])
    kept = oracle_by_group(groups, centres, scores, min_dist)
    support = oracle_support(groups, centres, inputs, min_dist)
    expected = kept & ((support >= 2) | (groups >= 5))
    key = [(int(i), f"mic_{g + 1}.mrc", int(x), int(y)) for i, g, x, y, _ in rows]
    want = sorted(k for k, e in zip(key, expected) if e)
    got = sorted(
        (c._cryodedupInput.get() - 1, c.getMicName(), c.getX(), c.getY()) for c in prot.outputCoordinates.iterItems()
    )
    assert got == want
    rejected = sorted(
        (c._cryodedupInput.get() - 1, c.getMicName(), c.getX(), c.getY()) for c in prot.rejectedCoordinates.iterItems()
    )
    assert rejected == sorted(k for k, e in zip(key, expected) if not e)
    # Every output coordinate refers to the first input's micrographs, each keeps its own score.
    first_ids = {m.getMicName(): m.getObjId() for m in mics_prot.outputMicrographs}
    for c in prot.outputCoordinates.iterItems():
        assert c.getMicId() == first_ids[c.getMicName()]
        score = c._cryoloScore.get() if c._cryodedupInput.get() == 2 else c._rlnAutopickFigureOfMerit.get()
        assert score is not None
    assert prot.outputCoordinates.getBoxSize() == 64
    assert any("Kept: *" in line for line in prot.summary())
    assert_report(project, prot, "picker A", "picker B")

    # The command line on the same picks, one particle STAR per picker.
    for name, picks in (("a", picks_a), ("b", picks_b)):
        write_pick_star(tmp_path / f"{name}.star", name, picks)
    out = run_cli(
        tmp_path,
        "particles",
        "a.star",
        "b.star",
        "--mic-psize",
        str(MIC_PSIZE),
        "--min-dist",
        str(min_dist),
        "--min-support",
        "2",
        "--score",
        "rlnAutopickFigureOfMerit",
    )
    cli_kept = star_column(out / "particles_kept.star", "rlnImageName")
    names = [f"{k + 1}@{'ab'[i]}" for i, picks in enumerate((picks_a, picks_b)) for k in range(len(picks))]
    assert sorted(cli_kept) == sorted(n for n, e in zip(names, expected) if e)


def assert_report(project, prot, *expected: str) -> None:
    """The run's report.html holds ``expected``; its summary names it, its viewer opens it."""
    from cryodedup_scipion.viewers import CryodedupViewer, FileView

    report = Path(prot._getExtraPath("cryodedup", "report.html"))
    html = report.read_text()
    assert all(text in html for text in expected), expected
    assert len(list(report.parent.glob("*.png"))) >= 2
    assert any(str(report) in line for line in prot.summary())
    views = CryodedupViewer(project=project)._visualize(prot)
    assert isinstance(views[0], FileView) and views[0].path == str(report.resolve())


def write_pick_star(path: Path, name: str, picks) -> None:
    from helpers import write_star

    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnImageName"]
    rows = [
        (f"mic_{m + 1}.mrc", int(x), int(y), repr(float(s)), f"{k + 1}@{name}") for k, (m, x, y, s) in enumerate(picks)
    ]
    write_star(path, labels, rows, optics=None)


# --- particles: alignment shifts ------------------------------------------------------------------


def shifted_particles(rng, n_pairs: int):
    """Pairs of particles 30 px apart whose shifts bring them within a few pixels (and lone ones)."""
    rows = []
    for _ in range(n_pairs):
        mic = int(rng.integers(8))
        x, y = rng.uniform(60, 300, 2)
        sx, sy = rng.uniform(-6, 6, 2)
        rows.append((mic, round(x), round(y), sx, sy, rng.uniform(), rng.uniform(0, 6.28)))
        # The partner's coordinate is 30 px off; its shift takes it back near the first's centre.
        rows.append((mic, round(x) + 30, round(y), 30 + sx + rng.normal(0, 1), sy, rng.uniform(), rng.uniform(0, 6.28)))
    return rows


@pytest.mark.parametrize("align", ["2D", "Projection"])
def test_particles_with_shifts_match_brute_force_pwem_and_the_cli(tmp_path, project, micrographs, align):
    from pwem.protocols.protocol_extract_coordinates import ProtExtractCoords

    mics_prot, _ = micrographs
    rng = np.random.default_rng(5)
    rows = shifted_particles(rng, 60)
    sampling = 2 * MIC_PSIZE  # extracted downsampled by 2: coordinates and shifts in particle pixels
    parts_prot = sp.add_particles(project, mics_prot, rows, sampling, align)
    min_dist = 5 * sampling
    prot = sp.launch(
        project, "ProtCryodedupParticles", inputParticles=(parts_prot, "outputParticles"), minDist=min_dist
    )
    assert prot.isFinished(), sp.run_log(prot)

    # Brute force, the shift read back by pwem's own rule (ProtExtractCoords.getShifts).
    particles = [p.clone() for p in parts_prot.outputParticles.iterItems()]  # (iteration reuses one item)
    extractor = ProtExtractCoords()
    pwem_shifts = np.array([extractor.getShifts(p.getTransform(), align)[:2] for p in particles])
    assert np.allclose(pwem_shifts, [(r[3], r[4]) for r in rows], atol=1e-9)
    xy = np.array([(p.getCoordinate().getX(), p.getCoordinate().getY()) for p in particles], dtype=float)
    centres = (xy - pwem_shifts) * sampling
    groups = np.array([r[0] for r in rows])
    expected = oracle_by_group(groups, centres, np.array([r[5] for r in rows]), min_dist)
    ids = [p.getObjId() for p in particles]
    assert sorted(p.getObjId() for p in prot.outputParticles.iterItems()) == [i for i, e in zip(ids, expected) if e]
    assert sorted(p.getObjId() for p in prot.rejectedParticles.iterItems()) == [
        i for i, e in zip(ids, expected) if not e
    ]
    assert 40 <= int((~expected).sum()) <= 60  # the shifts made most partners duplicates

    assert_report(project, prot, "particles", f"{align} alignment shifts")

    # Every attribute of each particle, and the set's own, carried unchanged.
    by_id = {p.getObjId(): p for p in particles}
    for out in prot.outputParticles.iterItems():
        assert out.getObjDict(includeBasic=True) == by_id[out.getObjId()].getObjDict(includeBasic=True)
    assert prot.outputParticles.getSamplingRate() == sampling and prot.outputParticles.getAlignment() == align

    # The command line on the same particles, written as RELION 3.1 writes Scipion's particles.
    write_particle_star(tmp_path / "p.star", rows, sampling)
    out = run_cli(
        tmp_path, "particles", "p.star", "--min-dist", str(min_dist), "--score", "rlnMaxValueProbDistribution"
    )
    names = [f"{k:06d}@particles.mrcs" for k in range(1, len(rows) + 1)]
    assert star_column(out / "particles_kept.star", "rlnImageName") == [n for n, e in zip(names, expected) if e]

    # Without the shifts the pairs stay 30 px apart: nothing is a duplicate.
    plain = sp.launch(
        project,
        "ProtCryodedupParticles",
        inputParticles=(parts_prot, "outputParticles"),
        minDist=min_dist,
        useShifts=False,
    )
    assert plain.isFinished() and plain.rejectedParticles.getSize() == 0


def write_particle_star(path: Path, rows, sampling: float) -> None:
    """RELION 3.1 particles as Scipion's RELION plugin writes them (coordinates and origins in particle pixels)."""
    from helpers import write_star

    labels = [
        "rlnMicrographName",
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnMaxValueProbDistribution",
        "rlnImageName",
        "rlnOpticsGroup",
    ]
    lines = [
        (f"mic_{m + 1}.mrc", x, y, repr(sx * sampling), repr(sy * sampling), repr(s), f"{k:06d}@particles.mrcs", 1)
        for k, (m, x, y, sx, sy, s, _) in enumerate(rows, 1)
    ]
    optics = [("opticsGroup1", 1, sampling, sampling, 64, 2)]
    optics_labels = [
        "rlnOpticsGroupName",
        "rlnOpticsGroup",
        "rlnMicrographPixelSize",
        "rlnImagePixelSize",
        "rlnImageSize",
        "rlnImageDimensionality",
    ]
    write_star(path, labels, lines, optics=optics, optics_labels=optics_labels)


# --- micrographs ------------------------------------------------------------------------------------


def test_micrographs_and_their_particles_match_the_planted_pairs_and_the_cli(tmp_path, project, micrographs):
    mics_prot, paths = micrographs
    rng = np.random.default_rng(7)
    rows = [(int(rng.integers(8)), *rng.uniform(20, 200, 2), 0.0, 0.0, rng.uniform(), 0.0) for _ in range(80)]
    parts_prot = sp.add_particles(project, mics_prot, rows, MIC_PSIZE, "None")
    prot = sp.launch(
        project,
        "ProtCryodedupMicrographs",
        inputMicrographs=(mics_prot, "outputMicrographs"),
        inputParticles=(parts_prot, "outputParticles"),
    )
    assert prot.isFinished(), sp.run_log(prot)
    planted = {"mic_5.mrc", "mic_8.mrc"}
    assert {m.getMicName() for m in prot.rejectedMicrographs.iterItems()} == planted
    assert prot.outputMicrographs.getSize() == 6 and prot.outputMicrographs.getSamplingRate() == MIC_PSIZE
    on_rejected = sorted(k for k, r in enumerate(rows, 1) if f"mic_{r[0] + 1}.mrc" in planted)
    assert sorted(p.getObjId() for p in prot.rejectedParticles.iterItems()) == on_rejected
    assert prot.outputParticles.getSize() + len(on_rejected) == len(rows)
    assert Path(prot.pairs.getFileName()).read_text().startswith("index_a,index_b,")

    out = run_cli(tmp_path, "micrographs", *map(str, paths), "--psize", str(MIC_PSIZE))
    cli_rejected = {Path(line).name for line in (out / "micrographs_rejected.txt").read_text().split()}
    assert cli_rejected == planted
    assert any("mic_5.mrc repeats mic_2.mrc" in line for line in prot.summary())

    assert_report(project, prot, "mic_5.mrc")


# --- bad input: one line from _validate, no traceback ------------------------------------------------


def assert_refused(project, cls_name: str, expected: str, **inputs) -> None:
    prot = sp.launch(project, cls_name, **inputs)
    assert prot.isFailed()
    errors = prot.validate()
    assert len(errors) == 1 and "\n" not in errors[0] and expected in errors[0], errors
    assert expected in prot.getErrorMessage()
    log = sp.run_log(prot)
    assert expected in log and "Traceback" not in log, log


def test_bad_input_is_refused_in_one_line(project, micrographs):
    from pwem.objects import Coordinate, Particle

    mics_prot, _ = micrographs
    empty = sp.add_coordinates(project, mics_prot, [], "empty picker", None)
    assert_refused(
        project, "ProtCryodedupCoordinates", "holds no coordinate", inputCoordinates=[(empty, "outputCoordinates")]
    )
    # A set of coordinates without micrographs: no pixel size.
    orphan = sp.source_protocol(project, "ProtImportCoordinates", "no micrographs")
    coords = orphan._createSetOfCoordinates(sp.pointer(mics_prot, "outputMicrographs"))
    coords._micrographsPointer.set(None)
    coord = Coordinate()
    coord.setPosition(10, 10)
    coord.setMicId(1)
    coords.append(coord)
    sp.publish(project, orphan, outputCoordinates=coords)
    assert_refused(
        project,
        "ProtCryodedupCoordinates",
        "refers to no micrographs",
        inputCoordinates=[(orphan, "outputCoordinates")],
    )
    picks = sp.add_coordinates(project, mics_prot, [(0, 10, 10, 1.0), (0, 12, 10, 0.5)], "picker", None)
    assert_refused(
        project,
        "ProtCryodedupCoordinates",
        "*Uncovered picks* reject decides",
        inputCoordinates=[(picks, "outputCoordinates")],
        uncovered=1,
    )
    assert_refused(
        project,
        "ProtCryodedupCoordinates",
        "*Minimum support* 3: there are only 1 input",
        inputCoordinates=[(picks, "outputCoordinates")],
        minSupport=3,
    )
    assert_refused(
        project,
        "ProtCryodedupCoordinates",
        "*Minimum distance (Å)* must be a distance",
        inputCoordinates=[(picks, "outputCoordinates")],
        minDist=-5.0,
    )
    assert_refused(
        project,
        "ProtCryodedupCoordinates",
        "no score attribute _nothing",
        inputCoordinates=[(picks, "outputCoordinates")],
        scoreAttribute="nothing",
    )
    unsampled = sp.add_particles(project, mics_prot, [(0, 10, 10, 0, 0, 1.0, 0)], 0.0, "None", label="no sampling")
    assert_refused(
        project, "ProtCryodedupParticles", "have no sampling rate", inputParticles=(unsampled, "outputParticles")
    )
    empty_parts = sp.add_particles(project, mics_prot, [], 2.0, "None", label="no particles")
    assert_refused(
        project, "ProtCryodedupParticles", "holds no particle", inputParticles=(empty_parts, "outputParticles")
    )
    # Particles imported without their micrograph positions.
    loose = sp.source_protocol(project, "ProtImportParticles", "no coordinates")
    parts = loose._createSetOfParticles()
    parts.setSamplingRate(2.0)
    parts.append(Particle(location=(1, "particles.mrcs")))
    sp.publish(project, loose, outputParticles=parts)
    assert_refused(project, "ProtCryodedupParticles", "carry no coordinates", inputParticles=(loose, "outputParticles"))
    one_mic = sp.add_micrographs(project, micrographs[1][:1], MIC_PSIZE, label="one micrograph")
    assert_refused(
        project, "ProtCryodedupMicrographs", "holds 1 micrograph(s)", inputMicrographs=(one_mic, "outputMicrographs")
    )


def test_the_protocols_appear_in_scipion():
    import configparser
    import json

    import cryodedup_scipion
    from pwem import Domain

    protocols = Domain.getProtocols()
    names = {"ProtCryodedupCoordinates", "ProtCryodedupParticles", "ProtCryodedupMicrographs"}
    assert names <= set(protocols)
    assert "cryodedup_scipion" in Domain.getPlugins()
    assert {protocols[name].getPlugin().getName() for name in names} == {"cryodedup_scipion"}
    conf = configparser.ConfigParser()
    conf.read(Path(cryodedup_scipion.__file__).with_name("protocols.conf"))
    tree = json.loads(conf.get("PROTOCOLS", "Protocols SPA"))

    def leaves(nodes):
        for node in nodes:
            yield from ([node["value"]] if node["tag"] == "protocol" else leaves(node.get("children", [])))

    assert set(leaves(tree)) == names
    assert [v.__name__ for v in Domain.getViewers().values() if v.__module__.startswith("cryodedup_scipion")]


def test_the_readme_script_runs_a_protocol_in_an_existing_project(tmp_path, monkeypatch):
    # The Scipion page's "From a script" block, run as written (only the picking run's id is this
    # project's) in a project of SCIPION_USER_DATA/projects: the kept count is brute force's.
    import re

    from pyworkflow.project import Manager

    from helpers import write_planted_micrographs

    readme = (Path(__file__).resolve().parents[2] / "docs" / "integrations" / "scipion.md").read_text()
    script = readme.split("# dedup.py, run with: scipion3 python dedup.py\n", 1)[1].split("```", 1)[0]
    project = Manager().createProject("MyProject")
    monkeypatch.chdir(project.getPath())
    (tmp_path / "mics").mkdir()
    paths = write_planted_micrographs(tmp_path / "mics", 4, {})
    mics_prot = sp.add_micrographs(project, paths, MIC_PSIZE)
    picks = clustered_picks(np.random.default_rng(11), 240, range(4))
    picker = sp.add_coordinates(project, mics_prot, picks, "picker", "_rlnAutopickFigureOfMerit")
    assert "project.getProtocol(42)" in script
    script = script.replace("project.getProtocol(42)", f"project.getProtocol({picker.getObjId()})")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    said = re.search(r"finished (\d+) coordinates kept", run.stdout)
    assert said, run.stdout + run.stderr
    groups = np.array([p[0] for p in picks])
    centres = np.array([(int(p[1]), int(p[2])) for p in picks], dtype=float) * MIC_PSIZE
    kept = oracle_by_group(groups, centres, np.array([p[3] for p in picks]), 100.0)
    assert int(said.group(1)) == int(kept.sum()) < len(picks)
