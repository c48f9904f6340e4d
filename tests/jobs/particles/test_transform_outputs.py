"""``--transform`` makes a merge (issue 63 item 3): the registration's fix, pasted, runs.

The run that refuses two frames names ``--transform 'B=OPS'``; given, it must merge, whatever
the outputs. A file that combines the inputs holds the moved coordinates (the summary says so),
every other field as read; per-input outputs keep each input's rows byte for byte. The oracle
is the input the moved copy was made from: moved back, the copy's rows are its rows.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions

EXAMPLES = Path(__file__).resolve().parents[3] / "python" / "cryodedup" / "examples"
SHIFT_PX = (300.0, -200.0)  # the copy's offset, pixels (about 380 Å: far beyond --min-dist)


def _shifted_star(source: Path, target: Path, shift: tuple[float, float]) -> None:
    """``source``'s particles with rlnCoordinateX/Y moved by ``shift`` pixels (the text of every other field kept)."""
    blocks = starfile.read(source, always_dict=True)
    particles = blocks["particles"].copy()
    particles["rlnCoordinateX"] += shift[0]
    particles["rlnCoordinateY"] += shift[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({"optics": blocks["optics"], "particles": particles}, target)


def _fix_of(refused: str) -> list[str]:
    """The options the refusal says to apply it with, as a shell reads them."""
    found = re.search(r"add (--transform '[^']+')", refused)
    assert found, refused
    return shlex.split(found.group(1))


def _rows(paths: list[Path]) -> pd.DataFrame:
    frames = [starfile.read(p, always_dict=True)["particles"] for p in paths]
    return pd.concat(frames, ignore_index=True)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table[["rlnCoordinateX", "rlnCoordinateY"]] = table[["rlnCoordinateX", "rlnCoordinateY"]].round(3)
    return table.sort_values(list(table.columns)).reset_index(drop=True)


def _log_and_moved_copy(tmp_path: Path, moved_first: bool) -> tuple[Path, Path, list[str]]:
    """The example LoG particles, a copy moved by SHIFT_PX, and the command line of the two (the -o to add)."""
    log = EXAMPLES / "particles_log.star"
    moved = tmp_path / "moved" / "particles.star"
    _shifted_star(log, moved, SHIFT_PX)
    inputs = [str(moved), str(log)] if moved_first else [str(log), str(moved)]
    args = ["particles", *inputs, "--micrographs", str(EXAMPLES / "micrographs_ctf.star")]
    return log, moved, [*args, "--min-dist", "100", "-q", "-o"]


def test_the_refusal_offers_either_input_moved_and_names_the_frame_the_outputs_lie_in(tmp_path):
    # A new user's trial: with the moved copy first and the untouched file second, the one fix offered
    # moved the untouched file into the copy's frame, and the outputs lay in the copy's frame, unsaid.
    # Now both moves are offered, each naming the frame the outputs will be in; the oracle is the
    # source file's coordinates (its frame) and the copy's (the source's moved by SHIFT_PX).
    log, moved, args = _log_and_moved_copy(tmp_path, moved_first=True)
    refused = CliRunner().invoke(main, [*args, str(tmp_path / "refused")])
    assert refused.exit_code == 1, refused.output
    offered = re.findall(r"(--transform '[^']+') \(outputs in ([^ ]+)'s( frame)?\)", refused.output)
    assert [frame for _, frame, _ in offered] == ["particles.star", "particles_log.star"], refused.output
    # The fix comes first, within about two lines (before the measurement; the input's path aside).
    first = refused.output.index(offered[0][0]) + len(offered[0][0])
    assert first < refused.output.index("Measured") and first - len(str(moved)) < 160, refused.output
    original = starfile.read(log, always_dict=True)["particles"]
    source_frame = original[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()
    for (fix, frame, _), shift in zip(offered, (SHIFT_PX, (0.0, 0.0))):
        out = tmp_path / frame
        done = CliRunner().invoke(main, [*args, str(out), *shlex.split(fix)])
        assert done.exit_code == 0, done.output
        kept = _rows([out / "particles_kept.star", out / "particles_rejected.star"])
        xy = kept[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()
        # Every row of both inputs lies on a source particle moved into the frame named.
        expected = source_frame + np.array(shift)
        nearest = np.abs(xy[:, None, :] - expected[None, :, :]).max(axis=2).min(axis=1)
        assert len(xy) == 2 * len(original) and nearest.max() < 0.01, (frame, nearest.max())


def test_the_fix_of_two_particle_files_in_two_frames_runs_and_writes_the_moved_coordinates(tmp_path):
    log, _, args = _log_and_moved_copy(tmp_path, moved_first=False)
    refused = CliRunner().invoke(main, [*args, str(tmp_path / "refused")])
    assert refused.exit_code == 1 and "are in two frames" in refused.output, refused.output
    fix = _fix_of(refused.output)
    done = CliRunner().invoke(main, [*args, str(tmp_path / "out"), *fix])
    assert done.exit_code == 0, done.output
    out = tmp_path / "out"
    written = _rows([out / "particles_kept.star", out / "particles_rejected.star"])
    original = starfile.read(log, always_dict=True)["particles"]
    # Every row of both inputs, once: the copy's rows are the source's, moved back (their other fields as read).
    expected = pd.concat([original, original], ignore_index=True)
    pd.testing.assert_frame_equal(_sorted(written), _sorted(expected))
    # Moved back, the copy's picks lie on the source's: each pair is one particle, one of each kept.
    kept = starfile.read(out / "particles_kept.star", always_dict=True)["particles"]
    places = kept[["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY"]].round(3)
    assert not places.duplicated().any() and len(kept) >= len(original) - 5
    summary = CliRunner().invoke(main, [*args, str(out), *fix, "--force", "--json"])
    assert '"written": "its rows written with the moved coordinates' in summary.output


def test_per_input_outputs_keep_the_rows_as_read_and_combined_ones_the_moved_centres(tmp_path):
    # Two topaz files, one moved by (64, -128) px; --output-format input keeps each picker's rows byte for
    # byte (each file one frame, its own); relion and cryosparc hold the centres moved back.
    rng = np.random.default_rng(4)
    xy = np.round(rng.uniform(300, 3000, (400, 2)), 3)
    mics = rng.integers(0, 5, 400)
    real, copy = tmp_path / "a" / "picks.txt", tmp_path / "b" / "picks.txt"
    for path, centres in ((real, xy), (copy, xy + np.array([64.0, -128.0]))):
        path.parent.mkdir()
        lines = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, centres)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *lines]) + "\n")
    options = {"mic_psize": 1.0, "min_dist": 30, "topaz_scale": 1.0, "transform": [f"{copy}=shift:-64,128"]}
    summary = remove_duplicate_particles(
        [real, copy], tmp_path / "input", ParticleOptions(output_format="input", **options)
    )
    assert "as read" in summary.to_json()["transforms"][0]["written"]
    copied = {
        line
        for p in (tmp_path / "input").rglob("*")
        if p.is_file() and "picker_2_" in str(p)
        for line in p.read_text().splitlines()[1:]
        if line
    }
    assert copied == set(copy.read_text().splitlines()[1:])
    summary = remove_duplicate_particles(
        [real, copy], tmp_path / "relion", ParticleOptions(output_format="relion", **options)
    )
    assert "moved centres" in summary.to_json()["transforms"][0]["written"]
    centres = []
    for listing in ("autopick_kept.star", "autopick_rejected.star"):
        files = starfile.read(tmp_path / "relion" / listing)["rlnMicrographCoordinates"]
        for f in files:
            table = starfile.read(f, always_dict=True)
            if table and len(next(iter(table.values()))):
                centres.append(next(iter(table.values()))[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy())
    every = np.concatenate(centres)
    expected = np.concatenate([xy, xy])
    assert np.allclose(np.sort(every, axis=0), np.sort(expected, axis=0), atol=1e-3)


def _data_rows(path: Path) -> list[str]:
    """The rows of a particle STAR file's data_particles loop, as written (white space included)."""
    lines = path.read_text().split("data_particles", 1)[1].splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith(("_", "loop_", "#"))]


