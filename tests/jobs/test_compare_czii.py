"""``compare --metric czii`` and ``comparepicks --metric czii``: the CZII challenge's score of random copick
projects and of picker files, against the published description by brute force (tests/czii_oracle.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.algo.czii import CHALLENGE_RADII, CHALLENGE_WEIGHTS
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.formats.copick import root_logger_kept
from cryodedup.jobs.compare import compare_copick_picks
from cryodedup.report.compare_metric import CziiScore, SpeciesScore, czii_rows
from czii_oracle import RADII, WEIGHTS, challenge_code_score, described_metric, described_sweep, random_project

with root_logger_kept():  # (copick's import sets up the root logger: put back as it was)
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject

#: 4 decimals, half to even, and a float's error.
ROUNDED = 5e-5 + 1e-12
OTHER = "not-a-challenge-class"  # (random_project's class the reference has not)


def copick_project(tmp_path, reference, candidate):
    """The rows in a project made with copick's API: reference as curation/0, candidate as model/0."""
    with root_logger_kept():
        config = tmp_path / "project" / "copick_config.json"
        radii = {**RADII, OTHER: 50.0}
        objects = [
            PickableObject(name=n, is_particle=True, radius=r, label=k + 1) for k, (n, r) in enumerate(radii.items())
        ]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
        runs = {}
        for user, rows in (("curation", [(*r, None) for r in reference]), ("model", candidate)):
            by_set = {}
            for tomogram, name, centre, score in rows:
                by_set.setdefault((tomogram, name), []).append((centre, score))
            for (tomogram, name), points in sorted(by_set.items()):
                if tomogram not in runs:
                    runs[tomogram] = root.new_run(f"TS_{tomogram:03d}")
                picks = runs[tomogram].new_picks(object_name=name, session_id="0", user_id=user)
                picks.points = [
                    CopickPoint(location=CopickLocation(x=c[0], y=c[1], z=c[2]), score=1.0 if s is None else s)
                    for c, s in points
                ]
                picks.store()
    return config


def test_the_challenges_radii_and_weights_are_those_it_published():
    assert CHALLENGE_RADII == RADII and CHALLENGE_WEIGHTS == WEIGHTS


@pytest.mark.parametrize("seed", range(4))
def test_comparepicks_czii_of_a_random_project_equals_the_published_description(tmp_path, seed):
    reference, candidate = random_project(seed)
    config = copick_project(tmp_path, reference, candidate)
    summary = compare_copick_picks(config, "curation/0", "model/0", metric="czii")
    assert summary.czii is not None
    czii = summary.czii.to_json()
    expected, score = described_metric(reference, [r[:3] for r in candidate], RADII, WEIGHTS)
    # (issue 92: the document opens with the keys every job's has; nothing decided, nothing written)
    document = summary.to_json()
    assert list(document)[:4] == ["verdict", "outputs", "timings", "config"] and document["outputs"] == {}
    assert document["verdict"]["word"] == "compared" and document["verdict"]["line"].endswith(
        f"; CZII score {'-' if score is None else f'{score:.3f}'}"
    )
    assert list(document["timings"]) == ["read", "decide", "write", "summarise", "report", "seconds"]
    assert [c["species"] for c in czii["species"]] == sorted(expected)
    tomograms = {t for t, _, _ in reference}
    for c in czii["species"]:
        tp, fp, fn, precision, recall, f = expected[c["species"]]
        assert (c["tp"], c["fp"], c["fn"]) == (tp, fp, fn)
        assert c["precision"] == pytest.approx(precision, abs=ROUNDED)
        assert c["recall"] == pytest.approx(recall, abs=ROUNDED)
        assert c["f_beta"] == pytest.approx(f, abs=ROUNDED)
        threshold = RADII[c["species"]] * 0.5
        refs = [(t, x) for t, k, x in reference if k == c["species"]]
        rows = [(t, x, s) for t, k, x, s in candidate if k == c["species"] and t in tomograms]
        if not rows:
            assert "sweep" not in c
            continue
        points, area, best = described_sweep(refs, rows, threshold, tomograms)
        assert c["sweep"]["average_precision"] == pytest.approx(area, abs=ROUNDED)
        assert c["sweep"]["best_threshold"] == best[0]
        assert c["sweep"]["curve"]["threshold"] == [p[0] for p in points]
    assert czii["score"] == pytest.approx(score, abs=ROUNDED)
    assert czii["beta"] == 4.0 and czii["tomograms_scored"] == len(tomograms)


