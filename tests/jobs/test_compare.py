"""``cryodedup compare`` against brute force: pairs within the radius by every distance, one-to-one
matching by scipy's maximum bipartite matching, the Jaccard from the one-to-one count."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from cryodedup.algo.matching import maximum_matching
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.compare import compare_picks, compare_plan
from cryodedup.options import CompareOptions, ParticleOptions
from cryodedup.report.comparison import Comparison, ObjectComparison
from cryodedup.report.sections.registration import RegisteredPair
from helpers import a_comparison

#: Fractions are given to 4 decimals, half to even (0.03125 -> 0.0312): half a unit, and a float's error.
ROUNDED = 5e-5 + 1e-12


def _write_topaz(path, mics, xy):
    lines = ["image_name\tx_coord\ty_coord"] + [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, xy)]
    path.write_text("\n".join(lines) + "\n")


def _one_to_one(close: np.ndarray) -> int:
    """The most pairs matched one to one, by scipy's assignment: each pair within the radius costs -1."""
    if not close.size:
        return 0
    rows, cols = linear_sum_assignment(-close.astype(float))
    return int(close[rows, cols].sum())


def _brute(a, ma, b, mb, radius, beta, over="shared"):
    """Per micrograph: matched one to one (scipy's assignment) and their Jaccard, matched / (|A| + |B| - matched);
    over the micrographs scored (shared: those with picks of both; all): matched, P, R and F of b against a,
    the Jaccard, and the neighbour agreement as the consensus counts it ((m(A,B) + m(B,A)) / 2 over the union)."""
    out, total, n_a, n_b, neighbours = {}, 0, 0, 0, 0.0
    for m in sorted(set(ma) | set(mb)):
        pa, pb = a[ma == m], b[mb == m]
        close = ((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2) <= radius * radius
        matched = _one_to_one(close)
        union = len(pa) + len(pb) - matched
        out[f"mic{m}"] = (matched, matched / union if union else None)
        if over == "all" or (len(pa) and len(pb)):
            total, n_a, n_b = total + matched, n_a + len(pa), n_b + len(pb)
            neighbours += (close.any(axis=1).sum() + close.any(axis=0).sum()) / 2 if close.size else 0
    precision, recall = (total / n_b if n_b else None), (total / n_a if n_a else None)
    score = (1 + beta**2) * precision * recall / (beta**2 * precision + recall) if total else 0.0
    score = score if n_a or n_b else None  # (no micrograph scored: no score at all)
    jaccard = total / (n_a + n_b - total) if n_a + n_b else None
    agreement = neighbours / (n_a + n_b - neighbours) if n_a + n_b else None
    return out, total, (n_a, n_b), precision, recall, score, jaccard, agreement


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    radius=st.floats(5, 80),
    beta=st.sampled_from([0.5, 1.0, 2.0]),
    over=st.sampled_from(["shared", "all"]),
)
def test_compare_is_the_brute_force(tmp_path_factory, seed, radius, beta, over):
    # Issue 63 item 4: the Jaccard follows from the one-to-one count, and only the micrographs both
    # inputs picked are scored by default (a picker that never saw a micrograph says nothing of it).
    tmp = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(seed)
    n_a, n_b = rng.integers(1, 150, size=2)
    a, ma = rng.uniform(0, 800, (n_a, 2)), rng.integers(0, 3, n_a)
    b, mb = rng.uniform(0, 800, (n_b, 2)), rng.integers(0, 3, n_b) + rng.integers(0, 3)  # (some micrographs of one)
    near = min(n_a, n_b) // 2  # half of b near picks of a: crowded clusters make ambiguous matchings
    b[:near], mb[:near] = a[:near] + rng.normal(0, radius / 2, (near, 2)), ma[:near]
    a, b = np.round(a, 3), np.round(b, 3)  # as the files hold them (a pair at the radius is on one side in both)
    _write_topaz(tmp / "a.txt", ma, a)
    _write_topaz(tmp / "b.txt", mb, b)
    reading = ParticleOptions(mic_psize=1.0, topaz_scale=1.0)
    s = compare_picks([tmp / "a.txt", tmp / "b.txt"], CompareOptions("1", radius, beta, over), reading).to_json()
    per_mic, total, scored, precision, recall, score, jaccard, agreement = _brute(a, ma, b, mb, radius, beta, over)
    assert s["matched"] == total and s["picks_scored"] == list(scored)
    assert s["unmatched"] == [scored[0] - total, scored[1] - total]
    assert s["left_out"]["picks"] == [n_a - scored[0], n_b - scored[1]] if "left_out" in s else scored == (n_a, n_b)
    assert s["jaccard"] == (None if jaccard is None else pytest.approx(jaccard, abs=ROUNDED))
    assert s["neighbour_agreement"] == (None if agreement is None else pytest.approx(agreement, abs=ROUNDED))
    for key, value in (("precision", precision), ("recall", recall), ("f_beta", score)):
        assert s["reference"][key] == (None if value is None else pytest.approx(value, abs=ROUNDED))
    for row in s["per_micrograph"]:
        matched, one_to_one = per_mic[row["micrograph"]]
        assert row["matched"] == matched
        assert row["unmatched"] == [row["picks"][0] - matched, row["picks"][1] - matched]
        assert row["jaccard"] == (None if one_to_one is None else pytest.approx(one_to_one, abs=ROUNDED))