def test_rows_moved_by_transform_are_written_as_the_input_writes_its_rows(tmp_path):
    # A new user's trial: a STAR input's rows moved by --transform were written tab-separated beside the
    # other rows, copied as read with their spaces. The oracle: a copy of the example file moved by
    # (300, -200) px in its own text (six decimals, single spaces), moved back; every written row is
    # then a row of the example file, byte for byte, twice over (each input's once).
    log = EXAMPLES / "particles_log.star"
    text = log.read_text()
    head, rows = text.split("_rlnCoordinateY #2 \n", 1)
    moved_lines = []
    for line in rows.splitlines():
        words = line.split(" ")
        if len(words) > 2 and re.fullmatch(r"[0-9.]+", words[0]):
            words[:2] = [f"{float(words[0]) + 300:.6f}", f"{float(words[1]) - 200:.6f}"]
        moved_lines.append(" ".join(words))
    moved = tmp_path / "moved" / "particles.star"
    moved.parent.mkdir()
    moved.write_text(head + "_rlnCoordinateY #2 \n" + "\n".join(moved_lines) + "\n")
    options = ParticleOptions(
        micrographs=EXAMPLES / "micrographs_ctf.star", min_dist=100, transform=[f"{moved}=shift:-300,200"]
    )
    remove_duplicate_particles([log, moved], tmp_path / "out", options)
    written = _data_rows(tmp_path / "out" / "particles_kept.star") + _data_rows(
        tmp_path / "out" / "particles_rejected.star"
    )
    assert not any("\t" in row for row in written)
    assert sorted(written) == sorted(_data_rows(log) * 2)