def test_comparepicks_czii_hand_made_runs(tmp_path):
    # TS_000: apo-ferritin hit twice (a duplicate) and once at exactly 30 Å; a ribosome pick with no reference
    # ribosome there (a false positive). TS_001: references alone (misses); TS_002: the candidate alone (left out).
    reference = [
        (0, "apo-ferritin", (1000.0, 1000.0, 500.0)),
        (0, "apo-ferritin", (2000.0, 1000.0, 500.0)),
        (1, "apo-ferritin", (500.0, 500.0, 500.0)),
        (1, "ribosome", (800.0, 800.0, 800.0)),
    ]
    candidate = [
        (0, "apo-ferritin", (1010.0, 1000.0, 500.0), 0.9),
        (0, "apo-ferritin", (990.0, 1000.0, 500.0), 0.8),
        (0, "apo-ferritin", (2030.0, 1000.0, 500.0), 0.7),
        (0, "ribosome", (3000.0, 3000.0, 500.0), 0.6),
        (2, "ribosome", (800.0, 800.0, 800.0), 0.5),
    ]
    config = copick_project(tmp_path, reference, candidate)
    from cryodedup.copick_command import comparepicks

    args = ["-c", str(config), "--reference", "curation/0", "--candidate", "model/0", "--metric", "czii", "--json"]
    result = CliRunner().invoke(comparepicks, [*args, "--plot-czii", str(tmp_path / "pictures")])
    assert result.exit_code == 0, result.output
    czii = json.loads(result.stdout.splitlines()[-1])["czii"]
    by_name = {c["species"]: c for c in czii["species"]}
    apo, ribosome = by_name["apo-ferritin"], by_name["ribosome"]
    assert (apo["tp"], apo["fp"], apo["fn"]) == (2, 1, 1)  # (by hand: 2 hit, 3 - 2 false, 1 missed on TS_001)
    assert (ribosome["tp"], ribosome["fp"], ribosome["fn"]) == (0, 1, 1)
    assert apo["localisation_error_A"] == pytest.approx((10 + 30) / 2)
    f_apo = 17 * (2 / 3) * (2 / 3) / (16 * 2 / 3 + 2 / 3)
    assert czii["score"] == pytest.approx((f_apo * 1 + 0 * 1) / 2, abs=ROUNDED)
    assert "CZII score" in result.stderr and "apo-ferritin (weight 1" in result.stderr
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["czii_precision_recall.png", "report.html"]


def test_the_weights_and_multiplier_are_options(tmp_path):
    reference = [(0, "apo-ferritin", (1000.0, 1000.0, 500.0)), (0, "ribosome", (3000.0, 3000.0, 500.0))]
    candidate = [(0, "apo-ferritin", (1050.0, 1000.0, 500.0), 1.0), (0, "ribosome", (3000.0, 3000.0, 500.0), 1.0)]
    config = copick_project(tmp_path, reference, candidate)
    plain = compare_copick_picks(config, "curation/0", "model/0", metric="czii").czii
    assert plain is not None
    assert plain.score == pytest.approx(0.5)  # (apo-ferritin missed at 50 > 30 Å, the ribosome hit)
    wider = compare_copick_picks(config, "curation/0", "model/0", metric="czii", multiplier=1.0).czii
    assert wider is not None and wider.score == pytest.approx(1.0)
    weights = {"ribosome": 3, "ribosom": 2}  # (a misspelt name: said, not scored)
    weighted = compare_copick_picks(config, "curation/0", "model/0", metric="czii", weights=weights).czii
    assert weighted is not None and weighted.score == pytest.approx(3 / 4)
    assert weighted.weights_not_scored == ("ribosom",)
    assert "--weights names ribosom" in dict(czii_rows(weighted))["Weights unused"]
    with pytest.raises(CryodedupError, match="--multiplier"):
        compare_copick_picks(config, "curation/0", "model/0", metric="czii", multiplier=0)


