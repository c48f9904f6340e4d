"""The README's recipes and its Python block, read from README.md and run on data made like the real files.

Issue 55: "every command in it run by a test". The set-up commands (``pip install . && cryodedup
demo``, ``pip install ".[test]" && pytest``) are run by .ci/run; every other ``cryodedup`` line is
a recipe, run here in a fresh folder holding the files it names, and its result is checked against
numbers worked out in the test from how the data were made (a brute-force greedy over the centres,
the planted re-exposures, the particles before symmetry expansion).
"""

from __future__ import annotations

import csv
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import starfile
from click.testing import CliRunner
from cryosparc.dataset import Dataset
from test_docs import ROOT, code_blocks

from cryodedup.cli import main
from helpers import kept_rows, write_pipeline_project, write_planted_micrographs, write_star

README = ROOT / "README.md"


# --- the README's blocks ----------------------------------------------------------------------------------------


def block_under(heading: str, language: str) -> str:
    """The first fenced ``language`` block of README.md after the line ``heading`` (and before the next heading)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    found = [code for line, lang, code, _ in code_blocks(README) if start < line <= end and lang == language]
    assert found, f"README.md: no {language} block under {heading!r}"
    return found[0]


def commands(code: str) -> list[list[str]]:
    """The ``cryodedup`` commands of a shell block: continuation lines joined, comments and the rest skipped."""
    joined = re.sub(r"\\\n", " ", code)
    return [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("cryodedup ")]


RECIPES = commands(block_under("## Five recipes", "bash"))
SET_UP = ("pip install . && cryodedup demo",)  # run by .ci/run


def inputs_of(args: list[str]) -> list[str]:
    """The paths a recipe names (its positional inputs and option values that are files or folders)."""
    return [a for a in args[2:] if ("/" in a or Path(a).suffix) and not a.endswith("/") and not a[0].isdigit()]


# --- the files the recipes name, made like the real ones --------------------------------------------------------

PSIZE = 1.06  # the shipped example's micrograph pixel size (CtfFind/job003/micrographs_ctf.star)


def relion_picks_project(root: Path) -> dict[str, list[tuple[str, float, float, float]]]:
    """``AutoPick/job010`` (RELION 3.1's layout) and ``ManualPick/job004`` (RELION 4's) on the example's micrographs.

    The autopicks are the shipped LoG picker's; the hand picks are every fifth autopick moved as
    far as real hand picks lie from the autopicks of the same beta-galactosidase particles (9.9,
    33.9 and 43.4 Å, issue 64), plus one pick per micrograph far from every autopick, with
    ManualPick's -999 for class, score and angle. Returns each job's picks: (micrograph, x px, y px, score).
    """
    write_pipeline_project(root)
    (root / "AutoPick/job006").rename(root / "AutoPick/job010")
    auto = []
    for path in sorted((root / "AutoPick/job010/Movies").glob("*_autopick.star")):
        table = starfile.read(path)
        mic = f"MotionCorr/job002/Movies/{path.name.removesuffix('_autopick.star')}.mrc"
        auto += [(mic, r.rlnCoordinateX, r.rlnCoordinateY, r.rlnAutopickFigureOfMerit) for r in table.itertuples()]
    manual: list[tuple[str, float, float, float]] = []
    job = root / "ManualPick/job004"
    (job / "Movies").mkdir(parents=True)
    listed = []
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    for mic in sorted({p[0] for p in auto}):
        mine = [p for p in auto if p[0] == mic]
        picks = [hand_moved(x, y, k) for k, (_, x, y, _) in enumerate(mine[::5])]
        picks.append(
            next(q for q in ((x, y) for x in range(200, 5700, 50) for y in range(200, 4000, 50)) if alone(q, mine))
        )
        # (The hand picks are more than the recipe's distance apart, so all must be kept.)
        assert all(np.hypot(a[0] - b[0], a[1] - b[1]) * PSIZE > 80 for a in picks for b in picks if a is not b)
        manual += [(mic, x, y, -999.0) for x, y in picks]
        coordinates = f"ManualPick/job004/Movies/{Path(mic).stem}_manualpick.star"
        write_star(
            root / coordinates, labels, [[f"{x:.6f}", f"{y:.6f}", -999, -999.0, -999.0] for x, y in picks], block=""
        )
        listed.append([mic, coordinates])
    write_star(
        job / "manualpick.star", ["rlnMicrographName", "rlnMicrographCoordinates"], listed, block="coordinate_files"
    )
    return {"ManualPick/job004": manual, "AutoPick/job010": auto}


#: How far real hand picks lie from an autopicker's picks of the same beta-galactosidase particles (Å).
HAND_OFFSETS_A = (9.9, 33.9, 43.4)


def hand_moved(x: float, y: float, k: int) -> tuple[float, float]:
    """An autopick at (x, y) px as a hand pick of the same particle: moved by a real hand pick's offset."""
    distance, angle = HAND_OFFSETS_A[k % 3] / PSIZE, 2.4 * k  # (a direction that turns from pick to pick)
    return x + distance * np.cos(angle), y + distance * np.sin(angle)