def test_a_format_whose_coordinates_are_not_rewritten_is_refused_before_anything_is_written(tmp_path):
    # Dynamo tables keep their refusal: both inputs' rows go into one particles_kept.tbl, copied as read. One
    # line that says so, nothing written, and the words suggest nothing that is refused in turn.
    tables = []
    for name, shift in (("a", 0), ("b", 64)):
        rows = [" ".join(["1"] + ["0"] * 18 + ["1", "0", "0", "0", f"{x + shift}", f"{x}", "50"]) for x in (100, 700)]
        tables.append(tmp_path / f"{name}.tbl")
        tables[-1].write_text("\n".join(rows) + "\n")
    options = ParticleOptions(mic_psize=1.0, transform=[f"{tables[1]}=shift:-64,0,0"])
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles(tables, tmp_path / "out", options)
    said = str(refused.value)
    assert said.startswith(f"--transform {tables[1]}=shift:-64,0,0: {tables[1]}'s rows are written into one file"), said
    assert "(particles_kept.tbl), copied as read" in said and said.endswith("or give --audit"), said
    assert "--output-format" not in said and "\n" not in said and not (tmp_path / "out").exists()
    # "give --audit", run as printed: the merge is measured and nothing is written (by hand: a's 100 and b's 164
    # moved by -64 px are one particle, and a's 700 and b's 764 another: 2 rejected of 4).
    audited = remove_duplicate_particles(tables, None, dataclasses.replace(options, audit=True))
    assert (audited.kept, audited.rejected) == (2, 2) and not (tmp_path / "out").exists()


def test_the_fix_of_two_cryosparc_particle_files_runs_and_writes_the_moved_locations(tmp_path):
    from fixtures.synthetic import cs_particles, write_cs

    records = cs_particles(np.random.default_rng(2), 600, per_mic=150)
    moved = records.copy()
    moved["uid"] += np.uint64(1)  # (another extraction of the same picks)
    ny, nx = records["location/micrograph_shape"][0]
    moved["location/center_x_frac"] += np.float32(200 / nx)
    moved["location/center_y_frac"] -= np.float32(120 / ny)
    write_cs(tmp_path / "a.cs", records)
    write_cs(tmp_path / "b.cs", moved)
    args = ["particles", str(tmp_path / "a.cs"), str(tmp_path / "b.cs"), "--min-dist", "40", "-q", "-o"]
    refused = CliRunner().invoke(main, [*args, str(tmp_path / "refused")])
    assert refused.exit_code == 1 and "are in two frames" in refused.output, refused.output
    done = CliRunner().invoke(main, [*args, str(tmp_path / "out"), *_fix_of(refused.output)])
    assert done.exit_code == 0, done.output
    written = np.concatenate([np.load(tmp_path / "out" / f"particles_{s}.cs") for s in ("kept", "rejected")])
    back = written
    mine = np.isin(back["uid"], moved["uid"])
    order = np.argsort(back["uid"][mine])
    expected = records[np.argsort(records["uid"])]
    for field in ("location/center_x_frac", "location/center_y_frac"):
        pixels = (back[field][mine][order] - expected[field]) * (nx if field.endswith("x_frac") else ny)
        assert np.abs(pixels).max() < 0.6, field  # (within the transform's rounding: its words are to 0.1 px)
    others = [f for f in records.dtype.names if f not in ("uid", "location/center_x_frac", "location/center_y_frac")]
    for field in others:
        assert np.array_equal(back[field][mine][order], expected[field]), field


