"""``particles --shard K/N`` and ``particles-merge`` (jobs/particles/shards.py): the merge of four shards is one run.

The oracle is a run of the whole input in one process (``remove_duplicate_particles``), a path
of its own: a single STAR decided as it is scanned (the one-pass route) or every row decided at
once, where each shard decides only its own micrographs' rows and the merge puts their decisions
together. Every file the two write is compared byte for byte, and their summaries but the times.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_particles_job import reextracted_pair

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.shards import merge_particle_shards, run_particle_shard
from fixtures.refined_and_picks import refined_2d_project, write_noise_micrographs
from helpers import missing_program, shared_file, write_star

TUTORIAL = "picks/relion31-tutorial"
TIMES = ("seconds", "timings")


def tutorial_pickers() -> tuple[list[Path], Path]:
    """The RELION 3.1 tutorial's template (job011) and LoG (job006) pickers on their 5 shared micrographs."""
    folders = [shared_file(f"{TUTORIAL}/AutoPick/{job}/Movies") for job in ("job011", "job006")]
    return folders, shared_file(f"{TUTORIAL}/CtfFind/job003/micrographs_ctf.star")


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def shards_then_merge(inputs, options: dict, tmp_path: Path, monkeypatch, shards: int = 4):
    """One run and ``shards`` shards merged, each writing ``Dedup`` in a folder of its own (the files name it).

    Returns the two summaries' documents, their times left out, after checking every file alike.
    """
    one, merged = tmp_path / "one", tmp_path / "merged"
    one.mkdir()
    merged.mkdir()
    monkeypatch.chdir(one)
    whole = remove_duplicate_particles(inputs, "Dedup", ParticleOptions(**options))
    for k in range(1, shards + 1):
        run_particle_shard(inputs, tmp_path / "shards", plan(ParticleOptions(**options)), k, shards)
    monkeypatch.chdir(merged)
    parts = merge_particle_shards([tmp_path / "shards"], "Dedup")
    written = files_of(one / "Dedup")
    assert written == files_of(merged / "Dedup")
    differ = [name for name in written if not filecmp.cmp(one / "Dedup" / name, merged / "Dedup" / name, shallow=False)]
    assert not differ, differ
    documents = [{k: v for k, v in s.to_json().items() if k not in TIMES} for s in (whole, parts)]
    assert documents[0] == documents[1]
    return whole


@pytest.mark.real_data
def test_the_tutorial_pickers_ranked_as_percentiles(tmp_path, monkeypatch):
    # Percentiles of each picker's scores over every micrograph: a shard that ranked its own
    # micrographs' picks alone keeps other picks (issue 92: 17 and 17 picks on this pair).
    folders, micrographs = tutorial_pickers()
    options = {"micrographs": micrographs, "min_dist": 100.0, "score_normalize": "rank", "decisions": True}
    whole = shards_then_merge(folders, options, tmp_path, monkeypatch)
    assert (whole.kept, whole.rejected) == (2009, 1187)
    assert "decisions.csv" in files_of(tmp_path / "one" / "Dedup")


@pytest.mark.real_data
def test_the_tutorial_pickers_best_score_selection(tmp_path, monkeypatch):
    folders, micrographs = tutorial_pickers()
    options = {"micrographs": micrographs, "min_dist": 150.0, "select": "best-score", "decisions": True}
    whole = shards_then_merge(folders, options, tmp_path, monkeypatch)
    assert whole.to_json()["selection"]["components"] > 0


@pytest.mark.real_data
def test_the_tutorial_pickers_in_consensus(tmp_path, monkeypatch):
    # --min-support 2: a pick stays where both pickers picked near it (each picker's coverage of
    # the micrographs, as its job lists them).
    folders, micrographs = tutorial_pickers()
    options = {"micrographs": micrographs, "min_dist": 60.0, "min_support": 2, "decisions": True}
    whole = shards_then_merge(folders, options, tmp_path, monkeypatch)
    assert sum(each["rejected_unconfirmed"] for each in whole.to_json()["consensus"]["per_input"]) == 998