def test_a_picker_that_ran_on_few_micrographs_is_scored_on_those(tmp_path):
    # Issue 63 item 4: LoG picked 5 of 24 micrographs, and its precision read 0.110 (0.51 on the
    # shared five). Here b is a on 5 micrographs of 24, a picked all 24: b is perfect where it ran.
    rng = np.random.default_rng(3)
    a, ma = rng.uniform(0, 4000, (24 * 40, 2)), np.repeat(np.arange(24), 40)
    b, mb = a[ma < 5] + rng.normal(0, 3, (5 * 40, 2)), ma[ma < 5]
    _write_topaz(tmp_path / "a.txt", ma, a)
    _write_topaz(tmp_path / "b.txt", mb, b)
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    shared = CliRunner().invoke(main, [*args, "--reference", "1", "--radius", "20"])
    assert shared.exit_code == 0, shared.output
    assert "5 micrographs both inputs cover; left out: 19 micrographs only one covers (760 + 0 picks" in shared.output
    assert "--over all scores them" in shared.output
    s = json.loads(CliRunner().invoke(main, [*args, "--reference", "1", "--radius", "20", "--json", "-q"]).stdout)
    assert s["reference"]["precision"] == s["reference"]["recall"] == s["jaccard"] == 1.0
    assert s["left_out"] == {"micrographs": 19, "picks": [760, 0]} and s["micrographs_scored"] == 5
    every = CliRunner().invoke(main, [*args, "--reference", "1", "--radius", "20", "--over", "all", "--json", "-q"])
    s = json.loads(every.stdout)
    assert s["reference"]["precision"] == 1.0 and s["reference"]["recall"] == pytest.approx(200 / 960, abs=ROUNDED)
    assert s["jaccard"] == pytest.approx(200 / 960, abs=ROUNDED) and "left_out" not in s


def test_compares_document_opens_with_the_keys_every_jobs_has(tmp_path):
    # Issue 92 (one job shape): verdict, outputs, timings first, typed as every job's; nothing decided, so the
    # verdict is "compared" (good), its line the agreement; nothing written; the flat seconds gone into timings.
    # Oracle: 3 picks of a, b two of them moved 1 px and one far, on one micrograph: 2 matched of 3 + 2 (by hand).
    _write_topaz(tmp_path / "a.txt", [0, 0, 0], np.array([[100.0, 100.0], [300.0, 300.0], [500.0, 500.0]]))
    _write_topaz(tmp_path / "b.txt", [0, 0], np.array([[101.0, 100.0], [300.0, 301.0]]))
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    done = CliRunner().invoke(main, [*args, "--reference", "1", "--radius", "20", "--json", "-q"])
    s = json.loads(done.stdout)
    assert list(s)[:4] == ["verdict", "outputs", "timings", "inputs"] and "seconds" not in s
    line = f"Jaccard 0.667 at 20 Å: 2 picks matched one to one, of 3 + 2; {tmp_path / 'b.txt'} against "
    line += f"{tmp_path / 'a.txt'}: F1 0.800"
    assert s["verdict"] == {"word": "compared", "kind": "good", "line": line, "why": None}
    assert s["outputs"] == {}
    assert list(s["timings"]) == ["read", "decide", "write", "summarise", "report", "seconds"]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=150)
)
def test_maximum_matching_is_scipys(n_a, n_b, edges):
    pairs = np.array(sorted({(i, j) for i, j in edges if i < n_a and j < n_b}), dtype=np.int64).reshape(-1, 2)
    partner = maximum_matching(n_a, n_b, pairs)
    taken = partner[partner >= 0]
    assert len(set(taken.tolist())) == len(taken)  # one to one
    assert all((i, int(j)) in set(map(tuple, pairs.tolist())) for i, j in enumerate(partner) if j >= 0)
    graph = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_a, n_b))
    assert len(taken) == int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def _two_frames(tmp_path, seed: int) -> list[str]:
    """``compare`` of two topaz files of 400 picks, the second moved by (64, -128) px: its arguments."""
    rng = np.random.default_rng(seed)
    a, ma = rng.uniform(200, 3000, (400, 2)), rng.integers(0, 4, 400)
    _write_topaz(tmp_path / "a.txt", ma, a)
    _write_topaz(tmp_path / "b.txt", ma, a + np.array([64, -128]))
    return ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]