def test_compare_czii_of_picker_files_is_one_class_at_the_radius(tmp_path):
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 2000, (40, 2))
    mics = rng.integers(0, 3, 40)
    picked = np.concatenate([truth[:30] + rng.normal(0, 6, (30, 2)), truth[:8] + 5, rng.uniform(0, 2000, (5, 2))])
    picked_mics = np.concatenate([mics[:30], mics[:8], rng.integers(0, 3, 5)])
    scores = rng.integers(0, 10, len(picked)).astype(float)
    # (the reference without scores: the candidate's are swept all the same)
    lines = ["image_name\tx_coord\ty_coord"] + [f"mic{g}\t{float(x)!r}\t{float(y)!r}" for g, (x, y) in zip(mics, truth)]
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    lines = ["image_name\tx_coord\ty_coord\tscore"] + [
        f"mic{g}\t{float(x)!r}\t{float(y)!r}\t{float(v)!r}" for g, (x, y), v in zip(picked_mics, picked, scores)
    ]
    (tmp_path / "b.txt").write_text("\n".join(lines) + "\n")
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    result = CliRunner().invoke(main, [*args, "--reference", "1", "--radius", "40", "--metric", "czii", "--json", "-q"])
    assert result.exit_code == 0, result.output
    (one,) = json.loads(result.stdout)["czii"]["species"]
    reference = [(int(g), "picks", (x, y, 0.0)) for g, (x, y) in zip(mics, truth)]
    candidate = [(int(g), "picks", (x, y, 0.0)) for g, (x, y) in zip(picked_mics, picked)]
    expected, _ = described_metric(reference, candidate, {"picks": 40.0}, {"picks": 1.0})
    assert (one["tp"], one["fp"], one["fn"]) == expected["picks"][:3]
    assert one["f_beta"] == pytest.approx(expected["picks"][5], abs=ROUNDED)
    refs = [(t, c) for t, _, c in reference]
    rows = [(t, c, s) for (t, _, c), s in zip(candidate, scores) if t in {r[0] for r in refs}]
    _, area, best = described_sweep(refs, rows, 20.0, {r[0] for r in refs})
    assert one["sweep"]["average_precision"] == pytest.approx(area, abs=ROUNDED)
    assert one["sweep"]["best_threshold"] == best[0]


def test_compare_czii_needs_a_reference(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("image_name\tx_coord\ty_coord\nmic0\t1\t1\n")
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    result = CliRunner().invoke(main, [*args, "--metric", "czii"])
    assert result.exit_code == 2 and "--metric czii" in result.output and "--reference" in result.output


def test_weights_are_refused_in_one_line():
    result = CliRunner().invoke(main, ["compare", "a", "b", "--weights", "ribosome=-1"])
    assert result.exit_code == 2 and "--weights takes NAME=W" in result.output


def picker_files(tmp_path):
    """Two topaz files: ten references, the candidate finding eight (one twice) and two strays, with scores."""
    truth = [(100.0 * k, 50.0) for k in range(10)]
    found = [(x + 3, y, 0.9 - 0.05 * k) for k, (x, y) in enumerate(truth[:8])] + [(1.0, 50.0, 0.2)]
    found += [(2000.0, 2000.0, 0.5), (3000.0, 50.0, 0.1)]
    (tmp_path / "a.txt").write_text("image_name\tx_coord\ty_coord\n" + "".join(f"m\t{x}\t{y}\n" for x, y in truth))
    (tmp_path / "b.txt").write_text(
        "image_name\tx_coord\ty_coord\tscore\n" + "".join(f"m\t{x}\t{y}\t{s}\n" for x, y, s in found)
    )
    return ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]


