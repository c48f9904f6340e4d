"""The particle job with ``--prefer`` and RELION's "no score" (-999): hand-worked runs on STAR
and picker inputs, through the job, the command line and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from helpers import kept_rows, write_star

LABELS = ["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnOpticsGroup"]
OPTICS = [[1, "og", 1.0, 1.0]]


def two_pickers(tmp_path: Path) -> tuple[Path, Path]:
    """Hand picks (ManualPick's -999) and LoG picks on two micrographs, each hand pick 3 Å
    from a LoG pick; one LoG pick alone at 500 Å; one hand pick alone."""
    manual = write_star(
        tmp_path / "manual.star",
        LABELS,
        [
            ["m1.mrc", 100, 100, -999, 1],
            ["m1.mrc", 200, 100, -999, 1],
            ["m2.mrc", 100, 100, -999, 1],
            ["m2.mrc", 900, 900, -999, 1],
        ],
        optics=OPTICS,
    )
    log = write_star(
        tmp_path / "log.star",
        LABELS,
        [
            ["m1.mrc", 103, 100, 0.2, 1],
            ["m1.mrc", 203, 100, 0.9, 1],
            ["m2.mrc", 100, 103, 0.5, 1],
            ["m1.mrc", 500, 500, 0.1, 1],
        ],
        optics=OPTICS,
    )
    return manual, log


def test_the_hand_picks_win_with_prefer(tmp_path):
    manual, log = two_pickers(tmp_path)
    summary = remove_duplicate_particles([log, manual], tmp_path / "out", ParticleOptions(min_dist=10, prefer=["2"]))
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 4]  # the lone LoG pick, every hand pick
    assert summary.to_json()["priority"] == {
        "order": [str(manual), "the other inputs"],
        "groups": 3,
        "by_priority": 3,
        "by_score": 0,
        "won_by": {str(manual): 3},
        "against_score": 3,  # each hand pick (-999: no score) kept over a scored LoG pick
    }
    assert summary.to_json()["score"]["without_score"] == 4
    kept = kept_rows(tmp_path / "out" / "particles_kept.star")
    assert sum("-999" in row for row in kept) == 4


def test_prefer_is_parsed_once_a_run(tmp_path, monkeypatch):
    # One value, one run: its inputs are looked up once (before reading), and the decision and
    # the summary use that answer; the summary still names the level as the input was given.
    import cryodedup.algo.priority as priority

    manual, log = two_pickers(tmp_path)
    looked_up = []
    original = priority._inputs_named
    monkeypatch.setattr(priority, "_inputs_named", lambda *a, **k: looked_up.append(a[0]) or original(*a, **k))
    summary = remove_duplicate_particles([log, manual], tmp_path / "out", ParticleOptions(min_dist=10, prefer=["2"]))
    assert looked_up == ["2"]
    assert summary.to_json()["priority"]["order"] == [str(manual), "the other inputs"]


def test_without_prefer_the_minus_999_picks_rank_last(tmp_path):
    manual, log = two_pickers(tmp_path)
    summary = remove_duplicate_particles([manual, log], tmp_path / "out", ParticleOptions(min_dist=10))
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 4]  # the lone hand pick; every LoG pick
    assert "priority" not in summary.to_json()
    # Ranked by percentiles, the hand picks used to get the median rank; now they are no score.
    ranked = ParticleOptions(min_dist=10, score_normalize="rank")
    summary = remove_duplicate_particles([manual, log], tmp_path / "ranked", ranked)
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 4]
    # The score-scale warning leaves the none-scores out: no "median -999".
    assert not any("-999" in w for w in summary.warnings)


def test_prefer_by_path_as_given_and_its_order(tmp_path):
    manual, log = two_pickers(tmp_path)
    options = ParticleOptions(min_dist=10, prefer=[str(log), str(manual)])
    summary = remove_duplicate_particles([manual, log], tmp_path / "out", options)
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 4]
    assert summary.to_json()["priority"]["order"] == [str(log), str(manual)]
    assert summary.to_json()["priority"]["won_by"] == {str(log): 3}


def test_a_prefer_that_names_no_input_is_refused_before_reading(tmp_path):
    manual, log = two_pickers(tmp_path)
    with pytest.raises(CryodedupError, match=r"--prefer other.star: not one of the inputs"):
        remove_duplicate_particles([manual, log], tmp_path / "out", ParticleOptions(prefer=["other.star"]))
    assert not (tmp_path / "out").exists()
    with pytest.raises(TypeError, match="prefer is a list"):
        remove_duplicate_particles([manual, log], tmp_path / "out", ParticleOptions(prefer="1"))  # type: ignore[arg-type]


def test_prefer_with_one_input_is_warned_of(tmp_path):
    # Found by a new user (2026-11-26): accepted silently, with a Priority row in the summary.
    manual, log = two_pickers(tmp_path)
    summary = remove_duplicate_particles([manual], tmp_path / "out", ParticleOptions(min_dist=10, prefer=["1"]))
    assert "--prefer decides nothing with one input: every particle is of that input" in summary.warnings
    two = remove_duplicate_particles([manual, log], tmp_path / "two", ParticleOptions(min_dist=10, prefer=["1"]))
    assert not any("--prefer decides nothing" in w for w in two.warnings)


def test_the_command_line_prints_and_reports_the_priority(tmp_path):
    manual, log = two_pickers(tmp_path)
    args = ["particles", str(log), str(manual), "--outdir", str(tmp_path / "o"), "--min-dist", "10"]
    result = CliRunner().invoke(main, [*args, "--prefer", str(manual), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["priority"]["by_priority"] == 3
    result = CliRunner().invoke(main, [*args, "--prefer", "2", "--force"])
    assert result.exit_code == 0, result.output
    assert "4 picks without a score: ranked last" in result.output
    assert "3 decided by priority" in result.output
    assert "; 3 that the score would have given to another pick)" in " ".join(result.output.split())
    result = CliRunner().invoke(main, [*args, "--prefer", "3", "--force"])
    assert result.exit_code != 0
    assert "Error: --prefer 3: not one of the inputs" in result.output


def test_picker_folders_with_prefer(tmp_path):
    # RELION coordinate files as ManualPick and AutoPick write them, one folder per job.
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber", "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    (tmp_path / "ManualPick").mkdir()
    (tmp_path / "AutoPick").mkdir()
    write_star(
        tmp_path / "ManualPick" / "mic_manualpick.star",
        labels,
        [[100.0, 100.0, -999, -999.0, -999.0], [300.0, 300.0, -999, -999.0, -999.0]],
        block="",
    )
    write_star(
        tmp_path / "AutoPick" / "mic_autopick.star",
        labels,
        [[104.0, 100.0, 0, 0.8, -999.0], [300.0, 296.0, 0, 0.1, -999.0], [700.0, 700.0, 0, 0.3, -999.0]],
        block="",
    )
    inputs = [tmp_path / "AutoPick", tmp_path / "ManualPick"]
    options = ParticleOptions(min_dist=10, mic_psize=1.0, prefer=[str(tmp_path / "ManualPick")])
    summary = remove_duplicate_particles(inputs, tmp_path / "out", options)
    assert [i["kept"] for i in summary.to_json()["inputs"]] == [1, 2]
    assert summary.to_json()["priority"]["by_priority"] == 2
    assert summary.to_json()["score"]["without_score"] == 2


def test_remove_entirely_says_the_priority_decided_nothing(tmp_path):
    # Every pick with a duplicate goes, the preferred hand picks with the rest: 3 of each input (the
    # three pairs), and the summary says so instead of "3 decided by priority".
    manual, log = two_pickers(tmp_path)
    options = ParticleOptions(min_dist=10, prefer=["2"], remove_entirely=True)
    summary = remove_duplicate_particles([log, manual], tmp_path / "out", options)
    assert [i["rejected"] for i in summary.to_json()["inputs"]] == [3, 3]
    assert summary.to_json()["priority"] == {
        "order": [str(manual), "the other inputs"],
        "applied": False,
        "removed": {str(manual): 3, "the other inputs": 3},
    }
    assert any(w.startswith("--prefer decides nothing with --remove-entirely") for w in summary.warnings)
    args = ["particles", str(log), str(manual), "-o", str(tmp_path / "o"), "--min-dist", "10", "--prefer", "2"]
    result = CliRunner().invoke(main, [*args, "--remove-entirely"])
    assert result.exit_code == 0, result.output
    assert "decided by priority" not in result.output
    assert "not applied: --remove-entirely removes every particle that has a duplicate" in result.output
    assert "removed: 3 of manual.star, 3 of the other inputs" in " ".join(result.output.split())