def test_command_line_shows_the_transform_and_scores(tmp_path):
    args = _two_frames(tmp_path, seed=5)
    done = CliRunner().invoke(main, [*args, "--reference", "1", "--json", "-q"])
    assert done.exit_code == 0, done.output
    s = json.loads(done.stdout)
    assert s["registration"]["frames"] == "two"
    assert s["registration"]["best_transform"]["transform"] == "shift:-64,128"
    assert s["reference"]["recall"] < 0.05  # in two frames: only chance neighbours match
    assert s["warnings"] == []  # (compare ranks nothing: no word of a missing score)
    # Moved back by the transform it names, every pick of b lies on its pick of a: all matched.
    moved = CliRunner().invoke(
        main, [*args, "--reference", "1", "--transform", f"{tmp_path / 'b.txt'}=shift:-64,128", "--json", "-q"]
    )
    assert moved.exit_code == 0, moved.output
    s = json.loads(moved.stdout)
    assert s["registration"]["frames"] == "one"
    assert s["reference"]["recall"] == s["reference"]["precision"] == 1.0
    assert s["transforms_applied"] == [{"input": str(tmp_path / "b.txt"), "transform": "shift:-64,128"}]
    with pytest.raises(CryodedupError, match="two inputs"):
        compare_picks([tmp_path / "a.txt"], CompareOptions(), ParticleOptions(mic_psize=1.0, topaz_scale=1.0))
    with pytest.raises(CryodedupError, match="--radius"):
        compare_picks([tmp_path / "a.txt"] * 2, CompareOptions(radius=0), ParticleOptions(mic_psize=1.0))


