"""Refined particles and hand picks deduplicated together (issue 64, items 1 and 2), in files as RELION writes them.

The oracle is the projects' planting (tests/fixtures/refined_and_picks.py): the hand picks
within a few Å of a refined particle are its duplicates, the others lie at least 100 Å (2-D)
or 300 Å (tomography) from every particle; with the refined file preferred, every refined
particle is kept and exactly the planted picks are rejected. Rows are compared as text with
the files' own lines, read without cryodedup's reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from fixtures.refined_and_picks import refined_2d_project, refined_tomo_project
from helpers import shared_file


def data_rows(path: Path) -> list[str]:
    """The rows of the file's last loop, each line without its newline (plain text, no STAR reader)."""
    lines = path.read_text().splitlines()
    last_label = max(i for i, line in enumerate(lines) if line.lstrip().startswith("_"))
    return [line for line in lines[last_label + 1 :] if line.strip()]


def header(path: Path) -> str:
    """The file's text up to its last loop's first row."""
    text = path.read_text()
    first_row = data_rows(path)[0] if data_rows(path) else None
    return text[: text.index(first_row)] if first_row else text


def pick_rows(folder: Path) -> list[str]:
    return sorted(row for path in sorted(folder.glob("Movies/*.star")) for row in data_rows(path))


def test_refine3d_particles_and_a_manualpick_job_are_deduplicated_together(tmp_path, monkeypatch):
    # Today's main refuses: "inputs mix picker coordinates and particle files".
    project = refined_2d_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    options = ParticleOptions(min_dist=30.0, micrographs=Path(project.micrographs), prefer=[project.refined])
    summary = remove_duplicate_particles([project.refined, project.picks], "Dedup/job050", options)
    out = tmp_path / "Dedup/job050"
    # Item 1: every refined row as Refine3D wrote it (origins, angles, image, half-set), under its own header.
    assert data_rows(out / "particles_kept.star") == project.refined_rows
    assert data_rows(out / "particles_rejected.star") == []
    assert header(out / "particles_kept.star") == header(tmp_path / project.refined)
    # The hand picks: the planted ones rejected, the others kept, each row as ManualPick wrote it.
    assert pick_rows(out / "kept") == sorted(row for _, row, planted in project.pick_rows if not planted)
    assert pick_rows(out / "rejected") == sorted(row for _, row, planted in project.pick_rows if planted)
    assert (summary.kept, summary.rejected) == (len(project.refined_rows) + 9, 6)
    assert summary.to_json()["outputs"]["kept"][:2] == [
        "Dedup/job050/particles_kept.star",
        "Dedup/job050/autopick_kept.star",
    ]
    # Item 2: the picks take their micrographs' pixel size, from the micrographs STAR.
    assert {entry["psize"] for entry in summary.to_json()["pixel_sizes"]} == {1.06}


def test_relion5_refined_particles_with_optics_and_a_picks_job_without(tmp_path, monkeypatch):
    # Today's main refuses: "run_data.star has a data_optics block and particles.star has none ...
    # deduplicate each on its own".
    project = refined_tomo_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    options = ParticleOptions(min_dist=50.0, micrographs=Path(project.micrographs), prefer=[project.refined])
    summary = remove_duplicate_particles([project.refined, project.picks], "Dedup/job050", options)
    out = tmp_path / "Dedup/job050"
    refined_kept, picks_kept = out / "particles_kept_run_data.star", out / "particles_kept_particles.star"
    assert summary.to_json()["outputs"]["kept"] == [f"Dedup/job050/{p.name}" for p in (refined_kept, picks_kept)]
    assert not (out / "particles_kept.star").exists()  # it would lose the refined particles' columns
    # Every refined row byte for byte, under RELION 5's data_general and data_optics as read.
    assert data_rows(refined_kept) == project.refined_rows
    assert header(refined_kept) == header(tmp_path / project.refined)
    assert data_rows(picks_kept) == [row for _, row, planted in project.pick_rows if not planted]
    assert data_rows(out / "particles_rejected_particles.star") == [r for _, r, planted in project.pick_rows if planted]
    assert header(picks_kept) == header(tmp_path / project.picks)
    assert any(
        "particle columns differ" in w and "rlnTomoSubtomogramRot (only in run_data.star)" in w
        for w in summary.warnings
    )


