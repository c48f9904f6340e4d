"""RELION 5 import lists through the particle job: read as one input, the kept picks written back as lists.

The lists and their files are laid out as RELION 5 writes them (tests/formats/star/test_import_lists.py);
the kept picks are checked against a brute-force greedy suppression computed here in Å, from the
coordinates as RELION's import reads them (tilt-series pixels x rlnTomoTiltSeriesPixelSize; text
files scaled and shifted; docs/developers/decisions/tomography.md).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import shared_file
from relion_import import import_coordinates

CORNER = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
CENTRED = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
#: Tomogram -> (tilt-series pixel in Å, size in tilt-series pixels).
TOMOGRAMS = {"TS_01": (1.35, (4000, 4000, 2000)), "TS_02": (2.0, (3000, 3000, 1000)), "TS_03": (1.0, (2000, 2000, 800))}


def relion_table(labels: list[str], rows: list[list[object]], name: str = "") -> str:
    """A table as RELION 5's MetaDataTable::write lays it out."""
    head = f"\n# version 50001\n\ndata_{name}\n\nloop_ \n" + "".join(
        f"_{lab} #{k} \n" for k, lab in enumerate(labels, 1)
    )
    return head + "".join("".join(f"{v!s:>10} " for v in row) + "\n" for row in rows) + " \n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tomograms_star(path: Path) -> Path:
    labels = ["rlnTomoName", "rlnTomoTiltSeriesPixelSize", "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ"]
    rows = [[name, psize, *size] for name, (psize, size) in TOMOGRAMS.items()]
    return write(path, relion_table(labels, rows, "global"))


def import_list(path: Path, entries: list[tuple[str, str]]) -> Path:
    return write(path, relion_table(["rlnTomoName", "rlnTomoImportParticleFile"], [list(e) for e in entries]))


def run(*args: str) -> tuple[int, str]:
    """The exit code, and the document printed (--json) or everything said."""
    result = CliRunner().invoke(main, ["particles", *args])
    return result.exit_code, result.stdout if "--json" in args and result.exit_code == 0 else result.output