def test_pickers_merged_into_one_cs_hold_the_moved_centres(tmp_path):
    from fixtures.synthetic import write_mrc

    rng = np.random.default_rng(6)
    xy, mics = np.round(rng.uniform(300, 3000, (300, 2)), 3), rng.integers(0, 3, 300)
    real, copy = tmp_path / "a" / "picks.txt", tmp_path / "b" / "picks.txt"
    for path, centres in ((real, xy), (copy, xy + np.array([64.0, -128.0]))):
        path.parent.mkdir()
        lines = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, centres)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *lines]) + "\n")
    (tmp_path / "mics").mkdir()
    for m in range(3):
        write_mrc(tmp_path / "mics" / f"mic{m}.mrc", np.zeros((3400, 3600), dtype=np.float32), 1.0)
    options = ParticleOptions(
        mic_psize=1.0,
        min_dist=30,
        topaz_scale=1.0,
        output_format="cryosparc",
        project_dir=tmp_path / "mics",
        transform=[f"{copy}=shift:-64,128"],
    )
    summary = remove_duplicate_particles([real, copy], tmp_path / "cs", options)
    assert "moved centres" in summary.to_json()["transforms"][0]["written"]
    rows = np.concatenate([np.load(tmp_path / "cs" / f"picks_{s}.cs") for s in ("kept", "rejected")])
    centres = np.c_[rows["location/center_x_frac"] * 3600, rows["location/center_y_frac"] * 3400]
    expected = np.concatenate([xy, xy])
    assert np.allclose(np.sort(centres, axis=0), np.sort(expected, axis=0), atol=2e-3)


def test_relion_pickers_merged_into_one_coordinate_job_hold_the_moved_centres(tmp_path):
    # Two RELION AutoPick jobs of one header (rows copied as text when nothing moves): with --transform every
    # row is written from numbers, so the numbers must still be there (they were dropped: every row "nan").
    from picker_files import autopick_text, relion3_job

    rng = np.random.default_rng(8)
    picks = {
        f"mic_{m}": [(x, y, s) for x, y, s in rng.uniform((300, 300, 0), (3000, 3000, 1), (80, 3))] for m in (1, 2)
    }
    job, _ = relion3_job(tmp_path, picks)
    moved = tmp_path / "AutoPick/job007/Movies"
    moved.mkdir(parents=True)
    for mic, rows in picks.items():
        (moved / f"{mic}_autopick.star").write_text(autopick_text([(x + 64, y - 128, s) for x, y, s in rows]))
    options = ParticleOptions(
        micrographs=tmp_path / "CtfFind/job003/micrographs_ctf.star",
        min_dist=30,
        project_dir=tmp_path,
        transform=[f"{moved}=shift:-64,128"],
    )
    summary = remove_duplicate_particles([job, moved], tmp_path / "relion", options)
    assert "moved centres" in summary.to_json()["transforms"][0]["written"]
    centres, scores = [], []
    for listing in ("autopick_kept.star", "autopick_rejected.star"):
        for f in starfile.read(tmp_path / "relion" / listing)["rlnMicrographCoordinates"]:
            table = next(iter(starfile.read(f, always_dict=True).values()))
            centres.append(table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy())
            scores.append(table["rlnAutopickFigureOfMerit"].to_numpy())
    # Every pick of both jobs once, the moved job's moved back onto the first's, each with its score.
    expected = np.concatenate([np.array(rows) for rows in picks.values()] * 2)
    assert np.allclose(np.sort(np.concatenate(centres), axis=0), np.sort(expected[:, :2], axis=0), atol=1e-3)
    assert np.allclose(np.sort(np.concatenate(scores)), np.sort(expected[:, 2]), atol=1e-5)
    # The columns the numbers leave out (rlnClassNumber, rlnAnglePsi) stay in each picker's own rows, as read.
    own = {line for p in (tmp_path / "relion").glob("picker_2_*/*/*.star") for line in p.read_text().splitlines()}
    assert {line for p in moved.glob("*.star") for line in p.read_text().splitlines() if "0.000000" in line} <= own