@pytest.mark.real_data
def test_real_select_job_and_picks_job_keep_every_column(tmp_path):
    # The cets-relion Select job (origins, poses, image names, half-sets) with the Picks job's
    # particles.star: today's main writes their 4 shared columns alone, moving the kept refined
    # particles 0.3-5.9 Å in RELION's frame (their origins lost).
    select = shared_file("tomo/cets-relion__Select_job077_particles_removed.star")
    picks = shared_file("tomo/cets-relion__Picks_job019_particles.star")
    summary = remove_duplicate_particles([select, picks], tmp_path / "out", ParticleOptions(min_dist=50.0))
    for source in (select, picks):
        kept = tmp_path / f"out/particles_kept_{source.stem}.star"
        rejected = tmp_path / f"out/particles_rejected_{source.stem}.star"
        assert sorted(data_rows(kept) + data_rows(rejected)) == sorted(data_rows(source))
        assert header(kept) == header(source)
    kept_rows = sum(len(data_rows(tmp_path / f"out/particles_kept_{s.stem}.star")) for s in (select, picks))
    assert kept_rows == summary.kept and not (tmp_path / "out/particles_kept.star").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--max-angle", "10"], r"run_data\.star: its orientations \(--max-angle\) have no counterpart in the picks"),
        (["--halfsets", "micrograph"], r"--halfsets micrograph: the particles carry no half-set column"),
    ],
)
def test_what_picks_cannot_take_part_in_is_one_line(tmp_path, monkeypatch, options, message):
    project = refined_2d_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["particles", project.refined, project.picks, "--micrographs", project.micrographs, *options, "-o", "o"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and re.search(message, result.output), result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_subtomograms_and_2d_picks_are_refused(tmp_path, monkeypatch):
    tomo, two = refined_tomo_project(tmp_path / "tomo"), refined_2d_project(tmp_path / "two")
    monkeypatch.chdir(tmp_path)
    args = ["particles", f"tomo/{tomo.refined}", f"two/{two.picks}", "--micrographs", f"two/{two.micrographs}"]
    result = CliRunner().invoke(main, [*args, "-o", "o"])
    assert result.exit_code == 1 and "holds 3-D particles and two/ManualPick/job004 a picker's 2-D" in result.output


def test_a_transform_is_taken_where_each_input_has_its_own_files(tmp_path, monkeypatch):
    # The refined particles again, without half-sets and 64 px to the right (another frame): each input
    # is written to files of its own, in its own frame, so --transform moves the centres compared.
    project = refined_2d_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    lines = (tmp_path / project.refined).read_text().splitlines()
    rows = set(project.refined_rows)
    moved = [
        f"{float(line.split()[0]) + 64:12.6f} " + " ".join(line.split()[1:-1]) + " " if line in rows else line
        for line in lines
        if not line.startswith("_rlnRandomSubset")
    ]
    Path("Select/job030").mkdir(parents=True)
    Path("Select/job030/particles.star").write_text("\n".join(moved) + "\n")
    inputs = [project.refined, "Select/job030/particles.star"]
    options = ParticleOptions(min_dist=30.0, micrographs=Path(project.micrographs), transform=["2=shift:-64,0"])
    summary = remove_duplicate_particles(inputs, "Dedup/job050", options)
    assert summary.kept == summary.rejected == len(project.refined_rows)  # one of each pair
    kept = [data_rows(Path(f"Dedup/job050/particles_{s}_run_data.star")) for s in ("kept", "rejected")]
    assert sorted(kept[0] + kept[1]) == sorted(project.refined_rows)  # the refined rows as read, once each