@pytest.mark.real_data
def test_subtomograms_split_by_tomogram(tmp_path, monkeypatch):
    # RELION 4 subtomograms on 13 tomograms (cryoCAT's refinement output): a shard is a chunk of tomograms.
    inputs = [shared_file("tomo/cryoCAT__relion_4.0.star")]
    whole = shards_then_merge(inputs, {"min_dist": 200.0, "decisions": True}, tmp_path, monkeypatch)
    assert (whole.kept, whole.rejected) == (1371, 375)


@pytest.mark.real_data
def test_the_tutorial_pickers_with_a_preferred_picker(tmp_path, monkeypatch):
    # --prefer: the LoG picker's picks first, its priority counts added over the shards.
    folders, micrographs = tutorial_pickers()
    options = {"micrographs": micrographs, "min_dist": 100.0, "prefer": [str(folders[1])], "decisions": True}
    whole = shards_then_merge(folders, options, tmp_path, monkeypatch)
    assert (whole.kept, whole.rejected) == (1791, 1405)


def test_re_extracted_copies_tied_on_their_scores(tmp_path, monkeypatch):
    # A refinement and its re-extraction: every particle twice, the same score, decided by the
    # inputs' order (the ties the summary counts over the whole set).
    first, second = reextracted_pair(tmp_path, n_per_mic=150)
    whole = shards_then_merge([first, second], {"min_dist": 0.0, "decisions": True}, tmp_path, monkeypatch)
    assert whole.rejected == 450
    assert whole.to_json()["score"]["ties"]["groups"] == 450