def test_the_distance_of_a_refused_offset_is_said_to_a_tenth_of_an_angstrom(tmp_path):
    # An offset within the radius is counted at half its length: (40.3, -29.8) px of 1.06 Å is 53.1 Å, so about
    # 26.6 Å, said so (it was said to six digits: "Jaccard at 26.5642 Å").
    log = EXAMPLES / "particles_log.star"
    moved = tmp_path / "moved" / "particles.star"
    _shifted_star(log, moved, (40.3, -29.8))
    options = ParticleOptions(micrographs=EXAMPLES / "micrographs_ctf.star", min_dist=100)
    with pytest.raises(CryodedupError, match="are in two frames") as refused:
        remove_duplicate_particles([log, moved], tmp_path / "out", options)
    said = re.search(r"within ([0-9.]+) Å", str(refused.value))
    assert said is not None, str(refused.value)
    assert re.fullmatch(r"[0-9]+(\.[0-9])?", said.group(1)) and abs(float(said.group(1)) - 26.6) < 0.5, said.group(1)


def _picker_job_from(star: Path, folder: Path, shift: tuple[float, float]) -> Path:
    """A RELION picker's per-micrograph files of ``star``'s particles, moved by ``shift`` pixels."""
    from picker_files import autopick_text

    particles = starfile.read(star, always_dict=True)["particles"]
    folder.mkdir(parents=True)
    for name, rows in particles.groupby("rlnMicrographName"):
        xy = rows[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy() + shift
        scores = rows["rlnAutopickFigureOfMerit"].to_numpy()
        (folder / f"{Path(name).stem}_autopick.star").write_text(autopick_text(zip(xy[:, 0], xy[:, 1], scores)))
    return folder


def _written_picks(listing: Path) -> np.ndarray:
    """The centres (x, y) of every file a RELION 4 coordinate list names."""
    tables = [
        next(iter(starfile.read(f, always_dict=True).values()))
        for f in starfile.read(listing)["rlnMicrographCoordinates"]
    ]
    return np.concatenate([t[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy() for t in tables if len(t)])


@pytest.mark.parametrize("moved", ["picks", "particles"])
def test_the_fix_of_refined_particles_and_a_picker_in_two_frames_runs_as_printed(tmp_path, monkeypatch, moved):
    # A particle STAR and a picker's files (each input written to files of its own kind): on today's main the
    # printed fix was refused ("these outputs combine the inputs in one file"). Pasted, it runs, and the moved
    # input's rows are written moved back onto their source (the oracle), every other input's as read.
    monkeypatch.chdir(tmp_path)
    template = EXAMPLES / "particles_template.star"
    if moved == "picks":
        particles, picks = (
            EXAMPLES / "particles_log.star",
            _picker_job_from(template, Path("AutoPick/job099"), SHIFT_PX),
        )
    else:
        particles, picks = Path("moved/particles.star"), _picker_job_from(template, Path("AutoPick/job099"), (0, 0))
        _shifted_star(EXAMPLES / "particles_log.star", particles, SHIFT_PX)
    inputs = [particles, picks] if moved == "picks" else [picks, particles]  # (the fix moves the second)
    args = ["particles", *map(str, inputs), "--micrographs", str(EXAMPLES / "micrographs_ctf.star")]
    args += ["--min-dist", "100", "-q", "-o"]
    refused = CliRunner().invoke(main, [*args, "refused"])
    assert refused.exit_code == 1 and "are in two frames" in refused.output, refused.output
    fix = _fix_of(refused.output)
    assert fix[1].startswith(f"{inputs[1]}="), fix
    done = CliRunner().invoke(main, [*args, "out", *fix, "--json"])
    assert done.exit_code == 0, done.output
    source = starfile.read(template if moved == "picks" else EXAMPLES / "particles_log.star", always_dict=True)
    expected = np.sort(source["particles"][["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(), axis=0)
    if moved == "picks":
        written = np.concatenate([_written_picks(Path(f"out/autopick_{s}.star")) for s in ("kept", "rejected")])
        # The picker's own rows too, as read (its frame; every column): the files it was read from.
        own = sorted(line for p in Path("out").glob("picker_1_*/*/*.star") for line in p.read_text().splitlines())
        assert [line for line in own if line.startswith(" ")] == sorted(
            line for p in picks.glob("*.star") for line in p.read_text().splitlines() if line.startswith(" ")
        )
    else:
        written = _rows([Path("out/particles_kept.star"), Path("out/particles_rejected.star")])
        written = written[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()
    # Within a pixel of the source (the transform is measured between two pickers' picks, said to 0.1 px).
    assert len(written) == len(expected) and np.abs(np.sort(written, axis=0) - expected).max() < 1.0