def test_the_picture_draws_each_species_curve_and_f_beta(tmp_path):
    from cryodedup.report.compare_metric import czii_picture

    args = [*picker_files(tmp_path), "--reference", "1", "--radius", "20", "--metric", "czii", "--json", "-q"]
    czii = json.loads(CliRunner().invoke(main, args).stdout)["czii"]
    (one,) = czii["species"]
    assert (one["tp"], one["fp"], one["fn"]) == (8, 3, 2)  # (by hand: 8 found, a second hit and 2 strays)
    typed = _typed_czii(tmp_path)
    assert typed.to_json() == czii
    curves, bars = czii_picture(typed).panels
    recall, precision = curves.marks[f"curve {one['species']}"]
    assert (recall, precision) == (one["sweep"]["curve"]["recall"], one["sweep"]["curve"]["precision"])
    assert curves.marks[f"best {one['species']}"] == (one["sweep"]["best_recall"], one["sweep"]["best_precision"])
    assert list(bars.marks["f_beta"]) == [one["f_beta"]]
    # The best threshold said at its mark, and each bar's value on it (a user's trial: neither was shown).
    assert curves.texts == [f"score {one['sweep']['best_threshold']:.4g}"]
    assert bars.texts == [f"{one['f_beta']:.3f}"]
    unswept = replace(typed, species=(replace(typed.species[0], sweep=None),))
    assert czii_picture(unswept).panels[0].title == "Score threshold not swept"


def _typed_czii(tmp_path):
    """The CZII score of :func:`picker_files`' two files, reference 1 at 20 Å, as the job returns it."""
    from cryodedup.jobs.compare import compare_picks
    from cryodedup.options import CompareOptions, ParticleOptions

    options = CompareOptions(reference="1", radius=20.0, metric="czii")
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    czii = compare_picks(paths, options, ParticleOptions(mic_psize=1.0, topaz_scale=1.0)).czii
    assert czii is not None
    return czii


