"""Consensus coverage: which micrographs each picker ran on, checked against a brute force.

The shape of the case is the RELION 3.1 tutorial's: a LoG job (AutoPick/job006) ran on the 5
micrographs of a Select job, a template job (AutoPick/job011) on all 24 of CtfFind. Support
can only be asked where enough pickers ran; Jaccard is only defined where both ran.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.cli import main
from fixtures.autopick_jobs import (
    LOG_LABELS,
    PSIZE,
    coordinate_star,
    micrographs_star,
    tutorial_like,
    write_cryolo_folder,
)


def brute_force(picks_by_input, covered_by_input, min_dist_px, min_support, uncovered="keep", rank=True):
    """The decision written from the issue, pick by pick.

    Greedy suppression by score (best first, ties by input order) over all picks of a
    micrograph; then a kept pick on a micrograph that at least K inputs ran on stays only if
    K distinct inputs have a pick within the distance; on other micrographs it cannot be
    confirmed and is kept (``uncovered`` keep) or rejected. Scores are each input's rank
    percentile, as --score-normalize rank gives them (``rank``), else as given.
    """
    flat = []
    for k, by_mic in enumerate(picks_by_input):
        scores = sorted(s for rows in by_mic.values() for _, _, s in rows)
        n = len(scores)
        for mic, rows in by_mic.items():
            for x, y, s in rows:
                worse = sum(v < s for v in scores)
                equal = sum(v == s for v in scores)
                flat.append((k, mic, x, y, (worse + equal / 2) / n if rank else s))
    order = sorted(range(len(flat)), key=lambda i: (-flat[i][4], i))

    def close(i, j):
        return flat[i][1] == flat[j][1] and (flat[i][2] - flat[j][2]) ** 2 + (flat[i][3] - flat[j][3]) ** 2 <= (
            min_dist_px**2
        )

    suppressed, kept = set(), set()
    for i in order:
        if i not in suppressed:
            kept.add(i)
            suppressed |= {j for j in range(len(flat)) if j != i and close(i, j)}
    final, not_confirmable, unconfirmed = set(), set(), set()
    for i in kept:
        mic = flat[i][1]
        ran = sum(mic in covered for covered in covered_by_input)
        if ran < min_support:
            not_confirmable.add(i)
            if uncovered == "keep":
                final.add(i)
        elif len({flat[j][0] for j in range(len(flat)) if close(i, j)}) >= min_support:
            final.add(i)
        else:
            unconfirmed.add(i)
    return flat, final, not_confirmable, unconfirmed


def jaccard_brute_force(picks_by_input, covered_by_input, min_dist_px):
    """J(A, B) over the micrographs both ran on, counting pairs pick by pick."""
    a, b = picks_by_input
    both = set(covered_by_input[0]) & set(covered_by_input[1])

    def matched(one, other):
        return sum(
            any((x - u) ** 2 + (y - v) ** 2 <= min_dist_px**2 for u, v, _ in other.get(mic, []))
            for mic in both
            for x, y, _ in one.get(mic, [])
        )

    size_a = sum(len(a.get(m, [])) for m in both)
    size_b = sum(len(b.get(m, [])) for m in both)
    shared = (matched(a, b) + matched(b, a)) / 2
    return shared / (size_a + size_b - shared)


@pytest.mark.parametrize("uncovered", ["keep", "reject"])
def test_relion31_jobs_on_different_micrographs_agree_with_a_brute_force(tmp_path, monkeypatch, uncovered):
    monkeypatch.chdir(tmp_path)
    _jobs, picks = tutorial_like(tmp_path, np.random.default_rng(5))
    covered = [set(picks["job006"]), set(picks["job011"])]
    min_dist = 40.0
    options = ParticleOptions(
        min_dist=min_dist, min_support=2, score_normalize="rank", uncovered=uncovered, mic_psize=PSIZE
    )
    summary = remove_duplicate_particles(["AutoPick/job006", "AutoPick/job011"], "Dedup", options)
    flat, final, not_confirmable, unconfirmed = brute_force(
        [picks["job006"], picks["job011"]], covered, min_dist / PSIZE, 2, uncovered
    )
    assert summary.kept == len(final)
    consensus = summary.to_json()["consensus"]
    assert [i["micrographs"] for i in consensus["per_input"]] == [5, 24]
    by_input = [sum(flat[i][0] == k for i in not_confirmable) for k in range(2)]
    fate = "kept_not_confirmable" if uncovered == "keep" else "rejected_not_confirmable"
    assert [i[fate] for i in consensus["per_input"]] == by_input
    assert by_input[0] == 0 and by_input[1] > 0  # the template's picks on the 19 micrographs LoG never saw
    assert [i["rejected_unconfirmed"] for i in consensus["per_input"]] == [
        sum(flat[i][0] == k for i in unconfirmed) for k in range(2)
    ]
    assert consensus["micrographs_not_confirmable"] == 19
    assert len(consensus["not_covered"]) == 19
    assert all(v == ["AutoPick/job006"] for v in consensus["not_covered"].values())
    expected_j = jaccard_brute_force([picks["job006"], picks["job011"]], covered, min_dist / PSIZE)
    assert consensus["jaccard"][0][1] == pytest.approx(expected_j, abs=1e-4)
    assert expected_j > 0.4  # LoG re-found most template picks where it ran
    # Micrographs LoG never ran on have no agreement, and are never among the least agreeing.
    uncovered_mic = "MotionCorr/job002/Movies/mic_001.mrc"
    assert consensus["jaccard_per_micrograph"][uncovered_mic][0][1] is None
    assert all(w["micrograph"] in covered[0] for w in consensus["least_agreement"])
    warning = [w for w in summary.warnings if "cannot be asked" in w]
    assert warning and f"{by_input[1]:,} picks lie on 19 of 24 micrographs" in warning[0]
    # The files: kept picks of the template on an uncovered micrograph are there, or not.
    kept_text = (tmp_path / "Dedup/kept/Movies/mic_001_autopick.star").read_text()
    on_mic_1 = sum(1 for i in final if flat[i][1] == uncovered_mic)
    assert on_mic_1 == (len(picks["job011"][uncovered_mic]) if uncovered == "keep" else 0)
    assert sum(1 for line in kept_text.splitlines() if line[:1] == " " and line.split()) == on_mic_1


def test_without_coverage_the_old_rule_rejects_what_no_one_could_confirm(tmp_path, monkeypatch):
    """--coverage all: every input is taken to have run everywhere, and support is asked of every pick."""
    monkeypatch.chdir(tmp_path)
    _jobs, picks = tutorial_like(tmp_path, np.random.default_rng(6))
    everywhere = [set(picks["job011"])] * 2
    options = ParticleOptions(min_dist=40.0, min_support=2, score_normalize="rank", mic_psize=PSIZE, coverage="all")
    summary = remove_duplicate_particles(["AutoPick/job006", "AutoPick/job011"], "Dedup", options)
    _flat, final, not_confirmable, _ = brute_force([picks["job006"], picks["job011"]], everywhere, 40.0 / PSIZE, 2)
    assert summary.kept == len(final) and not not_confirmable
    assert not any("cannot be asked" in w for w in summary.warnings)


def test_cryolo_empty_files_count_as_ran_on_and_relion4_lists_as_listed(tmp_path, monkeypatch):
    """A RELION 4 autopick.star lists what it ran on (even without picks); crYOLO writes a file per micrograph."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    stems = [f"mic_{k:03d}" for k in range(8)]
    names = [f"MotionCorr/job002/Movies/{s}.mrc" for s in stems]
    (tmp_path / "CtfFind/job003").mkdir(parents=True)
    (tmp_path / "CtfFind/job003/micrographs_ctf.star").write_text(micrographs_star(names))
    relion = {
        n: [(x, y, round(float(rng.uniform(0, 1)), 4)) for x, y in rng.uniform(100, 900, (12, 2)).round(1)]
        for n in names[:6]
    }
    relion[names[5]] = []  # listed, no picks: ran there
    job = tmp_path / "AutoPick/job010"
    (job / "Movies").mkdir(parents=True)
    listing = "\n# version 50001\n\ndata_coordinate_files\n\nloop_ \n_rlnMicrographName #1 \n"
    listing += "_rlnMicrographCoordinates #2 \n"
    for name, rows in relion.items():
        stem = name.rsplit("/", 1)[1][:-4]
        (job / f"Movies/{stem}_autopick.star").write_text(
            coordinate_star(LOG_LABELS, [(x, y, s, 0, 0.0) for x, y, s in rows])
        )
        listing += f"{name} AutoPick/job010/Movies/{stem}_autopick.star \n"
    (job / "autopick.star").write_text(listing + "\n")
    # crYOLO ran on micrographs 2..7; empty files on 6 and 7.
    cryolo = {}
    for name in names[2:]:
        stem = name.rsplit("/", 1)[1][:-4]
        base = relion.get(name, [])
        cryolo[stem] = [(x + 2, y - 2, 0.9) for x, y, _ in base[:8]] if name in names[2:6] else []
    write_cryolo_folder(tmp_path / "cryolo", cryolo)
    options = ParticleOptions(
        min_dist=30.0,
        min_support=2,
        score_normalize="rank",
        micrographs=tmp_path / "CtfFind/job003/micrographs_ctf.star",
    )
    summary = remove_duplicate_particles(["AutoPick/job010", "cryolo"], "Dedup", options)
    consensus = summary.to_json()["consensus"]
    assert [i["micrographs"] for i in consensus["per_input"]] == [6, 6]
    covered = [set(relion), {names[2 + k] for k in range(6)}]
    as_cryolo = {n: cryolo[n.rsplit("/", 1)[1][:-4]] for n in names[2:]}
    _flat, final, not_confirmable, _unconfirmed = brute_force([relion, as_cryolo], covered, 30.0 / PSIZE, 2)
    assert summary.kept == len(final)
    assert sum(i["kept_not_confirmable"] for i in consensus["per_input"]) == len(not_confirmable)
    # Micrographs 0 and 1 (RELION only) and 6, 7 (crYOLO only, no picks): 4 not confirmable.
    assert consensus["micrographs_not_confirmable"] == 4
    expected_j = jaccard_brute_force([relion, as_cryolo], covered, 30.0 / PSIZE)
    assert consensus["jaccard"][0][1] == pytest.approx(expected_j, abs=1e-4)


