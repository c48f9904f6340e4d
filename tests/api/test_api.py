"""cryodedup.remove_duplicates on data in memory agrees with the file-based job."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import starfile
from cryosparc.dataset import Dataset

from cryodedup import CryodedupError, remove_duplicates
from fixtures.synthetic import cs_particles, write_benchmark_file, write_cs


@pytest.fixture
def cs_file(tmp_path):
    write_cs(tmp_path / "p.cs", cs_particles(np.random.default_rng(8), 4000))
    return tmp_path / "p.cs"


def test_structured_array_and_dataset_match_the_files(tmp_path, cs_file):
    kept_paths, _rejected_paths = remove_duplicates(cs_file, tmp_path / "out", min_dist=25.0)
    from_files = np.load(kept_paths[0])
    records = np.load(cs_file)
    kept, rejected = remove_duplicates(records, min_dist=25.0)
    assert np.array_equal(kept, from_files) and len(kept) + len(rejected) == len(records)
    dkept, drejected = remove_duplicates(Dataset(records), min_dist=25.0)
    assert isinstance(dkept, Dataset) and np.array_equal(dkept["uid"], from_files["uid"])
    assert len(drejected) == len(rejected)


def test_starfile_tables_match_the_files(tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 3000, per_mic=300, seed=9)
    kept_paths, _ = remove_duplicates([path], tmp_path / "out", score="rlnMaxValueProbDistribution")
    expected = starfile.read(kept_paths[0])["particles"]["rlnImageName"].tolist()
    tables = starfile.read(path)
    kept, rejected = remove_duplicates(tables, score="rlnMaxValueProbDistribution")
    assert kept["particles"]["rlnImageName"].tolist() == expected
    assert kept["optics"] is tables["optics"]
    assert len(kept["particles"]) + len(rejected["particles"]) == len(tables["particles"])
    # A bare particle table needs the micrograph pixel size.
    frame_kept, _ = remove_duplicates(tables["particles"], mic_psize=1.06, score="rlnMaxValueProbDistribution")
    assert frame_kept["rlnImageName"].tolist() == expected


def test_data_in_memory_draws_its_pictures_into_outdir_with_plot(tmp_path, cs_file):
    # The same pictures as the files' job draws (oracle: that job's report), the same rows kept.
    remove_duplicates(cs_file, tmp_path / "files", min_dist=25.0, plot=True)
    records = np.load(cs_file)
    kept, _ = remove_duplicates(Dataset(records), tmp_path / "memory", min_dist=25.0, plot=True)
    drawn = sorted(p.name for p in (tmp_path / "memory").glob("*.png"))
    assert drawn == sorted(p.name for p in (tmp_path / "files").glob("*.png")) and "report.html" in {
        p.name for p in (tmp_path / "memory").iterdir()
    }
    assert len(kept) == len(np.load(next((tmp_path / "files").glob("*kept*.cs"))))
    # The examples are drawn on blank frames, whose titles point at the summary's row saying why.
    assert (
        "examples drawn on a blank frame: no image file was given" in (tmp_path / "memory" / "report.html").read_text()
    )
    with pytest.raises(CryodedupError, match="already exists.*force="):  # refused as files' outputs are
        remove_duplicates(records, tmp_path / "memory", min_dist=25.0, plot=True)
    remove_duplicates(records, tmp_path / "memory", min_dist=25.0, plot=True, force=True)
    with pytest.raises(CryodedupError, match="plot=True with particles in memory: give outdir"):
        remove_duplicates(records, min_dist=25.0, plot=True)


def test_unknown_data_and_missing_outdir():
    with pytest.raises(TypeError, match="cannot remove duplicates from a int"):
        remove_duplicates(3)
    with pytest.raises(ValueError, match="outdir is needed"):
        remove_duplicates("p.star")


# --- issue 27 item 12: Python warnings, and errors that name the keyword arguments -----------------


def relion31_tables(micrograph_psize_label: str) -> dict:
    """starfile's dict of a RELION 3.1 file: two particles 10 px apart on one micrograph."""
    import pandas as pd

    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [2.0], micrograph_psize_label: [1.5]})
    particles = pd.DataFrame(
        {
            "rlnCoordinateX": [100.0, 110.0],
            "rlnCoordinateY": [100.0, 100.0],
            "rlnMicrographName": ["m.mrc", "m.mrc"],
            "rlnOpticsGroup": [1, 1],
            "rlnAutopickFigureOfMerit": [2.0, 1.0],
        }
    )
    return {"optics": optics, "particles": particles}