def test_plot_writes_the_picture_and_report_and_refuses_them_again_without_force(tmp_path):
    args = [*picker_files(tmp_path), "--reference", "1", "--radius", "20", "--metric", "czii"]
    out = tmp_path / "plots"
    first = CliRunner().invoke(main, [*args, "--plot-czii", str(out)])
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.iterdir()) == ["czii_precision_recall.png", "report.html"]
    assert "CZII score" in (out / "report.html").read_text()
    again = CliRunner().invoke(main, [*args, "--plot-czii", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output
    assert len(again.output.strip().splitlines()) == 1
    assert CliRunner().invoke(main, [*args, "--plot-czii", str(out), "--force"]).exit_code == 0
    # (--radius: picks of no challenge species have no radius of the challenge's)
    alone_args = [*picker_files(tmp_path), "--reference", "1", "--radius", "20", "--plot-czii", str(tmp_path / "p")]
    alone = CliRunner().invoke(main, alone_args)
    assert alone.exit_code == 2 and "--metric czii" in alone.output
    # Its advice run as printed: the picture and the report are drawn, as with --metric czii given first.
    advice = re.search(r"add (--metric czii)", " ".join(alone.output.split()))
    assert advice, alone.output
    added = CliRunner().invoke(main, [*alone_args, *advice.group(1).split()])
    assert added.exit_code == 0, added.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["czii_precision_recall.png", "report.html"]


def test_a_lower_is_better_score_is_swept_keeping_picks_at_or_below_the_threshold():
    from cryodedup.jobs.compare import compare_plan, czii_metric
    from cryodedup.options import CompareOptions
    from cryodedup.particle_set import ParticleSet

    reference, candidate = random_project(5)
    reference = [(t, c) for t, k, c in reference if k == "apo-ferritin"]
    candidate = [(t, c, s) for t, k, c, s in candidate if k == "apo-ferritin" and t in {r[0] for r in reference}]
    n_ref, n = len(reference), len(reference) + len(candidate)
    particles = ParticleSet(
        inputs=["truth", "picker"],
        input_of=np.array([0] * n_ref + [1] * len(candidate)),
        mic_names=[f"TS_{t}" for t in range(100)],
        groups=np.array([t for t, _ in reference] + [t for t, _, _ in candidate]),
        centres=np.array([c for _, c in reference] + [c for _, c, _ in candidate], float),
        psize=np.ones(n),
        pixel_sizes=[],
        scores=None,
        score_label=None,
        higher_is_better=True,
    )
    scores = np.array([np.nan] * n_ref + [s for _, _, s in candidate])  # (lower is better: -s ranks as s did)
    run = compare_plan(CompareOptions(reference="truth", radius=60.0, metric="czii"))
    (lower,) = czii_metric(particles, run, lambda name: 60.0, -scores, higher=False).to_json()["species"]
    # (the picker's score is -s, lower better: kept at -s <= -t are those at s >= t, as swept on s)
    points, area, best = described_sweep(reference, candidate, 30.0, {t for t, _ in reference})
    assert lower["sweep"]["curve"]["threshold"] == [-p[0] for p in points]
    assert lower["sweep"]["best_threshold"] == -best[0]
    assert lower["sweep"]["average_precision"] == pytest.approx(area, abs=ROUNDED)


@pytest.mark.real_data
def test_real_picks_score_their_own_annotation_file_as_hits_on_its_tomogram_alone():
    # RELION 5's Picks job (9,442 picks on 5 tomograms, centred Å) and its TS_54 annotation file (the same 1,418
    # picks in tomogram pixels from the corner): every annotation pick hits its own, the other tomograms are missed.
    from helpers import shared_file

    picks, ts54 = (shared_file(f"tomo/cets-relion__Picks_job019_{n}.star") for n in ("particles", "TS_54_particles"))
    tomograms = shared_file("tomo/cets-relion__Tomograms_job006_tomograms.star")
    args = ["compare", str(picks), str(ts54), "--micrographs", str(tomograms), "--reference", "1", "--radius", "60"]
    result = CliRunner().invoke(main, [*args, "--metric", "czii", "--json", "-q"])
    assert result.exit_code == 0, result.output
    czii = json.loads(result.stdout)["czii"]
    (one,) = czii["species"]
    assert (one["tp"], one["fp"], one["fn"]) == (1418, 0, 9442 - 1418)
    recall = 1418 / 9442
    assert czii["score"] == pytest.approx(17 * recall / (16 + recall), abs=ROUNDED)
    assert one["localisation_error_A"] < 1e-3 and not czii["swept"]  # (Picks files carry no score)


def test_the_rows_say_why_nothing_was_swept():
    one = SpeciesScore("ribosome", 150.0, 75.0, 1.0, 3, 0, 0, 0, 3, 0.0, 0.0, 0.0, None)
    czii = CziiScore(4.0, 0.5, 1, "reference", 0.0, True, True, (one,), ())
    no_picks = dict(czii_rows(czii))["Score threshold"]
    no_scores = dict(czii_rows(replace(czii, swept=False)))["Score threshold"]
    assert "no picks" in no_picks and "score" in no_scores and no_picks != no_scores


@pytest.mark.real_data
def test_compare_warns_of_no_output_it_does_not_write(tmp_path):
    # A user's trial: compare said "each input's kept and rejected rows are written to files of their own"
    # of inputs whose columns differ, though it writes no file; and the order refusal spoke of a merged output.
    from helpers import shared_file

    picks, ts54 = (shared_file(f"tomo/cets-relion__Picks_job019_{n}.star") for n in ("particles", "TS_54_particles"))
    tomograms = shared_file("tomo/cets-relion__Tomograms_job006_tomograms.star")
    scored = tmp_path / "scored.star"  # (a template-matching job's columns: a score the Picks job has not)
    scored.write_text(
        "\ndata_particles\n\nloop_\n_rlnTomoName #1\n_rlnCenteredCoordinateXAngst #2\n"
        "_rlnCenteredCoordinateYAngst #3\n_rlnCenteredCoordinateZAngst #4\n_rlnAutopickFigureOfMerit #5\n"
        "TS_01\t20.0\t0.0\t0.0\t0.5\n"
    )
    common = ["--micrographs", str(tomograms), "--reference", "1", "--radius", "60"]
    result = CliRunner().invoke(main, ["compare", str(picks), str(scored), *common])
    assert result.exit_code == 0, result.output
    assert "of their own" not in " ".join(result.output.split())
    swapped = CliRunner().invoke(main, ["compare", str(ts54), str(picks), *common])
    assert swapped.exit_code == 1 and "merged output" not in swapped.output
    assert "the inputs are read in the first input's columns" in " ".join(swapped.output.split())


@pytest.mark.real_data
def test_a_misspelt_weight_is_warned_of_with_the_species_it_may_mean(tmp_path):
    # A user's trial: --weights pick=2 (the species is "picks") exited 0, its weight silently unused.
    from helpers import shared_file

    picks = shared_file("tomo/cets-relion__Picks_job019_particles.star")
    tomograms = shared_file("tomo/cets-relion__Tomograms_job006_tomograms.star")
    copy = tmp_path / "copy.star"
    copy.write_bytes(picks.read_bytes())
    args = ["compare", str(picks), str(copy), "--micrographs", str(tomograms), "--reference", "1", "--radius", "60"]
    result = CliRunner().invoke(main, [*args, "--metric", "czii", "--weights", "pick=2"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "--weights names pick, which the reference has no picks of (did you mean picks?)" in said


def test_one_tomogram_is_said_in_the_singular():
    # A user's trial: "counted over the 1 tomograms".
    czii = CziiScore(4.0, 0.5, 1, "reference", 0.5, False, True, (), ())
    row = dict(czii_rows(czii))["CZII score"]
    assert "the 1 tomogram the reference" in row
    assert "the 2 tomograms the reference" in dict(czii_rows(replace(czii, tomograms_scored=2)))["CZII score"]
    assert "all 1 run with picks" in dict(czii_rows(replace(czii, scored_over="all"), "Runs"))["CZII score"]


@pytest.mark.parametrize("seed", range(3))
def test_czii_weights_all_divides_as_the_challenges_code(tmp_path, seed):
    # On main: no --czii-weights; the score divided by the scored species' weights alone.
    reference, candidate = random_project(seed)
    config = copick_project(tmp_path, reference, candidate)
    per_class, present = described_metric(reference, [r[:3] for r in candidate], RADII, WEIGHTS)
    literal = challenge_code_score(per_class, WEIGHTS)
    czii = compare_copick_picks(config, "curation/0", "model/0", metric="czii", czii_weights="all").czii
    assert czii is not None and czii.score == pytest.approx(literal, abs=ROUNDED)
    assert (czii.weights_over, czii.divided_by) == ("all", 7.0)
    said = dict(czii_rows(czii))["CZII score"]
    assert "divided by every challenge species' weights (7, as the challenge's code)" in said
    plain = compare_copick_picks(config, "curation/0", "model/0", metric="czii").czii
    assert plain is not None and plain.score == pytest.approx(present, abs=ROUNDED)
    assert "divided by the scored species' weights" in dict(czii_rows(plain))["CZII score"]
    assert plain.to_json()["weights_over"] == "present"


def test_a_two_species_project_scores_as_the_challenge_would(tmp_path):
    # The case: two species, the weighted mean over them against the challenge's sum over seven.
    reference = [(0, "apo-ferritin", (1000.0, 1000.0, 500.0)), (0, "thyroglobulin", (3000.0, 3000.0, 500.0))]
    candidate = [(0, "apo-ferritin", (1000.0, 1000.0, 500.0), 1.0), (0, "thyroglobulin", (3500.0, 3000.0, 500.0), 1.0)]
    config = copick_project(tmp_path, reference, candidate)
    from cryodedup.copick_command import comparepicks

    args = ["-c", str(config), "--reference", "curation/0", "--candidate", "model/0", "--metric", "czii", "--json"]
    for choice, expected in (("present", 1 / 3), ("all", 1 / 7)):  # (apo-ferritin F 1 x weight 1; thyroglobulin 0)
        result = CliRunner().invoke(comparepicks, [*args, "--czii-weights", choice])
        assert result.exit_code == 0, result.output
        czii = json.loads(result.stdout.splitlines()[-1])["czii"]
        assert czii["score"] == pytest.approx(expected, abs=ROUNDED) and czii["weights_over"] == choice
