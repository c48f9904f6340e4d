"""``cryodedup particles BATCH.cs --update``: CryoSPARC batches against the brute-force oracle of the STAR rounds,
a fresh run on all batches field for field, and the refusals (a round stopped halfway: test_particle_store.py).

The batches are made like CryoSPARC's Extract + 2D Classification files (every field they
write, the dtypes of real files), read back with cryosparc-tools' Dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cryosparc.dataset import Dataset
from numpy.lib import recfunctions
from update_batches import MIN_DIST, make_batch, make_cs_batch, oracle_rounds, run_round

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from fixtures.synthetic import write_cs


def uids(path: Path) -> list[int]:
    return [int(u) for u in Dataset.load(path)["uid"]]


def assert_same_dataset(a: Path, b: Path) -> None:
    """Equal as cryosparc-tools reads them: the same fields, and every field's values row for row."""
    one, other = Dataset.load(a), Dataset.load(b)
    assert sorted(one.fields()) == sorted(other.fields())
    assert len(one) == len(other) > 0
    for field in one.fields():
        assert np.array_equal(np.asarray(one[field]), np.asarray(other[field])), field


@pytest.mark.parametrize("seed", [0, 1])
def test_cs_rounds_follow_the_rule_on_overlapping_micrographs(tmp_path: Path, seed: int) -> None:
    """Each round's kept and rejected .cs hold the oracle's rows; the running .cs gains the kept ones."""
    rng = np.random.default_rng(seed)
    plan = [[1, 2], [2, 3], [1, 3, 4], [4, 2]]
    batches = [make_cs_batch(tmp_path / f"b{k}.cs", rng, mics, 30) for k, mics in enumerate(plan)]
    expected = oracle_rounds(batches)
    out, running = tmp_path / "out", []
    for k, (rows, (keep, won)) in enumerate(zip(batches, expected)):
        summary = run_round([tmp_path / f"b{k}.cs"], out)
        kept = [row[4] for row, take in zip(rows, keep) if take]
        assert uids(out / f"round_{k + 1:04d}_kept.cs") == kept
        assert uids(out / f"round_{k + 1:04d}_rejected.cs") == [row[4] for row, t in zip(rows, keep) if not t]
        running += kept
        assert uids(out / "particles_kept.cs") == running
        update = summary.to_json()["update"]
        assert (update["round"], update["running_kept"], update["would_have_won"]) == (k + 1, len(running), won)
        assert update["running_file"] == str(out / "particles_kept.cs")
    assert sum(won for _, won in expected) > 0
    assert not (out / "particles_kept.star").exists()


def test_cs_batches_of_new_micrographs_equal_a_fresh_run_field_for_field(tmp_path: Path) -> None:
    """Batches that only add micrographs: the running .cs is a fresh run's kept .cs on all batches as inputs.

    Rounds 2 and 4 append in place (texts as long as the file's); round 3's stacks have longer paths, so the file
    is written anew with the wider field.
    """
    rng = np.random.default_rng(7)
    paths = [tmp_path / f"b{k}.cs" for k in range(4)]
    for k, path in enumerate(paths):
        make_cs_batch(path, rng, [3 * k + 1, 3 * k + 2], 25, "J5/extract" if k != 2 else "J55/extract_again")
    sizes, files = [], []
    for path in paths:
        run_round([path], tmp_path / "out")
        sizes.append(np.load(tmp_path / "out" / "particles_kept.cs", mmap_mode="r").dtype["blob/path"].itemsize)
        files.append((tmp_path / "out" / "particles_kept.cs").stat().st_ino)
    assert sizes[0] == sizes[1] < sizes[2] == sizes[3]
    assert files[0] == files[1] != files[2] == files[3]  # (appended to in place, but in round 3)
    remove_duplicate_particles(paths, tmp_path / "fresh", ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0))
    assert_same_dataset(tmp_path / "out" / "particles_kept.cs", tmp_path / "fresh" / "particles_kept.cs")
    # (the running file's rows are a numpy .cs, as CryoSPARC writes: np.load reads it without cryosparc-tools)
    assert len(np.load(tmp_path / "out" / "particles_kept.cs")) == len(
        Dataset.load(tmp_path / "fresh" / "particles_kept.cs")
    )


def test_csdat_batches_rewrite_the_running_file_and_equal_a_fresh_run(tmp_path: Path) -> None:
    """CSDAT batches (CryoSPARC's compressed encoding): the running .cs is CSDAT too, written anew each round."""
    from cryosparc.dataset import CSDAT_FORMAT

    rng = np.random.default_rng(8)
    paths = [tmp_path / f"b{k}.cs" for k in range(3)]
    for k, path in enumerate(paths):
        make_cs_batch(path, rng, [2 * k + 1, 2 * k + 2], 20)
        Dataset.load(path).save(path, format=CSDAT_FORMAT)
    for path in paths:
        run_round([path], tmp_path / "out")
    remove_duplicate_particles(paths, tmp_path / "fresh", ParticleOptions(min_dist=MIN_DIST, mic_psize=1.0))
    assert (tmp_path / "out" / "particles_kept.cs").read_bytes()[:6] == b"\x95CSDAT"
    assert_same_dataset(tmp_path / "out" / "particles_kept.cs", tmp_path / "fresh" / "particles_kept.cs")