def test_original_pixel_size_fallback_is_a_python_warning():
    tables = relion31_tables("rlnMicrographOriginalPixelSize")
    with pytest.warns(UserWarning, match="rlnMicrographOriginalPixelSize 1.5 Å.*mic_psize=") as caught:
        kept, rejected = remove_duplicates(tables, min_dist=16.0)  # 10 px x 1.5 Å = 15 Å apart
    assert len(kept["particles"]) == 1 and len(rejected["particles"]) == 1
    assert not any("--" in str(w.message) for w in caught)
    assert caught[0].filename == __file__, "the warning points at the caller's line"
    # The same through log, and nothing when the micrograph pixel size is there.
    said = []
    with pytest.warns(UserWarning):
        remove_duplicates(tables, min_dist=16.0, log=lambda message, level: said.append((level, message)))
    assert any(level == "warning" and "mic_psize=" in message for level, message in said)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remove_duplicates(relion31_tables("rlnMicrographPixelSize"), min_dist=16.0)


def test_errors_name_the_keyword_arguments():
    tables = relion31_tables("rlnMicrographPixelSize")
    with pytest.raises(CryodedupError, match=r"^min_dist= must be") as err:
        remove_duplicates(tables, min_dist=-1.0)
    assert "--" not in str(err.value)
    bare = tables["particles"]  # no optics table: the micrograph pixel size must be given
    with pytest.raises(CryodedupError, match="mic_psize=") as err:
        remove_duplicates(bare, min_dist=16.0)
    assert "--" not in str(err.value)


def test_min_dist_z_in_the_api_agrees_with_the_ellipsoid():
    import pandas as pd

    rng = np.random.default_rng(9)
    n = 300
    xyz = np.column_stack([rng.uniform(0, 400, n), rng.uniform(0, 400, n), rng.uniform(0, 150, n)])
    table = pd.DataFrame(
        {
            "rlnTomoName": rng.choice(["TS_01", "TS_02"], n),
            "rlnCenteredCoordinateXAngst": xyz[:, 0],
            "rlnCenteredCoordinateYAngst": xyz[:, 1],
            "rlnCenteredCoordinateZAngst": xyz[:, 2],
            "rlnMaxValueProbDistribution": rng.uniform(size=n),
        }
    )
    kept, rejected = remove_duplicates(table, min_dist=25.0, min_dist_z=70.0)
    # The oracle: every pair of one tomogram, the ellipsoid written out, best score first.
    tomo, score = table["rlnTomoName"].to_numpy(), table["rlnMaxValueProbDistribution"].to_numpy()
    keep = np.ones(n, dtype=bool)
    for i in np.argsort(-score, kind="stable"):
        if keep[i]:
            d = xyz - xyz[i]
            close = (d[:, 0] ** 2 + d[:, 1] ** 2) / 25.0**2 + d[:, 2] ** 2 / 70.0**2 <= 1
            close[i] = False
            keep &= ~(close & (tomo == tomo[i]) & (score < score[i]))
    assert kept.index.tolist() == np.flatnonzero(keep).tolist() and len(rejected) == n - keep.sum() > 0
    with pytest.raises(CryodedupError, match=r"^min_dist_z=: these particles are 2-D"):
        remove_duplicates(relion31_tables("rlnMicrographPixelSize"), min_dist=25.0, min_dist_z=70.0)


# --- remove_duplicate_centres: centres in Å from a workflow system (issue 41) ------------------------