def greedy(tomogram: list[str], centres: np.ndarray, scores: np.ndarray, min_dist: float) -> list[bool]:
    """Best score first, each kept pick suppresses every pick of its tomogram within ``min_dist`` Å."""
    keep, suppressed = [False] * len(scores), [False] * len(scores)
    for i in sorted(range(len(scores)), key=lambda r: -scores[r]):
        if suppressed[i]:
            continue
        keep[i] = True
        for j in range(len(scores)):
            if tomogram[j] == tomogram[i] and np.linalg.norm(centres[i] - centres[j]) <= min_dist:
                suppressed[j] = True
    return keep


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELION project folder, the current directory (RELION opens the listed files from there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def star_picks(project: Path, seed: int = 5) -> tuple[Path, list[tuple[str, np.ndarray, float]]]:
    """Three tomograms' STAR files in tilt-series pixels (clusters of near picks, distinct scores), and their list.

    TS_03 holds one pick: nothing of it is rejected, so the rejected list leaves it out.
    """
    rng = np.random.default_rng(seed)
    picks, entries = [], []
    counts = {"TS_01": 40, "TS_02": 30, "TS_03": 1}
    for name, n in counts.items():
        psize, size = TOMOGRAMS[name]
        seeds = rng.uniform(100, np.array(size) - 100, size=(max(n // 3, 1), 3))
        pixels = seeds[rng.integers(0, len(seeds), n)] + rng.normal(0, 40 / psize, size=(n, 3))
        scores = rng.permutation(n) / n + len(picks)  # distinct over all picks
        rows = [[name, *np.round(p, 2), f"{s:.6f}"] for p, s in zip(pixels, scores)]
        write(project / f"tm/{name}.star", relion_table(["rlnTomoName", *CORNER, "rlnAutopickFigureOfMerit"], rows))
        picks += [(name, np.round(p, 2) * psize, float(f"{s:.6f}")) for p, s in zip(pixels, scores)]
        entries.append((name, f"tm/{name}.star"))
    return import_list(project / "tm/list.star", entries), picks


def coordinate_rows(path: Path, labels: list[str]) -> list[tuple[float, ...]]:
    table = starfile.read(path)
    return [tuple(row) for row in table[labels].to_numpy(dtype=float)]


def test_a_list_of_star_files_keeps_what_a_brute_force_keeps_and_is_written_back_as_relion_imports_it(project):
    listed, picks = star_picks(project)
    tomograms = tomograms_star(project / "Tomograms/job006/tomograms.star")
    code, out = run(str(listed), "--min-dist", "60", "--micrographs", str(tomograms), "-o", "Dedup/", "--json")
    assert code == 0, out
    summary = json.loads(out)
    keep = greedy([p[0] for p in picks], np.array([p[1] for p in picks]), np.array([p[2] for p in picks]), 60.0)
    assert 0 < summary["rejected"] == keep.count(False)
    assert summary["layouts"][0]["layout"] == "RELION 5 import list"
    # The written lists, read as RELION reads them: paths from the project folder, one file per tomogram.
    for subset, wanted in (("kept", True), ("rejected", False)):
        import_coordinates(project / f"Dedup/{subset}_import_list.star", project)  # (RELION's import, ported)
        written = starfile.read(project / f"Dedup/{subset}_import_list.star")
        expected = {name for (name, _, _), k in zip(picks, keep) if k == wanted}
        assert sorted(written["rlnTomoName"]) == sorted(expected)
        for name, file in zip(written["rlnTomoName"], written["rlnTomoImportParticleFile"]):
            psize = TOMOGRAMS[name][0]
            got = sorted(np.round(np.array(coordinate_rows(project / file, CORNER)) * psize, 6).tolist())
            want = sorted(np.round(c, 6).tolist() for (n, c, _), k in zip(picks, keep) if n == name and k == wanted)
            assert got == want, (subset, name)
    assert summary["import_lists"]["rejected"]["left_out"] == ["TS_03 (tm/TS_03.star)"]
    assert summary["import_lists"]["kept"]["files"] == 3
    # Each kept file is the input's bytes without the rejected lines.
    source = (project / "tm/TS_03.star").read_bytes()
    assert (project / "Dedup/kept_coordinates/TS_03.star").read_bytes() == source


def test_import_options_on_a_list_of_star_files_alone_are_warned_of(project):
    # RELION's import scales and shifts text files only: given for a list of STAR files, --import-scale and
    # --import-add change nothing, which was not said (a user scaling tomogram pixels then saw "unrelated").
    listed, _ = star_picks(project)
    tomograms = tomograms_star(project / "Tomograms/job006/tomograms.star")
    args = [str(listed), "--micrographs", str(tomograms), "--json"]
    code, out = run(*args, "--import-scale", "7.4", "--import-add", "2", "--audit")
    assert code == 0, out
    warned = [w for w in json.loads(out)["warnings"] if "--import-scale" in w]
    assert len(warned) == 1 and "text coordinate files" in warned[0] and "--import-add" in warned[0], warned
    code, out = run(*args, "--audit")
    assert code == 0 and not [w for w in json.loads(out)["warnings"] if "--import-" in w]


def test_text_files_are_scaled_and_shifted_as_relions_import_options_say(project):
    # Raw pixels: pair A 20 apart (x 2: 40 Å, not within 30), pair B 10 apart (20 Å: within); x 2 + 1.
    write(project / "txt/TS_01.coords", "100 100 50\n120 100 50\n400 400 50\n410 400 50\n")
    write(project / "txt/TS_02.coords", "# picks\n100 100 50\n")
    listed = import_list(project / "txt/list.star", [("TS_01", "txt/TS_01.coords"), ("TS_02", "txt/TS_02.coords")])
    args = [str(listed), "--min-dist", "30", "--mic-psize", "1", "-o", "Out/", "--json"]
    code, out = run(*args, "--import-scale", "2", "--import-add", "1")
    assert code == 0, out
    summary = json.loads(out)
    assert (summary["kept"], summary["rejected"]) == (4, 1)  # pair B loses one; pair A is 40 Å apart
    kept_text = (project / "Out/kept_coordinates/TS_01.coords").read_text().splitlines()
    assert kept_text[:2] == ["100 100 50", "120 100 50"] and len(kept_text) == 3
    assert (project / "Out/kept_coordinates/TS_02.coords").read_text() == "# picks\n100 100 50\n"
    # Unscaled, pair A is 20 Å apart: one of it goes too.
    code, out = run(*args[:-3], "-o", "Unscaled/", "--json")
    assert code == 0, out
    assert json.loads(out)["rejected"] == 2


def test_lists_in_the_two_frames_are_compared_in_the_centred_one(project):
    tomograms = tomograms_star(project / "tomograms.star")
    psize, size = TOMOGRAMS["TS_01"]
    corner = np.array([1000.0, 1500.0, 500.0])
    # RELION 5's centred Å of the same place: its C++ jobs centre the imported pixels on size / 2
    # (TomogramSet::loadTomogram, ParticleSet::getParticleCoordDecenteredPixel)
    centred = corner * psize - np.array(size) / 2 * psize
    write(project / "a/TS_01.star", relion_table(["rlnTomoName", *CENTRED], [["TS_01", *np.round(centred + 5, 4)]]))
    write(project / "b/TS_01.coords", f"{corner[0]:g} {corner[1]:g} {corner[2]:g}\n")
    first = import_list(project / "a/list.star", [("TS_01", "a/TS_01.star")])
    second = import_list(project / "b/list.star", [("TS_01", "b/TS_01.coords")])
    code, out = run(str(first), str(second), "--min-dist", "10", "--micrographs", str(tomograms), "-o", "D/", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["rejected"] == 1  # 5 Å apart in each axis (8.7 Å) once in one frame
    assert "carried into centred" in " ".join(summary["layouts"][1]["notes"])
    for subset in ("kept", "rejected"):  # a STAR file and a text file: one list each (RELION's import, ported)
        for written in (project / "D").glob(f"{subset}_import_list*.star"):
            import_coordinates(written, project)
    code, out = run(str(first), str(second), "--min-dist", "10", "--mic-psize", "1.35", "-o", "E/")
    assert code != 0 and "no tomograms STAR was given" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "give RELION 5's tomograms.star with --micrographs (rlnTomoTiltSeriesPixelSize) or"),
        (["--mic-psize", "2.7"], "contradicts rlnTomoTiltSeriesPixelSize 1.35"),
        (["--micrographs", "particles.star"], "expected RELION 5's tomograms STAR"),
    ],
)
def test_what_cannot_be_put_in_angstrom_is_refused_in_one_line(project, extra, expected):
    listed, _ = star_picks(project)
    if "--mic-psize" in extra:
        extra = [*extra, "--micrographs", str(tomograms_star(project / "tomograms.star"))]
    write(
        project / "particles.star",
        relion_table(["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY"], [["a", 1, 2]]),
    )
    code, out = run(str(listed), "--min-dist", "60", "-o", "Dedup/", *extra)
    assert code != 0 and expected in out and "Traceback" not in out
    assert not (project / "Dedup").exists()


def relion5_particles(path: Path, rows: list[list[object]]) -> Path:
    """A RELION 5 particles.star (centred Å, an optics table with the tilt-series pixel)."""
    optics = relion_table(["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize"], [[1, "og1", 1.35]])
    labels = ["rlnTomoName", *CENTRED, "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
    particles = relion_table(labels, [[*row, 1] for row in rows], "particles")
    return write(path, optics.replace("data_", "data_optics", 1) + particles)


def test_an_import_list_and_a_relion5_particle_file_are_one_set_in_the_centred_frame(project):
    tomograms = tomograms_star(project / "tomograms.star")
    psize, size = TOMOGRAMS["TS_01"]
    offset = np.array(size) / 2 * psize  # (RELION's C++ centre of the imported pixels)
    corner = np.array([[1000.0, 1500.0, 500.0], [3000.0, 3000.0, 1000.0]])  # tilt-series pixels
    # The particle file: the list's first pick 6 Å off (score 0.5, below the list's 0.9), and one far away.
    near = corner[0] * psize - offset + 6
    particles = relion5_particles(
        project / "Refine/particles.star", [["TS_01", *np.round(near, 4), 0.5], ["TS_02", 0, 0, 0, 0.7]]
    )
    rows = [["TS_01", *corner[0], 0.9], ["TS_01", *corner[1], 0.8]]
    write(project / "tm/TS_01.star", relion_table(["rlnTomoName", *CORNER, "rlnAutopickFigureOfMerit"], rows))
    listed = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star")])
    code, out = run(
        str(particles), str(listed), "--min-dist", "20", "--micrographs", str(tomograms), "-o", "D/", "--json"
    )
    assert code == 0, out
    summary = json.loads(out)
    assert [(i["kept"], i["rejected"]) for i in summary["inputs"]] == [(1, 1), (2, 0)]
    assert [entry["layout"] for entry in summary["layouts"]] == ["RELION 5", "RELION 5 import list"]
    rejected = starfile.read(project / "D/particles_rejected.star")["particles"]
    assert rejected["rlnAutopickFigureOfMerit"].tolist() == [0.5]
    kept = starfile.read(project / "D/kept_import_list.star")
    assert len(starfile.read(project / kept["rlnTomoImportParticleFile"][0])) == 2
    assert summary["import_lists"]["rejected"]["left_out"] == ["TS_01 (tm/TS_01.star)"]
    # Without the tomogram sizes the two frames cannot be compared: refused, naming both.
    code, out = run(str(particles), str(listed), "--min-dist", "20", "--mic-psize", "1.35", "-o", "E/")
    assert code != 0 and "Refine/particles.star" in out and "no tomograms STAR was given" in out


def test_an_import_list_with_picker_files_is_refused(project):
    listed, _ = star_picks(project)
    picks = write(project / "picks.box", "10 10 20 20\n")
    code, out = run(str(listed), str(picks), "-o", "Dedup/")
    assert code != 0 and "import lists" in out and "Traceback" not in out


def test_outputs_are_refused_when_present_and_replaced_with_force(project):
    listed, _ = star_picks(project)
    tomograms = str(tomograms_star(project / "tomograms.star"))
    assert run(str(listed), "--micrographs", tomograms, "-o", "Dedup/")[0] == 0
    code, out = run(str(listed), "--micrographs", tomograms, "--min-dist", "90", "-o", "Dedup/")
    assert code != 0 and "--force" in out
    code, out = run(str(listed), "--micrographs", tomograms, "--min-dist", "90", "-o", "Dedup/", "--force", "--json")
    assert code == 0, out
    kept = starfile.read(project / "Dedup/kept_import_list.star")
    assert sum(len(starfile.read(project / f)) for f in kept["rlnTomoImportParticleFile"]) == json.loads(out)["kept"]


@pytest.mark.real_data
def test_a_real_picks_job_split_into_an_import_list_keeps_what_runs_on_each_tomogram_keep(project):
    # RELION 5's Picks job019 (cets-relion): 9,442 picks in centred Å on 5 tomograms, written one file per
    # tomogram (its header, then its rows as they are) and listed; --remove-entirely does not depend on the
    # rows' order, so the list's kept files must hold the rows each tomogram's own run keeps.
    source = shared_file("tomo/cets-relion__Picks_job019_particles.star").read_text().splitlines(keepends=True)
    header = [line for line in source if not line.startswith("TS_")]
    tomograms = list(dict.fromkeys(line.split()[0] for line in source if line.startswith("TS_")))
    for name in tomograms:
        write(
            project / f"Picks/{name}.star", "".join(header + [line for line in source if line.startswith(f"{name}\t")])
        )
    listed = import_list(project / "list.star", [(name, f"Picks/{name}.star") for name in tomograms])
    code, out = run(str(listed), "--min-dist", "60", "--remove-entirely", "-o", "Dedup/", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["particles"] == 9442 and summary["rejected"] > 0
    assert len(import_coordinates(project / "Dedup/kept_import_list.star", project).rows) == summary["kept"]
    for name in tomograms:
        code, alone = run(f"Picks/{name}.star", "--min-dist", "60", "--remove-entirely", "-o", f"Alone/{name}/")
        assert code == 0, alone
        expected = (project / f"Alone/{name}/particles_kept.star").read_text().splitlines()
        kept = project / f"Dedup/kept_coordinates/{name}.star"
        got = kept.read_text().splitlines() if kept.exists() else []
        assert [r for r in got if r.startswith("TS_")] == [r for r in expected if r.startswith("TS_")], name


def _moved_copy(project: Path, listed: Path, shift: tuple[float, float, float], folder: str) -> Path:
    """Another session's list: each file of ``listed`` under ``folder``, its pixels moved by ``shift``, and its list."""
    entries = []
    for name, file in zip(*(starfile.read(listed)[c] for c in ("rlnTomoName", "rlnTomoImportParticleFile"))):
        table = starfile.read(project / file)
        rows = [[name, *np.round(np.array(r[1:4], dtype=float) + shift, 2), r[4]] for r in table.to_numpy()]
        labels = ["rlnTomoName", *CORNER, "rlnAutopickFigureOfMerit"]
        write(project / f"{folder}/{name}.star", relion_table(labels, [[str(v) for v in row] for row in rows]))
        entries.append((name, f"{folder}/{name}.star"))
    return import_list(project / f"{folder}/list.star", entries)


def test_a_transform_of_an_import_list_writes_each_list_apart_as_read(project):
    # On today's main refused ("these outputs combine the inputs in one file", which a list does not: it names
    # files). Now each input gets lists of its own (one list would name files of two frames), the moved list's
    # files as read; the decision is the one of the same list given unmoved (the oracle).
    listed, _ = star_picks(project)
    tomograms = str(tomograms_star(project / "tomograms.star"))
    moved = _moved_copy(project, listed, (300.0, 0.0, 0.0), "moved")
    same = _moved_copy(project, listed, (0.0, 0.0, 0.0), "same")
    common = ["--micrographs", tomograms, "--min-dist", "60", "--json"]
    code, out = run(str(listed), str(moved), *common, "--transform", f"{moved}=shift:-300,0,0", "-o", "D/")
    assert code == 0, out
    summary = json.loads(out)
    assert "lists of its own (kept_import_list_2.star" in summary["transforms"][0]["written"]
    code, peer = run(str(listed), str(same), *common, "-o", "E/")
    assert code == 0, peer
    assert (summary["kept"], summary["rejected"]) == (json.loads(peer)["kept"], json.loads(peer)["rejected"])
    assert not (project / "D/kept_import_list.star").exists()
    for subset in ("kept", "rejected"):
        import_coordinates(project / f"D/{subset}_import_list_2.star", project)  # (RELION's import, ported)
    # The moved list's kept and rejected files hold its lines as read, each once.
    written = []
    for subset in ("kept", "rejected"):
        for file in starfile.read(project / f"D/{subset}_import_list_2.star")["rlnTomoImportParticleFile"]:
            written += [line for line in (project / file).read_text().splitlines() if line.startswith("TS_")]
    read = [line for f in (project / "moved").glob("*.star") for line in f.read_text().splitlines()]
    assert sorted(written) == sorted(line for line in read if line.startswith("TS_"))


def test_a_list_with_nothing_rejected_still_gets_its_empty_rejected_list(project):
    # As every other output of a subset with no rows (particles_rejected.star, a picker's empty files, the one
    # rejected_import_list.star): written, header only, naming no file, and RELION's import takes it (no particle).
    listed, _ = star_picks(project)
    tomograms = str(tomograms_star(project / "tomograms.star"))
    alone = write(project / "far/TS_03.star", relion_table(["rlnTomoName", *CORNER], [["TS_03", 50, 60, 70]]))
    far = import_list(project / "far/list.star", [("TS_03", str(alone.relative_to(project)))])
    code, out = run(str(listed), str(far), "--micrographs", tomograms, "--min-dist", "60", "-o", "D/", "--json")
    assert code == 0, out
    assert json.loads(out)["import_lists"]["rejected"]["lists"][1] == "D/rejected_import_list_2.star"
    assert not import_coordinates(project / "D/rejected_import_list_2.star", project).rows
    assert len(import_coordinates(project / "D/kept_import_list_2.star", project).rows) == 1


def _advised_score(said: str) -> list[str]:
    """The --score a one-line error advises, as a user copies it: COLUMN filled with the first column it names."""
    match = re.search(r"give (--score) COLUMN with a column both have \(of theirs: ([^)]*)\)", said)
    assert match, said
    return shlex.split(f"{match.group(1)} {match.group(2).split(', ')[0]}")


def test_a_particle_file_and_a_list_ranked_by_different_scores_run_with_the_column_advised(project):
    """Refine3D's particles carry rlnMaxValueProbDistribution (--score auto's choice for them) and
    rlnLogLikeliContribution; the list's picks the latter alone. Refused naming that column; run with it, what a
    brute-force greedy on rlnLogLikeliContribution keeps (on main the advice named no column)."""
    tomograms = tomograms_star(project / "tomograms.star")
    psize, size = TOMOGRAMS["TS_01"]
    offset = np.array(size) / 2 * psize
    corner = np.array([[1000.0, 1500.0, 500.0], [3000.0, 3000.0, 1000.0]])  # the list's picks, tilt-series pixels
    near = np.round(corner[0] * psize - offset + 6, 4)  # a particle 6√3 Å from the first pick
    optics = relion_table(["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize"], [[1, "og1", psize]])
    labels = ["rlnTomoName", *CENTRED, "rlnMaxValueProbDistribution", "rlnLogLikeliContribution", "rlnOpticsGroup"]
    rows = [["TS_01", *near, 0.9, 0.3, 1], ["TS_01", -500.0, -500.0, 0.0, 0.7, 0.2, 1]]
    particles = write(
        project / "Refine/particles.star",
        optics.replace("data_", "data_optics", 1) + relion_table(labels, rows, "particles"),
    )
    picks = [["TS_01", *corner[0], 0.8], ["TS_01", *corner[1], 0.1]]
    write(project / "tm/TS_01.star", relion_table(["rlnTomoName", *CORNER, "rlnLogLikeliContribution"], picks))
    listed = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star")])
    args = [str(particles), str(listed), "--min-dist", "20", "--micrographs", str(tomograms)]
    code, said = run(*args, "-o", "D/")
    assert code != 0 and "ranked by rlnMaxValueProbDistribution" in said, said
    code, out = run(*args, *_advised_score(said), "-o", "D/", "--json")
    assert code == 0, out
    # Oracle: greedy by rlnLogLikeliContribution (higher better) on the centres in centred Å, particles first.
    centres = np.array([near, [-500.0, -500.0, 0.0], *(corner * psize - offset)])
    keep = greedy(["TS_01"] * 4, centres, np.array([0.3, 0.2, 0.8, 0.1]), 20.0)
    summary = json.loads(out)
    assert [(i["kept"], i["rejected"]) for i in summary["inputs"]] == [
        (keep[:2].count(True), keep[:2].count(False)),
        (keep[2:].count(True), keep[2:].count(False)),
    ]
    rejected = starfile.read(project / "D/particles_rejected.star")["particles"]
    assert rejected["rlnLogLikeliContribution"].tolist() == [s for s, k in zip([0.3, 0.2], keep) if not k] == [0.3]


def test_a_particle_file_and_a_list_sharing_no_score_run_with_score_none_as_advised(project):
    """The particles' score is not the picks': no column both have, so --score none is advised, and runs (the picks
    far apart: nothing is rejected, whatever the ranking)."""
    tomograms = tomograms_star(project / "tomograms.star")
    particles = relion5_particles(project / "Refine/particles.star", [["TS_01", -900.0, -900.0, 0.0, 0.5]])
    picks = [["TS_01", 1000.0, 1500.0, 500.0, 0.8]]
    write(project / "tm/TS_01.star", relion_table(["rlnTomoName", *CORNER, "rlnLogLikeliContribution"], picks))
    listed = import_list(project / "tm/list.star", [("TS_01", "tm/TS_01.star")])
    args = [str(particles), str(listed), "--min-dist", "20", "--micrographs", str(tomograms)]
    code, said = run(*args, "-o", "D/")
    assert code != 0 and "ranked by rlnAutopickFigureOfMerit" in said, said
    match = re.search(r"no column both have is a score: give (--score none)", said)
    assert match, said
    code, out = run(*args, *shlex.split(match.group(1)), "-o", "D/", "--json")
    assert code == 0, out
    assert [(i["kept"], i["rejected"]) for i in json.loads(out)["inputs"]] == [(1, 0), (1, 0)]