def test_a_cs_batch_into_a_star_store_and_the_reverse_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    make_batch(tmp_path / "b.star", rng, [1], 10)
    make_cs_batch(tmp_path / "b.cs", rng, [2], 10)
    run_round([tmp_path / "b.star"], tmp_path / "star")
    run_round([tmp_path / "b.cs"], tmp_path / "cs")
    with pytest.raises(
        CryodedupError, match=r"star: its running kept set is RELION particle STAR .*this batch CryoSPARC"
    ):
        run_round([tmp_path / "b.cs"], tmp_path / "star")
    with pytest.raises(CryodedupError, match=r"cs: its running kept set is CryoSPARC \.cs .*this batch RELION"):
        run_round([tmp_path / "b.star"], tmp_path / "cs")
    with pytest.raises(CryodedupError, match=r"b\.star: not a CryoSPARC file, in a batch of \.cs files"):
        run_round([tmp_path / "b.cs", tmp_path / "b.star"], tmp_path / "mixed")


def test_a_cs_batch_of_other_fields_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    make_cs_batch(tmp_path / "a.cs", rng, [1], 10)
    make_cs_batch(tmp_path / "b.cs", rng, [2], 10)
    fewer = np.load(tmp_path / "b.cs")
    names = [n for n in fewer.dtype.names if not n.startswith("alignments2D/")]
    write_cs(tmp_path / "b.cs", recfunctions.repack_fields(fewer[names]))
    run_round([tmp_path / "a.cs"], tmp_path / "out")
    with pytest.raises(
        CryodedupError, match=r"b\.cs: its fields are not those of .*particles_kept\.cs \(differing: align"
    ):
        run_round([tmp_path / "b.cs"], tmp_path / "out")


def test_a_cs_running_file_changed_since_the_last_round_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    for k in range(2):
        make_cs_batch(tmp_path / f"b{k}.cs", rng, [k + 1], 10)
    run_round([tmp_path / "b0.cs"], tmp_path / "out")
    path = tmp_path / "out" / "particles_kept.cs"
    path.write_bytes(path.read_bytes()[:-10] + b"X" * 10)
    with pytest.raises(CryodedupError, match=r"particles_kept\.cs: .*changed since the last --update round"):
        run_round([tmp_path / "b1.cs"], tmp_path / "out")


def write_csg_batch(folder: Path, rng: np.random.Generator, mics: list[int], per_mic: int, name: str) -> list[tuple]:
    """A batch as a CryoSPARC result group: the particles' .cs, a passthrough .cs of the location slot
    (rows in another order), and the .csg naming them (as an exported job's outputs)."""
    rows = make_cs_batch(folder / f"{name}_all.cs", rng, mics, per_mic)
    records = np.load(folder / f"{name}_all.cs")
    location = ["uid", *[f for f in records.dtype.names if f.startswith("location/")]]
    main = [f for f in records.dtype.names if not f.startswith("location/")]
    write_cs(folder / f"{name}_particles.cs", recfunctions.repack_fields(records[main]))
    write_cs(folder / f"{name}_passthrough.cs", recfunctions.repack_fields(records[location])[::-1])
    (folder / f"{name}_all.cs").unlink()
    slots = {f.split("/")[0] for f in main if "/" in f}
    results = dict.fromkeys(sorted(slots), f"{name}_particles.cs") | {"location": f"{name}_passthrough.cs"}
    (folder / f"{name}.csg").write_text(
        "created: 2024-01-01 00:00:00\ngroup:\n  name: particles\n  type: particle\nresults:\n"
        + "".join(
            f"  {slot}: {{metafile: '>{meta}', num_items: {len(rows)}, type: particle.{slot}}}\n"
            for slot, meta in results.items()
        )
    )
    return rows


def test_csg_batches_write_result_groups_and_one_running_cs(tmp_path: Path) -> None:
    """A .csg batch's round files are result groups as the plain run writes them (.cs, passthrough .cs, .csg);
    the running .cs holds every field of the group joined, the oracle's rows."""
    rng = np.random.default_rng(12)
    batches = [write_csg_batch(tmp_path, rng, mics, 25, f"J{k}") for k, mics in enumerate([[1, 2], [2, 3]])]
    expected = oracle_rounds(batches)
    out, files = tmp_path / "out", []
    for k in range(2):
        run_round([tmp_path / f"J{k}.csg"], out)
        files.append((out / "particles_kept.cs").stat().st_ino)
    assert files[0] == files[1]  # (round 2's rows appended in place)
    kept = [[row[4] for row, take in zip(rows, keep) if take] for rows, (keep, _) in zip(batches, expected)]
    assert uids(out / "round_0002_kept.cs") == kept[1]
    assert sorted(p.name for p in out.glob("round_0002_kept*")) == [
        "round_0002_kept.cs",
        "round_0002_kept.csg",
        "round_0002_kept_passthrough_1.cs",
    ]
    running = Dataset.load(out / "particles_kept.cs")
    assert [int(u) for u in running["uid"]] == kept[0] + kept[1]
    assert "location/center_x_frac" in running.fields() and "pick_stats/ncc_score" in running.fields()


@pytest.mark.parametrize("name", ["picks.tbl", "mic1_autopick.box"])
def test_inputs_neither_star_nor_cs_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("1 2 3\n")
    with pytest.raises(CryodedupError, match=r"--update takes RELION particle STAR files or CryoSPARC \.cs/\.csg"):
        run_round([tmp_path / name], tmp_path / "out")