def random_picks(seed: int, n: int = 600, n_mics: int = 5, n_inputs: int = 3):
    """Picks of ``n_inputs`` pickers on ``n_mics`` micrographs, clustered so that many are duplicates."""
    rng = np.random.default_rng(seed)
    mics = rng.integers(0, n_mics, n)
    centres = rng.uniform(0, 400, (n, 2))
    centres[: n // 2] = centres[n // 4 : 3 * n // 4] + rng.normal(0, 6, (n // 2, 2))  # near copies
    scores = rng.uniform(0, 1, n)
    scores[::17] = np.nan
    return [f"mic_{m}.mrc" for m in mics], centres, scores, rng.integers(0, n_inputs, n)


def test_centres_match_the_brute_force_rule():
    from cryodedup import remove_duplicate_centres
    from oracle import oracle_by_group

    names, centres, scores, _ = random_picks(1)
    for higher in (True, False):
        got = remove_duplicate_centres(names, centres, scores, min_dist=20.0, higher_is_better=higher)
        groups = np.unique(names, return_inverse=True)[1]
        assert np.array_equal(got.keep, oracle_by_group(groups, centres, scores, 20.0, higher_is_better=higher))
        assert got.outcomes is None and sorted(got.micrographs) == sorted(set(names))


def test_centres_consensus_matches_brute_force_support():
    from cryodedup import remove_duplicate_centres
    from oracle import oracle_by_group, oracle_support

    names, centres, scores, inputs = random_picks(2)
    groups = np.unique(names, return_inverse=True)[1]
    got = remove_duplicate_centres(names, centres, scores, inputs=inputs, min_dist=20.0, min_support=2)
    dedup_kept = oracle_by_group(groups, centres, scores, 20.0)
    support = oracle_support(groups, centres, inputs, 20.0)
    assert np.array_equal(got.keep, dedup_kept & (support >= 2))
    counts = got.outcome_counts(inputs, 3)
    assert [sum(c.values()) for c in counts] == np.bincount(inputs, minlength=3).tolist()
    assert sum(c["rejected_unconfirmed"] for c in counts) == int((dedup_kept & (support < 2)).sum())


def test_centres_coverage_and_uncovered_picks():
    from cryodedup import remove_duplicate_centres

    # Input 1 never ran on b.mrc: its lone pick there cannot be confirmed.
    names = ["a.mrc", "a.mrc", "b.mrc"]
    centres = [[0.0, 0.0], [5.0, 0.0], [0.0, 0.0]]
    scores = [2.0, 1.0, 1.0]
    ran_on = [["a.mrc", "b.mrc"], ["a.mrc"]]
    kept = remove_duplicate_centres(names, centres, scores, inputs=[0, 1, 0], ran_on=ran_on, min_support=2)
    assert kept.keep.tolist() == [True, False, True]
    assert kept.outcomes.tolist() == [0, 3, 2]  # kept_confirmed, rejected_duplicate, kept_not_confirmable
    rejected = remove_duplicate_centres(
        names, centres, scores, inputs=[0, 1, 0], ran_on=ran_on, min_support=2, uncovered="reject"
    )
    assert rejected.keep.tolist() == [True, False, False]
    # Told that both ran on b.mrc, the lone pick is unconfirmed instead.
    both = remove_duplicate_centres(
        names, centres, scores, inputs=[0, 1, 0], ran_on=[["a.mrc", "b.mrc"]] * 2, min_support=2
    )
    assert both.keep.tolist() == [True, False, False] and both.outcomes.tolist() == [0, 3, 4]


def test_centres_refuse_bad_arguments():
    from cryodedup import remove_duplicate_centres

    with pytest.raises(TypeError, match="takes no option mic_psize"):
        remove_duplicate_centres(["a"], [[0.0, 0.0]], mic_psize=1.0)
    with pytest.raises(CryodedupError, match="min_dist= must be a distance"):
        remove_duplicate_centres(["a"], [[0.0, 0.0]], min_dist=-1.0)
    with pytest.raises(CryodedupError, match="min_support= 3: there are only 2 inputs"):
        remove_duplicate_centres(["a", "a"], [[0.0, 0.0], [1.0, 1.0]], inputs=[0, 1], min_support=3)
    with pytest.raises(ValueError, match=r"centres must have shape \(2, 2\)"):
        remove_duplicate_centres(["a", "a"], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="ran_on lists 1 inputs"):
        remove_duplicate_centres(["a", "a"], [[0.0, 0.0], [1.0, 1.0]], inputs=[0, 1], ran_on=[["a"]])
    empty = remove_duplicate_centres([], np.zeros((0, 2)))
    assert empty.keep.shape == (0,)


def test_centres_report_draws_the_particle_pictures(tmp_path):
    from cryodedup import CentreReport, remove_duplicate_centres
    from fixtures.synthetic import write_mrc

    names, centres, scores, inputs = random_picks(4, n=300, n_mics=3, n_inputs=2)
    write_mrc(tmp_path / "mic_0.mrc", np.random.default_rng(1).normal(size=(400, 400)).astype(np.float32), 1.0)
    report = CentreReport(
        tmp_path / "report", psize=1.0, input_names=["LoG", "crYOLO"], images={"mic_0.mrc": tmp_path / "mic_0.mrc"}
    )
    got = remove_duplicate_centres(names, centres, scores, inputs=inputs, min_dist=20.0, min_support=2, report=report)
    plain = remove_duplicate_centres(names, centres, scores, inputs=inputs, min_dist=20.0, min_support=2)
    assert np.array_equal(got.keep, plain.keep) and plain.report == []
    written = {Path(p).name for p in got.report}
    assert "report.html" in written and len(written) >= 4 and all(Path(p).stat().st_size for p in got.report)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "crYOLO" in html and f"{int(got.keep.sum()):,}" in html
    with pytest.raises(ValueError, match="names 1 inputs, the centres have 2"):
        remove_duplicate_centres(names, centres, inputs=inputs, report=CentreReport(tmp_path / "r2", input_names=["a"]))


def test_options_of_the_wrong_type_are_refused_when_the_job_runs_as_the_api_page_says(tmp_path):
    # A new user's trial: api.md said a wrong type raises TypeError, but ParticleOptions(min_dist="5")
    # constructs and the run raises CryodedupError; MicrographOptions(target_psize="5") raised numpy's
    # TypeError ("ufunc 'isfinite' not supported"), naming no option.
    import cryodedup
    from cryodedup import MicrographOptions, ParticleOptions

    examples = Path(cryodedup.__file__).parent / "examples"
    with pytest.raises(CryodedupError, match="--min-dist must be a number, got '5'"):
        cryodedup.remove_duplicate_particles([examples / "particles_log.star"], None, ParticleOptions(min_dist="5"))
    for name in ("target_psize", "lowpass", "min_z", "beam_diameter"):
        with pytest.raises(CryodedupError, match=f"--{name.replace('_', '-')} must be a number, got '5'"):
            MicrographOptions(**{name: "5"}).check()
    with pytest.raises(CryodedupError, match="--plot-pairs must be a whole number"):
        MicrographOptions(plot_pairs=2.5).check()
    # A switch given a text (a user's trial: remove_entirely="no" removed every particle with a neighbour).
    for wrong in (ParticleOptions(remove_entirely="no"), ParticleOptions(decisions="no"), MicrographOptions(plot=1)):
        with pytest.raises(CryodedupError, match="is on or off"):
            wrong.check()
    page = (Path(__file__).parents[2] / "docs" / "reference" / "api.md").read_text()
    assert "construct, and the run raises `CryodedupError` naming the option" in page
    # Both jobs' update, as each takes it, and the repair, on the page.
    assert "ParticleOptions(update=True)" in page and "update=True)" in page.split("find_duplicate_micrographs(")[-1]
    assert "::: cryodedup.repair_particle_update" in page


@pytest.mark.parametrize("single", ["particles.star", Path("particles.star")])
def test_one_path_where_a_list_is_expected_is_a_type_error_naming_it(tmp_path, single):
    # A script's ``remove_duplicate_particles("particles.star", ...)`` read each character as a
    # file ("p: file not found"); a Path was "'PosixPath' object is not iterable".
    import cryodedup

    jobs = (cryodedup.remove_duplicate_particles, cryodedup.find_duplicate_micrographs)
    for job in jobs:
        with pytest.raises(TypeError, match=r"^inputs= must be a list of paths, got one: 'particles.star'"):
            job(single, tmp_path / "out")