def alone(point: tuple[float, float], picks, away_px: float = 200) -> bool:
    return all(np.hypot(point[0] - x, point[1] - y) > away_px for _, x, y, _ in picks)


def symmetry_expanded(root: Path, copies: int = 4) -> Any:
    """``expanded.star``: the example's LoG particles, each repeated ``copies`` times (C4 about z) as
    relion_particle_symmetry_expand writes them: same image, coordinates and origin, rot + 90° each.

    Returns the particles before expansion."""
    paths = write_pipeline_project(root / "source")
    original = starfile.read(root / "source" / paths["particles_1"], always_dict=True)
    particles = original["particles"]
    expanded = particles.loc[particles.index.repeat(copies)].reset_index(drop=True)
    expanded.insert(
        4, "rlnAngleRot", [(37.0 * (i // copies) + 90.0 * (i % copies)) % 360 - 180 for i in range(len(expanded))]
    )
    expanded.insert(5, "rlnAngleTilt", [float(20 + (i // copies) % 140) for i in range(len(expanded))])
    starfile.write({"optics": original["optics"], "particles": expanded}, root / "expanded.star")
    shutil.rmtree(root / "source")
    return particles


def cryosparc_export(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``exports/groups/J42_particles``: a CryoSPARC result group as *Export* writes it, the particles'
    blob and 2D alignments in one .cs, the location and pick stats passed through in another (rows in
    another order), and the .csg joining them on uid. Clusters of picks on 6 micrographs of 1.06 Å.

    Returns the rows' fields by name, with each row's centre in Å and micrograph (rows in the main .cs's order)."""
    n_mics, per_mic, shape = 6, 60, (4092, 5760)
    n = n_mics * per_mic
    mic = np.repeat(np.arange(n_mics), per_mic)
    # Half the picks lie near another's centre: 0-70 Å away, so some are within 50 Å and some not.
    x = rng.uniform(100, 5600, n) * PSIZE
    y = rng.uniform(100, 4000, n) * PSIZE
    near = np.flatnonzero(rng.random(n) < 0.5)
    near = near[near % per_mic > 0]
    angle, dist = rng.uniform(0, 2 * np.pi, len(near)), rng.uniform(0, 70, len(near))
    x[near], y[near] = x[near - 1] + dist * np.cos(angle), y[near - 1] + dist * np.sin(angle)
    shift = rng.normal(0, 3, (n, 2))  # in 2.12 Å pixels: the centre is the location minus the shift
    fields = {
        "uid": rng.choice(2**62, n, replace=False).astype(np.uint64),
        "blob/path": np.array([f"J40/extract/mic_{m}_particles.mrc" for m in mic], dtype=object),
        "blob/idx": np.array([k % per_mic for k in range(n)], dtype=np.uint32),
        "blob/psize_A": np.full(n, 2.12, dtype=np.float32),
        "blob/shape": np.tile(np.array([128, 128], dtype=np.uint32), (n, 1)),
        "alignments2D/shift": (shift).astype(np.float32),
        "alignments2D/psize_A": np.full(n, 2.12, dtype=np.float32),
        "alignments2D/error": rng.uniform(1000, 2000, n).astype(np.float32),
        "location/micrograph_uid": (mic + 7000).astype(np.uint64),
        "location/micrograph_path": np.array([f"J3/motioncorrected/mic_{m}.mrc" for m in mic], dtype=object),
        "location/micrograph_shape": np.tile(np.array(shape, dtype=np.uint32), (n, 1)),
        "location/micrograph_psize_A": np.full(n, PSIZE, dtype=np.float32),
        "location/center_x_frac": (x + shift[:, 0] * 2.12) / PSIZE / shape[1],
        "location/center_y_frac": (y + shift[:, 1] * 2.12) / PSIZE / shape[0],
        "pick_stats/ncc_score": rng.uniform(0.1, 0.9, n).astype(np.float32),
    }
    folder = root / "exports/groups/J42_particles"
    (folder / "J42").mkdir(parents=True)
    main_fields = [f for f in fields if f == "uid" or f.split("/")[0] in ("blob", "alignments2D")]
    through = [f for f in fields if f not in main_fields or f == "uid"]
    Dataset({f: fields[f] for f in main_fields}).save(folder / "J42/J42_particles_selected.cs")
    order = rng.permutation(n)
    Dataset({f: fields[f][order] for f in through}).save(folder / "J42/J42_passthrough_particles_selected.cs")
    results = {"blob": "J42_particles_selected", "alignments2D": "J42_particles_selected"}
    results |= {"location": "J42_passthrough_particles_selected", "pick_stats": "J42_passthrough_particles_selected"}
    (folder / "J42_particles_exported.csg").write_text(
        "created: 2026-11-26 12:00:00\ngroup:\n  name: particles_selected\n  title: Particles selected\n"
        "  type: particle\nresults:\n"
        + "".join(
            f"  {slot}: {{metafile: '>J42/{meta}.cs', num_items: {n}, type: particle.{slot}}}\n"
            for slot, meta in results.items()
        )
        + "version: v4.6.0\n"
    )
    return fields | {"centre": np.stack([x, y], 1), "mic": mic}


def planted_micrographs(root: Path, count: int = 12) -> None:
    """``MotionCorr/job002/corrected_micrographs.star``: 12 MRC micrographs of 12 Å, mic_6 a re-exposure of mic_4
    and mic_9 of mic_3 (tests/helpers.py's planted set, cut at 12)."""
    movies = root / "MotionCorr/job002/Movies"
    movies.mkdir(parents=True)
    for path in write_planted_micrographs(movies)[count:]:
        path.unlink()
    write_star(
        root / "MotionCorr/job002/corrected_micrographs.star",
        ["rlnMicrographName", "rlnOpticsGroup"],
        [[f"MotionCorr/job002/Movies/mic_{k}.mrc", 1] for k in range(1, count + 1)],
        optics=[[1, "opticsGroup1", 12.0, 12.0]],
        block="micrographs",
    )


# --- the oracle: greedy suppression, brute force --------------------------------------------------------------


def greedy_keep(mics, centres, order, min_dist: float, kept_already=()) -> set[int]:
    """Rows kept by walking ``order`` (best first): a row not within ``min_dist`` of a kept one is kept.

    ``kept_already``: rows kept before the walk (a preferred input's)."""
    kept = list(kept_already)
    for i in order:
        if all(mics[j] != mics[i] or np.hypot(*(centres[i] - centres[j])) > min_dist for j in kept):
            kept.append(i)
    return set(kept)


def star_centres(particles, psize: float) -> np.ndarray:
    x = particles["rlnCoordinateX"].to_numpy() * psize - particles["rlnOriginXAngst"].to_numpy()
    y = particles["rlnCoordinateY"].to_numpy() * psize - particles["rlnOriginYAngst"].to_numpy()
    return np.stack([x, y], 1)


# --- each recipe: its data, and what it must produce -----------------------------------------------------------


def check_two_selections(root: Path, args: list[str]) -> str:
    # Both files' particles pooled, best rlnMaxValueProbDistribution first, at the recipe's distance.
    inputs = [a for a in args[2:] if a.endswith(".star")]
    min_dist = float(args[args.index("--min-dist") + 1])
    label = args[args.index("--score") + 1]
    tables = [starfile.read(root / path, always_dict=True)["particles"] for path in inputs]
    mics = np.concatenate([t["rlnMicrographName"].to_numpy() for t in tables])
    centres = np.concatenate([star_centres(t, PSIZE) for t in tables])
    scores = np.concatenate([t[label].to_numpy() for t in tables])
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    want = greedy_keep(mics, centres, order, min_dist)
    out = root / "Dedup"
    got = {Path(p).name: len(kept_rows(p)) for p in sorted(out.glob("*.star")) if "kept" in p.name}
    assert sum(got.values()) == len(want), got
    lines = [line for path in inputs for line in kept_rows(root / path)]
    wanted_lines = sorted(lines[i] for i in want)
    assert sorted(line for p in out.glob("*kept*.star") for line in kept_rows(p)) == wanted_lines
    return f"{len(scores)} particles, {len(want)} kept (brute-force greedy at {min_dist:g} Å by {label})"


def check_hand_picks(root: Path, args: list[str], picks) -> str:
    # Every hand pick kept; the autopicks within the recipe's distance of one rejected, the rest by a greedy on
    # FOM. The distance must reach the hand picks' real offsets from the autopicks of their particles.
    manual, auto = picks["ManualPick/job004"], picks["AutoPick/job010"]
    min_dist = float(args[args.index("--min-dist") + 1])
    assert max(HAND_OFFSETS_A) < min_dist
    rows = manual + auto
    mics = [r[0] for r in rows]
    centres = np.array([[r[1] * PSIZE, r[2] * PSIZE] for r in rows])
    order = sorted(range(len(manual), len(rows)), key=lambda i: (-rows[i][3], i))
    want = greedy_keep(mics, centres, order, min_dist, kept_already=range(len(manual)))
    got = kept_picks(root / "Dedup")
    assert sorted(got) == sorted((Path(rows[i][0]).stem, round(rows[i][1], 2), round(rows[i][2], 2)) for i in want)
    hand = {(Path(m).stem, round(x, 2), round(y, 2)) for m, x, y, _ in manual}
    assert hand <= set(got)
    # Each moved hand pick's autopick rejected: the particle is kept once.
    moved = [m for m in manual if not alone((m[1], m[2]), [a for a in auto if a[0] == m[0]])]
    kept_auto = {(Path(a[0]).stem, round(a[1], 2), round(a[2], 2)) for a in auto} & set(got)
    assert all(
        all(np.hypot(m[1] - x, m[2] - y) * PSIZE > min_dist for s, x, y in kept_auto if s == Path(m[0]).stem)
        for m in moved
    )
    return f"{len(manual)} hand picks all kept, {len(want) - len(manual)} of {len(auto)} autopicks kept (brute force)"


def kept_picks(out: Path) -> list[tuple[str, float, float]]:
    """The kept picks of a coordinate job written in ``out``: (micrograph stem, x, y)."""
    picks = []
    for path in sorted(out.rglob("*.star")):
        table = starfile.read(path, always_dict=True)
        for frame in table.values():
            if "rlnCoordinateX" in frame and "rlnMicrographName" not in frame and "rejected" not in str(path):
                stem = re.sub(r"_[a-z]+$", "", path.stem)
                picks += [(stem, round(r.rlnCoordinateX, 2), round(r.rlnCoordinateY, 2)) for r in frame.itertuples()]
    return picks


def check_symmetry_expansion(root: Path, args: list[str], original) -> str:
    # Every particle once: its first copy (score none: one of the copies; the image, centre and origin are the same).
    out = next((root / "Dedup").glob("*kept*.star"))
    kept = starfile.read(out, always_dict=True)["particles"]
    assert len(kept) == len(original) == len(set(zip(original.rlnMicrographName, original.rlnImageName)))
    assert sorted(kept.rlnImageName) == sorted(original.rlnImageName)
    return f"{len(original) * 4} rows of {len(original)} particles x 4, {len(kept)} kept"


def check_result_group(root: Path, args: list[str], made) -> str:
    # Best pick_stats/ncc_score first (auto's first choice), centres from location minus the 2D shift.
    min_dist = float(args[args.index("--min-dist") + 1])
    score = made["pick_stats/ncc_score"]
    order = sorted(range(len(score)), key=lambda i: (-score[i], i))
    want = greedy_keep(made["mic"], made["centre"], order, min_dist)
    out = root / "Dedup"
    kept = Dataset.load(out / "particles_kept.cs")
    assert sorted(kept["uid"].tolist()) == sorted(made["uid"][sorted(want)].tolist())
    # The passthrough slots are written beside them, for the same rows, and the group names both.
    through = Dataset.load(out / "particles_kept_passthrough_1.cs")
    assert sorted(through["uid"].tolist()) == sorted(kept["uid"].tolist()) and "location/center_x_frac" in through
    assert "particles_kept_passthrough_1.cs" in (out / "particles_kept.csg").read_text()
    return f"{len(score)} particles, {len(want)} kept (brute-force greedy at {min_dist:g} Å by ncc_score)"


def check_micrographs(root: Path, args: list[str], _) -> str:
    # The two planted re-exposures (mic_6 of mic_4, mic_9 of mic_3), and no other pair, at the planted shift
    # (40-80 rows and 60-110 columns of 12 Å), the later of each pair rejected.
    out = root / args[args.index("-o") + 1]
    with open(out / "pairs.csv", newline="") as handle:
        pairs = [row for row in csv.DictReader(handle) if row["duplicate"] == "1"]
    found = {frozenset(re.findall(r"mic_(\d+)\.mrc", row["name_a"] + row["name_b"])) for row in pairs}
    assert found == {frozenset({"4", "6"}), frozenset({"3", "9"})}, pairs
    for row in pairs:
        assert 40 <= abs(float(row["shift_y_A"])) / 12 < 80 and 60 <= abs(float(row["shift_x_A"])) / 12 < 110, row
    rejected = starfile.read(out / "micrographs_rejected.star", always_dict=True)["micrographs"]
    assert sorted(Path(n).name for n in rejected.rlnMicrographName) == ["mic_6.mrc", "mic_9.mrc"]
    assert (out / "report.html").is_file() and len(list(out.glob("pair_*.png"))) == 2
    return f"12 micrographs, duplicate pairs {sorted(sorted(p, key=int) for p in found)}, mic_6 and mic_9 rejected"


#: Each recipe by its first input: the files it needs (made in a folder, returning what the check needs) and its check.
RUNS: dict[str, tuple[Callable, Callable]] = {
    "Select/job020/particles.star": (write_pipeline_project, lambda root, args, _: check_two_selections(root, args)),
    "ManualPick/job004": (relion_picks_project, check_hand_picks),
    "expanded.star": (symmetry_expanded, check_symmetry_expansion),
    "exports/groups/J42_particles/J42_particles_exported.csg": (
        lambda root: cryosparc_export(root, np.random.default_rng(42)),
        check_result_group,
    ),
    "MotionCorr/job002/corrected_micrographs.star": (planted_micrographs, check_micrographs),
}


def test_every_cryodedup_line_of_the_readme_is_a_recipe_run_here():
    text = README.read_text(encoding="utf-8")
    lines = [" ".join(line.split()) for line in re.sub(r"\\\n", " ", text).splitlines() if "cryodedup " in line]
    commands_in_text = [line for line in lines if line.startswith(("cryodedup ", "pip "))]
    assert sorted(set(commands_in_text)) == sorted({*SET_UP, *(shlex.join(r) for r in RECIPES)}), commands_in_text
    assert len(RECIPES) == 5 and len(RECIPES) == len(RUNS)
    assert sorted(inputs_of(r)[0] for r in RECIPES) == sorted(RUNS)


@pytest.mark.parametrize("args", RECIPES, ids=lambda args: inputs_of(args)[0])
def test_each_recipe_runs_as_written_and_finds_what_was_made(args, tmp_path, monkeypatch):
    make, check = RUNS[inputs_of(args)[0]]
    made = make(tmp_path)
    for path in inputs_of(args):
        assert (tmp_path / path).exists(), path
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    print(check(tmp_path, args, made))


def test_the_python_block_runs_as_written_on_a_star_file_and_a_dataset(tmp_path, monkeypatch):
    # Run with no name given to it: every name it uses it defines (it once used an undefined ``dataset``).
    code = block_under("## Python", "python")
    paths = write_pipeline_project(tmp_path)
    shutil.copy(tmp_path / paths["particles_1"], tmp_path / "particles.star")
    made = cryosparc_export(tmp_path / "cs", np.random.default_rng(7))
    # The file it loads: CryoSPARC particles with their blob, location and pick stats in one .cs, as an
    # Extract job writes them (here the export's two files joined on uid).
    group = tmp_path / "cs/exports/groups/J42_particles/J42"
    joined = Dataset.load(group / "J42_particles_selected.cs").innerjoin(
        Dataset.load(group / "J42_passthrough_particles_selected.cs")
    )
    (tmp_path / "J40").mkdir()
    joined.save(tmp_path / "J40/extracted_particles.cs")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, "README.md (## Python)", "exec"), names)
    assert (tmp_path / "Dedup/particles_kept.star").is_file() and (tmp_path / "Dedup/particles_rejected.star").is_file()
    # The STAR: the greedy of the two-selections recipe, on one file.
    particles = starfile.read(tmp_path / "particles.star", always_dict=True)["particles"]
    scores = particles["rlnMaxValueProbDistribution"].to_numpy()
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    want = greedy_keep(particles["rlnMicrographName"].to_numpy(), star_centres(particles, PSIZE), order, 40.0)
    assert names["summary"].kept == len(want)
    # The Dataset: 20 Å, by ncc_score; kept and rejected Datasets partition it.
    kept, rejected = names["kept"], names["rejected"]
    score = made["pick_stats/ncc_score"]
    want = greedy_keep(made["mic"], made["centre"], sorted(range(len(score)), key=lambda i: (-score[i], i)), 20.0)
    assert sorted(kept["uid"].tolist()) == sorted(made["uid"][sorted(want)].tolist())
    assert len(kept) + len(rejected) == len(made["uid"])