def refinement_with_copies(path: Path, n_mics: int = 9, per_mic: int = 40, halves: bool = True) -> Path:
    """A final refinement's run_data.star (poses, half-sets, scores) in which a fifth of the particles came twice.

    A copy lies 0-15 Å from its particle; half the copies were aligned as their particle (poses
    within 5°), half elsewhere (another pose): duplicates by position, not all by pose.
    """
    rng = np.random.default_rng(92)
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnImageName"]
    labels += ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnMaxValueProbDistribution", "rlnRandomSubset"]
    rows = []
    for m in range(n_mics):
        lattice = rng.choice(30 * 30, per_mic, replace=False)
        coords = np.stack([lattice % 30, lattice // 30], axis=1) * 120.0 + 200  # (120 px apart, 1 Å a pixel)
        poses = np.stack(
            [rng.uniform(-180, 180, per_mic), rng.uniform(0, 180, per_mic), rng.uniform(-180, 180, per_mic)]
        )
        copies = rng.choice(per_mic, per_mic // 5, replace=False)
        for k in [*range(per_mic), *copies]:
            again = len(rows) >= (m + 1) * per_mic + m * (per_mic // 5)  # (a copy: after the micrograph's particles)
            xy = coords[k] + (rng.uniform(-10, 10, 2) if again else 0)
            pose = poses[:, k] + (rng.uniform(-5, 5, 3) if again and k % 2 else 0)
            if again and not k % 2:
                pose = np.array([rng.uniform(-180, 180), rng.uniform(0, 180), rng.uniform(-180, 180)])
            image = f"{len(rows) + 1:06d}@Refine3D/job040/mic{m:02d}.mrcs"
            rows.append(
                [*(f"{v:.6f}" for v in xy), f"MotionCorr/job002/Movies/mic{m:02d}.mrc", 1, image,
                 *(f"{v:.6f}" for v in pose), f"{rng.uniform():.6f}", int(rng.integers(1, 3))]
            )  # fmt: skip
    if not halves:  # (no half-sets: one run decides the file as it scans it)
        labels, rows = labels[:-1], [row[:-1] for row in rows]
    return write_star(path, labels, rows, optics=[[1, "og1", 1.0, 1.0]])


@pytest.mark.parametrize(("max_angle", "halves"), [(None, False), (None, True), (15.0, True)])
def test_a_final_refinement_with_poses(tmp_path, monkeypatch, max_angle, halves):
    # A refinement alone: without half-sets one run decides it as it scans it (the one-pass
    # route); with them, or with --max-angle (the poses of every pair compared), in two passes,
    # as the shards always do.
    refined = refinement_with_copies(tmp_path / "run_data.star", halves=halves)
    options = {"min_dist": 20.0, "max_angle": max_angle, "decisions": True}
    whole = shards_then_merge([refined], options, tmp_path, monkeypatch)
    assert whole.rejected == (72 if max_angle is None else 36)


def one_image_on_two_micrographs(tmp_path: Path) -> list[Path]:
    """Two refinements of 8 micrographs, the second naming three of m0's images on m6 (at other centres).

    ``--same-image reject`` walks m0 and m6 as one: the shards must put them in one chunk.
    """
    labels = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnImageName", "rlnMaxValueProbDistribution"]
    labels.append("rlnOpticsGroup")
    rng = np.random.default_rng(6)
    runs: list[list] = [[], []]
    for m in range(8):
        for k in range(10):
            image = f"{k + 1:06d}@Extract/job007/m{m}.mrcs"
            x, y = 100 + 150 * k, 100 + 100 * m
            for run, rows in enumerate(runs):
                moved = run == 1 and m == 0 and k < 3  # (the second refinement put them on m6)
                mic = "m6.mrc" if moved else f"m{m}.mrc"
                rows.append(
                    [mic, x + (40 if moved else 0), y + (900 if moved else 0), image, f"{rng.uniform():.4f}", 1]
                )
    return [
        write_star(tmp_path / f"run{r}_data.star", labels, rows, optics=[[1, "og", 1.0, 1.0]])
        for r, rows in enumerate(runs)
    ]


def test_micrographs_that_share_an_image_are_decided_in_one_shard(tmp_path, monkeypatch):
    inputs = one_image_on_two_micrographs(tmp_path)
    options = {"min_dist": 10.0, "same_image": "reject", "decisions": True}
    shards_then_merge(inputs, options, tmp_path, monkeypatch)
    record = (tmp_path / "one" / "Dedup" / "decisions.csv").read_text()
    assert [line.rsplit(",", 1)[1] for line in record.splitlines()].count("same image") == 3


def test_a_refinement_and_its_re_extraction_by_relion(tmp_path, monkeypatch):
    # Refine3D's particles and RELION's own re-extraction of them (relion_preprocess
    # --reextract_data_star --recenter: coordinates moved by whole pixels, origins left with the
    # remainder, images at another pixel size): every particle twice, decided by the inputs' order.
    if shutil.which("relion_preprocess") is None:
        missing_program(
            "RELION is not installed (relion_preprocess): apt-get install relion",
            required_by="CRYODEDUP_REQUIRE_RELION",
        )
    project = refined_2d_project(tmp_path / "project", n_mics=6)
    monkeypatch.chdir(project.root)
    write_noise_micrographs(project.root, n_mics=6)
    done = subprocess.run(
        ["relion_preprocess", "--i", project.micrographs, "--reextract_data_star", project.refined, "--recenter",
         "--part_star", "Extract/job052/particles.star", "--part_dir", "Extract/job052/", "--extract",
         "--extract_size", "64", "--scale", "32", "--norm", "--bg_radius", "12"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    inputs = [project.root / project.refined, project.root / "Extract/job052/particles.star"]
    options = {"min_dist": 30.0, "micrographs": project.root / project.micrographs, "decisions": True}
    whole = shards_then_merge(inputs, options, tmp_path, monkeypatch)
    assert whole.rejected == 6 * 12


def test_inputs_named_relative_are_named_so_by_the_merge(tmp_path, monkeypatch):
    # The record names each input as the command did: the merge, run where the shards ran, too.
    reextracted_pair(tmp_path, n_per_mic=20)
    monkeypatch.chdir(tmp_path)
    inputs = ["run_data.star", "reextracted.star"]
    options = ParticleOptions(min_dist=0.0, decisions=True)
    remove_duplicate_particles(inputs, "one", options)
    for k in (1, 2):
        run_particle_shard(inputs, "shards", plan(options), k, 2)
    merge_particle_shards(["shards"], "merged")
    record = (tmp_path / "merged" / "decisions.csv").read_text()
    assert record == (tmp_path / "one" / "decisions.csv").read_text()
    assert record.splitlines()[1].startswith("reextracted.star,")


def merged_equals_one_run(inputs, options: ParticleOptions, shard_dirs, tmp_path: Path) -> None:
    """The merge of ``shard_dirs`` writes byte for byte what one run of ``inputs`` (where they are now) writes."""
    remove_duplicate_particles(inputs, tmp_path / "one", options)
    merge_particle_shards(shard_dirs, tmp_path / "merged")
    written = files_of(tmp_path / "one")
    assert written == files_of(tmp_path / "merged")
    differ = [n for n in written if not filecmp.cmp(tmp_path / "one" / n, tmp_path / "merged" / n, shallow=False)]
    assert not differ, differ


def test_a_project_moved_with_its_shards_merges_where_it_lies_now(tmp_path):
    # Issue 90 (a user's trial): the record held absolute paths only, so a moved project failed at the merge.
    before = tmp_path / "before" / "project"
    before.mkdir(parents=True)
    inputs = list(reextracted_pair(before, n_per_mic=20))
    options = ParticleOptions(min_dist=20.0, decisions=True)
    for k in (1, 2, 3):
        run_particle_shard(inputs, before / "shards", plan(options), k, 3)
    after = tmp_path / "after"
    (tmp_path / "before").rename(after)
    moved = [after / "project" / p.name for p in inputs]
    merged_equals_one_run(moved, options, [after / "project" / "shards"], tmp_path)
    assert "project/run_data.star" in (tmp_path / "merged" / "decisions.csv").read_text()


def test_shards_run_where_the_files_are_mounted_elsewhere_are_of_one_run(tmp_path):
    # Shards on machines that mount the project at other paths: the same bytes, so one run.
    project = tmp_path / "project"
    project.mkdir()
    inputs = list(reextracted_pair(project, n_per_mic=20))
    (tmp_path / "mnt").symlink_to(project)
    elsewhere = [tmp_path / "mnt" / p.name for p in inputs]
    options = ParticleOptions(min_dist=20.0, decisions=True)
    for k, given in ((1, inputs), (2, elsewhere), (3, elsewhere)):
        run_particle_shard(given, tmp_path / "shards", plan(options), k, 3)
    merged_equals_one_run(inputs, options, [tmp_path / "shards"], tmp_path)


def test_an_input_changed_in_place_between_shards_is_named(tmp_path):
    # The same size, the same rows read (a comment's text changed): only the bytes say so.
    inputs = list(reextracted_pair(tmp_path, n_per_mic=20))
    options = plan(ParticleOptions(min_dist=20.0))
    text = inputs[0].read_text()
    inputs[0].write_text("# made by A\n" + text)
    run_particle_shard(inputs, tmp_path / "shards", options, 1, 2)
    inputs[0].write_text("# made by B\n" + text)
    run_particle_shard(inputs, tmp_path / "shards", options, 2, 2)
    one_line_refusal(
        [tmp_path / "shards"],
        tmp_path / "out",
        r"read .*run_data.star \(modified: the same size, another time\) unlike .*shard-1",
    )
    again = run_particle_shard(inputs, tmp_path / "shards", options, 1, 2)
    assert not again.already_complete  # (the rows read are the same: the bytes are not)
    merge_particle_shards([tmp_path / "shards"], tmp_path / "out")


def _bytes_read() -> int:
    """What this process has read so far (``rchar``: every read call's bytes, the core's and Python's)."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="the kernel's count of bytes read (Linux)")
def test_a_shard_reads_its_inputs_once_and_hashes_none(tmp_path):
    # Issue 90: each shard hashed every input whole (SHA-256: 6.6 % of a shard at 1M rows, seconds at 10M);
    # size and time locate an input, the rows' digest compares what was read. Counted by the kernel:
    # the read and its headers ~1.6x the inputs' bytes, 2.6x with the hash.
    inputs = list(reextracted_pair(tmp_path, n_per_mic=2000))
    options = plan(ParticleOptions(min_dist=20.0))
    run_particle_shard(inputs, tmp_path / "shards", options, 2, 2)  # (everything imported, the cache warm)
    size = sum(p.stat().st_size for p in inputs)
    before = _bytes_read()
    run_particle_shard(inputs, tmp_path / "shards", options, 1, 2)
    assert _bytes_read() - before < 2 * size
    record = json.loads((tmp_path / "shards" / "shard-1-of-2" / "shard.json").read_text())
    assert record["run"]["files"] == [[p.stat().st_size, p.stat().st_mtime_ns] for p in inputs]


def test_an_input_moved_and_changed_is_refused_naming_it(tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    inputs = list(reextracted_pair(before, n_per_mic=20))
    for k in (1, 2):
        run_particle_shard(inputs, before / "shards", plan(ParticleOptions(min_dist=20.0)), k, 2)
    before.rename(tmp_path / "after")
    changed = tmp_path / "after" / "reextracted.star"
    changed.write_text(changed.read_text().replace("job018", "job019", 1))  # (an image renamed: the same rows)
    one_line_refusal(
        [tmp_path / "after" / "shards"],
        tmp_path / "out",
        r"after/reextracted.star changed since the shards ran \(modified: the same size, another time\); "
        r"run the shards again$",
    )
    changed.unlink()
    changed.mkdir()  # (a folder where the file was: a traceback formatting its size)
    one_line_refusal(
        [tmp_path / "after" / "shards"], tmp_path / "out", r"reextracted.star changed since .*\(not a plain file now\)"
    )


# --- what the merge refuses, in one line -------------------------------------------------------------------


@pytest.fixture
def four_shards(tmp_path):
    """Four shards of the re-extracted pair into ``tmp_path/shards``, and the inputs and options."""
    inputs = list(reextracted_pair(tmp_path, n_per_mic=40))
    options = {"min_dist": 20.0}
    for k in range(1, 5):
        run_particle_shard(inputs, tmp_path / "shards", plan(ParticleOptions(**options)), k, 4)
    return inputs, options, tmp_path / "shards"


def one_line_refusal(shard_dirs, outdir: Path, match: str) -> None:
    with pytest.raises(CryodedupError, match=match) as refused:
        merge_particle_shards(shard_dirs, outdir)
    assert "\n" not in str(refused.value)
    assert not outdir.exists()


def test_a_missing_shard_is_refused(four_shards, tmp_path):
    *_, shards = four_shards
    given = [shards / f"shard-{k}-of-4" for k in (1, 2, 4)]
    one_line_refusal(given, tmp_path / "out", r"^shard 3 of 4 missing \(found 3 in ")


def test_a_shard_given_twice_is_refused(four_shards, tmp_path):
    *_, shards = four_shards
    one_line_refusal([shards, shards / "shard-2-of-4"], tmp_path / "out", r"^shard 2/4 given twice: ")


def test_a_shard_of_other_options_is_refused(four_shards, tmp_path):
    inputs, options, shards = four_shards
    run_particle_shard(inputs, tmp_path / "other", plan(ParticleOptions(**{**options, "min_dist": 30.0})), 3, 4)
    given = [*(shards / f"shard-{k}-of-4" for k in (1, 2, 4)), tmp_path / "other" / "shard-3-of-4"]
    one_line_refusal(given, tmp_path / "out", r"a shard of another run than .*\(--min-dist 30.0 against 20.0\)$")


def test_a_shard_of_other_inputs_or_of_another_count_is_refused(four_shards, tmp_path):
    inputs, options, shards = four_shards
    run_particle_shard(inputs[:1], tmp_path / "other", plan(ParticleOptions(**options)), 3, 4)
    given = [*(shards / f"shard-{k}-of-4" for k in (1, 2, 4)), tmp_path / "other" / "shard-3-of-4"]
    one_line_refusal(given, tmp_path / "out", r"a shard of another run than .*\(other inputs\)$")
    run_particle_shard(inputs, tmp_path / "three", plan(ParticleOptions(**options)), 3, 3)
    given = [*given[:3], tmp_path / "three" / "shard-3-of-3"]
    one_line_refusal(given, tmp_path / "out", r"shard 3 of 3, but .* is one of 4$")


def test_inputs_changed_after_the_shards_ran_are_refused(four_shards, tmp_path):
    inputs, _, shards = four_shards
    text = inputs[1].read_text()
    inputs[1].write_text(text.replace("100.000000", "101.000000", 1))
    one_line_refusal(
        [shards],
        tmp_path / "out",
        r"reextracted.star changed since the shards ran \(modified: the same size, another time\)",
    )


def test_shards_run_again_after_their_inputs_changed_merge_as_one_run_of_the_changed_inputs(
    four_shards, tmp_path, monkeypatch
):
    # A user trial: the merge refused ("run them again") and every re-run said "already complete".
    inputs, options, shards = four_shards
    inputs[1].write_text(inputs[1].read_text().replace("100.000000", "101.000000", 1))
    one_line_refusal(
        [shards],
        tmp_path / "out",
        r"changed since the shards ran \(modified: the same size, another time\); run the shards again$",
    )
    again = [run_particle_shard(inputs, shards, plan(ParticleOptions(**options)), k, 4) for k in range(1, 5)]
    assert [s.already_complete for s in again] == [False] * 4
    assert run_particle_shard(inputs, shards, plan(ParticleOptions(**options)), 2, 4).already_complete
    one, merged = tmp_path / "one", tmp_path / "merged"
    for folder in (one, merged):
        folder.mkdir()
    monkeypatch.chdir(one)
    whole = remove_duplicate_particles(inputs, "Dedup", ParticleOptions(**options))
    monkeypatch.chdir(merged)
    parts = merge_particle_shards([shards], "Dedup")
    written = files_of(one / "Dedup")
    assert written == files_of(merged / "Dedup")
    assert all(filecmp.cmp(one / "Dedup" / n, merged / "Dedup" / n, shallow=False) for n in written)
    assert (parts.kept, parts.rejected) == (whole.kept, whole.rejected)


def test_an_input_the_record_names_gone_at_the_merge_is_said_to_come_from_shard_json(four_shards, tmp_path):
    inputs, _, shards = four_shards
    inputs[0].unlink()
    one_line_refusal(
        [shards],
        tmp_path / "out",
        r"shard-1-of-4/shard.json: run.inputs names .*run_data.star, which no longer exists \(nor does .*\)$",
    )


def test_an_incomplete_shard_is_refused_and_run_again(four_shards, tmp_path):
    inputs, options, shards = four_shards
    decision = shards / "shard-2-of-4" / "decision.npz"
    decision.write_bytes(decision.read_bytes()[:-10])
    one_line_refusal([shards], tmp_path / "out", r"shard-2-of-4: shard incomplete \(decision.npz does not match")
    again = run_particle_shard(inputs, shards, plan(ParticleOptions(**options)), 2, 4)
    done = run_particle_shard(inputs, shards, plan(ParticleOptions(**options)), 2, 4)
    assert (again.already_complete, done.already_complete) == (False, True)
    merge_particle_shards([shards], tmp_path / "out")


def test_a_damaged_or_edited_shard_json_is_refused_naming_it(four_shards, tmp_path):
    *_, shards = four_shards
    marker = shards / "shard-3-of-4" / "shard.json"
    document = json.loads(marker.read_text())
    marker.write_text(json.dumps({**document, "shards": "four"}))
    one_line_refusal([shards], tmp_path / "out", r"shard-3-of-4: shard incomplete \(shard.json: shards is \"four\", ")
    marker.write_text("{not json")
    one_line_refusal([shards], tmp_path / "out", r"shard-3-of-4: shard incomplete \(shard.json cannot be read")
    marker.write_text(json.dumps(document))
    for k in range(1, 5):  # every shard of a run whose options were edited alike
        path = shards / f"shard-{k}-of-4" / "shard.json"
        edited = json.loads(path.read_text())
        edited["run"]["options"]["min_dist"] = "far"
        path.write_text(json.dumps(edited))
    with pytest.raises(CryodedupError, match=r"shard-1-of-4/shard.json: run.options cannot be used \(") as refused:
        merge_particle_shards([shards], tmp_path / "out")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [("species_min_dist_ellipsoid", [1, 2]), ("species_min_dist_ellipsoid", "far"), ("min_dist_ellipsoid", 3)],
)
def test_an_option_edited_to_another_kind_is_refused_in_one_line(four_shards, tmp_path, option, value):
    # The fuzz target `shards` (issue 90): an object option made a list raised AttributeError.
    *_, shards = four_shards
    for k in range(1, 5):
        path = shards / f"shard-{k}-of-4" / "shard.json"
        edited = json.loads(path.read_text())
        edited["run"]["options"][option] = value
        path.write_text(json.dumps(edited))
    one_line_refusal([shards], tmp_path / "out", r"shard-1-of-4/shard.json: run.options cannot be used \(")


def test_options_a_shard_does_not_take_are_refused_before_reading(tmp_path):
    with pytest.raises(CryodedupError, match=r"^--shard with --plot: .* give --plot to particles-merge$"):
        run_particle_shard([tmp_path / "none.star"], tmp_path / "shards", plan(ParticleOptions(plot=True)), 1, 2)


@pytest.mark.parametrize("option", ["--update", "--audit", "--plot"])
def test_options_that_do_not_go_with_a_shard_exit_2_as_with_dask(tmp_path, option):
    # Issue 99: --shard with --update or --audit exited 1; --shard with --dask exits 2 (click's usage error).
    star = tmp_path / "p.star"
    star.write_text("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n1 2 m.mrc\n")
    command = [sys.executable, "-m", "cryodedup", "particles", str(star), "-o", str(tmp_path / "out"), "--shard", "1/2"]
    done = subprocess.run([*command, option], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"--shard with {option}" in done.stderr
    assert not (tmp_path / "out").exists()
    with_dask = subprocess.run([*command, "--dask", "local"], capture_output=True, text=True, check=False)
    assert with_dask.returncode == 2


def test_the_command_line_shards_merges_and_refuses_in_one_line(four_shards, tmp_path):
    inputs, _, shards = four_shards
    command = [sys.executable, "-m", "cryodedup"]
    again = subprocess.run(
        [*command, "particles", *map(str, inputs), "--min-dist", "20", "-o", str(shards), "--shard", "4/4", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(again.stdout)["already_complete"] is True
    merged = subprocess.run(
        [*command, "particles-merge", str(shards), "-o", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(merged.stdout)["rejected"] == 120
    missing = subprocess.run(
        [*command, "particles-merge", str(shards / "shard-1-of-4"), "-o", str(tmp_path / "out2")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0, missing.stderr
    assert "shards 2, 3, 4 of 4 missing" in missing.stderr


def test_a_shards_document_opens_with_every_jobs_keys_its_files_and_its_stages_time(tmp_path):
    # (issue 92: a queue worker reads a shard's --json as any job's: verdict, outputs, timings, then its own)
    inputs = list(reextracted_pair(tmp_path, n_per_mic=10))
    planned = plan(ParticleOptions(min_dist=20.0))
    decided = run_particle_shard(inputs, tmp_path / "shards", planned, 1, 2).to_json()
    folder = tmp_path / "shards" / "shard-1-of-2"
    assert list(decided)[:3] == ["verdict", "outputs", "timings"] and "seconds" not in decided
    assert decided["outputs"] == {"shard": [str(folder / "decision.npz"), str(folder / "shard.json")]}
    assert (decided["verdict"]["word"], decided["verdict"]["kind"]) == ("Shard 1 of 2", "good")
    assert list(decided["timings"]) == ["read", "decide", "write", "summarise", "report", "seconds"]
    again = run_particle_shard(inputs, tmp_path / "shards", planned, 1, 2).to_json()  # (complete: not redone)
    # (complete: this run's timings, the stages it ran, read and checked, within the whole's)
    assert again["already_complete"] and list(again["timings"]) == ["read", "decide", "seconds"]
    assert 0 < again["timings"]["read"] + again["timings"]["decide"] <= again["timings"]["seconds"] + 0.002
    assert again["verdict"]["line"].startswith("Shard 1 of 2 already complete, not redone: ")