def test_cli_says_what_could_not_be_confirmed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    args = ["particles", "AutoPick/job006", "AutoPick/job011", "-o", "Dedup", "--min-dist", "40"]
    args += ["--min-support", "2", "--score-normalize", "rank", "--mic-psize", str(PSIZE)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "cannot be confirmed: kept (--uncovered reject rejects them)" in result.output
    assert "ran on 5 of 24 micrographs" in result.output
    assert "(on the micrographs both ran on)" in result.output
    result = CliRunner().invoke(main, [*args, "--uncovered", "reject", "--force", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    consensus = json.loads(result.stdout)["consensus"]
    assert consensus["uncovered"] == "reject"


def test_uncovered_reject_without_min_support_is_refused(tmp_path, monkeypatch):
    # At --min-support 1 no pick is unconfirmable: --uncovered reject would silently do nothing.
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    args = ["particles", "AutoPick/job006", "AutoPick/job011", "-o", "Dedup", "--mic-psize", str(PSIZE)]
    result = CliRunner().invoke(main, [*args, "--uncovered", "reject"])
    assert result.exit_code != 0
    assert "--uncovered reject" in result.output and "--min-support 2 or more" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "Dedup").exists()
    with pytest.raises(CryodedupError, match="--min-support 2 or more"):
        ParticleOptions(uncovered="reject").check()


def test_pictures_leave_out_what_one_input_never_saw():
    """Two inputs; B never ran on micrograph 1: that micrograph has no agreement, and is shown last."""
    from cryodedup.report.consensus_figures import agreement
    from cryodedup.report.particle_base import ParticleDetails
    from cryodedup.report.picks_figures import micrographs_to_show
    from helpers import bare_particle_set

    # Micrograph 0: A and B both pick one place. Micrograph 1: A alone, three picks rejected.
    input_of = np.array([0, 1, 0, 0, 0, 0], dtype=np.uint32)
    groups = np.array([0, 0, 1, 1, 1, 1], dtype=np.uint32)
    particles = bare_particle_set(["A", "B"], input_of, groups, ["m0", "m1"])
    keep = np.array([True, False, True, False, False, False])
    confirmed_by = np.array([3, 3, 1, 1, 1, 1], dtype=np.uint64)
    covered = np.array([[True, True], [True, False]])
    details = ParticleDetails(particles, keep, np.full(6, -1), 10.0, confirmed_by, covered=covered)
    assert micrographs_to_show(details, 2) == [0, 1]  # m1 has more rejections, but only A ran there
    figure = agreement(details)
    (per_mic,) = figure.panels  # two inputs: their index marked on the histogram
    assert per_mic.marks["overall"] == 1.0  # A / B on m0 only: every pick shared
    (label,) = per_mic.legend.labels
    assert "1.00 on 1 of 2 mics" in label
    assert "1 of 2 micrographs left out" in per_mic.title
    assert per_mic.marks["per_micrograph"][0].sum() == 1  # m0 alone


def test_relion_jobs_give_the_pixel_size_of_the_micrographs_they_name(tmp_path, monkeypatch):
    """No --mic-psize: each RELION job names its micrographs STAR, which holds rlnMicrographPixelSize."""
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    summary = remove_duplicate_particles(
        ["AutoPick/job006", "AutoPick/job011"], "Dedup", ParticleOptions(min_dist=40.0, score_normalize="rank")
    )
    (used,) = summary.to_json()["pixel_sizes"]
    assert used["psize"] == PSIZE
    assert used["source"] == (
        "rlnMicrographPixelSize in Select/job005/micrographs_selected.star, CtfFind/job003/micrographs_ctf.star"
    )
    with_psize = remove_duplicate_particles(
        ["AutoPick/job006", "AutoPick/job011"],
        "Dedup2",
        ParticleOptions(min_dist=40.0, score_normalize="rank", mic_psize=PSIZE),
    )
    assert summary.kept == with_psize.kept


def test_a_relion4_job_names_its_micrographs_in_its_job_star(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = [f"MotionCorr/job002/Movies/m{k}.mrc" for k in range(2)]
    (tmp_path / "CtfFind/job003").mkdir(parents=True)
    (tmp_path / "CtfFind/job003/micrographs_ctf.star").write_text(micrographs_star(names))
    job = tmp_path / "AutoPick/job010"
    (job / "Movies").mkdir(parents=True)
    listing = "data_coordinate_files\n\nloop_\n_rlnMicrographName #1\n_rlnMicrographCoordinates #2\n"
    for k, name in enumerate(names):
        (job / f"Movies/m{k}_autopick.star").write_text(coordinate_star(LOG_LABELS, [(100.0, 100.0, 0.5, 0, 0.0)]))
        listing += f"{name} AutoPick/job010/Movies/m{k}_autopick.star\n"
    (job / "autopick.star").write_text(listing)
    args = ["particles", "AutoPick/job010", "-o", "Dedup"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "carry no pixel size" in result.stderr  # no job.star: nothing names them
    (job / "job.star").write_text(
        "data_job\n\n_rlnJobTypeLabel relion.autopick.log\n\ndata_joboptions_values\n\nloop_\n"
        "_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\nangpix -1\n"
        "fn_input_autopick CtfFind/job003/micrographs_ctf.star\n"
    )
    result = CliRunner().invoke(main, [*args, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    (used,) = json.loads(result.stdout)["pixel_sizes"]
    assert used["psize"] == PSIZE and "CtfFind/job003/micrographs_ctf.star" in used["source"]


def test_score_names_a_column_every_picker_has(tmp_path, monkeypatch):
    """--score COLUMN for picker inputs: the pickers' own column, or another one with its direction."""
    monkeypatch.chdir(tmp_path)
    _jobs, picks = tutorial_like(tmp_path, np.random.default_rng(5))
    jobs = ["AutoPick/job006", "AutoPick/job011"]
    base = {"min_dist": 40.0, "mic_psize": PSIZE, "score_normalize": "rank"}
    auto = remove_duplicate_particles(jobs, "auto", ParticleOptions(**base))
    named = remove_duplicate_particles(jobs, "named", ParticleOptions(**base, score="rlnAutopickFigureOfMerit"))
    assert named.kept == auto.kept and named.to_json()["score"]["column"] == "rlnAutopickFigureOfMerit"
    with pytest.raises(CryodedupError, match="--score rlnClassNumber: it is not known whether higher or lower"):
        remove_duplicate_particles(
            jobs, "class", ParticleOptions(min_dist=40.0, mic_psize=PSIZE, score="rlnClassNumber")
        )
    # Lower class first: LoG's class 0 beats the template's class 1 at every duplicate.
    options = ParticleOptions(min_dist=40.0, mic_psize=PSIZE, score="rlnClassNumber", score_order="min")
    summary = remove_duplicate_particles(jobs, "class", options)
    by_class = [
        {m: [(x, y, -cls) for x, y, _ in rows] for m, rows in picks[j].items()}
        for j, cls in (("job006", 0), ("job011", 1))
    ]
    covered = [set(picks["job006"]), set(picks["job011"])]
    flat, final, _, _ = brute_force(by_class, covered, 40.0 / PSIZE, 1, rank=False)
    assert summary.kept == len(final)
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [sum(flat[i][0] == k for i in final) for k in range(2)]


def test_score_column_missing_from_a_picker_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tutorial_like(tmp_path, np.random.default_rng(5))
    write_cryolo_folder(tmp_path / "cryolo", {"mic_000": [(100.0, 100.0, 0.5)], "mic_001": []})
    options = ParticleOptions(min_dist=40.0, mic_psize=PSIZE, score="rlnAutopickFigureOfMerit")
    with pytest.raises(CryodedupError, match=r"mic_000.cbox: no column rlnAutopickFigureOfMerit for --score"):
        remove_duplicate_particles(["AutoPick/job011", "cryolo"], "out", options)
    alone = remove_duplicate_particles(["cryolo"], "out", ParticleOptions(mic_psize=PSIZE, score="_Confidence"))
    assert alone.to_json()["score"] == {"column": "Confidence", "order": "max"}