def test_the_terminal_summary_names_the_fix_of_two_frames_and_the_fix_runs(tmp_path):
    # The table said "two frames" and the transform, but not the option that scores them in one frame
    # (only --json's "fix" did). Pasted, the words it gives give one frame.
    args = _two_frames(tmp_path, seed=9)
    table = CliRunner().invoke(main, args, terminal_width=2000)
    assert table.exit_code == 0, table.output
    fix = re.search(r"(--transform '[^']+')", table.output)
    assert fix is not None, table.output
    moved = CliRunner().invoke(main, [*args, *shlex.split(fix.group(1)), "--json", "-q"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["registration"]["frames"] == "one"


def test_tomograms_compared_are_called_tomograms(tmp_path):
    # Two RELION 5 pick files of 3 tomograms: the table said "Micrographs", "3 micrographs both inputs cover".
    rng = np.random.default_rng(2)
    centres, tomograms = rng.uniform(-2000, 2000, (200, 3)), rng.integers(1, 4, 200)
    labels = ["rlnTomoName", *(f"rlnCenteredCoordinate{axis}Angst" for axis in "XYZ")]
    head = "\ndata_particles\n\nloop_\n" + "".join(f"_{lab} #{k}\n" for k, lab in enumerate(labels, 1))
    for name in ("a", "b"):
        rows = "".join(f"TS_{t}\t{x:.2f}\t{y:.2f}\t{z:.2f}\n" for t, (x, y, z) in zip(tomograms, centres))
        (tmp_path / f"{name}.star").write_text(head + rows)
    table = CliRunner().invoke(main, ["compare", str(tmp_path / "a.star"), str(tmp_path / "b.star")])
    assert table.exit_code == 0, table.output
    assert "3 tomograms both inputs cover" in table.output and "micrograph" not in table.output.lower(), table.output


def _cannot_tell(reason: str) -> Comparison:
    """A comparison (17 + 17 picks on 2 micrographs) whose registration cannot tell, for ``reason``."""
    pair = RegisteredPair(
        inputs=("a/1", "b/1"),
        radius_A=60.0,
        measured_at_A=60.0,
        micrographs_shared=2,
        micrographs_measured=2,
        picks_measured=(17, 17),
        jaccard_identity=0.1,
        jaccard_chance=0.03,
        frames="cannot tell",
        cannot_tell=reason,
    )
    counts = {"picks": (17, 17), "picks_scored": (17, 17), "matched": 12, "unmatched": (5, 5)}
    return a_comparison(
        inputs=pair.inputs, radius_A=60.0, micrographs_shared=2, scored_over="shared", registration=pair, **counts
    )


def test_runs_compared_are_called_runs_in_every_row():
    # copick's comparison: a registration that cannot tell asked for "more micrographs both inputs picked".
    text = "\n".join(value for _, value in ObjectComparison("ribosome", _cannot_tell("too few picks")).rows())
    assert "micrograph" not in text, text


def test_a_crowded_registration_names_no_option_compare_lacks():
    # "cannot tell ... (--plot draws the displacements)": compare has no --plot ("No such option").
    from cryodedup.report.sections import Registration

    s = _cannot_tell("too dense")
    assert "--plot" not in "\n".join(value for _, value in s.rows())
    assert "compare" in CliRunner().invoke(main, ["compare", "a", "b", "--plot"]).output  # (no such option)
    # The particle job has it: there the hint stays.
    assert s.registration is not None
    particle_job = Registration.from_json({"radius_A": 60.0, "pairs": [s.registration.to_json()]})
    assert "--plot draws the displacements" in particle_job.rows("micrograph")[0][1]


def test_a_mistake_found_after_reading_is_said_alone(tmp_path):
    # --reference 3 of two inputs: the readers' pixel-size warnings came first, then the error; an error
    # stands alone, as the particle job says it.
    import cryodedup

    examples = Path(cryodedup.__file__).parent / "examples"
    pickers = [str(examples / "particles_log.star"), str(examples / "particles_template.star")]
    done = subprocess.run(
        [sys.executable, "-m", "cryodedup", "compare", *pickers, "--reference", "3"],
        check=False,
        capture_output=True,
        text=True,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: --reference 3"), done.stderr
    # A run that goes through still says them.
    done = subprocess.run(
        [sys.executable, "-m", "cryodedup", "compare", *pickers], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0 and "Warning: " in done.stderr and "rlnMicrographPixelSize" in done.stderr


def test_the_plan_resolves_the_options_once_and_keeps_the_values_it_was_made_from():
    # By hand: beta 4 with czii (the challenge's), weights the challenge's with --weights' over them, 1 for any other;
    # report.html's Parameters table shows the values given and marks those left at their defaults.
    given = CompareOptions(reference="1", radius=20.0, metric="czii", weights={"ribosome": 3.0, "mine": 0.5})
    run = compare_plan(given)
    assert (run.reference, run.radius, run.given_radius, run.beta, run.over, run.multiplier) == (
        "1",
        20.0,
        20.0,
        4.0,
        "shared",
        0.5,
    )
    assert [run.weight_of(s) for s in ("ribosome", "mine", "beta-amylase", "thyroglobulin", "other")] == [
        3.0,
        0.5,
        0.0,
        2.0,
        1.0,
    ]
    assert dict(run.given) == {
        "reference": "1",
        "radius": 20.0,
        "beta": None,
        "over": "shared",
        "metric": "czii",
        "multiplier": 0.5,
        "weights": {"ribosome": 3.0, "mine": 0.5},
        "czii_weights": "present",
    }
    assert run.at_default == {"beta", "over", "multiplier", "czii_weights"}
    assert compare_plan(CompareOptions()).radius == 20.0  # (the default distance of a match)
    with pytest.raises(CryodedupError, match="--reference"):
        compare_plan(CompareOptions(metric="czii"))
